"""Priority lanes: events classified by configurable rules, drained critical-first.

``config`` holds the frozen, TOML-loadable :class:`LaneConfig`; ``kernels`` the compiled
classify / enqueue (with shedding) / drain (with a starvation bound); ``lanes`` the
:class:`PriorityLanes` control class that owns the arrays, changes rules at run time and
reports per-lane counters; ``layout`` the array layout they share.
"""

from lowlat.signals.lanes import kernels
from lowlat.signals.lanes.config import (
    LaneConfig,
    LaneConfigError,
    LaneSpec,
    MessageRule,
    PriceMoveRule,
    TradeSizeRule,
    WatchEntry,
)
from lowlat.signals.lanes.lanes import LaneArrays, LanesStats, LaneStats, PriorityLanes
from lowlat.signals.lanes.layout import DROPPED, ENQUEUED, EVICTED, NO_LANE

__all__ = [
    "DROPPED",
    "ENQUEUED",
    "EVICTED",
    "NO_LANE",
    "LaneArrays",
    "LaneConfig",
    "LaneConfigError",
    "LaneSpec",
    "LaneStats",
    "LanesStats",
    "MessageRule",
    "PriceMoveRule",
    "PriorityLanes",
    "TradeSizeRule",
    "WatchEntry",
    "kernels",
]
