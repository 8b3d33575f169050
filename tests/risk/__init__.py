"""Record builders and a small engine for the risk tests (shared by every test module)."""

from __future__ import annotations

import itertools

import numpy as np

from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    ORDER_DTYPE,
    AckStatus,
    OrderAction,
    OrderType,
    Side,
)
from lowlat.risk import LimitOverride, PreTradeRisk, RiskConfig, RiskLimits

BUY, SELL = Side.BUY, Side.SELL
NEW, CANCEL, REPLACE = OrderAction.NEW, OrderAction.CANCEL, OrderAction.REPLACE
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
REF = 1_000_000  # reference price: 100.0000, so 1 bp = 100 ticks
ACCOUNT = 1
INSTRUMENT = 7
T0 = 1_000_000_000_000  # a monotonic time far from 0
TICK_NS = 10_000_000  # the test clock's step: one token at 100/s, past the duplicate window

#: Limits small enough to reach in a test; every check has room on both sides.
LIMITS = RiskLimits(
    max_order_qty=1_000,
    max_notional=50_000,  # currency: 500 units at REF
    price_collar_bps=100,  # ±1 %: 990,000..1,010,000
    max_open_orders=3,
    max_position=2_000,
    max_orders_per_second=100,
    throttle_burst=5,
    duplicate_window_ns=1_000_000,
    max_drawdown=1_000,  # currency: 10,000,000 ticks × qty
)


def order(
    client_order_id: int,
    side: Side = BUY,
    qty: int = 100,
    price: int = REF,
    *,
    action: OrderAction = NEW,
    order_type: OrderType = LIMIT,
    orig: int = 0,
    account: int = ACCOUNT,
    instrument: int = INSTRUMENT,
) -> np.void:
    """One ``ORDER_DTYPE`` record."""
    rec = np.zeros(1, ORDER_DTYPE)
    rec["client_order_id"] = client_order_id
    rec["price"] = price
    rec["qty"] = qty
    rec["orig_client_order_id"] = orig
    rec["instrument"] = instrument
    rec["account"] = account
    rec["action"] = action
    rec["side"] = side
    rec["order_type"] = order_type
    return rec[0]


def cancel(client_order_id: int, orig: int, **fields: int) -> np.void:
    """A cancel request for order ``orig``."""
    return order(client_order_id, action=CANCEL, orig=orig, qty=0, price=0, **fields)


def ack(client_order_id: int, status: AckStatus, instrument: int = INSTRUMENT) -> np.void:
    """One ``ACK_DTYPE`` record."""
    rec = np.zeros(1, ACK_DTYPE)
    rec["client_order_id"] = client_order_id
    rec["status"] = status
    rec["instrument"] = instrument
    return rec[0]


def fill(
    client_order_id: int, qty: int, price: int = REF, side: Side = BUY, instrument: int = INSTRUMENT
) -> np.void:
    """One ``FILL_DTYPE`` record."""
    rec = np.zeros(1, FILL_DTYPE)
    rec["client_order_id"] = client_order_id
    rec["price"] = price
    rec["qty"] = qty
    rec["instrument"] = instrument
    rec["side"] = side
    return rec[0]


def engine(
    limits: RiskLimits = LIMITS,
    *,
    instrument_limits: dict[int, LimitOverride] | None = None,
    account_limits: dict[int, LimitOverride] | None = None,
    **sizes: int,
) -> PreTradeRisk:
    """A small engine: 4 accounts, 8 instruments, ids up to 99, 64 open-order entries.

    Its clock advances :data:`TICK_NS` per check, so that only tests passing ``now_ns``
    meet the throttle or the duplicate window.
    """
    config = RiskConfig(
        **{
            "accounts": 4,
            "instruments": 8,
            "max_account_id": 99,
            "max_instrument_id": 99,
            "open_orders": 64,
            "duplicate_slots": 64,
            **sizes,
        },
        limits=limits,
        instrument_limits=instrument_limits or {},
        account_limits=account_limits or {},
    )
    clock = itertools.count(T0, TICK_NS)
    return PreTradeRisk(config, clock=lambda: next(clock))
