"""Builders for venue tests: engines, requests and reports written compactly."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.records import ORDER_DTYPE, AckStatus, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue import MatchingEngine, Reason, VenueConfig, order_record

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC, IOC, FOK, DAY = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY
NEW, PARTIAL, FILLED = AckStatus.NEW, AckStatus.PARTIAL, AckStatus.FILLED
CANCELLED, REJECTED, EXPIRED = AckStatus.CANCELLED, AckStatus.REJECTED, AckStatus.EXPIRED


def small_config(**overrides: object) -> VenueConfig:
    """Two instruments, 8 levels a side, 16 resting orders; overrides win."""
    options = {"instruments": (1, 2), "levels": 8, "orders": 16, **overrides}
    return VenueConfig(**options)


def new(
    order_id: int,
    side: int,
    qty: int,
    price: int = 0,
    *,
    order_type: int = LIMIT,
    tif: int = GTC,
    account: int = 0,
    instrument: int = 1,
    decision_ns: int = 0,
) -> np.void:
    """A NEW request."""
    return order_record(
        OrderAction.NEW,
        order_id,
        side=side,
        order_type=order_type,
        tif=tif,
        price=price,
        qty=qty,
        account=account,
        instrument=instrument,
        decision_ns=decision_ns,
    )


def requests(*records: np.void) -> np.ndarray:
    """An ``ORDER_DTYPE`` array of the records, in order."""
    return np.array(list(records), ORDER_DTYPE)


def short(reports: np.ndarray) -> list[tuple]:
    """Reports as ``(order_id, status, reason, last_px, last_qty, leaves, cum, counterparty)``."""
    return [
        (
            int(r["order_id"]),
            AckStatus(int(r["status"])),
            Reason(int(r["reason"])),
            int(r["last_px"]),
            int(r["last_qty"]),
            int(r["leaves_qty"]),
            int(r["cum_qty"]),
            int(r["counterparty_order_id"]),
        )
        for r in reports
    ]


@pytest.fixture
def engine() -> MatchingEngine:
    """A small engine with self-trade prevention cancelling the resting order."""
    return MatchingEngine(small_config())
