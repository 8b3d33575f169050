"""Cross-instrument patterns: lead-lag, pair z-score, correlated breakout, user predicates.

Patterns are declared in TOML (:class:`PatternConfig`) over groups of instruments and
evaluated by compiled kernels (:mod:`~lowlat.signals.patterns.kernels`) on market-event
records; each detection is a ``PATTERN_EVENT_DTYPE`` record carrying its trigger's
sequence and timestamps. :class:`PatternEngine` runs in the caller's thread;
:class:`PatternGroups` runs each group on its own thread, reading a ring bus.
"""

from lowlat.signals.patterns import kernels
from lowlat.signals.patterns.config import (
    BreakoutPattern,
    GroupConfig,
    LeadLagPattern,
    PairZScorePattern,
    Pattern,
    PatternConfig,
    PatternConfigError,
    PredicatePattern,
)
from lowlat.signals.patterns.engine import PatternEngine, PatternGroups, PatternStats
from lowlat.signals.patterns.events import PATTERN_EVENT_DTYPE, PatternFlag, PatternKind
from lowlat.signals.patterns.kernels import PREDICATE_SIGNATURE
from lowlat.signals.patterns.predicates import predicate

__all__ = [
    "PATTERN_EVENT_DTYPE",
    "PREDICATE_SIGNATURE",
    "BreakoutPattern",
    "GroupConfig",
    "LeadLagPattern",
    "PairZScorePattern",
    "Pattern",
    "PatternConfig",
    "PatternConfigError",
    "PatternEngine",
    "PatternFlag",
    "PatternGroups",
    "PatternKind",
    "PatternStats",
    "PredicatePattern",
    "kernels",
    "predicate",
]
