"""Hand-made price paths as MARKET_EVENT records, and a breaker config to judge them with."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.risk.breakers import (
    BREAKER_EVENT_DTYPE,
    MARKET_WIDE,
    BreakerConfig,
    CircuitBreakers,
    InstrumentState,
)

S = 1_000_000_000  # one second of event time
T0 = 34_200 * S  # 09:30, ns since midnight, like ITCH
DOLLAR = 10_000  # ticks


def config(**changes: object) -> BreakerConfig:
    """Real-time defaults with the move and volatility detectors off unless ``changes`` set them."""
    base: dict[str, object] = {
        "instruments": 8,
        "max_instrument_id": 64,
        "move_warn_bps": float("inf"),
        "move_throttle_bps": float("inf"),
        "move_halt_bps": float("inf"),
        "vol_warn": float("inf"),
        "vol_throttle": float("inf"),
        "vol_halt": float("inf"),
    }
    base.update(changes)
    return BreakerConfig(**base)  # type: ignore[arg-type]


def judge(events: np.ndarray, **changes: object) -> tuple[CircuitBreakers, np.ndarray]:
    """Breakers with ``config(**changes)`` fed ``events``, and their per-instrument changes."""
    breakers = CircuitBreakers(config(**changes))
    records = breakers.on_events(events)
    return breakers, records[records["instrument"] != MARKET_WIDE]


def path(
    points: Iterable[tuple[float, int]], instrument: int = 1, kind: EventKind = EventKind.TICK
) -> np.ndarray:
    """Records of ``instrument`` at ``(seconds after T0, price in ticks)``, numbered from 1."""
    points = list(points)
    events = np.zeros(len(points), MARKET_EVENT_DTYPE)
    events["seq"] = np.arange(1, len(points) + 1)
    events["exchange_ns"] = [T0 + round(t * S) for t, _ in points]
    events["recv_ns"] = events["exchange_ns"]
    events["price"] = [p for _, p in points]
    events["instrument"] = instrument
    events["kind"] = kind
    return events


def steady(start: float, stop: float, price: int, step: float = 1.0) -> list[tuple[float, int]]:
    """One point every ``step`` seconds in ``[start, stop)`` at ``price``."""
    return [(start + i * step, price) for i in range(round((stop - start) / step))]


def merge(*paths: np.ndarray) -> np.ndarray:
    """Paths interleaved by event time (stable), renumbered from 1."""
    events = np.concatenate(paths)
    events = events[np.argsort(events["exchange_ns"], kind="stable")]
    events["seq"] = np.arange(1, len(events) + 1)
    return events


def seconds(changes: np.ndarray) -> list[float]:
    """Event time of each change, in seconds after T0."""
    return [(int(ns) - T0) / S for ns in changes["exchange_ns"]]


def transitions(changes: np.ndarray) -> list[tuple[str, str]]:
    """``(old, new)`` state names of each instrument change."""
    assert changes.dtype == BREAKER_EVENT_DTYPE
    return [
        (InstrumentState(int(old)).name, InstrumentState(int(new)).name)
        for old, new in zip(changes["old_state"], changes["new_state"], strict=True)
    ]
