"""Automation: low-risk actions at once, high-risk ones only when approved, all of it audited."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lowlat.control.automation import (
    ActionStatus,
    ApprovalRefused,
    Automation,
    UnknownAction,
    VenueGuard,
    isolate_slow_consumers,
    killswitch_rearm,
)
from lowlat.control.degradation import WebhookAlert
from lowlat.control.server import ControlServer
from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import RingBus
from lowlat.core.ring.layout import ConsumerState
from lowlat.journal import Journal, JournalReader, RecordType
from lowlat.risk import KillSwitch, PreTradeRisk
from tests.control._support import get, post


def _journaled(directory: Path) -> list[dict]:
    return [
        batch.json(row)
        for batch in JournalReader(directory)
        for row in range(len(batch))
        if batch.types[row] == RecordType.OPERATOR
    ]


@pytest.fixture
def journal(tmp_path: Path):
    journal = Journal(tmp_path / "journal")
    yield journal
    journal.close()


def _automation(journal: Journal | None = None, **kwargs) -> Automation:
    def write(record: dict) -> None:
        journal.append_json(RecordType.OPERATOR, record, mono_ns=record["monotonic_ns"])

    return Automation(journal=None if journal is None else write, **kwargs)


def test_a_high_risk_action_waits_for_an_approver_and_every_step_is_journaled(
    journal: Journal, tmp_path: Path
) -> None:
    done: list[int] = []
    automation = _automation(journal, wall_clock=lambda: 1_700_000_000 * 10**9)
    automation.register(
        "restart", lambda action: done.append(action.id) or {"ok": 1}, risk="high", description="x"
    )
    action = automation.prepare("restart", {"why": "drill"}, reason="engine thread died")
    assert action.pending and automation.pending() == [action] and done == []
    with pytest.raises(ApprovalRefused, match="needs an operator"):
        automation.approve(action.id, "", "looks fine")
    with pytest.raises(ApprovalRefused, match="needs a reason"):
        automation.approve(action.id, "ops", "  ")
    assert action.pending and done == []
    approved = automation.approve(action.id, "ops", "drill done")
    assert approved.status is ActionStatus.EXECUTED and done == [action.id]
    assert approved.decided_by == "ops" and approved.result == {"ok": 1}
    with pytest.raises(ApprovalRefused, match="not pending"):
        automation.approve(action.id, "ops", "again")
    with pytest.raises(UnknownAction):
        automation.approve(99, "ops", "nothing")
    statuses = ["prepared", "refused", "refused", "approved", "executed", "refused"]
    assert [r["status"] for r in automation.audit] == statuses
    journal.flush()
    records = _journaled(tmp_path / "journal")
    assert [r["status"] for r in records] == statuses
    for record in records:
        assert record["action"] == "restart" and record["id"] == action.id
        assert record["monotonic_ns"] > 0 and record["wall_time"].startswith("2023-11-14")
    assert records[1]["error"].endswith("needs an operator (approved_by)")
    assert records[3]["approved_by"] == records[4]["approved_by"] == "ops"
    assert records[4]["result"] == {"ok": 1}


def test_low_risk_runs_at_once_high_risk_cannot_and_failures_and_rejections_are_audited() -> None:
    automation = _automation()
    automation.register("isolate", lambda a: "done", risk="low", description="low")
    automation.register("resume", lambda a: 1 / 0, risk="high", description="high")
    ran = automation.run("isolate", {"consumer": 3}, reason="slow")
    assert ran.status is ActionStatus.EXECUTED and ran.result == "done"
    with pytest.raises(ApprovalRefused, match="high-risk"):
        automation.run("resume", reason="no")
    failing = automation.prepare("resume", reason="halted", key="resume:1")
    assert automation.prepare("resume", reason="again", key="resume:1") is failing
    assert automation.approve(failing.id, "ops", "try").status is ActionStatus.FAILED
    assert "ZeroDivisionError" in failing.error
    dropped = automation.prepare("resume", reason="halted", key="resume:1")
    with pytest.raises(ApprovalRefused, match="needs an operator"):
        automation.reject(dropped.id, "", "no")
    assert automation.reject(dropped.id, "risk-desk", "not today").status is ActionStatus.REJECTED
    expiring = automation.prepare("resume", reason="halted", key="resume:1")
    automation.expire(expiring, "reopened")
    assert expiring.status is ActionStatus.EXPIRED
    assert [(r["action"], r["status"]) for r in automation.audit] == [
        ("isolate", "executed"),
        ("resume", "prepared"),
        ("resume", "approved"),
        ("resume", "failed"),
        ("resume", "prepared"),
        ("resume", "refused"),
        ("resume", "rejected"),
        ("resume", "prepared"),
        ("resume", "expired"),
    ]
    summary = automation.summary()
    assert summary["actions"] == {"executed": 1, "failed": 1, "rejected": 1, "expired": 1}
    assert automation.metrics()["lowlat_automation_pending_actions"] == 0.0
    with pytest.raises(UnknownAction, match="unknown action kind"):
        automation.prepare("nope", reason="x")


def test_http_routes_list_prepare_refuse_approve_and_reject() -> None:
    automation = _automation()
    automation.register("restart", lambda a: "stopping", risk="high", description="restart")
    with ControlServer(port=0) as server:
        automation.install_routes(server)
        base = server.url
        status, reply = post(base + "/actions", {"kind": "restart", "reason": "drill"})
        assert status == 400 and "requested_by" in reply["error"]
        status, reply = post(
            base + "/actions", {"kind": "restart", "requested_by": "ana", "reason": "drill"}
        )
        assert status == 201
        action_id = reply["action"]["id"]
        listing = json.loads(get(base + "/actions")[1])
        assert [a["id"] for a in listing["pending"]] == [action_id]
        assert listing["kinds"]["restart"]["risk"] == "high"
        status, reply = post(f"{base}/actions/{action_id}/approve", {"reason": "no approver"})
        assert status == 409 and not reply["ok"] and "approved_by" in reply["error"]
        status, reply = post(
            f"{base}/actions/{action_id}/approve", {"approved_by": "bo", "reason": "four eyes"}
        )
        assert status == 200 and reply["action"]["status"] == "executed"
        assert reply["action"]["result"] == "stopping"
        status, reply = post(f"{base}/actions/{action_id}/reject", {"by": "bo", "reason": "late"})
        assert status == 409 and "not pending" in reply["error"]
        second = automation.prepare("restart", reason="again", requested_by="ana")
        status, reply = post(
            f"{base}/actions/{second.id}/reject", {"rejected_by": "bo", "reason": "no"}
        )
        assert status == 200 and reply["action"]["status"] == "rejected"
        status, _ = post(base + "/actions/77/approve", {"approved_by": "bo", "reason": "x"})
        assert status == 404
        listing = json.loads(get(base + "/actions")[1])
        assert listing["pending"] == [] and len(listing["done"]) == 2
        assert [r["status"] for r in listing["audit"]][-1] == "rejected"


def test_alerts_reach_a_callable_and_a_webhook_without_blocking_the_rules() -> None:
    received: list[dict] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    heard = []
    try:
        automation = _automation(alerts=[heard.append])
        automation.add_alert(WebhookAlert(f"http://127.0.0.1:{hook.server_address[1]}/alert"))
        automation.alert("feed-gap", "2 gaps", gaps=2)
        assert arrived.wait(5)
    finally:
        automation.close()
        hook.shutdown()
        hook.server_close()
    assert heard[0].kind == "feed-gap"
    assert received == [
        {
            "kind": "feed-gap",
            "message": "2 gaps",
            "now_ns": heard[0].monotonic_ns,
            "wall_time": heard[0].to_dict()["wall_time"],
            "details": {"gaps": 2},
        }
    ]


def test_a_slow_non_critical_consumer_is_isolated_at_once_and_the_critical_one_never() -> None:
    bus = RingBus(64)
    critical = bus.add_consumer("lossless", lag_limit=8)
    slow = bus.add_consumer("lossless", lag_limit=8)
    automation = _automation()
    rule = isolate_slow_consumers(automation, "feed", bus, [critical])
    automation.add_rule("isolate", rule)
    record = np.zeros(1, MARKET_EVENT_DTYPE)
    for _ in range(7):
        bus.publish(record)
    automation.poll(0)
    assert automation.actions() == []
    for _ in range(3):
        bus.publish(record)
    automation.poll(10**12)
    (action,) = automation.actions()
    assert action.kind == "isolate-consumer" and action.status is ActionStatus.EXECUTED
    assert action.params == {"ring": "feed", "consumer": slow}
    assert action.result["detached"] and action.result["lag"] == 10
    assert bus.consumer_stats(slow).state is ConsumerState.DETACHED
    assert bus.consumer_stats(critical).state is ConsumerState.ACTIVE
    assert automation.alerts[-1].kind == "consumer-isolated"
    automation.poll(2 * 10**12)
    assert len(automation.actions()) == 1  # detached: not isolated twice


def test_the_venue_guard_degrades_while_the_session_is_down_and_restores_only_its_own() -> None:
    life = Lifecycle()
    life.transition(LifecycleState.WARMUP, "test")
    life.transition(LifecycleState.READY, "test")
    venue = SimpleNamespace(connected=True, disconnects=0)
    guard = VenueGuard(venue, life)
    assert guard() is None
    venue.connected, venue.disconnects = False, 1
    assert guard().target is LifecycleState.DEGRADED
    assert guard() is None and life.state is LifecycleState.DEGRADED
    venue.connected = True
    assert guard().target is LifecycleState.READY
    venue.connected = False
    guard()
    life.transition(LifecycleState.HALTED, "kill switch")
    venue.connected = True
    assert guard() is None and life.state is LifecycleState.HALTED  # not its state to leave


def test_the_kill_switch_rearm_is_prepared_on_engagement_and_needs_an_approver() -> None:
    life = Lifecycle()
    life.transition(LifecycleState.WARMUP, "test")
    life.transition(LifecycleState.READY, "test")
    switch = KillSwitch(life, PreTradeRisk(lifecycle=life), lambda orders: None)
    automation = _automation()
    killswitch_rearm(automation, switch, life)
    automation.poll(1)
    assert automation.actions() == []
    switch.engage("drawdown drill", "test")
    automation.poll(10**12)
    automation.poll(2 * 10**12)  # one pending re-arm per engagement
    (action,) = automation.pending()
    assert action.kind == "killswitch-rearm" and "drawdown drill" in action.reason
    with pytest.raises(ApprovalRefused):
        automation.approve(action.id, "", "")
    assert life.state is LifecycleState.HALTED and switch.engaged
    assert automation.approve(action.id, "ops", "cause fixed").status is ActionStatus.EXECUTED
    assert life.state is LifecycleState.READY and not switch.engaged
    assert life.history[-1].approved_by == "ops"
    assert switch.history[-1].action == "rearm" and switch.history[-1].by == "ops"
    switch.engage("second drill", "test")
    automation.poll(3 * 10**12)
    (second,) = automation.pending()
    switch.rearm("ops", "re-armed by hand")
    automation.poll(4 * 10**12)
    assert second.status is ActionStatus.EXPIRED


def test_a_rule_that_raises_is_counted_and_the_others_still_run() -> None:
    automation = _automation(interval_ns=100)
    calls = []
    automation.add_rule("bad", lambda now: 1 / 0)
    automation.add_rule("good", calls.append)
    automation.poll(1_000)
    automation.poll(1_050)  # within the interval: skipped
    automation.poll(1_200)
    assert calls == [1_000, 1_200] and automation.rule_failures == 2
    time.sleep(0)  # nothing left running: no dispatcher was needed
    automation.close()
