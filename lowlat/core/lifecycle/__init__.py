"""Explicit lifecycle: INIT → WARMUP → READY ⇄ DEGRADED, any → HALTED, any → STOPPED."""

from lowlat.core.lifecycle import kernels
from lowlat.core.lifecycle.controller import IllegalTransition, Lifecycle, Transition
from lowlat.core.lifecycle.states import (
    LEGAL_TRANSITIONS,
    ExecutionMode,
    LifecycleState,
    execution_mode_of,
)

__all__ = [
    "LEGAL_TRANSITIONS",
    "ExecutionMode",
    "IllegalTransition",
    "Lifecycle",
    "LifecycleState",
    "Transition",
    "execution_mode_of",
    "kernels",
]
