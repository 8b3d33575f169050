"""Deterministic step simulator: the real ring, lifecycle and decision gate on logical time.

Each step the producer publishes ``ingest`` events into a 64-slot ring, then the consumer
makes ``consume`` single non-blocking polls. Every event it reads goes through the
lifecycle gate and becomes a decision acknowledged with its sequence, decision time,
completion time and EXECUTED or PROVISIONAL. Time is logical — step ``n`` starts at
``n × STEP_NS`` — so the printed output is identical on every run and on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lowlat.core.lifecycle import ExecutionMode, Lifecycle, LifecycleState, Transition
from lowlat.core.lifecycle import kernels as lifecycle_kernels
from lowlat.core.records import ACK_DTYPE, MARKET_EVENT_DTYPE, AckFlag, AckStatus, EventKind
from lowlat.core.ring import EMPTY, Policy, RingBus
from lowlat.core.ring import kernels as ring_kernels
from lowlat.demo.scenarios import Scenario

__all__ = [
    "CAPACITY",
    "POLL_NS",
    "PROVISIONAL_RECORD_NS",
    "STEP_NS",
    "VENUE_ACK_NS",
    "DemoResult",
    "StepSimulator",
    "lifecycle_path",
]

CAPACITY = 64
STEP_NS = 10_000  # logical length of one step
INGEST_NS = 100  # spacing of published events within a step
CONSUME_START_NS = 5_000  # the consumer starts polling half-way through the step
POLL_NS = 100  # logical cost of one poll
VENUE_ACK_NS = 2_500  # venue round trip for an executed order
PROVISIONAL_RECORD_NS = 200  # recording a provisional decision locally


@dataclass(slots=True)
class DemoResult:
    """What a run printed and the totals a test or a summary table needs."""

    scenario: Scenario
    lines: list[str] = field(default_factory=list)
    published: int = 0
    consumed: int = 0
    lost: int = 0
    overruns: int = 0
    empty_polls: int = 0
    executed: int = 0
    provisional: int = 0
    first_overrun_step: int | None = None
    acks: np.ndarray = field(default_factory=lambda: np.zeros(0, ACK_DTYPE))
    lifecycle_history: list[Transition] = field(default_factory=list)


class _LogicalClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def lifecycle_path(history: list[Transition]) -> str:
    """``INIT → WARMUP → READY …`` for a list of transitions."""
    return " → ".join([history[0].source.name, *(t.target.name for t in history)])


def _seq_range(first: int, count: int) -> str:
    return f"seq {first}" if count == 1 else f"seq {first}..{first + count - 1}"


class StepSimulator:
    """Runs one :class:`Scenario` and prints a line per step and per acknowledgement."""

    def __init__(self, scenario: Scenario, *, capacity: int = CAPACITY) -> None:
        self.scenario = scenario
        self.clock = _LogicalClock()
        self.bus = RingBus(capacity)
        self.consumer = self.bus.add_consumer(Policy.OVERWRITE)
        self.lifecycle = Lifecycle(clock=self.clock)
        total = scenario.steps * scenario.ingest
        self._acks = np.zeros(total, ACK_DTYPE)
        self._event = np.zeros(1, MARKET_EVENT_DTYPE)
        self._event_words = self._event.view(np.int64).reshape(1, -1)
        self._read = np.zeros(1, MARKET_EVENT_DTYPE)
        self._read_words = self._read.view(np.int64).reshape(1, -1)

    def run(self, emit: Callable[[str], None] | None = None) -> DemoResult:
        """Run every step; pass each printed line to ``emit`` as it is produced."""
        result = DemoResult(self.scenario)

        def say(line: str) -> None:
            result.lines.append(line)
            if emit is not None:
                emit(line)

        s = self.scenario
        say(f"lowlat demo: {s.name} — {s.expectation}")
        say(
            f"ring capacity {self.bus.capacity}, one overwrite consumer; each step: publish "
            f"{s.ingest}, then {s.consume} non-blocking polls"
        )
        say(
            f"logical time: step n starts at n×{STEP_NS} ns; polls every {POLL_NS} ns from "
            f"+{CONSUME_START_NS}; venue ack after {VENUE_ACK_NS} ns; "
            f"provisional record after {PROVISIONAL_RECORD_NS} ns"
        )
        self._transition(LifecycleState.WARMUP, "process started", say)
        self._transition(LifecycleState.READY, "warm-up complete", say)
        for step in range(s.steps):
            self._step(step, result, say)
        result.lifecycle_history = self.lifecycle.history[1:]
        self._summarize(result, say)
        result.acks = self._acks[: result.executed + result.provisional].copy()
        return result

    def _transition(self, target: LifecycleState, reason: str, say) -> None:
        entry = self.lifecycle.transition(target, reason)
        say(
            f"  lifecycle {entry.source.name} → {entry.target.name} at t={entry.monotonic_ns} "
            f"({reason})"
        )

    def _step(self, step: int, result: DemoResult, say) -> None:
        s = self.scenario
        start = step * STEP_NS
        self.clock.now = start
        if step == s.degrade_at:
            self._transition(LifecycleState.DEGRADED, "failure injected: venue link down", say)
        if step == s.recover_at:
            self._transition(LifecycleState.READY, "failure cleared: venue link restored", say)

        first_published = result.published
        for i in range(s.ingest):
            self.clock.now = start + i * INGEST_NS
            self._publish(result.published, self.clock.now)
            result.published += 1
        backlog = self.bus.lag(self.consumer)
        state = self.lifecycle.state.name
        parts = [
            f"step {step:2d} t={start:6d} {state:<8s} published "
            f"{_seq_range(first_published, s.ingest)}",
            f"backlog {backlog}/{self.bus.capacity}",
        ]

        read: list[int] = []
        empty = 0
        acks_before = result.executed + result.provisional
        for p in range(s.consume):
            self.clock.now = start + CONSUME_START_NS + p * POLL_NS
            seq, lost = ring_kernels.poll(*self.bus.arrays, self.consumer, self._read_words)
            if lost:
                result.lost += lost
                result.overruns += 1
                if result.first_overrun_step is None:
                    result.first_overrun_step = step
                resumed = seq if seq != EMPTY else self.bus.consumer_stats(self.consumer).cursor
                parts.append(
                    f"OVERRUN lost {lost} ({_seq_range(resumed - lost, lost)}), "
                    f"resumed at seq {resumed}"
                )
            if seq == EMPTY:
                empty += 1
                continue
            read.append(seq)
            self._decide(seq, result)
        result.consumed += len(read)
        result.empty_polls += empty
        consumed = f"consumed {len(read)}"
        if read:
            consumed += f" (seq {read[0]})" if len(read) == 1 else f" (seq {read[0]}..{read[-1]})"
        parts.append(consumed)
        if empty:
            parts.append(f"{empty} empty polls returned at once")
        parts.append(f"backlog {self.bus.lag(self.consumer)}")
        say(" · ".join(parts))
        for ack in self._acks[acks_before : result.executed + result.provisional]:
            flag = "EXECUTED" if ack["flags"] == AckFlag.EXECUTED else "PROVISIONAL"
            say(
                f"    ack seq={ack['seq']} decision_ts={ack['decision_ns']} "
                f"completion_ts={ack['completion_ns']} {flag}"
            )

    def _publish(self, seq: int, now: int) -> None:
        event = self._event[0]
        event["seq"] = seq
        event["recv_ns"] = now
        event["instrument"] = 1
        event["kind"] = EventKind.TICK
        event["price"] = 1_000_000 + (seq % 7) * 100  # ticks: 100.0000 .. 100.0600
        event["qty"] = 100
        published = ring_kernels.publish(*self.bus.arrays, self._event_words[0])
        if published != seq:
            raise AssertionError(f"publish returned {published}, expected {seq}")

    def _decide(self, seq: int, result: DemoResult) -> None:
        """The decision gate: the lifecycle state alone says whether the order is sent."""
        decision_ns = self.clock.now
        ack = self._acks[result.executed + result.provisional]
        ack["seq"] = seq
        ack["client_order_id"] = seq + 1
        ack["decision_ns"] = decision_ns
        ack["instrument"] = int(self._read[0]["instrument"])
        mode = lifecycle_kernels.execution_mode(self.lifecycle.reader)
        if mode == ExecutionMode.EXECUTE:
            ack["completion_ns"] = decision_ns + VENUE_ACK_NS
            ack["status"] = AckStatus.NEW
            ack["flags"] = AckFlag.EXECUTED
            result.executed += 1
        else:
            ack["completion_ns"] = decision_ns + PROVISIONAL_RECORD_NS
            ack["status"] = AckStatus.DECIDED
            ack["flags"] = AckFlag.PROVISIONAL
            result.provisional += 1

    def _summarize(self, result: DemoResult, say) -> None:
        first = "none" if result.first_overrun_step is None else f"step {result.first_overrun_step}"
        say(
            f"summary: published {result.published} · consumed {result.consumed} · "
            f"lost {result.lost} in {result.overruns} overruns (first: {first}) · "
            f"empty polls {result.empty_polls} · acks {result.executed + result.provisional} "
            f"(executed {result.executed}, provisional {result.provisional})"
        )
        say(f"lifecycle: {lifecycle_path(result.lifecycle_history)}")
