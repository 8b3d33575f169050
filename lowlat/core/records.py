"""Fixed-size event records: NumPy structured dtypes shared by every component.

Every record is 64 bytes (one cache line), 8-byte aligned, so a ring slot holds exactly one
record and compiled code can view it as eight int64 words. Prices are integer ticks — the
venue's smallest increment; for ITCH and LOBSTER that is 1/10,000 of a currency unit —
never floats. Times are int64 nanoseconds: ``*_ns`` fields measured on CLOCK_MONOTONIC by
lowlat, ``exchange_ns`` as the venue sent it (data, not a clock).

Type codes are small integers grouped in ``IntEnum`` classes so that control code can
print names while compiled code compares plain integers.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum

import numpy as np

__all__ = [
    "ACK_DTYPE",
    "FILL_DTYPE",
    "MARKET_EVENT_DTYPE",
    "ORDER_DTYPE",
    "PRICE_SCALE",
    "RECORD_BYTES",
    "AckFlag",
    "AckStatus",
    "EventKind",
    "OrderAction",
    "OrderType",
    "Side",
    "TimeInForce",
    "price_to_ticks",
    "ticks_to_price",
]

RECORD_BYTES = 64
PRICE_SCALE = 10_000  # ticks per currency unit (ITCH 5.0: 4 implied decimals)


class EventKind(IntEnum):
    """What a market event says happened (``MARKET_EVENT_DTYPE.kind``)."""

    NONE = 0
    ADD = 1  # new resting order
    EXECUTE = 2  # resting order traded (qty = shares executed)
    CANCEL = 3  # partial cancel (qty = shares removed)
    DELETE = 4  # order removed
    REPLACE = 5  # order replaced (aux = new order id)
    TRADE = 6  # trade not tied to a visible order
    QUOTE = 7  # top-of-book / price-level update
    SNAPSHOT = 8  # price-level snapshot entry
    STATUS = 9  # trading status, halts, LULD, system events
    TICK = 10  # synthetic tick (simulator, demo)
    BROKEN_TRADE = 11  # a trade the venue broke (aux = its match number)
    IMBALANCE = 12  # auction imbalance indication (NOII, RPII)
    REFERENCE = 13  # reference data: directory, participant, price bands, auction info


class Side(IntEnum):
    """Order or event side."""

    NONE = 0
    BUY = 1
    SELL = 2


class OrderAction(IntEnum):
    """What an outbound order record asks the venue to do."""

    NEW = 1
    CANCEL = 2
    REPLACE = 3


class OrderType(IntEnum):
    """Order type of an outbound order."""

    LIMIT = 1
    MARKET = 2


class TimeInForce(IntEnum):
    """How long an order may rest."""

    DAY = 0
    GTC = 1
    IOC = 2
    FOK = 3


class AckStatus(IntEnum):
    """Order state reported by an acknowledgement."""

    NEW = 1
    PARTIAL = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5
    EXPIRED = 6
    REPLACED = 7
    DECIDED = 8  # decision recorded but not sent (provisional)


class AckFlag(IntEnum):
    """Bit flags on an acknowledgement: EXECUTED, PROVISIONAL, or neither.

    Neither marks a decision refused before it left (status REJECTED, ``reason`` says why).
    """

    EXECUTED = 1  # the order was sent to the venue
    PROVISIONAL = 2  # the decision was made and recorded, not sent (lifecycle not READY)


def _record(fields: list[tuple[str, str]]) -> np.dtype:
    dtype = np.dtype(fields, align=True)
    if dtype.itemsize != RECORD_BYTES:
        raise AssertionError(f"record is {dtype.itemsize} bytes, expected {RECORD_BYTES}")
    return dtype


MARKET_EVENT_DTYPE = _record(
    [
        ("seq", "i8"),  # venue or feed sequence number
        ("recv_ns", "i8"),  # monotonic receive time
        ("exchange_ns", "i8"),  # venue timestamp (data)
        ("order_id", "i8"),  # venue order id, 0 if none
        ("price", "i8"),  # ticks
        ("qty", "i8"),
        ("aux", "i8"),  # kind-specific: new order id (REPLACE), match number (EXECUTE)
        ("instrument", "i4"),
        ("kind", "u1"),  # EventKind
        ("side", "u1"),  # Side
        ("flags", "u1"),
        ("lane", "u1"),  # priority lane assigned by classification
    ]
)

ORDER_DTYPE = _record(
    [
        ("client_order_id", "i8"),
        ("trigger_seq", "i8"),  # sequence of the market event that caused the decision
        ("decision_ns", "i8"),  # monotonic time of the decision
        ("price", "i8"),  # ticks
        ("qty", "i8"),
        ("orig_client_order_id", "i8"),  # for CANCEL / REPLACE
        ("instrument", "i4"),
        ("account", "i4"),
        ("action", "u1"),  # OrderAction
        ("side", "u1"),  # Side
        ("order_type", "u1"),  # OrderType
        ("tif", "u1"),  # TimeInForce
        ("flags", "u4"),
    ]
)

ACK_DTYPE = _record(
    [
        ("seq", "i8"),  # sequence of the acknowledged decision
        ("client_order_id", "i8"),
        ("decision_ns", "i8"),  # when the decision was made (monotonic)
        ("completion_ns", "i8"),  # when the outcome was known (monotonic)
        ("venue_order_id", "i8"),
        ("leaves_qty", "i8"),
        ("cum_qty", "i8"),
        ("instrument", "i4"),
        ("status", "u1"),  # AckStatus
        ("flags", "u1"),  # AckFlag bits
        ("reason", "u2"),  # reject reason code, 0 if none
    ]
)

FILL_DTYPE = _record(
    [
        ("client_order_id", "i8"),
        ("venue_order_id", "i8"),
        ("exec_id", "i8"),
        ("price", "i8"),  # ticks
        ("qty", "i8"),
        ("exchange_ns", "i8"),
        ("recv_ns", "i8"),
        ("instrument", "i4"),
        ("side", "u1"),  # Side
        ("liquidity", "u1"),  # 1 = added, 2 = removed
        ("flags", "u2"),
    ]
)


def price_to_ticks(price: str | Decimal | int, scale: int = PRICE_SCALE) -> int:
    """Convert a decimal price to integer ticks, refusing prices that are not a whole tick.

    Parameters
    ----------
    price
        A decimal string such as ``"101.2500"``, a ``Decimal`` or an integer.
    scale
        Ticks per currency unit.

    Raises
    ------
    ValueError
        If the price is not a whole number of ticks or not a number.
    """
    try:
        exact = Decimal(price) * scale
    except ArithmeticError as exc:
        raise ValueError(f"not a price: {price!r}") from exc
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise ValueError(f"price {price!r} is not a whole number of 1/{scale} ticks")
    return int(exact)


def ticks_to_price(ticks: int, scale: int = PRICE_SCALE) -> Decimal:
    """Convert integer ticks back to an exact decimal price."""
    return Decimal(int(ticks)) / Decimal(scale)
