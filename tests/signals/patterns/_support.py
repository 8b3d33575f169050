"""Shared helpers of the pattern tests: tick streams, configs, brute-force window moves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.patterns import PATTERN_EVENT_DTYPE, PatternConfig, PatternEngine, predicate

P0 = 1_000_000  # 100.0000 in ticks: 1 bps = 100 ticks
RECV_OFFSET_NS = 7  # recv_ns = exchange_ns + this, so the two are told apart


def ticks(rows: Sequence[tuple[int, float, int]], *, first_seq: int = 100) -> np.ndarray:
    """TICK records from ``(instrument, exchange time in µs, price)`` rows, seq from first_seq."""
    records = np.zeros(len(rows), dtype=MARKET_EVENT_DTYPE)
    for i, (instrument, time_us, price) in enumerate(rows):
        records[i]["seq"] = first_seq + i
        records[i]["exchange_ns"] = round(time_us * 1_000)
        records[i]["recv_ns"] = round(time_us * 1_000) + RECV_OFFSET_NS
        records[i]["instrument"] = instrument
        records[i]["price"] = price
        records[i]["kind"] = EventKind.TICK
    return records


def config(text: str, groups: str = '[[group]]\nname = "g"\ninstruments = [1, 2, 3, 4]\n'):
    """A PatternConfig from pattern TOML, with one group of instruments 1-4 by default."""
    return PatternConfig.from_toml(groups + text)


def run(text: str, rows: Sequence[tuple[int, float, int]], **kwargs) -> np.ndarray:
    """Pattern events of a fresh engine over ``ticks(rows)``."""
    return PatternEngine(config(text), **kwargs).feed(ticks(rows))


def fired(events: np.ndarray) -> list[tuple[int, float]]:
    """(trigger index into the rows, value) of each event."""
    return [(int(e["trigger_seq"]) - 100, float(e["value"])) for e in events]


def without_detect(events: np.ndarray) -> np.ndarray:
    """A copy with detect_ns zeroed: what must be identical between runs."""
    copy = np.array(events, dtype=PATTERN_EVENT_DTYPE)
    copy["detect_ns"] = 0
    return copy


def bps(price: int, reference: int) -> float:
    """The move from ``reference`` to ``price`` in bps, as the kernels compute it."""
    return abs(price - reference) * 10_000.0 / reference


def window_moves(history: list[tuple[int, int]], now: int, window: int) -> tuple[float, float]:
    """(up, down) bps of the last price against the step path over [now - window, now]."""
    start = 0
    for j, (time, _) in enumerate(history):
        if time <= now - window:
            start = j
    prices = [price for _, price in history[start:]]
    current = history[-1][1]
    low, high = min(prices), max(prices)
    return (current - low) * 10_000.0 / low, (high - current) * 10_000.0 / high


TWO_GROUPS = """
[[group]]
name = "a"
instruments = [1, 2, 3]
[[group]]
name = "b"
instruments = [4, 5, 6]
"""

LEAD = """
[[pattern]]
name = "{name}"
kind = "lead_lag"
leader = {leader}
follower = {follower}
move_bps = 5.0
window_us = 500
"""

ALL_KINDS = (
    TWO_GROUPS
    + LEAD.format(name="1-2", leader=1, follower=2)
    + LEAD.format(name="5-4", leader=5, follower=4)
    + """
[[pattern]]
name = "pair"
kind = "pair_zscore"
instruments = [4, 6]
half_life_events = 8
z_threshold = 1.5
warmup = 5

[[pattern]]
name = "breakout"
kind = "breakout"
instruments = [1, 2, 3]
k = 2
move_bps = 3.0
window_us = 200

[[pattern]]
name = "custom"
kind = "predicate"
predicate = "above"
instruments = [6, 5]
params = [1000.0]
"""
)


@predicate
def above(prices, times, slots, params, state, trigger, now):
    gap = float(prices[slots[0]] - prices[slots[1]])
    return gap if prices[slots[1]] > 0 and gap > params[0] else 0.0


def engine(text: str = ALL_KINDS, **kwargs) -> PatternEngine:
    return PatternEngine(PatternConfig.from_toml(text), predicates={"above": above}, **kwargs)


def random_stream(n: int, seed: int, instruments: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    records = np.zeros(n, dtype=MARKET_EVENT_DTYPE)
    records["seq"] = np.arange(n) + 1
    records["exchange_ns"] = np.cumsum(rng.integers(0, 20_000, n))
    records["recv_ns"] = records["exchange_ns"] + 3_000
    records["instrument"] = rng.integers(1, instruments + 1, n)
    records["kind"] = EventKind.TICK
    walk = np.zeros((instruments + 1, n), dtype=np.int64)
    steps = rng.normal(0, 150, n).astype(np.int64)
    for i, (instrument, step) in enumerate(zip(records["instrument"], steps, strict=True)):
        walk[:, i] = walk[:, i - 1] if i else 0
        walk[instrument, i] += step
    records["price"] = P0 + walk[records["instrument"], np.arange(n)]
    return records
