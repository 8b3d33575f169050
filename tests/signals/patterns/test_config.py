"""Pattern configuration: TOML loading, defaults, and errors that name the key at fault."""

from __future__ import annotations

import pytest

from lowlat.signals.patterns import (
    BreakoutPattern,
    GroupConfig,
    LeadLagPattern,
    PairZScorePattern,
    PatternConfig,
    PatternConfigError,
    PredicatePattern,
)

EXAMPLE = """
clock = "receive"
history = 256

[[group]]
name = "tech"
instruments = [1, 2, 3, 4]

[[group]]
name = "banks"
instruments = [10, 11]

[[pattern]]
name = "a-leads-b"
kind = "lead_lag"          # lead_lag | pair_zscore | breakout | predicate
leader = 1
follower = 2
move_bps = 5.0
window_us = 500

[[pattern]]
name = "bank-pair"
kind = "pair_zscore"
instruments = [10, 11]
hedge_ratio = 0.9
half_life_us = 2000
z_threshold = 3
warmup = 50

[[pattern]]
name = "tech-breakout"
kind = "breakout"
instruments = [1, 2, 3, 4]
k = 3
move_bps = 8
window_us = 250.5
direction = "up"

[[pattern]]
name = "custom"
kind = "predicate"
predicate = "far_apart"
instruments = [3, 4]
params = [1, 2.5]
"""


def test_example_loads_with_types_and_defaults(tmp_path) -> None:
    path = tmp_path / "patterns.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = PatternConfig.load(path)
    assert config == PatternConfig.from_toml(EXAMPLE)
    assert (config.clock, config.history) == ("receive", 256)
    assert config.groups == (GroupConfig("tech", (1, 2, 3, 4)), GroupConfig("banks", (10, 11)))
    lead, pair, breakout, custom = config.patterns
    assert lead == LeadLagPattern("a-leads-b", 1, 2, 5.0, 500)
    assert (lead.follower_bps, lead.direction, lead.instruments) == (None, "both", (1, 2))
    assert pair == PairZScorePattern(
        "bank-pair", (10, 11), 3, half_life_us=2000, hedge_ratio=0.9, warmup=50
    )
    assert pair.rearm_at == 1.5
    assert breakout == BreakoutPattern("tech-breakout", (1, 2, 3, 4), 3, 8, 250.5, "up")
    assert custom == PredicatePattern("custom", "far_apart", (3, 4), (1, 2.5))
    assert custom.state_size == 8
    assert [config.group_of(p) for p in config.patterns] == [0, 1, 0, 0]


def test_defaults_without_settings() -> None:
    config = PatternConfig.from_toml('[[group]]\nname = "g"\ninstruments = [7]\n')
    assert (config.clock, config.history, config.patterns) == ("exchange", 1024, ())


GROUPS = """
[[group]]
name = "a"
instruments = [1, 2, 3]
[[group]]
name = "b"
instruments = [4, 5]
"""

LEAD = """
[[pattern]]
name = "ll"
kind = "lead_lag"
leader = 1
follower = 2
move_bps = 5.0
window_us = 500
"""

PAIR = """
[[pattern]]
name = "pz"
kind = "pair_zscore"
instruments = [1, 2]
z_threshold = 2.0
"""

BREAKOUT = """
[[pattern]]
name = "bo"
kind = "breakout"
instruments = [1, 2, 3]
move_bps = 5.0
window_us = 500
"""

PREDICATE = """
[[pattern]]
name = "pr"
kind = "predicate"
predicate = "f"
instruments = [1]
"""

ERRORS = {
    # name: (TOML, message pattern)
    "invalid TOML": ("[[group]\n", "not valid TOML"),
    "unknown top-level key": ('clok = "exchange"\n' + GROUPS, "unknown key 'clok'"),
    "no groups": (LEAD, "at least one \\[\\[group\\]\\]"),
    "group not a list of tables": ("group = 5\n", "group must be a list"),
    "group not a table": ("group = [5]\n", "group #1: expected a table, got 5"),
    "group missing instruments": ('[[group]]\nname = "x"\n', "group #1: missing key 'instruments'"),
    "group unknown key": (
        '[[group]]\nname = "x"\ninstruments = [1]\nsize = 2\n',
        "group #1: unknown key 'size'",
    ),
    "group without instruments": (
        '[[group]]\nname = "x"\ninstruments = []\n',
        "group 'x': instruments must list at least 1",
    ),
    "group cpu not allowed": (
        '[[group]]\nname = "x"\ninstruments = [1]\ncpu = 4096\n',
        "group 'x': cpu: CPU 4096 is not one this process may run on",
    ),
    "group cpu as text": (
        '[[group]]\nname = "x"\ninstruments = [1]\ncpu = "1"\n',
        "group 'x': cpu must be an integer",
    ),
    "negative instrument": ('[[group]]\nname = "x"\ninstruments = [-1]\n', "instrument id"),
    "boolean instrument": ('[[group]]\nname = "x"\ninstruments = [true]\n', "instrument id"),
    "instrument too large": (
        '[[group]]\nname = "x"\ninstruments = [1048576]\n',
        "instruments must be an instrument id in 0..1048575",
    ),
    "instrument twice in a group": (
        '[[group]]\nname = "x"\ninstruments = [1, 1]\n',
        "lists an instrument twice",
    ),
    "instrument in two groups": (
        GROUPS.replace("[4, 5]", "[3, 4]"),
        "group 'b': instrument 3 is already in group 'a'",
    ),
    "group name twice": (GROUPS.replace('"b"', '"a"'), "group name 'a' is used twice"),
    "unknown clock": ('clock = "wall"\n' + GROUPS, "clock must be one of exchange, receive"),
    "history not a power of two": ("history = 1000\n" + GROUPS, "history must be a power of two"),
    "unknown kind": (
        LEAD.replace("lead_lag", "follow"),
        "pattern 'll': kind must be one of lead_lag, pair_zscore, breakout, predicate",
    ),
    "pattern without a name or kind": ("[[pattern]]\n", "pattern #1: kind must be one of"),
    "missing key": (LEAD.replace("move_bps = 5.0\n", ""), "pattern 'll': missing key 'move_bps'"),
    "unknown key": (LEAD + "window = 3\n", "pattern 'll': unknown key 'window'"),
    "negative move": (LEAD.replace("5.0", "-5.0"), "pattern 'll': move_bps must be a number > 0"),
    "move as text": (LEAD.replace("5.0", '"5"'), "move_bps must be a number > 0"),
    "zero window": (LEAD.replace("500", "0"), "window_us must be a number > 0"),
    "sub-nanosecond window": (LEAD.replace("500", "0.0001"), "window_us must be at least 1 ns"),
    "leader is follower": (LEAD.replace("follower = 2", "follower = 1"), "must differ"),
    "bad direction": (LEAD + 'direction = "sideways"\n', "direction must be one of up, down"),
    "zero follower_bps": (LEAD + "follower_bps = 0\n", "follower_bps must be a number > 0"),
    "empty name": (LEAD.replace('"ll"', '""'), "name must be a non-empty string"),
    "pattern spans groups": (
        LEAD.replace("follower = 2", "follower = 4"),
        "pattern 'll': instruments \\[1, 4\\] span groups a, b",
    ),
    "instrument in no group": (
        LEAD.replace("follower = 2", "follower = 9"),
        "pattern 'll': instrument 9 is in no group",
    ),
    "pattern name twice": (LEAD + LEAD, "pattern 'll': pattern name is used twice"),
    "pair of three": (
        PAIR.replace("[1, 2]", "[1, 2, 3]") + "half_life_events = 5\n",
        "pattern 'pz': instruments must name exactly two legs",
    ),
    "pair without half-life": (PAIR, "exactly one of half_life_events and half_life_us"),
    "pair with both half-lives": (
        PAIR + "half_life_events = 5\nhalf_life_us = 5\n",
        "exactly one of half_life_events and half_life_us",
    ),
    "pair zero half-life": (PAIR + "half_life_events = 0\n", "half_life_events must be a number"),
    "pair rearm above threshold": (
        PAIR + "half_life_events = 5\nrearm_z = 2.0\n",
        "rearm_z must be in \\[0, z_threshold\\)",
    ),
    "pair negative warmup": (PAIR + "half_life_us = 5\nwarmup = -1\n", "warmup must be an integer"),
    "pair infinite hedge": (PAIR + "half_life_us = 5\nhedge_ratio = inf\n", "hedge_ratio must be"),
    "breakout k above n": (BREAKOUT + "k = 4\n", "pattern 'bo': k must be an integer in 1..3"),
    "breakout k zero": (BREAKOUT + "k = 0\n", "k must be an integer in 1..3"),
    "predicate without a function name": (
        PREDICATE.replace('"f"', '""'),
        "pattern 'pr': predicate must name a registered function",
    ),
    "predicate params as text": (PREDICATE + 'params = ["a"]\n', "params must be a list of finite"),
    "predicate state too large": (PREDICATE + "state_size = 4096\n", "state_size must be"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_config_errors_name_the_key(case: str) -> None:
    text, message = ERRORS[case]
    if "[[group]]" not in text and "group =" not in text and case != "no groups":
        text = GROUPS + text
    with pytest.raises(PatternConfigError, match=message):
        PatternConfig.from_toml(text)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(PatternConfigError, match="pattern 'x': k must be"):
        BreakoutPattern("x", [1, 2], 3, 5.0, 100)
    assert BreakoutPattern("x", [1, 2], 2, 5.0, 100).instruments == (1, 2)
