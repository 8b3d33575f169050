"""Why pre-trade risk refused an order: one stable code per check (``ACK_DTYPE.reason``).

Codes never change meaning and are never reused; a new check gets the next free number.
They stay below 100, clear of the codes other stages put in the same field.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["REASON_SLOTS", "RejectReason"]


class RejectReason(IntEnum):
    """The outcome of a pre-trade check; ``NONE`` (0) means the order passed."""

    NONE = 0
    INVALID_ORDER = 1  # malformed: action, side, type, id, quantity, limit price or id range
    UNKNOWN_ORDER = 2  # a replace of an order that is not working
    DUPLICATE_CLIENT_ID = 3  # the client order id is already in use
    KILL_SWITCH = 4  # the kill switch is engaged and the order adds risk
    HALTED = 5  # the lifecycle is HALTED or STOPPED and the order adds risk
    CAPACITY = 6  # no account/instrument slot or open-order entry left: fail closed
    RESTRICTED = 7  # restricted instrument or suspended account
    MAX_ORDER_QTY = 8
    NO_REFERENCE_PRICE = 9  # no reference price to collar or value the order against
    MAX_NOTIONAL = 10  # checked after the collar, so a fat-fingered price says PRICE_COLLAR
    PRICE_COLLAR = 11
    MAX_OPEN_ORDERS = 12
    MAX_POSITION = 13
    DUPLICATE_ORDER = 14  # same account, instrument, side, price and qty within the window
    THROTTLE = 15  # the account's message-rate token bucket is empty


#: Length of the per-reason reject counters (room for codes added later).
REASON_SLOTS = 32
