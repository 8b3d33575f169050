"""Compiled lifecycle reads for the hot path: one acquire load of one int64 cell."""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import load_acquire
from lowlat.core.jit import hot_kernel

_READY = 2
_WARMUP = 1
_DEGRADED = 3
_REFUSE = 0
_PROVISIONAL = 1
_EXECUTE = 2


@hot_kernel
def read_state(cell: np.ndarray) -> int:
    """Current ``LifecycleState`` as an int (acquire load of ``cell[0]``)."""
    return load_acquire(cell, 0)


@hot_kernel
def execution_mode(cell: np.ndarray) -> int:
    """``ExecutionMode`` for a decision made now: EXECUTE only in READY."""
    state = load_acquire(cell, 0)
    if state == _READY:
        return _EXECUTE
    if state in (_DEGRADED, _WARMUP):
        return _PROVISIONAL
    return _REFUSE
