"""Rolling-move and volatility-spike detectors: warn → throttle → halt, and recovery."""

from lowlat.risk.breakers import BandTier, BreakerCause, InstrumentState

from ._paths import DOLLAR, S, judge, path, seconds, steady, transitions

WIDE_BAND = (BandTier(0, 10_000.0),)  # the band detector out of the way
MOVE = {
    "band_tiers": WIDE_BAND,
    "move_window_ns": 10 * S,
    "move_buckets": 10,
    "move_warn_bps": 100.0,
    "move_throttle_bps": 200.0,
    "move_halt_bps": 300.0,
}
VOL = {
    "vol_fast_half_life_ns": S // 2,
    "vol_slow_half_life_ns": 60 * S,
    "vol_warmup_ns": 30 * S,
    "vol_warn": 2.0,
    "vol_throttle": 3.0,
    "vol_halt": 5.0,
}


def falling(start: float, count: int, from_price: int, step: int) -> list[tuple[float, int]]:
    """``count`` points one second apart, each ``step`` ticks lower."""
    return [(start + i, from_price - (i + 1) * step) for i in range(count)]


def test_rolling_move_escalates_warn_then_throttle_then_halt() -> None:
    # 0.5 % a second: the range is 1.0 % at 32 s, 2.0 % at 34 s, 3.1 % at 36 s
    events = path([*steady(0, 31, 100 * DOLLAR), *falling(31, 6, 100 * DOLLAR, 5_000)])
    _, changes = judge(events, **MOVE)
    assert transitions(changes) == [
        ("NORMAL", "WARN"),
        ("WARN", "THROTTLE"),
        ("THROTTLE", "HALTED"),
    ]
    assert seconds(changes) == [32, 34, 36]
    assert set(changes["cause"].tolist()) == {BreakerCause.MOVE}
    assert changes["threshold"].tolist() == [100.0, 200.0, 300.0]


def test_the_same_move_spread_beyond_the_window_does_not_trip() -> None:
    # 3 % over 150 s: at most 0.2 % in any 10 s
    events = path([*steady(0, 31, 100 * DOLLAR), *falling(31, 150, 100 * DOLLAR, 200)])
    _, changes = judge(events, **MOVE)
    assert len(changes) == 0


def test_halted_by_a_move_recovers_once_the_window_is_calm_for_the_cool_down() -> None:
    events = path(
        [*steady(0, 31, 100 * DOLLAR), *falling(31, 6, 100 * DOLLAR, 5_000),
         *steady(37, 120, 97 * DOLLAR)]
    )  # fmt: skip
    breakers, changes = judge(events, **MOVE)
    assert transitions(changes)[-1] == ("HALTED", "NORMAL")
    assert changes["cause"][-1] == BreakerCause.RECOVERY
    # the window (10 buckets of 1 s) last holds a range >= 0.8 x 300 bps at 40 s (99.50 at
    # 31 s against 97); 30 s of cool-down later the instrument reopens
    assert seconds(changes)[-1] == 70
    # reopening after a halt makes the last price the reference
    assert changes["reference"][-1] == 97 * DOLLAR
    assert breakers.state_of(1) is InstrumentState.NORMAL


def wiggle(start: float, stop: float, amplitude: int, growth: int = 0) -> list[tuple[float, int]]:
    """Prices alternating between 100 and 100 + ``amplitude`` ticks every 100 ms.

    The amplitude grows by ``growth`` ticks per point.
    """
    count = round((stop - start) * 10)
    return [
        (start + i / 10, 100 * DOLLAR + (i % 2) * (amplitude + growth * i)) for i in range(count)
    ]


def test_volatility_spike_escalates_warn_then_throttle_then_halt() -> None:
    # returns of 1 bp for 2 minutes, then growing by 4 bp a second
    events = path([*wiggle(0, 120, 100), *wiggle(120, 125, 100, growth=40)])
    _, changes = judge(events, **VOL)
    assert transitions(changes) == [
        ("NORMAL", "WARN"),
        ("WARN", "THROTTLE"),
        ("THROTTLE", "HALTED"),
    ]
    assert set(changes["cause"].tolist()) == {BreakerCause.VOLATILITY}
    assert changes["threshold"].tolist() == [2.0, 3.0, 5.0]
    assert all(120 <= t < 125 for t in seconds(changes))


def test_volatility_spike_during_warm_up_is_not_judged() -> None:
    events = path([*wiggle(0, 10, 100), *wiggle(10, 29.9, 2_000)])
    breakers, changes = judge(events, **VOL)
    assert len(changes) == 0
    assert breakers.readings(1)["vol_ratio"] == 0.0


def test_volatility_spike_recovers_after_it_calms_down() -> None:
    events = path([*wiggle(0, 120, 100), *wiggle(120, 125, 100, growth=40), *wiggle(125, 180, 100)])
    breakers, changes = judge(events, **VOL)
    assert ("THROTTLE", "HALTED") in transitions(changes)
    assert transitions(changes)[-1] == ("HALTED", "NORMAL")
    assert 125 + 30 <= seconds(changes)[-1] < 160
    assert breakers.readings(1)["vol_ratio"] < 1.6  # below the recovery threshold 0.8 x 2
