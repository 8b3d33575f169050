"""The time-sync monitor: wall-clock steps and drift are flagged and journaled, normal time not."""

from __future__ import annotations

import time

import pytest

from lowlat.control.timesync import METRICS, TimeSyncConfig, TimeSyncMonitor, WallClock

_MS = 1_000_000
_S = 1_000_000_000


class FakeClocks:
    """A monotonic clock that only moves when told, and a wall clock that follows it."""

    def __init__(self, drift_ppm: float = 0.0) -> None:
        self.mono_ns = 1_000 * _S
        self.wall_offset = 1_700_000_000 * _S
        self.drift_ppm = drift_ppm

    def mono(self) -> int:
        return self.mono_ns

    def wall(self) -> int:
        return self.mono_ns + self.wall_offset + int(self.mono_ns * self.drift_ppm / 1e6)

    def advance(self, ns: int) -> None:
        self.mono_ns += ns


def _monitor(clocks: FakeClocks, **config) -> tuple[TimeSyncMonitor, list[dict], list]:
    journaled: list[dict] = []
    heard: list = []
    monitor = TimeSyncMonitor(
        clocks.wall,
        clocks.mono,
        config=TimeSyncConfig(**config),
        journal=journaled.append,
        listeners=[heard.append],
    )
    return monitor, journaled, heard


def test_the_real_clocks_sampled_for_half_a_second_are_not_flagged() -> None:
    wall = WallClock()
    monitor, journaled, heard = _monitor(FakeClocks())
    monitor.wall, monitor.mono = wall, time.monotonic_ns
    for _ in range(25):
        assert monitor.sample() == []
        time.sleep(0.02)
    status = monitor.status()
    assert status["samples"] == 25 and status["steps"] == 0 and not status["flagged"]
    assert abs(status["drift_ppm"]) < 1_000  # sub-millisecond reads over half a second
    assert journaled == heard == []


def test_a_simulated_jump_is_flagged_once_journaled_and_heard() -> None:
    clocks = FakeClocks()
    wall = WallClock(clocks.wall)
    monitor, journaled, heard = _monitor(clocks)
    monitor.wall = wall
    for _ in range(5):
        clocks.advance(100 * _MS)
        assert monitor.sample() == []
    wall.step(120 * _S)  # the clock-jump scenario's injection
    clocks.advance(100 * _MS)
    (event,) = monitor.sample()
    assert event.kind == "clock-step" and event.delta_ns == 120 * _S
    assert "forwards by 120000.000 ms" in event.message
    for _ in range(5):  # steady again after the step: nothing more
        clocks.advance(100 * _MS)
        assert monitor.sample() == []
    status = monitor.status()
    assert status["steps"] == 1 and status["flagged"] and status["stepped_ns"] == 120 * _S
    assert status["last_step"]["delta_ns"] == 120 * _S
    assert heard == [event]
    (record,) = journaled
    assert record["action"] == "clock-step" and record["by"] == "timesync"
    assert record["monotonic_ns"] == event.monotonic_ns and "wall_time" in record
    # the flag holds for flag_hold_ns, then clears
    clocks.advance(61 * _S)
    monitor.sample()
    assert not monitor.status()["flagged"]


def test_a_backward_jump_is_flagged_and_small_wobble_is_not() -> None:
    clocks = FakeClocks()
    monitor, _, _ = _monitor(clocks, step_threshold_ns=20 * _MS)
    monitor.sample()
    clocks.advance(100 * _MS)
    clocks.wall_offset += 5 * _MS  # NTP-size correction: under the threshold
    assert monitor.sample() == []
    clocks.advance(100 * _MS)
    clocks.wall_offset -= 2 * _S
    (event,) = monitor.sample()
    assert event.delta_ns == -2 * _S and "backwards" in event.message


def test_drift_is_flagged_once_the_window_is_long_enough_and_cleared_when_it_stops() -> None:
    clocks = FakeClocks(drift_ppm=1_000.0)
    monitor, journaled, _ = _monitor(
        clocks, drift_threshold_ppm=200.0, drift_min_span_ns=10 * _S, drift_window_ns=20 * _S
    )
    events = []
    for _ in range(9):  # 9 s: the window is too short to judge
        events += monitor.sample()
        clocks.advance(_S)
    assert events == []
    for _ in range(5):
        events += monitor.sample()
        clocks.advance(_S)
    (event,) = events
    assert event.kind == "clock-drift" and event.drift_ppm == pytest.approx(1_000.0, rel=1e-3)
    assert monitor.status()["flagged"] and monitor.status()["drift_flags"] == 1
    assert [r["action"] for r in journaled] == ["clock-drift"]
    clocks.wall_offset += int(clocks.mono_ns * clocks.drift_ppm / 1e6)  # keep wall continuous
    clocks.drift_ppm = 0.0
    for _ in range(25):  # the window slides past the drifting part
        monitor.sample()
        clocks.advance(_S)
    assert not monitor.status()["flagged"] and monitor.status()["steps"] == 0


def test_poll_samples_at_its_interval_and_a_preempted_read_is_retried() -> None:
    clocks = FakeClocks()
    monitor, _, _ = _monitor(clocks, interval_ns=100 * _MS)
    monitor.poll(clocks.mono())
    monitor.poll(clocks.mono() + 50 * _MS)
    assert monitor.samples == 1
    monitor.poll(clocks.mono() + 100 * _MS)
    assert monitor.samples == 2
    readings = iter([0, 5 * _MS, 10 * _MS, 10 * _MS + 1_000])  # first pair: 5 ms apart

    monitor.mono = lambda: next(readings)
    mono, _wall = monitor.read_pair()
    assert monitor.retries == 1 and mono == 10 * _MS + 500


def test_metrics_and_config_validation() -> None:
    monitor, _, _ = _monitor(FakeClocks())
    monitor.sample()
    assert set(monitor.metrics()) == set(METRICS)
    assert monitor.metrics()["lowlat_timesync_flagged"] == 0.0
    with pytest.raises(ValueError, match="step_threshold_ns"):
        TimeSyncConfig(step_threshold_ns=0)
    with pytest.raises(ValueError, match="drift_threshold_ppm"):
        TimeSyncConfig(drift_threshold_ppm=-1.0)
