"""``DegradationController``: feeds budget breaches and ring lag to the system breaker, alerts.

Control code, run periodically (a sidecar task). Each observation reads the hot path's
cumulative budget-breach counter (all stages) and the ring lag of the slowest critical
consumer, and hands them to :class:`~lowlat.risk.breakers.SystemBreaker`, which owns the
READY ⇄ DEGRADED decision and its hysteresis. This controller adds the alerts: one when
the engine has been unhealthy for the breaker's ``degrade_after_ns`` (once per episode,
whatever the lifecycle state — in WARMUP the breaker moves nothing, but people should
know), and one for every transition the breaker makes.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lowlat.control.metrics import Metrics
from lowlat.control.stages import Stage
from lowlat.core.lifecycle import IllegalTransition, LifecycleState, Transition
from lowlat.core.ring import RingBus
from lowlat.risk.breakers import SystemBreaker, SystemHealth

__all__ = ["Alert", "AlertKind", "DegradationController", "WebhookAlert", "ring_lag"]

_log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    """What an alert reports."""

    SUSTAINED = "sustained"  # unhealthy (breaches or lag) for the breaker's degrade time
    DEGRADED = "degraded"  # the system breaker moved the engine READY → DEGRADED
    RECOVERED = "recovered"  # … and back DEGRADED → READY


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, as handed to every alert callback."""

    kind: AlertKind
    now_ns: int
    message: str
    breach_rate_per_s: float
    lag: int
    stages: dict[str, dict[str, int]]
    """Stages that breached their budget during the episode (empty for RECOVERED): the
    breaches counted and the worst of the newest over-budget samples (ns)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (what :class:`WebhookAlert` posts)."""
        return {
            "kind": self.kind.value,
            "now_ns": self.now_ns,
            "message": self.message,
            "breach_rate_per_s": self.breach_rate_per_s,
            "lag": self.lag,
            "stages": self.stages,
        }


AlertCallback = Callable[[Alert], object]


class DegradationController:
    """Judges overload with a :class:`SystemBreaker` from the metrics and a lag source.

    Parameters
    ----------
    metrics
        The hot path's metrics; their total budget-breach count is the breaker's input.
    breaker
        The system breaker on the engine's lifecycle.
    lag
        Returns the ring lag, in events, of the slowest critical consumer (see
        :func:`ring_lag`); the lag is 0 when None.
    alerts
        Callbacks, each called with every :class:`Alert`. One that raises is logged and
        counted; it never stops the others or the controller.
    """

    def __init__(
        self,
        metrics: Metrics,
        breaker: SystemBreaker,
        *,
        lag: Callable[[], int] | None = None,
        alerts: Iterable[AlertCallback] = (),
    ) -> None:
        self.metrics = metrics
        self.breaker = breaker
        self._lag = lag
        self._callbacks = list(alerts)
        self._unhealthy_since: int | None = None
        self._alerted = False
        self._previous = self._per_stage()  # breach counts at the previous observation
        self._baseline = self._previous  # … and before the current unhealthy episode
        self._counts = dict.fromkeys(AlertKind, 0)
        self.alert_failures = 0
        """Alert callbacks that raised."""

    def add_alert(self, callback: AlertCallback) -> None:
        """Call ``callback(alert)`` with every alert from now on."""
        self._callbacks.append(callback)

    def alert_counts(self) -> dict[AlertKind, int]:
        """Alerts raised so far, by kind."""
        return dict(self._counts)

    def observe(self, now_ns: int) -> Transition | None:
        """Read breaches and lag, let the breaker judge; return the transition it made."""
        lag = 0 if self._lag is None else int(self._lag())
        counts = self._per_stage()
        try:
            transition = self.breaker.observe(now_ns, sum(counts), lag)
        except IllegalTransition as exc:  # another controller moved the engine meanwhile
            _log.warning("system breaker could not move the lifecycle: %s", exc)
            transition = None
        sustained_ms = None
        if self.breaker.health is not SystemHealth.UNHEALTHY:
            self._unhealthy_since = None
            self._alerted = False
        elif self._unhealthy_since is None:
            self._unhealthy_since = now_ns
            self._baseline = self._previous
        if self._unhealthy_since is not None and not self._alerted:
            held = now_ns - self._unhealthy_since
            if held >= self.breaker.config.degrade_after_ns:
                self._alerted = True
                sustained_ms = held / 1e6
        self._previous = counts
        if sustained_ms is not None:
            self._raise(
                AlertKind.SUSTAINED,
                now_ns,
                lag,
                f"engine unhealthy for {sustained_ms:.0f} ms (breaches "
                f"{self.breaker.breach_rate or 0.0:.0f}/s, ring lag {lag}) in "
                f"{self.breaker.lifecycle.state.name}",
            )
        if transition is not None:
            degraded = transition.target is LifecycleState.DEGRADED
            kind = AlertKind.DEGRADED if degraded else AlertKind.RECOVERED
            self._raise(kind, now_ns, lag, transition.reason)
        return transition

    def _per_stage(self) -> list[int]:
        return [self.metrics.breaches(stage) for stage in Stage]

    def _breaching(self) -> dict[str, dict[str, int]]:
        stages = {}
        for stage, now, before in zip(Stage, self._previous, self._baseline, strict=True):
            if now > before:
                recent = self.metrics.recent_breaches(stage)
                worst = int(recent.max()) if recent.size else 0
                stages[stage.label] = {"breaches": now - before, "recent_max_ns": worst}
        return stages

    def _raise(self, kind: AlertKind, now_ns: int, lag: int, message: str) -> None:
        stages = {} if kind is AlertKind.RECOVERED else self._breaching()
        alert = Alert(kind, now_ns, message, self.breaker.breach_rate or 0.0, lag, stages)
        self._counts[kind] += 1
        for callback in self._callbacks:
            try:
                callback(alert)
            except Exception:
                self.alert_failures += 1
                _log.exception("alert callback %r failed for %s", callback, kind.value)


class WebhookAlert:
    """An alert callback that POSTs the alert as JSON to ``url``.

    It runs in the caller's thread (the sidecar) and waits at most ``timeout_s``; a
    failure raises, which the controller logs and counts.
    """

    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook needs an http(s) URL, got {url!r}")
        self.url = url
        self.timeout_s = timeout_s

    def __call__(self, alert: Alert) -> None:
        """Post ``alert``; raise if the endpoint does not answer 2xx."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps(alert.to_dict()).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s):  # raises on 4xx/5xx
            pass


def ring_lag(bus: RingBus, consumers: Sequence[int] | None = None) -> Callable[[], int]:
    """A lag source: the largest lag among ``consumers`` of ``bus`` (default: all of them)."""
    chosen = None if consumers is None else [bus.check_consumer(c) for c in consumers]

    def lag() -> int:
        return max((bus.lag(c) for c in (bus.consumers() if chosen is None else chosen)), default=0)

    return lag
