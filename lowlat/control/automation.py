"""``Automation``: rules that act on their own when it is safe, and ask an operator when it is not.

Control code. Rules run periodically (a sidecar task, :meth:`Automation.poll`). What a rule
may do depends on the risk of the action:

low risk — done at once, audited
    Isolating a slow *non-critical* ring consumer (it stops gating the producer and reads
    with overwrite semantics, its losses counted), raising alerts, degrading the engine
    while the venue session is down (:class:`VenueGuard`).
high risk — prepared, then carried out only with an operator's approval
    Re-arming the kill switch, resuming a halted instrument, restarting the engine during
    trading. A prepared action waits in the pending list (``GET /actions``) until an
    operator approves it (``POST /actions/<id>/approve`` with ``approved_by`` and
    ``reason``; refused without them) or rejects it (``POST /actions/<id>/reject``). A
    pending action whose cause went away (the kill switch was re-armed by other means, the
    instrument reopened) expires.

Every step of every action — prepared, approved, approval refused, rejected, expired,
executed, failed — is an audit record: kept in memory (:attr:`Automation.audit`) and
journaled as an OPERATOR JSON record (``action``, ``id``, ``status``, ``by``,
``approved_by``, ``reason``, ``params``, ``monotonic_ns``, ``wall_ns``, ``wall_time``).

Alerts go to callbacks (:meth:`Automation.add_alert`): a callable, or
:class:`~lowlat.control.degradation.WebhookAlert` (it posts ``alert.to_dict()``), called
from a dispatcher thread so that a slow endpoint never stalls the rules or the sidecar.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lowlat.core.lifecycle import IllegalTransition, Lifecycle, LifecycleState, Transition

if TYPE_CHECKING:
    from lowlat.control.server import ControlServer
    from lowlat.control.session import Session
    from lowlat.core.ring import RingBus
    from lowlat.risk.breakers import CircuitBreakers
    from lowlat.risk.killswitch import KillSwitch
    from lowlat.venue import InProcessGateway

__all__ = [
    "Action",
    "ActionRisk",
    "ActionStatus",
    "ApprovalRefused",
    "Automation",
    "AutomationAlert",
    "UnknownAction",
    "VenueGuard",
    "feed_gap_alerts",
    "for_session",
    "isolate_slow_consumers",
    "killswitch_rearm",
    "restart",
    "resume_instrument",
]

_log = logging.getLogger(__name__)
_MS = 1_000_000

#: The metric names the session's exporter would serve from :meth:`Automation.metrics`.
METRICS = ("lowlat_automation_actions_total", "lowlat_automation_pending_actions")


class ActionRisk(StrEnum):
    """Whether automation may carry an action out on its own."""

    LOW = "low"  # done at once, audited
    HIGH = "high"  # prepared; carried out only with an operator's approval


class ActionStatus(StrEnum):
    """Where an action stands (its audit records also say ``approved`` and ``refused``)."""

    PENDING = "pending"
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalRefused(ValueError):
    """An approval or rejection without an operator or a reason, or of a decided action."""


class UnknownAction(KeyError):
    """No action with that id, or no executor for that kind."""


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat(timespec="microseconds")


@dataclass
class Action:
    """One action, prepared or done, with who asked, who decided and what came of it."""

    id: int
    kind: str
    risk: ActionRisk
    params: dict[str, Any]
    reason: str
    requested_by: str
    prepared_monotonic_ns: int
    prepared_wall_ns: int
    status: ActionStatus = ActionStatus.PENDING
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_monotonic_ns: int | None = None
    result: Any = None
    error: str | None = None
    key: str | None = field(default=None, repr=False)  # one pending action per key

    @property
    def pending(self) -> bool:
        """Whether it waits for an operator."""
        return self.status is ActionStatus.PENDING

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``GET /actions``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "risk": self.risk.value,
            "params": self.params,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "prepared_monotonic_ns": self.prepared_monotonic_ns,
            "prepared_wall_time": _iso(self.prepared_wall_ns),
            "status": self.status.value,
            "decided_by": self.decided_by,
            "decision_reason": self.decision_reason,
            "decided_monotonic_ns": self.decided_monotonic_ns,
            "result": self.result,
            "error": self.error,
        }


@dataclass(frozen=True)
class AutomationAlert:
    """An alert, as handed to every alert callback (``to_dict`` is what a webhook posts)."""

    kind: str
    message: str
    monotonic_ns: int
    wall_ns: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what a webhook posts)."""
        return {
            "kind": self.kind,
            "message": self.message,
            "now_ns": self.monotonic_ns,
            "wall_time": _iso(self.wall_ns),
            "details": self.details,
        }


Executor = Callable[[Action], Any]
Rule = Callable[[int], object]
AlertCallback = Callable[[AutomationAlert], object]


@dataclass(frozen=True)
class _ActionType:
    kind: str
    risk: ActionRisk
    description: str
    executor: Executor


class Automation:
    """Rules, the actions they take or prepare, operator approvals, alerts and the audit trail.

    Parameters
    ----------
    journal
        Called with every audit record (a dict) — the session journals it as an OPERATOR
        JSON record. A failure is logged; the record stays in :attr:`audit`.
    wall_clock, clock
        Wall-clock and monotonic nanoseconds for the records.
    interval_ns
        How often :meth:`poll` runs the rules.
    alerts
        Alert callbacks (see :meth:`add_alert`).
    """

    def __init__(
        self,
        *,
        journal: Callable[[dict[str, Any]], object] | None = None,
        wall_clock: Callable[[], int] = time.time_ns,
        clock: Callable[[], int] = time.monotonic_ns,
        interval_ns: int = 50 * _MS,
        alerts: Iterable[AlertCallback] = (),
    ) -> None:
        self._journal = journal
        self.wall_clock = wall_clock
        self.clock = clock
        self.interval_ns = interval_ns
        self._types: dict[str, _ActionType] = {}
        self._rules: list[tuple[str, Rule]] = []
        self._actions: dict[int, Action] = {}
        self._next_id = 1
        self._lock = threading.RLock()
        self._next_poll = 0
        self._server: ControlServer | None = None
        self.audit: list[dict[str, Any]] = []
        """Every audit record, oldest first (also journaled)."""
        self.alerts: list[AutomationAlert] = []
        """Every alert raised, oldest first."""
        self.rule_failures = 0
        self.alert_failures = 0
        self.journal_failures = 0
        self._callbacks: list[AlertCallback] = list(alerts)
        self._queue: queue.Queue[AutomationAlert | None] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self.venue_guard: VenueGuard | None = None  # set by :func:`for_session`

    # --- configuration --------------------------------------------------------------------

    def register(
        self, kind: str, executor: Executor, *, risk: ActionRisk | str, description: str
    ) -> None:
        """Let actions of ``kind`` be taken (low risk) or prepared (high risk)."""
        if kind in self._types:
            raise ValueError(f"action kind {kind!r} is already registered")
        self._types[kind] = _ActionType(kind, ActionRisk(risk), description, executor)

    def kinds(self) -> dict[str, dict[str, str]]:
        """Registered action kinds: their risk and what they do."""
        return {
            k: {"risk": t.risk.value, "description": t.description} for k, t in self._types.items()
        }

    def add_rule(self, name: str, rule: Rule) -> None:
        """Run ``rule(now_ns)`` on every :meth:`poll` (a rule that raises is logged, counted)."""
        self._rules.append((name, rule))

    def add_alert(self, callback: AlertCallback) -> None:
        """Hand every alert to ``callback`` (in the dispatcher thread; failures counted)."""
        self._callbacks.append(callback)

    # --- running --------------------------------------------------------------------------

    def poll(self, now_ns: int | None = None) -> None:
        """Run every rule if ``interval_ns`` has passed since the last run (a sidecar task)."""
        now = self.clock() if now_ns is None else now_ns
        if now < self._next_poll or self._closed:
            return
        self._next_poll = now + self.interval_ns
        for name, rule in self._rules:
            try:
                rule(now)
            except Exception:
                self.rule_failures += 1
                _log.exception("automation rule %s failed", name)

    def close(self) -> None:
        """Stop running rules and journaling (the journal is closing); alerts drain."""
        self._closed = True
        if self._dispatcher is not None:
            self._queue.put(None)
            self._dispatcher.join(2.0)
            self._dispatcher = None

    # --- actions --------------------------------------------------------------------------

    def _type(self, kind: str) -> _ActionType:
        try:
            return self._types[kind]
        except KeyError:
            raise UnknownAction(
                f"unknown action kind {kind!r}; known: {', '.join(sorted(self._types))}"
            ) from None

    def _new(
        self, kind: str, params: dict[str, Any] | None, reason: str, by: str, key: str | None
    ) -> Action:
        kind_type = self._type(kind)
        action = Action(
            id=self._next_id,
            kind=kind,
            risk=kind_type.risk,
            params=dict(params or {}),
            reason=reason,
            requested_by=by,
            prepared_monotonic_ns=int(self.clock()),
            prepared_wall_ns=int(self.wall_clock()),
            key=key,
        )
        self._next_id += 1
        self._actions[action.id] = action
        return action

    def pending_for(self, key: str) -> Action | None:
        """The pending action prepared under ``key``, if any."""
        with self._lock:
            return next((a for a in self._actions.values() if a.pending and a.key == key), None)

    def prepare(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        reason: str,
        requested_by: str = "automation",
        key: str | None = None,
    ) -> Action:
        """Put an action in the pending list for an operator's approval; audit it.

        With ``key``, an action already pending under the same key is returned instead.
        """
        if not reason or not str(reason).strip():
            raise ValueError("preparing an action needs a reason")
        if not requested_by or not str(requested_by).strip():
            raise ValueError("preparing an action needs a requester (requested_by)")
        with self._lock:
            if key is not None and (existing := self.pending_for(key)) is not None:
                return existing
            action = self._new(kind, params, reason, requested_by, key)
            self._record(action, "prepared", by=requested_by, reason=reason)
            self._add_routes(action)
        self.alert(
            "approval-needed",
            f"{action.kind} #{action.id} waits for an operator's approval: {reason}",
            action=action.to_dict(),
        )
        return action

    def run(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        reason: str,
        by: str = "automation",
    ) -> Action:
        """Carry out a low-risk action at once; audit it (executed or failed).

        Raises
        ------
        ApprovalRefused
            If ``kind`` is high risk: those are only prepared (:meth:`prepare`).
        """
        with self._lock:
            kind_type = self._type(kind)
            if kind_type.risk is not ActionRisk.LOW:
                raise ApprovalRefused(
                    f"{kind} is a high-risk action: prepare it for an operator's approval"
                )
            action = self._new(kind, params, reason, by, None)
            action.decided_by = by
            action.decision_reason = reason
            action.decided_monotonic_ns = int(self.clock())
            self._execute(action, by=by)
        return action

    def approve(self, action_id: int, approved_by: str, reason: str) -> Action:
        """Carry out a pending action with an operator's approval; audit both steps.

        Raises
        ------
        UnknownAction
            For an unknown id.
        ApprovalRefused
            Without ``approved_by`` or ``reason`` (audited as refused), or if the action is
            not pending. The action stays as it was.
        """
        with self._lock:
            action = self.get(action_id)
            self._decidable(action, approved_by, reason, "approving")
            action.decided_by = approved_by
            action.decision_reason = reason
            action.decided_monotonic_ns = int(self.clock())
            self._record(action, "approved", by=approved_by, reason=reason)
            self._execute(action, by=approved_by)
            return action

    def reject(self, action_id: int, rejected_by: str, reason: str) -> Action:
        """Drop a pending action on an operator's word; audit it (same checks as approve)."""
        with self._lock:
            action = self.get(action_id)
            self._decidable(action, rejected_by, reason, "rejecting")
            action.status = ActionStatus.REJECTED
            action.decided_by = rejected_by
            action.decision_reason = reason
            action.decided_monotonic_ns = int(self.clock())
            self._record(action, "rejected", by=rejected_by, reason=reason)
            return action

    def expire(self, action: Action, reason: str) -> None:
        """Close a pending action whose cause went away; audit it."""
        with self._lock:
            if not action.pending:
                return
            action.status = ActionStatus.EXPIRED
            action.decided_by = "automation"
            action.decision_reason = reason
            action.decided_monotonic_ns = int(self.clock())
            self._record(action, "expired", by="automation", reason=reason)

    def _decidable(self, action: Action, who: str, reason: str, verb: str) -> None:
        problem = None
        if not isinstance(who, str) or not who.strip():
            problem = f"{verb} {action.kind} #{action.id} needs an operator (approved_by)"
        elif not isinstance(reason, str) or not reason.strip():
            problem = f"{verb} {action.kind} #{action.id} needs a reason"
        elif not action.pending:
            problem = f"{action.kind} #{action.id} is not pending: it was {action.status.value}"
        if problem is not None:
            self._record(
                action,
                "refused",
                by=who if isinstance(who, str) else "",
                reason=reason if isinstance(reason, str) else "",
                error=problem,
            )
            raise ApprovalRefused(problem)

    def _execute(self, action: Action, *, by: str) -> None:
        executor = self._types[action.kind].executor
        try:
            result = executor(action)
        except Exception as error:
            action.status = ActionStatus.FAILED
            # an executor's own refusal (RuntimeError) reads as is; anything else is a bug
            plain = type(error) is RuntimeError and str(error)
            action.error = str(error) if plain else f"{type(error).__name__}: {error}"
            self._record(action, "failed", by=by, reason=action.decision_reason or "")
            return
        action.status = ActionStatus.EXECUTED
        action.result = result
        self._record(action, "executed", by=by, reason=action.decision_reason or "")

    def get(self, action_id: int | str) -> Action:
        """The action with id ``action_id``.

        Raises
        ------
        UnknownAction
            If there is none.
        """
        try:
            key = int(action_id)
        except (TypeError, ValueError):
            raise UnknownAction(f"action ids are integers, got {action_id!r}") from None
        with self._lock:
            if key not in self._actions:
                raise UnknownAction(f"no action #{key}")
            return self._actions[key]

    def actions(self) -> list[Action]:
        """Every action, oldest first."""
        with self._lock:
            return list(self._actions.values())

    def pending(self) -> list[Action]:
        """Actions waiting for an operator, oldest first."""
        return [a for a in self.actions() if a.pending]

    # --- audit and alerts -----------------------------------------------------------------

    def _record(
        self, action: Action, status: str, *, by: str, reason: str, error: str | None = None
    ) -> dict[str, Any]:
        wall = int(self.wall_clock())
        record = {
            "action": action.kind,
            "id": action.id,
            "status": status,
            "risk": action.risk.value,
            "by": by,
            "approved_by": action.decided_by if status in ("approved", "executed") else None,
            "requested_by": action.requested_by,
            "reason": reason,
            "params": action.params,
            "monotonic_ns": int(self.clock()),
            "wall_ns": wall,
            "wall_time": _iso(wall),
        }
        if status == "executed":
            record["result"] = action.result
        if status == "failed" or error is not None:
            record["error"] = error or action.error
        self.audit.append(record)
        if self._journal is not None and not self._closed:
            try:
                self._journal(record)
            except Exception:
                self.journal_failures += 1
                _log.exception("could not journal the audit record of %s", action.kind)
        return record

    def alert(self, kind: str, message: str, **details: Any) -> AutomationAlert:
        """Raise an alert: kept, and handed to every alert callback (asynchronously)."""
        alert = AutomationAlert(kind, message, int(self.clock()), int(self.wall_clock()), details)
        with self._lock:
            self.alerts.append(alert)
            if self._callbacks and not self._closed:
                if self._dispatcher is None:
                    self._dispatcher = threading.Thread(
                        target=self._dispatch, name="lowlat-automation-alerts", daemon=True
                    )
                    self._dispatcher.start()
                self._queue.put(alert)
        return alert

    def _dispatch(self) -> None:
        while (alert := self._queue.get()) is not None:
            for callback in list(self._callbacks):
                try:
                    callback(alert)
                except Exception:
                    self.alert_failures += 1
                    _log.exception("alert callback %r failed for %s", callback, alert.kind)

    # --- reading --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts by status, the pending actions, recent alerts (for ``/status``)."""
        actions = self.actions()
        counts: dict[str, int] = {}
        for action in actions:
            counts[action.status.value] = counts.get(action.status.value, 0) + 1
        return {
            "actions": counts,
            "pending": [a.to_dict() for a in actions if a.pending],
            "audit_records": len(self.audit),
            "alerts": len(self.alerts),
            "last_alert": self.alerts[-1].to_dict() if self.alerts else None,
            "rule_failures": self.rule_failures,
        }

    def metrics(self) -> dict[str, dict[tuple[str, str], float] | float]:
        """Values for the exporter: actions by (kind, status), and pending actions."""
        counts: dict[tuple[str, str], float] = {}
        for action in self.actions():
            k = (action.kind, action.status.value)
            counts[k] = counts.get(k, 0.0) + 1.0
        return {
            "lowlat_automation_actions_total": counts,
            "lowlat_automation_pending_actions": float(len(self.pending())),
        }

    # --- HTTP -----------------------------------------------------------------------------

    def install_routes(self, server: ControlServer) -> None:
        """Serve ``GET /actions``, ``POST /actions`` (prepare) and, per action, approve/reject."""
        from lowlat.control.server import RouteError

        self._server = server

        def listing(_body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            actions = self.actions()
            return 200, {
                "pending": [a.to_dict() for a in actions if a.pending],
                "done": [a.to_dict() for a in actions if not a.pending],
                "kinds": self.kinds(),
                "audit": self.audit[-200:],
            }

        def prepare(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            kind = body.get("kind")
            if not isinstance(kind, str) or kind not in self._types:
                raise RouteError(
                    400, f"'kind' must be one of {', '.join(sorted(self._types))}, got {kind!r}"
                )
            params = body.get("params") or {}
            if not isinstance(params, dict):
                raise RouteError(400, "'params' must be a JSON object")
            for name in ("requested_by", "reason"):
                if not isinstance(body.get(name), str) or not body[name].strip():
                    raise RouteError(400, f"the JSON body needs a non-empty string {name!r}")
            action = self.prepare(
                kind, params, reason=body["reason"], requested_by=body["requested_by"]
            )
            return 201, {"ok": True, "action": action.to_dict()}

        server.add_route("GET", "/actions", listing)
        server.add_route("POST", "/actions", prepare)
        with self._lock:
            for action in self._actions.values():
                if action.pending:
                    self._add_routes(action)

    def _add_routes(self, action: Action) -> None:
        server = self._server
        if server is None:
            return

        def decide(approve: bool) -> Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]:
            def handler(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                who = body.get("approved_by") if approve else body.get("rejected_by")
                if not approve and who is None:
                    who = body.get("by", body.get("approved_by"))
                reason = body.get("reason")
                try:
                    if approve:
                        done = self.approve(action.id, who or "", reason or "")
                    else:
                        done = self.reject(action.id, who or "", reason or "")
                except ApprovalRefused as error:
                    return 409, {"ok": False, "error": str(error), "action": action.to_dict()}
                ok = done.status is not ActionStatus.FAILED
                reply = {"ok": ok, "action": done.to_dict()}
                if not ok:
                    reply["error"] = done.error
                return (200 if ok else 409), reply

            return handler

        for verb, approve in (("approve", True), ("reject", False)):
            with contextlib.suppress(ValueError):  # already served (routes re-installed)
                server.add_route("POST", f"/actions/{action.id}/{verb}", decide(approve))


# --- the session's rules ----------------------------------------------------------------------


class VenueGuard:
    """Keeps the engine DEGRADED while the venue session is down; restores it on reconnect.

    A controller (run by the automation). It moves READY → DEGRADED when the gateway
    reports no session, and DEGRADED → READY once the session is back — only if it made
    the DEGRADED move itself and nothing moved the lifecycle since (like the system
    breaker, it never takes the engine out of a state another controller chose).
    """

    def __init__(self, venue: InProcessGateway, lifecycle: Lifecycle) -> None:
        self.venue = venue
        self.lifecycle = lifecycle
        self._own: Transition | None = None
        self.transitions: list[Transition] = []

    def __call__(self, _now_ns: int = 0) -> Transition | None:
        """Judge the venue session once; return the transition made, if any."""
        state = self.lifecycle.state
        try:
            if not self.venue.connected:
                if state is LifecycleState.READY:
                    self._own = self.lifecycle.transition(
                        LifecycleState.DEGRADED,
                        f"venue session down (disconnects {self.venue.disconnects}): "
                        "no orders can reach the venue",
                    )
                    self.transitions.append(self._own)
                    return self._own
                return None
            own, self._own = self._own, None
            if (
                own is not None
                and state is LifecycleState.DEGRADED
                and self.lifecycle.history[-1] is own
            ):
                moved = self.lifecycle.transition(LifecycleState.READY, "venue session restored")
                self.transitions.append(moved)
                return moved
        except IllegalTransition as error:  # another controller moved the engine meanwhile
            _log.warning("venue guard could not move the lifecycle: %s", error)
        return None


def isolate_slow_consumers(
    automation: Automation, name: str, bus: RingBus, critical: Iterable[int]
) -> Rule:
    """A rule: detach every non-critical consumer of ``bus`` at or over its lag limit.

    Isolation is low risk — the consumer loses records (counted), the producer and the
    critical consumers never wait for it — so it is done at once and audited. Critical
    consumers are never isolated: their lag degrades the engine (the system breaker).
    """
    from lowlat.core.ring.layout import ConsumerState

    keep = frozenset(critical)

    def rule(_now: int) -> None:
        bus.scan_slow_consumers()
        for consumer in bus.consumers():
            if consumer in keep:
                continue
            stats = bus.consumer_stats(consumer)
            if stats.state is not ConsumerState.ACTIVE:
                continue
            if stats.slow or stats.lag >= stats.lag_limit:
                automation.run(
                    "isolate-consumer",
                    {"ring": name, "consumer": consumer},
                    reason=f"consumer {consumer} of ring {name} is slow: lag {stats.lag} ≥ "
                    f"limit {stats.lag_limit}",
                )

    def execute(action: Action) -> dict[str, Any]:
        consumer = int(action.params["consumer"])
        lag = bus.lag(consumer)
        detached = bus.detach(consumer)
        automation.alert(
            "consumer-isolated",
            f"slow consumer {consumer} of ring {name} isolated at lag {lag}",
            ring=name,
            consumer=consumer,
            lag=lag,
        )
        return {"ring": name, "consumer": consumer, "detached": detached, "lag": lag}

    automation.register(
        "isolate-consumer",
        execute,
        risk=ActionRisk.LOW,
        description="detach a slow non-critical ring consumer: it stops gating the producer "
        "and reads with overwrite semantics (its losses counted)",
    )
    return rule


def for_session(session: Session) -> Automation:
    """The session's automation: its action kinds, rules, alerts and HTTP routes.

    Low risk, at once: isolating slow non-critical feed-ring consumers; degrading the
    engine while the venue session is down (:class:`VenueGuard`); alerts on feed gaps,
    clock steps, degradation and actions that need approval. High risk, prepared: re-arming
    the kill switch once it is engaged, resuming an instrument its breaker halted,
    restarting the engine if its thread or the feed died (or on an operator's request).
    """
    from lowlat.journal import RecordType

    def journal(record: dict[str, Any]) -> None:
        session.journal.append_json(RecordType.OPERATOR, record, mono_ns=record["monotonic_ns"])

    automation = Automation(journal=journal, wall_clock=session.wall_clock)
    automation.add_rule(
        "isolate-slow-consumers",
        isolate_slow_consumers(automation, "feed", session.feed_ring, [session.consumer]),
    )
    automation.venue_guard = VenueGuard(session.venue, session.lifecycle)
    automation.add_rule("venue-session", automation.venue_guard)
    killswitch_rearm(automation, session.kill_switch, session.lifecycle)
    resume_instrument(automation, session.pipeline.breakers)
    restart(automation, session)
    feed_gap_alerts(automation, session)
    session.timesync.add_listener(
        lambda event: automation.alert(event.kind, event.message, **event.to_dict())
    )
    session.degradation.add_alert(
        lambda alert: automation.alert(f"degradation-{alert.kind.value}", alert.message)
    )
    automation.install_routes(session.server)
    return automation


def killswitch_rearm(automation: Automation, switch: KillSwitch, lifecycle: Lifecycle) -> None:
    """Register ``killswitch-rearm`` (high risk) and the rule that prepares it.

    While the switch is engaged and the engine HALTED, one re-arm waits for approval; it
    expires once the switch is re-armed by other means (``lowlat killswitch rearm``).
    Approving it re-arms with the approver and reason recorded by the kill switch too.
    """
    from lowlat.risk.killswitch import operator_rearm

    def execute(action: Action) -> dict[str, Any]:
        result = operator_rearm(
            switch,
            approved_by=action.decided_by or "",
            reason=action.decision_reason or "",
            target=str(action.params.get("target", "READY")),
        )
        if not result["ok"]:
            raise RuntimeError(result["error"])
        return {"lifecycle": result["status"]["lifecycle"], "event": result["event"]}

    automation.register(
        "killswitch-rearm",
        execute,
        risk=ActionRisk.HIGH,
        description="leave HALTED and clear the kill-switch flag (params: target READY|WARMUP)",
    )

    def rule(_now: int) -> None:
        pending = automation.pending_for("killswitch-rearm")
        halted = lifecycle.state is LifecycleState.HALTED
        if switch.engaged and halted:
            if pending is None:
                history = switch.history
                cause = history[-1].reason if history else "kill switch engaged"
                automation.prepare(
                    "killswitch-rearm",
                    {"target": "READY"},
                    reason=f"kill switch engaged ({cause}); re-arm once the cause is fixed",
                    key="killswitch-rearm",
                )
        elif pending is not None:
            automation.expire(pending, "the kill switch is no longer engaged")

    automation.add_rule("prepare-killswitch-rearm", rule)


def resume_instrument(automation: Automation, breakers: CircuitBreakers) -> None:
    """Register ``resume-instrument`` (high risk) and the rule that prepares it.

    One resume per instrument its breaker HALTED waits for approval; it expires when the
    breaker reopens the instrument. The breakers have no operator override: approving
    records the decision and fails while the breaker still halts the instrument.
    """
    from lowlat.risk.breakers.records import InstrumentState

    def execute(action: Action) -> dict[str, Any]:
        instrument = int(action.params["instrument"])
        state = breakers.state_of(instrument)
        if state is InstrumentState.HALTED:
            raise RuntimeError(
                f"instrument {instrument} is still HALTED by its breaker: the breaker reopens "
                "it after its cooldown (it has no operator override); approval recorded"
            )
        return {"instrument": instrument, "state": state.name, "note": "reopened by its breaker"}

    automation.register(
        "resume-instrument",
        execute,
        risk=ActionRisk.HIGH,
        description="resume trading an instrument its circuit breaker halted (params: instrument)",
    )

    def rule(_now: int) -> None:
        states = breakers.states()
        for instrument, state in states.items():
            key = f"resume-instrument:{instrument}"
            pending = automation.pending_for(key)
            if state is InstrumentState.HALTED and pending is None:
                automation.prepare(
                    "resume-instrument",
                    {"instrument": int(instrument)},
                    reason=f"instrument {instrument} halted by its circuit breaker",
                    key=key,
                )
            elif state is not InstrumentState.HALTED and pending is not None:
                automation.expire(pending, f"instrument {instrument} reopened ({state.name})")

    automation.add_rule("prepare-resume-instrument", rule)


def restart(automation: Automation, session: Session) -> None:
    """Register ``restart`` (high risk) and the rule that prepares it.

    Prepared when the engine thread or the feed died while the session runs (or by an
    operator: ``POST /actions``); approving it ends the session cleanly, for its
    supervisor to start ``lowlat run --journal DIR`` again, which recovers and continues.
    """

    def execute(action: Action) -> dict[str, Any]:
        session.stop()
        return {
            "stopping": True,
            "journal": str(session.journal_dir),
            "next": f"start `lowlat run --journal {session.journal_dir}` to recover and "
            "continue (the supervisor's job)",
        }

    automation.register(
        "restart",
        execute,
        risk=ActionRisk.HIGH,
        description="end the session cleanly during trading, for a restart on the same journal",
    )

    def rule(_now: int) -> None:
        feed = session.feed
        if feed is None or session._stopping or automation.pending_for("restart"):
            return
        problem = None
        if feed.error is not None:
            problem = f"the feed thread failed: {feed.error!r}"
        elif not feed.done.is_set() and not session.loop.running:
            problem = "the engine thread is not running while the feed publishes"
        if problem is not None:
            automation.prepare("restart", {}, reason=problem, key="restart")

    automation.add_rule("prepare-restart", rule)


def feed_gap_alerts(automation: Automation, session: Session) -> None:
    """A rule: alert when the session's feed counts new sequence gaps."""
    seen = [0]

    def rule(_now: int) -> None:
        feed = session.feed
        if feed is None or feed.gaps <= seen[0]:
            return
        new = feed.gaps - seen[0]
        seen[0] = feed.gaps
        automation.alert(
            "feed-gap",
            f"{new} market-data sequence gap(s); {feed.gap_messages} messages missing in all",
            gaps=feed.gaps,
            gap_messages=feed.gap_messages,
        )

    automation.add_rule("feed-gap-alerts", rule)
