"""User predicates: compiled functions registered by name, fired on a non-zero value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import config as numba_config
from numba import njit

from lowlat.signals.patterns import PatternConfigError, PatternEngine, predicate
from tests.signals.patterns._support import P0, config, fired, ticks

FAR_APART = """
[[pattern]]
name = "apart"
kind = "predicate"
predicate = "far_apart"
instruments = [3, 1]
params = [300.0]
"""

RECORDER = """
[[pattern]]
name = "recorder"
kind = "predicate"
predicate = "record"
instruments = [2, 4, 1]
params = [1.5, -2.0]
state_size = 6
"""


@predicate
def far_apart(prices, times, slots, params, state, trigger, now):
    first = prices[slots[0]]
    second = prices[slots[1]]
    if first == 0 or second == 0:
        return 0.0
    gap = float(first - second)
    return gap if abs(gap) >= params[0] else 0.0


@predicate
def record(prices, times, slots, params, state, trigger, now):
    state[0] += 1.0
    state[1] = trigger
    state[2] = now
    state[3] = slots.shape[0] * 100 + params.shape[0] * 10 + state.shape[0]
    state[4] = params[0] + params[1]
    state[5] = prices[slots[trigger]] - times[slots[trigger]]
    return 7.0 if state[0] == 3.0 else 0.0


@predicate
def not_a_number(prices, times, slots, params, state, trigger, now):
    return math.nan


def test_fires_when_the_value_turns_non_zero_and_rearms_at_zero() -> None:
    engine = PatternEngine(config(FAR_APART), predicates={"far_apart": far_apart})
    rows = [
        (3, 0, P0),
        (1, 1, P0 + 100),
        (1, 2, P0 - 400),  # 3 - 1 = 400 ≥ 300: fires
        (3, 3, P0 - 50),  # 350: still true, no event
        (1, 4, P0 - 50),  # 0: re-arms
        (1, 5, P0 + 300),  # -350: fires
    ]
    events = engine.feed(ticks(rows))
    assert fired(events) == [(2, 400.0), (5, -350.0)]
    assert list(events["instrument"]) == [1, 1]
    assert list(events["other"]) == [-1, -1]


def test_the_predicate_sees_its_slots_params_state_trigger_and_time() -> None:
    engine = PatternEngine(config(RECORDER))
    engine.register_predicate("record", record)
    rows = [(2, 1, P0), (3, 2, P0), (1, 3, P0 + 9), (4, 4, P0 + 1)]
    events = engine.feed(ticks(rows))
    assert fired(events) == [(3, 7.0)]  # the third call: instrument 3 is not the pattern's
    state = engine.state.pat_state[0]
    assert state[0] == 3.0  # calls
    assert state[1] == 1  # instrument 4 is the second of [2, 4, 1]
    assert state[2] == 4_000  # its event time (exchange clock)
    assert state[3] == 3 * 100 + 2 * 10 + 6
    assert state[4] == -0.5
    assert state[5] == P0 + 1 - 4_000


def test_nan_never_fires() -> None:
    text = FAR_APART.replace("far_apart", "nan")
    engine = PatternEngine(config(text), predicates={"nan": not_a_number})
    assert len(engine.feed(ticks([(3, 0, P0), (1, 1, P0)]))) == 0


def test_an_unregistered_predicate_is_named_at_feed() -> None:
    engine = PatternEngine(config(FAR_APART))
    with pytest.raises(PatternConfigError, match="pattern 'apart': predicate 'far_apart'"):
        engine.feed(ticks([(1, 0, P0)]))
    engine.register_predicate("far_apart", far_apart)
    assert len(engine.feed(ticks([(1, 0, P0)]))) == 0


def test_several_predicates_each_get_their_own() -> None:
    text = FAR_APART + RECORDER
    engine = PatternEngine(config(text), predicates={"far_apart": far_apart, "record": record})
    rows = [(2, 1, P0), (3, 2, P0), (1, 3, P0 + 400), (4, 4, P0)]
    events = engine.feed(ticks(rows))
    assert [(int(e["pattern"]), float(e["value"])) for e in events] == [(0, -400.0), (1, 7.0)]


@pytest.mark.skipif(numba_config.DISABLE_JIT, reason="every callable is accepted interpreted")
@pytest.mark.parametrize(
    "fn",
    [
        lambda *args: 0.0,
        njit(lambda prices, times, slots, params, state, trigger, now: 0.0),
        njit("float64(int64[:], int64)")(lambda a, b: 0.0),
    ],
    ids=["plain python", "lazily compiled", "other signature"],
)
def test_registering_an_uncompiled_or_mistyped_function_is_refused(fn) -> None:
    engine = PatternEngine(config(FAR_APART))
    with pytest.raises(TypeError, match="'far_apart' must be compiled for PREDICATE_SIGNATURE"):
        engine.register_predicate("far_apart", fn)


def test_registering_needs_a_name_and_a_callable() -> None:
    engine = PatternEngine(config(FAR_APART))
    with pytest.raises(TypeError, match="non-empty string"):
        engine.register_predicate("", far_apart)
    with pytest.raises(TypeError, match="far_apart"):
        engine.register_predicate("far_apart", np.zeros(3))
