"""Shedding: the producer never waits, the least urgent go first, every loss is counted."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.lanes import DROPPED, ENQUEUED, EVICTED, LaneStats, PriorityLanes, kernels
from tests.signals.lanes._support import drain_all, event, events, four_lanes

CRITICAL, HIGH, NORMAL, BULK = range(4)


def _counts(lanes: PriorityLanes, field: str) -> list[int]:
    return [getattr(lane, field) for lane in lanes.stats().lanes]


def _accounted(lane: LaneStats) -> bool:
    return lane.enqueued == lane.drained + lane.evicted + lane.depth


def test_a_full_lane_drops_its_newest_event_and_counts_it() -> None:
    lanes = PriorityLanes(four_lanes((4, 4, 4, 8)))
    pushed = events(6, EventKind.STATUS)
    assert lanes.push(pushed, now_ns=0) == 4
    assert _counts(lanes, "dropped") == [2, 0, 0, 0]
    assert drain_all(lanes)["seq"].tolist() == pushed["seq"][:4].tolist()


def test_at_the_budget_a_more_urgent_event_evicts_the_newest_least_urgent_one() -> None:
    lanes = PriorityLanes(four_lanes((4, 4, 4, 8), budget=8))
    bulk = events(8, EventKind.ADD)
    assert lanes.push(bulk, now_ns=0) == 8
    critical = event(EventKind.STATUS, "H")
    normal = events(4, EventKind.DELETE)
    assert lanes.push(critical, now_ns=0) == 1
    assert lanes.push(normal, now_ns=0) == 4
    late_bulk = event(EventKind.ADD)
    assert lanes.push(late_bulk, now_ns=0) == 0  # nothing less urgent to evict
    stats = lanes.stats()
    assert stats.held == stats.held_limit == 8
    assert _counts(lanes, "evicted") == [0, 0, 0, 5]
    assert _counts(lanes, "dropped") == [0, 0, 0, 1]
    expected = [*critical["seq"], *normal["seq"], *bulk["seq"][:3]]
    assert drain_all(lanes)["seq"].tolist() == expected
    assert all(_accounted(lane) for lane in lanes.stats().lanes)


def test_eviction_takes_the_least_urgent_lane_first() -> None:
    lanes = PriorityLanes(four_lanes((4, 4, 4, 4), budget=4))
    lanes.push(events(2, EventKind.DELETE), now_ns=0)  # normal
    lanes.push(events(2, EventKind.ADD), now_ns=0)  # bulk
    lanes.push(events(3, EventKind.STATUS), now_ns=0)
    assert _counts(lanes, "evicted") == [0, 0, 1, 2]
    assert drain_all(lanes)["lane"].tolist() == [CRITICAL] * 3 + [NORMAL]


def test_at_the_budget_an_event_no_less_urgent_than_everything_held_is_dropped() -> None:
    lanes = PriorityLanes(four_lanes((4, 4, 4, 4), budget=3))
    lanes.push(events(3, EventKind.STATUS), now_ns=0)
    assert lanes.push(events(2, EventKind.DELETE), now_ns=0) == 0
    assert lanes.push(event(EventKind.STATUS), now_ns=0) == 0
    assert _counts(lanes, "dropped") == [1, 0, 2, 0]
    assert _counts(lanes, "evicted") == [0, 0, 0, 0]


def test_enqueue_reports_what_it_did() -> None:
    lanes = PriorityLanes(four_lanes((1, 1, 1, 1), budget=1))
    a = lanes.arrays
    record = event(EventKind.ADD)

    def enqueue(lane: int) -> int:
        return kernels.enqueue(record, 0, lane, 0, a.rules, a.table, a.state, a.slots, a.stamps)

    assert enqueue(BULK) == ENQUEUED
    assert enqueue(HIGH) == EVICTED
    assert enqueue(NORMAL) == DROPPED
    assert enqueue(HIGH) == DROPPED
    assert _counts(lanes, "dropped") == [0, 1, 1, 0]


def test_the_producer_never_waits_and_every_loss_is_counted() -> None:
    lanes = PriorityLanes(four_lanes((8, 16, 32, 64), budget=64))
    lanes.set_message_lane(EventKind.BROKEN_TRADE, HIGH)
    mix = {EventKind.STATUS: 500, EventKind.BROKEN_TRADE: 1_500, EventKind.DELETE: 4_000}
    mix[EventKind.ADD] = 14_000
    pushed = np.concatenate([events(n, kind) for kind, n in mix.items()])
    np.random.default_rng(7).shuffle(pushed)
    out = np.zeros(8, MARKET_EVENT_DTYPE)
    accepted = drained = 0
    for start in range(0, len(pushed), 100):  # 100 in, 8 out: far beyond the drain rate
        accepted += lanes.push(pushed[start : start + 100], now_ns=0)
        drained += lanes.drain(out, now_ns=0)
    drained += len(drain_all(lanes))
    stats = lanes.stats()
    assert accepted == sum(lane.enqueued for lane in stats.lanes)
    assert len(pushed) == accepted + sum(lane.dropped for lane in stats.lanes)
    assert drained == stats.drained == accepted - sum(lane.evicted for lane in stats.lanes)
    assert all(_accounted(lane) and lane.depth == 0 for lane in stats.lanes)
    # the critical lane is sized for this load and loses nothing; the others lose more the
    # less urgent they are
    share_lost = [lane.lost / n for lane, n in zip(stats.lanes, mix.values(), strict=True)]
    assert share_lost[CRITICAL] == 0
    assert 0 < share_lost[HIGH] < share_lost[NORMAL] < share_lost[BULK]


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.zeros(2, np.int64), TypeError, "must be a MARKET_EVENT_DTYPE array"),
        (
            np.zeros((2, 2), MARKET_EVENT_DTYPE),
            ValueError,
            r"must be one-dimensional, got shape \(2, 2\)",
        ),
    ],
)
def test_push_and_drain_refuse_arrays_that_are_not_event_records(bad, error, message) -> None:
    lanes = PriorityLanes(four_lanes())
    with pytest.raises(error, match=f"events {message}"):
        lanes.push(bad)
    with pytest.raises(error, match=f"out {message}"):
        lanes.drain(bad)


def test_default_times_come_from_the_monotonic_clock() -> None:
    lanes = PriorityLanes(four_lanes())
    lanes.push(events(2, EventKind.STATUS))
    out = np.zeros(2, MARKET_EVENT_DTYPE)
    assert lanes.drain(out) == 2
    assert lanes.stats().lanes[CRITICAL].max_delay_ns >= 0


def test_memory_is_reported_in_bytes() -> None:
    config = four_lanes((64, 256, 1024, 4096))
    lanes = PriorityLanes(config)
    assert lanes.config is config
    slots = (64 + 256 + 1024 + 4096) * MARKET_EVENT_DTYPE.itemsize
    stats = lanes.stats()
    assert stats.memory_bytes == lanes.memory_bytes == sum(a.nbytes for a in lanes.arrays)
    assert slots < stats.memory_bytes < 2 * slots + 64 * 1024
