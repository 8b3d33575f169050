"""MetricsSidecar: trusted and warm-up histograms, windows, lost samples, and its death."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lowlat.control import (
    MetricsConfig,
    MetricsExporter,
    MetricsSidecar,
    Probes,
    SidecarConfig,
    SidecarState,
    Stage,
)
from lowlat.control.metrics import Metrics, kernels
from lowlat.core.atomics import store_release
from lowlat.core.lifecycle import Lifecycle, LifecycleState

from ._support import MS, SECOND, ManualClock, produce, produce_until


def lifecycle_in(state: LifecycleState) -> Lifecycle:
    lifecycle = Lifecycle(clock=ManualClock())
    path = {
        LifecycleState.INIT: [],
        LifecycleState.WARMUP: ["WARMUP"],
        LifecycleState.READY: ["WARMUP", "READY"],
    }[state]
    for target in path:
        lifecycle.transition(target, "test")
    return lifecycle


def sample(metrics: Metrics, stage: Stage, values) -> None:
    produce(metrics.arrays, int(stage), np.asarray(values, np.int64), int(stage))


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_warmup_samples_go_to_the_untrusted_histogram_and_ready_ones_to_the_trusted():
    lifecycle = lifecycle_in(LifecycleState.WARMUP)
    metrics = Metrics()
    sidecar = MetricsSidecar(metrics, lifecycle, clock=ManualClock())
    sample(metrics, Stage.DECODE, [50_000] * 10)  # cold: JIT, page faults
    assert sidecar.tick() == 10
    lifecycle.transition("READY", "warm")
    sample(metrics, Stage.DECODE, [400, 500, 600])
    assert sidecar.tick() == 3
    trusted = sidecar.histogram(Stage.DECODE)
    untrusted = sidecar.histogram(Stage.DECODE, trusted=False)
    assert (trusted.total, trusted.max) == (3, 600)
    assert (untrusted.total, untrusted.min) == (10, 50_000)
    assert sidecar.histogram(Stage.BOOK).total == 0


class FlippingLifecycle:
    """Reports WARMUP on the first read and READY after: a warm-up ending mid-drain."""

    def __init__(self) -> None:
        self.reads = 0

    @property
    def state(self) -> LifecycleState:
        self.reads += 1
        return LifecycleState.WARMUP if self.reads == 1 else LifecycleState.READY


def test_a_drain_that_straddles_the_end_of_warmup_counts_as_untrusted():
    metrics = Metrics()
    sidecar = MetricsSidecar(metrics, FlippingLifecycle(), clock=ManualClock())
    sample(metrics, Stage.INGEST, [1, 2, 3])
    sidecar.tick()
    assert sidecar.histogram(Stage.INGEST, trusted=False).total == 3
    assert sidecar.histogram(Stage.INGEST).total == 0


def test_without_a_lifecycle_every_sample_is_trusted_and_listeners_see_each_batch():
    metrics = Metrics()
    clock = ManualClock()
    sidecar = MetricsSidecar(metrics, clock=clock)
    seen, ticks = [], []
    sidecar.add_listener(
        lambda stage, batch, trusted: seen.append((stage, batch.tolist(), trusted))
    )
    sidecar.add_task(ticks.append)
    sample(metrics, Stage.ACK, [7, 8])
    sample(metrics, Stage.INGEST, [9])
    sidecar.tick()
    assert seen == [(Stage.INGEST, [9], True), (Stage.ACK, [7, 8], True)]
    assert ticks == [clock.now]
    assert sidecar.status().ticks == 1 and sidecar.status().last_tick_ns == clock.now


def test_samples_overwritten_between_drains_are_counted_lost():
    metrics = Metrics(MetricsConfig(samples=16))
    sidecar = MetricsSidecar(metrics, clock=ManualClock())
    sample(metrics, Stage.BOOK, np.arange(100))
    assert sidecar.tick() == 15
    assert sidecar.lost(Stage.BOOK) == 85
    assert sidecar.histogram(Stage.BOOK).min == 85
    sample(metrics, Stage.BOOK, np.arange(10))
    assert sidecar.tick() == 10 and sidecar.lost("book") == 85


def test_the_last_window_holds_only_the_previous_complete_windows_samples():
    metrics = Metrics()
    clock = ManualClock()
    sidecar = MetricsSidecar(metrics, clock=clock, config=SidecarConfig(window_ns=SECOND))
    sample(metrics, Stage.SEND, [1_000] * 5)
    sidecar.tick()  # the first window starts here
    assert sidecar.last_window(Stage.SEND).total == 0
    clock.advance(SECOND)
    sample(metrics, Stage.SEND, [2_000] * 3)
    sidecar.tick()  # closes the window
    assert sidecar.last_window(Stage.SEND).total == 8
    clock.advance(SECOND)
    sample(metrics, Stage.SEND, [3_000])
    sidecar.tick()  # only the new sample is in the window just closed
    window = sidecar.last_window(Stage.SEND)
    assert (window.total, window.min) == (1, 3_000)
    assert sidecar.histogram(Stage.SEND).total == 9
    quantiles = sidecar.window_quantiles(np.array([50.0, 100.0]))
    assert quantiles[Stage.SEND].tolist() == [3_000, 3_000]


def test_the_thread_runs_ticks_until_stopped_and_cannot_start_twice():
    metrics = Metrics()
    sidecar = MetricsSidecar(metrics, config=SidecarConfig(interval_ns=MS))
    assert sidecar.status().state is SidecarState.IDLE
    sidecar.start()
    try:
        sample(metrics, Stage.RISK, [123])
        wait_for(lambda: sidecar.histogram(Stage.RISK).total == 1)
        assert sidecar.status().up
        with pytest.raises(RuntimeError, match="already started"):
            sidecar.start()
    finally:
        sidecar.stop()
    status = sidecar.status()
    assert status.state is SidecarState.STOPPED and not status.up and status.error is None


def test_the_sidecars_death_leaves_the_compiled_hot_path_and_the_lifecycle_untouched():
    lifecycle = lifecycle_in(LifecycleState.READY)
    metrics = Metrics(MetricsConfig(samples=1_024))
    sidecar = MetricsSidecar(metrics, lifecycle, SidecarConfig(interval_ns=MS))
    exporter = MetricsExporter()
    exporter.add_metrics(metrics)
    exporter.add_sidecar(sidecar)
    ticks = []

    def fail_on_third_tick(now_ns: int) -> None:
        ticks.append(now_ns)
        if len(ticks) == 3:
            raise RuntimeError("injected failure")

    sidecar.add_task(fail_on_third_tick)
    stop = np.ones(1, np.int64)
    produce_until(metrics.arrays, int(Stage.DECISION), stop)  # compile before the race
    stop[0] = 0
    history = list(lifecycle.history)
    producer = threading.Thread(
        target=produce_until, args=(metrics.arrays, int(Stage.DECISION), stop), daemon=True
    )
    producer.start()
    try:
        sidecar.start()
        wait_for(lambda: sidecar.status().state is SidecarState.DEAD)
        at_death = metrics.samples_written(Stage.DECISION)
        counted = metrics.counters()["decision"]
        wait_for(lambda: metrics.samples_written(Stage.DECISION) > at_death + 10_000)
        assert metrics.counters()["decision"] > counted
        assert producer.is_alive()
    finally:
        store_release(stop, 0, 1)
        producer.join()
        sidecar.stop()
    status = sidecar.status()
    assert status.error == "RuntimeError: injected failure"
    assert status.ticks == 2 and not status.up
    assert len(ticks) == 3
    assert lifecycle.state is LifecycleState.READY and lifecycle.history == history
    assert metrics.counters()["decision"] == metrics.samples_written(Stage.DECISION)
    code, body = Probes(lifecycle, sidecar=sidecar).livez()
    assert code == 200 and body["sidecar"]["state"] == "dead"
    assert b"lowlat_sidecar_up 0.0" in exporter.render()


def test_a_direct_tick_drains_what_a_compiled_stage_wrote_with_the_real_clock():
    metrics = Metrics()
    sidecar = MetricsSidecar(metrics)
    kernels.sample(metrics.arrays, int(Stage.SIGNAL), 250)
    assert sidecar.tick() == 1
    assert sidecar.histogram("signal").max == 250
