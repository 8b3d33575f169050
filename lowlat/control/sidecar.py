"""``MetricsSidecar``: drains the hot path's sample rings into HDR histograms, off the hot path.

Control code, in its own daemon thread. Every ``interval_ns`` it drains each stage's lossy
sample ring (counting what the stage overwrote before it got there), records the samples
in the stage's histograms, hands them to listeners (the warm-up controller) and runs the
periodic tasks (the degradation and readiness controllers). The stages never wait for it:
if it falls behind they overwrite samples, and if it dies they go on exactly as before —
its death is recorded in :meth:`MetricsSidecar.status` for the probes and the exporter.

Trust. Samples drained while the lifecycle is INIT or WARMUP (JIT compilation, page
faults, cold caches) go to a separate *untrusted* cumulative histogram per stage. The
state is read before and after each drain; a drain that straddles a change of trust
counts as untrusted, so no warm-up sample is ever reported as trusted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from lowlat.control.config import SidecarConfig
from lowlat.control.hdr import HdrHistogram
from lowlat.control.metrics import Metrics, kernels
from lowlat.control.stages import N_STAGES, Stage
from lowlat.core.lifecycle import Lifecycle, LifecycleState

__all__ = ["MetricsSidecar", "SampleListener", "SidecarState", "SidecarStatus", "StageLatency"]

_log = logging.getLogger(__name__)

#: Called with each drained batch: the stage, its samples (ns; a reused buffer — copy what
#: you keep) and whether they are trusted.
SampleListener = Callable[[Stage, np.ndarray, bool], None]

_UNTRUSTED = frozenset({LifecycleState.INIT, LifecycleState.WARMUP})


class SidecarState(StrEnum):
    """Whether the sidecar thread runs."""

    IDLE = "idle"  # not started
    RUNNING = "running"
    STOPPED = "stopped"  # stopped on request
    DEAD = "dead"  # its loop raised: metrics are stale, trading is unaffected


@dataclass(frozen=True, slots=True)
class SidecarStatus:
    """The sidecar's health, as the probes and the exporter report it."""

    state: SidecarState
    ticks: int
    last_tick_ns: int | None
    error: str | None  # the exception that killed it

    @property
    def up(self) -> bool:
        """Whether the thread is running."""
        return self.state is SidecarState.RUNNING

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (for ``/livez``)."""
        return {
            "state": self.state.value,
            "up": self.up,
            "ticks": self.ticks,
            "last_tick_ns": self.last_tick_ns,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class StageLatency:
    """One stage's cumulative latency histogram summarized for export."""

    stage: Stage
    trusted: bool
    count: int
    sum_ns: int
    at_or_below: np.ndarray  # counts at or below each requested bound
    quantiles: np.ndarray  # ns at each requested percentile


class MetricsSidecar:
    """Drains :class:`Metrics` sample rings into per-stage HDR histograms, periodically.

    Parameters
    ----------
    metrics
        The hot path's metrics.
    lifecycle
        Read to tell trusted samples from warm-up ones; without it every sample is trusted.
    config
        Drain interval and window length; the defaults of :class:`SidecarConfig` if None.
    clock
        Monotonic nanoseconds, for the ticks and the windows.

    Notes
    -----
    :meth:`tick` is the whole job; :meth:`start` only runs it every ``interval_ns`` in a
    daemon thread. Tests and deterministic drivers call :meth:`tick` themselves.
    """

    def __init__(
        self,
        metrics: Metrics,
        lifecycle: Lifecycle | None = None,
        config: SidecarConfig | None = None,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.metrics = metrics
        self.lifecycle = lifecycle
        self.config = config or SidecarConfig()
        self._clock = clock
        self._out = np.zeros(metrics.config.samples, np.int64)
        self._cursors = [0] * N_STAGES
        self._lost = [0] * N_STAGES
        self._trusted = [HdrHistogram() for _ in Stage]
        self._untrusted = [HdrHistogram() for _ in Stage]
        self._window = [HdrHistogram() for _ in Stage]
        self._last_window = [HdrHistogram() for _ in Stage]
        self._window_start: int | None = None
        self._listeners: list[SampleListener] = []
        self._tasks: list[Callable[[int], object]] = []
        self._lock = threading.Lock()  # histograms: written by tick, read by snapshots
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = SidecarState.IDLE
        self._ticks = 0
        self._last_tick_ns: int | None = None
        self._error: str | None = None

    # --- wiring ---------------------------------------------------------------------------

    def add_listener(self, listener: SampleListener) -> None:
        """Call ``listener(stage, samples, trusted)`` with every batch drained."""
        self._listeners.append(listener)

    def add_task(self, task: Callable[[int], object]) -> None:
        """Call ``task(now_ns)`` after every drain (controllers that watch the metrics)."""
        self._tasks.append(task)

    # --- the job --------------------------------------------------------------------------

    def tick(self, now_ns: int | None = None) -> int:
        """Drain every stage once, rotate the window if due, run the tasks; return samples read."""
        now = self._clock() if now_ns is None else now_ns
        read = 0
        arrays = self.metrics.arrays
        for stage in Stage:
            before = self._trusting()
            offset, count, lost, cursor = kernels.drain_samples(
                arrays, int(stage), self._cursors[stage], self._out
            )
            trusted = before and self._trusting()
            self._cursors[stage] = int(cursor)
            self._lost[stage] += int(lost)
            if count == 0:
                continue
            batch = self._out[offset : offset + count]
            with self._lock:
                if trusted:
                    self._trusted[stage].record_many(batch)
                    self._window[stage].record_many(batch)
                else:
                    self._untrusted[stage].record_many(batch)
            for listener in self._listeners:
                listener(stage, batch, trusted)
            read += int(count)
        self._rotate(now)
        for task in self._tasks:
            task(now)
        self._ticks += 1
        self._last_tick_ns = now
        return read

    def _trusting(self) -> bool:
        return self.lifecycle is None or self.lifecycle.state not in _UNTRUSTED

    def _rotate(self, now: int) -> None:
        if self._window_start is None:
            self._window_start = now
        elif now - self._window_start >= self.config.window_ns:
            with self._lock:
                self._window, self._last_window = self._last_window, self._window
                for histogram in self._window:
                    histogram.reset()
            self._window_start = now

    # --- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`tick` every ``interval_ns`` in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError(f"the sidecar was already started (it is {self._state.value})")
        self._state = SidecarState.RUNNING
        self._thread = threading.Thread(target=self._run, name="lowlat-sidecar", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval_s = self.config.interval_ns / 1e9
        try:
            while not self._stop.wait(interval_s):
                self.tick()
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            self._state = SidecarState.DEAD
            _log.exception("metrics sidecar died; metrics are stale, trading continues")
        else:
            self._state = SidecarState.STOPPED

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait for it (a dead sidecar stays dead)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def status(self) -> SidecarStatus:
        """Running, stopped or dead, with the tick count and the fatal error if any."""
        return SidecarStatus(self._state, self._ticks, self._last_tick_ns, self._error)

    # --- reading --------------------------------------------------------------------------

    def lost(self, stage: Stage | str | int) -> int:
        """Samples of ``stage`` overwritten before the sidecar could read them."""
        return self._lost[Stage.parse(stage)]

    def histogram(self, stage: Stage | str | int, *, trusted: bool = True) -> HdrHistogram:
        """A copy of ``stage``'s cumulative histogram (trusted, or the warm-up one)."""
        stage = Stage.parse(stage)
        source = (self._trusted if trusted else self._untrusted)[stage]
        return self._copy(source)

    def last_window(self, stage: Stage | str | int) -> HdrHistogram:
        """A copy of ``stage``'s histogram over the last complete window (trusted samples)."""
        return self._copy(self._last_window[Stage.parse(stage)])

    def _copy(self, source: HdrHistogram) -> HdrHistogram:
        copy = HdrHistogram(source.highest, source.digits)
        with self._lock:
            copy.merge(source)
        return copy

    def latencies(self, bounds_ns: np.ndarray, percentiles: np.ndarray) -> list[StageLatency]:
        """Every stage's trusted and untrusted cumulative histogram, summarized for export."""
        out = []
        with self._lock:
            for stage in Stage:
                for trusted, histograms in ((True, self._trusted), (False, self._untrusted)):
                    h = histograms[stage]
                    out.append(
                        StageLatency(
                            stage=stage,
                            trusted=trusted,
                            count=h.total,
                            sum_ns=h.sum,
                            at_or_below=h.counts_at_or_below(bounds_ns),
                            quantiles=h.percentiles(percentiles),
                        )
                    )
        return out

    def window_quantiles(self, percentiles: np.ndarray) -> dict[Stage, np.ndarray]:
        """Each stage's latency at ``percentiles`` over the last complete window, ns."""
        with self._lock:
            return {stage: self._last_window[stage].percentiles(percentiles) for stage in Stage}
