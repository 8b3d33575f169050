"""Model-based test: the lanes against a plain-Python model, one deque per lane (hypothesis).

The model classifies by message type and watch list, enqueues with the documented
shedding (own ring full: drop; budget reached: evict the newest event of the least urgent
non-empty lane if it is less urgent, else drop), and drains most-urgent-first with the
starvation bound. Rules push batches, drain, raise and lower instruments; after every
step the drained events (order and lane byte) and every counter must equal the model's,
and every queueing delay must be within the config's ``delay_bound``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.lanes import LaneConfig, LaneSpec, MessageRule, PriorityLanes

KIND_OF_LANE = (EventKind.STATUS, EventKind.BROKEN_TRADE, EventKind.DELETE, EventKind.ADD)
UNRULED = EventKind.QUOTE  # no rule: the default lane
INSTRUMENTS = 4


@dataclass
class Queued:
    seq: int
    order: int  # accepted so far when it was accepted: decides "oldest waiting"
    clock: int  # drained so far when it was accepted
    ns: int


@dataclass
class ModelLane:
    capacity: int
    queue: deque[Queued] = field(default_factory=deque)
    enqueued: int = 0
    drained: int = 0
    dropped: int = 0
    evicted: int = 0
    max_delay_events: int = 0
    max_delay_ns: int = 0
    starvation: int = 0


class LanesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lanes: PriorityLanes | None = None

    @initialize(data=st.data())
    def create(self, data: st.DataObject) -> None:
        n_lanes = data.draw(st.integers(1, 4), label="lanes")
        capacities = data.draw(
            st.lists(st.sampled_from([1, 2, 4, 8]), min_size=n_lanes, max_size=n_lanes)
        )
        budget = data.draw(st.none() | st.integers(1, sum(capacities)), label="budget")
        self.config = LaneConfig(
            lanes=tuple(LaneSpec(f"lane{i}", cap) for i, cap in enumerate(capacities)),
            default_lane=n_lanes - 1,
            starvation_bound=data.draw(st.integers(1, 4), label="starvation_bound"),
            budget=budget,
            max_instruments=INSTRUMENTS,
            messages=tuple(MessageRule(KIND_OF_LANE[i], i) for i in range(n_lanes)),
            trade_size=None,
            price_move=None,
            news_lane=0,
        )
        self.lanes = PriorityLanes(self.config)
        self.model = [ModelLane(cap) for cap in capacities]
        self.watch: dict[int, int] = {}
        self.next_seq = 1
        self.accepted = 0
        self.clock = 0
        self.streak = 0
        self.now = 0

    # --- the model ---------------------------------------------------------------------

    def model_lane(self, kind: EventKind, instrument: int) -> int:
        candidates = [i for i, k in enumerate(KIND_OF_LANE[: len(self.model)]) if k == kind]
        if instrument in self.watch:
            candidates.append(self.watch[instrument])
        return min(candidates, default=self.config.default_lane)

    def model_enqueue(self, seq: int, lane: int) -> bool:
        target = self.model[lane]
        if len(target.queue) == target.capacity:
            target.dropped += 1
            return False
        held = sum(len(m.queue) for m in self.model)
        if held >= self.config.held_limit:
            victim = max(i for i, m in enumerate(self.model) if m.queue)
            if victim <= lane:
                target.dropped += 1
                return False
            self.model[victim].queue.pop()
            self.model[victim].evicted += 1
        target.queue.append(Queued(seq, self.accepted, self.clock, self.now))
        target.enqueued += 1
        self.accepted += 1
        return True

    def model_next(self) -> int:
        busy = [i for i, m in enumerate(self.model) if m.queue]
        if not busy:
            return -1
        top = busy[0]
        if len(busy) == 1:
            self.streak = 0
            return top
        if self.streak < self.config.starvation_bound:
            self.streak += 1
            return top
        self.streak = 0
        oldest = min(busy[1:], key=lambda i: self.model[i].queue[0].order)
        self.model[oldest].starvation += 1
        return oldest

    def model_drain(self, n: int) -> list[tuple[int, int]]:
        drained = []
        while len(drained) < n and (lane := self.model_next()) >= 0:
            model = self.model[lane]
            item = model.queue.popleft()
            delay = self.clock - item.clock
            assert delay <= self.config.delay_bound(lane)
            model.max_delay_events = max(model.max_delay_events, delay)
            model.max_delay_ns = max(model.max_delay_ns, self.now - item.ns)
            model.drained += 1
            self.clock += 1
            drained.append((item.seq, lane))
        return drained

    # --- rules -------------------------------------------------------------------------

    @rule(
        batch=st.lists(
            st.tuples(st.sampled_from([*KIND_OF_LANE, UNRULED]), st.integers(0, INSTRUMENTS)),
            max_size=12,
        ),
        elapsed=st.integers(0, 100),
    )
    def push(self, batch: list[tuple[EventKind, int]], elapsed: int) -> None:
        assert self.lanes is not None
        self.now += elapsed
        pushed = np.zeros(len(batch), MARKET_EVENT_DTYPE)
        expected = 0
        for i, (kind, instrument) in enumerate(batch):
            pushed[i]["seq"] = self.next_seq
            pushed[i]["kind"] = kind
            pushed[i]["instrument"] = instrument
            expected += self.model_enqueue(self.next_seq, self.model_lane(kind, instrument))
            self.next_seq += 1
        assert self.lanes.push(pushed, now_ns=self.now) == expected

    @rule(n=st.integers(0, 10), elapsed=st.integers(0, 100))
    def drain(self, n: int, elapsed: int) -> None:
        assert self.lanes is not None
        self.now += elapsed
        out = np.zeros(n, MARKET_EVENT_DTYPE)
        got = self.lanes.drain(out, now_ns=self.now)
        expected = self.model_drain(n)
        drained = out[:got]
        pairs = zip(drained["seq"].tolist(), drained["lane"].tolist(), strict=True)
        assert list(pairs) == expected

    @rule(instrument=st.integers(0, INSTRUMENTS - 1), lane=st.integers(0, 3))
    def raise_instrument(self, instrument: int, lane: int) -> None:
        assert self.lanes is not None
        lane = min(lane, len(self.model) - 1)
        self.lanes.raise_instrument(instrument, lane)
        self.watch[instrument] = lane

    @rule(instrument=st.integers(0, INSTRUMENTS - 1))
    def lower_instrument(self, instrument: int) -> None:
        assert self.lanes is not None
        self.lanes.lower_instrument(instrument)
        self.watch.pop(instrument, None)

    @invariant()
    def counters_match_the_model(self) -> None:
        if self.lanes is None:
            return
        stats = self.lanes.stats()
        assert stats.held == sum(len(m.queue) for m in self.model)
        assert stats.drained == self.clock
        for lane, model in zip(stats.lanes, self.model, strict=True):
            assert (
                lane.enqueued,
                lane.drained,
                lane.dropped,
                lane.evicted,
                lane.depth,
                lane.max_delay_events,
                lane.max_delay_ns,
                lane.starvation_services,
            ) == (
                model.enqueued,
                model.drained,
                model.dropped,
                model.evicted,
                len(model.queue),
                model.max_delay_events,
                model.max_delay_ns,
                model.starvation,
            )


LanesMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lanes_match_their_reference_model = LanesMachine.TestCase
