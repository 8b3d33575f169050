"""The lifecycle controller: the only writer of the state cell the hot path reads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from lowlat.core.atomics import store_release
from lowlat.core.clock import monotonic_ns
from lowlat.core.lifecycle.states import LEGAL_TRANSITIONS, LifecycleState

__all__ = ["IllegalTransition", "Lifecycle", "Transition"]


class IllegalTransition(ValueError):
    """A transition that the lifecycle table does not allow, or lacks its approval."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of the lifecycle history."""

    monotonic_ns: int
    source: LifecycleState
    target: LifecycleState
    reason: str
    approved_by: str | None = None


class Lifecycle:
    """Owns the lifecycle state cell and its history.

    Parameters
    ----------
    cell
        A writable 1-element int64 array to hold the state — pass a slice of shared
        memory to let other processes read it. A private one is made when omitted.
    clock
        Monotonic nanosecond clock used to stamp transitions (a logical clock in the
        deterministic demo).

    Notes
    -----
    Hot-path code receives :attr:`reader`, a read-only view of the cell: Numba refuses to
    compile a store into a read-only array, so "only controllers write it" is enforced
    by the compiler, not by convention.
    """

    def __init__(self, cell: np.ndarray | None = None, *, clock=monotonic_ns) -> None:
        if cell is None:
            cell = np.zeros(1, dtype=np.int64)
        if cell.dtype != np.int64 or cell.shape != (1,) or not cell.flags.writeable:
            raise ValueError("the lifecycle cell must be a writable int64 array of shape (1,)")
        self._cell = cell
        self._clock = clock
        store_release(self._cell, 0, int(LifecycleState.INIT))
        self.history: list[Transition] = [
            Transition(int(clock()), LifecycleState.INIT, LifecycleState.INIT, "created")
        ]
        reader = cell.view()
        reader.flags.writeable = False
        self.reader = reader
        self._lock = threading.Lock()

    @property
    def state(self) -> LifecycleState:
        """The current state."""
        return LifecycleState(int(self._cell[0]))

    def can(self, target: LifecycleState) -> bool:
        """Whether ``target`` is reachable from the current state in one step."""
        return (self.state, LifecycleState(target)) in LEGAL_TRANSITIONS

    def transition(
        self, target: LifecycleState | str, reason: str, *, approved_by: str | None = None
    ) -> Transition:
        """Move to ``target`` and record why.

        Raises
        ------
        IllegalTransition
            If the table does not allow ``current → target``, if the reason is empty, or
            if leaving HALTED without an operator named in ``approved_by``.
        """
        target = self._parse(target)
        # Several controllers (sidecar, kill switch, operator) may move the engine from
        # their own threads: the check and the move are one step.
        with self._lock:
            return self._move(target, reason, approved_by)

    def _move(self, target: LifecycleState, reason: str, approved_by: str | None) -> Transition:
        source = self.state
        if (source, target) not in LEGAL_TRANSITIONS:
            allowed = sorted(t.name for s, t in LEGAL_TRANSITIONS if s == source)
            raise IllegalTransition(
                f"illegal lifecycle transition {source.name} → {target.name}; "
                f"from {source.name} allowed: {', '.join(allowed) or 'none (terminal)'}"
            )
        if not reason or not reason.strip():
            raise IllegalTransition(f"transition {source.name} → {target.name} needs a reason")
        leaving_halt = source is LifecycleState.HALTED and target is not LifecycleState.STOPPED
        if leaving_halt and (not approved_by or not approved_by.strip()):
            raise IllegalTransition(
                f"leaving HALTED for {target.name} needs an operator approval (approved_by)"
            )
        entry = Transition(int(self._clock()), source, target, reason, approved_by)
        store_release(self._cell, 0, int(target))
        self.history.append(entry)
        return entry

    @staticmethod
    def _parse(target: LifecycleState | str) -> LifecycleState:
        if isinstance(target, str):
            try:
                return LifecycleState[target.upper()]
            except KeyError:
                names = ", ".join(s.name for s in LifecycleState)
                raise IllegalTransition(
                    f"unknown lifecycle state {target!r}; one of {names}"
                ) from None
        return LifecycleState(target)
