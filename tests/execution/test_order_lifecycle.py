from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import AckFlag, AckStatus, OrderAction
from lowlat.execution import ExecutionConfig, ExecutionEngine, OrderState
from tests.execution.conftest import intent, lifecycle_in, report


def _sent(engine: ExecutionEngine, qty: int = 100, now_ns: int = 1_000) -> int:
    return int(engine.decide(intent(qty=qty), now_ns=now_ns).orders["client_order_id"][0])


def test_new_partial_filled_with_every_transition_stamped(ready: ExecutionEngine) -> None:
    oid = _sent(ready)
    acks = ready.on_reports(report(oid, AckStatus.NEW, leaves=100, at=1_400), now_ns=1_500)
    assert (acks["status"][0], acks["flags"][0]) == (AckStatus.NEW, AckFlag.EXECUTED)
    assert (acks["decision_ns"][0], acks["completion_ns"][0]) == (1_000, 1_400)
    ready.on_reports(report(oid, AckStatus.PARTIAL, cum=40, leaves=60), now_ns=1_600)
    ready.on_reports(report(oid, AckStatus.FILLED, cum=100), now_ns=1_700)
    row = ready.order(oid)
    assert (row["state"], row["cum_qty"], row["leaves_qty"]) == (OrderState.FILLED, 100, 0)
    assert (row["last_ns"], row["transitions"], row["venue_order_id"]) == (1_700, 4, 900 + oid)
    assert ready.latency()["execution"].tolist() == [400]  # sent → the venue's first report


def test_duplicate_out_of_order_and_unknown_reports_are_counted_and_ignored(
    ready: ExecutionEngine,
) -> None:
    oid = _sent(ready)
    ready.on_reports(report(oid, AckStatus.NEW))
    ready.on_reports(report(oid, AckStatus.NEW))  # resent
    ready.on_reports(report(oid, AckStatus.PARTIAL, cum=30))
    ready.on_reports(report(oid, AckStatus.PARTIAL, cum=30))  # no new quantity
    ready.on_reports(report(oid, AckStatus.NEW))  # cannot follow a fill
    ready.on_reports(report(oid, AckStatus.FILLED, cum=100))
    ready.on_reports(report(oid, AckStatus.CANCELLED))  # after a terminal state
    ready.on_reports(report(999, AckStatus.NEW))
    counters = ready.counters()
    assert (counters["duplicate_reports"], counters["out_of_order_reports"]) == (2, 2)
    assert counters["unknown_reports"] == 1
    assert ready.order(oid)["state"] == OrderState.FILLED


def _requested(engine: ExecutionEngine, action: OrderAction, orig: int, **fields) -> int:
    decided = engine.decide(intent(action, orig=orig, **fields), now_ns=2_000)
    return int(decided.orders["client_order_id"][0])


def test_cancel_then_cancelled_and_a_refused_cancel_restores_the_order(
    ready: ExecutionEngine,
) -> None:
    first, second = _sent(ready), _sent(ready)
    for oid in (first, second):
        ready.on_reports(report(oid, AckStatus.NEW))
    cancel = _requested(ready, OrderAction.CANCEL, first)
    assert ready.order(first)["state"] == OrderState.PENDING_CANCEL
    assert ready.order(cancel)["state"] == OrderState.REQUESTED
    # FIX: the answer names the cancel request; the ack names the order it ended.
    acks = ready.on_reports(report(cancel, AckStatus.CANCELLED))
    assert acks["client_order_id"].tolist() == [first]
    assert ready.order(first)["state"] == OrderState.CANCELLED
    assert ready.order(cancel)["state"] == OrderState.CANCELLED
    ready.on_reports(report(second, AckStatus.PARTIAL, cum=10))
    refused = _requested(ready, OrderAction.CANCEL, second)
    acks = ready.on_reports(report(refused, AckStatus.REJECTED, cum=10))
    assert acks["client_order_id"].tolist() == [refused]
    assert ready.order(second)["state"] == OrderState.PARTIAL
    assert ready.order(refused)["state"] == OrderState.REJECTED
    assert ready.working_orders() == [second]
    ready.on_reports(report(cancel, AckStatus.CANCELLED))  # the answer, resent
    assert ready.counters()["duplicate_reports"] == 1


def test_a_fill_before_the_cancel_answer_keeps_the_cancel_pending(ready: ExecutionEngine) -> None:
    oid = _sent(ready)
    ready.on_reports(report(oid, AckStatus.NEW))
    cancel = _requested(ready, OrderAction.CANCEL, oid)
    ready.on_reports(report(oid, AckStatus.PARTIAL, cum=30, leaves=70))
    assert ready.order(oid)["state"] == OrderState.PENDING_CANCEL
    ready.on_reports(report(cancel, AckStatus.CANCELLED, cum=30))
    row = ready.order(oid)
    assert (row["state"], row["cum_qty"], row["leaves_qty"]) == (OrderState.CANCELLED, 30, 0)


def test_a_cancel_that_comes_too_late_leaves_the_filled_order_filled(
    ready: ExecutionEngine,
) -> None:
    oid = _sent(ready)
    ready.on_reports(report(oid, AckStatus.NEW))
    cancel = _requested(ready, OrderAction.CANCEL, oid)
    ready.on_reports(report(oid, AckStatus.FILLED, cum=100))
    ready.on_reports(report(cancel, AckStatus.REJECTED))
    assert ready.order(oid)["state"] == OrderState.FILLED
    assert ready.order(cancel)["state"] == OrderState.REJECTED


def test_replace_is_pending_until_the_venue_confirms_then_the_new_id_carries_on(
    ready: ExecutionEngine,
) -> None:
    oid = _sent(ready)
    ready.on_reports(report(oid, AckStatus.NEW))
    ready.on_reports(report(oid, AckStatus.PARTIAL, cum=20, leaves=80))
    new_id = _requested(ready, OrderAction.REPLACE, oid, price=1_000_100, qty=150)
    assert ready.order(oid)["state"] == OrderState.PENDING_REPLACE
    acks = ready.on_reports(report(new_id, AckStatus.REPLACED, cum=20, leaves=130))
    assert (acks["client_order_id"][0], acks["status"][0]) == (new_id, AckStatus.REPLACED)
    assert ready.order(oid)["state"] == OrderState.REPLACED
    replacement = ready.order(new_id)
    assert (replacement["state"], replacement["cum_qty"], replacement["leaves_qty"]) == (
        OrderState.PARTIAL,
        20,
        130,
    )
    assert ready.working_orders() == [new_id]
    ready.on_reports(report(new_id, AckStatus.FILLED, cum=150))  # fills name the new id
    assert ready.order(new_id)["state"] == OrderState.FILLED
    ready.on_reports(report(new_id, AckStatus.REPLACED, cum=20, leaves=130))
    assert ready.counters()["duplicate_reports"] == 1


def test_a_refused_replace_restores_the_order(ready: ExecutionEngine) -> None:
    oid = _sent(ready)
    ready.on_reports(report(oid, AckStatus.NEW))
    new_id = _requested(ready, OrderAction.REPLACE, oid, price=1_000_100)
    ready.on_reports(report(new_id, AckStatus.REJECTED))
    assert ready.order(oid)["state"] == OrderState.ACKED
    assert ready.order(new_id)["state"] == OrderState.REJECTED


_STATUSES = st.sampled_from(
    [
        AckStatus.NEW,
        AckStatus.PARTIAL,
        AckStatus.FILLED,
        AckStatus.CANCELLED,
        AckStatus.REJECTED,
        AckStatus.EXPIRED,
        AckStatus.REPLACED,
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), _STATUSES, st.integers(0, 120)), max_size=40))
def test_every_report_is_applied_or_counted_and_terminal_states_stick(reports) -> None:
    engine = ExecutionEngine(
        ExecutionConfig(orders=8, samples=8), lifecycle_in(LifecycleState.READY)
    )
    for _ in range(3):
        _sent(engine)
    terminal = {}
    moved = 0
    for oid, status, cum in reports:
        moved += len(engine.on_reports(report(oid, status, cum=cum)))
        row = engine.order(oid)
        if oid in terminal:
            assert row["state"] == terminal[oid]
        elif row is not None and row["state"] >= OrderState.FILLED:
            terminal[oid] = row["state"]
    c = engine.counters()
    assert c["reports"] == len(reports)
    assert (
        c["reports"]
        == moved + c["unknown_reports"] + c["duplicate_reports"] + c["out_of_order_reports"]
    )
