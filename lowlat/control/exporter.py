"""``MetricsExporter``: Prometheus exposition of the engine, from sources registered with it.

Control code. The exporter is a custom ``prometheus_client`` collector in its own
``CollectorRegistry`` (the process-wide default registry is never touched). Components
register explicitly — ``add_metrics``, ``add_sidecar``, ``add_lifecycle``, ``add_ring``,
``add_lanes``, ``add_breakers``, ``add_risk``, ``add_degradation``, ``add_warmup`` — and
each scrape reads them afresh: nothing is cached between scrapes and nothing is pushed.
Every family is declared in every scrape (with no samples when nothing feeds it), so
dashboards and alerts can rely on :data:`METRIC_NAMES`. A source that raises is skipped
for that scrape and counted in ``lowlat_exporter_source_errors_total``.

Latency histograms have microsecond buckets (:data:`LATENCY_BUCKETS_US`), built from the
sidecar's HDR histograms; the ``trusted="false"`` series hold what was measured during
INIT and WARMUP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from lowlat.control.degradation import DegradationController
from lowlat.control.metrics import Metrics
from lowlat.control.sidecar import MetricsSidecar
from lowlat.control.stages import Stage
from lowlat.control.warmup import WarmupController
from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.ring import RingBus
from lowlat.risk import PreTradeRisk, RejectReason
from lowlat.risk.breakers import CircuitBreakers, InstrumentState, SystemHealth
from lowlat.signals.lanes import PriorityLanes
from lowlat.signals.patterns import PatternEngine

if TYPE_CHECKING:  # both import the server, which imports this module
    from lowlat.control.automation import Automation
    from lowlat.control.checkpoints import PeriodicSnapshots
    from lowlat.control.timesync import TimeSyncMonitor
    from lowlat.execution.loop import EngineLoop

__all__ = ["LATENCY_BUCKETS_US", "LATENCY_PERCENTILES", "METRIC_NAMES", "MetricsExporter"]

_log = logging.getLogger(__name__)

#: Upper bounds of the latency histogram buckets, µs (``+Inf`` is added).
LATENCY_BUCKETS_US: tuple[float, ...] = (
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 5_000, 10_000,
)  # fmt: skip
#: Percentiles exported as ``quantile`` gauges (quantile label = percentile / 100).
LATENCY_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9, 100.0)


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str  # family name; a counter's samples end in ``_total``
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    labels: tuple[str, ...] = ()

    @property
    def exposed(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


_SPECS = (
    _Spec("lowlat_stage_latency_microseconds", "histogram",
          "Stage latency, cumulative since start (trusted=false: INIT and WARMUP).",
          ("stage", "trusted")),
    _Spec("lowlat_stage_latency_quantile_microseconds", "gauge",
          "Stage latency percentile over the cumulative HDR histogram.",
          ("stage", "trusted", "quantile")),
    _Spec("lowlat_stage_latency_window_microseconds", "gauge",
          "Stage latency percentile over the last complete window (trusted samples).",
          ("stage", "quantile")),
    _Spec("lowlat_stage_samples", "counter",
          "Latency samples recorded by the stage.", ("stage",)),
    _Spec("lowlat_stage_samples_lost", "counter",
          "Latency samples overwritten before the sidecar read them.", ("stage",)),
    _Spec("lowlat_stage_budget_breaches", "counter",
          "Latency samples above the stage's budget.", ("stage",)),
    _Spec("lowlat_stage_budget_microseconds", "gauge",
          "Latency budget of the stage.", ("stage",)),
    _Spec("lowlat_events", "counter",
          "Hot-path throughput counters (one per stage, plus configured ones).", ("counter",)),
    _Spec("lowlat_sidecar_up", "gauge",
          "1 while the metrics sidecar runs; 0 when idle, stopped or dead."),
    _Spec("lowlat_sidecar_ticks", "counter", "Drain cycles the metrics sidecar completed."),
    _Spec("lowlat_sidecar_tick_age_seconds", "gauge",
          "Time since the sidecar's last drain (grows when it is dead)."),
    _Spec("lowlat_lifecycle_state", "gauge",
          "1 for the engine's current lifecycle state, 0 for the others.", ("state",)),
    _Spec("lowlat_lifecycle_transitions", "counter", "Lifecycle transitions made."),
    _Spec("lowlat_warmup_good_windows", "gauge",
          "Consecutive warm-up windows under budget, per stage the readiness check watches.",
          ("stage",)),
    _Spec("lowlat_system_health", "gauge",
          "1 for the system breaker's current judgement, 0 for the others.", ("health",)),
    _Spec("lowlat_system_breach_rate_per_second", "gauge",
          "Latency-budget breaches per second, all stages, as the system breaker saw it."),
    _Spec("lowlat_alerts", "counter", "Alerts raised by the degradation controller.",
          ("kind",)),
    _Spec("lowlat_ring_capacity", "gauge", "Slots of the ring.", ("ring",)),
    _Spec("lowlat_ring_published", "counter", "Records published to the ring.", ("ring",)),
    _Spec("lowlat_ring_back_pressured", "counter",
          "Publishes refused because a lossless consumer was a lap behind.", ("ring",)),
    _Spec("lowlat_ring_occupancy_ratio", "gauge",
          "Lag of the ring's slowest consumer over its capacity (1: full).", ("ring",)),
    _Spec("lowlat_ring_consumer_lag", "gauge",
          "Records published that the consumer has not read.", ("ring", "consumer")),
    _Spec("lowlat_ring_consumer_lost", "counter",
          "Records the consumer lost to the producer overwriting them.", ("ring", "consumer")),
    _Spec("lowlat_ring_consumer_overruns", "counter",
          "Times the producer lapped the consumer (loss events).", ("ring", "consumer")),
    _Spec("lowlat_lane_depth", "gauge", "Events queued in the priority lane.",
          ("lanes", "lane")),
    _Spec("lowlat_lane_enqueued", "counter", "Events accepted by the priority lane.",
          ("lanes", "lane")),
    _Spec("lowlat_lane_dropped", "counter", "Events refused on arrival by the priority lane.",
          ("lanes", "lane")),
    _Spec("lowlat_lane_evicted", "counter",
          "Queued events shed from the lane for a more urgent one.", ("lanes", "lane")),
    _Spec("lowlat_breaker_instruments", "gauge",
          "Instruments in each circuit-breaker state.", ("breakers", "state")),
    _Spec("lowlat_breaker_market_level", "gauge",
          "Active market-wide halt level (0: none).", ("breakers",)),
    _Spec("lowlat_risk_checks", "counter", "Pre-trade risk checks made.", ("risk",)),
    _Spec("lowlat_risk_rejections", "counter", "Orders refused by pre-trade risk, by reason.",
          ("risk", "reason")),
    _Spec("lowlat_feed_sequence_gaps", "counter",
          "Holes in the feed's sequence numbers seen before publishing.", ("feed",)),
    _Spec("lowlat_feed_gap_messages", "counter",
          "Sequence numbers missing in those holes.", ("feed",)),
    _Spec("lowlat_timesync_steps", "counter",
          "Wall-clock steps the time-sync monitor flagged (wall moved unlike monotonic)."),
    _Spec("lowlat_timesync_last_step_seconds", "gauge", "Size of the last wall-clock step."),
    _Spec("lowlat_timesync_offset_seconds", "gauge",
          "Wall clock minus its expected value from the monotonic clock."),
    _Spec("lowlat_timesync_drift_ppm", "gauge", "Wall-clock drift against monotonic, ppm."),
    _Spec("lowlat_timesync_flagged", "gauge", "1 while the time-sync monitor flags the clock."),
    _Spec("lowlat_automation_actions", "counter",
          "Automation actions by kind and status (prepared, approved, executed, …).",
          ("kind", "status")),
    _Spec("lowlat_automation_pending_actions", "gauge",
          "High-risk actions waiting for an operator's approval."),
    _Spec("lowlat_pattern_events", "counter",
          "Times each cross-instrument pattern fired.", ("patterns", "pattern", "kind")),
    _Spec("lowlat_pattern_observations", "counter",
          "Market events the patterns observed (mid changes of their instruments).",
          ("patterns",)),
    _Spec("lowlat_engine_records", "counter",
          "The engine loop's counters: events, orders, fills, journaled, journal_refused, "
          "journal_held, lost, …", ("engine", "counter")),
    _Spec("lowlat_snapshots", "counter", "State snapshots written."),
    _Spec("lowlat_snapshot_failures", "counter", "State snapshots that failed (and why: /status)."),
    _Spec("lowlat_snapshot_pause_seconds", "gauge",
          "How long the engine stood still for the last snapshot's copy."),
    _Spec("lowlat_snapshot_max_pause_seconds", "gauge",
          "The longest the engine stood still for a snapshot's copy."),
    _Spec("lowlat_exporter_source_errors", "counter",
          "Scrapes in which a registered source raised (and was skipped).", ("source",)),
)  # fmt: skip

#: Every metric family the exporter exposes, as it appears in the text format (counters
#: with ``_total``; histograms also expose ``_bucket``, ``_sum`` and ``_count``).
METRIC_NAMES: tuple[str, ...] = tuple(spec.exposed for spec in _SPECS)

_SPEC = {spec.name: spec for spec in _SPECS}
_US = 1_000.0
_BOUNDS_NS = np.array([round(b * _US) for b in LATENCY_BUCKETS_US], np.int64)
_BUCKET_LABELS = (*(floatToGoString(b) for b in LATENCY_BUCKETS_US), "+Inf")
_QUANTILE_LABELS = tuple(floatToGoString(p / 100.0) for p in LATENCY_PERCENTILES)
_PERCENTILES = np.array(LATENCY_PERCENTILES)


class _Scrape:
    """One source's samples for one scrape, kept apart until the source has succeeded."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, tuple[str, ...], object, float | None]] = []

    def add(self, name: str, value: float, *labels: str) -> None:
        spec = _SPEC[name]
        if len(labels) != len(spec.labels):
            raise ValueError(f"{name} takes labels {spec.labels}, got {labels}")
        self.samples.append((name, labels, float(value), None))

    def one_hot(self, name: str, current: str, names: list[str], *labels: str) -> None:
        for each in names:
            self.add(name, 1.0 if each == current else 0.0, *labels, each)

    def histogram(
        self, name: str, buckets: list[tuple[str, float]], sum_value: float, *labels: str
    ) -> None:
        self.samples.append((name, labels, buckets, sum_value))


def _families(scrapes: list[_Scrape]) -> dict[str, Metric]:
    """Every declared family, filled with the samples of ``scrapes``."""
    families: dict[str, Metric] = {}
    for spec in _SPECS:
        if spec.kind == "counter":
            family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
        elif spec.kind == "gauge":
            family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
        else:
            family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
        families[spec.name] = family
    for scrape in scrapes:
        for name, labels, value, sum_value in scrape.samples:
            if sum_value is None:
                families[name].add_metric(list(labels), value)
            else:
                families[name].add_metric(list(labels), value, sum_value)
    return families


Source = Callable[[_Scrape], None]


class MetricsExporter(Collector):
    """Collects every registered source into Prometheus families, in a private registry.

    Parameters
    ----------
    clock
        Monotonic nanoseconds; the sidecar's clock, against which its tick age is measured.

    Examples
    --------
    >>> exporter = MetricsExporter()
    >>> exporter.add_metrics(metrics)
    >>> exporter.add_ring("market", bus, consumers={0: "book", 1: "journal"})
    >>> text = exporter.render()
    """

    def __init__(self, *, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        """The registry this exporter is registered in (and nothing else)."""
        self._clock = clock
        self._sources: dict[str, Source] = {}
        self._errors: dict[str, int] = {}
        self.registry.register(self)

    # --- registration ----------------------------------------------------------------------

    def _register(self, key: str, source: Source) -> None:
        if key in self._sources:
            raise ValueError(f"a source {key!r} is already registered")
        self._sources[key] = source

    @staticmethod
    def _name(what: str, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {what} needs a non-empty name for its label, got {name!r}")
        return name

    def add_metrics(self, metrics: Metrics) -> None:
        """Hot-path counters, samples recorded, budgets and budget breaches, per stage."""

        def collect(scrape: _Scrape) -> None:
            for name, value in metrics.counters().items():
                scrape.add("lowlat_events", value, name)
            for stage in Stage:
                scrape.add("lowlat_stage_samples", metrics.samples_written(stage), stage.label)
                scrape.add("lowlat_stage_budget_breaches", metrics.breaches(stage), stage.label)
                scrape.add(
                    "lowlat_stage_budget_microseconds", metrics.budget(stage) / _US, stage.label
                )

        self._register("metrics", collect)

    def add_sidecar(self, sidecar: MetricsSidecar) -> None:
        """Latency histograms and percentiles, samples lost, and the sidecar's own health."""

        def collect(scrape: _Scrape) -> None:
            for latency in sidecar.latencies(_BOUNDS_NS, _PERCENTILES):
                label, trusted = latency.stage.label, "true" if latency.trusted else "false"
                cumulative = [*(float(n) for n in latency.at_or_below), float(latency.count)]
                scrape.histogram(
                    "lowlat_stage_latency_microseconds",
                    list(zip(_BUCKET_LABELS, cumulative, strict=True)),
                    latency.sum_ns / _US,
                    label,
                    trusted,
                )
                for q, value in zip(_QUANTILE_LABELS, latency.quantiles, strict=True):
                    scrape.add(
                        "lowlat_stage_latency_quantile_microseconds", value / _US, label, trusted, q
                    )
            for stage, values in sidecar.window_quantiles(_PERCENTILES).items():
                for q, value in zip(_QUANTILE_LABELS, values, strict=True):
                    scrape.add(
                        "lowlat_stage_latency_window_microseconds", value / _US, stage.label, q
                    )
                scrape.add("lowlat_stage_samples_lost", sidecar.lost(stage), stage.label)
            status = sidecar.status()
            scrape.add("lowlat_sidecar_up", 1.0 if status.up else 0.0)
            scrape.add("lowlat_sidecar_ticks", status.ticks)
            if status.last_tick_ns is not None:
                age = max(self._clock() - status.last_tick_ns, 0) / 1e9
                scrape.add("lowlat_sidecar_tick_age_seconds", age)

        self._register("sidecar", collect)

    def add_lifecycle(self, lifecycle: Lifecycle) -> None:
        """The lifecycle state (one-hot) and the number of transitions."""
        names = [state.name for state in LifecycleState]

        def collect(scrape: _Scrape) -> None:
            scrape.one_hot("lowlat_lifecycle_state", lifecycle.state.name, names)
            scrape.add("lowlat_lifecycle_transitions", len(lifecycle.history) - 1)

        self._register("lifecycle", collect)

    def add_ring(self, name: str, bus: RingBus, consumers: Mapping[int, str] | None = None) -> None:
        """A ring bus: capacity, throughput, back-pressure, occupancy, per-consumer lag and loss.

        ``consumers`` names consumers by index for the ``consumer`` label (default: the index).
        """
        name = self._name("ring", name)
        names = dict(consumers or {})

        def collect(scrape: _Scrape) -> None:
            stats = bus.stats()
            scrape.add("lowlat_ring_capacity", stats.capacity, name)
            scrape.add("lowlat_ring_published", stats.published, name)
            scrape.add("lowlat_ring_back_pressured", stats.back_pressured, name)
            worst = max((c.lag for c in stats.consumers), default=0)
            scrape.add("lowlat_ring_occupancy_ratio", min(worst / stats.capacity, 1.0), name)
            for c in stats.consumers:
                label = names.get(c.consumer, str(c.consumer))
                scrape.add("lowlat_ring_consumer_lag", c.lag, name, label)
                scrape.add("lowlat_ring_consumer_lost", c.lost, name, label)
                scrape.add("lowlat_ring_consumer_overruns", c.loss_events, name, label)

        self._register(f"ring:{name}", collect)

    def add_lanes(self, name: str, lanes: PriorityLanes) -> None:
        """Priority lanes: depth, accepted, dropped and evicted events per lane."""
        name = self._name("lane set", name)

        def collect(scrape: _Scrape) -> None:
            for lane in lanes.stats().lanes:
                scrape.add("lowlat_lane_depth", lane.depth, name, lane.name)
                scrape.add("lowlat_lane_enqueued", lane.enqueued, name, lane.name)
                scrape.add("lowlat_lane_dropped", lane.dropped, name, lane.name)
                scrape.add("lowlat_lane_evicted", lane.evicted, name, lane.name)

        self._register(f"lanes:{name}", collect)

    def add_breakers(self, name: str, breakers: CircuitBreakers) -> None:
        """Circuit breakers: instruments per state and the market-wide level."""
        name = self._name("breaker set", name)

        def collect(scrape: _Scrape) -> None:
            states = list(breakers.states().values())
            for state in InstrumentState:
                scrape.add("lowlat_breaker_instruments", states.count(state), name, state.name)
            scrape.add("lowlat_breaker_market_level", int(breakers.market_level), name)

        self._register(f"breakers:{name}", collect)

    def add_risk(self, name: str, risk: PreTradeRisk) -> None:
        """Pre-trade risk: checks made and rejections by reason (every reason, zeros too)."""
        name = self._name("risk engine", name)

        def collect(scrape: _Scrape) -> None:
            stats = risk.stats()
            scrape.add("lowlat_risk_checks", stats.checks, name)
            for reason in RejectReason:
                if reason is not RejectReason.NONE:
                    count = stats.rejects.get(reason, 0)
                    scrape.add("lowlat_risk_rejections", count, name, reason.name)

        self._register(f"risk:{name}", collect)

    def add_degradation(self, controller: DegradationController) -> None:
        """The system breaker's judgement and breach rate, and the alerts raised."""
        healths = [health.value for health in SystemHealth]

        def collect(scrape: _Scrape) -> None:
            breaker = controller.breaker
            scrape.one_hot("lowlat_system_health", breaker.health.value, healths)
            scrape.add("lowlat_system_breach_rate_per_second", breaker.breach_rate or 0.0)
            for kind, count in controller.alert_counts().items():
                scrape.add("lowlat_alerts", count, kind.value)

        self._register("degradation", collect)

    def add_warmup(self, warmup: WarmupController) -> None:
        """Consecutive good warm-up windows of every stage the readiness check watches."""

        def collect(scrape: _Scrape) -> None:
            for stage, progress in warmup.progress().items():
                scrape.add("lowlat_warmup_good_windows", progress.good_windows, stage.label)

        self._register("warmup", collect)

    def add_feed(self, name: str, gaps: Callable[[], tuple[int, int]]) -> None:
        """A feed's sequence holes: ``gaps()`` returns (holes, messages missing in them)."""

        def collect(scrape: _Scrape) -> None:
            holes, missing = gaps()
            scrape.add("lowlat_feed_sequence_gaps", holes, name)
            scrape.add("lowlat_feed_gap_messages", missing, name)

        self._register(f"feed:{name}", collect)

    def add_timesync(self, monitor: TimeSyncMonitor) -> None:
        """The time-sync monitor's steps, offset, drift and flag."""

        def collect(scrape: _Scrape) -> None:
            for metric, value in monitor.metrics().items():
                scrape.add(metric.removesuffix("_total"), value)

        self._register("timesync", collect)

    def add_patterns(self, name: str, patterns: PatternEngine) -> None:
        """Cross-instrument patterns: times each fired, and the observations they made."""
        name = self._name("pattern set", name)
        kinds = {pattern.name: pattern.kind for pattern in patterns.config.patterns}

        def collect(scrape: _Scrape) -> None:
            for pattern, count in patterns.fired().items():
                scrape.add("lowlat_pattern_events", count, name, pattern, kinds[pattern])
            scrape.add("lowlat_pattern_observations", patterns.stats().observations, name)

        self._register(f"patterns:{name}", collect)

    def add_engine(self, name: str, loop: EngineLoop) -> None:
        """The engine loop's counters: what it processed, sent, journaled, refused, held."""
        name = self._name("engine", name)

        def collect(scrape: _Scrape) -> None:
            for counter, value in loop.counters().items():
                scrape.add("lowlat_engine_records", value, name, counter)

        self._register(f"engine:{name}", collect)

    def add_snapshots(self, snapshots: PeriodicSnapshots) -> None:
        """Periodic snapshots: written, failed, and the engine's pauses for them."""

        def collect(scrape: _Scrape) -> None:
            scrape.add("lowlat_snapshots", snapshots.taken)
            scrape.add("lowlat_snapshot_failures", snapshots.failures)
            scrape.add("lowlat_snapshot_pause_seconds", snapshots.last_pause_ns / 1e9)
            scrape.add("lowlat_snapshot_max_pause_seconds", snapshots.max_pause_ns / 1e9)

        self._register("snapshots", collect)

    def add_automation(self, automation: Automation) -> None:
        """Automation's actions by kind and status, and the pending ones."""

        def collect(scrape: _Scrape) -> None:
            values = automation.metrics()
            for (kind, status), count in values["lowlat_automation_actions_total"].items():
                scrape.add("lowlat_automation_actions", count, kind, status)
            pending = values["lowlat_automation_pending_actions"]
            scrape.add("lowlat_automation_pending_actions", pending)

        self._register("automation", collect)

    # --- collection ------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Read every source; yield every family (``prometheus_client`` calls this)."""
        scrapes = []
        for key, source in list(self._sources.items()):
            scrape = _Scrape()
            try:
                source(scrape)
            except Exception:
                self._errors[key] = self._errors.get(key, 0) + 1
                _log.exception("metrics source %s failed; skipped in this scrape", key)
            else:
                scrapes.append(scrape)
        errors = _Scrape()
        for key, count in self._errors.items():
            errors.add("lowlat_exporter_source_errors", count, key)
        yield from _families([*scrapes, errors]).values()

    def render(self) -> bytes:
        """The Prometheus text format of every family (what ``GET /metrics`` serves)."""
        return generate_latest(self.registry)
