"""WarmupController: READY only after M consecutive good windows per stage, never on a timer."""

from __future__ import annotations

import numpy as np

from lowlat.control import (
    MetricsSidecar,
    Probes,
    ReadinessConfig,
    Stage,
    StageBudgets,
    WarmupController,
)
from lowlat.control.metrics import Metrics
from lowlat.core.lifecycle import IllegalTransition, Lifecycle, LifecycleState

from ._support import SECOND, ManualClock, produce

WINDOW = 100
CONFIG = ReadinessConfig(
    stages=(Stage.DECODE, Stage.BOOK), window_events=WINDOW, percentile=99.0, good_windows=3
)
GOOD = np.full(WINDOW, 500, np.int64)  # decode budget 1000 ns, book 1000 ns
BAD = np.concatenate([np.full(WINDOW - 2, 500), [5_000, 5_000]]).astype(np.int64)  # p99 5 µs


class Engine:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.lifecycle = Lifecycle(clock=self.clock)
        self.lifecycle.transition("WARMUP", "start")
        self.metrics = Metrics(budgets=StageBudgets(decode=1_000, book=1_000))
        self.warmup = WarmupController(self.lifecycle, self.metrics, CONFIG)
        self.sidecar = MetricsSidecar(self.metrics, self.lifecycle, clock=self.clock)
        self.sidecar.add_listener(self.warmup.observe)
        self.sidecar.add_task(self.warmup.poll)
        self.probes = Probes(self.lifecycle, sidecar=self.sidecar, warmup=self.warmup)

    def feed(self, stage: Stage, values: np.ndarray, *, seconds: float = 0.005) -> None:
        produce(self.metrics.arrays, int(stage), values, int(stage))
        self.sidecar.tick(self.clock.advance(round(seconds * SECOND)))

    @property
    def state(self) -> LifecycleState:
        return self.lifecycle.state


def test_ready_exactly_after_the_last_stage_completes_its_good_windows():
    engine = Engine()
    for i in range(3):
        engine.feed(Stage.DECODE, GOOD)
        assert engine.warmup.progress()[Stage.DECODE].good_windows == i + 1
    for _ in range(2):
        engine.feed(Stage.BOOK, GOOD)
        assert engine.state is LifecycleState.WARMUP
    assert engine.warmup.reason() == (
        "warming up: decode stable; book: 2/3 good windows (last p99 500 ns ≤ budget 1000 ns)"
    )
    engine.feed(Stage.BOOK, GOOD)
    assert engine.state is LifecycleState.READY
    reason = engine.lifecycle.history[-1].reason
    assert "3 consecutive windows of 100 events" in reason
    assert "decode p99 500 ns ≤ 1000 ns" in reason


def test_time_alone_never_makes_the_engine_ready():
    engine = Engine()
    engine.feed(Stage.DECODE, GOOD)
    for _ in range(50):
        engine.feed(Stage.DECODE, np.zeros(0, np.int64), seconds=3_600.0)
    assert engine.state is LifecycleState.WARMUP
    assert engine.warmup.progress()[Stage.BOOK].windows == 0


def test_a_bad_window_restarts_its_stages_count():
    engine = Engine()
    for values in (GOOD, GOOD, BAD, GOOD, GOOD):
        engine.feed(Stage.DECODE, values)
        engine.feed(Stage.BOOK, GOOD)
    assert engine.state is LifecycleState.WARMUP
    progress = engine.warmup.progress()[Stage.DECODE]
    assert (progress.good_windows, progress.windows) == (2, 5)
    engine.feed(Stage.DECODE, GOOD)
    assert engine.state is LifecycleState.READY


def test_windows_are_counted_in_samples_whatever_the_batches():
    engine = Engine()
    everything = np.tile(GOOD, 3)
    for chunk in np.array_split(everything, 7):  # uneven batches straddling windows
        engine.feed(Stage.DECODE, chunk)
        engine.feed(Stage.BOOK, chunk)
    assert engine.state is LifecycleState.READY


def test_samples_of_unwatched_stages_and_outside_warmup_do_not_count():
    engine = Engine()
    engine.feed(Stage.SEND, np.tile(GOOD, 5))
    assert all(p.windows == 0 for p in engine.warmup.progress().values())
    engine.lifecycle.transition("HALTED", "operator")
    engine.feed(Stage.DECODE, np.tile(GOOD, 5))
    assert engine.warmup.progress()[Stage.DECODE].windows == 0


def test_a_new_warmup_episode_starts_from_zero():
    engine = Engine()
    engine.feed(Stage.DECODE, np.tile(GOOD, 3))
    engine.feed(Stage.BOOK, np.tile(GOOD, 2))
    engine.lifecycle.transition("HALTED", "kill switch")
    engine.lifecycle.transition("WARMUP", "restart", approved_by="ops")
    assert engine.warmup.progress()[Stage.DECODE].good_windows == 0
    engine.feed(Stage.BOOK, GOOD)
    assert engine.state is LifecycleState.WARMUP


def test_readyz_explains_what_warmup_still_needs_then_flips_to_200():
    engine = Engine()
    code, body = engine.probes.readyz()
    assert (code, body["ready"], body["state"]) == (503, False, "WARMUP")
    assert body["reason"] == (
        "warming up: decode: no window yet (0/100 samples); book: no window yet (0/100 samples)"
    )
    engine.feed(Stage.DECODE, np.concatenate([GOOD, BAD, GOOD[:40]]))
    code, body = engine.probes.readyz()
    assert code == 503
    assert body["reason"].startswith(
        "warming up: decode: 0/3 good windows (last p99 5000 ns > budget 1000 ns); book:"
    )
    engine.feed(Stage.DECODE, np.tile(GOOD, 3))
    engine.feed(Stage.BOOK, np.tile(GOOD, 3))
    code, body = engine.probes.readyz()
    assert (code, body["ready"], body["state"]) == (200, True, "READY")
    assert body["reason"].startswith("warm-up: latency stable")


def test_a_lifecycle_moved_by_someone_else_meanwhile_is_left_alone(monkeypatch):
    engine = Engine()
    engine.feed(Stage.DECODE, np.tile(GOOD, 3))

    def moved_meanwhile(target, reason, **kwargs):
        raise IllegalTransition("illegal lifecycle transition HALTED → READY")

    monkeypatch.setattr(engine.lifecycle, "transition", moved_meanwhile)
    engine.feed(Stage.BOOK, np.tile(GOOD, 3))  # ready: the sidecar survives the refusal
    assert engine.warmup.ready() and engine.sidecar.status().ticks == 2
