from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import AckFlag, AckStatus, OrderAction
from lowlat.execution import ExecutionConfig, ExecutionEngine, GateReason, OrderState
from tests.execution.conftest import intent, lifecycle_in, report

S = LifecycleState
SENT, PROVISIONAL, REFUSED = "sent", "provisional", "refused"


@pytest.mark.parametrize(
    ("state", "new", "cancel"),
    [
        (S.READY, SENT, SENT),
        (S.DEGRADED, PROVISIONAL, SENT),
        (S.WARMUP, PROVISIONAL, SENT),
        (S.HALTED, REFUSED, SENT),
        (S.INIT, REFUSED, REFUSED),
        (S.STOPPED, REFUSED, REFUSED),
    ],
)
def test_the_lifecycle_state_alone_decides_what_leaves(
    state: LifecycleState, new: str, cancel: str
) -> None:
    life = lifecycle_in(S.READY)
    engine = ExecutionEngine(ExecutionConfig(orders=16, samples=8), life)
    resting = engine.decide(intent(), now_ns=100).orders["client_order_id"][0]
    engine.on_reports(report(resting, AckStatus.NEW, leaves=100))
    if state is not S.READY:
        if state in (S.WARMUP, S.INIT):
            engine.lifecycle = lifecycle_in(state)
        else:
            life.transition(state, "test")

    def outcome(decided) -> str:
        if len(decided.orders):
            return SENT
        ack = decided.acks[0]
        if ack["flags"] == AckFlag.PROVISIONAL:
            assert ack["status"] == AckStatus.DECIDED
            return PROVISIONAL
        assert ack["status"] == AckStatus.REJECTED
        assert ack["reason"] == GateReason.LIFECYCLE
        return REFUSED

    assert outcome(engine.decide(intent(), now_ns=200)) == new
    assert outcome(engine.decide(intent(OrderAction.CANCEL, orig=resting), now_ns=300)) == cancel


def test_a_provisional_ack_carries_sequence_and_both_timestamps() -> None:
    engine = ExecutionEngine(ExecutionConfig(orders=16, samples=8), lifecycle_in(S.DEGRADED))
    decided = engine.decide(intent(), trigger_seq=77, trigger_recv_ns=1_000, now_ns=1_750)
    (ack,) = decided.acks
    assert len(decided.orders) == 0
    assert (ack["seq"], ack["client_order_id"]) == (1, 1)
    assert (ack["decision_ns"], ack["completion_ns"]) == (1_750, 1_750)
    assert ack["flags"] == AckFlag.PROVISIONAL
    assert engine.order(1)["state"] == OrderState.PROVISIONAL
    assert engine.order(1)["trigger_seq"] == 77
    assert engine.latency()["decision"].tolist() == [750]
    assert engine.latency()["engine"].tolist() == [750]  # no engine loop: from the receipt


def test_sent_orders_carry_their_decision(ready: ExecutionEngine) -> None:
    decided = ready.decide(intent(qty=30), trigger_seq=5, trigger_recv_ns=10, now_ns=40)
    (order,) = decided.orders
    assert (order["client_order_id"], order["trigger_seq"], order["decision_ns"]) == (1, 5, 40)
    assert (order["qty"], order["account"]) == (30, 7)
    assert len(decided.acks) == 0
    assert ready.order(1)["state"] == OrderState.PENDING_NEW


def test_risk_and_breaker_reasons_refuse_with_their_code(ready: ExecutionEngine) -> None:
    decided = ready.decide(np.concatenate([intent(), intent()]), np.array([0, 17]), now_ns=9)
    assert len(decided.orders) == 1
    (ack,) = decided.acks
    assert (ack["status"], ack["reason"], ack["client_order_id"]) == (AckStatus.REJECTED, 17, 2)
    assert ready.counters()["refused"] == 1
    assert ready.order(2)["state"] == OrderState.REFUSED


def test_cancelling_an_order_that_is_not_working_is_refused(ready: ExecutionEngine) -> None:
    decided = ready.decide(intent(OrderAction.CANCEL, orig=55), now_ns=1)
    assert decided.acks["reason"].tolist() == [GateReason.NOT_WORKING]
    assert ready.counters()["not_working"] == 1


def test_client_ids_are_consecutive_and_a_live_entry_is_never_overwritten() -> None:
    engine = ExecutionEngine(
        ExecutionConfig(orders=2, samples=2, first_client_order_id=10), lifecycle_in(S.READY)
    )
    first = engine.decide(np.concatenate([intent(), intent()]), now_ns=1)
    assert first.orders["client_order_id"].tolist() == [10, 11]
    blocked = engine.decide(intent(), now_ns=2)  # id 12 maps onto id 10's entry, still live
    assert len(blocked.orders) == 0
    assert blocked.acks["reason"].tolist() == [GateReason.TABLE_FULL]
    assert blocked.acks["client_order_id"].tolist() == [12]
    assert engine.order(10)["state"] == OrderState.PENDING_NEW
    engine.on_reports(report(11, AckStatus.FILLED, cum=100))
    assert engine.decide(intent(), now_ns=3).orders["client_order_id"].tolist() == [13]


def test_intents_of_another_dtype_are_refused(ready: ExecutionEngine) -> None:
    with pytest.raises(TypeError, match="ORDER_DTYPE"):
        ready.decide(np.zeros(2))
    with pytest.raises(ValueError, match="1 reasons for 2 intents"):
        ready.decide(np.concatenate([intent(), intent()]), np.zeros(1))


def test_config_checks_sizes_and_loads_toml() -> None:
    with pytest.raises(ValueError, match="orders must be a power of two"):
        ExecutionConfig(orders=3)
    with pytest.raises(ValueError, match="unknown execution config keys"):
        ExecutionConfig.from_toml("[execution]\ntable = 4\n")
    assert ExecutionConfig.from_toml("[execution]\norders = 8\n").orders == 8
