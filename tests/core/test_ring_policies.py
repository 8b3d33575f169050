"""Per-consumer policies, deterministic and single-threaded (except the wait strategies):
lossless gating and back-pressure, overwrite loss accounting, independence of consumers,
isolation, removal, slow-consumer detection and the wait strategies."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lowlat.core.ring import (
    BACK_PRESSURED,
    EMPTY,
    ConsumerState,
    Policy,
    WaitStrategy,
    kernels,
)
from lowlat.core.ring.layout import H_GATE_CACHE, consumer_base
from tests.core._ring_support import JIT, batch_seqs, fill_words, make_record, publish_seq

CAPACITY = 8


@pytest.fixture
def ring(ring_factory):
    return ring_factory(CAPACITY, max_consumers=4)


def publish_range(bus, start, stop):
    """Publish ``start .. stop-1``; return what each publish returned."""
    return [publish_seq(bus, seq) for seq in range(start, stop)]


def poll_all(bus, consumer, max_count=None):
    """Poll once into a capacity-sized batch; return (seqs, first, lost)."""
    out = bus.new_batch(bus.capacity)
    count, first, lost = bus.poll(consumer, out, max_count)
    return batch_seqs(out, count), first, lost


# --- lossless ---------------------------------------------------------------------------------


def test_lossless_publish_is_back_pressured_one_lap_ahead(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    assert publish_range(ring, 0, CAPACITY) == list(range(CAPACITY))
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    assert ring.stats().published == ring.publish_cursor() == CAPACITY
    assert poll_all(ring, consumer, 1) == ([0], 0, 0)
    assert publish_seq(ring, CAPACITY) == CAPACITY
    assert ring.publish_cursor() == CAPACITY + 1
    assert publish_seq(ring, CAPACITY + 1) == BACK_PRESSURED


def test_back_pressured_counter_counts_every_refused_publish(ring):
    ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, CAPACITY)
    for _ in range(5):
        assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    rows = np.zeros((3, 8), np.int64)
    assert kernels.publish_batch(*ring.arrays, rows, 3) == 0
    assert ring.stats().back_pressured == 6
    assert ring.stats().published == CAPACITY


def test_lossless_consumer_receives_every_record_once_in_order_over_many_laps(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    received = []
    next_seq = 0
    for round_ in range(40):
        while (seq := publish_seq(ring, next_seq)) != BACK_PRESSURED:
            assert seq == next_seq
            next_seq += 1
        seqs, first, lost = poll_all(ring, consumer, 1 + round_ % CAPACITY)
        assert lost == 0
        assert first == len(received)
        received += seqs
    received += poll_all(ring, consumer)[0]
    assert received == list(range(next_seq))
    stats = ring.consumer_stats(consumer)
    assert (stats.consumed, stats.lost, stats.loss_events, stats.torn_reads) == (next_seq, 0, 0, 0)
    assert ring.stats().back_pressured == 40


def test_publish_batch_stops_at_the_first_back_pressured_row(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, 5)
    rows = np.zeros((6, 8), np.int64)
    for r in range(6):
        fill_words(rows[r], 5 + r)
    assert kernels.publish_batch(*ring.arrays, rows, 6) == 3
    assert ring.stats().published == CAPACITY
    assert ring.stats().back_pressured == 1
    assert poll_all(ring, consumer) == (list(range(CAPACITY)), 0, 0)
    assert kernels.publish_batch(*ring.arrays, rows[3:], 3) == 3
    assert poll_all(ring, consumer) == ([8, 9, 10], 8, 0)


def test_has_room_says_whether_that_many_publishes_would_pass(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    ring.add_consumer(Policy.OVERWRITE)  # never gates: no effect on the room
    publish_range(ring, 0, 5)
    assert kernels.has_room(ring.arrays.header, CAPACITY - 5)
    assert not kernels.has_room(ring.arrays.header, CAPACITY - 4)
    poll_all(ring, consumer, 2)  # the gate cache is stale until a rescan
    assert kernels.has_room(ring.arrays.header, CAPACITY - 3)
    assert not kernels.has_room(ring.arrays.header, CAPACITY - 2)
    assert publish_range(ring, 5, CAPACITY + 2) == list(range(5, CAPACITY + 2))
    assert publish_seq(ring, CAPACITY + 2) == BACK_PRESSURED
    assert ring.stats().back_pressured == 1  # asking is not counted as a refusal


def test_claimable_says_how_many_of_a_batch_would_pass(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, 5)
    header = ring.arrays.header
    assert kernels.claimable(header, 3) == 3
    assert kernels.claimable(header, CAPACITY) == CAPACITY - 5
    poll_all(ring, consumer, 4)  # a stale gate cache is rescanned when the batch does not fit
    assert kernels.claimable(header, CAPACITY) == CAPACITY - 1
    publish_range(ring, 5, CAPACITY + 4)
    assert kernels.claimable(header, 2) == 0
    assert ring.stats().back_pressured == 0  # asking is not counted as a refusal


def test_has_room_is_unbounded_without_a_lossless_consumer(ring):
    ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, 3 * CAPACITY)
    assert kernels.has_room(ring.arrays.header, CAPACITY)
    assert not kernels.has_room(ring.arrays.header, CAPACITY + 1)  # more than a ring at once


# --- overwrite --------------------------------------------------------------------------------


def test_overwrite_consumer_never_holds_the_producer_back(ring):
    ring.add_consumer(Policy.OVERWRITE)
    assert publish_range(ring, 0, 5 * CAPACITY) == list(range(5 * CAPACITY))
    assert ring.stats().back_pressured == 0


def test_lapped_overwrite_consumer_reports_the_exact_lost_range_and_resumes_at_the_oldest(ring):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, 3)
    assert poll_all(ring, consumer, 2) == ([0, 1], 0, 0)
    publish_range(ring, 3, 21)  # the ring now holds 13..20; 2..12 are gone
    seqs, first, lost = poll_all(ring, consumer, 3)
    assert (seqs, first, lost) == ([13, 14, 15], 13, 11)
    assert list(range(first - lost, first)) == list(range(2, 13))
    stats = ring.consumer_stats(consumer)
    assert (stats.lost, stats.loss_events, stats.last_lost_first, stats.last_lost_count) == (
        11,
        1,
        2,
        11,
    )
    assert poll_all(ring, consumer) == ([16, 17, 18, 19, 20], 16, 0)
    publish_range(ring, 21, 21 + 2 * CAPACITY + 1)  # one more lap and one: 21..29 lost
    seqs, first, lost = poll_all(ring, consumer)
    assert (seqs, first, lost) == (list(range(30, 38)), 30, 9)
    stats = ring.consumer_stats(consumer)
    assert (stats.consumed, stats.lost, stats.loss_events) == (2 + 3 + 5 + 8, 20, 2)
    assert (stats.last_lost_first, stats.last_lost_count, stats.torn_reads) == (21, 9, 0)
    assert stats.consumed + stats.lost == ring.stats().published


def test_overwrite_consumer_loses_nothing_one_lap_behind_and_one_event_beyond_it(ring):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY)
    assert poll_all(ring, consumer) == (list(range(CAPACITY)), 0, 0)
    publish_range(ring, CAPACITY, 2 * CAPACITY)  # lag = capacity: everything still there
    assert poll_all(ring, consumer, 1) == ([CAPACITY], CAPACITY, 0)
    publish_range(ring, 2 * CAPACITY, 2 * CAPACITY + 2)  # lag = capacity + 1
    assert poll_all(ring, consumer, 1) == ([CAPACITY + 2], CAPACITY + 2, 1)
    stats = ring.consumer_stats(consumer)
    assert (stats.lost, stats.last_lost_first, stats.last_lost_count) == (1, CAPACITY + 1, 1)


def test_lapped_consumer_polled_with_no_room_reports_the_loss_and_reads_nothing(ring):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY + 3)
    assert ring.poll(consumer, ring.new_batch(4), max_count=0) == (0, 3, 3)
    assert poll_all(ring, consumer) == (list(range(3, CAPACITY + 3)), 3, 0)


@pytest.mark.parametrize("published", [CAPACITY, CAPACITY + 4])
def test_poll_skips_a_slot_the_producer_is_rewriting_and_counts_it_lost(ring, published):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, published)
    # The producer claims the next sequence: its slot, holding the oldest event, is now
    # marked "being written" (what a consumer sees when lapped in the middle of a read).
    claimed = kernels.try_claim(ring.arrays.header, ring.arrays.stamps)
    assert claimed == published
    oldest = published - CAPACITY + 1
    seqs, first, lost = poll_all(ring, consumer)
    assert (seqs, first, lost) == (list(range(oldest, published)), oldest, oldest)
    stats = ring.consumer_stats(consumer)
    assert (stats.torn_reads, stats.lost, stats.loss_events) == (1, oldest, 1)
    assert (stats.last_lost_first, stats.last_lost_count) == (0, oldest)
    fill_words(ring.arrays.slots[claimed % CAPACITY], claimed)
    kernels.commit(ring.arrays.header, ring.arrays.stamps, claimed)
    assert poll_all(ring, consumer) == ([claimed], claimed, 0)
    assert ring.consumer_stats(consumer).consumed + ring.consumer_stats(consumer).lost == (
        published + 1
    )


def test_single_event_poll_returns_sequence_and_preceding_loss(ring):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    out = np.zeros((1, 8), np.int64)
    assert kernels.poll(*ring.arrays, consumer, out) == (EMPTY, 0)
    publish_range(ring, 0, CAPACITY + 2)
    assert kernels.poll(*ring.arrays, consumer, out) == (2, 2)
    assert out[0, 0] == 2
    assert kernels.poll(*ring.arrays, consumer, out) == (3, 0)
    assert batch_seqs(out.view(ring.record_dtype).reshape(1), 1) == [3]


# --- empty polls and batch limits ---------------------------------------------------------------


@pytest.mark.parametrize("policy", list(Policy))
def test_empty_poll_returns_nothing_at_the_cursor_and_is_counted(ring, policy):
    consumer = ring.add_consumer(policy)
    assert ring.poll(consumer, ring.new_batch(4)) == (0, 0, 0)
    publish_range(ring, 0, 3)
    assert poll_all(ring, consumer) == ([0, 1, 2], 0, 0)
    for _ in range(4):
        assert ring.poll(consumer, ring.new_batch(4)) == (0, 3, 0)
    stats = ring.consumer_stats(consumer)
    assert (stats.empty_polls, stats.consumed, stats.cursor, stats.lag) == (5, 3, 3, 0)


def test_batch_poll_returns_at_most_max_count_and_at_most_len_out(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, 7)
    assert ring.poll(consumer, ring.new_batch(4), max_count=2)[:2] == (2, 0)
    assert ring.poll(consumer, ring.new_batch(2), max_count=10)[:2] == (2, 2)
    out = ring.new_batch(8)
    assert ring.poll(consumer, out) == (3, 4, 0)
    assert batch_seqs(out, 3) == [4, 5, 6]
    assert (out[3:].view(np.int64) == 0).all()
    assert ring.consumer_stats(consumer).empty_polls == 0


# --- independence of consumers ------------------------------------------------------------------


def test_overwrite_consumer_does_not_affect_lossless_gating(ring):
    lossless = ring.add_consumer(Policy.LOSSLESS)
    overwrite = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY)
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    assert poll_all(ring, overwrite) == (list(range(CAPACITY)), 0, 0)
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED  # only the lossless cursor gates
    assert poll_all(ring, lossless, 3) == ([0, 1, 2], 0, 0)
    assert publish_range(ring, CAPACITY, CAPACITY + 4) == [8, 9, 10, BACK_PRESSURED]


def test_slow_lossless_consumer_gates_only_the_producer(ring):
    slow = ring.add_consumer(Policy.LOSSLESS)
    fast = ring.add_consumer(Policy.LOSSLESS)
    overwrite = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY)
    assert poll_all(ring, fast) == (list(range(CAPACITY)), 0, 0)
    assert poll_all(ring, overwrite, 5) == ([0, 1, 2, 3, 4], 0, 0)
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    # The others still read what they have not read, with nothing lost.
    assert poll_all(ring, fast) == ([], CAPACITY, 0)
    assert poll_all(ring, overwrite) == ([5, 6, 7], 5, 0)
    assert poll_all(ring, slow, 2) == ([0, 1], 0, 0)
    assert publish_range(ring, CAPACITY, CAPACITY + 3) == [8, 9, BACK_PRESSURED]
    assert poll_all(ring, fast) == ([8, 9], 8, 0)
    assert poll_all(ring, overwrite) == ([8, 9], 8, 0)


def test_a_consumers_poll_moves_only_its_own_cursor(ring):
    consumers = [ring.add_consumer(p) for p in (Policy.LOSSLESS, Policy.OVERWRITE, Policy.LOSSLESS)]
    publish_range(ring, 0, 6)
    header_before = ring.arrays.header.copy()
    assert poll_all(ring, consumers[1], 4) == ([0, 1, 2, 3], 0, 0)
    changed = np.flatnonzero(ring.arrays.header != header_before)
    own = {s.consumer: s for s in ring.stats().consumers}
    assert [own[c].cursor for c in consumers] == [0, 4, 0]
    assert [own[c].consumed for c in consumers] == [0, 4, 0]
    base = consumer_base(consumers[1])
    assert set(changed.tolist()) <= set(range(base, base + 8))


def test_consumer_added_later_starts_at_the_publish_cursor(ring):
    first = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, 11)
    late = ring.add_consumer(Policy.LOSSLESS)
    assert ring.consumer_stats(late).cursor == 11
    assert ring.lag(late) == 0
    assert poll_all(ring, late) == ([], 11, 0)
    publish_range(ring, 11, 13)
    assert poll_all(ring, late) == ([11, 12], 11, 0)
    assert poll_all(ring, first)[1:] == (5, 5)
    assert publish_range(ring, 13, 13 + CAPACITY + 1)[-2:] == [20, BACK_PRESSURED]


# --- isolation, detach, reattach, removal -------------------------------------------------------


def test_isolating_lossless_consumer_is_detached_when_it_gates_at_its_lag_limit(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS, lag_limit=6, isolate=True)
    assert publish_range(ring, 0, CAPACITY + 3) == list(range(CAPACITY + 3))
    stats = ring.consumer_stats(consumer)
    assert stats.state is ConsumerState.DETACHED
    assert ring.stats().isolations == 1
    assert ring.stats().back_pressured == 0
    # A detached consumer reads with overwrite semantics and counts its losses.
    assert poll_all(ring, consumer) == (list(range(3, CAPACITY + 3)), 3, 3)
    assert ring.consumer_stats(consumer).lost == 3
    publish_range(ring, CAPACITY + 3, 4 * CAPACITY)
    assert ring.stats().back_pressured == 0
    assert ring.stats().isolations == 1


def test_lossless_consumer_without_isolation_is_never_detached(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS, lag_limit=1, isolate=False)
    publish_range(ring, 0, CAPACITY + 5)
    assert ring.consumer_stats(consumer).state is ConsumerState.ACTIVE
    assert ring.stats().back_pressured == 5
    assert ring.stats().isolations == 0


def test_isolating_consumer_below_its_lag_limit_still_gates(ring_factory):
    bus = ring_factory(CAPACITY)
    laggard = bus.add_consumer(Policy.LOSSLESS, lag_limit=CAPACITY, isolate=True)
    reader = bus.add_consumer(Policy.LOSSLESS)
    publish_range(bus, 0, CAPACITY)
    assert poll_all(bus, laggard, 1) == ([0], 0, 0)
    assert publish_seq(bus, CAPACITY) == BACK_PRESSURED  # reader gates; laggard's lag is 7
    assert bus.consumer_stats(laggard).state is ConsumerState.ACTIVE
    assert poll_all(bus, reader)[2] == 0
    assert publish_seq(bus, CAPACITY) == CAPACITY  # laggard's lag 7 < limit: it still gates
    assert bus.consumer_stats(laggard).state is ConsumerState.ACTIVE
    assert publish_seq(bus, CAPACITY + 1) == CAPACITY + 1  # its lag reaches 8: isolated
    assert bus.consumer_stats(laggard).state is ConsumerState.DETACHED
    assert bus.stats().isolations == 1


def test_manual_detach_and_reattach_report_whether_they_changed_the_state(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    assert ring.reattach(consumer) is False
    assert ring.detach(consumer) is True
    assert ring.detach(consumer) is False
    assert ring.consumer_stats(consumer).state is ConsumerState.DETACHED
    assert ring.reattach(consumer) is True
    assert ring.consumer_stats(consumer).state is ConsumerState.ACTIVE


def test_detached_consumer_no_longer_gates_the_producer(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, CAPACITY)
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    ring.detach(consumer)
    assert publish_range(ring, CAPACITY, 3 * CAPACITY) == list(range(CAPACITY, 3 * CAPACITY))
    assert poll_all(ring, consumer) == (list(range(2 * CAPACITY, 3 * CAPACITY)), 16, 16)
    assert ring.stats().isolations == 0  # a manual detach is not an isolation


def test_reattach_is_refused_while_lag_is_at_least_half_the_capacity(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    ring.detach(consumer)
    publish_range(ring, 0, 3 * CAPACITY)
    assert ring.reattach(consumer) is False
    assert poll_all(ring, consumer, 4)[1:] == (16, 16)
    assert ring.lag(consumer) == CAPACITY // 2
    assert ring.reattach(consumer) is False
    assert ring.consumer_stats(consumer).state is ConsumerState.DETACHED
    assert poll_all(ring, consumer, 1)[0] == [20]
    assert ring.reattach(consumer) is True
    assert ring.consumer_stats(consumer).state is ConsumerState.ACTIVE


@pytest.mark.parametrize("caught_up_to", [14, 15, 16, 17])
def test_reattached_lossless_consumer_gates_again_from_its_own_cursor(ring, caught_up_to):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    ring.detach(consumer)
    publish_range(ring, 0, 2 * CAPACITY + 1)  # the producer's gate moved on without it
    seqs, first, lost = poll_all(ring, consumer, caught_up_to - 9)
    assert (first, lost) == (9, 9)
    assert ring.reattach(consumer) is True
    cursor = ring.consumer_stats(consumer).cursor
    assert cursor == caught_up_to
    results = publish_range(ring, 17, 17 + 2 * CAPACITY)
    accepted = [r for r in results if r != BACK_PRESSURED]
    assert accepted == list(range(17, cursor + CAPACITY))
    seqs, first, lost = poll_all(ring, consumer)
    assert (seqs, first, lost) == (list(range(cursor, cursor + CAPACITY)), cursor, 0)
    assert ring.consumer_stats(consumer).lost == 9


@pytest.mark.skipif(
    JIT, reason="swaps the CAS the interpreted kernel calls; compiled code binds its own"
)
def test_a_gate_rescan_keeps_a_lower_cache_the_control_plane_stored_meanwhile(ring, monkeypatch):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_range(ring, 0, 6)
    poll_all(ring, consumer)
    header = ring.arrays[0]
    assert kernels._refresh_gate(header, 6) == 6 == header[H_GATE_CACHE]
    swap = kernels.compare_and_swap
    raced = []

    def losing_once(array, index, expected, value):
        if not raced:  # the rescan's CAS: a reattach lowers the cache first, and it loses
            raced.append(index)
            kernels.lower_gate(header, 2)
            return False
        return swap(array, index, expected, value)

    monkeypatch.setattr(kernels, "compare_and_swap", losing_once)
    assert kernels._refresh_gate(header, 6) == 2
    assert raced == [H_GATE_CACHE]
    assert header[H_GATE_CACHE] == 2  # not raised back to the rescan's 6


def test_reattached_isolating_consumer_can_be_isolated_again(ring):
    consumer = ring.add_consumer(Policy.LOSSLESS, lag_limit=CAPACITY, isolate=True)
    publish_range(ring, 0, CAPACITY + 1)
    assert ring.stats().isolations == 1
    poll_all(ring, consumer)
    assert ring.reattach(consumer) is True
    publish_range(ring, CAPACITY + 1, 3 * CAPACITY)
    assert ring.consumer_stats(consumer).state is ConsumerState.DETACHED
    assert ring.stats().isolations == 2
    assert ring.stats().back_pressured == 0


def test_removing_a_gating_consumer_frees_the_producer(ring):
    gate = ring.add_consumer(Policy.LOSSLESS)
    other = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY)
    assert publish_seq(ring, CAPACITY) == BACK_PRESSURED
    ring.remove_consumer(gate)
    assert ring.consumers() == [other]
    assert publish_range(ring, CAPACITY, 3 * CAPACITY) == list(range(CAPACITY, 3 * CAPACITY))
    assert [s.consumer for s in ring.stats().consumers] == [other]


def test_a_removed_consumers_slot_is_reused_with_fresh_counters(ring):
    old = ring.add_consumer(Policy.OVERWRITE, lag_limit=2)
    publish_range(ring, 0, 3 * CAPACITY)
    assert ring.scan_slow_consumers() == 1
    poll_all(ring, old)
    ring.poll(old, ring.new_batch(1))
    ring.remove_consumer(old)
    new = ring.add_consumer(Policy.LOSSLESS)
    assert new == old
    stats = ring.consumer_stats(new)
    assert stats.policy is Policy.LOSSLESS
    assert stats.state is ConsumerState.ACTIVE
    assert (stats.cursor, stats.consumed, stats.lost, stats.loss_events) == (3 * CAPACITY, 0, 0, 0)
    assert (stats.last_lost_first, stats.last_lost_count, stats.empty_polls) == (-1, 0, 0)
    assert (stats.torn_reads, stats.slow, stats.max_lag, stats.lag_limit) == (0, False, 0, 4)


# --- slow-consumer detection ----------------------------------------------------------------------


def test_slow_consumer_is_flagged_above_its_lag_limit_and_keeps_its_worst_lag(ring):
    limited = ring.add_consumer(Policy.LOSSLESS, lag_limit=3)
    default = ring.add_consumer(Policy.OVERWRITE)  # limit: half the capacity
    publish_range(ring, 0, 3)
    assert ring.scan_slow_consumers() == 0
    publish_seq(ring, 3)
    assert ring.scan_slow_consumers() == 1
    assert ring.consumer_stats(limited).slow is True
    assert ring.consumer_stats(default).slow is False
    publish_range(ring, 4, 7)
    assert ring.scan_slow_consumers() == 2
    assert [ring.consumer_stats(c).max_lag for c in (limited, default)] == [7, 7]
    poll_all(ring, limited)
    poll_all(ring, default, 4)
    assert ring.scan_slow_consumers() == 0
    assert [ring.consumer_stats(c).slow for c in (limited, default)] == [False, False]
    assert [ring.consumer_stats(c).max_lag for c in (limited, default)] == [7, 7]
    assert [ring.consumer_stats(c).lag for c in (limited, default)] == [0, 3]


def test_slow_scan_sees_overwrite_lag_beyond_the_capacity(ring):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, 5 * CAPACITY)
    assert ring.scan_slow_consumers() == 1
    assert ring.consumer_stats(consumer).max_lag == 5 * CAPACITY


# --- wait strategies ----------------------------------------------------------------------------


class Waiter(threading.Thread):
    """Runs ``poll_batch_wait`` once in a thread (the compiled kernel releases the GIL)."""

    def __init__(self, bus, consumer, strategy, timeout_ns):
        super().__init__(daemon=True)
        self.args_ = (*bus.arrays, consumer, np.zeros((4, 8), np.int64), 4, strategy, timeout_ns)
        self.started_waiting = threading.Event()
        self.result = None

    def run(self):
        self.started_waiting.set()
        self.result = kernels.poll_batch_wait(*self.args_)

    @property
    def out(self):
        return self.args_[4]


@pytest.mark.parametrize("strategy", list(WaitStrategy))
def test_wait_returns_records_published_by_another_thread(ring, strategy):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    waiter = Waiter(ring, consumer, strategy, 60 * 1_000_000_000)
    waiter.start()
    waiter.started_waiting.wait()
    time.sleep(0.05)
    assert waiter.is_alive()
    assert ring.publish(make_record(ring, 0)[0]) == 0
    waiter.join(30)
    assert not waiter.is_alive()
    count, first, lost = waiter.result
    assert (count, first, lost) == (1, 0, 0)
    assert batch_seqs(waiter.out.view(ring.record_dtype).reshape(4), 1) == [0]


@pytest.mark.parametrize("strategy", list(WaitStrategy))
def test_wait_on_an_empty_ring_returns_nothing_at_the_timeout(ring, strategy):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    timeout_ns = 20_000_000
    started = time.monotonic_ns()
    out = np.zeros((4, 8), np.int64)
    result = kernels.poll_batch_wait(*ring.arrays, consumer, out, 4, strategy, timeout_ns)
    assert time.monotonic_ns() - started >= timeout_ns
    assert result == (0, 0, 0)
    assert ring.consumer_stats(consumer).empty_polls >= 1
    assert ring.consumer_stats(consumer).consumed == 0


@pytest.mark.parametrize("strategy", list(WaitStrategy))
def test_wait_returns_at_once_with_what_is_already_there(ring, strategy):
    consumer = ring.add_consumer(Policy.OVERWRITE)
    publish_range(ring, 0, CAPACITY + 2)
    out = np.zeros((4, 8), np.int64)
    result = kernels.poll_batch_wait(*ring.arrays, consumer, out, 4, strategy, 60 * 10**9)
    assert result == (4, 2, 2)
    assert ring.consumer_stats(consumer).empty_polls == 0


@pytest.mark.parametrize("strategy", list(WaitStrategy))
def test_wait_returns_empty_when_the_stop_flag_is_set(ring, strategy):
    consumer = ring.add_consumer(Policy.LOSSLESS)
    publish_seq(ring, 0)
    assert ring.poll(consumer, ring.new_batch(1))[0] == 1
    waiter = Waiter(ring, consumer, strategy, 600 * 1_000_000_000)
    waiter.start()
    waiter.started_waiting.wait()
    time.sleep(0.05)
    assert waiter.is_alive()
    ring.request_stop()
    waiter.join(30)
    assert not waiter.is_alive()
    assert waiter.result == (0, 1, 0)
    # The stop flag does not hide data: a later wait still returns what arrives.
    publish_seq(ring, 1)
    out = np.zeros((4, 8), np.int64)
    assert kernels.poll_batch_wait(*ring.arrays, consumer, out, 4, strategy, 10**9) == (1, 1, 0)
