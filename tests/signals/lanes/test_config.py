from __future__ import annotations

import re

import pytest

from lowlat.core.records import EventKind
from lowlat.signals.lanes import (
    LaneConfig,
    LaneConfigError,
    LaneSpec,
    MessageRule,
    PriceMoveRule,
    TradeSizeRule,
    WatchEntry,
)

FULL = """
default_lane = "normal"
starvation_bound = 4
budget = 2048
max_instruments = 1000
news_lane = "high"
news = [17, 18]

[[lanes]]
name = "critical"
capacity = 64
[[lanes]]
name = "high"
capacity = 256
[[lanes]]
name = "normal"
capacity = 1024
[[lanes]]
name = "bulk"
capacity = 2048

[[messages]]
kind = "STATUS"
lane = "critical"
[[messages]]
kind = "REFERENCE"
letter = "J"
lane = 0
[[messages]]
kind = "ADD"
lane = "bulk"

[trade_size]
min_qty = 5000
lane = "high"
kinds = ["TRADE"]

[price_move]
min_bps = 50
lane = 1

[[watch]]
instrument = 42
lane = "critical"
"""


def test_defaults_make_status_and_luld_collars_critical_and_reference_bulk() -> None:
    config = LaneConfig()
    assert [spec.name for spec in config.lanes] == ["critical", "high", "normal", "bulk"]
    assert config.default_lane == 2
    assert MessageRule(EventKind.STATUS, 0) in config.messages
    assert MessageRule(EventKind.REFERENCE, 0, "J") in config.messages
    assert MessageRule(EventKind.REFERENCE, 3) in config.messages
    assert config.held_limit == max(spec.capacity for spec in config.lanes)


def test_a_full_toml_config_loads_with_lanes_by_name_or_number() -> None:
    config = LaneConfig.from_toml(FULL)
    assert config == LaneConfig(
        lanes=(
            LaneSpec("critical", 64),
            LaneSpec("high", 256),
            LaneSpec("normal", 1024),
            LaneSpec("bulk", 2048),
        ),
        default_lane=2,
        starvation_bound=4,
        budget=2048,
        max_instruments=1000,
        messages=(
            MessageRule(EventKind.STATUS, 0),
            MessageRule(EventKind.REFERENCE, 0, "J"),
            MessageRule(EventKind.ADD, 3),
        ),
        trade_size=TradeSizeRule(5000, 1, (EventKind.TRADE,)),
        price_move=PriceMoveRule(50, 1),
        watch=(WatchEntry(42, 0),),
        news_lane=1,
        news=(17, 18),
    )
    assert config.price_move is not None
    assert config.price_move.kinds == (EventKind.TRADE, EventKind.EXECUTE)


def test_load_reads_a_file(tmp_path) -> None:
    path = tmp_path / "lanes.toml"
    path.write_text(FULL, encoding="utf-8")
    assert LaneConfig.load(path) == LaneConfig.from_toml(FULL)


def test_an_empty_toml_gives_the_defaults() -> None:
    assert LaneConfig.from_toml("") == LaneConfig()


def test_fewer_lanes_cap_the_default_rules_at_the_last_lane() -> None:
    config = LaneConfig.from_toml(
        "lanes = [{name = 'urgent', capacity = 8}, {name = 'rest', capacity = 64}]"
    )
    assert config.default_lane == 1
    assert config.news_lane == 1
    assert MessageRule(EventKind.STATUS, 0) in config.messages
    assert MessageRule(EventKind.REFERENCE, 1) in config.messages
    assert config.trade_size == TradeSizeRule(10_000, 1)


def test_false_switches_a_threshold_rule_off() -> None:
    config = LaneConfig.from_toml("trade_size = false\nprice_move = false")
    assert config.trade_size is None
    assert config.price_move is None


def test_lane_index_accepts_names_and_numbers() -> None:
    config = LaneConfig()
    assert config.lane_index("bulk") == 3
    assert config.lane_index(1) == 1
    with pytest.raises(LaneConfigError, match=r"unknown lane 'urgent' \(lanes: critical, high"):
        config.lane_index("urgent")


def test_delay_bounds_follow_from_capacity_budget_and_starvation_bound() -> None:
    config = LaneConfig.from_toml(FULL)
    # 63 critical events ahead, plus one starvation service per 4 and one more
    assert config.delay_bound("critical") == 63 + 1 + 63 // 4
    assert config.delay_bound(3) == (4 + 1) * 2048 - 1
    small_budget = config.__class__(lanes=config.lanes, budget=16, starvation_bound=4)
    assert small_budget.delay_bound(0) == 15 + 1 + 15 // 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("starvaton_bound = 3", "top level: unknown key 'starvaton_bound'"),
        ("default_lane = 'urgent'", "default_lane: unknown lane 'urgent'"),
        ("default_lane = 4", "default_lane: 4 is not an integer in 0..3"),
        ("starvation_bound = 0", "starvation_bound: 0 is not an integer in 1.."),
        ("budget = 1000000", "budget: 1000000 is not an integer in 1..87040"),
        ("max_instruments = 0", "max_instruments: 0 is not an integer"),
        ("news = [70000]", "news[0]: 70000 is not an integer in 0..65535"),
        ("news = 3", "news: expected a list, got 3"),
        ("lanes = [{name = 'a', capacity = 1000}]", "lane 'a' capacity: 1000 is not a power"),
        ("lanes = [{name = 'a'}]", "lanes[0]: missing key 'capacity'"),
        ("lanes = [{name = 'a', capacity = 2, size = 3}]", "lanes[0]: unknown key 'size'"),
        ("lanes = [{name = '', capacity = 2}]", "lane name: '' is not a non-empty string"),
        ("lanes = [{name = 'a', capacity = true}]", "capacity: True is not an integer"),
        (
            "lanes = [{name = 'a', capacity = 2}, {name = 'a', capacity = 2}]",
            "lanes: duplicate lane names ['a']",
        ),
        ("lanes = []", "lanes: 0 lanes, expected 1..8"),
        ("lanes = 'x'", "lanes: expected a list"),
        ("[[messages]]\nkind = 'HALT'\nlane = 0", "messages[0].kind: unknown event kind 'HALT'"),
        ("[[messages]]\nkind = 'STATUS'", "messages[0]: missing key 'lane'"),
        (
            "[[messages]]\nkind = 'STATUS'\nletter = 'HH'\nlane = 0",
            "messages[0].letter: 'HH' is not one ASCII character",
        ),
        ("[[messages]]\nkind = 'STATUS'\nlane = 'x'", "messages[0].lane: unknown lane 'x'"),
        ("messages = [3]", "messages[0]: expected a table, got 3"),
        ("[trade_size]\nmin_qty = 0\nlane = 1", "trade_size.min_qty: 0 is not an integer"),
        ("[trade_size]\nlane = 1", "trade_size: missing key 'min_qty'"),
        ("[trade_size]\nmin_qty = 5\nlane = 9", "trade_size.lane: 9 is not an integer in 0..3"),
        ("[trade_size]\nmin_qty = 5\nlane = 1\nkinds = []", "trade_size.kinds: [] is not"),
        (
            "[trade_size]\nmin_qty = 5\nlane = 1\nkinds = ['TRADES']",
            "trade_size.kinds[0]: unknown event kind 'TRADES'",
        ),
        ("[price_move]\nmin_bps = 70000\nlane = 1", "price_move.min_bps: 70000 is not"),
        ("[price_move]\nmin_bps = 5\nlane = 1\nbps = 3", "price_move: unknown key 'bps'"),
        ("[[watch]]\ninstrument = 1", "watch[0]: missing key 'lane'"),
        ("[[watch]]\ninstrument = -1\nlane = 0", "watch[0].instrument: -1 is not an integer"),
        (
            "watch = [{instrument = 5, lane = 0}, {instrument = 5, lane = 1}]",
            "watch[1].instrument: 5 is listed twice",
        ),
        ("news_lane = 'nope'", "news_lane: unknown lane 'nope'"),
        ("budget = ", "not valid TOML"),
    ],
)
def test_bad_config_raises_an_error_naming_the_key_and_value(text: str, message: str) -> None:
    with pytest.raises(LaneConfigError, match=re.escape(message)):
        LaneConfig.from_toml(text)


def test_the_dataclasses_validate_direct_construction_too() -> None:
    with pytest.raises(LaneConfigError, match="kind: unknown event kind 'X'"):
        MessageRule("X", 0)  # type: ignore[arg-type]
    with pytest.raises(LaneConfigError, match="letter: 'é' is not one ASCII"):
        MessageRule(EventKind.STATUS, 0, "é")
    with pytest.raises(LaneConfigError, match=r"messages\[0\].lane: 7 is not an integer"):
        LaneConfig(messages=(MessageRule(EventKind.STATUS, 7),))
    with pytest.raises(LaneConfigError, match=r"price_move\.lane: 4"):
        LaneConfig(price_move=PriceMoveRule(10, 4))
    assert MessageRule("STATUS", 0).kind is EventKind.STATUS  # type: ignore[arg-type]
