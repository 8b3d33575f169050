"""``Probes``: the answers of ``/livez`` and ``/readyz``, as (status, JSON body) pairs.

Liveness is the process serving at all: always 200, with the lifecycle state and the
sidecar's health in the body (a dead sidecar means stale metrics, not a dead engine).
Readiness is the lifecycle being READY: 200 then, 503 otherwise, with the reason — during
WARMUP the warm-up controller's account of what is still missing, else the reason of the
transition that left READY.
"""

from __future__ import annotations

from typing import Any

from lowlat.control.sidecar import MetricsSidecar
from lowlat.control.warmup import WarmupController
from lowlat.core.lifecycle import Lifecycle, LifecycleState

__all__ = ["Probes"]


class Probes:
    """Liveness and readiness of the engine, for the control server's probe routes.

    Parameters
    ----------
    lifecycle
        The engine's lifecycle: READY is ready.
    sidecar
        Reported in both bodies when given.
    warmup
        Explains what is missing while the engine is in WARMUP.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        sidecar: MetricsSidecar | None = None,
        warmup: WarmupController | None = None,
    ) -> None:
        self.lifecycle = lifecycle
        self.sidecar = sidecar
        self.warmup = warmup

    def _sidecar(self) -> dict[str, object] | None:
        return None if self.sidecar is None else self.sidecar.status().to_dict()

    def livez(self, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """200 while the process serves; the body tells the lifecycle and sidecar state."""
        return 200, {
            "status": "alive",
            "lifecycle": self.lifecycle.state.name,
            "sidecar": self._sidecar(),
        }

    def readyz(self, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """200 when the lifecycle is READY, else 503; the body says why."""
        state = self.lifecycle.state
        last = self.lifecycle.history[-1]
        if state is LifecycleState.WARMUP and self.warmup is not None:
            reason = self.warmup.reason()
        else:
            reason = last.reason
        ready = state is LifecycleState.READY
        return (200 if ready else 503), {
            "ready": ready,
            "state": state.name,
            "reason": reason,
            "since_ns": last.monotonic_ns,
            "sidecar": self._sidecar(),
        }
