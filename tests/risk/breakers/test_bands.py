"""LULD-style bands: tiers, the reference price, the limit state, the pause and reopening."""

import numpy as np
import pytest

from lowlat.risk.breakers import BreakerCause, InstrumentState

from ._paths import DOLLAR, S, judge, merge, path, seconds, steady, transitions


@pytest.mark.parametrize(
    ("price", "band_bps"),
    [(100 * DOLLAR, 500.0), (15_000, 1_000.0), (5_000, 2_000.0)],
    ids=["above $3: 5 %", "$0.75-$3: 10 %", "below $0.75: 20 %"],
)
def test_each_tier_limits_at_its_band_and_not_inside_it(price: int, band_bps: float) -> None:
    edge = price * round(band_bps) // 10_000
    history = steady(0, 60, price)

    _, inside = judge(path([*history, (60, price - edge + 1)]))
    assert transitions(inside) == [("NORMAL", "THROTTLE")]

    _, below = judge(path([*history, (60, price - edge - 1)]))
    _, above = judge(path([*history, (60, price + edge + 1)]))
    for changes in (below, above):
        assert transitions(changes) == [("NORMAL", "LIMIT")]
        assert changes["cause"][0] == BreakerCause.BAND
        assert changes["threshold"][0] == band_bps
        assert changes["value"][0] > band_bps
        assert changes["reference"][0] == price


def test_levels_rise_in_order_warn_throttle_limit() -> None:
    _, changes = judge(
        path([*steady(0, 60, 100 * DOLLAR), (60, 974_000), (61, 961_000), (62, 945_000)])
    )
    assert transitions(changes) == [("NORMAL", "WARN"), ("WARN", "THROTTLE"), ("THROTTLE", "LIMIT")]
    assert changes["threshold"].tolist() == [250.0, 375.0, 500.0]
    assert seconds(changes) == [60, 61, 62]


def test_reference_is_the_mean_price_before_the_event() -> None:
    alternating = [(t, 98 * DOLLAR if t % 2 else 102 * DOLLAR) for t in range(60, 120)]
    # 95.10 is 4.9 % below the mean (THROTTLE) but 6.8 % below the last price
    _, changes = judge(path([*steady(0, 60, 100 * DOLLAR), *alternating, (120, 951_000)]))
    assert transitions(changes) == [("NORMAL", "THROTTLE")]
    assert changes["reference"][0] == 100 * DOLLAR


def test_reference_window_slides_with_event_time() -> None:
    # 2 % lower for longer than the 5-minute window: the reference follows (no change), and
    # 93.20 is judged against 98 (4.9 %: THROTTLE), not against the old 100 (LIMIT)
    events = path([*steady(0, 100, 100 * DOLLAR), *steady(100, 410, 98 * DOLLAR), (410, 932_000)])
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "THROTTLE")]
    assert changes["reference"][0] == 98 * DOLLAR


def test_empty_window_keeps_the_last_reference() -> None:
    _, changes = judge(path([*steady(0, 10, 100 * DOLLAR), (1_000, 949_000)]))
    assert transitions(changes) == [("NORMAL", "LIMIT")]
    assert changes["reference"][0] == 100 * DOLLAR


def test_leaving_the_limit_state_within_15_s_returns_to_normal() -> None:
    # 95.50 is back inside the band but not by the 20 % margin: still LIMIT
    events = path([*steady(0, 60, 100 * DOLLAR), (60, 949_000), (63, 955_000), (70, 999_000)])
    breakers, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")]
    assert seconds(changes) == [60, 70]
    assert changes["cause"][1] == BreakerCause.RECOVERY
    assert changes["held_ns"][1] == 10 * S
    assert breakers.state_of(1) is InstrumentState.NORMAL


def test_15_s_in_the_limit_state_pauses_for_5_minutes_then_reopens() -> None:
    low = 94 * DOLLAR
    events = path(
        [*steady(0, 60, 100 * DOLLAR), *steady(60, 76, low), *steady(80, 400, low, 5.0),
         (400, 89 * DOLLAR)]
    )  # fmt: skip
    breakers, changes = judge(events)
    assert transitions(changes) == [
        ("NORMAL", "LIMIT"),
        ("LIMIT", "PAUSED"),
        ("PAUSED", "NORMAL"),
        ("NORMAL", "LIMIT"),
    ]
    assert seconds(changes) == [60, 75, 375, 400]
    assert changes["cause"][1:3].tolist() == [BreakerCause.LIMIT_TIMEOUT, BreakerCause.REOPEN]
    assert changes["held_ns"][1:3].tolist() == [15 * S, 300 * S]
    # reopening makes the last price the reference, so 89 is judged against 94 (-5.3 %)
    assert changes["reference"][2:].tolist() == [low, low]
    assert breakers.state_of(1) is InstrumentState.LIMIT


def test_a_quiet_instrument_pauses_and_reopens_on_other_instruments_events() -> None:
    quiet = path([*steady(0, 60, 100 * DOLLAR), (60, 949_000)], instrument=1)
    busy = path(steady(0, 400, 50 * DOLLAR), instrument=2)
    events = merge(quiet, busy)
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "PAUSED"), ("PAUSED", "NORMAL")]
    assert seconds(changes) == [60, 75, 375]
    assert set(changes["instrument"].tolist()) == {1}
    timer_events = events[np.isin(events["seq"], changes["trigger_seq"][1:])]
    assert timer_events["instrument"].tolist() == [2, 2]


@pytest.mark.parametrize("limit_exit_ns", [S, 0])
def test_a_price_bouncing_off_the_band_stays_in_the_limit_state(limit_exit_ns: int) -> None:
    inside, at_band = 999_000, 945_000
    bounces = [(60, at_band), (60.5, inside), (60.8, at_band), (61.3, inside), (61.6, at_band)]
    events = path([*steady(0, 60, 100 * DOLLAR), *bounces, (63, inside), (64, inside)])
    _, changes = judge(events, limit_exit_ns=limit_exit_ns)
    if limit_exit_ns:
        assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")]
        assert seconds(changes) == [60, 63]  # 1 s after the last reading at the band
    else:  # leaving at once, as LULD does: in and out with every bounce
        assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")] * 3
        assert seconds(changes) == [60, 60.5, 60.8, 61.3, 61.6, 63]


def test_back_inside_the_band_when_the_15_s_are_up_is_no_pause() -> None:
    events = path([*steady(0, 60, 100 * DOLLAR), *steady(60, 75, 94 * DOLLAR), (74.5, 999_000),
                   (75, 999_000)])  # fmt: skip
    _, changes = judge(events)
    assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")]
    assert seconds(changes) == [60, 75]
