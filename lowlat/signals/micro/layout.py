"""Memory of the signals: one row of integers and one of floats per book slot.

Rows are indexed by the book engine's slots, so a signal update after a book update
touches one row and no lookup. The integer row holds exact sums of the touch and the top
N levels, the float row the running estimates (flow, migration, variance); the ratios
users read are derived from both on demand. Parameters travel as two small arrays.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lowlat.signals.micro.config import SignalConfig

__all__ = ["SIGNAL_FIELDS", "SignalState", "allocate"]

# marks[slot, M_*] (int64): exact sums kept per event
M_UPDATES = 0  # book updates seen
M_TWO_SIDED = 1  # 1 while both sides have a level (the book-derived values are current)
M_FLOW_NS = 2  # event time the flow volumes were last decayed to
M_TRADES_SEEN = 3  # the book's trade count when last read
M_MID_CHANGES = 4
M_HAS_DISTANCE = 5  # 1 once a mean distance exists to measure migration from
M_TWICE_MID = 6  # best bid + best ask: the mid, doubled, exact
M_BID = 7
M_ASK = 8
M_BID_SIZE = 9
M_ASK_SIZE = 10
M_BID_TOTAL = 11  # size of the top N bid levels
M_ASK_TOTAL = 12
M_BID_NOTIONAL = 13  # Σ size × price over the top N bid levels
M_ASK_NOTIONAL = 14
MARK_WORDS = 16

# values[slot, V_*] (float64): the running estimates
V_BUY_FLOW = 0  # decayed buy-initiated volume
V_SELL_FLOW = 1  # decayed sell-initiated volume
V_MIGRATION = 2  # EWMA of changes of the mean distance: < 0 depth moves toward the touch
V_DISTANCE = 3  # mean size-weighted distance of both sides' N levels from the mid, ticks
V_VARIANCE = 4  # EWMA of squared mid returns, bps²
VALUE_WORDS = 8

# derived signals, in the order :func:`~lowlat.signals.micro.kernels.derive` writes them
S_MID = 0  # (best bid + best ask) / 2, ticks
S_MICROPRICE = 1  # size-weighted mid: leans toward the side with less size
S_SPREAD = 2  # best ask - best bid, ticks
S_IMBALANCE_TOP = 3  # (bid size - ask size) / (bid size + ask size) at the touch, in [-1, 1]
S_IMBALANCE_N = 4  # the same over the top N levels
S_BID_DISTANCE = 5  # size-weighted distance of the top N bid levels from the mid, ticks
S_ASK_DISTANCE = 6  # the same for asks
S_MIGRATION = 7
S_BUY_FLOW = 8
S_SELL_FLOW = 9
S_FLOW = 10  # (buy - sell) / (buy + sell), in [-1, 1]
S_VARIANCE = 11
S_VOLATILITY = 12  # square root of the variance: bps per mid change
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

# iparams[P_*] (int64) and fparams[F_*] (float64)
P_LEVELS = 0
P_FLOW_HALF_LIFE_NS = 1
P_TRADE_SIDE_IS_AGGRESSOR = 2
F_MIGRATION_DECAY = 0
F_VOLATILITY_DECAY = 1
F_FLOW_DECAY_RATE = 2  # ln 2 / flow half-life, per ns: a multiply per trade, not a divide

# counters[C_*] (int64): pipeline-wide
C_TICKS = 0  # TICK records written for mid changes
C_TICKS_DROPPED = 1  # mid changes not written because the tick buffer was full
COUNTER_WORDS = 4


class SignalState(NamedTuple):
    """Every array of the signals; compiled kernels take the tuple as one argument."""

    values: np.ndarray  # float64[slots, VALUE_WORDS]
    marks: np.ndarray  # int64[slots, MARK_WORDS]
    iparams: np.ndarray  # int64[3]
    fparams: np.ndarray  # float64[3]
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
                math.log(2.0) / config.flow_half_life_ns,
            ],
            np.float64,
        ),
        counters=np.zeros(COUNTER_WORDS, np.int64),
    )
