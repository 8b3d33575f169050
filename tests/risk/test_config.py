from __future__ import annotations

import pytest

from lowlat.risk import LimitOverride, RiskConfig, RiskLimits

TOML = """
[risk]
accounts = 8
open_orders = 1024

[risk.limits]
max_order_qty = 5_000
price_collar_bps = 250

[risk.instrument.7]
max_order_qty = 500
restricted = true

[risk.account.3]
max_order_qty = 20_000
max_orders_per_second = 20
"""


def test_defaults_are_the_issue_s_throttle_and_sane_sizes() -> None:
    config = RiskConfig()
    assert config.limits.max_orders_per_second == 100
    assert config.limits.restricted is False
    assert config.instrument_limits == {} and config.account_limits == {}


def test_toml_sets_sizes_defaults_and_overrides() -> None:
    config = RiskConfig.from_toml(TOML)
    assert (config.accounts, config.open_orders, config.instruments) == (8, 1024, 256)
    assert config.limits.max_order_qty == 5_000
    assert config.limits.price_collar_bps == 250
    assert config.limits.max_position == RiskLimits().max_position
    assert config.instrument_limits[7] == LimitOverride(max_order_qty=500, restricted=True)
    assert config.account_limits[3] == LimitOverride(max_order_qty=20_000, max_orders_per_second=20)


def test_toml_without_a_risk_table_reads_the_top_level() -> None:
    assert RiskConfig.from_toml("accounts = 2\n").accounts == 2


def test_to_dict_round_trips() -> None:
    config = RiskConfig.from_toml(TOML)
    assert RiskConfig.from_dict(config.to_dict()) == config


def test_an_override_replaces_the_default_and_the_tighter_of_two_wins() -> None:
    config = RiskConfig.from_toml(TOML)
    assert config.effective(3, 1).max_order_qty == 20_000  # account raises the default
    assert config.effective(1, 7).max_order_qty == 500  # instrument lowers it
    assert config.effective(3, 7).max_order_qty == 500  # both: the tighter
    assert config.effective(1, 1).max_order_qty == 5_000  # neither: the default
    assert config.effective(3, 1).max_orders_per_second == 20
    assert config.effective(1, 7).restricted and not config.effective(1, 1).restricted


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nbogus = 1\n", "unknown risk config keys ['bogus']"),
        ("[risk.limits]\nmax_qty = 1\n", "unknown keys ['max_qty'] in risk limits"),
        ("[risk.limits]\nmax_order_qty = 0\n", "max_order_qty must be in 1..1000000000000, got 0"),
        ("[risk.limits]\nmax_order_qty = 1.5\n", "max_order_qty must be an integer, got 1.5"),
        ("[risk.limits]\nmax_position = true\n", "max_position must be an integer, got True"),
        ("[risk.limits]\nrestricted = 1\n", "restricted must be true or false, got 1"),
        ("[risk.instrument.x]\nmax_order_qty = 1\n", "key 'x' is not an integer id"),
        ("[risk.instrument.7]\nmax_order_qty = -1\n", "risk instrument 7: risk override"),
        ("[risk.instrument.7]\nmax_drawdown = 5\n", "the throttle and the drawdown limit are per"),
        ("[risk.account.70000]\nmax_order_qty = 1\n", "account override id must be in 0..65535"),
        ("[risk]\nopen_orders = 1000\n", "open_orders must be a power of two >= 16, got 1000"),
        ("[risk]\naccounts = 0\n", "accounts must be an integer >= 1, got 0"),
        ("[risk]\nmax_instrument_id = -1\n", "max_instrument_id must be in 0..2147483647"),
        ("[risk]\nlimits = 3\n", "risk limits must be a table of limits"),
        ("[risk]\naccount = 3\n", "risk account overrides must be a table keyed by account id"),
    ],
)
def test_bad_config_names_the_key_and_value(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RiskConfig.from_toml(text)


def test_more_overrides_than_slots_is_refused() -> None:
    overrides = {i: LimitOverride(max_order_qty=1) for i in range(3)}
    with pytest.raises(ValueError, match="3 account overrides but only 2 account slots"):
        RiskConfig(accounts=2, account_limits=overrides)


def test_override_values_must_be_limit_overrides() -> None:
    with pytest.raises(ValueError, match="instrument 1 override must be a LimitOverride"):
        RiskConfig(instrument_limits={1: {"max_order_qty": 1}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="risk limits must be a RiskLimits"):
        RiskConfig(limits={"max_order_qty": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="override restricted must be true or false"):
        LimitOverride(restricted=0)  # type: ignore[arg-type]
