"""The venue's execution report record and its codes.

``EXEC_REPORT_DTYPE`` is the one record the matching engine writes: 64 bytes, one per
order event (accepted, traded, cancelled, expired, rejected, replaced, reduced). Every
match writes two, the incoming order's first and then the resting one's. ``status`` uses
:class:`lowlat.core.records.AckStatus` codes (NEW, PARTIAL, FILLED, CANCELLED, REJECTED,
EXPIRED); ``reason`` a :class:`Reason`.

Quantities are 32-bit in the report: the venue refuses an order quantity above
:data:`MAX_QTY` (``BAD_QTY``), so leaves and cumulative quantities always fit.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from lowlat.core.records import RECORD_BYTES, OrderAction

__all__ = [
    "ACTION_REDUCE",
    "EXEC_REPORT_DTYPE",
    "MAX_QTY",
    "Liquidity",
    "Reason",
    "StpMode",
]

MAX_QTY = (1 << 31) - 1

#: ``ORDER_DTYPE.action`` of a size reduction that keeps priority: ``qty`` is the size to
#: take off the order ``orig_client_order_id``. The venue's extension of ``OrderAction``.
ACTION_REDUCE = max(OrderAction) + 1


class Reason(IntEnum):
    """Why a report has its status: a reject code, or what changed the order."""

    NONE = 0
    UNKNOWN_ORDER = 1  # cancel/reduce/replace of an id that is not working
    DUPLICATE_ID = 2  # new order (or replace's new id) equal to a working order's id
    BAD_QTY = 3  # quantity ≤ 0 or above MAX_QTY
    BAD_PRICE = 4  # limit price ≤ 0
    BAD_SIDE = 5
    BAD_TYPE = 6  # order type neither LIMIT nor MARKET
    BAD_TIF = 7
    BAD_ORDER_ID = 8  # order id ≤ 0 (a replace's new id < 0)
    UNKNOWN_INSTRUMENT = 9
    BAD_ACTION = 10
    BOOK_FULL = 11  # remainder cancelled: its side has no free price level
    ORDER_TABLE_FULL = 12  # remainder cancelled: the order table is full
    SELF_TRADE = 13  # cancelled by self-trade prevention
    NOT_FILLABLE = 14  # FOK expired: not enough quantity within its limit
    NO_LIQUIDITY = 15  # IOC/MARKET remainder expired: nothing more to match
    REPLACED = 16  # the report acknowledges a replace
    REDUCED = 17  # the report acknowledges a size reduction
    VENUE_REJECT = 18  # rejected by the gateway's fault model


class Liquidity(IntEnum):
    """Which side of a match a report is for (``EXEC_REPORT_DTYPE.liquidity``)."""

    NONE = 0  # not a match
    ADDED = 1  # the resting order (maker)
    REMOVED = 2  # the incoming order (taker)


class StpMode(IntEnum):
    """Self-trade prevention: what happens when an order would trade with its own account.

    Account 0 means no account: its orders never count as self-trades.
    """

    NONE = 0  # self-trades are allowed
    CANCEL_RESTING = 1  # the resting order is cancelled, the incoming one keeps matching
    CANCEL_INCOMING = 2  # the incoming order's remainder is cancelled, the resting one stays


EXEC_REPORT_DTYPE = np.dtype(
    [
        ("exec_id", "i8"),  # venue report sequence: 1, 2, 3, … without gaps
        ("order_id", "i8"),
        ("counterparty_order_id", "i8"),  # the other side of a match (or of a self-trade), 0
        ("last_px", "i8"),  # ticks, 0 unless a match
        ("decision_ns", "i8"),  # echo: decision_ns of the request this report answers
        ("last_qty", "i4"),
        ("leaves_qty", "i4"),
        ("cum_qty", "i4"),
        ("instrument", "i4"),
        ("account", "i4"),
        ("side", "u1"),  # Side
        ("status", "u1"),  # AckStatus
        ("reason", "u1"),  # Reason
        ("liquidity", "u1"),  # Liquidity
    ],
    align=True,
)
if EXEC_REPORT_DTYPE.itemsize != RECORD_BYTES:
    raise AssertionError(f"EXEC_REPORT_DTYPE is {EXEC_REPORT_DTYPE.itemsize} bytes")
