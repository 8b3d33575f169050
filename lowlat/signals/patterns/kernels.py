"""Compiled pattern detection: window trackers, the four pattern kinds, batch and ring loops.

Hot path. Every function takes a :class:`~lowlat.signals.patterns.state.PatternState`
(a named tuple of preallocated arrays, built once by control code) and never allocates.

Observations and time
---------------------
A market event is an *observation* of its instrument when it is a TICK (the reference
price the book publishes), TRADE or EXECUTE (last trade) with ``price > 0``; other events
of the state's instruments are counted as ignored, events of other instruments as foreign.
Its time is ``exchange_ns`` or ``recv_ns`` (the config's clock), made non-decreasing per
group: an earlier stamp counts as a time regression and is taken to happen at the group's
latest time (the event is flagged TIME_CLAMPED).

Window trackers
---------------
"Moved ≥ X bps within W" compares the current price with the extremes of the price path
over ``[t - W, t]``. The path is a step function: the observation in force at ``t - W``
(the last one at or before it) and every later one. A tracker — one per distinct
(instrument, W) — keeps the lowest and the highest of that suffix in two monotonic
deques held in fixed rings of ``history`` entries: ``(price, next_time)``, where
``next_time`` is the time of the observation that followed the entry's (``INT64_MAX``
for the latest); the maximum deque holds negated prices, so both are minimum deques. An
entry leaves the window once ``next_time <= t - W``; an entry dominated by a later one
(not lower) can never be the extreme again and is popped at once. Push and evict are
amortised O(1); if a ring is full its oldest entry is dropped and counted as a window
overflow. The up move is ``(p - low) / low`` and the down move ``(high - p) / high``, in
bps, where ``p`` is the current price.

Patterns
--------
Each pattern has a *condition* evaluated at its trigger observations and is armed at
start. An armed pattern whose condition holds emits one event and disarms; a disarmed
one re-arms when its re-arm condition holds (the negated condition, or ``|z| <= rearm_z``
for the pair z-score). So a pattern fires once per episode, not on every observation.

User predicates
---------------
A predicate is a Numba function compiled for :data:`PREDICATE_SIGNATURE`; the kernels
receive a tuple of them (index 0 is :func:`never`, so the tuple is never empty) and call
``predicates[i](prices, times, slots, params, state, trigger, now)`` through a function
pointer: ``prices`` and ``times`` are the last price and event time per slot (0 before the
first observation), ``slots`` the pattern's instrument slots in config order, ``params``
its configured numbers, ``state`` its own zeroed float64 words, ``trigger`` the position
in ``slots`` of the observed instrument and ``now`` the event time. It returns a float64:
0.0 (or NaN) for no event, anything else fires with that value.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from lowlat.core.atomics import load_acquire
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind
from lowlat.core.ring import kernels as ring
from lowlat.core.ring.layout import (
    C_CURSOR,
    CONSUMER_BASE,
    CONSUMER_STRIDE,
    H_PUBLISH_CURSOR,
    H_STOP,
)
from lowlat.signals.patterns.events import PatternFlag, PatternKind

__all__ = [
    "COUNTER_NAMES",
    "PREDICATE_SIGNATURE",
    "most_events_per_observation",
    "never",
    "on_events",
    "run_group",
]

PREDICATE_SIGNATURE = types.float64(
    types.int64[:],  # prices: last price per slot
    types.int64[:],  # times: last event time per slot
    types.int64[:],  # slots: the pattern's instrument slots
    types.float64[:],  # params: the pattern's configured numbers
    types.float64[:],  # state: the pattern's own words
    types.int64,  # trigger: position in slots of the observed instrument
    types.int64,  # now: event time
)

# counters (PatternState.counters)
OBSERVATIONS = 0
IGNORED = 1  # group instrument, not an observation (kind or price)
FOREIGN = 2  # instrument in no group of this state
DETECTED = 3  # pattern events produced
DROPPED = 4  # of those, not delivered: output buffer full or output ring back-pressured
TIME_REGRESSIONS = 5
WINDOW_OVERFLOWS = 6
LOST = 7  # input events the ring overwrote before this group read them
COUNTER_NAMES = (
    "observations",
    "ignored",
    "foreign",
    "detected",
    "dropped",
    "time_regressions",
    "window_overflows",
    "lost",
)

# pattern table columns: PatternState.pat_int
I_DIRECTION = 0  # UP | DOWN bits (lead-lag, breakout)
I_COUNT = 1  # k (breakout), warm-up samples (pair z-score)
I_MODE = 2  # half-life in time, 0/1 (pair z-score); predicate index
I_PARAMS = 3  # number of params (predicate)
I_STATE = 4  # state words (predicate)
INT_COLUMNS = 5
# PatternState.pat_real
R_MOVE = 0  # bps (lead-lag, breakout)
R_FOLLOWER = 1  # bps (lead-lag)
R_HEDGE = 0  # pair z-score: hedge ratio, decay, threshold, re-arm level
R_DECAY = 1  # α per sample, or ln 2 / half-life in ns
R_Z = 2
R_REARM = 3
REAL_COLUMNS = 4
# PatternState.pat_state (pair z-score)
S_MEAN = 0
S_VAR = 1
S_SAMPLES = 2
STATE_COLUMNS = 3
# tracker deques: PatternState.trk_deque[trk, side, entry, field]
SIDE_MIN = 0
SIDE_MAX = 1
F_PRICE = 0
F_NEXT = 1
END_HEAD = 0
END_TAIL = 1

CLOCK_EXCHANGE = 0
CLOCK_RECEIVE = 1
STOP = 0  # PatternGroups control word

_TICK = int(EventKind.TICK)
_TRADE = int(EventKind.TRADE)
_EXECUTE = int(EventKind.EXECUTE)
_LEAD_LAG = int(PatternKind.LEAD_LAG)
_PAIR_ZSCORE = int(PatternKind.PAIR_ZSCORE)
_BREAKOUT = int(PatternKind.BREAKOUT)
UP = int(PatternFlag.UP)
DOWN = int(PatternFlag.DOWN)
_TIME_CLAMPED = int(PatternFlag.TIME_CLAMPED)
_INT64_MAX = np.iinfo(np.int64).max
_BPS = 10_000.0


@njit(PREDICATE_SIGNATURE, nogil=True, cache=True, _nrt=False)
def never(prices, times, slots, params, state, trigger, now):
    """The predicate at index 0: never fires.

    An explicit signature, like every predicate's, makes Numba pass it as a first-class
    function value rather than as a dispatcher type of its own.
    """
    return 0.0


@hot_kernel_inline
def _push(st, trk: int, price: int, now: int) -> None:
    """Append an observation to both deques of tracker ``trk``.

    The maximum deque holds negated prices, so that both are minimum deques.
    """
    mask = st.trk_deque.shape[2] - 1
    for side in range(2):
        key = price if side == SIDE_MIN else -price
        head = st.trk_ends[trk, side, END_HEAD]
        tail = st.trk_ends[trk, side, END_TAIL]
        if tail > head:
            st.trk_deque[trk, side, (tail - 1) & mask, F_NEXT] = now
        while tail > head and st.trk_deque[trk, side, (tail - 1) & mask, F_PRICE] >= key:
            tail -= 1
        if tail - head > mask:
            head += 1
            st.counters[WINDOW_OVERFLOWS] += 1
        st.trk_deque[trk, side, tail & mask, F_PRICE] = key
        st.trk_deque[trk, side, tail & mask, F_NEXT] = _INT64_MAX
        st.trk_ends[trk, side, END_HEAD] = head
        st.trk_ends[trk, side, END_TAIL] = tail + 1


@hot_kernel_inline
def _moves(st, trk: int, price: int, now: int) -> tuple[float, float]:
    """Evict what left the window at ``now``; return (up, down) moves of ``price`` in bps."""
    mask = st.trk_deque.shape[2] - 1
    limit = now - st.trk_window[trk]
    for side in range(2):
        head = st.trk_ends[trk, side, END_HEAD]
        tail = st.trk_ends[trk, side, END_TAIL]
        while tail - head > 1 and st.trk_deque[trk, side, head & mask, F_NEXT] <= limit:
            head += 1
        st.trk_ends[trk, side, END_HEAD] = head
    low = st.trk_deque[trk, SIDE_MIN, st.trk_ends[trk, SIDE_MIN, END_HEAD] & mask, F_PRICE]
    high = -st.trk_deque[trk, SIDE_MAX, st.trk_ends[trk, SIDE_MAX, END_HEAD] & mask, F_PRICE]
    return (price - low) * _BPS / low, (high - price) * _BPS / high


@hot_kernel_inline
def _pick(direction: int, up_ok: bool, down_ok: bool, up: float, down: float):
    """(condition, value) from the up and down tests allowed by ``direction``."""
    up_ok = up_ok and (direction & UP) != 0
    down_ok = down_ok and (direction & DOWN) != 0
    if up_ok and (not down_ok or up >= down):
        return True, up
    if down_ok:
        return True, -down
    return False, 0.0


@hot_kernel_inline
def _lead_lag(st, p: int, now: int):
    """(condition, re-arm, value) of a lead-lag pattern at a leader observation."""
    leader = st.pat_slots[p, 0]
    follower = st.pat_slots[p, 1]
    if st.inst_count[follower] == 0:
        return False, True, 0.0
    lead_up, lead_down = _moves(st, st.pat_trk[p, 0], st.inst_price[leader], now)
    follow_up, follow_down = _moves(st, st.pat_trk[p, 1], st.inst_price[follower], now)
    move = st.pat_real[p, R_MOVE]
    still = st.pat_real[p, R_FOLLOWER]
    cond, value = _pick(
        st.pat_int[p, I_DIRECTION],
        lead_up >= move and follow_up < still,
        lead_down >= move and follow_down < still,
        lead_up,
        lead_down,
    )
    return cond, not cond, value


@hot_kernel_inline
def _pair_zscore(st, p: int, now: int):
    """(condition, re-arm, value) of a pair z-score pattern at an observation of a leg."""
    a = st.pat_slots[p, 0]
    b = st.pat_slots[p, 1]
    if st.inst_count[a] == 0 or st.inst_count[b] == 0:
        return False, True, 0.0
    spread = math.log(st.inst_price[a]) - st.pat_real[p, R_HEDGE] * math.log(st.inst_price[b])
    samples = st.pat_state[p, S_SAMPLES]
    st.pat_state[p, S_SAMPLES] = samples + 1.0
    if samples == 0.0:
        st.pat_state[p, S_MEAN] = spread
        st.pat_state[p, S_VAR] = 0.0
        st.pat_time[p] = now
        return False, True, 0.0
    mean = st.pat_state[p, S_MEAN]
    var = st.pat_state[p, S_VAR]
    z = (spread - mean) / math.sqrt(var) if var > 0.0 else 0.0
    if st.pat_int[p, I_MODE] == 0:
        alpha = st.pat_real[p, R_DECAY]
    else:
        alpha = 1.0 - math.exp(-(now - st.pat_time[p]) * st.pat_real[p, R_DECAY])
    diff = spread - mean
    increment = alpha * diff
    st.pat_state[p, S_MEAN] = mean + increment
    st.pat_state[p, S_VAR] = (1.0 - alpha) * (var + diff * increment)
    st.pat_time[p] = now
    cond = samples >= st.pat_int[p, I_COUNT] and abs(z) >= st.pat_real[p, R_Z]
    return cond, abs(z) <= st.pat_real[p, R_REARM], z


@hot_kernel_inline
def _breakout(st, p: int, now: int):
    """(condition, re-arm, value) of a breakout pattern at an observation of a member."""
    move = st.pat_real[p, R_MOVE]
    ups = 0
    downs = 0
    for j in range(st.pat_n[p]):
        slot = st.pat_slots[p, j]
        if st.inst_count[slot] == 0:
            continue
        up, down = _moves(st, st.pat_trk[p, j], st.inst_price[slot], now)
        ups += up >= move
        downs += down >= move
    k = st.pat_int[p, I_COUNT]
    cond, value = _pick(st.pat_int[p, I_DIRECTION], ups >= k, downs >= k, ups, downs)
    return cond, not cond, value


@hot_kernel_inline
def _emit(st, p, rec, slot, other, value, flags, out, emitted):
    """Write one pattern event into ``out[emitted]``; return the new count."""
    st.counters[DETECTED] += 1
    st.pat_fired[p] += 1
    if emitted >= out.shape[0]:
        st.counters[DROPPED] += 1
        return emitted
    event = out[emitted]
    event["trigger_seq"] = rec["seq"]
    event["trigger_exchange_ns"] = rec["exchange_ns"]
    event["trigger_recv_ns"] = rec["recv_ns"]
    event["value"] = value
    event["pattern"] = st.pat_id[p]
    event["group"] = st.pat_group[p]
    event["instrument"] = st.slot_id[slot]
    event["other"] = st.slot_id[other] if other >= 0 else -1
    event["kind"] = st.pat_kind[p]
    if value > 0:
        flags |= UP
    elif value < 0:
        flags |= DOWN
    event["flags"] = flags
    event["trigger_kind"] = rec["kind"]
    event["detect_ns"] = monotonic_ns()
    return emitted + 1


@hot_kernel_inline
def _observe(rec, st, predicates, out, emitted: int) -> int:
    """Process one market event: update its instrument, evaluate its patterns."""
    instrument = rec["instrument"]
    if instrument < 0 or instrument >= st.slot_of.shape[0] or st.slot_of[instrument] < 0:
        st.counters[FOREIGN] += 1
        return emitted
    slot = st.slot_of[instrument]
    kind = rec["kind"]
    price = rec["price"]
    if price <= 0 or kind not in (_TICK, _TRADE, _EXECUTE):
        st.counters[IGNORED] += 1
        return emitted
    st.counters[OBSERVATIONS] += 1
    now = rec["exchange_ns"] if st.clock == CLOCK_EXCHANGE else rec["recv_ns"]
    group = st.slot_group[slot]
    flags = 0
    if now < st.group_time[group]:
        now = st.group_time[group]
        st.counters[TIME_REGRESSIONS] += 1
        flags = _TIME_CLAMPED
    st.group_time[group] = now
    st.inst_price[slot] = price
    st.inst_time[slot] = now
    st.inst_count[slot] += 1
    for i in range(st.slot_trk_start[slot], st.slot_trk_start[slot + 1]):
        _push(st, st.slot_trk[i], price, now)
    for i in range(st.slot_pat_start[slot], st.slot_pat_start[slot + 1]):
        p = st.slot_pat[i]
        position = st.slot_pat_pos[i]
        kind = st.pat_kind[p]
        other = -1
        if kind == _LEAD_LAG:
            cond, rearm, value = _lead_lag(st, p, now)
            other = st.pat_slots[p, 1]
        elif kind == _PAIR_ZSCORE:
            cond, rearm, value = _pair_zscore(st, p, now)
            other = st.pat_slots[p, 1 - position]
        elif kind == _BREAKOUT:
            cond, rearm, value = _breakout(st, p, now)
        else:
            value = predicates[st.pat_int[p, I_MODE]](
                st.inst_price,
                st.inst_time,
                st.pat_slots[p, : st.pat_n[p]],
                st.pat_real[p, : st.pat_int[p, I_PARAMS]],
                st.pat_state[p, : st.pat_int[p, I_STATE]],
                position,
                now,
            )
            cond = value != 0.0 and not math.isnan(value)
            rearm = not cond
        if st.pat_armed[p] != 0:
            if cond:
                emitted = _emit(st, p, rec, slot, other, value, flags, out, emitted)
                st.pat_armed[p] = 0
        elif rearm:
            st.pat_armed[p] = 1
    return emitted


@hot_kernel_inline
def most_events_per_observation(st) -> int:
    """Most pattern events one observation can fire: the longest per-slot pattern list."""
    most = 1
    for slot in range(st.slot_pat_start.shape[0] - 1):
        most = max(most, st.slot_pat_start[slot + 1] - st.slot_pat_start[slot])
    return most


@hot_kernel
def on_events(records: np.ndarray, n: int, st, predicates, out: np.ndarray) -> int:
    """Evaluate ``records[:n]`` (``MARKET_EVENT_DTYPE``) in order; write events into ``out``.

    Returns how many pattern events ``out`` received, from index 0. Events beyond its
    length are counted as detected and dropped.
    """
    emitted = 0
    for i in range(n):
        emitted = _observe(records[i], st, predicates, out, emitted)
    return emitted


@hot_kernel
def run_group(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    in_words: np.ndarray,
    in_records: np.ndarray,
    st,
    predicates,
    out_records: np.ndarray,
    out_words: np.ndarray,
    out_header: np.ndarray,
    out_stamps: np.ndarray,
    out_slots: np.ndarray,
    control: np.ndarray,
    strategy: int,
    poll_ns: int,
) -> None:
    """Consume a ring as ``consumer`` and publish pattern events to an output ring, until stopped.

    ``in_words``/``in_records`` are two views of one batch buffer (its length is the poll
    batch), ``out_records``/``out_words`` likewise, large enough for the events one batch
    can produce. An output publish refused by back-pressure is counted as dropped: the
    group never waits for its readers. When ``control[STOP]`` or the input ring's stop flag
    is seen, the group finishes the events published up to then and returns. Between
    empty polls it idles per ``strategy`` for at most ``poll_ns`` before checking again.
    """
    cursor_word = CONSUMER_BASE + CONSUMER_STRIDE * consumer + C_CURSOR
    stop_at = -1
    batch = in_words.shape[0]
    while True:
        if stop_at < 0 and (load_acquire(control, STOP) != 0 or load_acquire(header, H_STOP) != 0):
            stop_at = load_acquire(header, H_PUBLISH_CURSOR)
        if stop_at >= 0 and header[cursor_word] >= stop_at:
            return
        count, _, lost = ring.poll_batch_wait(
            header, stamps, slots, consumer, in_words, batch, strategy, poll_ns
        )
        st.counters[LOST] += lost
        if count == 0:
            continue
        emitted = on_events(in_records, count, st, predicates, out_records)
        for i in range(emitted):
            if ring.publish(out_header, out_stamps, out_slots, out_words[i]) < 0:
                st.counters[DROPPED] += 1
