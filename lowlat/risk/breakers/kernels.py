"""Compiled circuit breakers: prices in, per-instrument and market-wide states out. Hot path.

Prices come from TICK records (``price`` = the mid rounded down to a tick), TRADE records
and EXECUTE records with ``price > 0``; every other record only advances the clock. Time
is event time — the latest ``exchange_ns`` seen, so a record stamped earlier than one
before it counts as that later time and windows never run backwards — and the same input
gives the same states and BREAKER_EVENT records, byte for byte.

Per price, on the instrument's slot, three detectors read:

* band — ``|price - reference| / reference`` against the LULD-style band of the
  reference's tier, where the reference is the mean price over the last
  ``reference_window_ns`` *before* this price;
* rolling move — ``(high - low) / low`` over the last ``move_window_ns``;
* volatility spike — fast over slow volatility, each an event-time EWMA of squared
  returns (bias-corrected for the time since the instrument's first price).

Each reading maps to a level through its thresholds — band: WARN, THROTTLE, LIMIT;
move and volatility: WARN, THROTTLE, HALTED — and the highest level wins (``up``). The
same readings against the thresholds times ``1 - hysteresis`` give the level they still
justify (``down`` ≥ ``up``). Then, in this order:

1. ``up`` above the state: escalate to it at once (cause: the detector that raised it).
2. PAUSED: at the end of the pause, reopen (below) to ``down``.
3. LIMIT: while ``down`` is LIMIT (the price at the band, or not back inside it by the
   hysteresis margin), ``limit_ns`` after entering it: PAUSED for ``pause_ns``. Once
   ``down`` has stayed below LIMIT for ``limit_exit_ns``: step down to it.
4. WARN, THROTTLE, HALTED: step down to ``down`` once it has stayed below the state for
   ``cooldown_ns``. Leaving HALTED reopens.

"Stayed below for": every reading that still justifies the current state restarts the
clock, so a reading oscillating around a threshold holds the state instead of flapping.

Reopening (after a pause or a halt) makes the last price the reference, as LULD does.

Timers — limit timeout, pause end, cool-down, market halt end — fire at the first record
of *any* instrument at or after their deadline: a scan of the slots runs only when the
clock passes the earliest deadline, so a quiet instrument still pauses and reopens on
time and the per-record cost stays constant.

Market-wide: the reference index is the equal-weighted mean of every priced instrument's
return since its first price; a decline of ``market_level{1,2,3}_bps`` triggers that
level once per session. Levels 1 and 2 halt every instrument for ``market_halt_ns``,
level 3 for the rest of the session. :func:`market_level` reports the active halt; the
gate treats every instrument as HALTED while it is above 0. Market-wide records carry
instrument ``MARKET_WIDE`` (-1) and the levels as old and new state.

:func:`instrument_state` and :func:`market_level` are plain loads for a gate on the same
thread as :func:`on_events` (or behind the ordering of the ring that carries its records).
"""

from __future__ import annotations

import math

import numpy as np

from lowlat.core.jit import ZERO, hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind
from lowlat.risk.breakers.layout import (
    C_BAD_INSTRUMENT,
    C_CHANGES,
    C_CHANGES_DROPPED,
    C_CLOCK_NS,
    C_EVENTS,
    C_INSTRUMENT_OVERFLOW,
    C_NEXT_DEADLINE_NS,
    C_PRICES,
    C_SLOTS,
    C_TIMER_SCANS,
    F_BAND_THROTTLE,
    F_BAND_WARN,
    F_FAST_RATE,
    F_MARKET_1,
    F_MARKET_2,
    F_MARKET_3,
    F_MOVE_HALT,
    F_MOVE_THROTTLE,
    F_MOVE_WARN,
    F_RECOVERY,
    F_SLOW_RATE,
    F_VOL_HALT,
    F_VOL_THROTTLE,
    F_VOL_WARN,
    M_LATCHED,
    M_LEVEL,
    M_PRICED,
    M_SINCE_NS,
    M_UNTIL_NS,
    NEVER,
    P_COOLDOWN_NS,
    P_LIMIT_EXIT_NS,
    P_LIMIT_NS,
    P_MARKET_HALT_NS,
    P_MOVE_BUCKET_NS,
    P_PAUSE_NS,
    P_REF_BUCKET_NS,
    P_VOL_WARMUP_NS,
    R_BAND_BPS,
    R_BAND_MOVE_BPS,
    R_FAST_VAR,
    R_MOVE_BPS,
    R_REFERENCE,
    R_RETURN,
    R_SLOW_VAR,
    R_THRESHOLD,
    R_VALUE,
    R_VOL_RATIO,
    S_CAUSE,
    S_DEADLINE_NS,
    S_DOWN,
    S_FIRST_NS,
    S_FIRST_PRICE,
    S_INSTRUMENT,
    S_JUSTIFIED_NS,
    S_LAST_NS,
    S_LAST_PRICE,
    S_MOVE_EPOCH,
    S_PAUSE_END_NS,
    S_PRICES,
    S_REF_COUNT,
    S_REF_EPOCH,
    S_REF_SUM,
    S_SINCE_NS,
    S_STATE,
    S_UP,
    X_RETURN_SUM,
    BreakerState,
)
from lowlat.risk.breakers.records import MARKET_WIDE, BreakerCause, InstrumentState

__all__ = ["instrument_state", "market_level", "on_events"]

_NORMAL = InstrumentState.NORMAL.value
_WARN = InstrumentState.WARN.value
_THROTTLE = InstrumentState.THROTTLE.value
_LIMIT = InstrumentState.LIMIT.value
_PAUSED = InstrumentState.PAUSED.value
_HALTED = InstrumentState.HALTED.value

_BAND = BreakerCause.BAND.value
_MOVE = BreakerCause.MOVE.value
_VOLATILITY = BreakerCause.VOLATILITY.value
_LIMIT_TIMEOUT = BreakerCause.LIMIT_TIMEOUT.value
_REOPEN = BreakerCause.REOPEN.value
_RECOVERY = BreakerCause.RECOVERY.value
_MARKET = BreakerCause.MARKET.value

_TICK = EventKind.TICK.value
_TRADE = EventKind.TRADE.value
_EXECUTE = EventKind.EXECUTE.value
_BPS = 10_000.0


# ---------------------------------------------------------------- reads for the gate


@hot_kernel
def instrument_state(state: BreakerState, instrument: int) -> int:
    """``InstrumentState`` of ``instrument`` as an int; NORMAL if it has had no price."""
    if instrument < 0 or instrument >= state.slot_of.shape[0]:
        return _NORMAL
    slot = state.slot_of[instrument]
    if slot < 0:
        return _NORMAL
    return state.ints[slot, S_STATE]


@hot_kernel
def market_level(state: BreakerState) -> int:
    """Active ``MarketLevel`` as an int: above 0, every instrument is halted."""
    return state.market[M_LEVEL]


# ---------------------------------------------------------------- the stage


@hot_kernel
def on_events(state: BreakerState, events: np.ndarray, n: int, out: np.ndarray) -> int:
    """Judge ``events[:n]``; write a BREAKER_EVENT to ``out`` per state change.

    Returns the number of records written. Changes that do not fit in ``out`` still
    happen and are counted in ``counters[C_CHANGES_DROPPED]``.
    """
    counters = state.counters
    written = 0
    for i in range(n):
        e = events[i]
        counters[C_EVENTS] += 1
        stamp = e["exchange_ns"]
        if stamp > counters[C_CLOCK_NS]:
            counters[C_CLOCK_NS] = stamp
        now = counters[C_CLOCK_NS]
        seq = e["seq"]
        if now >= counters[C_NEXT_DEADLINE_NS]:
            written = _fire_timers(state, now, seq, out, written)
        kind = e["kind"]
        price = e["price"]
        if price <= 0 or kind not in (_TICK, _TRADE, _EXECUTE):
            continue
        slot = _slot(state, e["instrument"])
        if slot < 0:
            continue
        counters[C_PRICES] += 1
        _observe(state, slot, price, now)
        written = _judge_market(state, now, seq, out, written)
        written = _evaluate(state, slot, now, seq, out, written)
    return written


@hot_kernel_inline
def _slot(state: BreakerState, instrument: int) -> int:
    """Slot of ``instrument``, taking the next free one at its first price; -1 if none."""
    if instrument < 0 or instrument >= state.slot_of.shape[0]:
        state.counters[C_BAD_INSTRUMENT] += 1
        return -1
    slot = state.slot_of[instrument]
    if slot >= 0:
        return slot
    used = state.counters[C_SLOTS]
    if used == state.ints.shape[0]:
        state.counters[C_INSTRUMENT_OVERFLOW] += 1
        return -1
    state.slot_of[instrument] = used
    state.ints[used, S_INSTRUMENT] = instrument
    state.ints[used, S_DEADLINE_NS] = NEVER
    state.counters[C_SLOTS] = used + 1
    return used


# ---------------------------------------------------------------- readings
# Helpers with several call sites (_grade, _evaluate, _change, _market_change) are compiled
# once and called: inlining each copy made the stage five times slower to compile.


@hot_kernel_inline
def _observe(state: BreakerState, slot: int, price: int, now: int) -> None:
    """Update the slot's windows and readings with ``price`` at ``now``, then grade them."""
    ints = state.ints
    r = state.readings
    first = ints[slot, S_PRICES] == 0
    if first:
        ints[slot, S_FIRST_PRICE] = price
        ints[slot, S_FIRST_NS] = now
        ints[slot, S_SINCE_NS] = now
        ints[slot, S_REF_EPOCH] = now // state.iparams[P_REF_BUCKET_NS]
        ints[slot, S_MOVE_EPOCH] = now // state.iparams[P_MOVE_BUCKET_NS]
        r[slot, R_REFERENCE] = price
        if state.market[M_PRICED] == 0:
            state.market[M_SINCE_NS] = now
        state.market[M_PRICED] += 1

    # band: judged against the mean of the prices before this one
    _advance_reference(state, slot, now)
    if ints[slot, S_REF_COUNT] > 0:
        r[slot, R_REFERENCE] = ints[slot, S_REF_SUM] / ints[slot, S_REF_COUNT]
    reference = r[slot, R_REFERENCE]
    r[slot, R_BAND_BPS] = _band_bps(state, reference)
    r[slot, R_BAND_MOVE_BPS] = abs(price - reference) / reference * _BPS
    bucket = ints[slot, S_REF_EPOCH] % state.ref_sum.shape[1]
    state.ref_sum[slot, bucket] += price
    state.ref_count[slot, bucket] += 1
    ints[slot, S_REF_SUM] += price
    ints[slot, S_REF_COUNT] += 1

    # rolling move
    _advance_move(state, slot, now)
    bucket = ints[slot, S_MOVE_EPOCH] % state.move_low.shape[1]
    state.move_low[slot, bucket] = min(state.move_low[slot, bucket], price)
    state.move_high[slot, bucket] = max(state.move_high[slot, bucket], price)
    low = price
    high = price
    for b in range(state.move_low.shape[1]):
        low = min(low, state.move_low[slot, b])
        high = max(high, state.move_high[slot, b])
    r[slot, R_MOVE_BPS] = (high - low) / low * _BPS

    # volatility spike
    if not first:
        last = ints[slot, S_LAST_PRICE]
        dt = now - ints[slot, S_LAST_NS]
        ret = (price - last) / last
        fast_rate = state.fparams[F_FAST_RATE]
        slow_rate = state.fparams[F_SLOW_RATE]
        r[slot, R_FAST_VAR] = r[slot, R_FAST_VAR] * math.exp(-fast_rate * dt) + ret * ret
        r[slot, R_SLOW_VAR] = r[slot, R_SLOW_VAR] * math.exp(-slow_rate * dt) + ret * ret
        age = now - ints[slot, S_FIRST_NS]
        ratio = 0.0
        if age > 0 and age >= state.iparams[P_VOL_WARMUP_NS] and r[slot, R_SLOW_VAR] > 0.0:
            fast = r[slot, R_FAST_VAR] * fast_rate / -math.expm1(-fast_rate * age)
            slow = r[slot, R_SLOW_VAR] * slow_rate / -math.expm1(-slow_rate * age)
            ratio = math.sqrt(fast / slow)
        r[slot, R_VOL_RATIO] = ratio

    # the instrument's share of the market index
    ret_since_open = price / ints[slot, S_FIRST_PRICE] - 1.0
    state.index[X_RETURN_SUM] += ret_since_open - r[slot, R_RETURN]
    r[slot, R_RETURN] = ret_since_open

    ints[slot, S_LAST_PRICE] = price
    ints[slot, S_LAST_NS] = now
    ints[slot, S_PRICES] += 1
    _grade(state, slot)
    if ints[slot, S_DOWN] >= ints[slot, S_STATE]:
        ints[slot, S_JUSTIFIED_NS] = now


@hot_kernel_inline
def _advance_reference(state: BreakerState, slot: int, now: int) -> None:
    """Move the reference window to ``now``'s bucket, dropping the buckets that left it."""
    epoch = now // state.iparams[P_REF_BUCKET_NS]
    old = state.ints[slot, S_REF_EPOCH]
    buckets = state.ref_sum.shape[1]
    for k in range(1, min(epoch - old, buckets) + 1):
        b = (old + k) % buckets
        state.ints[slot, S_REF_SUM] -= state.ref_sum[slot, b]
        state.ints[slot, S_REF_COUNT] -= state.ref_count[slot, b]
        state.ref_sum[slot, b] = 0
        state.ref_count[slot, b] = 0
    if epoch > old:
        state.ints[slot, S_REF_EPOCH] = epoch


@hot_kernel_inline
def _advance_move(state: BreakerState, slot: int, now: int) -> None:
    """Move the rolling-move window to ``now``'s bucket, emptying the buckets that left it."""
    epoch = now // state.iparams[P_MOVE_BUCKET_NS]
    old = state.ints[slot, S_MOVE_EPOCH]
    buckets = state.move_low.shape[1]
    for k in range(1, min(epoch - old, buckets) + 1):
        b = (old + k) % buckets
        state.move_low[slot, b] = NEVER
        state.move_high[slot, b] = 0
    if epoch > old:
        state.ints[slot, S_MOVE_EPOCH] = epoch


@hot_kernel_inline
def _band_bps(state: BreakerState, reference: float) -> float:
    """Band of the first tier whose lowest price ``reference`` reaches (the last starts at 0)."""
    last = state.tier_min.shape[0] - 1
    for t in range(last):
        if reference >= state.tier_min[t]:
            return state.tier_bps[t]
    return state.tier_bps[last]


@hot_kernel_inline
def _level(value: float, warn: float, throttle: float, top: float, top_level: int) -> int:
    """NORMAL, WARN, THROTTLE or ``top_level`` for ``value`` against three thresholds."""
    if value >= top:
        return top_level
    if value >= throttle:
        return _THROTTLE
    if value >= warn:
        return _WARN
    return _NORMAL


@hot_kernel
def _grade(state: BreakerState, slot: int) -> None:
    """Levels of the slot's readings: ``S_UP`` with its cause, and ``S_DOWN``."""
    f = state.fparams
    r = state.readings
    keep = f[F_RECOVERY]
    band = r[slot, R_BAND_BPS]
    band_move = r[slot, R_BAND_MOVE_BPS]
    band_warn = f[F_BAND_WARN] * band
    band_throttle = f[F_BAND_THROTTLE] * band
    move = r[slot, R_MOVE_BPS]
    vol = r[slot, R_VOL_RATIO]

    up = _level(band_move, band_warn, band_throttle, band, _LIMIT)
    cause = _BAND
    value = band_move
    threshold = _threshold(up, band_warn, band_throttle, band)
    move_up = _level(move, f[F_MOVE_WARN], f[F_MOVE_THROTTLE], f[F_MOVE_HALT], _HALTED)
    if move_up > up:
        up = move_up
        cause = _MOVE
        value = move
        threshold = _threshold(up, f[F_MOVE_WARN], f[F_MOVE_THROTTLE], f[F_MOVE_HALT])
    vol_up = _level(vol, f[F_VOL_WARN], f[F_VOL_THROTTLE], f[F_VOL_HALT], _HALTED)
    if vol_up > up:
        up = vol_up
        cause = _VOLATILITY
        value = vol
        threshold = _threshold(up, f[F_VOL_WARN], f[F_VOL_THROTTLE], f[F_VOL_HALT])

    down = _level(band_move, keep * band_warn, keep * band_throttle, keep * band, _LIMIT)
    down = max(
        down,
        _level(move, keep * f[F_MOVE_WARN], keep * f[F_MOVE_THROTTLE], keep * f[F_MOVE_HALT],
               _HALTED),
    )  # fmt: skip
    down = max(
        down,
        _level(vol, keep * f[F_VOL_WARN], keep * f[F_VOL_THROTTLE], keep * f[F_VOL_HALT],
               _HALTED),
    )  # fmt: skip
    state.ints[slot, S_UP] = up
    state.ints[slot, S_CAUSE] = cause
    state.ints[slot, S_DOWN] = down
    r[slot, R_VALUE] = value
    r[slot, R_THRESHOLD] = threshold


@hot_kernel_inline
def _threshold(level: int, warn: float, throttle: float, top: float) -> float:
    """The threshold that ``level`` crossed (0 for NORMAL)."""
    if level == _WARN:
        return warn
    if level == _THROTTLE:
        return throttle
    if level == _NORMAL:
        return 0.0
    return top


# ---------------------------------------------------------------- the state machine


@hot_kernel
def _evaluate(
    state: BreakerState, slot: int, now: int, seq: int, out: np.ndarray, written: int
) -> int:
    """Apply the transition the slot's readings and timers call for, if any."""
    ints = state.ints
    current = ints[slot, S_STATE]
    up = ints[slot, S_UP]
    down = ints[slot, S_DOWN]
    if up > current:
        return _change(
            state, slot, up, ints[slot, S_CAUSE], now, seq,
            state.readings[slot, R_VALUE], state.readings[slot, R_THRESHOLD], out, written,
        )  # fmt: skip
    if current == _PAUSED:
        if now >= ints[slot, S_PAUSE_END_NS]:
            _reopen(state, slot)
            return _change(state, slot, ints[slot, S_DOWN], _REOPEN, now, seq, 0.0, 0.0, out,
                           written)  # fmt: skip
    elif current == _LIMIT:
        if down >= _LIMIT:
            if now - ints[slot, S_SINCE_NS] >= state.iparams[P_LIMIT_NS]:
                ints[slot, S_PAUSE_END_NS] = now + state.iparams[P_PAUSE_NS]
                return _change(
                    state, slot, _PAUSED, _LIMIT_TIMEOUT, now, seq,
                    state.readings[slot, R_BAND_MOVE_BPS], state.readings[slot, R_BAND_BPS],
                    out, written,
                )  # fmt: skip
        elif now - ints[slot, S_JUSTIFIED_NS] >= state.iparams[P_LIMIT_EXIT_NS]:
            return _change(state, slot, down, _RECOVERY, now, seq, 0.0, 0.0, out, written)
    elif down < current and now - ints[slot, S_JUSTIFIED_NS] >= state.iparams[P_COOLDOWN_NS]:
        if current == _HALTED:
            _reopen(state, slot)
            down = ints[slot, S_DOWN]
        return _change(state, slot, down, _RECOVERY, now, seq, 0.0, 0.0, out, written)
    _schedule(state, slot)
    return written


@hot_kernel_inline
def _reopen(state: BreakerState, slot: int) -> None:
    """Start a new reference window at the last price (LULD's reopening price) and regrade."""
    ints = state.ints
    for b in range(state.ref_sum.shape[1]):
        state.ref_sum[slot, b] = 0
        state.ref_count[slot, b] = 0
    ints[slot, S_REF_SUM] = 0
    ints[slot, S_REF_COUNT] = 0
    last = ints[slot, S_LAST_PRICE]
    state.readings[slot, R_REFERENCE] = last
    state.readings[slot, R_BAND_BPS] = _band_bps(state, last)
    state.readings[slot, R_BAND_MOVE_BPS] = 0.0
    _grade(state, slot)


@hot_kernel
def _change(
    state: BreakerState,
    slot: int,
    new: int,
    cause: int,
    now: int,
    seq: int,
    value: float,
    threshold: float,
    out: np.ndarray,
    written: int,
) -> int:
    """Move the slot to ``new``, record the change in ``out[written]`` if it fits."""
    ints = state.ints
    if written < out.shape[0]:
        rec = out[written]
        rec["trigger_seq"] = seq
        rec["exchange_ns"] = now
        rec["held_ns"] = now - ints[slot, S_SINCE_NS]
        rec["price"] = ints[slot, S_LAST_PRICE]
        rec["reference"] = np.int64(state.readings[slot, R_REFERENCE] + 0.5)
        rec["value"] = value
        rec["threshold"] = threshold
        rec["instrument"] = ints[slot, S_INSTRUMENT]
        rec["old_state"] = ints[slot, S_STATE]
        rec["new_state"] = new
        rec["cause"] = cause
        rec["reserved"] = 0
        written += 1
    else:
        state.counters[C_CHANGES_DROPPED] += 1
    state.counters[C_CHANGES] += 1
    ints[slot, S_STATE] = new
    ints[slot, S_SINCE_NS] = now
    ints[slot, S_JUSTIFIED_NS] = now
    _schedule(state, slot)
    return written


@hot_kernel_inline
def _schedule(state: BreakerState, slot: int) -> None:
    """Set the slot's next timer and lower the engine-wide earliest deadline to it."""
    ints = state.ints
    current = ints[slot, S_STATE]
    deadline = NEVER
    if current == _LIMIT and ints[slot, S_DOWN] >= _LIMIT:
        deadline = ints[slot, S_SINCE_NS] + state.iparams[P_LIMIT_NS]
    elif current == _LIMIT:
        deadline = ints[slot, S_JUSTIFIED_NS] + state.iparams[P_LIMIT_EXIT_NS]
    elif current == _PAUSED:
        deadline = ints[slot, S_PAUSE_END_NS]
    elif current != _NORMAL and ints[slot, S_DOWN] < current:
        deadline = ints[slot, S_JUSTIFIED_NS] + state.iparams[P_COOLDOWN_NS]
    ints[slot, S_DEADLINE_NS] = deadline
    if deadline < state.counters[C_NEXT_DEADLINE_NS]:
        state.counters[C_NEXT_DEADLINE_NS] = deadline


@hot_kernel_inline
def _fire_timers(state: BreakerState, now: int, seq: int, out: np.ndarray, written: int) -> int:
    """Run every timer due at ``now`` and recompute the earliest deadline exactly."""
    counters = state.counters
    market = state.market
    counters[C_TIMER_SCANS] += 1
    if market[M_LEVEL] > 0 and now >= market[M_UNTIL_NS]:
        written = _market_change(state, ZERO, _REOPEN, now, seq, 0.0, 0.0, out, written)
    counters[C_NEXT_DEADLINE_NS] = market[M_UNTIL_NS] if market[M_LEVEL] > 0 else NEVER
    for slot in range(counters[C_SLOTS]):
        deadline = state.ints[slot, S_DEADLINE_NS]
        if deadline <= now:
            written = _evaluate(state, slot, now, seq, out, written)
        elif deadline < counters[C_NEXT_DEADLINE_NS]:
            counters[C_NEXT_DEADLINE_NS] = deadline
    return written


# ---------------------------------------------------------------- market-wide


@hot_kernel_inline
def _judge_market(state: BreakerState, now: int, seq: int, out: np.ndarray, written: int) -> int:
    """Trigger the highest market-wide level the index decline reaches, once per session."""
    market = state.market
    f = state.fparams
    decline = -state.index[X_RETURN_SUM] / market[M_PRICED] * _BPS
    level = 0
    threshold = 0.0
    if decline >= f[F_MARKET_3]:
        level = 3
        threshold = f[F_MARKET_3]
    elif decline >= f[F_MARKET_2]:
        level = 2
        threshold = f[F_MARKET_2]
    elif decline >= f[F_MARKET_1]:
        level = 1
        threshold = f[F_MARKET_1]
    if level <= market[M_LATCHED]:
        return written
    market[M_LATCHED] = level
    market[M_UNTIL_NS] = NEVER if level == 3 else now + state.iparams[P_MARKET_HALT_NS]
    if market[M_UNTIL_NS] < state.counters[C_NEXT_DEADLINE_NS]:
        state.counters[C_NEXT_DEADLINE_NS] = market[M_UNTIL_NS]
    return _market_change(state, level, _MARKET, now, seq, decline, threshold, out, written)


@hot_kernel
def _market_change(
    state: BreakerState,
    level: int,
    cause: int,
    now: int,
    seq: int,
    value: float,
    threshold: float,
    out: np.ndarray,
    written: int,
) -> int:
    """Set the active market-wide level and record the change."""
    market = state.market
    if written < out.shape[0]:
        rec = out[written]
        rec["trigger_seq"] = seq
        rec["exchange_ns"] = now
        rec["held_ns"] = now - market[M_SINCE_NS]
        rec["price"] = 0
        rec["reference"] = 0
        rec["value"] = value
        rec["threshold"] = threshold
        rec["instrument"] = MARKET_WIDE
        rec["old_state"] = market[M_LEVEL]
        rec["new_state"] = level
        rec["cause"] = cause
        rec["reserved"] = 0
        written += 1
    else:
        state.counters[C_CHANGES_DROPPED] += 1
    state.counters[C_CHANGES] += 1
    market[M_LEVEL] = level
    market[M_SINCE_NS] = now
    return written
