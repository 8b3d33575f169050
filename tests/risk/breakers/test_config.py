import math

import pytest

from lowlat.risk.breakers import BandTier, BreakerConfig, SystemBreakerConfig

S = 1_000_000_000


def test_defaults_are_luld_and_market_wide_rules() -> None:
    config = BreakerConfig()
    assert [(t.min_price, t.band_bps) for t in config.band_tiers] == [
        (30_000, 500.0),
        (7_500, 1_000.0),
        (0, 2_000.0),
    ]
    assert config.reference_window_ns == 300 * S
    assert (config.limit_ns, config.pause_ns, config.limit_exit_ns) == (15 * S, 300 * S, S)
    levels = (config.market_level1_bps, config.market_level2_bps, config.market_level3_bps)
    assert levels == (700.0, 1_300.0, 2_000.0)
    assert config.market_halt_ns == 900 * S


def test_from_toml_reads_the_breakers_table_with_band_tiers() -> None:
    config = BreakerConfig.from_toml(
        """
        [breakers]
        instruments = 16
        limit_ns = 5_000_000_000
        move_halt_bps = 800
        vol_halt = inf
        hysteresis = 0.25

        [[breakers.band_tiers]]
        min_price = 50_000
        band_bps = 400

        [[breakers.band_tiers]]
        min_price = 0
        band_bps = 1_500.5
        """
    )
    assert config.instruments == 16
    assert config.limit_ns == 5 * S
    assert config.move_halt_bps == 800.0 and isinstance(config.move_halt_bps, float)
    assert math.isinf(config.vol_halt)
    assert config.band_tiers == (BandTier(50_000, 400.0), BandTier(0, 1_500.5))


def test_from_toml_accepts_top_level_keys() -> None:
    assert BreakerConfig.from_toml("cooldown_ns = 0").cooldown_ns == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"limit_sec": 5}, r"unknown breaker config keys \['limit_sec'\]"),
        ({"limit_ns": 1.5}, "limit_ns must be an integer, got 1.5"),
        ({"limit_ns": True}, "limit_ns must be an integer, got True"),
        ({"band_warn": "half"}, "band_warn must be a number, got 'half'"),
        ({"instruments": 0}, "instruments must be at least 1, got 0"),
        ({"pause_ns": 0}, "pause_ns must be at least 1, got 0"),
        ({"cooldown_ns": -1}, "cooldown_ns must be at least 0, got -1"),
        ({"limit_exit_ns": -1}, "limit_exit_ns must be at least 0, got -1"),
        ({"max_instrument_id": 1 << 31}, "max_instrument_id must be at most"),
        ({"reference_window_ns": 10, "reference_buckets": 20}, "reference_window_ns .10."),
        ({"move_warn_bps": 400, "move_throttle_bps": 300}, "move_warn_bps = 400.0 is above"),
        ({"vol_throttle": 0}, "vol_throttle must be a positive number, got 0.0"),
        ({"vol_warn": 1}, "vol_warn must be above 1, got 1.0"),
        ({"band_throttle": 1.5}, "band_throttle must be at most 1.0, got 1.5"),
        ({"market_level2_bps": 2_500}, "market_level2_bps = 2500.0 is above market_level3"),
        ({"hysteresis": 1.0}, r"hysteresis must be in \[0, 1\), got 1.0"),
        ({"vol_fast_half_life_ns": 600 * S}, "vol_fast_half_life_ns .* must be shorter"),
        ({"band_tiers": []}, "band_tiers must list at least one tier"),
        ({"band_tiers": "5%"}, "band_tiers must be a list of tables, got '5%'"),
        ({"band_tiers": [500]}, r"band_tiers\[0\] must be a table"),
        ({"band_tiers": [{"min_price": 0}]}, r"band_tiers\[0\] needs .* missing \['band_bps'\]"),
        (
            {"band_tiers": [{"min_price": 0, "band_bps": "5%"}]},
            r"band_tiers\[0\].band_bps must be a number",
        ),
        (
            {"band_tiers": [{"min_price": "3.00", "band_bps": 500}]},
            r"band_tiers\[0\].min_price must be an integer number of ticks",
        ),
        (
            {"band_tiers": [{"min_price": 0, "band_bps": 0}]},
            r"band_tiers\[0\].band_bps must be in \(0, 10000\]",
        ),
        (
            {"band_tiers": [{"min_price": 0, "band_bps": 500}, {"min_price": 100, "band_bps": 1}]},
            r"highest first; band_tiers\[1\].min_price is 100 after 0",
        ),
        (
            {"band_tiers": [{"min_price": 100, "band_bps": 500}]},
            "the last tier must have min_price 0",
        ),
    ],
)
def test_bad_values_are_refused_naming_key_and_value(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerConfig.from_dict(data)


def test_the_constructor_checks_types_too() -> None:
    with pytest.raises(ValueError, match=r"breaker limit_ns must be an integer, got 1\.5"):
        BreakerConfig(limit_ns=1.5)  # type: ignore[arg-type]


def test_a_band_tier_must_be_a_band_tier() -> None:
    with pytest.raises(ValueError, match=r"band_tiers\[0\] must be a BandTier"):
        BreakerConfig(band_tiers=((0, 500.0),))  # type: ignore[arg-type]


def test_equal_thresholds_skip_a_level_and_inf_switches_a_detector_off() -> None:
    config = BreakerConfig(move_warn_bps=100.0, move_throttle_bps=100.0, move_halt_bps=math.inf)
    assert config.move_throttle_bps == 100.0


def test_system_breaker_config_from_toml_and_errors() -> None:
    config = SystemBreakerConfig.from_toml(
        "[system_breaker]\nmax_lag = 100\nbreach_rate_per_s = 50\nrecover_after_ns = 0"
    )
    assert (config.max_lag, config.breach_rate_per_s, config.recover_after_ns) == (100, 50.0, 0)
    assert SystemBreakerConfig.from_toml("max_lag = 7").max_lag == 7
    with pytest.raises(ValueError, match=r"unknown system breaker config keys \['lag'\]"):
        SystemBreakerConfig.from_dict({"lag": 1})
    with pytest.raises(ValueError, match="system breaker max_lag must be at least 1, got 0"):
        SystemBreakerConfig(max_lag=0)
    with pytest.raises(ValueError, match="breach_rate_per_s must be a positive number"):
        SystemBreakerConfig(breach_rate_per_s=math.inf)
    with pytest.raises(ValueError, match=r"healthy_fraction must be in \(0, 1\], got 0.0"):
        SystemBreakerConfig(healthy_fraction=0.0)
    with pytest.raises(ValueError, match="degrade_after_ns must be an integer"):
        SystemBreakerConfig.from_dict({"degrade_after_ns": 1.0})
