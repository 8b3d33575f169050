"""SystemBreaker: READY → DEGRADED on sustained overload, back on sustained health, no flapping."""

import pytest

from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.risk.breakers import SystemBreaker, SystemBreakerConfig, SystemHealth

MS = 1_000_000
CONFIG = SystemBreakerConfig(
    breach_rate_per_s=100.0,
    max_lag=1_000,
    healthy_fraction=0.5,
    degrade_after_ns=1_000 * MS,
    recover_after_ns=5_000 * MS,
)


def ready() -> Lifecycle:
    lifecycle = Lifecycle(clock=iter(range(1_000)).__next__)
    lifecycle.transition(LifecycleState.WARMUP, "test")
    lifecycle.transition(LifecycleState.READY, "test")
    return lifecycle


class Probe:
    """A SystemBreaker observed every 100 ms, its breach counter growing at a set rate."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.breaker = SystemBreaker(lifecycle, CONFIG)
        self.breaches = 0.0

    def run(
        self, start_ms: int, stop_ms: int, lag: int, rate: float = 0.0
    ) -> list[tuple[int, LifecycleState]]:
        """Observe ``lag`` from ``start_ms`` to ``stop_ms``; the transitions made, by time."""
        made = []
        for now_ms in range(start_ms, stop_ms, 100):
            self.breaches += rate / 10
            transition = self.breaker.observe(now_ms * MS, round(self.breaches), lag)
            if transition is not None:
                made.append((now_ms, transition.target))
        return made


def test_sustained_ring_lag_degrades_after_the_configured_time() -> None:
    lifecycle = ready()
    probe = Probe(lifecycle)
    assert probe.run(0, 1_000, lag=1_500) == []
    assert probe.breaker.health is SystemHealth.UNHEALTHY
    assert probe.run(1_000, 1_100, lag=1_500) == [(1_000, LifecycleState.DEGRADED)]
    assert lifecycle.state is LifecycleState.DEGRADED
    reason = lifecycle.history[-1].reason
    assert "ring lag 1500 >= 1000" in reason and "for 1000 ms" in reason


def test_sustained_budget_breaches_degrade_and_name_the_rate() -> None:
    lifecycle = ready()
    probe = Probe(lifecycle)
    made = probe.run(0, 2_000, lag=0, rate=250.0)
    assert made == [(1_100, LifecycleState.DEGRADED)]  # the rate needs two observations
    assert probe.breaker.breach_rate == pytest.approx(250.0)
    assert "latency-budget breaches 250/s >= 100/s" in lifecycle.history[-1].reason


def test_recovers_after_staying_healthy_and_marginal_restarts_the_clock() -> None:
    lifecycle = ready()
    probe = Probe(lifecycle)
    probe.run(0, 1_100, lag=2_000)
    assert lifecycle.state is LifecycleState.DEGRADED
    # healthy (< 500) for 4 s, marginal (500 … 999) once, then healthy again
    assert probe.run(1_100, 5_100, lag=10) == []
    assert probe.run(5_100, 5_200, lag=700) == []
    assert probe.breaker.health is SystemHealth.MARGINAL
    assert probe.run(5_200, 10_200, lag=10) == []
    assert probe.run(10_200, 10_300, lag=10) == [(10_200, LifecycleState.READY)]
    assert "healthy for 5000 ms" in lifecycle.history[-1].reason
    assert [t.target for t in lifecycle.history[3:]] == [
        LifecycleState.DEGRADED,
        LifecycleState.READY,
    ]


def test_an_overload_blinking_on_and_off_does_not_flap() -> None:
    lifecycle = ready()
    probe = Probe(lifecycle)
    for second in range(60):  # 0.5 s overloaded, 0.5 s healthy, for a minute
        probe.run(second * 1_000, second * 1_000 + 500, lag=5_000)
        probe.run(second * 1_000 + 500, second * 1_000 + 1_000, lag=0)
    assert lifecycle.state is LifecycleState.READY
    assert len(lifecycle.history) == 3

    probe.run(60_000, 61_100, lag=5_000)
    assert lifecycle.state is LifecycleState.DEGRADED
    for second in range(61, 121):  # 4 s healthy, 1 s overloaded: never 5 s healthy
        probe.run(second * 1_000, second * 1_000 + 800, lag=0)
        probe.run(second * 1_000 + 800, second * 1_000 + 1_000, lag=5_000)
    assert lifecycle.state is LifecycleState.DEGRADED
    assert len(lifecycle.history) == 4


def test_never_touches_halted_and_only_undoes_its_own_degradation() -> None:
    lifecycle = ready()
    probe = Probe(lifecycle)
    probe.run(0, 1_100, lag=5_000)
    lifecycle.transition(LifecycleState.HALTED, "kill switch")
    assert probe.run(1_100, 20_000, lag=0) == []
    assert probe.run(20_000, 30_000, lag=5_000) == []
    assert lifecycle.state is LifecycleState.HALTED

    lifecycle.transition(LifecycleState.READY, "operator", approved_by="ops")
    lifecycle.transition(LifecycleState.DEGRADED, "failure injection")
    assert probe.run(30_000, 40_000, lag=0) == []
    assert lifecycle.state is LifecycleState.DEGRADED


def test_outside_ready_and_degraded_it_only_watches() -> None:
    lifecycle = Lifecycle()
    probe = Probe(lifecycle)
    assert probe.run(0, 5_000, lag=5_000) == []
    assert lifecycle.state is LifecycleState.INIT
    assert probe.breaker.health is SystemHealth.UNHEALTHY


def test_a_counter_restart_counts_from_zero() -> None:
    breaker = SystemBreaker(ready(), CONFIG)
    breaker.observe(0, 1_000_000, 0)
    breaker.observe(1_000 * MS, 30, 0)
    assert breaker.breach_rate == pytest.approx(30.0)
    breaker.observe(1_000 * MS, 40, 0)  # same instant: the rate stands
    assert breaker.breach_rate == pytest.approx(30.0)
    breaker.observe(2_000 * MS, 90, 0)
    assert breaker.breach_rate == pytest.approx(60.0)


def test_bad_observations_are_refused() -> None:
    breaker = SystemBreaker(ready())
    assert breaker.health is SystemHealth.UNKNOWN
    breaker.observe(10, 0, 0)
    with pytest.raises(ValueError, match="now_ns went backwards: 5 after 10"):
        breaker.observe(5, 0, 0)
    with pytest.raises(ValueError, match="breaches and lag must be >= 0"):
        breaker.observe(20, -1, 0)
