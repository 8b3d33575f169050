"""Budget breaches and ring lag → SystemBreaker → DEGRADED and back, with alerts (fake clock)."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.control import (
    AlertKind,
    ControlServer,
    DegradationController,
    MetricsSidecar,
    Stage,
    StageBudgets,
    WebhookAlert,
    ring_lag,
)
from lowlat.control.metrics import Metrics
from lowlat.core.lifecycle import IllegalTransition, Lifecycle, LifecycleState
from lowlat.core.ring import RingBus
from lowlat.risk.breakers import SystemBreaker, SystemBreakerConfig, SystemHealth

from ._support import MS, SECOND, ManualClock, produce

BREAKER = SystemBreakerConfig(
    breach_rate_per_s=100.0,
    max_lag=50,
    healthy_fraction=0.5,
    degrade_after_ns=SECOND,
    recover_after_ns=5 * SECOND,
)
STEP = 100 * MS


class Engine:
    """A READY engine whose sidecar runs the degradation controller, on a manual clock."""

    def __init__(self, lag=None, state: str = "READY") -> None:
        self.clock = ManualClock()
        self.lifecycle = Lifecycle(clock=self.clock)
        for target in ("WARMUP", "READY")[: ("WARMUP", "READY").index(state) + 1]:
            self.lifecycle.transition(target, "test")
        self.metrics = Metrics(budgets=StageBudgets(decision=2_000))
        self.alerts = []
        self.controller = DegradationController(
            self.metrics,
            SystemBreaker(self.lifecycle, BREAKER),
            lag=lag,
            alerts=[self.alerts.append],
        )
        self.sidecar = MetricsSidecar(self.metrics, self.lifecycle, clock=self.clock)
        self.sidecar.add_task(self.controller.observe)

    def run(self, seconds: float, breaches_per_step: int = 0) -> list[tuple[float, str]]:
        """Tick every 100 ms for ``seconds``; the lifecycle states entered, by time (s)."""
        entered = []
        for _ in range(round(seconds * SECOND / STEP)):
            latencies = [1_000] * 50 + [9_000] * breaches_per_step
            produce(self.metrics.arrays, int(Stage.DECISION), np.array(latencies), 0)
            before = self.lifecycle.state
            self.sidecar.tick(self.clock.advance(STEP))
            if self.lifecycle.state is not before:
                entered.append((round(self.clock.now / SECOND - 1, 1), self.lifecycle.state.name))
        return entered


def test_sustained_breaches_degrade_the_engine_and_sustained_health_restores_it():
    engine = Engine()
    assert engine.run(0.5, breaches_per_step=20) == []  # 200/s, but not for long enough yet
    assert engine.controller.breaker.health is SystemHealth.UNHEALTHY
    assert engine.run(1.0, breaches_per_step=20) == [(1.2, "DEGRADED")]
    assert [a.kind for a in engine.alerts] == [AlertKind.SUSTAINED, AlertKind.DEGRADED]
    assert "latency-budget breaches" in engine.alerts[1].message
    assert engine.alerts[1].breach_rate_per_s == pytest.approx(200.0)
    # the stages that breached during the episode: 11 steps of 20 (the first observation
    # has no rate yet, so the episode starts at the second)
    for alert in engine.alerts:
        assert alert.stages == {"decision": {"breaches": 220, "recent_max_ns": 9_000}}
    assert engine.run(4.9) == []  # healthy, but not for 5 s yet
    assert engine.run(1.0) == [(6.6, "READY")]
    assert [a.kind for a in engine.alerts][-1] is AlertKind.RECOVERED
    assert engine.alerts[-1].stages == {}
    assert engine.controller.alert_counts() == {
        AlertKind.SUSTAINED: 1,
        AlertKind.DEGRADED: 1,
        AlertKind.RECOVERED: 1,
    }
    assert engine.metrics.breaches(Stage.DECISION) == 20 * 15


def test_occasional_breaches_below_the_rate_change_nothing():
    engine = Engine()
    assert engine.run(10.0, breaches_per_step=4) == []  # 40/s: marginal, never unhealthy
    assert engine.alerts == []
    assert engine.lifecycle.state is LifecycleState.READY


def test_ring_lag_of_a_stalled_consumer_degrades_the_engine():
    bus = RingBus(64)
    stalled = bus.add_consumer()
    engine = Engine(lag=ring_lag(bus, [stalled]))
    record = np.zeros(1, bus.record_dtype)
    for _ in range(60):
        bus.publish(record)
    assert engine.run(1.2) == [(1.1, "DEGRADED")]
    assert engine.alerts[-1].lag == 60
    assert "ring lag 60 >= 50" in engine.alerts[-1].message
    assert ring_lag(bus)() == 60
    assert ring_lag(RingBus(8))() == 0


def test_sustained_trouble_in_warmup_alerts_once_but_moves_nothing():
    engine = Engine(state="WARMUP")
    assert engine.run(3.0, breaches_per_step=20) == []
    assert [a.kind for a in engine.alerts] == [AlertKind.SUSTAINED]
    assert "in WARMUP" in engine.alerts[0].message
    engine.run(1.0)  # healthy again: the episode ends …
    engine.run(2.0, breaches_per_step=20)  # … and a new one alerts again
    assert [a.kind for a in engine.alerts] == [AlertKind.SUSTAINED] * 2


def test_a_failing_alert_callback_is_counted_and_does_not_stop_the_others():
    engine = Engine()

    def broken(alert):
        raise ConnectionError("pager down")

    engine.controller.add_alert(broken)
    engine.controller.add_alert(engine.alerts.append)
    engine.run(1.5, breaches_per_step=20)
    assert engine.lifecycle.state is LifecycleState.DEGRADED
    assert engine.controller.alert_failures == 2
    assert len(engine.alerts) == 4  # both alerts, twice: the first list and the last


def test_the_webhook_posts_each_alert_as_json():
    received = []
    server = ControlServer(port=0)
    server.add_route("POST", "/alerts", lambda body: received.append(body) or (200, {"ok": True}))
    with server:
        engine = Engine()
        engine.controller.add_alert(WebhookAlert(server.url + "/alerts"))
        engine.run(1.5, breaches_per_step=20)
        with pytest.raises(Exception, match="404"):
            WebhookAlert(server.url + "/nowhere")(engine.alerts[0])
    assert [body["kind"] for body in received] == ["sustained", "degraded"]
    assert received[1]["message"].startswith("system breaker:")
    assert set(received[0]) == {"kind", "now_ns", "message", "breach_rate_per_s", "lag", "stages"}
    assert received[0]["stages"]["decision"]["recent_max_ns"] == 9_000
    with pytest.raises(ValueError, match="http"):
        WebhookAlert("ftp://example")


def test_a_lifecycle_moved_by_someone_else_meanwhile_does_not_stop_the_controller(monkeypatch):
    engine = Engine()

    def moved_meanwhile(target, reason, **kwargs):
        raise IllegalTransition("illegal lifecycle transition HALTED → DEGRADED")

    monkeypatch.setattr(engine.lifecycle, "transition", moved_meanwhile)
    assert engine.run(2.0, breaches_per_step=20) == []
    assert [a.kind for a in engine.alerts] == [AlertKind.SUSTAINED]
