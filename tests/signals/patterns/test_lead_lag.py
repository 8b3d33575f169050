"""Lead-lag: the leader moved ≥ X bps within W while the follower has not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.signals.patterns._support import P0, bps, fired, run, window_moves

LEAD_LAG = """
[[pattern]]
name = "one-leads-two"
kind = "lead_lag"
leader = 1
follower = 2
move_bps = {move}
window_us = {window}
{extra}
"""


def lead_lag(extra: str = "", window: int = 500, move: float = 5.0) -> str:
    return LEAD_LAG.format(extra=extra, window=window, move=move)


CASES = {
    # name: (extra keys, rows (instrument, µs, price), expected (row index, value))
    "leader up 5 bps, follower flat: fires": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 100, P0 + 500)],
        [(2, 5.0)],
    ),
    "leader up 4.99 bps: no": ("", [(2, 0, P0), (1, 0, P0), (1, 100, P0 + 499)], []),
    "leader down 5 bps: fires negative": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 100, P0 - 500)],
        [(2, -bps(P0 - 500, P0))],
    ),
    "direction up ignores a down move": (
        'direction = "up"',
        [(2, 0, P0), (1, 0, P0), (1, 100, P0 - 500)],
        [],
    ),
    "direction down ignores an up move": (
        'direction = "down"',
        [(2, 0, P0), (1, 0, P0), (1, 100, P0 + 500)],
        [],
    ),
    "follower moved 5 bps the same way: no": (
        "",
        [(2, 0, P0), (1, 0, P0), (2, 50, P0 + 500), (1, 100, P0 + 500)],
        [],
    ),
    "follower moved 4.99 bps: fires": (
        "",
        [(2, 0, P0), (1, 0, P0), (2, 50, P0 + 499), (1, 100, P0 + 500)],
        [(3, 5.0)],
    ),
    "follower moved the other way: fires": (
        "",
        [(2, 0, P0), (1, 0, P0), (2, 50, P0 - 900), (1, 100, P0 + 500)],
        [(3, 5.0)],
    ),
    "follower_bps sets when the follower counts as moved": (
        "follower_bps = 2.0",
        [(2, 0, P0), (1, 0, P0), (2, 50, P0 + 200), (1, 100, P0 + 500)],
        [],
    ),
    "follower's move older than the window does not count": (
        "",
        [(2, 0, P0), (2, 10, P0 + 500), (1, 10, P0), (1, 600, P0 + 500)],
        [(3, 5.0)],
    ),
    "follower never observed: no": ("", [(1, 0, P0), (1, 100, P0 + 500)], []),
    "follower observations never trigger": (
        "",
        [(1, 0, P0), (2, 0, P0), (1, 100, P0 + 500), (2, 150, P0), (2, 200, P0)],
        [(2, 5.0)],
    ),
    "low exactly W before: inside the window": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 1, P0 + 250), (1, 500, P0 + 500)],
        [(3, 5.0)],
    ),
    "low superseded 1 µs after W before: outside": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 1, P0 + 250), (1, 501, P0 + 500)],
        [],
    ),
    "a price held since long before the window counts": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 10_000, P0 + 500)],
        [(2, 5.0)],
    ),
    "the move is against the window's extreme, not its first price": (
        "",
        [(2, 0, P0), (1, 0, P0), (1, 100, P0 - 300), (1, 200, P0 + 200)],
        [(3, bps(P0 + 200, P0 - 300))],
    ),
    "fires once per episode, re-arms when the condition fails": (
        "",
        [
            (2, 0, P0),
            (1, 0, P0),
            (1, 100, P0 + 500),  # fires
            (1, 200, P0 + 600),  # still true: no second event
            (1, 1_000, P0 + 600),  # window [500, 1000] holds only P0 + 600: re-arms
            (1, 1_100, P0 + 1_200),  # 5.996 bps above P0 + 600: fires again
        ],
        [(2, 5.0), (5, bps(P0 + 1_200, P0 + 600))],
    ),
    "follower catching up re-arms at the next leader observation": (
        "",
        [
            (2, 0, P0),
            (1, 0, P0),
            (1, 100, P0 + 500),  # fires
            (2, 150, P0 + 500),  # follower follows
            (1, 200, P0 + 500),  # condition false: re-arms
            (2, 300, P0 + 500),
            (1, 400, P0 + 1_000),  # leader up 10 bps, but the follower is up 5: no
            (2, 1_000, P0 + 500),  # follower's low leaves the window
            (1, 1_050, P0 + 1_510),  # leader up from P0 + 1000 (held since 400) by 5.09 bps
        ],
        [(2, 5.0), (8, bps(P0 + 1_510, P0 + 1_000))],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lead_lag_table(case: str) -> None:
    extra, rows, expected = CASES[case]
    assert fired(run(lead_lag(extra), rows)) == expected


def test_event_names_leader_and_follower() -> None:
    events = run(lead_lag(), [(2, 0, P0), (1, 0, P0), (1, 100, P0 + 500)])
    assert (events["instrument"][0], events["other"][0]) == (1, 2)


# --- against a brute-force reference -------------------------------------------------


def reference(rows, move: float, window_us: int, still: float) -> list[tuple[int, float]]:
    """Every lead-lag event, recomputed from the whole history at each leader observation."""
    history: dict[int, list[tuple[int, int]]] = {1: [], 2: []}
    armed = True
    events = []
    for index, (instrument, time_us, price) in enumerate(rows):
        now = time_us * 1_000
        history[instrument].append((now, price))
        if instrument != 1:
            continue
        cond, value = False, 0.0
        if history[2]:
            lead_up, lead_down = window_moves(history[1], now, window_us * 1_000)
            follow_up, follow_down = window_moves(history[2], now, window_us * 1_000)
            up_ok = lead_up >= move and follow_up < still
            down_ok = lead_down >= move and follow_down < still
            if up_ok and (not down_ok or lead_up >= lead_down):
                cond, value = True, lead_up
            elif down_ok:
                cond, value = True, -lead_down
        if armed and cond:
            events.append((index, value))
            armed = False
        elif not armed and not cond:
            armed = True
    return events


steps = st.lists(
    st.tuples(
        st.sampled_from([1, 1, 2]),
        st.integers(0, 200),  # µs since the previous row (0: same timestamp)
        st.integers(-400, 400),  # price change in ticks (1 bps = 100)
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps, move=st.sampled_from([2.0, 3.0, 5.0]), window_us=st.integers(1, 800))
def test_lead_lag_matches_brute_force(steps, move: float, window_us: int) -> None:
    rows = []
    time_us = 0
    prices = {1: P0, 2: P0}
    for instrument, dt, change in steps:
        time_us += dt
        prices[instrument] += change
        rows.append((instrument, time_us, prices[instrument]))
    still = move / 2
    text = lead_lag(f"follower_bps = {still}", window=window_us, move=move)
    assert fired(run(text, rows)) == reference(rows, move, window_us, still)
