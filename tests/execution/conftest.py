"""Builders for execution tests: intents, venue reports and a lifecycle in a given state."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.records import ACK_DTYPE, ORDER_DTYPE, OrderAction, Side
from lowlat.execution import ExecutionConfig, ExecutionEngine

_PATH = {
    LifecycleState.INIT: [],
    LifecycleState.WARMUP: [LifecycleState.WARMUP],
    LifecycleState.READY: [LifecycleState.WARMUP, LifecycleState.READY],
    LifecycleState.DEGRADED: [LifecycleState.WARMUP, LifecycleState.READY, LifecycleState.DEGRADED],
    LifecycleState.HALTED: [LifecycleState.WARMUP, LifecycleState.READY, LifecycleState.HALTED],
    LifecycleState.STOPPED: [LifecycleState.STOPPED],
}


def lifecycle_in(state: LifecycleState) -> Lifecycle:
    life = Lifecycle()
    for step in _PATH[state]:
        life.transition(step, "test")
    return life


def intent(
    action: OrderAction = OrderAction.NEW,
    side: Side = Side.BUY,
    price: int = 1_000_000,
    qty: int = 100,
    *,
    orig: int = 0,
    instrument: int = 1,
    account: int = 7,
) -> np.ndarray:
    out = np.zeros(1, ORDER_DTYPE)
    out["action"], out["side"], out["price"], out["qty"] = action, side, price, qty
    out["orig_client_order_id"], out["instrument"], out["account"] = orig, instrument, account
    out["order_type"] = 1
    return out


def report(
    client_order_id: int, status: int, *, cum: int = 0, leaves: int = 0, at: int = 5_000
) -> np.ndarray:
    out = np.zeros(1, ACK_DTYPE)
    out["client_order_id"], out["status"] = client_order_id, status
    out["cum_qty"], out["leaves_qty"], out["completion_ns"] = cum, leaves, at
    out["venue_order_id"] = 900 + client_order_id
    return out


@pytest.fixture
def ready() -> ExecutionEngine:
    return ExecutionEngine(
        ExecutionConfig(orders=16, samples=8), lifecycle_in(LifecycleState.READY)
    )
