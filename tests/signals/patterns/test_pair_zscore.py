"""Pair z-score: EWMA mean and variance of a log spread, fire once per divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.signals.patterns._support import P0, run

PAIR = """
[[pattern]]
name = "pair"
kind = "pair_zscore"
instruments = [1, 2]
z_threshold = {z}
{extra}
"""


def pair(extra: str = "half_life_events = 10", z: float = 2.0) -> str:
    return PAIR.format(z=z, extra=extra)


def reference(
    rows, *, hedge=1.0, half_life_events=None, half_life_us=None, z=2.0, rearm=None, warmup=30
):
    """Plain-Python EWMA z-score over the rows: [(row index, z)] of the events."""
    rearm = z / 2 if rearm is None else rearm
    prices: dict[int, int] = {}
    mean = var = 0.0
    samples = 0
    last = 0
    armed = True
    events = []
    for index, (instrument, time_us, price) in enumerate(rows):
        now = time_us * 1_000
        prices[instrument] = price
        if len(prices) < 2:
            continue
        spread = math.log(prices[1]) - hedge * math.log(prices[2])
        if samples == 0:
            mean, var, samples, last = spread, 0.0, 1, now
            continue
        score = (spread - mean) / math.sqrt(var) if var > 0 else 0.0
        if half_life_events is not None:
            alpha = 1 - 2 ** (-1 / half_life_events)
        else:
            alpha = 1 - math.exp(-(now - last) * math.log(2) / (half_life_us * 1_000))
        diff = spread - mean
        increment = alpha * diff
        mean += increment
        var = (1 - alpha) * (var + diff * increment)
        samples, last = samples + 1, now
        fire = samples - 1 >= warmup and abs(score) >= z
        if armed and fire:
            events.append((index, score))
            armed = False
        elif not armed and abs(score) <= rearm:
            armed = True
    return events


def random_pair(n: int, seed: int, *, jump_every: int = 97) -> list[tuple[int, int, int]]:
    """Two co-moving random walks with an occasional jump of one leg: divergences."""
    rng = np.random.default_rng(seed)
    rows = []
    prices = {1: P0, 2: 2 * P0}
    time_us = 0
    for i in range(n):
        instrument = int(rng.integers(1, 3))
        time_us += int(rng.integers(0, 50))
        step = int(rng.normal(0, 30))
        if i % jump_every == 0:
            step += int(rng.choice([-1, 1]) * 2_000)
        prices[instrument] += step * instrument
        rows.append((instrument, time_us, prices[instrument]))
    return rows


def check(events: np.ndarray, expected: list[tuple[int, float]]) -> None:
    assert [int(s) - 100 for s in events["trigger_seq"]] == [i for i, _ in expected]
    assert events["value"] == pytest.approx([v for _, v in expected], rel=1e-9)


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ("half_life_events = 10", {"half_life_events": 10}),
        ("half_life_events = 3.5\nwarmup = 5", {"half_life_events": 3.5, "warmup": 5}),
        ("half_life_us = 400", {"half_life_us": 400}),
        (
            "half_life_events = 20\nhedge_ratio = 0.8\nrearm_z = 0.25",
            {"half_life_events": 20, "hedge": 0.8, "rearm": 0.25},
        ),
    ],
)
def test_pair_zscore_matches_python_ewma(extra: str, kwargs: dict) -> None:
    rows = random_pair(3_000, seed=7)
    expected = reference(rows, **kwargs)
    assert len(expected) >= 5  # the stream does diverge
    check(run(pair(extra), rows), expected)


def test_no_event_during_warmup() -> None:
    rows = [(1, 0, P0), (2, 0, P0)] + [(1, t, P0 + (t % 2) * 10) for t in range(1, 6)]
    rows.append((1, 6, P0 + 5_000))  # a huge divergence, but only 6 samples came before
    assert len(run(pair("half_life_events = 10\nwarmup = 7"), rows)) == 0
    assert len(run(pair("half_life_events = 10\nwarmup = 6"), rows)) == 1


def test_fires_once_per_divergence_and_rearms_after_reverting() -> None:
    calm = [(1, t, P0 + (t % 2) * 10) for t in range(1, 41)]
    rows = [(2, 0, P0), *calm]
    rows += [(1, 41, P0 + 3_000), (1, 42, P0 + 3_000)]  # diverges; stays apart: one event
    rows += [(1, 43 + t, P0 + (t % 2) * 10) for t in range(60)]  # reverts: re-arms
    rows += [(1, 200, P0 + 6_000)]  # diverges again
    events = run(pair("half_life_events = 5\nwarmup = 10"), rows)
    assert [int(s) - 100 for s in events["trigger_seq"]] == [41, len(rows) - 1]
    assert (events["value"] > 2.0).all()
    check(events, reference(rows, half_life_events=5, warmup=10))


def test_either_leg_triggers_and_names_the_other() -> None:
    rows = random_pair(3_000, seed=11)
    events = run(pair(), rows)
    assert set(events["instrument"]) == {1, 2}
    assert (events["other"] == 3 - events["instrument"]).all()
