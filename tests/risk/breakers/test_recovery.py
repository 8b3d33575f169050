"""Auto-recovery: cool-down, hysteresis, no flapping at a threshold, timers on quiet instruments."""

import pytest

from lowlat.risk.breakers import BreakerCause

from ._paths import DOLLAR, S, judge, merge, path, seconds, steady, transitions

HUNDRED = 100 * DOLLAR


def test_warn_steps_down_after_the_cool_down() -> None:
    events = path([*steady(0, 60, HUNDRED), (60, 974_000), *steady(61, 120, HUNDRED)])
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "WARN"), ("WARN", "NORMAL")]
    assert seconds(changes) == [60, 90]
    assert changes["cause"][1] == BreakerCause.RECOVERY
    assert changes["held_ns"][1] == 30 * S


def test_a_reading_inside_the_hysteresis_band_restarts_the_cool_down() -> None:
    # 97.90 (2.1 % = 0.42 of the band) does not raise WARN (0.5) but still justifies it (0.4)
    events = path(
        [*steady(0, 60, HUNDRED), (60, 974_000), *steady(61, 75, HUNDRED), (75, 979_000),
         *steady(76, 120, HUNDRED)]
    )  # fmt: skip
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "WARN"), ("WARN", "NORMAL")]
    assert seconds(changes) == [60, 105]


def test_cool_down_runs_on_event_time_of_any_instrument() -> None:
    quiet = path([*steady(0, 60, HUNDRED), (60, 974_000), (61, HUNDRED)], instrument=1)
    busy = path(steady(0, 120, 50 * DOLLAR), instrument=2)
    events = merge(quiet, busy)
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "WARN"), ("WARN", "NORMAL")]
    assert seconds(changes) == [60, 90]
    trigger = events[events["seq"] == changes["trigger_seq"][1]]
    assert trigger["instrument"].tolist() == [2]


def oscillating(start: int, stop: int, near: int, off: int) -> list[tuple[float, int]]:
    """Prices alternating above and below 100 by ``near ± off`` bps; their mean stays 100."""
    cycle = [near - off, -(near - off), -(near + off), near + off]
    return [(t, HUNDRED + HUNDRED * cycle[t % 4] // 10_000) for t in range(start, stop)]


@pytest.mark.parametrize(("hysteresis", "cooldown_ns"), [(0.2, 30 * S), (0.0, 0)])
def test_oscillating_at_the_warn_edge_does_not_flap(hysteresis: float, cooldown_ns: int) -> None:
    # ± 2.45 % and ± 2.55 % for 60 s: 0.49 and 0.51 of the 5 % band, around WARN's 0.5
    events = path(
        [*steady(0, 300, HUNDRED), *oscillating(300, 360, 250, 5), *steady(360, 420, HUNDRED)]
    )
    _, changes = judge(events, hysteresis=hysteresis, cooldown_ns=cooldown_ns)
    if hysteresis:
        assert transitions(changes) == [("NORMAL", "WARN"), ("WARN", "NORMAL")]
        assert seconds(changes) == [302, 389]  # 30 s after the last 2.55 % (359 s)
    else:  # the same path without hysteresis and cool-down: what the two prevent
        assert len(changes) == 30  # in and out every 4 s cycle


def test_oscillating_at_the_band_edge_enters_the_limit_state_once() -> None:
    # ± 4.9 % and ± 5.1 % for 12 s: 0.98 and 1.02 of the band
    events = path(
        [*steady(0, 300, HUNDRED), *oscillating(300, 312, 500, 10), *steady(312, 330, HUNDRED)]
    )
    _, changes = judge(events)
    assert transitions(changes) == [
        ("NORMAL", "THROTTLE"),
        ("THROTTLE", "LIMIT"),
        ("LIMIT", "NORMAL"),
    ]
    assert seconds(changes) == [300, 302, 312]
