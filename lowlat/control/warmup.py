"""``WarmupController``: WARMUP → READY once latency is stable, never after a fixed time.

Control code, fed by the sidecar: :meth:`WarmupController.observe` receives every drained
batch of samples, :meth:`WarmupController.poll` runs after each drain. During WARMUP each
watched stage's samples are cut into consecutive windows of ``window_events`` samples; a
window is *good* when its ``percentile`` is within the stage's budget. Once every watched
stage's most recent ``good_windows`` windows are all good, the engine is ready. Time
plays no part: an idle engine stays in WARMUP however long it waits, and a bad window
restarts its stage's count. Each WARMUP episode (after HALTED, say) starts from zero.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

import numpy as np

from lowlat.control.config import ReadinessConfig
from lowlat.control.metrics import Metrics
from lowlat.control.stages import Stage
from lowlat.core.lifecycle import IllegalTransition, Lifecycle, LifecycleState, Transition

__all__ = ["StageProgress", "WarmupController"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StageProgress:
    """How far one watched stage is toward readiness."""

    stage: Stage
    good_windows: int  # consecutive good windows, ending with the latest
    windows: int  # windows judged in this WARMUP episode
    pending: int  # samples in the window being filled
    last_ns: int | None  # the percentile of the latest window judged
    budget_ns: int | None  # the budget it was judged against


class _Stage:
    def __init__(self, stage: Stage, window: int) -> None:
        self.stage = stage
        self.buffer = np.zeros(window, np.int64)
        self.reset()

    def reset(self) -> None:
        self.fill = self.good = self.windows = 0
        self.last_ns: int | None = None
        self.budget_ns: int | None = None


class WarmupController:
    """Moves ``lifecycle`` WARMUP → READY when the watched stages' latency is stable.

    Parameters
    ----------
    lifecycle
        The engine's lifecycle; only WARMUP samples count and only WARMUP is left.
    metrics
        Source of the stage budgets (read when a window is judged).
    config
        Stages, window size, percentile and good windows needed; defaults if None.
    """

    def __init__(
        self, lifecycle: Lifecycle, metrics: Metrics, config: ReadinessConfig | None = None
    ) -> None:
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.config = config or ReadinessConfig()
        self._rank = math.ceil(self.config.percentile / 100.0 * self.config.window_events) - 1
        self._stages = {s: _Stage(s, self.config.window_events) for s in self.config.stages}
        self._episode: Transition | None = None  # the transition into the WARMUP counted
        self._lock = threading.Lock()  # the sidecar feeds it, the probes and exporter read it

    def _in_warmup(self) -> bool:
        """Whether the engine is in WARMUP; starts a fresh count for a new WARMUP episode."""
        if self.lifecycle.state is not LifecycleState.WARMUP:
            return False
        entry = self.lifecycle.history[-1]
        if entry is not self._episode:
            self._episode = entry
            for progress in self._stages.values():
                progress.reset()
        return True

    def observe(self, stage: Stage, samples: np.ndarray, trusted: bool) -> None:
        """Add a drained batch of ``stage``'s samples (a sidecar listener)."""
        progress = self._stages.get(stage)
        if progress is None:
            return
        with self._lock:
            if self._in_warmup():
                self._add(progress, samples)

    def _add(self, progress: _Stage, samples: np.ndarray) -> None:
        window = progress.buffer
        taken = 0
        while taken < len(samples):
            n = min(len(window) - progress.fill, len(samples) - taken)
            window[progress.fill : progress.fill + n] = samples[taken : taken + n]
            progress.fill += n
            taken += n
            if progress.fill == len(window):
                self._judge(progress)

    def _judge(self, progress: _Stage) -> None:
        value = int(np.partition(progress.buffer, self._rank)[self._rank])
        budget = self.metrics.budget(progress.stage)
        progress.good = progress.good + 1 if value <= budget else 0
        progress.windows += 1
        progress.last_ns, progress.budget_ns = value, budget
        progress.fill = 0

    def ready(self) -> bool:
        """Whether every watched stage has its good windows in this WARMUP episode."""
        with self._lock:
            return self._ready()

    def _ready(self) -> bool:
        return self._in_warmup() and all(
            p.good >= self.config.good_windows for p in self._stages.values()
        )

    def poll(self, now_ns: int) -> Transition | None:
        """Move WARMUP → READY if :meth:`ready` (a sidecar task); return the transition."""
        with self._lock:
            if not self._ready():
                return None
            reason = self._stable()
        try:
            return self.lifecycle.transition(LifecycleState.READY, reason)
        except IllegalTransition:  # another controller moved the engine meanwhile
            _log.warning("warm-up done, but the lifecycle left WARMUP first; not moved")
            return None

    def _stable(self) -> str:
        c = self.config
        stages = ", ".join(
            f"{p.stage.label} p{c.percentile:g} {p.last_ns} ns ≤ {p.budget_ns} ns"
            for p in self._stages.values()
        )
        return (
            f"warm-up: latency stable for {c.good_windows} consecutive windows of "
            f"{c.window_events} events ({stages})"
        )

    def progress(self) -> dict[Stage, StageProgress]:
        """Each watched stage's progress in the current (or last) WARMUP episode."""
        with self._lock:
            self._in_warmup()
            return {
                s: StageProgress(s, p.good, p.windows, p.fill, p.last_ns, p.budget_ns)
                for s, p in self._stages.items()
            }

    def reason(self) -> str:
        """Why the engine is not ready yet, stage by stage (for ``/readyz`` in WARMUP)."""
        c = self.config
        parts = []
        for p in self.progress().values():
            if p.good_windows >= c.good_windows:
                parts.append(f"{p.stage.label} stable")
            elif p.last_ns is None:
                parts.append(
                    f"{p.stage.label}: no window yet ({p.pending}/{c.window_events} samples)"
                )
            else:
                verdict = "≤" if p.budget_ns is not None and p.last_ns <= p.budget_ns else ">"
                parts.append(
                    f"{p.stage.label}: {p.good_windows}/{c.good_windows} good windows "
                    f"(last p{c.percentile:g} {p.last_ns} ns {verdict} budget {p.budget_ns} ns)"
                )
        return "warming up: " + "; ".join(parts)
