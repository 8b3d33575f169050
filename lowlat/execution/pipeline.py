"""``TradingPipeline``: the decision path from market events to orders, and reports back.

Control code around the compiled :func:`~lowlat.execution.pipeline_kernels.tick_to_order`
(specialised for the strategy, see :mod:`lowlat.execution.specialize`):
it owns the output buffers and applies the venue's reports to the order lifecycle and to
risk (open orders, positions, PnL). Every component is passed in, so that the same objects can be
inspected, journaled and controlled from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowlat.book import OrderBooks
from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    MARKET_EVENT_DTYPE,
    ORDER_DTYPE,
)
from lowlat.execution.engine import ExecutionEngine
from lowlat.execution.specialize import entry_points
from lowlat.execution.strategy import Strategy
from lowlat.risk import PreTradeRisk
from lowlat.risk.breakers import BREAKER_EVENT_DTYPE, CircuitBreakers
from lowlat.signals.micro import MicroSignals
from lowlat.signals.patterns import PATTERN_EVENT_DTYPE, PatternEngine
from lowlat.signals.patterns.kernels import never
from lowlat.signals.patterns.state import max_fanout, no_patterns_state

__all__ = ["PipelineOutput", "TradingPipeline"]


@dataclass(frozen=True)
class PipelineOutput:
    """What one batch produced."""

    consumed: int  # records the books consumed
    orders: np.ndarray  # ORDER_DTYPE: to send to the venue
    acks: np.ndarray  # ACK_DTYPE: decisions that did not leave (provisional or refused)
    ticks: np.ndarray  # MARKET_EVENT_DTYPE TICKs: mid changes (what the patterns observe)
    breaker_changes: np.ndarray  # BREAKER_EVENT_DTYPE: breaker state changes
    patterns: np.ndarray  # PATTERN_EVENT_DTYPE: pattern events the ticks fired


class TradingPipeline:
    """Books, signals, patterns, one strategy, breakers, risk and the decision gate, in one pass.

    Parameters
    ----------
    strategy
        The compiled strategy with its parameters and memory.
    books, signals, execution, risk, breakers
        The components; ``signals`` must read ``books``.
    patterns
        Cross-instrument patterns evaluated on every mid change, before the strategy,
        which is handed the events its record fired. None: no patterns.
    capacity
        Records the output buffers are sized for; longer inputs are processed in pieces.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        books: OrderBooks,
        signals: MicroSignals,
        execution: ExecutionEngine,
        risk: PreTradeRisk,
        breakers: CircuitBreakers,
        patterns: PatternEngine | None = None,
        capacity: int = 4_096,
    ) -> None:
        if signals.books is not books:
            raise ValueError("the signals must read the pipeline's books")
        self.patterns = patterns
        if patterns is None:
            self.pattern_state, self.predicates = no_patterns_state(), (never,)
        else:
            self.pattern_state, self.predicates = patterns.state, patterns.predicates()
        self.strategy = strategy
        self.kernels = entry_points(strategy.function)  # the path's kernels for it (cached)
        self.books = books
        self.signals = signals
        self.execution = execution
        self.risk = risk
        self.breakers = breakers
        self._capacity = capacity
        self._intents = np.zeros(strategy.max_intents, ORDER_DTYPE)
        self._orders = np.zeros(capacity * strategy.max_intents, ORDER_DTYPE)
        self._acks = np.zeros(capacity * strategy.max_intents, ACK_DTYPE)
        self._ticks = np.zeros(capacity, MARKET_EVENT_DTYPE)
        worst = breakers.config.instruments + 3  # the changes one tick can cause
        self._changes = np.zeros(capacity * worst, BREAKER_EVENT_DTYPE)
        self._patterns = np.zeros(capacity * max_fanout(self.pattern_state), PATTERN_EVENT_DTYPE)

    def process(self, events: np.ndarray) -> PipelineOutput:
        """Run ``events`` through the decision path; return what it produced."""
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        consumed = 0
        orders, acks, ticks, changes, patterns = [], [], [], [], []
        start = 0
        while start < len(events):
            start, used, sent, acked, moved, changed, fired = self.kernels.tick_to_order(
                self.books.state,
                self.signals.state,
                self.execution.state,
                self.execution.lifecycle.reader,
                self.risk.state,
                self.breakers.state,
                self.strategy.params,
                self.strategy.memory,
                self.pattern_state,
                self.predicates,
                events,
                start,
                len(events),
                self._patterns,
                self._intents,
                self._orders,
                self._acks,
                self._ticks,
                self._changes,
                False,
            )
            consumed += int(used)
            orders.append(self._orders[:sent].copy())
            acks.append(self._acks[:acked].copy())
            ticks.append(self._ticks[:moved].copy())
            changes.append(self._changes[:changed].copy())
            patterns.append(self._patterns[:fired].copy())
        return PipelineOutput(
            consumed,
            np.concatenate(orders) if orders else self._orders[:0].copy(),
            np.concatenate(acks) if acks else self._acks[:0].copy(),
            np.concatenate(ticks) if ticks else self._ticks[:0].copy(),
            np.concatenate(changes) if changes else self._changes[:0].copy(),
            np.concatenate(patterns) if patterns else self._patterns[:0].copy(),
        )

    def on_reports(self, reports: np.ndarray, fills: np.ndarray | None = None) -> np.ndarray:
        """Apply the venue's reports (``ACK_DTYPE``) and fills (``FILL_DTYPE``).

        Reports and fills are named as FIX names them (the venue gateways do): both the
        order lifecycle and risk read them as they come. Returns the acks of the orders the
        reports moved (EXECUTED, with decision and completion times).
        """
        if reports.dtype != ACK_DTYPE:
            raise TypeError(f"expected ACK_DTYPE reports, got dtype {reports.dtype}")
        acks = self.execution.on_reports(reports)
        self.risk.on_acks(reports)
        if fills is not None and len(fills):
            if fills.dtype != FILL_DTYPE:
                raise TypeError(f"expected FILL_DTYPE fills, got dtype {fills.dtype}")
            self.risk.on_fills(fills)
        return acks
