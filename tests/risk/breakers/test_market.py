"""Market-wide levels 1 / 2 / 3 on the equal-weighted reference index."""

import numpy as np

from lowlat.risk.breakers import MARKET_WIDE, BreakerCause, CircuitBreakers, MarketLevel, kernels

from ._paths import DOLLAR, T0, S, config, merge, path, seconds, steady

HUNDRED = 100 * DOLLAR
INSTRUMENTS = (1, 2, 3, 4)


def market(points: list[tuple[float, int]]) -> np.ndarray:
    """Every instrument of :data:`INSTRUMENTS` on the same path."""
    return merge(*(path(points, instrument=i) for i in INSTRUMENTS))


def market_changes(records: np.ndarray) -> list[tuple[int, int]]:
    mine = records[records["instrument"] == MARKET_WIDE]
    return list(zip(mine["old_state"].tolist(), mine["new_state"].tolist(), strict=True))


def test_a_7_percent_decline_halts_the_market_for_15_minutes() -> None:
    breakers = CircuitBreakers(config())
    records = breakers.on_events(market([*steady(0, 10, HUNDRED), (20, 929_000)]))
    assert market_changes(records) == [(0, 1)]
    trip = records[records["instrument"] == MARKET_WIDE][0]
    assert trip["cause"] == BreakerCause.MARKET
    assert trip["threshold"] == 700.0
    assert abs(trip["value"] - 710.0) < 1e-6
    assert trip["exchange_ns"] == T0 + 20 * S
    assert breakers.market_level is MarketLevel.LEVEL_1
    assert kernels.market_level(breakers.state) == 1
    assert abs(breakers.market_decline_bps - 710.0) < 1e-6

    records = breakers.on_events(market(steady(30, 920, 929_000, 10.0)))
    assert market_changes(records) == []
    records = breakers.on_events(market([(930, 929_000)]))
    assert market_changes(records) == [(1, 0)]
    resume = records[records["instrument"] == MARKET_WIDE][0]
    assert resume["cause"] == BreakerCause.REOPEN
    assert resume["held_ns"] == 910 * S  # the first record at or after the 15 minutes
    assert breakers.market_level is MarketLevel.NONE


def test_the_index_is_the_equal_weighted_mean_return() -> None:
    # two of four instruments 14.2 % down: the index is 7.1 % down
    drop = [path([*steady(0, 10, HUNDRED), (20, 858_000)], instrument=i) for i in (1, 2)]
    flat = [path(steady(0, 30, HUNDRED), instrument=i) for i in (3, 4)]
    breakers = CircuitBreakers(config())
    records = breakers.on_events(merge(*drop, *flat))
    assert market_changes(records) == [(0, 1)]
    assert seconds(records[records["instrument"] == MARKET_WIDE]) == [20]


def test_each_level_triggers_once_and_level_3_lasts_the_session() -> None:
    breakers = CircuitBreakers(config(market_halt_ns=60 * S))
    records = breakers.on_events(
        market(
            [*steady(0, 10, HUNDRED), (20, 929_000), (100, 920_000), (110, 869_000),
             (200, 860_000), (210, 799_000), (100_000, 799_000)]
        )
    )  # fmt: skip
    assert market_changes(records) == [(0, 1), (1, 0), (0, 2), (2, 0), (0, 3)]
    assert seconds(records[records["instrument"] == MARKET_WIDE]) == [20, 100, 110, 200, 210]
    assert records[records["instrument"] == MARKET_WIDE]["threshold"].tolist() == [
        700.0, 0.0, 1_300.0, 0.0, 2_000.0,
    ]  # fmt: skip
    assert breakers.market_level is MarketLevel.LEVEL_3


def test_a_deeper_decline_during_a_halt_raises_the_level() -> None:
    breakers = CircuitBreakers(config())
    records = breakers.on_events(market([*steady(0, 10, HUNDRED), (20, 929_000), (30, 860_000)]))
    assert market_changes(records) == [(0, 1), (1, 2)]
    assert breakers.market_level is MarketLevel.LEVEL_2
