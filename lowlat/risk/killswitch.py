"""The kill switch: cancel everything, HALT, refuse new risk until an operator re-arms it.

Control code. :meth:`KillSwitch.engage` sets the flag the risk kernels read (one release
store), moves the lifecycle to HALTED, hands every working order of the risk state to the
cancel callback and records the event. A drawdown breach sets the same flag from the hot
path; :meth:`KillSwitch.poll` (called by the control loop) completes such an engagement.
:meth:`KillSwitch.rearm` needs a named approver: it moves the lifecycle out of HALTED
with that approval, then clears the flag, and records who and why. Refused attempts are
recorded too.

:func:`operator_engage`, :func:`operator_rearm` and :func:`operator_status` are what the
CLI and the HTTP endpoint call: JSON-able results, a refusal reported rather than raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lowlat.core.clock import monotonic_ns
from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.risk.risk import KillCause, PreTradeRisk, WorkingOrder

__all__ = [
    "KillSwitch",
    "KillSwitchEvent",
    "RearmRefused",
    "operator_engage",
    "operator_rearm",
    "operator_status",
]

ENGAGE = "engage"
REARM = "rearm"
REARM_REFUSED = "rearm refused"
_STOPPED_OR_HALTED = (LifecycleState.HALTED, LifecycleState.STOPPED)
_REARM_TARGETS = ("READY", "WARMUP")


class RearmRefused(ValueError):
    """Re-arming without an approver or a reason, or with nothing to re-arm."""


@dataclass(frozen=True)
class KillSwitchEvent:
    """One entry of the kill switch's history."""

    action: str  # "engage", "rearm" or "rearm refused"
    monotonic_ns: int
    wall_time: str  # ISO 8601, UTC
    by: str  # who engaged, approved, or tried to
    reason: str
    lifecycle: LifecycleState  # state after the event
    cancelled: tuple[int, ...] = ()  # client order ids handed to the cancel callback
    error: str | None = None  # why a re-arm was refused, or the cancel callback's failure

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["lifecycle"] = self.lifecycle.name
        out["cancelled"] = list(self.cancelled)
        return out


class KillSwitch:
    """Engages and re-arms the kill switch of one risk engine and lifecycle.

    Parameters
    ----------
    lifecycle
        The lifecycle to HALT.
    risk
        The risk engine whose flag refuses risk-increasing orders and whose open-order
        table lists the working orders.
    cancel
        Called with every working order when the switch engages; it sends the cancels.
    clock, wall_clock
        Monotonic and wall-clock nanoseconds for the history.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        risk: PreTradeRisk,
        cancel: Callable[[list[WorkingOrder]], None],
        *,
        clock: Callable[[], int] = monotonic_ns,
        wall_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.lifecycle = lifecycle
        self.risk = risk
        self._cancel = cancel
        self._clock = clock
        self._wall_clock = wall_clock
        self._events: list[KillSwitchEvent] = []
        self._handled = False  # the last engagement has been carried out (HALT, cancels)
        self._lock = threading.Lock()

    @property
    def engaged(self) -> bool:
        """Whether the flag is set (risk-increasing orders are refused)."""
        return self.risk.kill_flag().engaged

    @property
    def history(self) -> list[KillSwitchEvent]:
        """Every event so far, oldest first."""
        with self._lock:
            return list(self._events)

    def engage(self, reason: str, by: str) -> KillSwitchEvent:
        """Set the flag, HALT, cancel every working order and record it; safe to repeat.

        Raises
        ------
        Exception
            Whatever the cancel callback raised, after the event (with the error) is
            recorded; the flag and HALTED stay.
        """
        with self._lock:
            self.risk.set_kill_flag()
            return self._carry_out(reason or "no reason given", by or "unknown")

    def poll(self) -> KillSwitchEvent | None:
        """Carry out an engagement the hot path requested (drawdown breach); None if none."""
        with self._lock:
            flag = self.risk.kill_flag()
            if not flag.engaged or self._handled:
                return None
            if flag.cause is KillCause.DRAWDOWN:
                reason = f"drawdown limit breached by account {flag.account}"
            else:
                reason = f"kill-switch flag set ({flag.cause.name.lower()})"
            return self._carry_out(reason, "risk")

    def rearm(
        self,
        approved_by: str,
        reason: str,
        *,
        target: LifecycleState | str = LifecycleState.READY,
    ) -> KillSwitchEvent:
        """Leave HALTED for ``target`` with ``approved_by``'s approval, then clear the flag.

        Raises
        ------
        RearmRefused
            Without an approver or a reason, for a target other than READY or WARMUP,
            when neither the flag nor HALTED is set, or when the lifecycle is STOPPED
            (recorded as a refused attempt). The flag stays set.
        """
        with self._lock:
            state = self.lifecycle.state
            problem = None
            if str(getattr(target, "name", target)).upper() not in _REARM_TARGETS:
                problem = f"re-arming goes to READY or WARMUP, not {target!r}"
            elif not approved_by or not approved_by.strip():
                problem = "re-arming the kill switch needs an operator approval (approved_by)"
            elif not reason or not reason.strip():
                problem = "re-arming the kill switch needs a reason"
            elif state is LifecycleState.STOPPED:
                problem = "the lifecycle is STOPPED: there is nothing to re-arm"
            elif not self.risk.kill_flag().engaged and state is not LifecycleState.HALTED:
                problem = "the kill switch is not engaged"
            if problem is not None:
                self._record(REARM_REFUSED, approved_by or "", reason or "", error=problem)
                raise RearmRefused(problem)
            if state is LifecycleState.HALTED:
                self.lifecycle.transition(
                    target, f"kill switch re-armed: {reason}", approved_by=approved_by
                )
            self.risk.clear_kill_flag()
            self._handled = False
            return self._record(REARM, approved_by, reason)

    def status(self) -> dict[str, Any]:
        """Flag, cause, lifecycle state, working orders and the last event, JSON-able."""
        flag = self.risk.kill_flag()
        events = self.history
        return {
            "engaged": flag.engaged,
            "cause": flag.cause.name if flag.engaged else None,
            "account": flag.account,
            "lifecycle": self.lifecycle.state.name,
            "working_orders": len(self.risk.working_orders()),
            "events": len(events),
            "last_event": events[-1].to_dict() if events else None,
        }

    def _carry_out(self, reason: str, by: str) -> KillSwitchEvent:
        """HALT, list and cancel the working orders, record; the flag is already set."""
        self._handled = True
        if self.lifecycle.state not in _STOPPED_OR_HALTED:
            self.lifecycle.transition(LifecycleState.HALTED, f"kill switch: {reason}")
        orders = self.risk.working_orders()
        cancelled = tuple(order.client_order_id for order in orders)
        try:
            self._cancel(orders)
        except Exception as error:
            failure = f"cancel callback failed: {type(error).__name__}: {error}"
            self._record(ENGAGE, by, reason, cancelled=cancelled, error=failure)
            raise
        return self._record(ENGAGE, by, reason, cancelled=cancelled)

    def _record(
        self,
        action: str,
        by: str,
        reason: str,
        *,
        cancelled: tuple[int, ...] = (),
        error: str | None = None,
    ) -> KillSwitchEvent:
        wall = datetime.fromtimestamp(self._wall_clock() / 1e9, UTC)
        event = KillSwitchEvent(
            action=action,
            monotonic_ns=int(self._clock()),
            wall_time=wall.isoformat(timespec="microseconds"),
            by=by,
            reason=reason,
            lifecycle=self.lifecycle.state,
            cancelled=cancelled,
            error=error,
        )
        self._events.append(event)
        return event


def operator_engage(switch: KillSwitch, *, by: str, reason: str) -> dict[str, Any]:
    """Engage on an operator's command (CLI, HTTP): ``{"ok", "event", "status"}``."""
    event = switch.engage(reason, by)
    return {"ok": True, "event": event.to_dict(), "status": switch.status()}


def operator_rearm(
    switch: KillSwitch, *, approved_by: str, reason: str, target: str = "READY"
) -> dict[str, Any]:
    """Re-arm on an operator's approval: ``{"ok", "event" or "error", "status"}``.

    A refusal (no approver or reason, nothing engaged, a target other than READY or
    WARMUP) gives ``ok: False`` and the reason in ``error``; the switch stays engaged.
    """
    try:
        event = switch.rearm(approved_by, reason, target=target)
    except RearmRefused as error:
        return {"ok": False, "error": str(error), "status": switch.status()}
    return {"ok": True, "event": event.to_dict(), "status": switch.status()}


def operator_status(switch: KillSwitch) -> dict[str, Any]:
    """The switch's status and its whole history, JSON-able."""
    return {**switch.status(), "history": [event.to_dict() for event in switch.history]}
