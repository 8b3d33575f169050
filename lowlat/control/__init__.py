"""The control plane's metrics path, probes and readiness.

Hot path → :mod:`~lowlat.control.metrics` (counters and lossy latency-sample rings the
compiled stages write) → :class:`MetricsSidecar` (drains them into HDR histograms in its
own thread, runs the controllers) → :class:`MetricsExporter` (Prometheus families) →
:class:`ControlServer` (``/metrics``, ``/livez``, ``/readyz`` and a route table).
:class:`DegradationController` feeds budget breaches and ring lag to the system breaker;
:class:`WarmupController` ends WARMUP once latency is stable. Nothing here is on the hot
path, and nothing here can make the hot path wait.
"""

from lowlat.control.config import (
    ControlConfig,
    ControlConfigError,
    MetricsConfig,
    ReadinessConfig,
    ServerConfig,
    SidecarConfig,
    StageBudgets,
)
from lowlat.control.degradation import (
    Alert,
    AlertKind,
    DegradationController,
    WebhookAlert,
    ring_lag,
)
from lowlat.control.exporter import (
    LATENCY_BUCKETS_US,
    LATENCY_PERCENTILES,
    METRIC_NAMES,
    MetricsExporter,
)
from lowlat.control.hdr import HdrHistogram
from lowlat.control.metrics import Metrics, MetricsArrays, kernels
from lowlat.control.probes import Probes
from lowlat.control.server import ControlServer, RouteError
from lowlat.control.sidecar import MetricsSidecar, SidecarState, SidecarStatus
from lowlat.control.stages import Stage
from lowlat.control.warmup import StageProgress, WarmupController

__all__ = [
    "LATENCY_BUCKETS_US",
    "LATENCY_PERCENTILES",
    "METRIC_NAMES",
    "Alert",
    "AlertKind",
    "ControlConfig",
    "ControlConfigError",
    "ControlServer",
    "DegradationController",
    "HdrHistogram",
    "Metrics",
    "MetricsArrays",
    "MetricsConfig",
    "MetricsExporter",
    "MetricsSidecar",
    "Probes",
    "ReadinessConfig",
    "RouteError",
    "ServerConfig",
    "SidecarConfig",
    "SidecarState",
    "SidecarStatus",
    "Stage",
    "StageBudgets",
    "StageProgress",
    "WarmupController",
    "WebhookAlert",
    "kernels",
    "ring_lag",
]
