"""``EngineLoop``: the whole in-process trading path in one compiled loop, and its thread.

Control code around :mod:`lowlat.execution.loop_kernels`. It allocates every buffer the
loop writes once (:class:`LoopScratch`), and either processes a batch of events in the
calling thread (:meth:`EngineLoop.process` — deterministic, for tests and replays) or
runs the engine thread that polls a feed ring until stopped (:meth:`EngineLoop.start`,
:meth:`EngineLoop.stop`). The thread spends its life inside one nogil kernel call: it
never takes the GIL while trading, so nothing the control plane does in Python can delay
it.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.records import ACK_DTYPE, FILL_DTYPE, MARKET_EVENT_DTYPE, ORDER_DTYPE
from lowlat.core.ring import RingBus
from lowlat.execution.loop_kernels import (
    L_BLOCKS,
    L_BREAKER_CHANGES,
    L_CONSUMED,
    L_EVENTS,
    L_EXEC_ACKS,
    L_FILLS,
    L_LOST,
    L_ORDERS,
    L_REPORTS,
    L_STALLED_ROUTES,
    L_STOP,
    LOOP_WORDS,
    process_block,
    run_from_ring,
)
from lowlat.execution.pipeline import TradingPipeline
from lowlat.risk.breakers import BREAKER_EVENT_DTYPE
from lowlat.signals.patterns import PATTERN_EVENT_DTYPE
from lowlat.venue import InProcessGateway
from lowlat.venue.layout import report_capacity
from lowlat.venue.records import EXEC_REPORT_DTYPE

__all__ = ["LOOP_COUNTERS", "EngineLoop", "LoopScratch"]

LOOP_COUNTERS = {
    "events": L_EVENTS,
    "consumed": L_CONSUMED,
    "blocks": L_BLOCKS,
    "orders": L_ORDERS,
    "reports": L_REPORTS,
    "fills": L_FILLS,
    "exec_acks": L_EXEC_ACKS,
    "breaker_changes": L_BREAKER_CHANGES,
    "lost": L_LOST,
    "stalled_routes": L_STALLED_ROUTES,
}


class LoopScratch(NamedTuple):
    """Every buffer one block writes, allocated once."""

    block: np.ndarray  # MARKET_EVENT_DTYPE: the block being processed
    block_words: np.ndarray  # the same memory as int64 words (what the ring copies)
    patterns: np.ndarray  # PATTERN_EVENT_DTYPE handed to the strategy (none in this loop)
    intents: np.ndarray  # ORDER_DTYPE: one strategy call's intents
    outbound: np.ndarray  # ORDER_DTYPE: orders that left
    decision_acks: np.ndarray  # ACK_DTYPE: decisions that did not leave
    ticks: np.ndarray  # MARKET_EVENT_DTYPE TICKs: mid changes
    breaker_changes: np.ndarray  # BREAKER_EVENT_DTYPE
    reports: np.ndarray  # EXEC_REPORT_DTYPE: the venue's scratch
    venue_acks: np.ndarray  # ACK_DTYPE: the venue's reports
    venue_fills: np.ndarray  # FILL_DTYPE
    exec_acks: np.ndarray  # ACK_DTYPE: acks of the orders the reports moved


class EngineLoop:
    """The pipeline's components and an in-process venue, driven block by block.

    Parameters
    ----------
    pipeline
        Books, signals, strategy, execution, risk and breakers (its buffers are not used).
    venue
        The in-process gateway the orders go to (its ``event`` clock: completion times are
        stamped, nothing waits).
    block
        Records per block: the most the loop polls from the ring at once, and the records
        per compiled call of :meth:`process` (each call costs about 0.1 ms to enter: it
        hands over every array of every component). Decisions do not depend on it.
    """

    def __init__(
        self, pipeline: TradingPipeline, venue: InProcessGateway, *, block: int = 256
    ) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1 record, got {block}")
        self.pipeline = pipeline
        self.venue = venue
        intents = pipeline.strategy.max_intents
        orders = block * intents
        worst_breaker = pipeline.breakers.config.instruments + 3
        reports = report_capacity(venue.config) * 2
        events = np.zeros(block, MARKET_EVENT_DTYPE)
        self.scratch = LoopScratch(
            block=events,
            block_words=events.view(np.int64).reshape(block, MARKET_EVENT_DTYPE.itemsize // 8),
            patterns=np.zeros(0, PATTERN_EVENT_DTYPE),
            intents=np.zeros(intents, ORDER_DTYPE),
            outbound=np.zeros(orders, ORDER_DTYPE),
            decision_acks=np.zeros(orders, ACK_DTYPE),
            ticks=np.zeros(block, MARKET_EVENT_DTYPE),
            breaker_changes=np.zeros(block * worst_breaker, BREAKER_EVENT_DTYPE),
            reports=np.zeros(reports, EXEC_REPORT_DTYPE),
            venue_acks=np.zeros(reports, ACK_DTYPE),
            venue_fills=np.zeros(reports, FILL_DTYPE),
            exec_acks=np.zeros(reports, ACK_DTYPE),
        )
        self.control = np.zeros(LOOP_WORDS, np.int64)
        self._thread: threading.Thread | None = None
        self._processed = 0
        self._error: BaseException | None = None

    def _components(self) -> tuple:
        p = self.pipeline
        return (
            p.books.state, p.signals.state, p.execution.state, p.execution.lifecycle.reader,
            p.risk.state, p.breakers.state, p.strategy.function, p.strategy.params,
            p.strategy.memory, self.venue.engine.state, self.venue.state,
        )  # fmt: skip

    def _outputs(self) -> tuple:
        s = self.scratch
        return (
            s.intents, s.outbound, s.decision_acks, s.ticks, s.breaker_changes, s.reports,
            s.venue_acks, s.venue_fills, s.exec_acks, self.control,
        )  # fmt: skip

    def process(self, events: np.ndarray) -> int:
        """Run ``events`` through the loop in this thread, block by block; return orders sent."""
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        if self.running:
            raise RuntimeError("the engine thread is running: stop() it first")
        block = self.scratch.block
        sent = 0
        for start in range(0, len(events), len(block)):
            part = events[start : start + len(block)]
            block[: len(part)] = part
            inputs = (block, len(part), self.scratch.patterns)
            sent += int(process_block(*self._components(), *inputs, *self._outputs()))
            self.control[L_EVENTS] += len(part)
        return sent

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, ring: RingBus, consumer: int) -> None:
        """Start the engine thread polling ``ring`` as ``consumer`` (already registered)."""
        if self.running:
            raise RuntimeError("the engine thread is already running")
        ring.check_consumer(consumer)
        store_release(self.control, L_STOP, 0)
        args = (
            *ring.arrays, consumer, self.scratch.block_words, self.scratch.block,
            *self._components(), self.scratch.patterns, *self._outputs(),
        )  # fmt: skip

        def engine() -> None:
            try:
                self._processed += int(run_from_ring(*args))
            except BaseException as error:  # kept for stop() to raise in the caller's thread
                self._error = error

        self._thread = threading.Thread(target=engine, name="lowlat-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> int:
        """Ask the engine thread to stop once the ring is drained; wait; return records processed.

        Raises
        ------
        TimeoutError
            If the thread is still running after ``timeout`` seconds.
        RuntimeError
            If the engine thread died of an exception (chained).
        """
        if self._thread is None:
            return self._processed
        store_release(self.control, L_STOP, 1)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the engine thread did not stop within {timeout} s")
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("the engine thread failed") from error
        return self._processed

    def counters(self) -> dict[str, int]:
        """The loop's counters (read while it runs: each value may be a block stale)."""
        return {name: int(load_acquire(self.control, i)) for name, i in LOOP_COUNTERS.items()}
