"""Lifecycle states, the legal transitions between them, and what each allows."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["LEGAL_TRANSITIONS", "ExecutionMode", "LifecycleState", "execution_mode_of"]


class LifecycleState(IntEnum):
    """Engine lifecycle; the hot path reads it as one integer."""

    INIT = 0
    WARMUP = 1
    READY = 2
    DEGRADED = 3
    HALTED = 4
    STOPPED = 5


class ExecutionMode(IntEnum):
    """What the decision gate does with a decision in a given state."""

    REFUSE = 0  # make no decision that sends anything
    PROVISIONAL = 1  # decide, record and ack as provisional; send nothing
    EXECUTE = 2  # decide and send


_S = LifecycleState

#: Every legal (from, to) pair. Anything else is refused. Leaving HALTED also needs an
#: operator's approval (checked by the controller, not encoded here).
LEGAL_TRANSITIONS: frozenset[tuple[LifecycleState, LifecycleState]] = frozenset(
    {
        (_S.INIT, _S.WARMUP),
        (_S.WARMUP, _S.READY),
        (_S.READY, _S.DEGRADED),
        (_S.DEGRADED, _S.READY),
        (_S.HALTED, _S.WARMUP),
        (_S.HALTED, _S.READY),
    }
    | {(s, _S.HALTED) for s in _S if s not in (_S.HALTED, _S.STOPPED)}
    | {(s, _S.STOPPED) for s in _S if s is not _S.STOPPED}
)

_MODES = {
    _S.INIT: ExecutionMode.REFUSE,
    _S.WARMUP: ExecutionMode.PROVISIONAL,
    _S.READY: ExecutionMode.EXECUTE,
    _S.DEGRADED: ExecutionMode.PROVISIONAL,
    _S.HALTED: ExecutionMode.REFUSE,
    _S.STOPPED: ExecutionMode.REFUSE,
}


def execution_mode_of(state: LifecycleState) -> ExecutionMode:
    """The decision gate's mode in ``state`` (control-side twin of the compiled gate)."""
    return _MODES[LifecycleState(state)]
