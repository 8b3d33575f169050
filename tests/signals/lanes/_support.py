"""Helpers for the lane tests: event builders and a drain-everything loop.

Every event built here carries a unique ``seq``, so a drained event tells which pushed
event it is and tests can match queueing delays and lanes to the events they pushed.
"""

from __future__ import annotations

import itertools

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.lanes import LaneConfig, LaneSpec, MessageRule, PriorityLanes

_SEQ = itertools.count(1)


def event(
    kind: EventKind = EventKind.ADD,
    letter: str | None = None,
    *,
    instrument: int = 1,
    qty: int = 100,
    price: int = 1_000_000,
    flags: int = 0,
) -> np.ndarray:
    """One market event (a length-1 array) with a fresh ``seq``; ``letter`` sets ``flags``."""
    record = np.zeros(1, MARKET_EVENT_DTYPE)
    record["seq"] = next(_SEQ)
    record["kind"] = kind
    record["flags"] = ord(letter) if letter is not None else flags
    record["instrument"] = instrument
    record["qty"] = qty
    record["price"] = price
    return record


def events(n: int, kind: EventKind = EventKind.ADD, **fields: int) -> np.ndarray:
    """``n`` events of ``kind`` (as :func:`event` makes them) with fresh ``seq`` numbers."""
    records = np.repeat(event(kind, **fields), n)
    records["seq"] = [next(_SEQ) for _ in range(n)]
    return records


def drain_all(lanes: PriorityLanes, batch: int = 64, now_ns: int = 0) -> np.ndarray:
    """Drain in batches of ``batch`` until empty; the drained events in order."""
    out = np.zeros(batch, MARKET_EVENT_DTYPE)
    drained = []
    while (n := lanes.drain(out, now_ns=now_ns)) > 0:
        drained.append(out[:n].copy())
    return np.concatenate(drained) if drained else np.zeros(0, MARKET_EVENT_DTYPE)


def lanes_of(lanes: PriorityLanes, pushed: np.ndarray) -> list[int]:
    """Push ``pushed``, drain everything, return each pushed event's lane, in push order."""
    lanes.push(pushed, now_ns=0)
    by_seq = {int(r["seq"]): int(r["lane"]) for r in drain_all(lanes)}
    return [by_seq[int(s)] for s in pushed["seq"]]


def four_lanes(
    capacities: tuple[int, int, int, int] = (64, 256, 1024, 4096),
    *,
    starvation_bound: int = 8,
    budget: int | None = None,
    default_lane: int = 2,
) -> LaneConfig:
    """critical/high/normal/bulk with STATUS critical and ADD bulk; no threshold rules."""
    names = ("critical", "high", "normal", "bulk")
    return LaneConfig(
        lanes=tuple(LaneSpec(name, cap) for name, cap in zip(names, capacities, strict=True)),
        default_lane=default_lane,
        starvation_bound=starvation_bound,
        budget=budget,
        max_instruments=16,
        messages=(MessageRule(EventKind.STATUS, 0), MessageRule(EventKind.ADD, 3)),
        trade_size=None,
        price_move=None,
    )
