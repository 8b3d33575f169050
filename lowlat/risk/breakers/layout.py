"""Memory of the circuit breakers: every array, allocated once from a :class:`BreakerConfig`.

The breakers' state is a ``BreakerState`` named tuple of NumPy arrays, which compiled
kernels take as one argument. Per instrument slot there is one row of integers (state,
timers, prices, window totals) and one of floats (the detectors' readings), plus two rings
of time buckets: price sums and counts for the reference mean, lows and highs for the
rolling move. Bucket ``e % buckets`` holds event-time bucket ``e = exchange_ns //
bucket_ns``; advancing to a later bucket clears the ones that fell out of the window.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lowlat.risk.breakers.config import BreakerConfig

__all__ = ["COUNTER_FIELDS", "NEVER", "READING_FIELDS", "BreakerState", "allocate"]

NEVER = (1 << 63) - 1  # a deadline that never comes

# ints[slot, S_*] (int64)
S_INSTRUMENT = 0
S_STATE = 1  # InstrumentState
S_SINCE_NS = 2  # event time the current state was entered
S_JUSTIFIED_NS = 3  # last event time the readings justified the current state (cool-down start)
S_PAUSE_END_NS = 4
S_DEADLINE_NS = 5  # next timer (limit timeout or exit, pause end, cool-down), NEVER if none
S_FIRST_PRICE = 6
S_LAST_PRICE = 7
S_FIRST_NS = 8
S_LAST_NS = 9
S_PRICES = 10  # prices seen
S_REF_EPOCH = 11  # newest bucket of the reference window
S_REF_SUM = 12  # Σ prices in the reference window
S_REF_COUNT = 13
S_MOVE_EPOCH = 14  # newest bucket of the rolling-move window
S_UP = 15  # level the latest readings raise the instrument to (trigger thresholds)
S_DOWN = 16  # level they still justify (recovery thresholds): never below S_UP
S_CAUSE = 17  # BreakerCause behind S_UP
SLOT_WORDS = 24

# readings[slot, R_*] (float64)
R_REFERENCE = 0  # reference price, ticks
R_BAND_BPS = 1  # band half-width of the reference's tier
R_BAND_MOVE_BPS = 2  # |price - reference| / reference
R_MOVE_BPS = 3  # (high - low) / low over the rolling window
R_FAST_VAR = 4  # decayed Σ squared returns, fast half-life
R_SLOW_VAR = 5  # the same, slow half-life
R_VOL_RATIO = 6  # fast / slow volatility (0 while warming up)
R_RETURN = 7  # price / first price - 1: this instrument's share of the market index
R_VALUE = 8  # reading of S_CAUSE
R_THRESHOLD = 9  # threshold it crossed
READING_WORDS = 10
READING_FIELDS = (
    "reference",
    "band_bps",
    "band_move_bps",
    "move_bps",
    "fast_var",
    "slow_var",
    "vol_ratio",
    "return",
)

# market[M_*] (int64)
M_LEVEL = 0  # active MarketLevel
M_LATCHED = 1  # highest level triggered this session: each level triggers once
M_SINCE_NS = 2
M_UNTIL_NS = 3  # end of the active halt, NEVER for level 3
M_PRICED = 4  # instruments in the index
MARKET_WORDS = 8
X_RETURN_SUM = 0  # index[X_*] (float64): Σ R_RETURN over priced instruments

# counters[C_*] (int64)
C_EVENTS = 0
C_PRICES = 1  # price events judged
C_CHANGES = 2  # state changes (instrument and market-wide)
C_CHANGES_DROPPED = 3  # changes whose record did not fit in the output array
C_BAD_INSTRUMENT = 4  # price events with an id outside 0..max_instrument_id
C_INSTRUMENT_OVERFLOW = 5  # price events of a new instrument when every slot is taken
C_SLOTS = 6  # slots in use
C_TIMER_SCANS = 7  # passes over the slots because a deadline passed
C_CLOCK_NS = 8  # event time: the latest exchange_ns seen
C_NEXT_DEADLINE_NS = 9  # earliest timer of any slot or of the market halt (a lower bound)
COUNTER_WORDS = 16
COUNTER_FIELDS = (
    "events",
    "prices",
    "changes",
    "changes_dropped",
    "bad_instrument",
    "instrument_overflow",
    "slots",
    "timer_scans",
)

# iparams[P_*] (int64)
P_REF_BUCKET_NS = 0
P_MOVE_BUCKET_NS = 1
P_LIMIT_NS = 2
P_PAUSE_NS = 3
P_VOL_WARMUP_NS = 4
P_MARKET_HALT_NS = 5
P_COOLDOWN_NS = 6
P_LIMIT_EXIT_NS = 7
IPARAM_WORDS = 8

# fparams[F_*] (float64)
F_BAND_WARN = 0
F_BAND_THROTTLE = 1
F_MOVE_WARN = 2
F_MOVE_THROTTLE = 3
F_MOVE_HALT = 4
F_VOL_WARN = 5
F_VOL_THROTTLE = 6
F_VOL_HALT = 7
F_MARKET_1 = 8
F_MARKET_2 = 9
F_MARKET_3 = 10
F_RECOVERY = 11  # 1 - hysteresis: recovery thresholds are the triggers times this
F_FAST_RATE = 12  # ln 2 / fast half-life, per ns
F_SLOW_RATE = 13
FPARAM_WORDS = 14


class BreakerState(NamedTuple):
    """Every array of the breakers; compiled kernels take the tuple as one argument."""

    slot_of: np.ndarray  # int32[max_instrument_id + 1]: instrument id → slot, -1 none
    ints: np.ndarray  # int64[instruments, SLOT_WORDS]
    readings: np.ndarray  # float64[instruments, READING_WORDS]
    ref_sum: np.ndarray  # int64[instruments, reference_buckets]
    ref_count: np.ndarray  # int64[instruments, reference_buckets]
    move_low: np.ndarray  # int64[instruments, move_buckets]: NEVER when empty
    move_high: np.ndarray  # int64[instruments, move_buckets]: 0 when empty
    market: np.ndarray  # int64[MARKET_WORDS]
    index: np.ndarray  # float64[1]
    counters: np.ndarray  # int64[COUNTER_WORDS]
    tier_min: np.ndarray  # int64[tiers]: lowest reference price of each band tier
    tier_bps: np.ndarray  # float64[tiers]: its band
    iparams: np.ndarray  # int64[IPARAM_WORDS]
    fparams: np.ndarray  # float64[FPARAM_WORDS]


def allocate(config: BreakerConfig) -> BreakerState:
    """Allocate every array of breakers sized by ``config``, parameters filled in."""
    slots = config.instruments
    c = config
    iparams = np.zeros(IPARAM_WORDS, np.int64)
    iparams[P_REF_BUCKET_NS] = c.reference_window_ns // c.reference_buckets
    iparams[P_MOVE_BUCKET_NS] = c.move_window_ns // c.move_buckets
    iparams[P_LIMIT_NS] = c.limit_ns
    iparams[P_PAUSE_NS] = c.pause_ns
    iparams[P_VOL_WARMUP_NS] = c.vol_warmup_ns
    iparams[P_MARKET_HALT_NS] = c.market_halt_ns
    iparams[P_COOLDOWN_NS] = c.cooldown_ns
    iparams[P_LIMIT_EXIT_NS] = c.limit_exit_ns
    fparams = np.zeros(FPARAM_WORDS, np.float64)
    fparams[F_BAND_WARN] = c.band_warn
    fparams[F_BAND_THROTTLE] = c.band_throttle
    fparams[F_MOVE_WARN : F_MOVE_HALT + 1] = (c.move_warn_bps, c.move_throttle_bps, c.move_halt_bps)
    fparams[F_VOL_WARN : F_VOL_HALT + 1] = (c.vol_warn, c.vol_throttle, c.vol_halt)
    fparams[F_MARKET_1 : F_MARKET_3 + 1] = (
        c.market_level1_bps,
        c.market_level2_bps,
        c.market_level3_bps,
    )
    fparams[F_RECOVERY] = 1.0 - c.hysteresis
    fparams[F_FAST_RATE] = math.log(2.0) / c.vol_fast_half_life_ns
    fparams[F_SLOW_RATE] = math.log(2.0) / c.vol_slow_half_life_ns
    counters = np.zeros(COUNTER_WORDS, np.int64)
    counters[C_NEXT_DEADLINE_NS] = NEVER
    return BreakerState(
        slot_of=np.full(c.max_instrument_id + 1, -1, np.int32),
        ints=np.zeros((slots, SLOT_WORDS), np.int64),
        readings=np.zeros((slots, READING_WORDS), np.float64),
        ref_sum=np.zeros((slots, c.reference_buckets), np.int64),
        ref_count=np.zeros((slots, c.reference_buckets), np.int64),
        move_low=np.full((slots, c.move_buckets), NEVER, np.int64),
        move_high=np.zeros((slots, c.move_buckets), np.int64),
        market=np.zeros(MARKET_WORDS, np.int64),
        index=np.zeros(1, np.float64),
        counters=counters,
        tier_min=np.array([t.min_price for t in c.band_tiers], np.int64),
        tier_bps=np.array([t.band_bps for t in c.band_tiers], np.float64),
        iparams=iparams,
        fparams=fparams,
    )
