"""Model-based test: the ring against a plain-Python reference model (hypothesis stateful).

The model keeps the published count, the producer's gate cache (the kernels document that
the producer rescans its gating consumers only when the cached gate would refuse a publish,
which decides when isolation happens) and, per consumer, its cursor, policy, state and
counters. Rules publish (one by one or in batches), poll, add, remove, detach, reattach and
scan for slow consumers; after every step the ring's counters must equal the model's, and
every consumer's history must account for every sequence exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lowlat.core.ring import BACK_PRESSURED, ConsumerState, Policy, RingBus, RingError, kernels
from tests.core._ring_support import batch_seqs, fill_words, publish_seq


@dataclass
class ModelConsumer:
    policy: Policy
    isolate: bool
    lag_limit: int
    start: int
    cursor: int
    state: ConsumerState = ConsumerState.ACTIVE
    ever_detached: bool = False
    received: list[int] = field(default_factory=list)
    lost_seqs: list[int] = field(default_factory=list)
    consumed: int = 0
    lost: int = 0
    loss_events: int = 0
    last_lost_first: int = -1
    last_lost_count: int = 0
    empty_polls: int = 0
    slow: bool = False
    max_lag: int = 0

    @property
    def gating(self) -> bool:
        return self.state is ConsumerState.ACTIVE and self.policy is Policy.LOSSLESS


class RingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.bus: RingBus | None = None

    @initialize(
        capacity=st.sampled_from([2, 4, 8, 16]),
        max_consumers=st.integers(1, 4),
    )
    def create(self, capacity: int, max_consumers: int) -> None:
        self.bus = RingBus(capacity, max_consumers=max_consumers)
        self.capacity = capacity
        self.max_consumers = max_consumers
        self.published = 0
        self.gate_cache = 0
        self.back_pressured = 0
        self.isolations = 0
        self.consumers: dict[int, ModelConsumer] = {}

    # --- the model's producer --------------------------------------------------------

    def model_claim(self) -> int:
        """What publishing the next sequence must return; applies gating and isolation."""
        seq = self.published
        if seq >= self.gate_cache + self.capacity:
            gate = seq
            for index in sorted(self.consumers):
                consumer = self.consumers[index]
                if not consumer.gating:
                    continue
                if consumer.isolate and seq - consumer.cursor >= consumer.lag_limit:
                    consumer.state = ConsumerState.DETACHED
                    consumer.ever_detached = True
                    self.isolations += 1
                    continue
                gate = min(gate, consumer.cursor)
            self.gate_cache = gate
            if seq >= gate + self.capacity:
                self.back_pressured += 1
                return BACK_PRESSURED
        self.published += 1
        return seq

    def assert_no_unread_event_overwritten(self, seq: int) -> None:
        """Contract, on the ring's own state: no gating consumer was a lap behind ``seq``."""
        for stats in self.bus.stats().consumers:
            if stats.state is ConsumerState.ACTIVE and stats.policy is Policy.LOSSLESS:
                assert seq < stats.cursor + self.capacity, (seq, stats)

    def assert_refusal_justified(self, seq: int) -> None:
        """Contract: a refusal means some gating consumer has not read ``seq - capacity``."""
        assert any(
            s.state is ConsumerState.ACTIVE
            and s.policy is Policy.LOSSLESS
            and seq >= s.cursor + self.capacity
            for s in self.bus.stats().consumers
        )

    def pick(self, which: int) -> tuple[int, ModelConsumer]:
        index = sorted(self.consumers)[which % len(self.consumers)]
        return index, self.consumers[index]

    # --- rules ---------------------------------------------------------------------------

    @rule(count=st.integers(1, 20))
    def publish(self, count: int) -> None:
        for _ in range(count):
            seq = self.published
            expected = self.model_claim()
            assert publish_seq(self.bus, seq) == expected
            if expected == BACK_PRESSURED:
                self.assert_refusal_justified(seq)
            else:
                self.assert_no_unread_event_overwritten(seq)

    @rule(count=st.integers(0, 20))
    def publish_batch(self, count: int) -> None:
        first = self.published
        rows = np.zeros((count, self.bus.arrays.slots.shape[1]), np.int64)
        for r in range(count):
            fill_words(rows[r], first + r)
        expected = 0
        while expected < count and self.model_claim() != BACK_PRESSURED:
            expected += 1
        assert kernels.publish_batch(*self.bus.arrays, rows, count) == expected
        if expected < count:
            self.assert_refusal_justified(first + expected)
        if expected > 0:
            self.assert_no_unread_event_overwritten(first + expected - 1)

    @precondition(lambda self: self.consumers)
    @rule(which=st.integers(0, 63), out_len=st.integers(0, 20), max_count=st.integers(-1, 20))
    def poll(self, which: int, out_len: int, max_count: int) -> None:
        self.check_poll(*self.pick(which), out_len, max_count)

    @precondition(lambda self: self.consumers)
    @rule(which=st.integers(0, 63), leave=st.integers(0, 8))
    def catch_up(self, which: int, leave: int) -> None:
        """Poll so as to leave the consumer ``leave`` events behind the producer."""
        index, consumer = self.pick(which)
        oldest = max(consumer.cursor, self.published - self.capacity)
        self.check_poll(index, consumer, self.capacity, max(0, self.published - oldest - leave))

    def check_poll(self, index: int, consumer: ModelConsumer, out_len: int, max_count: int) -> None:
        """Poll ``consumer`` into ``out_len`` records (``max_count`` -1: no limit); check all."""
        out = self.bus.new_batch(out_len)
        limit = out_len if max_count == -1 else min(max_count, out_len)
        count, first, lost = self.bus.poll(index, out, None if max_count == -1 else max_count)

        cursor = consumer.cursor
        if cursor >= self.published:
            consumer.empty_polls += 1
            assert (count, first, lost) == (0, cursor, 0)
            return
        expected_lost = max(0, self.published - self.capacity - cursor)
        cursor += expected_lost
        expected_count = max(0, min(limit, self.published - cursor))
        assert (count, first, lost) == (expected_count, cursor, expected_lost)
        assert batch_seqs(out, count) == list(range(first, first + count))
        if lost:
            # Only an overwrite consumer, or a lossless one while detached, can lose.
            assert consumer.policy is Policy.OVERWRITE or consumer.state is ConsumerState.DETACHED
            consumer.lost += lost
            consumer.loss_events += 1
            consumer.last_lost_first = first - lost
            consumer.last_lost_count = lost
            consumer.lost_seqs += range(first - lost, first)
        consumer.received += range(first, first + count)
        consumer.consumed += count
        consumer.cursor = first + count

    @rule(
        policy=st.sampled_from(Policy),
        isolate=st.booleans(),
        lag_limit=st.none() | st.integers(1, 16),
    )
    def add_consumer(self, policy: Policy, isolate: bool, lag_limit: int | None) -> None:
        limit = self.capacity // 2 if lag_limit is None else lag_limit
        if limit > self.capacity:
            try:
                self.bus.add_consumer(policy, lag_limit=lag_limit, isolate=isolate)
            except RingError:
                return
            raise AssertionError(f"lag_limit {limit} > capacity {self.capacity} accepted")
        if len(self.consumers) == self.max_consumers:
            try:
                self.bus.add_consumer(policy, lag_limit=lag_limit, isolate=isolate)
            except RingError:
                return
            raise AssertionError("a consumer was added beyond max_consumers")
        index = self.bus.add_consumer(policy, lag_limit=lag_limit, isolate=isolate)
        assert index == min(set(range(self.max_consumers)) - set(self.consumers))
        self.consumers[index] = ModelConsumer(
            policy, isolate, limit, start=self.published, cursor=self.published
        )

    @precondition(lambda self: self.consumers)
    @rule(which=st.integers(0, 63))
    def remove_consumer(self, which: int) -> None:
        index, _ = self.pick(which)
        self.bus.remove_consumer(index)
        del self.consumers[index]

    @precondition(lambda self: self.consumers)
    @rule(which=st.integers(0, 63))
    def detach(self, which: int) -> None:
        index, consumer = self.pick(which)
        expected = consumer.state is ConsumerState.ACTIVE
        assert self.bus.detach(index) is expected
        if expected:
            consumer.state = ConsumerState.DETACHED
            consumer.ever_detached = True

    @precondition(lambda self: self.consumers)
    @rule(which=st.integers(0, 63))
    def reattach(self, which: int) -> None:
        index, consumer = self.pick(which)
        expected = (
            consumer.state is ConsumerState.DETACHED
            and self.published - consumer.cursor < self.capacity // 2
        )
        assert self.bus.reattach(index) is expected
        if expected:
            consumer.state = ConsumerState.ACTIVE
            self.gate_cache = min(self.gate_cache, consumer.cursor)

    @rule()
    def scan_slow_consumers(self) -> None:
        slow = 0
        for consumer in self.consumers.values():
            behind = self.published - consumer.cursor
            consumer.max_lag = max(consumer.max_lag, behind)
            consumer.slow = behind > consumer.lag_limit
            slow += consumer.slow
        assert self.bus.scan_slow_consumers() == slow

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def producer_counters_match(self) -> None:
        if self.bus is None:
            return
        stats = self.bus.stats()
        assert (stats.published, stats.back_pressured, stats.isolations) == (
            self.published,
            self.back_pressured,
            self.isolations,
        )
        assert self.bus.gate_cache == self.gate_cache
        assert self.bus.consumers() == sorted(self.consumers)

    @invariant()
    def gate_cache_is_at_most_every_gating_cursor(self) -> None:
        """The producer may skip its rescan only while the cache bounds every gating cursor."""
        if self.bus is None:
            return
        for stats in self.bus.stats().consumers:
            if stats.state is ConsumerState.ACTIVE and stats.policy is Policy.LOSSLESS:
                assert self.bus.gate_cache <= stats.cursor, stats

    @invariant()
    def consumer_counters_match(self) -> None:
        if self.bus is None:
            return
        for index, model in self.consumers.items():
            stats = self.bus.consumer_stats(index)
            assert (stats.state, stats.policy, stats.isolate, stats.lag_limit) == (
                model.state,
                model.policy,
                model.isolate,
                model.lag_limit,
            )
            assert (stats.cursor, stats.lag, stats.consumed, stats.empty_polls) == (
                model.cursor,
                self.published - model.cursor,
                model.consumed,
                model.empty_polls,
            )
            assert (stats.lost, stats.loss_events) == (model.lost, model.loss_events)
            assert (stats.last_lost_first, stats.last_lost_count) == (
                model.last_lost_first,
                model.last_lost_count,
            )
            assert (stats.slow, stats.max_lag, stats.torn_reads) == (model.slow, model.max_lag, 0)

    @invariant()
    def every_sequence_is_received_or_lost_exactly_once(self) -> None:
        if self.bus is None:
            return
        for model in self.consumers.values():
            assert model.received == sorted(set(model.received))
            assert sorted(model.received + model.lost_seqs) == list(
                range(model.start, model.cursor)
            )
            if model.policy is Policy.LOSSLESS and not model.ever_detached:
                assert model.lost_seqs == []
                assert model.received == list(range(model.start, model.cursor))


RingMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ring_matches_its_reference_model = RingMachine.TestCase
