"""Correlated breakout: k of n instruments moved ≥ X bps within W."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.signals.patterns._support import P0, fired, run, window_moves

BREAKOUT = """
[[pattern]]
name = "sector-breakout"
kind = "breakout"
instruments = [1, 2, 3]
k = {k}
move_bps = 5.0
window_us = {window}
{extra}
"""

FLAT = [(1, 0, P0), (2, 0, P0), (3, 0, P0)]

CASES = {
    # name: (k, extra, rows after FLAT (instrument, µs, price), expected (row index, value))
    "one of three moves, k = 2: no": (2, "", [(1, 100, P0 + 500)], []),
    "two move within W: fires at the second": (
        2,
        "",
        [(1, 100, P0 + 500), (2, 300, P0 + 600)],
        [(4, 2.0)],
    ),
    "k = 1 fires at the first": (1, "", [(1, 100, P0 + 500)], [(3, 1.0)]),
    "the other's low superseded exactly W before: no": (
        2,
        "",
        [(1, 100, P0 + 500), (2, 600, P0 + 500)],
        [],
    ),
    "the other's low superseded 1 ns less than W before: fires": (
        2,
        "",
        [(1, 100, P0 + 500), (2, 599.999, P0 + 500)],
        [(4, 2.0)],
    ),
    "moves in opposite directions do not add up": (
        2,
        "",
        [(1, 100, P0 + 500), (2, 200, P0 - 500)],
        [],
    ),
    "two down: fires negative": (2, "", [(1, 100, P0 - 500), (3, 200, P0 - 700)], [(4, -2.0)]),
    "direction up ignores a down breakout": (
        2,
        'direction = "up"',
        [(1, 100, P0 - 500), (3, 200, P0 - 700)],
        [],
    ),
    "all three: one event at k, none at n": (
        2,
        "",
        [(1, 100, P0 + 500), (2, 150, P0 + 500), (3, 200, P0 + 500)],
        [(4, 2.0)],
    ),
    "re-arms when the count falls below k, then fires again": (
        2,
        "",
        [
            (1, 100, P0 + 500),
            (2, 150, P0 + 500),  # fires
            (3, 1_000, P0),  # the moves left the window: count 0, re-arms
            (1, 1_100, P0 + 1_100),  # 5.997 bps above P0 + 500, in force at 600
            (3, 1_200, P0 + 500),  # fires again
        ],
        [(4, 2.0), (7, 2.0)],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_breakout_table(case: str) -> None:
    k, extra, rows, expected = CASES[case]
    assert fired(run(BREAKOUT.format(k=k, extra=extra, window=500), FLAT + rows)) == expected


def test_a_member_never_observed_does_not_count() -> None:
    rows = [(1, 0, P0), (2, 0, P0), (1, 100, P0 + 500), (2, 100, P0 + 500)]
    assert fired(run(BREAKOUT.format(k=3, extra="", window=500), rows)) == []
    assert fired(run(BREAKOUT.format(k=2, extra="", window=500), rows)) == [(3, 2.0)]


def test_event_names_the_trigger_instrument_and_no_other() -> None:
    events = run(
        BREAKOUT.format(k=2, extra="", window=500), [*FLAT, (1, 100, P0 + 500), (3, 200, P0 + 500)]
    )
    assert (int(events["instrument"][0]), int(events["other"][0])) == (3, -1)


def reference(rows, k: int, move: float, window_us: int) -> list[tuple[int, float]]:
    """Every breakout event, recomputed from the whole history at each member observation."""
    history: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 3: []}
    armed = True
    events = []
    for index, (instrument, time_us, price) in enumerate(rows):
        now = time_us * 1_000
        history[instrument].append((now, price))
        moves = [window_moves(h, now, window_us * 1_000) for h in history.values() if h]
        ups = sum(up >= move for up, _ in moves)
        downs = sum(down >= move for _, down in moves)
        cond = ups >= k or downs >= k
        if armed and cond:
            events.append((index, float(ups if ups >= k and ups >= downs else -downs)))
            armed = False
        elif not armed and not cond:
            armed = True
    return events


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([1, 2, 3]), st.integers(0, 200), st.integers(-400, 400)),
        min_size=1,
        max_size=120,
    ),
    k=st.integers(1, 3),
    window_us=st.integers(1, 800),
)
def test_breakout_matches_brute_force(steps, k: int, window_us: int) -> None:
    rows = []
    time_us = 0
    prices = {1: P0, 2: P0, 3: P0}
    for instrument, dt, change in steps:
        time_us += dt
        prices[instrument] += change
        rows.append((instrument, time_us, prices[instrument]))
    text = BREAKOUT.format(k=k, extra="", window=window_us)
    assert fired(run(text, rows)) == reference(rows, k, 5.0, window_us)
