"""MetricsExporter: the /metrics text parsed back, family by family, label by label."""

from __future__ import annotations

import numpy as np
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lowlat.control import (
    LATENCY_BUCKETS_US,
    METRIC_NAMES,
    DegradationController,
    MetricsExporter,
    MetricsSidecar,
    ReadinessConfig,
    Stage,
    StageBudgets,
    WarmupController,
)
from lowlat.control.metrics import Metrics, kernels
from lowlat.core.lifecycle import Lifecycle
from lowlat.core.records import MARKET_EVENT_DTYPE, ORDER_DTYPE, EventKind
from lowlat.core.ring import RingBus
from lowlat.risk import PreTradeRisk
from lowlat.risk.breakers import CircuitBreakers, SystemBreaker
from lowlat.signals.lanes import LaneConfig, LaneSpec, PriorityLanes

from ._support import SECOND, ManualClock, produce


def scrape(exporter: MetricsExporter) -> dict[str, object]:
    """Families by name (counters without ``_total``, as the parser names them)."""
    return {f.name: f for f in text_string_to_metric_families(exporter.render().decode())}


def value(families, sample_name: str, **labels: str) -> float:
    family_name = sample_name.removesuffix("_total")
    for suffix in ("_bucket", "_count", "_sum"):
        if family_name.endswith(suffix) and family_name not in families:
            family_name = family_name.removesuffix(suffix)
    matches = [
        s.value
        for s in families[family_name].samples
        if s.name == sample_name and s.labels == labels
    ]
    assert len(matches) == 1, (sample_name, labels, families[family_name].samples)
    return matches[0]


class Plant:
    """Every kind of source, each in a known state."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.lifecycle = Lifecycle(clock=self.clock)
        self.metrics = Metrics(budgets=StageBudgets(decode=2_000))
        self.sidecar = MetricsSidecar(self.metrics, self.lifecycle, clock=self.clock)
        self.lifecycle.transition("WARMUP", "start")
        produce(self.metrics.arrays, int(Stage.DECODE), np.array([90_000, 70_000]), 0)
        self.sidecar.tick(self.clock.advance(SECOND))
        self.lifecycle.transition("READY", "warm")
        produce(self.metrics.arrays, int(Stage.DECODE), np.array([800, 1_500, 4_000, 60_000]), 0)
        self.sidecar.tick(self.clock.advance(SECOND))
        kernels.count(self.metrics.arrays, int(Stage.DECODE), 1_000)
        self.bus = RingBus(64)
        self.book = self.bus.add_consumer()
        self.journal = self.bus.add_consumer()
        record = np.zeros(1, MARKET_EVENT_DTYPE)
        for _ in range(80):
            self.bus.publish(record)
        self.bus.poll(self.book, self.bus.new_batch(64))
        self.lanes = PriorityLanes(
            LaneConfig(
                lanes=(LaneSpec("critical", 8), LaneSpec("bulk", 8)),
                default_lane=1,
                messages=(),
                trade_size=None,
                price_move=None,
            )
        )
        self.lanes.push(np.zeros(12, MARKET_EVENT_DTYPE), now_ns=1)
        self.breakers = CircuitBreakers()
        trades = np.zeros(2, MARKET_EVENT_DTYPE)
        trades["kind"] = int(EventKind.TRADE)
        trades["instrument"] = 3
        trades["price"] = [100_000, 200_000]  # +100 %: the rolling-move detector halts it
        trades["exchange_ns"] = [1, 2]
        trades["qty"] = 1
        self.breakers.on_events(trades)
        self.risk = PreTradeRisk()
        self.risk.check(np.zeros(1, ORDER_DTYPE), reference_price=100)  # qty 0: invalid
        self.degradation = DegradationController(
            self.metrics, SystemBreaker(self.lifecycle), alerts=()
        )
        self.degradation.observe(self.clock.now)
        self.warmup = WarmupController(
            self.lifecycle, self.metrics, ReadinessConfig(stages=(Stage.DECODE,))
        )
        self.exporter = MetricsExporter(clock=self.clock)
        self.exporter.add_metrics(self.metrics)
        self.exporter.add_sidecar(self.sidecar)
        self.exporter.add_lifecycle(self.lifecycle)
        self.exporter.add_ring("market", self.bus, {self.book: "book", self.journal: "journal"})
        self.exporter.add_lanes("signals", self.lanes)
        self.exporter.add_breakers("equities", self.breakers)
        self.exporter.add_risk("pretrade", self.risk)
        self.exporter.add_degradation(self.degradation)
        self.exporter.add_warmup(self.warmup)


@pytest.fixture(scope="module")
def plant() -> Plant:
    return Plant()


def test_every_declared_family_is_exposed_and_every_name_is_prefixed(plant):
    families = scrape(plant.exporter)
    exposed = {f.name + ("_total" if f.type == "counter" else "") for f in families.values()}
    assert exposed == set(METRIC_NAMES)
    assert len(METRIC_NAMES) == len(set(METRIC_NAMES))
    assert all(name.startswith("lowlat_") for name in METRIC_NAMES)


def test_latency_histograms_have_microsecond_buckets_per_stage_and_trust(plant):
    families = scrape(plant.exporter)
    h = "lowlat_stage_latency_microseconds"
    trusted = {"stage": "decode", "trusted": "true"}
    le = {"1.0": 1, "2.0": 2, "5.0": 3, "50.0": 3, "100.0": 4, "+Inf": 4}
    for bound, count in le.items():
        assert value(families, f"{h}_bucket", **trusted, le=bound) == count
    assert value(families, f"{h}_count", **trusted) == 4
    assert value(families, f"{h}_sum", **trusted) == pytest.approx(66.3)
    untrusted = {"stage": "decode", "trusted": "false"}
    assert value(families, f"{h}_bucket", **untrusted, le="50.0") == 0
    assert value(families, f"{h}_bucket", **untrusted, le="100.0") == 2
    bounds = [
        s.labels["le"]
        for s in families[h].samples
        if s.name == f"{h}_bucket"
        and s.labels == {**s.labels, "stage": "ingest", "trusted": "true"}
    ]
    assert bounds == [*(str(float(b)) for b in LATENCY_BUCKETS_US), "+Inf"]
    q = "lowlat_stage_latency_quantile_microseconds"
    assert value(families, q, **trusted, quantile="0.5") == pytest.approx(1.5, rel=1e-3)
    assert value(families, q, **trusted, quantile="1.0") == 60.0
    assert value(families, q, **untrusted, quantile="1.0") == 90.0
    window = "lowlat_stage_latency_window_microseconds"
    assert value(families, window, stage="decode", quantile="0.99") == 0.0  # no window closed


def test_hot_path_counters_breaches_budgets_and_samples(plant):
    families = scrape(plant.exporter)
    assert value(families, "lowlat_events_total", counter="decode") == 1_000
    assert value(families, "lowlat_stage_samples_total", stage="decode") == 6
    assert value(families, "lowlat_stage_samples_lost_total", stage="decode") == 0
    assert value(families, "lowlat_stage_budget_breaches_total", stage="decode") == 4
    assert value(families, "lowlat_stage_budget_microseconds", stage="decode") == 2.0
    assert value(families, "lowlat_sidecar_up") == 0.0  # ticked by hand, never started
    assert value(families, "lowlat_sidecar_ticks_total") == 2
    assert value(families, "lowlat_sidecar_tick_age_seconds") == 0.0


def test_lifecycle_ring_lanes_breakers_risk_and_health(plant):
    families = scrape(plant.exporter)
    states = {s.labels["state"]: s.value for s in families["lowlat_lifecycle_state"].samples}
    assert states["READY"] == 1.0 and sum(states.values()) == 1.0
    assert value(families, "lowlat_lifecycle_transitions_total") == 2
    assert value(families, "lowlat_ring_capacity", ring="market") == 64
    assert value(families, "lowlat_ring_published_total", ring="market") == 80
    assert value(families, "lowlat_ring_consumer_lag", ring="market", consumer="journal") == 80
    assert value(families, "lowlat_ring_consumer_lag", ring="market", consumer="book") == 0
    assert value(families, "lowlat_ring_consumer_lost_total", ring="market", consumer="book") == 16
    assert (
        value(families, "lowlat_ring_consumer_overruns_total", ring="market", consumer="book") == 1
    )
    assert value(families, "lowlat_ring_back_pressured_total", ring="market") == 0
    assert value(families, "lowlat_ring_occupancy_ratio", ring="market") == 1.0
    assert value(families, "lowlat_lane_dropped_total", lanes="signals", lane="bulk") == 4
    assert value(families, "lowlat_lane_depth", lanes="signals", lane="bulk") == 8
    assert value(families, "lowlat_lane_enqueued_total", lanes="signals", lane="critical") == 0
    assert value(families, "lowlat_breaker_instruments", breakers="equities", state="HALTED") == 1
    assert value(families, "lowlat_breaker_instruments", breakers="equities", state="NORMAL") == 0
    assert value(families, "lowlat_breaker_market_level", breakers="equities") == 0
    assert value(families, "lowlat_risk_checks_total", risk="pretrade") == 1
    rejected = {
        s.labels["reason"]: s.value
        for s in families["lowlat_risk_rejections"].samples
        if s.name == "lowlat_risk_rejections_total"
    }
    assert rejected["INVALID_ORDER"] == 1 and sum(rejected.values()) == 1
    assert "NONE" not in rejected
    health = {s.labels["health"]: s.value for s in families["lowlat_system_health"].samples}
    assert health == {"unknown": 0.0, "healthy": 1.0, "marginal": 0.0, "unhealthy": 0.0}
    assert value(families, "lowlat_alerts_total", kind="degraded") == 0
    assert value(families, "lowlat_warmup_good_windows", stage="decode") == 0


def test_the_default_registry_is_never_touched(plant):
    assert b"lowlat_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)
    assert list(plant.exporter.registry.collect())  # the exporter's own registry serves it


class Broken:
    def stats(self):
        raise RuntimeError("ring unmapped")


def test_a_failing_source_is_skipped_and_counted_while_the_others_are_served():
    exporter = MetricsExporter()
    exporter.add_ring("broken", Broken())
    exporter.add_lifecycle(Lifecycle())
    for scrapes in (1, 2):
        families = scrape(exporter)
        errors = "lowlat_exporter_source_errors_total"
        assert value(families, errors, source="ring:broken") == scrapes
        assert families["lowlat_ring_capacity"].samples == []
        assert value(families, "lowlat_lifecycle_state", state="INIT") == 1.0


def test_registration_is_explicit_and_unique():
    exporter = MetricsExporter()
    bus = RingBus(8)
    exporter.add_ring("market", bus)
    with pytest.raises(ValueError, match="already registered"):
        exporter.add_ring("market", bus)
    with pytest.raises(ValueError, match="non-empty name"):
        exporter.add_ring("", bus)
    exporter.add_ring("orders", bus)
    families = scrape(exporter)
    assert {s.labels["ring"] for s in families["lowlat_ring_capacity"].samples} == {
        "market",
        "orders",
    }
