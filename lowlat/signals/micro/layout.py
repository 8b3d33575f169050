"""Memory of the signals: one row of floats and one of integers per book slot.

Rows are indexed by the book engine's slots, so a signal update after a book update
touches one row and no lookup. Parameters travel as two small arrays the kernels read.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowlat.signals.micro.config import SignalConfig

__all__ = ["SIGNAL_FIELDS", "SignalState", "allocate"]

# values[slot, V_*] (float64)
V_MID = 0  # (best bid + best ask) / 2, in ticks
V_MICROPRICE = 1  # size-weighted mid: leans toward the side with less size
V_SPREAD = 2  # best ask - best bid, ticks
V_IMBALANCE_TOP = 3  # (bid size - ask size) / (bid size + ask size) at the touch, in [-1, 1]
V_IMBALANCE_N = 4  # the same over the top N levels
V_BID_DISTANCE = 5  # size-weighted distance of the top N bid levels from the mid, ticks
V_ASK_DISTANCE = 6  # the same for asks
V_MIGRATION = 7  # EWMA of changes of the mean distance: < 0 depth moves toward the touch
V_BUY_FLOW = 8  # decayed buy-initiated volume
V_SELL_FLOW = 9  # decayed sell-initiated volume
V_FLOW = 10  # (buy - sell) / (buy + sell), in [-1, 1]
V_VARIANCE = 11  # EWMA of squared mid returns, bps²
V_VOLATILITY = 12  # its square root: bps per mid change
VALUE_WORDS = 16
SIGNAL_FIELDS = (
    "mid",
    "microprice",
    "spread",
    "imbalance_top",
    "imbalance_n",
    "bid_distance",
    "ask_distance",
    "migration",
    "buy_flow",
    "sell_flow",
    "flow",
    "variance",
    "volatility",
)

# marks[slot, M_*] (int64)
M_UPDATES = 0  # book updates seen
M_TWO_SIDED = 1  # 1 while both sides have a level (the book-derived values are current)
M_FLOW_NS = 2  # event time the flow volumes were last decayed to
M_TRADES_SEEN = 3  # the book's trade count when last read
M_MID_CHANGES = 4
M_HAS_DISTANCE = 5  # 1 once a mean distance exists to measure migration from
MARK_WORDS = 8

# iparams[P_*] (int64) and fparams[F_*] (float64)
P_LEVELS = 0
P_FLOW_HALF_LIFE_NS = 1
P_TRADE_SIDE_IS_AGGRESSOR = 2
F_MIGRATION_DECAY = 0
F_VOLATILITY_DECAY = 1

# counters[C_*] (int64): pipeline-wide
C_TICKS = 0  # TICK records written for mid changes
C_TICKS_DROPPED = 1  # mid changes not written because the tick buffer was full
COUNTER_WORDS = 4


class SignalState(NamedTuple):
    """Every array of the signals; compiled kernels take the tuple as one argument."""

    values: np.ndarray  # float64[slots, VALUE_WORDS]
    marks: np.ndarray  # int64[slots, MARK_WORDS]
    iparams: np.ndarray  # int64[3]
    fparams: np.ndarray  # float64[2]
    counters: np.ndarray  # int64[COUNTER_WORDS]


def allocate(config: SignalConfig, slots: int) -> SignalState:
    """Arrays for ``slots`` books, parameters filled in from ``config``."""
    return SignalState(
        values=np.zeros((slots, VALUE_WORDS), np.float64),
        marks=np.zeros((slots, MARK_WORDS), np.int64),
        iparams=np.array(
            [config.levels, config.flow_half_life_ns, int(config.trade_side_is_aggressor)],
            np.int64,
        ),
        fparams=np.array(
            [
                SignalConfig.decay(config.migration_half_life),
                SignalConfig.decay(config.volatility_half_life),
            ],
            np.float64,
        ),
        counters=np.zeros(COUNTER_WORDS, np.int64),
    )
