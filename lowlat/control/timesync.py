"""``TimeSyncMonitor``: watches the wall clock against the monotonic clock, flags steps and drift.

Control code, run periodically (a sidecar task). The hot path reads only CLOCK_MONOTONIC;
the wall clock (CLOCK_REALTIME) stamps what people and regulators read — journal and
audit times, kill-switch events, reports. NTP/PTP, an operator's ``date -s`` or a VM
resume can step it, and a broken time source lets it drift. The monitor samples
(monotonic, wall) pairs and compares how far each clock moved between two samples:

step
    ``|Δwall − Δmono|`` over ``step_threshold_ns`` between consecutive samples: the wall
    clock jumped (forwards or backwards). Each step is counted, kept, journaled as a RISK
    JSON event and handed to the listeners (the automation's alert).
drift
    The slope of ``wall − mono`` (steps removed) over the last ``drift_window_ns``, in parts
    per million; over ``drift_threshold_ppm`` once the window spans at least
    ``drift_min_span_ns`` is flagged once per episode (cleared when it falls under half
    the threshold). NTP slews both clocks alike, so a healthy host shows ~0 ppm.

A pair is read as monotonic, wall, monotonic; a read whose two monotonic readings are
more than ``max_read_ns`` apart (the thread was preempted) is retried, so a scheduling
hiccup is not mistaken for a step.

:class:`WallClock` is the control plane's wall-clock function: ``time.time_ns`` plus an
offset that the ``clock-jump`` failure scenario steps (see
:mod:`lowlat.control.failures`). The session hands it to everything in the control plane
that stamps wall time (kill switch, automation audit, this monitor).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["METRICS", "ClockEvent", "TimeSyncConfig", "TimeSyncMonitor", "WallClock"]

_log = logging.getLogger(__name__)
_MS = 1_000_000
_S = 1_000_000_000

#: The metric names the session's exporter would serve from :meth:`TimeSyncMonitor.metrics`.
METRICS = (
    "lowlat_timesync_steps_total",
    "lowlat_timesync_last_step_seconds",
    "lowlat_timesync_offset_seconds",
    "lowlat_timesync_drift_ppm",
    "lowlat_timesync_flagged",
)


class WallClock:
    """Wall-clock nanoseconds for the control plane: ``source()`` plus an injectable offset.

    Callable like ``time.time_ns``. :meth:`step` moves it (the ``clock-jump`` scenario);
    the monotonic clock and so the hot path are untouched.
    """

    def __init__(self, source: Callable[[], int] = time.time_ns) -> None:
        self._source = source
        self.offset_ns = 0

    def __call__(self) -> int:
        """Wall-clock nanoseconds, offset included."""
        return self._source() + self.offset_ns

    def step(self, delta_ns: int) -> int:
        """Jump by ``delta_ns`` (negative: backwards); return the new total offset."""
        self.offset_ns += int(delta_ns)
        return self.offset_ns


@dataclass(frozen=True)
class TimeSyncConfig:
    """Thresholds and cadence of the monitor (nanoseconds unless named otherwise)."""

    interval_ns: int = 100 * _MS  # how often :meth:`TimeSyncMonitor.poll` samples
    step_threshold_ns: int = 20 * _MS  # |Δwall − Δmono| above this between samples: a step
    drift_threshold_ppm: float = 200.0
    drift_window_ns: int = 60 * _S
    drift_min_span_ns: int = 10 * _S  # drift is judged only over at least this long
    max_read_ns: int = 200_000  # a pair read that took longer is retried
    flag_hold_ns: int = 60 * _S  # ``flagged`` stays true this long after a step

    def __post_init__(self) -> None:
        for name in ("interval_ns", "step_threshold_ns", "drift_window_ns", "max_read_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"timesync {name} must be a positive integer, got {value!r}")
        for name in ("drift_min_span_ns", "flag_hold_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"timesync {name} must be an integer ≥ 0, got {value!r}")
        if not self.drift_threshold_ppm > 0:
            raise ValueError(
                f"timesync drift_threshold_ppm must be > 0, got {self.drift_threshold_ppm!r}"
            )


@dataclass(frozen=True)
class ClockEvent:
    """A step or drift the monitor flagged."""

    kind: str  # "clock-step" or "clock-drift"
    monotonic_ns: int
    wall_ns: int
    delta_ns: int  # the step (Δwall − Δmono); 0 for drift
    drift_ppm: float  # the drift estimate when flagged
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what is journaled, with the RISK event keys)."""
        return {
            "action": self.kind,
            "by": "timesync",
            "reason": self.message,
            "monotonic_ns": self.monotonic_ns,
            "wall_ns": self.wall_ns,
            "wall_time": _iso(self.wall_ns),
            "delta_ns": self.delta_ns,
            "drift_ppm": self.drift_ppm,
        }


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat(timespec="microseconds")


ClockListener = Callable[[ClockEvent], object]


class TimeSyncMonitor:
    """Samples (monotonic, wall) pairs; flags steps and drift of the wall clock.

    Parameters
    ----------
    wall, mono
        The clocks (nanoseconds): the control plane's wall clock and the monotonic clock.
    config
        Thresholds and cadence.
    journal
        Called with ``(event dict)`` for every flagged event — the session passes a function
        that journals it as a RISK JSON record. Failures are logged, never raised.
    listeners
        Called with every :class:`ClockEvent` (the automation's alert).
    """

    def __init__(
        self,
        wall: Callable[[], int] = time.time_ns,
        mono: Callable[[], int] = time.monotonic_ns,
        *,
        config: TimeSyncConfig | None = None,
        journal: Callable[[dict[str, Any]], object] | None = None,
        listeners: list[ClockListener] | None = None,
    ) -> None:
        self.wall = wall
        self.mono = mono
        self.config = config or TimeSyncConfig()
        self._journal = journal
        self._listeners = list(listeners or ())
        self._lock = threading.Lock()
        self._last: tuple[int, int] | None = None
        self._next_ns = 0
        self._stepped_ns = 0  # sum of the steps seen: removed from the offset for drift
        self._base_offset: int | None = None
        self._window: deque[tuple[int, int]] = deque()  # (mono, offset minus steps)
        self.samples = 0
        self.retries = 0
        self.events: list[ClockEvent] = []
        self.steps = 0
        self.drift_flags = 0
        self.drift_ppm = 0.0
        self._drifting = False
        self.listener_failures = 0

    def add_listener(self, listener: ClockListener) -> None:
        """Call ``listener(event)`` with every flagged step or drift from now on."""
        self._listeners.append(listener)

    # --- sampling -------------------------------------------------------------------------

    def read_pair(self) -> tuple[int, int]:
        """One (monotonic, wall) pair, read close together (retried if preempted)."""
        limit = self.config.max_read_ns
        best: tuple[int, int, int] | None = None
        for _ in range(5):
            before = self.mono()
            wall = self.wall()
            after = self.mono()
            spread = after - before
            if best is None or spread < best[2]:
                best = ((before + after) // 2, wall, spread)
            if spread <= limit:
                break
            self.retries += 1
        assert best is not None
        return best[0], best[1]

    def poll(self, now_ns: int | None = None) -> list[ClockEvent]:
        """Sample if ``interval_ns`` has passed since the last sample (a sidecar task)."""
        now = self.mono() if now_ns is None else now_ns
        if now < self._next_ns:
            return []
        self._next_ns = now + self.config.interval_ns
        return self.sample()

    def sample(self) -> list[ClockEvent]:
        """Take one pair now and judge it; return the events it flagged."""
        mono, wall = self.read_pair()
        return self.observe(mono, wall)

    def observe(self, mono: int, wall: int) -> list[ClockEvent]:
        """Judge one (monotonic, wall) pair against the previous one; return flagged events."""
        c = self.config
        flagged: list[ClockEvent] = []
        with self._lock:
            self.samples += 1
            if self._last is not None:
                last_mono, last_wall = self._last
                delta = (wall - last_wall) - (mono - last_mono)
                if abs(delta) > c.step_threshold_ns:
                    self.steps += 1
                    self._stepped_ns += delta
                    direction = "forwards" if delta > 0 else "backwards"
                    flagged.append(
                        ClockEvent(
                            "clock-step",
                            mono,
                            wall,
                            int(delta),
                            self.drift_ppm,
                            f"wall clock stepped {direction} by {abs(delta) / 1e6:.3f} ms "
                            f"against the monotonic clock (threshold "
                            f"{c.step_threshold_ns / 1e6:g} ms)",
                        )
                    )
            self._last = (mono, wall)
            offset = wall - mono - self._stepped_ns
            if self._base_offset is None:
                self._base_offset = offset
            self._window.append((mono, offset - self._base_offset))
            while self._window and mono - self._window[0][0] > c.drift_window_ns:
                self._window.popleft()
            self.drift_ppm = self._slope_ppm()
            span = self._window[-1][0] - self._window[0][0] if self._window else 0
            if span >= c.drift_min_span_ns and abs(self.drift_ppm) > c.drift_threshold_ppm:
                if not self._drifting:
                    self._drifting = True
                    self.drift_flags += 1
                    flagged.append(
                        ClockEvent(
                            "clock-drift",
                            mono,
                            wall,
                            0,
                            self.drift_ppm,
                            f"wall clock drifting {self.drift_ppm:+.1f} ppm against the "
                            f"monotonic clock over {span / 1e9:.1f} s (threshold "
                            f"{c.drift_threshold_ppm:g} ppm)",
                        )
                    )
            elif abs(self.drift_ppm) < c.drift_threshold_ppm / 2:
                self._drifting = False
            self.events.extend(flagged)
        for event in flagged:
            self._report(event)
        return flagged

    def _slope_ppm(self) -> float:
        """Least-squares slope of the offset over the window, in ppm."""
        n = len(self._window)
        if n < 2:
            return 0.0
        t0 = self._window[0][0]
        xs = [(m - t0) / 1e9 for m, _ in self._window]
        ys = [o / 1e9 for _, o in self._window]
        mx = sum(xs) / n
        my = sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx <= 0.0:
            return 0.0
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        return sxy / sxx * 1e6

    def _report(self, event: ClockEvent) -> None:
        _log.warning("time sync: %s", event.message)
        if self._journal is not None:
            try:
                self._journal(event.to_dict())
            except Exception:
                _log.exception("could not journal the time-sync event")
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                self.listener_failures += 1
                _log.exception("time-sync listener %r failed", listener)

    # --- reading --------------------------------------------------------------------------

    @property
    def flagged(self) -> bool:
        """A step within ``flag_hold_ns`` of the last sample, or drift over the threshold."""
        with self._lock:
            return self._flagged()

    def _flagged(self) -> bool:
        if self._drifting:
            return True
        steps = [e for e in self.events if e.kind == "clock-step"]
        if not steps or self._last is None:
            return False
        return self._last[0] - steps[-1].monotonic_ns <= self.config.flag_hold_ns

    def status(self) -> dict[str, Any]:
        """Samples, steps, the last step, the current offset and drift, and whether flagged."""
        with self._lock:
            last_step = next((e for e in reversed(self.events) if e.kind == "clock-step"), None)
            offset = None if self._last is None else self._last[1] - self._last[0]
            return {
                "flagged": self._flagged(),
                "samples": self.samples,
                "steps": self.steps,
                "drift_flags": self.drift_flags,
                "drift_ppm": round(self.drift_ppm, 3),
                "offset_ns": offset,  # wall − monotonic at the last sample
                "stepped_ns": self._stepped_ns,  # the sum of the steps seen
                "last_step": None if last_step is None else last_step.to_dict(),
                "step_threshold_ns": self.config.step_threshold_ns,
                "drift_threshold_ppm": self.config.drift_threshold_ppm,
            }

    def metrics(self) -> dict[str, float]:
        """Values for the exporter, keyed by the names in :data:`METRICS`."""
        status = self.status()
        last = status["last_step"]
        return {
            "lowlat_timesync_steps_total": float(status["steps"]),
            "lowlat_timesync_last_step_seconds": 0.0 if last is None else last["delta_ns"] / 1e9,
            "lowlat_timesync_offset_seconds": (status["offset_ns"] or 0) / 1e9,
            "lowlat_timesync_drift_ppm": float(status["drift_ppm"]),
            "lowlat_timesync_flagged": 1.0 if status["flagged"] else 0.0,
        }
