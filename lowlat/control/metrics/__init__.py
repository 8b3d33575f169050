"""Hot-path metrics: counters and lossy per-stage latency-sample rings with budgets.

``layout`` lays the memory out, ``kernels`` holds what compiled stages call (``count``,
``sample``, ``sample_since``) and the sidecar's ``drain_*``; :class:`Metrics` owns the
arrays and reads them back.
"""

from lowlat.control.metrics import kernels
from lowlat.control.metrics.layout import MetricsArrays
from lowlat.control.metrics.metrics import Metrics

__all__ = ["Metrics", "MetricsArrays", "kernels"]
