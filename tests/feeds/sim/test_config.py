import pytest

from lowlat.feeds.sim import SCENARIOS, OrderMix, Regime, ScenarioConfig, scenario


def test_toml_round_trip() -> None:
    text = """
name = "mine"
seed = 7
instruments = 3
messages = 500
sectors = 2
[mix]
add = 0.5
execute = 0.1
cancel = 0.1
delete = 0.2
replace = 0.1
trade = 0.0
[[regimes]]
start_s = 1.0
end_s = 2.0
sector = 1
vol_mult = 3.0
"""
    config = ScenarioConfig.from_toml(text)
    assert config.seed == 7 and config.mix.add == 0.5
    assert config.regimes == (Regime(1.0, 2.0, sector=1, vol_mult=3.0),)
    assert ScenarioConfig.from_dict(config.to_dict()) == config
    assert config.replace(seed=8).seed == 8


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(TypeError, match="volatilty"):
        ScenarioConfig.from_dict({"volatilty": 1.0})


@pytest.mark.parametrize(
    "changes",
    [
        {"instruments": 0},
        {"instruments": 10_000},
        {"messages": -1},
        {"duration_s": 0.0},
        {"sectors": 0},
        {"market_weight": 0.8, "sector_weight": 0.3},
        {"volatility": -1.0},
        {"price_max": 300_000.0},
        {"price_min": 0.0},
        {"tick": 0},
        {"min_live": 32},
        {"min_live": 0},
        {"regimes": (Regime(0.0, 1.0, sector=4),)},
    ],
)
def test_invalid_configs_are_rejected(changes: dict) -> None:
    with pytest.raises(ValueError):
        ScenarioConfig(**changes)


def test_invalid_regime_and_mix() -> None:
    with pytest.raises(ValueError):
        Regime(2.0, 1.0)
    with pytest.raises(ValueError):
        Regime(0.0, 1.0, rate_mult=0.0)
    with pytest.raises(ValueError):
        OrderMix(add=0.9)
    with pytest.raises(ValueError):
        OrderMix(attributed=2.0)


def test_named_scenarios() -> None:
    for name in SCENARIOS:
        config = scenario(name, seed=3, instruments=5, messages=10)
        assert (config.name, config.seed, config.instruments, config.messages) == (name, 3, 5, 10)
    with pytest.raises(KeyError, match="flash-crash"):
        scenario("crash")
