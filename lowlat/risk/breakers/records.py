"""Breaker states, causes and the 64-byte BREAKER_EVENT record written for every change.

The states are ordered by severity, so compiled code escalates by comparing integers. What
each one asks of the decision/risk gate:

==========  ===============================================================================
state       the gate
==========  ===============================================================================
NORMAL      trades.
WARN        trades; the breaker is reporting unusual conditions.
THROTTLE    trades risk-reducing orders freely, risk-increasing ones at a reduced rate/size.
LIMIT       the LULD limit state: no risk-increasing order priced outside the band.
PAUSED      the LULD trading pause: no new risk-increasing orders until it ends.
HALTED      a detector's halt level, or a market-wide halt: no new risk-increasing orders.
==========  ===============================================================================
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from lowlat.core.records import RECORD_BYTES

__all__ = ["BREAKER_EVENT_DTYPE", "MARKET_WIDE", "BreakerCause", "InstrumentState", "MarketLevel"]

#: ``instrument`` of a BREAKER_EVENT about the market-wide level.
MARKET_WIDE = -1


class InstrumentState(IntEnum):
    """Per-instrument breaker state, by severity."""

    NORMAL = 0
    WARN = 1
    THROTTLE = 2
    LIMIT = 3
    PAUSED = 4
    HALTED = 5


class MarketLevel(IntEnum):
    """Active market-wide halt (0: none); any level halts every instrument."""

    NONE = 0
    LEVEL_1 = 1  # 7 % decline: halt for ``market_halt_ns``
    LEVEL_2 = 2  # 13 % decline: halt for ``market_halt_ns``
    LEVEL_3 = 3  # 20 % decline: halt for the rest of the session


class BreakerCause(IntEnum):
    """Why a state changed (``BREAKER_EVENT_DTYPE.cause``); ``value``/``threshold`` units."""

    NONE = 0
    BAND = 1  # move from the reference price, bps / the band (or its fraction) crossed, bps
    MOVE = 2  # price range over the rolling window, bps / the threshold crossed, bps
    VOLATILITY = 3  # fast / slow volatility ratio / the ratio crossed
    LIMIT_TIMEOUT = 4  # limit state held for limit_ns: move from the reference, bps / band, bps
    REOPEN = 5  # a pause or market halt ended
    RECOVERY = 6  # conditions stayed below the recovery thresholds for the cool-down
    MARKET = 7  # reference index decline, bps / the level's threshold, bps


BREAKER_EVENT_DTYPE = np.dtype(
    [
        ("trigger_seq", "i8"),  # seq of the market event at which the change happened
        ("exchange_ns", "i8"),  # event time of the change
        ("held_ns", "i8"),  # event time spent in the old state
        ("price", "i8"),  # the instrument's last price, ticks (0 for market-wide)
        ("reference", "i8"),  # its reference price, ticks, rounded (0 for market-wide)
        ("value", "f8"),  # the cause's reading (BreakerCause lists the units)
        ("threshold", "f8"),  # the threshold the reading crossed
        ("instrument", "i4"),  # MARKET_WIDE for the market-wide level
        ("old_state", "u1"),  # InstrumentState, or MarketLevel for market-wide records
        ("new_state", "u1"),
        ("cause", "u1"),  # BreakerCause
        ("reserved", "u1"),  # zero; explicit, so that copies never carry stray bytes
    ],
    align=True,
)
if BREAKER_EVENT_DTYPE.itemsize != RECORD_BYTES:
    raise AssertionError(f"breaker event is {BREAKER_EVENT_DTYPE.itemsize} bytes, not 64")
