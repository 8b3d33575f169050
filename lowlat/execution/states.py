"""Order states and the reports that move an order between them."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["TERMINAL_STATES", "OrderState"]


class OrderState(IntEnum):
    """Where one of our orders stands (``orders[i, O_STATE]``)."""

    FREE = 0  # the table entry holds no order
    PROVISIONAL = 1  # decided and recorded, never sent (lifecycle not READY)
    PENDING_NEW = 2  # sent, no acknowledgement yet
    ACKED = 3  # resting at the venue
    PARTIAL = 4  # partly filled, the rest resting
    PENDING_CANCEL = 5  # cancel sent
    PENDING_REPLACE = 6  # replace sent
    FILLED = 7
    CANCELLED = 8
    REJECTED = 9
    EXPIRED = 10
    REFUSED = 11  # stopped by the gate, risk or a breaker before it left
    REQUESTED = 12  # a cancel/replace request sent, not answered yet
    REPLACED = 13  # replaced: the replace request's entry carries the order on


#: States an order never leaves; its table entry may be reused.
TERMINAL_STATES = frozenset(
    {
        OrderState.PROVISIONAL,
        OrderState.FILLED,
        OrderState.CANCELLED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
        OrderState.REFUSED,
        OrderState.REQUESTED,
        OrderState.REPLACED,
    }
)
