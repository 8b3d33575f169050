"""``CircuitBreakers``: the control-plane handle on the breakers' preallocated state.

Control code. It allocates the arrays once, feeds record batches to the compiled stage and
returns the state changes as BREAKER_EVENT records; states, readings and counters are read
back by instrument. The hot path calls :mod:`lowlat.risk.breakers.kernels` on
:attr:`CircuitBreakers.state` directly.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.risk.breakers import kernels
from lowlat.risk.breakers.config import BreakerConfig
from lowlat.risk.breakers.layout import (
    C_SLOTS,
    COUNTER_FIELDS,
    M_PRICED,
    READING_FIELDS,
    S_INSTRUMENT,
    S_STATE,
    X_RETURN_SUM,
    BreakerState,
    allocate,
)
from lowlat.risk.breakers.records import BREAKER_EVENT_DTYPE, InstrumentState, MarketLevel

__all__ = ["CircuitBreakers"]


class CircuitBreakers:
    """Per-instrument and market-wide circuit breakers over a stream of market events.

    Parameters
    ----------
    config
        Thresholds, windows and timers; the defaults of :class:`BreakerConfig` when None.
    capacity
        BREAKER_EVENT records the reused output buffer holds. :meth:`on_events` feeds the
        kernel at most ``capacity // (instruments + 3)`` events per call — one event can
        change every instrument (timers) plus the market and its own instrument twice —
        so no change record is ever dropped.
    """

    def __init__(self, config: BreakerConfig | None = None, *, capacity: int = 16_384) -> None:
        self.config = config or BreakerConfig()
        worst = self.config.instruments + 3
        if capacity < worst:
            raise ValueError(
                f"capacity must be at least instruments + 3 = {worst} records, got {capacity}"
            )
        self.state: BreakerState = allocate(self.config)
        self._out = np.zeros(capacity, BREAKER_EVENT_DTYPE)
        self._chunk = capacity // worst

    def on_events(self, events: np.ndarray) -> np.ndarray:
        """Judge ``events`` in order; return the state changes as a new BREAKER_EVENT array."""
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        parts = []
        for start in range(0, len(events), self._chunk):
            batch = events[start : start + self._chunk]
            written = kernels.on_events(self.state, batch, len(batch), self._out)
            if written:
                parts.append(self._out[:written].copy())
        if not parts:
            return np.zeros(0, BREAKER_EVENT_DTYPE)
        return np.concatenate(parts)

    def state_of(self, instrument: int) -> InstrumentState:
        """Breaker state of ``instrument`` (NORMAL if it has had no price)."""
        return InstrumentState(int(kernels.instrument_state(self.state, instrument)))

    def states(self) -> dict[int, InstrumentState]:
        """Breaker state of every instrument that has had a price."""
        rows = self.state.ints[: int(self.state.counters[C_SLOTS])]
        return {int(row[S_INSTRUMENT]): InstrumentState(int(row[S_STATE])) for row in rows}

    @property
    def market_level(self) -> MarketLevel:
        """Active market-wide halt level (NONE when trading)."""
        return MarketLevel(int(kernels.market_level(self.state)))

    @property
    def market_decline_bps(self) -> float:
        """Decline of the reference index since the session's first prices, in bps."""
        priced = int(self.state.market[M_PRICED])
        if priced == 0:
            return 0.0
        return float(-self.state.index[X_RETURN_SUM] / priced * 10_000.0)

    def readings(self, instrument: int) -> dict[str, float]:
        """The detectors' latest readings for ``instrument`` (empty if it has had no price).

        ``reference`` in ticks, ``band_bps``/``band_move_bps``/``move_bps`` in basis
        points, ``vol_ratio`` fast over slow volatility, ``return`` since the first price.
        """
        if not 0 <= instrument < len(self.state.slot_of):
            return {}
        slot = int(self.state.slot_of[instrument])
        if slot < 0:
            return {}
        row = self.state.readings[slot]
        return {name: float(row[i]) for i, name in enumerate(READING_FIELDS)}

    def counters(self) -> dict[str, int]:
        """Events and prices seen, changes made and dropped, and the problems counted."""
        return {name: int(self.state.counters[i]) for i, name in enumerate(COUNTER_FIELDS)}
