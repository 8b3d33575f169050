"""Failure injection: named scenarios, injected into a running session, with their expected effects.

Control code. Each :class:`Scenario` says what it injects, its parameters, and what should
happen — the lifecycle transitions (in order) and the observable effects on the session's
``/status`` — as data (:class:`Expected`), so that the tests, the CLI and an operator
checking a drill all judge it the same way (:meth:`Expected.check`).

=====================  ==================================================================
scenario               injects
=====================  ==================================================================
slow-consumer          an extra lossless consumer on the feed ring, read slowly by a
                       Python thread: detected slow, isolated by automation (audited), the
                       producer never gated, the engine unaffected
execution-backlog      a slow venue (per-order service time): ACK latency and budget
                       breaches rise → DEGRADED; cleared → READY (the breaker's hysteresis)
md-burst               market data at N× the rated load for a few seconds: back-pressure
                       counted, lossless consumers lose nothing, maybe DEGRADED and back
observability-loss     the metrics sidecar dies: trading unchanged, ``/livez`` says the
                       sidecar is dead, ``lowlat_sidecar_up 0``
process-restart        SIGKILL of the engine process, restart on the same journal: events
                       recovered, the feed continues, the replay identical (an external
                       harness, :func:`process_restart`)
feed-gap               N feed messages never published: the gap detected and counted, the
                       books count unknown orders, the engine keeps running
venue-disconnect       the venue drops the session: orders refused and counted, DEGRADED
                       until it reconnects, then READY
clock-jump             the control plane's wall clock steps: the hot path (monotonic only)
                       unaffected, the time-sync monitor flags it
=====================  ==================================================================

HTTP (added to the session's control server): ``GET /fail`` (every scenario with its
expected behaviour, the running injections and the past ones), ``POST /fail/<scenario>``
(a JSON object of parameters), ``GET /fail/<scenario>`` (the last injection and the
verdict of its expectations so far), ``POST /fail/<scenario>/clear`` (end it early).
Every injection and clearing is journaled as an OPERATOR JSON record.

Injected venue faults (execution-backlog, venue-disconnect) change what the simulated
venue answers. They are written to the venue's control cells, which the engine takes in
only at record boundaries and journals there (see ``EngineLoop``), so ``lowlat replay``
of a session with such drills reproduces its decisions.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowlat.core.atomics import store_release
from lowlat.venue.layout import F_REJECT, P_SERVICE_NS, W_BUSY_UNTIL

if TYPE_CHECKING:
    from lowlat.control.server import ControlServer
    from lowlat.control.session import Session

__all__ = [
    "SCENARIOS",
    "Effect",
    "EngineProcess",
    "Expected",
    "FailureInjector",
    "Injection",
    "Param",
    "Scenario",
    "SidecarKilled",
    "UnknownScenario",
    "launch_forked",
    "launch_subprocess",
    "process_restart",
]

_S = 1_000_000_000
_DEGRADE_AND_BACK = ("READY→DEGRADED", "DEGRADED→READY")


class UnknownScenario(KeyError):
    """No failure scenario has that name (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0])


class SidecarKilled(RuntimeError):
    """Raised inside the metrics sidecar's loop by the observability-loss scenario."""


# --- scenario description ---------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a scenario: its default (whose type it takes) and bounds."""

    name: str
    default: int | float | bool
    help: str
    low: float | None = None
    high: float | None = None

    def parse(self, value: Any) -> int | float | bool:
        """``value`` (JSON or a command-line string) as this parameter's type, checked."""
        kind = type(self.default)
        if kind is bool:
            text = str(value).strip().lower()
            if isinstance(value, bool):
                return value
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"parameter {self.name} must be true or false, got {value!r}")
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
            if kind is int:
                if number != int(number):
                    raise ValueError
                number = int(number)
        except (TypeError, ValueError, OverflowError):
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"parameter {self.name} must be {what}, got {value!r}") from None
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            raise ValueError(
                f"parameter {self.name} must be in [{self.low}, {self.high}], got {number}"
            )
        return number

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"default": self.default, "help": self.help, "low": self.low, "high": self.high}


_CHANGES = ("increases", "unchanged", "equals", "at_least", "rises_by_at_least", "true", "false")


def _lookup(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class Effect:
    """An observable effect: a value of the status (dotted ``path``) and how it must change.

    ``change`` is one of ``increases``, ``unchanged``, ``equals`` (``value``), ``at_least``
    (``value``), ``rises_by_at_least`` (``value``), ``true``, ``false``. ``value`` may be a
    literal or ``"$param"`` (the injection's parameter), times ``scale``. The observation is
    the session's ``/status`` with the injection's own details under ``injection``.
    """

    path: str
    change: str
    value: Any = None
    scale: float = 1.0
    note: str = ""

    def __post_init__(self) -> None:
        if self.change not in _CHANGES:
            raise ValueError(f"effect change must be one of {_CHANGES}, got {self.change!r}")

    def threshold(self, params: dict[str, Any]) -> Any:
        """The value compared against, with ``$param`` taken from ``params``, scaled."""
        value = self.value
        if isinstance(value, str) and value.startswith("$"):
            value = params[value[1:]]
        if isinstance(value, int | float) and not isinstance(value, bool) and self.scale != 1.0:
            value = value * self.scale
        return value

    def evaluate(
        self, before: dict[str, Any], after: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        """Judge this effect between two observations."""
        old, new = _lookup(before, self.path), _lookup(after, self.path)
        want = self.threshold(params)
        change = self.change
        if change == "increases":
            ok = new is not None and new > (old or 0)
        elif change == "unchanged":
            ok = new == old
        elif change == "equals":
            ok = new == want
        elif change == "at_least":
            ok = new is not None and new >= want
        elif change == "rises_by_at_least":
            ok = new is not None and new - (old or 0) >= want
        elif change == "true":
            ok = new is True
        else:
            ok = new is False
        return {
            "path": self.path,
            "change": change,
            "value": want,
            "before": old,
            "after": new,
            "ok": bool(ok),
            "note": self.note,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "path": self.path,
            "change": self.change,
            "value": self.value,
            "scale": self.scale,
            "note": self.note,
        }


@dataclass(frozen=True)
class Expected:
    """What should happen: transitions in order, the others allowed, effects, when to judge.

    ``transitions`` ("SOURCE→TARGET") must appear in this order among the transitions made
    after the injection (others may come between); any other transition must be in
    ``allowed`` (``None``: anything goes). Transitions to STOPPED (the session's end) are
    not judged. Judge ``settle_s`` after the injection ends — plus, with ``recovery``, the
    system breaker's degrade and recover times.
    """

    summary: str
    transitions: tuple[str, ...] = ()
    allowed: tuple[str, ...] | None = ()
    effects: tuple[Effect, ...] = ()
    settle_s: float = 0.5
    recovery: bool = False

    def check(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        transitions: Sequence[str],
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Judge the observations and transitions; ``ok`` when everything holds."""
        params = params or {}
        made = [t for t in transitions if not t.endswith("→STOPPED")]
        remaining = iter(made)
        missing = [want for want in self.transitions if not any(t == want for t in remaining)]
        permitted = None if self.allowed is None else {*self.transitions, *self.allowed}
        unexpected = [] if permitted is None else [t for t in made if t not in permitted]
        effects = [effect.evaluate(before, after, params) for effect in self.effects]
        return {
            "ok": not missing and not unexpected and all(e["ok"] for e in effects),
            "transitions": made,
            "expected_transitions": list(self.transitions),
            "missing_transitions": missing,
            "unexpected_transitions": unexpected,
            "effects": effects,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "summary": self.summary,
            "transitions": list(self.transitions),
            "allowed": None if self.allowed is None else list(self.allowed),
            "effects": [e.to_dict() for e in self.effects],
            "settle_s": self.settle_s,
            "recovery": self.recovery,
        }


#: What a scenario's ``apply`` returns: the function that undoes it, or None (one-shot).
Cleanup = Callable[[], None] | None


@dataclass(frozen=True)
class Scenario:
    """A named failure: what it injects, its parameters and its expected behaviour.

    ``apply(session, injection)`` injects it (filling ``injection.details`` and setting
    ``injection.probe`` for live details) and returns its cleanup; a scenario with a
    ``seconds`` parameter is cleaned up that long after. ``external`` scenarios are run by
    a harness outside the engine (:func:`process_restart`).
    """

    name: str
    injects: str
    expected: Expected
    apply: Callable[[Session, Injection], Cleanup]
    params: tuple[Param, ...] = ()
    runbook: str = ""
    external: bool = False

    def parse_params(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """The parameters with defaults filled in; an unknown or bad one is a ValueError."""
        given = dict(given or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known) - {"by"})
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for {self.name}; known: {sorted(known) or 'none'}"
            )
        return {
            name: p.parse(given[name]) if name in given else p.default for name, p in known.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "injects": self.injects,
            "params": {p.name: p.to_dict() for p in self.params},
            "expected": self.expected.to_dict(),
            "runbook": self.runbook,
            "external": self.external,
        }


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat(timespec="microseconds")


@dataclass
class Injection:
    """One injection of a scenario into a session, its state and details."""

    scenario: Scenario
    params: dict[str, Any]
    by: str
    started_ns: int
    started_wall_ns: int
    before: dict[str, Any]
    state: str = "running"  # running → cleared | done (one-shot) | failed
    ends_ns: int | None = None
    cleared_ns: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    probe: Callable[[], dict[str, Any]] | None = None
    cleanup: Cleanup = None
    error: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The details, with the live ones read now."""
        live = {}
        if self.probe is not None:
            try:
                live = self.probe()
            except Exception as error:  # a probe on a session being torn down
                live = {"probe_error": f"{type(error).__name__}: {error}"}
        return {**self.details, **live}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with the live details."""
        now = time.monotonic_ns()
        return {
            "scenario": self.scenario.name,
            "params": self.params,
            "by": self.by,
            "state": self.state,
            "started_monotonic_ns": self.started_ns,
            "started_wall_time": _iso(self.started_wall_ns),
            "running_s": ((self.cleared_ns or now) - self.started_ns) / 1e9,
            "ends_in_s": None
            if self.ends_ns is None or self.state != "running"
            else max(0.0, (self.ends_ns - now) / 1e9),
            "details": self.snapshot(),
            "error": self.error,
        }


# --- the injector ------------------------------------------------------------------------------


class FailureInjector:
    """Injects scenarios into ``session``, clears them, judges them; serves ``/fail``.

    Created by the session (its HTTP routes are added at once); :meth:`stop` at the
    session's end clears whatever still runs.
    """

    def __init__(self, session: Session, scenarios: dict[str, Scenario] | None = None) -> None:
        self.session = session
        self.scenarios = dict(SCENARIOS if scenarios is None else scenarios)
        self._lock = threading.RLock()
        self._running: dict[str, Injection] = {}
        self.history: list[Injection] = []
        self._timers: dict[str, threading.Timer] = {}
        self._stopped = False
        self._install_routes(session.server)

    # --- injecting ------------------------------------------------------------------------

    def scenario(self, name: str) -> Scenario:
        """The scenario called ``name``; :class:`UnknownScenario` naming the known ones."""
        try:
            return self.scenarios[name]
        except KeyError:
            raise UnknownScenario(
                f"unknown failure scenario {name!r}; known: {', '.join(self.scenarios)}"
            ) from None

    def settle_s(self, scenario: Scenario) -> float:
        """Seconds after the injection ends before its expectations are judged, here."""
        extra = 0.0
        if scenario.expected.recovery:
            c = self.session.degradation.breaker.config
            extra = (c.degrade_after_ns + c.recover_after_ns) / 1e9
        return scenario.expected.settle_s + extra

    def inject(
        self, name: str, params: dict[str, Any] | None = None, *, by: str = "operator"
    ) -> Injection:
        """Inject scenario ``name`` now; return the injection (running, or done if one-shot).

        Raises
        ------
        UnknownScenario
            For an unknown name.
        ValueError
            For a bad parameter, or a scenario already running (or the session is over).
        """
        scenario = self.scenario(name)
        values = scenario.parse_params(params)
        with self._lock:
            if self._stopped:
                raise ValueError("the session has ended: nothing to inject into")
            if name in self._running:
                raise ValueError(
                    f"{name} is already running; clear it first (POST /fail/{name}/clear)"
                )
            injection = Injection(
                scenario=scenario,
                params=values,
                by=by,
                started_ns=time.monotonic_ns(),
                started_wall_ns=int(self.session.wall_clock()),
                before=self.session.status(),
            )
            try:
                injection.cleanup = scenario.apply(self.session, injection)
            except Exception as error:
                injection.state = "failed"
                injection.error = str(error)
                self.history.append(injection)
                raise
            self.history.append(injection)
            seconds = values.get("seconds")
            if injection.cleanup is None:
                injection.state = "done"
            else:
                self._running[name] = injection
                if seconds:
                    injection.ends_ns = injection.started_ns + int(seconds * _S)
                    timer = threading.Timer(seconds, self._expire, args=(name, injection))
                    timer.daemon = True
                    self._timers[name] = timer
                    timer.start()
            self._journal(injection, "started", by)
            return injection

    def _expire(self, name: str, injection: Injection) -> None:
        with self._lock:
            if self._running.get(name) is injection:
                seconds = injection.params["seconds"]
                self._clear(name, "failure-injection timer", f"{seconds} s elapsed")

    def clear(self, name: str, *, by: str = "operator", reason: str = "cleared") -> Injection:
        """End the running injection of ``name`` (undo what it injected).

        Raises
        ------
        ValueError
            If it is not running.
        """
        self.scenario(name)
        with self._lock:
            if name not in self._running:
                raise ValueError(f"{name} is not running")
            return self._clear(name, by, reason)

    def _clear(self, name: str, by: str, reason: str) -> Injection:
        injection = self._running.pop(name)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        try:
            if injection.cleanup is not None:
                injection.cleanup()
            injection.state = "cleared"
        except Exception as error:
            injection.state = "failed"
            injection.error = f"cleanup failed: {type(error).__name__}: {error}"
        injection.cleared_ns = time.monotonic_ns()
        self._journal(injection, injection.state, by, reason)
        return injection

    def stop(self) -> None:
        """Clear every running injection (the session is ending); refuse new ones."""
        with self._lock:
            self._stopped = True
            for name in list(self._running):
                self._clear(name, "session", "session end")

    def _journal(self, injection: Injection, status: str, by: str, reason: str = "") -> None:
        from lowlat.journal import RecordType

        record = {
            "action": f"fail:{injection.scenario.name}",
            "status": status,
            "by": by,
            "reason": reason or injection.scenario.injects,
            "params": injection.params,
            "monotonic_ns": time.monotonic_ns(),
            "wall_time": _iso(int(self.session.wall_clock())),
        }
        with contextlib.suppress(Exception):  # a closed journal: the history keeps it
            self.session.journal.append_json(RecordType.OPERATOR, record)

    # --- judging --------------------------------------------------------------------------

    def last(self, name: str) -> Injection | None:
        """The latest injection of ``name``."""
        with self._lock:
            return next((i for i in reversed(self.history) if i.scenario.name == name), None)

    def transitions_since(self, monotonic_ns: int) -> list[str]:
        """Lifecycle transitions made at or after ``monotonic_ns``, as ``SOURCE→TARGET``."""
        return [
            f"{t.source.name}→{t.target.name}"
            for t in self.session.lifecycle.history[1:]
            if t.monotonic_ns >= monotonic_ns
        ]

    def observe(self, injection: Injection | None = None) -> dict[str, Any]:
        """The session's status, with ``injection``'s details under ``injection``."""
        status = self.session.status()
        status["injection"] = {} if injection is None else injection.snapshot()
        return status

    def verdict(self, name: str) -> dict[str, Any] | None:
        """Judge the latest injection of ``name`` against its expected behaviour, now."""
        injection = self.last(name)
        if injection is None:
            return None
        before = {**injection.before, "injection": {}}
        result = injection.scenario.expected.check(
            before,
            self.observe(injection),
            self.transitions_since(injection.started_ns),
            injection.params,
        )
        if injection.state == "running":
            result["note"] = "still running: judge it once cleared and settled"
        return result

    def status(self) -> dict[str, Any]:
        """Running injections and the number made (for ``/status``)."""
        with self._lock:
            running = {name: i.to_dict() for name, i in self._running.items()}
            return {"running": running, "injections": len(self.history)}

    # --- HTTP -----------------------------------------------------------------------------

    def _install_routes(self, server: ControlServer) -> None:
        from lowlat.control.server import RouteError

        def listing(_body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            scenarios = {}
            for name, scenario in self.scenarios.items():
                scenarios[name] = {**scenario.to_dict(), "settle_s_here": self.settle_s(scenario)}
            with self._lock:
                running = {name: i.to_dict() for name, i in self._running.items()}
                done = [i.to_dict() for i in self.history if i.state != "running"][-50:]
            return 200, {"scenarios": scenarios, "running": running, "history": done}

        def injector(name: str) -> Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]:
            def handler(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                by = body.get("by", "operator")
                try:
                    injection = self.inject(name, body, by=str(by))
                except ValueError as error:
                    already = "already running" in str(error) or "has ended" in str(error)
                    raise RouteError(409 if already else 400, str(error)) from None
                scenario = self.scenarios[name]
                return 202, {
                    "ok": True,
                    "injection": injection.to_dict(),
                    "expected": scenario.expected.to_dict(),
                    "judge_after_s": (injection.params.get("seconds") or 0)
                    + self.settle_s(scenario),
                }

            return handler

        def inspector(name: str) -> Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]:
            def handler(_body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                injection = self.last(name)
                return 200, {
                    "scenario": name,
                    "injection": None if injection is None else injection.to_dict(),
                    "verdict": self.verdict(name),
                    "expected": self.scenarios[name].expected.to_dict(),
                }

            return handler

        def clearer(name: str) -> Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]:
            def handler(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                try:
                    injection = self.clear(
                        name,
                        by=str(body.get("by", "operator")),
                        reason=str(body.get("reason", "cleared")),
                    )
                except ValueError as error:
                    raise RouteError(409, str(error)) from None
                return 200, {"ok": True, "injection": injection.to_dict()}

            return handler

        server.add_route("GET", "/fail", listing)
        for name in self.scenarios:
            server.add_route("POST", f"/fail/{name}", injector(name))
            server.add_route("GET", f"/fail/{name}", inspector(name))
            server.add_route("POST", f"/fail/{name}/clear", clearer(name))


# --- the scenarios -------------------------------------------------------------------------------


def _running_feed(session: Session):
    feed = session.feed
    if feed is None or feed.done.is_set():
        raise ValueError("the session's feed is not running")
    return feed


def _slow_consumer(session: Session, injection: Injection) -> Cleanup:
    from lowlat.core.ring import RingError

    p = injection.params
    bus = session.feed_ring
    policy = "lossless" if p["lossless"] else "overwrite"
    consumer = bus.add_consumer(policy, lag_limit=p["lag_limit"])
    stop = threading.Event()
    read = [0]
    per_poll = max(1, min(256, int(p["reads_per_s"] * 0.05)))
    pause = per_poll / p["reads_per_s"]

    def reader() -> None:
        batch = bus.new_batch(per_poll)
        while not stop.wait(pause):
            try:
                count, _first, _lost = bus.poll(consumer, batch, per_poll)
            except RingError:  # removed
                return
            read[0] += count

    thread = threading.Thread(target=reader, name="lowlat-slow-consumer", daemon=True)
    thread.start()

    def probe() -> dict[str, Any]:
        stats = bus.consumer_stats(consumer)
        isolated = [
            a.id
            for a in session.automation.actions()
            if a.kind == "isolate-consumer" and a.params.get("consumer") == consumer
        ]
        return {
            "consumer": consumer,
            "state": stats.state.name,
            "lag": stats.lag,
            "lag_limit": stats.lag_limit,
            "max_lag": stats.max_lag,
            "read": read[0],
            "lost": stats.lost,
            "isolated_by_automation": bool(isolated),
            "isolation_actions": isolated,
        }

    injection.details["consumer"] = consumer
    injection.probe = probe

    def cleanup() -> None:
        injection.details.update(probe())
        injection.probe = None
        stop.set()
        thread.join(5)
        bus.remove_consumer(consumer)

    return cleanup


def _execution_backlog(session: Session, injection: Injection) -> Cleanup:
    gateway = session.venue.state
    before = int(gateway.iparams[P_SERVICE_NS])
    store_release(gateway.iparams, P_SERVICE_NS, int(injection.params["service_us"] * 1_000))
    injection.details["service_ns_before"] = before

    def probe() -> dict[str, Any]:
        backlog = int(gateway.counters[W_BUSY_UNTIL]) - time.monotonic_ns()
        return {"service_ns": int(gateway.iparams[P_SERVICE_NS]), "backlog_ns": max(0, backlog)}

    injection.probe = probe
    return lambda: store_release(gateway.iparams, P_SERVICE_NS, before)


def _md_burst(session: Session, injection: Injection) -> Cleanup:
    feed = _running_feed(session)
    multiplier = float(injection.params["multiplier"])
    start_published, start_refused = feed.published, feed.refused
    started = time.monotonic_ns()
    feed.rate_multiplier = multiplier
    rate = session.config.session.rate

    def measure() -> dict[str, Any]:
        seconds = max(time.monotonic_ns() - started, 1) / 1e9
        published = feed.published - start_published
        return {
            "rate_multiplier": feed.rate_multiplier,
            "burst_published": published,
            "burst_refused": feed.refused - start_refused,
            "burst_rate": published / seconds,
            "reached_multiplier": published / seconds / rate,
        }

    injection.probe = measure

    def cleanup() -> None:
        injection.details.update(measure())
        injection.probe = None
        feed.rate_multiplier = 1.0

    return cleanup


def _observability_loss(session: Session, injection: Injection) -> Cleanup:
    def killer(_now: int) -> None:
        raise SidecarKilled("failure injection (observability-loss): the sidecar was killed")

    session.sidecar.add_task(killer)
    injection.probe = lambda: {"sidecar": session.sidecar.status().to_dict()}
    return None


def _process_restart(session: Session, injection: Injection) -> Cleanup:
    if not injection.params["confirm"]:
        raise ValueError(
            "process-restart SIGKILLs this engine process: pass confirm=true (its supervisor "
            "restarts it), or run `lowlat fail process-restart --journal DIR`, which kills, "
            "restarts and checks it end to end"
        )
    delay = float(injection.params["delay_s"])

    def kill() -> None:
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=kill, name="lowlat-process-restart", daemon=True).start()
    injection.details.update({"pid": os.getpid(), "signal": int(signal.SIGKILL), "in_s": delay})
    return None


def _feed_gap(session: Session, injection: Injection) -> Cleanup:
    feed = _running_feed(session)
    start = feed.dropped
    messages = int(injection.params["messages"])
    feed.drop(messages)
    injection.probe = lambda: {"dropped": feed.dropped - start, "requested": messages}
    return None


def _venue_disconnect(session: Session, injection: Injection) -> Cleanup:
    venue = session.venue
    faults = venue.state.fparams
    before = float(faults[F_REJECT])
    faults[F_REJECT] = 1.0  # the session is gone: every order that still goes out is refused
    venue.connected = False
    venue.disconnects += 1
    start = venue.stats()["fault_rejects"]
    injection.probe = lambda: {
        "connected": venue.connected,
        "refused_by_venue": venue.stats()["fault_rejects"] - start,
    }

    def cleanup() -> None:
        injection.details.update(injection.probe() if injection.probe else {})
        faults[F_REJECT] = before
        venue.reconnect()
        injection.details["connected"] = True

    return cleanup


def _clock_jump(session: Session, injection: Injection) -> Cleanup:
    delta = int(injection.params["offset_s"] * _S)
    offset = session.wall_clock.step(delta)
    injection.details.update({"step_ns": delta, "wall_clock_offset_ns": offset})
    return None


def _seconds(default: float, what: str) -> Param:
    return Param("seconds", default, f"how long {what}", 0.05, 3_600)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "slow-consumer",
            "an extra consumer on the feed ring (lossless, with a lag limit), read slowly by a "
            "Python thread",
            Expected(
                "detected slow (lag over its limit) and isolated by automation at once "
                "(audited); the producer is never gated; the engine and the lifecycle are "
                "unaffected",
                effects=(
                    Effect("injection.state", "equals", "DETACHED"),
                    Effect("injection.isolated_by_automation", "true"),
                    Effect("feed.refused", "unchanged", note="the producer was never gated"),
                    Effect("counters.lost", "unchanged"),
                    Effect("counters.events", "increases"),
                ),
                settle_s=1.0,
            ),
            _slow_consumer,
            (
                Param("reads_per_s", 1_000, "records the consumer reads per second", 1, 1e7),
                Param("lag_limit", 4_096, "lag at which it counts as slow", 1, 1 << 30),
                Param("lossless", True, "lossless (gates the producer until isolated)"),
                Param("seconds", 0.0, "how long it stays (0: until cleared or the end)", 0, 3_600),
            ),
            "docs/runbooks/slow-consumer.md",
        ),
        Scenario(
            "execution-backlog",
            "a slow venue: every order takes service_us at the venue, so orders queue",
            Expected(
                "ACK latency and ACK budget breaches rise → DEGRADED (decisions provisional, "
                "nothing risk-increasing sent); once cleared and healthy for the system "
                "breaker's recover time → READY",
                transitions=_DEGRADE_AND_BACK,
                allowed=_DEGRADE_AND_BACK,
                effects=(
                    Effect("stages.ack.breaches", "increases"),
                    Effect("counters.events", "increases"),
                    Effect("lifecycle", "equals", "READY"),
                ),
                settle_s=1.0,
                recovery=True,
            ),
            _execution_backlog,
            (
                Param("service_us", 1_500, "venue service time per order, µs", 1, 1e7),
                _seconds(2.0, "the venue stays slow"),
            ),
            "docs/runbooks/degraded.md",
        ),
        Scenario(
            "md-burst",
            "market data at multiplier× the feed's rated load",
            Expected(
                "the feed publishes several times faster; back-pressure is explicit (counted "
                "in feed.refused, never silent); the lossless consumers (engine, journal) lose "
                "nothing; the engine may go DEGRADED and come back",
                allowed=_DEGRADE_AND_BACK,
                effects=(
                    Effect("injection.reached_multiplier", "at_least", "$multiplier", 0.5),
                    Effect("feed.refused", "at_least", 0, note="back-pressure is counted here"),
                    Effect("feed.lost", "unchanged"),
                    Effect("counters.lost", "unchanged"),
                    Effect("counters.journal_refused", "unchanged"),
                ),
                settle_s=1.0,
                recovery=True,
            ),
            _md_burst,
            (
                Param("multiplier", 10.0, "times the rated publish rate", 1, 1_000),
                _seconds(3.0, "the burst lasts"),
            ),
            "docs/runbooks/slow-consumer.md",
        ),
        Scenario(
            "observability-loss",
            "the metrics sidecar thread dies (cannot be undone in this session)",
            Expected(
                "trading continues unchanged: counters keep moving, the lifecycle stays where "
                "it was (the controllers on the sidecar — degradation, warm-up, automation, "
                "time-sync — stop with it); /livez answers 200 with the sidecar dead; "
                "lowlat_sidecar_up 0",
                effects=(
                    Effect("sidecar.state", "equals", "dead"),
                    Effect("counters.events", "increases"),
                    Effect("execution.decisions", "increases"),
                    Effect("lifecycle", "unchanged"),
                ),
                settle_s=1.0,
            ),
            _observability_loss,
            (),
            "docs/runbooks/restart-recovery.md",
        ),
        Scenario(
            "process-restart",
            "SIGKILL of the engine process; a restart on the same journal",
            Expected(
                "the restarted engine recovers every journaled market event (a torn tail is "
                "cut), the feed continues after the last one (no gap, no duplicate), and the "
                "replay of the journal is identical",
                allowed=None,
                effects=(
                    Effect("killed.signal", "equals", int(signal.SIGKILL)),
                    Effect("restarted.recovered_events", "at_least", 1),
                    Effect("restarted.recovered_matches_journal", "true"),
                    Effect("restarted.published", "at_least", 1),
                    Effect("journal.continuous", "true"),
                    Effect("replay.identical", "true"),
                ),
            ),
            _process_restart,
            (
                Param("confirm", False, "really SIGKILL this process (over HTTP)"),
                Param("delay_s", 0.2, "seconds between the reply and the kill", 0, 60),
                Param("kill_after_s", 2.0, "harness: seconds of trading before the kill", 0, 3_600),
                Param("duration_s", 4.0, "harness: each run's feed duration", 0.1, 86_400),
            ),
            "docs/runbooks/restart-recovery.md",
            external=True,
        ),
        Scenario(
            "feed-gap",
            "messages consecutive feed messages are never published",
            Expected(
                "the feed detects the sequence gap and counts it (feed.gaps, "
                "feed.gap_messages); the books count orders they never saw "
                "(book.unknown_order); the engine keeps running; automation alerts",
                allowed=_DEGRADE_AND_BACK,
                effects=(
                    Effect("injection.dropped", "equals", "$messages"),
                    Effect("feed.gaps", "rises_by_at_least", 1),
                    Effect("feed.gap_messages", "rises_by_at_least", "$messages"),
                    Effect("book.unknown_order", "increases"),
                    Effect("counters.events", "increases"),
                ),
                settle_s=1.0,
            ),
            _feed_gap,
            (Param("messages", 2_000, "messages to drop", 1, 1 << 30),),
            "docs/runbooks/feed-gap.md",
        ),
        Scenario(
            "venue-disconnect",
            "the venue drops the session for seconds: every order still sent is refused",
            Expected(
                "orders refused by the venue are counted (venue.fault_rejects) and decisions "
                "made meanwhile are provisional (execution.provisional); the venue guard "
                "moves READY → DEGRADED until the session is back, then → READY",
                transitions=_DEGRADE_AND_BACK,
                allowed=_DEGRADE_AND_BACK,
                effects=(
                    Effect("venue.disconnects", "increases"),
                    Effect("execution.provisional", "increases"),
                    Effect("venue.connected", "true"),
                    Effect("counters.events", "increases"),
                    Effect("lifecycle", "equals", "READY"),
                ),
                settle_s=1.0,
            ),
            _venue_disconnect,
            (_seconds(2.0, "the session stays down"),),
            "docs/runbooks/venue-disconnect.md",
        ),
        Scenario(
            "clock-jump",
            "the control plane's wall clock steps by offset_s (negative: backwards)",
            Expected(
                "the hot path (monotonic time only) is unaffected: no transition, counters "
                "keep moving; the time-sync monitor flags the step, journals a RISK "
                "clock-step event and automation alerts",
                effects=(
                    Effect("timesync.steps", "increases"),
                    Effect("timesync.flagged", "true"),
                    Effect("counters.events", "increases"),
                    Effect("lifecycle", "unchanged"),
                ),
                settle_s=0.5,
            ),
            _clock_jump,
            (Param("offset_s", 120.0, "the step, seconds", -1e9, 1e9),),
            "docs/runbooks/clock-jump.md",
        ),
    )
}


# --- process-restart: the harness ----------------------------------------------------------------

_URL = re.compile(r"(http://[\d.]+:\d+)/metrics while it runs")
_RECOVERED = re.compile(r"recovered: ([\d,]+) market events")


@dataclass
class EngineProcess:
    """A ``lowlat run`` process the harness started; its output goes to ``log``."""

    pid: int
    log: Path
    _popen: subprocess.Popen | None = None
    returncode: int | None = None  # negative: killed by that signal

    def poll(self) -> int | None:
        """The return code once it has ended (negative: the signal that killed it)."""
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.poll()
        else:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = (
                    -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                )
        return self.returncode

    def wait(self, timeout: float) -> int:
        """Wait for it to end; its return code (TimeoutError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"engine process {self.pid} still running after {timeout} s")
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL it if it still runs, and reap it."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(30)

    def output(self) -> str:
        """What it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


Launcher = Callable[[list[str], Path], EngineProcess]


def launch_subprocess(args: list[str], log: Path) -> EngineProcess:
    """``python -m lowlat run ARGS`` in a new process (each compiles what its cache lacks)."""
    out = open(log, "w", encoding="utf-8")  # noqa: SIM115 — the child owns it
    try:
        popen = subprocess.Popen(
            [sys.executable, "-m", "lowlat", "run", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        out.close()
    return EngineProcess(popen.pid, log, popen)


def launch_forked(args: list[str], log: Path) -> EngineProcess:
    """``lowlat run ARGS`` in a forked child of this process (POSIX).

    The child starts with this process's compiled kernels, so it skips the JIT
    compilation a fresh interpreter would spend in WARMUP; otherwise it is the same
    command in its own process. Fork from a process with no threads of its own running.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
            from lowlat.cli.main import main

            code = main(["run", *args])
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    return EngineProcess(pid, log)


def _http(url: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _wait_url(process: EngineProcess, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _URL.search(process.output())
        if match:
            return match.group(1)
        if process.poll() is not None:
            tail = process.output()[-2000:]
            raise RuntimeError(f"lowlat run exited ({process.returncode}) before serving:\n{tail}")
        time.sleep(0.05)
    raise TimeoutError(f"lowlat run did not announce its URL within {timeout} s")


def _journal_events(journal: Path) -> tuple[list[int], str | None]:
    """Market-event sequences of the journal's valid prefix, and why it ends early if torn."""
    from lowlat.journal import CorruptJournal, JournalReader, RecordType

    seqs: list[int] = []
    try:
        for batch in JournalReader(journal):
            seqs.extend(int(s) for s in batch.records(RecordType.MARKET_EVENT)["seq"])
    except CorruptJournal as error:  # a torn tail: recovery cuts it at the same place
        return seqs, str(error)
    return seqs, None


def process_restart(
    journal: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    kill_after_s: float = 2.0,
    duration_s: float = 4.0,
    launcher: Launcher = launch_subprocess,
    timeout_s: float = 600.0,
    log: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Run the process-restart scenario end to end; return its report, judged.

    Starts ``lowlat run --journal JOURNAL`` (``--config``, ``--duration duration_s``,
    ``--http-port 0``), waits until it has traded ``kill_after_s`` seconds, has it SIGKILL
    itself (``POST /fail/process-restart`` with ``confirm``), checks that it died of the
    signal, starts the same command again on the same journal and lets it finish, then
    checks the journal (every market event once, in order, the restart continuing right
    after the last recovered one) and replays it. The report's ``verdict`` judges it
    against the scenario's :class:`Expected`; ``ok`` is the verdict's.
    """
    from lowlat.control.replay import replay

    say = log or (lambda _message: None)
    journal = Path(journal)
    args = ["--journal", str(journal), "--http-port", "0", "--duration", f"{duration_s:g}"]
    if config is not None:
        args += ["--config", str(config)]
    logs = journal.parent / f"{journal.name}.process-restart"
    logs.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"journal": {"dir": str(journal)}}

    first = launcher(args, logs / "first.log")
    try:
        url = _wait_url(first, timeout_s)
        say(f"engine {first.pid} serving at {url}; trading {kill_after_s:g} s before the kill")
        status: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:  # a process compiling its kernels in WARMUP may not answer at once
                code, status = _http(url, "/status")
            except (urllib.error.URLError, OSError):
                status = {}
            if status.get("uptime_s", 0) >= kill_after_s and status["counters"]["events"] > 0:
                break
            if first.poll() is not None:
                raise RuntimeError("the engine ended before the kill: raise duration_s")
            time.sleep(0.1)
        else:
            raise TimeoutError(f"the engine did not trade {kill_after_s:g} s within {timeout_s} s")
        code, reply = _http(url, "/fail/process-restart", {"confirm": True, "by": "harness"})
        if code != 202:
            raise RuntimeError(f"POST /fail/process-restart answered {code}: {reply}")
        returncode = first.wait(60)
    finally:
        first.kill()
    journaled, torn = _journal_events(journal)
    report["killed"] = {
        "pid": first.pid,
        "signal": -returncode if returncode < 0 else None,
        "returncode": returncode,
        "events_before_kill": status["counters"]["events"],
        "lifecycle_at_kill": status["lifecycle"],
        "journaled_events": len(journaled),
        "torn_tail": torn,
    }
    say(f"engine {first.pid} killed ({returncode}); {len(journaled):,} events journaled")

    second = launcher(args, logs / "second.log")
    try:
        second_code = second.wait(timeout_s)
    finally:
        second.kill()
    match = _RECOVERED.search(second.output())
    recovered = int(match.group(1).replace(",", "")) if match else 0
    events, torn = _journal_events(journal)
    if torn is not None:
        raise RuntimeError(f"the journal is corrupt after a clean restart: {torn}")
    continued = events[len(journaled) :]
    report["restarted"] = {
        "pid": second.pid,
        "returncode": second_code,
        "recovered_events": recovered,
        "recovered_matches_journal": recovered == len(journaled),
        "published": len(continued),
    }
    report["journal"].update(
        events=len(events),
        continuous=bool(events == journaled + continued)
        and all(b == a + 1 for a, b in itertools.pairwise(events)),
        duplicates=len(events) - len(set(events)),
        first_after_restart=continued[0] if continued else None,
        last_before_kill=journaled[-1] if journaled else None,
    )
    say(f"restart recovered {recovered:,} events, then journaled {len(continued):,} more")
    outcome = replay(journal)
    report["replay"] = {
        "events": outcome.events,
        "identical": bool(outcome.identical),
        "first_difference": outcome.first_difference,
    }
    expected = SCENARIOS["process-restart"].expected
    report["verdict"] = expected.check({}, report, [], {})
    report["ok"] = report["verdict"]["ok"]
    report["logs"] = str(logs)
    return report
