"""The kill switch end to end: engage, HALT, cancel everything, refuse, re-arm with approval."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import datetime

import numba
import numpy as np
import pytest

from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.records import ORDER_DTYPE, AckStatus
from lowlat.risk import (
    KillSwitch,
    PreTradeRisk,
    RearmRefused,
    RejectReason,
    RiskConfig,
    RiskLimits,
    WorkingOrder,
    kernels,
    operator_engage,
    operator_rearm,
    operator_status,
)
from lowlat.risk.layout import G_TABLE_VERSION
from tests.risk import LIMITS, REF, REPLACE, SELL, T0, TICK_NS, ack, cancel, fill, order

R = RejectReason
S = LifecycleState


class Desk:
    """A READY lifecycle, a risk engine reading it, and a kill switch recording its cancels."""

    def __init__(
        self, limits: RiskLimits = LIMITS, fail: Exception | None = None, **sizes: int
    ) -> None:
        self.lifecycle = Lifecycle()
        self.lifecycle.transition(S.WARMUP, "start")
        self.lifecycle.transition(S.READY, "warm")
        clock = itertools.count(T0, TICK_NS)
        self.risk = PreTradeRisk(
            RiskConfig(limits=limits, **sizes), lifecycle=self.lifecycle, clock=lambda: next(clock)
        )
        self.cancelled: list[list[WorkingOrder]] = []
        self.fail = fail
        self.switch = KillSwitch(
            self.lifecycle,
            self.risk,
            self.cancel,
            clock=itertools.count(1).__next__,
            wall_clock=lambda: 1_700_000_000_000_000_000,
        )

    def cancel(self, orders: list[WorkingOrder]) -> None:
        self.cancelled.append(orders)
        if self.fail is not None:
            raise self.fail

    def check(self, rec: np.void, ref: int = REF) -> RejectReason:
        return self.risk.check(rec, reference_price=ref)


@pytest.fixture
def desk() -> Desk:
    """Three working orders (one partly filled), a pending cancel and a pending replace."""
    d = Desk()
    for rec in (order(1), order(2, SELL, qty=50, account=2), order(3, instrument=8)):
        assert d.check(rec) is R.NONE
    d.risk.on_fills(fill(1, 40))
    assert d.check(cancel(4, orig=2, account=2)) is R.NONE
    assert d.check(order(5, qty=30, price=REF - 1, action=REPLACE, orig=3, instrument=8)) is (
        R.NONE
    )
    return d


def test_kill_switch_end_to_end(desk: Desk) -> None:
    event = desk.switch.engage("runaway strategy", by="alice")
    # HALTED, and the callback got every working order once, with its leaves
    assert desk.lifecycle.state is S.HALTED
    assert desk.lifecycle.history[-1].reason == "kill switch: runaway strategy"
    assert desk.cancelled == [
        [
            WorkingOrder(1, 1, 7, 1, REF, 60),
            WorkingOrder(2, 2, 7, 2, REF, 50),
            WorkingOrder(3, 1, 8, 1, REF, 100),
        ]
    ]
    assert (event.action, event.by, event.cancelled, event.lifecycle) == (
        "engage",
        "alice",
        (1, 2, 3),
        S.HALTED,
    )
    assert desk.switch.engaged
    # new risk refused; cancels and replaces that do not add quantity pass
    assert desk.check(order(10, price=REF - 10)) is R.KILL_SWITCH
    assert desk.check(order(11, qty=101, price=REF, action=REPLACE, orig=1)) is R.KILL_SWITCH
    assert desk.check(order(12, qty=50, price=REF - 2, action=REPLACE, orig=1)) is R.NONE
    assert desk.check(cancel(13, orig=3, instrument=8)) is R.NONE
    # re-arming needs an approver and a reason
    for approver, reason in (("", "fixed"), ("   ", "fixed"), ("bob", "")):
        with pytest.raises(RearmRefused):
            desk.switch.rearm(approver, reason)
        assert desk.lifecycle.state is S.HALTED and desk.switch.engaged
    assert desk.check(order(14, price=REF - 14)) is R.KILL_SWITCH
    rearm = desk.switch.rearm("bob", "strategy fixed and reviewed")
    assert desk.lifecycle.state is S.READY and not desk.switch.engaged
    last = desk.lifecycle.history[-1]
    assert (last.source, last.target, last.approved_by) == (S.HALTED, S.READY, "bob")
    assert desk.check(order(15, price=REF - 15)) is R.NONE
    # the history: who, why, when (monotonic and wall), in order
    history = desk.switch.history
    assert [e.action for e in history] == ["engage"] + ["rearm refused"] * 3 + ["rearm"]
    assert history[-1] == rearm and (rearm.by, rearm.reason) == (
        "bob",
        "strategy fixed and reviewed",
    )
    assert [e.monotonic_ns for e in history] == [1, 2, 3, 4, 5]
    assert all(e.error for e in history[1:4]) and history[0].error is None
    assert datetime.fromisoformat(history[0].wall_time).year == 2023


def test_rearm_without_anything_engaged_is_refused() -> None:
    d = Desk()
    with pytest.raises(RearmRefused, match="not engaged"):
        d.switch.rearm("bob", "nothing to do")
    assert d.lifecycle.state is S.READY


def test_rearm_targets_ready_or_warmup_only(desk: Desk) -> None:
    desk.switch.engage("test", by="alice")
    with pytest.raises(RearmRefused, match="READY or WARMUP"):
        desk.switch.rearm("bob", "stop it", target="STOPPED")
    desk.switch.rearm("bob", "warm up first", target="warmup")
    assert desk.lifecycle.state is S.WARMUP


def test_engaging_twice_cancels_what_is_still_working(desk: Desk) -> None:
    desk.switch.engage("first", by="alice")
    desk.risk.on_acks(ack(1, AckStatus.CANCELLED))
    desk.switch.engage("second", by="carol")
    assert [[o.client_order_id for o in batch] for batch in desk.cancelled] == [[1, 2, 3], [2, 3]]
    assert desk.lifecycle.state is S.HALTED


def test_engaging_when_stopped_sets_the_flag_without_a_transition() -> None:
    d = Desk()
    d.lifecycle.transition(S.STOPPED, "end of day")
    d.switch.engage("paranoia", by="alice")
    assert d.switch.engaged and d.lifecycle.state is S.STOPPED
    with pytest.raises(RearmRefused, match="STOPPED"):
        d.switch.rearm("bob", "again")


def test_a_drawdown_breach_is_carried_out_by_poll() -> None:
    d = Desk()
    assert d.switch.poll() is None
    assert d.check(order(1)) is R.NONE
    assert d.check(order(2, price=REF - 1)) is R.NONE
    d.risk.on_fills(fill(1, 100))
    d.risk.mark(7, 899_999)  # 100 × 100,001 > 10,000,000
    assert d.switch.engaged and d.lifecycle.state is S.READY  # the hot path only set the flag
    event = d.switch.poll()
    assert event is not None
    assert (event.by, event.reason, event.cancelled) == (
        "risk",
        "drawdown limit breached by account 1",
        (2,),
    )
    assert d.lifecycle.state is S.HALTED
    assert d.switch.poll() is None
    d.switch.rearm("bob", "loss accepted")
    d.risk.mark(7, 899_998)
    assert not d.switch.engaged and d.switch.poll() is None


def test_poll_carries_out_a_flag_set_through_the_risk_handle() -> None:
    d = Desk()
    d.risk.set_kill_flag()  # automation with access to the risk engine only
    event = d.switch.poll()
    assert event is not None and event.reason == "kill-switch flag set (operator)"
    assert d.lifecycle.state is S.HALTED


def test_a_failing_cancel_callback_is_recorded_and_raised_and_the_halt_stays(desk: Desk) -> None:
    failing = Desk(fail=ConnectionError("gateway down"))
    assert failing.check(order(1)) is R.NONE
    with pytest.raises(ConnectionError):
        failing.switch.engage("test", by="alice")
    event = failing.switch.history[-1]
    assert event.error == "cancel callback failed: ConnectionError: gateway down"
    assert event.cancelled == (1,)
    assert failing.switch.engaged and failing.lifecycle.state is S.HALTED


def test_operator_functions_give_json_for_the_cli_and_http(desk: Desk) -> None:
    engaged = operator_engage(desk.switch, by="alice", reason="test")
    assert engaged["ok"] and engaged["event"]["cancelled"] == [1, 2, 3]
    assert engaged["status"]["engaged"] and engaged["status"]["cause"] == "OPERATOR"
    assert engaged["status"]["lifecycle"] == "HALTED"
    refused = operator_rearm(desk.switch, approved_by="", reason="test")
    assert not refused["ok"] and "approval" in refused["error"]
    assert refused["status"]["engaged"]
    rearmed = operator_rearm(desk.switch, approved_by="bob", reason="test")
    assert rearmed["ok"] and rearmed["event"]["by"] == "bob"
    status = operator_status(desk.switch)
    assert [e["action"] for e in status["history"]] == ["engage", "rearm refused", "rearm"]
    assert status["working_orders"] == 3 and status["last_event"]["action"] == "rearm"
    json.dumps([engaged, refused, rearmed, status])


def test_no_order_slips_past_an_engagement_from_another_thread() -> None:
    """Every order that passed while the switch engaged is in the cancel list."""
    limits = RiskLimits(
        max_open_orders=10**9,
        max_position=10**12,
        max_notional=10**14,
        max_orders_per_second=10**9,
        throttle_burst=10**6,
        duplicate_window_ns=0,
    )
    d = Desk(limits)
    batch = np.zeros(1, ORDER_DTYPE)
    batch[0] = order(1, qty=1)
    passed = []
    refused = []
    started = threading.Event()

    def trade() -> None:
        client_id = 1
        while True:
            batch["client_order_id"] = client_id
            reason = kernels.check_order(d.risk.state, batch, 0, T0, REF)
            if reason == R.NONE:
                passed.append(client_id)
            started.set()
            if reason == R.KILL_SWITCH:
                refused.append(client_id)
                return
            client_id += 1

    thread = threading.Thread(target=trade)
    thread.start()
    started.wait()
    d.switch.engage("race", by="test")
    thread.join()
    cancelled = [o.client_order_id for o in d.cancelled[0]]
    # Every order that passed is cancelled. The order the switch stopped may be listed too:
    # reserved, then seen by the listing, then rolled back when its check saw the flag (a
    # cancel for an order that never left is harmless; a passed order missing is not).
    assert passed and cancelled in (passed, passed + refused)


class _RemovalDuringCopy(np.ndarray):
    """An open-order table whose first copy overlaps a removal: a torn copy, version moved."""

    def copy(self, *args: object) -> np.ndarray:
        table = np.asarray(self).copy()
        if _TORN:
            counters = _TORN.pop()
            counters[G_TABLE_VERSION] += 2
            table[1 * 8 : 2 * 8] = table[0:8]  # the entry being shifted, seen twice
        return table


_TORN: list[np.ndarray] = []


def test_a_snapshot_overlapping_a_removal_is_taken_again() -> None:
    d = Desk()
    assert d.check(order(4096)) is R.NONE  # entry 0 of the table
    state = d.risk.state
    d.risk.state = state._replace(open=state.open.view(_RemovalDuringCopy))
    _TORN.append(state.counters)
    assert [o.client_order_id for o in d.risk.working_orders()] == [4096]
    assert not _TORN  # the torn copy was made, and not used


@pytest.mark.skipif(
    not numba.config.DISABLE_JIT, reason="a compiled kernel has bound its globals already"
)
def test_an_order_inserted_as_the_switch_engages_is_taken_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flag stored between the first check and the insert: the recheck refuses it."""
    d = Desk()
    monkeypatch.setattr(kernels, "fence_seq_cst", d.risk.set_kill_flag)
    assert d.check(order(1)) is R.KILL_SWITCH
    assert d.risk.working_orders() == [] and d.risk.stats().counters["open_entries"] == 0


def test_a_snapshot_that_never_settles_raises() -> None:
    d = Desk()
    d.risk.state.counters[G_TABLE_VERSION] = 1  # a removal forever in progress
    with pytest.raises(RuntimeError, match="changed during every snapshot"):
        d.risk.working_orders()
