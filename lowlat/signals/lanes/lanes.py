"""``PriorityLanes``: owns the lane arrays, pushes and drains through the kernels, changes rules.

Control code. It builds every array once from a :class:`LaneConfig` (touching each page,
so the hot path never faults on them), validates arguments, and changes rules at run time
by single int64 release stores into the arrays the kernels read on every event — so the
next event classified sees the change, and never half of it. A hot-path stage calls the
kernels on :attr:`PriorityLanes.arrays` directly; :meth:`~PriorityLanes.push` and
:meth:`~PriorityLanes.drain` are the same calls from Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import NamedTuple

import numpy as np

from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.clock import monotonic_ns
from lowlat.core.memory import touched
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.lanes import kernels
from lowlat.signals.lanes.config import TRADE_KINDS, LaneConfig, LaneConfigError, MessageRule
from lowlat.signals.lanes.layout import (
    L_BASE,
    L_DRAINED,
    L_DROPPED,
    L_ENQUEUED,
    L_EVICTED,
    L_HEAD,
    L_MASK,
    L_MAX_DELAY_EVENTS,
    L_MAX_DELAY_NS,
    L_STARVATION,
    L_TAIL,
    LANE_STRIDE,
    MAX_MOVE_BPS,
    MAX_THRESHOLD,
    N_KINDS,
    N_RULES,
    N_STAMPS,
    N_STATE,
    N_TYPE_CODES,
    NO_LANE,
    R_BUDGET,
    R_DEFAULT_LANE,
    R_N_LANES,
    R_NEWS_LANE,
    R_PRICE_MOVE,
    R_PRICE_MOVE_KINDS,
    R_STARVATION_BOUND,
    R_TRADE_SIZE,
    R_TRADE_SIZE_KINDS,
    RULE_LANE_BITS,
    RULE_LANE_MASK,
    S_CLOCK,
    S_HELD,
)

__all__ = ["LaneArrays", "LaneStats", "LanesStats", "PriorityLanes"]


class LaneArrays(NamedTuple):
    """The arrays the kernels take; classification first, then the queues."""

    rules: np.ndarray
    type_lane: np.ndarray
    watch_lane: np.ndarray
    news_flag: np.ndarray
    last_price: np.ndarray
    table: np.ndarray
    state: np.ndarray
    slots: np.ndarray
    stamps: np.ndarray


@dataclass(frozen=True, slots=True)
class LaneStats:
    """One lane's counters (read while the hot path runs: values may be a batch stale).

    ``enqueued = drained + evicted + depth`` always holds; ``dropped`` counts events
    refused on arrival, ``evicted`` queued events shed for a more urgent one.
    """

    lane: int
    name: str
    capacity: int
    enqueued: int
    drained: int
    dropped: int
    evicted: int
    depth: int
    max_delay_events: int
    max_delay_ns: int
    starvation_services: int

    @property
    def lost(self) -> int:
        """Events of this lane shed in any way."""
        return self.dropped + self.evicted


@dataclass(frozen=True, slots=True)
class LanesStats:
    """Every lane's counters, what is held against the budget, and the memory used."""

    lanes: tuple[LaneStats, ...]
    held: int
    held_limit: int
    drained: int
    memory_bytes: int


def _kind_mask(kinds: tuple[EventKind, ...]) -> int:
    mask = 0
    for kind in kinds:
        mask |= 1 << int(kind)
    return mask


class PriorityLanes:
    """Classifies market events into priority lanes and drains them critical-first.

    Parameters
    ----------
    config
        Lanes, budget, starvation bound and rules; the default config if None.

    Notes
    -----
    Pushing and draining belong to one thread, the stage that reorders its input by
    urgency; the rule setters (one thread at a time) and :meth:`stats` may run in another,
    the control plane.
    """

    def __init__(self, config: LaneConfig | None = None) -> None:
        self._config = config = LaneConfig() if config is None else config
        total = sum(spec.capacity for spec in config.lanes)
        instruments = config.max_instruments
        self._arrays = arrays = LaneArrays(
            rules=touched(N_RULES, np.int64, 0),
            type_lane=touched(N_KINDS * N_TYPE_CODES, np.int64, NO_LANE),
            watch_lane=touched(instruments, np.int64, NO_LANE),
            news_flag=touched(instruments, np.int64, 0),
            last_price=touched(instruments, np.int64, 0),
            table=touched(config.n_lanes * LANE_STRIDE, np.int64, 0),
            state=touched(N_STATE, np.int64, 0),
            slots=touched(total, MARKET_EVENT_DTYPE, 0),
            stamps=touched((total, N_STAMPS), np.int64, 0),
        )
        rules = arrays.rules
        rules[R_N_LANES] = config.n_lanes
        rules[R_DEFAULT_LANE] = config.default_lane
        rules[R_STARVATION_BOUND] = config.starvation_bound
        rules[R_BUDGET] = config.held_limit
        rules[R_NEWS_LANE] = config.news_lane
        size, move = config.trade_size, config.price_move
        # an off rule keeps the default kinds, so that switching it on at run time works
        # (and the last prices are already known)
        rules[R_TRADE_SIZE] = 0 if size is None else _packed(size.min_qty, size.lane)
        rules[R_TRADE_SIZE_KINDS] = _kind_mask(TRADE_KINDS if size is None else size.kinds)
        rules[R_PRICE_MOVE] = 0 if move is None else _packed(move.min_bps, move.lane)
        rules[R_PRICE_MOVE_KINDS] = _kind_mask(TRADE_KINDS if move is None else move.kinds)
        base = 0
        for lane, spec in enumerate(config.lanes):
            arrays.table[lane * LANE_STRIDE + L_BASE] = base
            arrays.table[lane * LANE_STRIDE + L_MASK] = spec.capacity - 1
            base += spec.capacity
        self._messages: dict[tuple[EventKind, str | None], int] = {}
        for rule in config.messages:
            key = (rule.kind, rule.letter)
            self._messages[key] = min(rule.lane, self._messages.get(key, NO_LANE))
        for kind in {rule.kind for rule in config.messages}:
            self._write_type_row(kind)
        for entry in config.watch:
            arrays.watch_lane[entry.instrument] = entry.lane
        for instrument in config.news:
            arrays.news_flag[instrument] = 1

    @property
    def config(self) -> LaneConfig:
        """The configuration the lanes were built from (run-time rule changes not included)."""
        return self._config

    @property
    def arrays(self) -> LaneArrays:
        """The arrays the kernels take, for a compiled stage that calls them directly."""
        return self._arrays

    @property
    def memory_bytes(self) -> int:
        """Bytes of every array the lanes own."""
        return sum(array.nbytes for array in self._arrays)

    # --- data path ----------------------------------------------------------------------

    def push(self, events: np.ndarray, now_ns: int | None = None) -> int:
        """Classify and enqueue every event; return how many were accepted (never waits).

        Parameters
        ----------
        events
            One-dimensional ``MARKET_EVENT_DTYPE`` array; not modified.
        now_ns
            Enqueue time stamped on every event; ``monotonic_ns()`` if None.
        """
        _check_events("events", events)
        a = self._arrays
        now = monotonic_ns() if now_ns is None else now_ns
        return kernels.classify_and_enqueue(
            events, len(events), now, a.rules, a.type_lane, a.watch_lane, a.news_flag,
            a.last_price, a.table, a.state, a.slots, a.stamps,
        )  # fmt: skip

    def drain(self, out: np.ndarray, now_ns: int | None = None) -> int:
        """Move up to ``len(out)`` events into ``out``, most urgent first; return the count.

        ``now_ns`` (``monotonic_ns()`` if None) measures each event's queueing delay in ns.
        """
        _check_events("out", out)
        a = self._arrays
        now = monotonic_ns() if now_ns is None else now_ns
        return kernels.drain(out, len(out), now, a.rules, a.table, a.state, a.slots, a.stamps)

    # --- run-time rules -----------------------------------------------------------------

    def raise_instrument(self, instrument: int, lane: int | str) -> None:
        """Put ``instrument`` on the watch list: its events go to ``lane`` or above."""
        instrument = self._config.instrument("instrument", instrument)
        store_release(self._arrays.watch_lane, instrument, self._config.lane_index(lane))

    def lower_instrument(self, instrument: int) -> None:
        """Take ``instrument`` off the watch list (whatever lane it was raised to)."""
        instrument = self._config.instrument("instrument", instrument)
        store_release(self._arrays.watch_lane, instrument, NO_LANE)

    def set_news(self, instrument: int, on: bool = True) -> None:
        """Raise (or clear) the news flag of ``instrument``: its events go to the news lane."""
        instrument = self._config.instrument("instrument", instrument)
        store_release(self._arrays.news_flag, instrument, 1 if on else 0)

    def set_trade_size_threshold(self, min_qty: int | None, lane: int | str | None = None) -> None:
        """Trades of ``min_qty`` or more go to ``lane`` (kept if None); None switches it off."""
        self._set_threshold(R_TRADE_SIZE, "trade_size", min_qty, MAX_THRESHOLD, lane)

    def set_price_move_bps(self, min_bps: int | None, lane: int | str | None = None) -> None:
        """Moves of ``min_bps`` or more go to ``lane`` (kept if None); None switches it off."""
        self._set_threshold(R_PRICE_MOVE, "price_move", min_bps, MAX_MOVE_BPS, lane)

    def set_message_lane(
        self, kind: EventKind | str, lane: int | str | None, letter: str | None = None
    ) -> None:
        """Set (or with ``lane=None`` remove) the rule for ``kind`` and optional ITCH letter."""
        rule = MessageRule(kind, 0, letter)
        key = (rule.kind, rule.letter)
        if lane is None:
            self._messages.pop(key, None)
        else:
            self._messages[key] = self._config.lane_index(lane)
        self._write_type_row(rule.kind)

    # --- observation --------------------------------------------------------------------

    def stats(self) -> LanesStats:
        """Every lane's counters, the held count and limit, events drained, memory."""
        table = self._arrays.table
        lanes = []
        for lane, spec in enumerate(self._config.lanes):
            row = lane * LANE_STRIDE
            words = [int(load_acquire(table, row + column)) for column in range(LANE_STRIDE)]
            lanes.append(
                LaneStats(
                    lane=lane,
                    name=spec.name,
                    capacity=spec.capacity,
                    enqueued=words[L_ENQUEUED],
                    drained=words[L_DRAINED],
                    dropped=words[L_DROPPED],
                    evicted=words[L_EVICTED],
                    depth=words[L_TAIL] - words[L_HEAD],
                    max_delay_events=words[L_MAX_DELAY_EVENTS],
                    max_delay_ns=words[L_MAX_DELAY_NS],
                    starvation_services=words[L_STARVATION],
                )
            )
        state = self._arrays.state
        return LanesStats(
            lanes=tuple(lanes),
            held=int(load_acquire(state, S_HELD)),
            held_limit=int(self._arrays.rules[R_BUDGET]),
            drained=int(load_acquire(state, S_CLOCK)),
            memory_bytes=self.memory_bytes,
        )

    # --- internals ----------------------------------------------------------------------

    def _write_type_row(self, kind: EventKind) -> None:
        """Store the lanes of ``kind``'s row of the type table from the message rules."""
        row = [self._messages.get((kind, None), NO_LANE)] * N_TYPE_CODES
        for (rule_kind, letter), lane in self._messages.items():
            if rule_kind == kind and letter is not None:
                row[ord(letter)] = min(row[ord(letter)], lane)
        base = int(kind) * N_TYPE_CODES
        for code, lane in enumerate(row):
            store_release(self._arrays.type_lane, base + code, lane)

    def _set_threshold(
        self, slot: int, name: str, threshold: int | None, most: int, lane: int | str | None
    ) -> None:
        if threshold is None:
            store_release(self._arrays.rules, slot, 0)
            return
        if isinstance(threshold, bool) or not isinstance(threshold, Integral):
            raise LaneConfigError(f"{name}: threshold {threshold!r} is not an integer")
        if not 1 <= threshold <= most:
            raise LaneConfigError(f"{name}: threshold {threshold} is not in 1..{most}")
        threshold = int(threshold)
        if lane is None:
            word = int(self._arrays.rules[slot])
            if word == 0:
                raise LaneConfigError(f"{name}: the rule is off; give it a lane")
            index = word & RULE_LANE_MASK
        else:
            index = self._config.lane_index(lane, f"{name}.lane")
        store_release(self._arrays.rules, slot, _packed(threshold, index))


def _packed(threshold: int, lane: int) -> int:
    """A threshold rule's word: one atomic store changes threshold and lane together."""
    return threshold << RULE_LANE_BITS | lane


def _check_events(name: str, events: np.ndarray) -> None:
    if not isinstance(events, np.ndarray) or events.dtype != MARKET_EVENT_DTYPE:
        raise TypeError(f"{name} must be a MARKET_EVENT_DTYPE array")
    if events.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {events.shape}")
