"""``SystemBreaker``: degrade the engine while it is overloaded, restore it once healthy.

Control code. A controller calls :meth:`SystemBreaker.observe` periodically with the
stage latency-budget breach counter and the ring lag it read from the hot path's
counters. Sustained trouble moves the lifecycle READY → DEGRADED (the hot path keeps
observing and deciding, and sends nothing); sustained health moves it back. Two
thresholds and two clocks keep it from flapping: "unhealthy" is at or above the limits,
"healthy" below a fraction of them, and each must hold for its own time before anything
changes.
"""

from __future__ import annotations

from enum import StrEnum

from lowlat.core.lifecycle import Lifecycle, LifecycleState, Transition
from lowlat.risk.breakers.config import SystemBreakerConfig

__all__ = ["SystemBreaker", "SystemHealth"]


class SystemHealth(StrEnum):
    """How the last observation judged the engine."""

    UNKNOWN = "unknown"  # nothing observed yet
    HEALTHY = "healthy"  # both measures below healthy_fraction of their limits
    MARGINAL = "marginal"  # neither healthy nor unhealthy: both clocks restart
    UNHEALTHY = "unhealthy"  # a measure at or above its limit


class SystemBreaker:
    """Moves ``lifecycle`` READY ⇄ DEGRADED on sustained latency-budget breaches or ring lag.

    It only leaves DEGRADED if it entered it itself and no transition happened since, and
    it never moves the engine out of any other state (HALTED belongs to the kill switch
    and the operator).

    Parameters
    ----------
    lifecycle
        The engine's lifecycle controller.
    config
        Limits and times; the defaults of :class:`SystemBreakerConfig` when None.
    """

    def __init__(self, lifecycle: Lifecycle, config: SystemBreakerConfig | None = None) -> None:
        self.lifecycle = lifecycle
        self.config = config or SystemBreakerConfig()
        self.health = SystemHealth.UNKNOWN
        """The judgement of the last observation."""
        self.breach_rate: float | None = None
        """Breaches per second between the last two observations (None before two)."""
        self._last_ns: int | None = None
        self._last_breaches = 0
        self._unhealthy_since: int | None = None
        self._healthy_since: int | None = None
        self._own: Transition | None = None

    def observe(self, now_ns: int, breaches: int, lag: int) -> Transition | None:
        """Judge one observation; return the lifecycle transition it caused, if any.

        Parameters
        ----------
        now_ns
            Monotonic time of the observation; never earlier than the previous one.
        breaches
            Cumulative latency-budget breach counter (all stages). A value below the
            previous one is a counter restart: the growth is the value itself.
        lag
            Ring lag, in events, of the slowest critical consumer.

        Raises
        ------
        ValueError
            If ``now_ns`` goes backwards or a count is negative.
        """
        if breaches < 0 or lag < 0:
            raise ValueError(f"breaches and lag must be >= 0, got {breaches} and {lag}")
        if self._last_ns is not None and now_ns < self._last_ns:
            raise ValueError(f"now_ns went backwards: {now_ns} after {self._last_ns}")
        if self._last_ns is None or now_ns > self._last_ns:
            if self._last_ns is not None:
                grown = (
                    breaches - self._last_breaches if breaches >= self._last_breaches else breaches
                )
                self.breach_rate = grown * 1e9 / (now_ns - self._last_ns)
            self._last_ns = now_ns
            self._last_breaches = breaches
        self.health = self._judge(lag)
        if self.health is SystemHealth.UNHEALTHY:
            self._healthy_since = None
            if self._unhealthy_since is None:
                self._unhealthy_since = now_ns
        elif self.health is SystemHealth.HEALTHY:
            self._unhealthy_since = None
            if self._healthy_since is None:
                self._healthy_since = now_ns
        else:
            self._unhealthy_since = self._healthy_since = None
        return self._act(now_ns, lag)

    def _judge(self, lag: int) -> SystemHealth:
        c = self.config
        rate = self.breach_rate or 0.0
        if lag >= c.max_lag or rate >= c.breach_rate_per_s:
            return SystemHealth.UNHEALTHY
        if lag < c.healthy_fraction * c.max_lag and rate < c.healthy_fraction * c.breach_rate_per_s:
            return SystemHealth.HEALTHY
        return SystemHealth.MARGINAL

    def _act(self, now_ns: int, lag: int) -> Transition | None:
        c = self.config
        state = self.lifecycle.state
        if (
            state is LifecycleState.READY
            and self._unhealthy_since is not None
            and now_ns - self._unhealthy_since >= c.degrade_after_ns
        ):
            self._own = self.lifecycle.transition(
                LifecycleState.DEGRADED,
                f"system breaker: {self._trouble(lag)} for "
                f"{(now_ns - self._unhealthy_since) / 1e6:.0f} ms",
            )
            return self._own
        if (
            state is LifecycleState.DEGRADED
            and self._own is not None
            and self.lifecycle.history[-1] is self._own
            and self._healthy_since is not None
            and now_ns - self._healthy_since >= c.recover_after_ns
        ):
            self._own = None
            return self.lifecycle.transition(
                LifecycleState.READY,
                f"system breaker: healthy for {(now_ns - self._healthy_since) / 1e6:.0f} ms "
                f"(breaches {self.breach_rate or 0.0:.0f}/s, ring lag {lag})",
            )
        return None

    def _trouble(self, lag: int) -> str:
        c = self.config
        parts = []
        rate = self.breach_rate or 0.0
        if rate >= c.breach_rate_per_s:
            parts.append(f"latency-budget breaches {rate:.0f}/s >= {c.breach_rate_per_s:.0f}/s")
        if lag >= c.max_lag:
            parts.append(f"ring lag {lag} >= {c.max_lag}")
        return " and ".join(parts)
