"""Drain order, queueing delay under a burst, and the starvation bound — all counted in events."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.lanes import PriorityLanes
from tests.signals.lanes._support import drain_all, event, events, four_lanes

CRITICAL, HIGH, NORMAL, BULK = range(4)


def test_drain_serves_critical_first_and_fifo_within_each_lane() -> None:
    lanes = PriorityLanes(four_lanes())
    pushed = np.concatenate(
        [
            event(EventKind.ADD),  # bulk
            event(EventKind.DELETE),  # normal (default)
            event(EventKind.STATUS, "H"),
            event(EventKind.ADD),
            event(EventKind.STATUS, "W"),
            event(EventKind.DELETE),
        ]
    )
    lanes.push(pushed, now_ns=0)
    drained = drain_all(lanes, batch=2)
    seqs = pushed["seq"]
    assert drained["seq"].tolist() == [seqs[i] for i in (2, 4, 1, 5, 0, 3)]
    assert drained["lane"].tolist() == [CRITICAL, CRITICAL, NORMAL, NORMAL, BULK, BULK]


def test_drain_of_empty_lanes_returns_zero_and_counts_nothing() -> None:
    lanes = PriorityLanes(four_lanes())
    out = np.zeros(4, MARKET_EVENT_DTYPE)
    assert lanes.drain(out, now_ns=0) == 0
    stats = lanes.stats()
    assert stats.drained == 0
    assert all(lane.drained == 0 for lane in stats.lanes)


def test_queueing_delay_is_measured_in_drained_events_and_in_ns() -> None:
    lanes = PriorityLanes(four_lanes())
    lanes.push(events(3, EventKind.ADD), now_ns=1_000)
    lanes.push(event(EventKind.STATUS, "H"), now_ns=2_000)
    out = np.zeros(4, MARKET_EVENT_DTYPE)
    assert lanes.drain(out[:1], now_ns=2_500) == 1
    assert lanes.drain(out, now_ns=9_000) == 3
    stats = lanes.stats()
    assert (stats.lanes[CRITICAL].max_delay_events, stats.lanes[CRITICAL].max_delay_ns) == (0, 500)
    # the third bulk event waited for the critical one and two bulk ones
    assert (stats.lanes[BULK].max_delay_events, stats.lanes[BULK].max_delay_ns) == (3, 8_000)


def _drained_at(pushed_at: dict[int, int], drained: np.ndarray, start: int) -> dict[int, int]:
    """Queueing delay of each drained event: events drained between its push and its drain."""
    return {
        int(seq): start + position - pushed_at[int(seq)]
        for position, seq in enumerate(drained["seq"])
    }


def test_burst_critical_delay_stays_bounded_while_bulk_waits() -> None:
    """100 000 bulk events queued, then critical events arriving among more bulk ones."""
    config = four_lanes((64, 256, 1024, 1 << 17), starvation_bound=8)
    lanes = PriorityLanes(config)
    pushed_at: dict[int, int] = {}  # seq -> events drained when it was pushed
    delays: dict[int, int] = {}
    critical: list[int] = []
    burst = events(100_000, EventKind.ADD)
    pushed_at.update(dict.fromkeys(burst["seq"].tolist(), 0))
    assert lanes.push(burst, now_ns=0) == 100_000
    out = np.zeros(16, MARKET_EVENT_DTYPE)
    drained = 0
    for step in range(400):
        arriving = np.concatenate([event(EventKind.STATUS, "H"), events(40, EventKind.ADD)])
        if step % 3 == 0:  # now and then two critical events at once
            arriving = np.concatenate([event(EventKind.STATUS, "V"), arriving])
        critical += arriving["seq"][arriving["kind"] == EventKind.STATUS].tolist()
        pushed_at.update(dict.fromkeys(arriving["seq"].tolist(), drained))
        assert lanes.push(arriving, now_ns=step) == len(arriving)
        n = lanes.drain(out, now_ns=step)
        delays.update(_drained_at(pushed_at, out[:n], drained))
        drained += n
    rest = drain_all(lanes, batch=1024)
    delays.update(_drained_at(pushed_at, rest, drained))

    stats = lanes.stats()
    assert sum(lane.dropped + lane.evicted for lane in stats.lanes) == 0
    assert len(delays) == len(pushed_at)
    critical_delays = [delays[seq] for seq in critical]
    # every drain starts with the critical events (the last service before it was a bulk
    # one, with nothing less urgent waiting, so no starvation service is due): the second
    # of a pair waits for the first, and that is all
    assert max(critical_delays) == 1 <= config.delay_bound(CRITICAL)
    assert stats.lanes[CRITICAL].max_delay_events == 1
    bulk_seqs = set(pushed_at) - set(critical)
    bulk_delays = sorted(delays[seq] for seq in bulk_seqs)
    assert stats.lanes[BULK].max_delay_events == bulk_delays[-1] >= 99_999
    assert bulk_delays[len(bulk_delays) // 2] > 10_000 * max(critical_delays)
    assert stats.lanes[BULK].max_delay_events <= config.delay_bound(BULK)


@pytest.mark.parametrize("bound", [1, 4, 16])
def test_bulk_progresses_once_per_bound_under_a_sustained_critical_flood(bound: int) -> None:
    config = four_lanes((1024, 256, 1024, 128), starvation_bound=bound)
    lanes = PriorityLanes(config)
    bulk = events(100, EventKind.ADD)
    lanes.push(bulk, now_ns=0)
    out = np.zeros(10, MARKET_EVENT_DTYPE)
    order = []
    for step in range(100 * (bound + 1) // 10):
        lanes.push(events(10, EventKind.STATUS), now_ns=step)  # never lets lane 0 empty
        n = lanes.drain(out, now_ns=step)
        order += out[:n]["lane"].tolist()
    positions = [i for i, lane in enumerate(order) if lane == BULK]
    # K critical events, then the oldest bulk event, and again
    assert positions == [(i + 1) * (bound + 1) - 1 for i in range(100)]
    stats = lanes.stats()
    assert stats.lanes[BULK].starvation_services == stats.lanes[BULK].drained == 100
    assert stats.lanes[BULK].max_delay_events == 100 * (bound + 1) - 1
    assert stats.lanes[BULK].max_delay_events <= config.delay_bound(BULK)
    assert stats.lanes[CRITICAL].starvation_services == 0


def test_a_starvation_service_takes_the_oldest_waiting_lower_lane() -> None:
    lanes = PriorityLanes(four_lanes(starvation_bound=2))
    older = np.concatenate(
        [event(EventKind.ADD), event(EventKind.DELETE), event(EventKind.BROKEN_TRADE)]
    )
    lanes.set_message_lane(EventKind.BROKEN_TRADE, HIGH)
    lanes.push(older, now_ns=0)  # bulk, then normal, then high: oldest is the bulk one
    lanes.push(events(20, EventKind.STATUS), now_ns=0)
    drained = drain_all(lanes, batch=3)
    assert drained["lane"].tolist()[:9] == [0, 0, BULK, 0, 0, NORMAL, 0, 0, HIGH]
    assert [lane.starvation_services for lane in lanes.stats().lanes] == [0, 1, 1, 1]


def test_no_starvation_service_when_nothing_less_urgent_waits() -> None:
    lanes = PriorityLanes(four_lanes(starvation_bound=1))
    lanes.push(events(5, EventKind.STATUS), now_ns=0)
    lanes.push(events(5, EventKind.DELETE), now_ns=0)
    drained = drain_all(lanes, batch=64)
    assert drained["lane"].tolist() == [0, NORMAL, 0, NORMAL, 0, NORMAL, 0, NORMAL, 0, NORMAL]
    lanes.push(events(6, EventKind.STATUS), now_ns=0)
    assert drain_all(lanes)["lane"].tolist() == [0] * 6
    # the last normal event was served by priority: lane 0 was empty by then
    assert [lane.starvation_services for lane in lanes.stats().lanes] == [0, 0, 4, 0]


def test_a_critical_event_can_wait_for_one_due_starvation_service() -> None:
    """The critical delay bound is tight: with nothing ahead, a due service still goes first."""
    config = four_lanes((1, 256, 1024, 4096), starvation_bound=1)
    lanes = PriorityLanes(config)
    lanes.push(np.concatenate([event(EventKind.DELETE), event(EventKind.ADD)]), now_ns=0)
    out = np.zeros(2, MARKET_EVENT_DTYPE)
    assert lanes.drain(out[:1], now_ns=0) == 1  # normal, passing the waiting bulk one
    lanes.push(event(EventKind.STATUS, "H"), now_ns=0)
    assert lanes.drain(out, now_ns=0) == 2
    assert out["lane"].tolist() == [BULK, CRITICAL]
    assert lanes.stats().lanes[CRITICAL].max_delay_events == config.delay_bound(0) == 1
