"""The arrays a pattern kernel works on, built once from a config: ``PatternState``.

Control code. Instruments get compact *slots* (``slot_of[instrument id]``), every
distinct (instrument, window) pair a window tracker, and each slot lists the trackers it
feeds and the patterns its observations trigger (in pattern-id order), as CSR arrays. One
state covers one or more groups: ``PatternEngine`` builds one for all, ``PatternGroups``
one per group, so that no two threads write the same memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from lowlat.signals.patterns import kernels as k
from lowlat.signals.patterns.config import (
    BreakoutPattern,
    GroupConfig,
    LeadLagPattern,
    PairZScorePattern,
    PatternConfig,
    PredicatePattern,
)
from lowlat.signals.patterns.events import PatternKind

__all__ = ["PatternState", "build_state", "max_fanout", "no_patterns_state"]

_DIRECTION = {"up": k.UP, "down": k.DOWN, "both": k.UP | k.DOWN}
_KIND = {
    LeadLagPattern: PatternKind.LEAD_LAG,
    PairZScorePattern: PatternKind.PAIR_ZSCORE,
    BreakoutPattern: PatternKind.BREAKOUT,
    PredicatePattern: PatternKind.PREDICATE,
}


class PatternState(NamedTuple):
    """Everything ``kernels.on_events`` reads and writes; a named tuple of arrays.

    Shapes: S slots, T trackers, P patterns, G groups, D = ``history``.
    """

    clock: int  # kernels.CLOCK_EXCHANGE or CLOCK_RECEIVE
    slot_of: np.ndarray  # int32[max id + 1]: slot of an instrument id, -1 if not here
    slot_id: np.ndarray  # int64[S]: instrument id of a slot
    slot_group: np.ndarray  # int64[S]: local group index of a slot
    group_time: np.ndarray  # int64[G]: latest event time seen per group
    inst_price: np.ndarray  # int64[S]: last observed price (ticks), 0 before any
    inst_time: np.ndarray  # int64[S]: its event time
    inst_count: np.ndarray  # int64[S]: observations so far
    trk_window: np.ndarray  # int64[T]: window in ns
    trk_deque: np.ndarray  # int64[T, 2, D, 2]: min and max deques of (price, next time)
    trk_ends: np.ndarray  # int64[T, 2, 2]: head and tail of each deque (unmasked)
    slot_trk_start: np.ndarray  # int64[S + 1]: CSR of the trackers a slot feeds
    slot_trk: np.ndarray  # int64[...]
    slot_pat_start: np.ndarray  # int64[S + 1]: CSR of the patterns a slot triggers
    slot_pat: np.ndarray  # int64[...]: local pattern index
    slot_pat_pos: np.ndarray  # int64[...]: position of the slot among the pattern's
    pat_id: np.ndarray  # int64[P]: pattern id (index in the config)
    pat_group: np.ndarray  # int64[P]: group index in the config
    pat_kind: np.ndarray  # int64[P]: PatternKind
    pat_n: np.ndarray  # int64[P]: number of instruments
    pat_slots: np.ndarray  # int64[P, M]: instrument slots, config order
    pat_trk: np.ndarray  # int64[P, M]: tracker of each instrument (-1 if none)
    pat_int: np.ndarray  # int64[P, kernels.INT_COLUMNS]
    pat_real: np.ndarray  # float64[P, R]: kernels.R_* columns, or a predicate's params
    pat_state: np.ndarray  # float64[P, W]: kernels.S_* columns, or a predicate's state
    pat_time: np.ndarray  # int64[P]: last update time (pair z-score)
    pat_armed: np.ndarray  # int64[P]: 1 while the pattern may fire
    pat_fired: np.ndarray  # int64[P]: times it fired (delivered or dropped)
    counters: np.ndarray  # int64[len(kernels.COUNTER_NAMES)]


def _csr(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    start = np.zeros(len(lists) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(items) for items in lists])
    flat = np.array([i for items in lists for i in items], dtype=np.int64)
    return start, flat


def _window_ns(window_us: float) -> int:
    return round(window_us * 1_000)


def build_state(
    config: PatternConfig, groups: Sequence[int], predicate_index: Mapping[str, int]
) -> PatternState:
    """A fresh state for the config groups ``groups`` (indices) and their patterns.

    ``predicate_index`` maps each predicate name the patterns use to its position in the
    predicates tuple the kernels receive.
    """
    chosen = [config.groups[g] for g in groups]
    ids = [i for group in chosen for i in group.instruments]
    slot = {instrument: s for s, instrument in enumerate(ids)}
    slot_of = np.full(max(ids, default=-1) + 1, -1, dtype=np.int32)
    slot_of[ids] = np.arange(len(ids), dtype=np.int32)
    slot_group = np.array([g for g, group in enumerate(chosen) for _ in group.instruments])
    local = [(pid, p) for pid, p in enumerate(config.patterns) if config.group_of(p) in groups]

    trackers: dict[tuple[int, int], int] = {}
    slot_trackers: list[list[int]] = [[] for _ in ids]
    slot_patterns: list[list[tuple[int, int]]] = [[] for _ in ids]

    def tracker(instrument: int, window_us: float) -> int:
        key = (slot[instrument], _window_ns(window_us))
        if key not in trackers:
            trackers[key] = len(trackers)
            slot_trackers[key[0]].append(trackers[key])
        return trackers[key]

    width = max([2, *(len(p.instruments) for _, p in local)])
    real_width = max(
        [k.REAL_COLUMNS, *(len(p.params) for _, p in local if isinstance(p, PredicatePattern))]
    )
    state_width = max(
        [k.STATE_COLUMNS, *(p.state_size for _, p in local if isinstance(p, PredicatePattern))]
    )
    n = len(local)
    pat_slots = np.full((n, width), -1, dtype=np.int64)
    pat_trk = np.full((n, width), -1, dtype=np.int64)
    pat_int = np.zeros((n, k.INT_COLUMNS), dtype=np.int64)
    pat_real = np.zeros((n, real_width), dtype=np.float64)
    for q, (_, pattern) in enumerate(local):
        members = pattern.instruments
        pat_slots[q, : len(members)] = [slot[i] for i in members]
        if isinstance(pattern, LeadLagPattern):
            pat_trk[q, :2] = [tracker(i, pattern.window_us) for i in members]
            pat_int[q, k.I_DIRECTION] = _DIRECTION[pattern.direction]
            follower_bps = (
                pattern.move_bps if pattern.follower_bps is None else pattern.follower_bps
            )
            pat_real[q, [k.R_MOVE, k.R_FOLLOWER]] = [pattern.move_bps, follower_bps]
            triggers = members[:1]
        elif isinstance(pattern, PairZScorePattern):
            if pattern.half_life_events is not None:
                decay = 1.0 - 2.0 ** (-1.0 / pattern.half_life_events)
            else:
                decay = math.log(2.0) / (pattern.half_life_us * 1_000)
                pat_int[q, k.I_MODE] = 1
            pat_int[q, k.I_COUNT] = pattern.warmup
            pat_real[q, [k.R_HEDGE, k.R_DECAY, k.R_Z, k.R_REARM]] = [
                pattern.hedge_ratio,
                decay,
                pattern.z_threshold,
                pattern.rearm_at,
            ]
            triggers = members
        elif isinstance(pattern, BreakoutPattern):
            pat_trk[q, : len(members)] = [tracker(i, pattern.window_us) for i in members]
            pat_int[q, k.I_DIRECTION] = _DIRECTION[pattern.direction]
            pat_int[q, k.I_COUNT] = pattern.k
            pat_real[q, k.R_MOVE] = pattern.move_bps
            triggers = members
        else:
            pat_int[q, k.I_MODE] = predicate_index[pattern.predicate]
            pat_int[q, k.I_PARAMS] = len(pattern.params)
            pat_int[q, k.I_STATE] = pattern.state_size
            pat_real[q, : len(pattern.params)] = pattern.params
            triggers = members
        for position, instrument in enumerate(members):
            if instrument in triggers:
                slot_patterns[slot[instrument]].append((q, position))

    slot_trk_start, slot_trk = _csr(slot_trackers)
    slot_pat_start, slot_pat = _csr([[q for q, _ in items] for items in slot_patterns])
    _, slot_pat_pos = _csr([[pos for _, pos in items] for items in slot_patterns])
    windows = [window for _, window in sorted(trackers, key=trackers.get)]
    return PatternState(
        clock=k.CLOCK_EXCHANGE if config.clock == "exchange" else k.CLOCK_RECEIVE,
        slot_of=slot_of,
        slot_id=np.array(ids, dtype=np.int64),
        slot_group=slot_group.astype(np.int64),
        group_time=np.full(len(chosen), np.iinfo(np.int64).min, dtype=np.int64),
        inst_price=np.zeros(len(ids), dtype=np.int64),
        inst_time=np.zeros(len(ids), dtype=np.int64),
        inst_count=np.zeros(len(ids), dtype=np.int64),
        trk_window=np.array(windows, dtype=np.int64),
        trk_deque=np.zeros((len(trackers), 2, config.history, 2), dtype=np.int64),
        trk_ends=np.zeros((len(trackers), 2, 2), dtype=np.int64),
        slot_trk_start=slot_trk_start,
        slot_trk=slot_trk,
        slot_pat_start=slot_pat_start,
        slot_pat=slot_pat,
        slot_pat_pos=slot_pat_pos,
        pat_id=np.array([pid for pid, _ in local], dtype=np.int64),
        pat_group=np.array([config.group_of(p) for _, p in local], dtype=np.int64),
        pat_kind=np.array([_KIND[type(p)] for _, p in local], dtype=np.int64),
        pat_n=np.array([len(p.instruments) for _, p in local], dtype=np.int64),
        pat_slots=pat_slots,
        pat_trk=pat_trk,
        pat_int=pat_int,
        pat_real=pat_real,
        pat_state=np.zeros((n, state_width), dtype=np.float64),
        pat_time=np.zeros(n, dtype=np.int64),
        pat_armed=np.ones(n, dtype=np.int64),
        pat_fired=np.zeros(n, dtype=np.int64),
        counters=np.zeros(len(k.COUNTER_NAMES), dtype=np.int64),
    )


def no_patterns_state() -> PatternState:
    """A state of no group and no pattern: every observation is foreign, nothing fires.

    It has the types of every other state, so a compiled path built for patterns runs
    without any.
    """
    return build_state(PatternConfig(groups=(GroupConfig("none", (0,)),)), [], {})


def max_fanout(state: PatternState) -> int:
    """Most patterns one observation can fire: the longest per-slot pattern list (≥ 1)."""
    return max(1, int(np.diff(state.slot_pat_start).max(initial=0)))
