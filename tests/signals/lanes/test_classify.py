from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.records import EventKind
from lowlat.signals.lanes import (
    LaneConfig,
    LaneConfigError,
    MessageRule,
    PriceMoveRule,
    PriorityLanes,
    TradeSizeRule,
    WatchEntry,
)
from tests.signals.lanes._support import drain_all, event, lanes_of

CRITICAL, HIGH, NORMAL, BULK = range(4)


@pytest.fixture
def lanes() -> PriorityLanes:
    """The default rules (STATUS and LULD collars critical, …), small instrument range."""
    return PriorityLanes(
        LaneConfig(
            max_instruments=64,
            trade_size=TradeSizeRule(10_000, HIGH),
            price_move=PriceMoveRule(100, HIGH),
            watch=(WatchEntry(7, HIGH),),
            news=(9,),
        )
    )


@pytest.mark.parametrize(
    ("letter", "what"),
    [
        ("H", "trading halt"),
        ("h", "operational halt"),
        ("V", "MWCB decline levels"),
        ("W", "MWCB breach"),
        ("S", "system event"),
        ("Y", "Reg SHO restriction"),
    ],
)
def test_itch_status_messages_are_critical(lanes: PriorityLanes, letter: str, what: str) -> None:
    assert lanes_of(lanes, event(EventKind.STATUS, letter)) == [CRITICAL], what


def test_luld_auction_collars_are_critical_but_other_reference_data_is_bulk(
    lanes: PriorityLanes,
) -> None:
    pushed = np.concatenate(
        [event(EventKind.REFERENCE, letter) for letter in ("J", "R", "L", "K", "O")]
    )
    assert lanes_of(lanes, pushed) == [CRITICAL, BULK, BULK, BULK, BULK]


def test_a_lobster_halt_is_critical_and_a_broken_trade_high(lanes: PriorityLanes) -> None:
    pushed = np.concatenate([event(EventKind.STATUS, price=-1), event(EventKind.BROKEN_TRADE)])
    assert lanes_of(lanes, pushed) == [CRITICAL, HIGH]


def test_events_no_rule_matches_go_to_the_default_lane(lanes: PriorityLanes) -> None:
    pushed = np.concatenate(
        [event(kind, "A") for kind in (EventKind.ADD, EventKind.DELETE, EventKind.QUOTE)]
    )
    assert lanes_of(lanes, pushed) == [NORMAL] * 3


def test_a_kind_outside_the_type_table_gets_the_default_lane(lanes: PriorityLanes) -> None:
    garbage = event(EventKind.ADD)
    garbage["kind"] = 200
    assert lanes_of(lanes, garbage) == [NORMAL]


def test_big_trades_are_raised_from_the_threshold_on(lanes: PriorityLanes) -> None:
    pushed = np.concatenate(
        [
            event(EventKind.TRADE, "P", qty=9_999),
            event(EventKind.TRADE, "P", qty=10_000),
            event(EventKind.EXECUTE, "E", qty=50_000, price=0),
            event(EventKind.ADD, "A", qty=50_000),  # not a trade kind
        ]
    )
    assert lanes_of(lanes, pushed) == [NORMAL, HIGH, HIGH, NORMAL]


def test_a_price_move_of_the_threshold_bps_raises_the_event(lanes: PriorityLanes) -> None:
    def trade(price: int) -> np.ndarray:
        return event(EventKind.TRADE, "P", instrument=3, price=price)

    pushed = np.concatenate(
        [
            trade(1_000_000),  # first price: nothing to compare with
            trade(1_009_999),  # up 99.99 bps
            trade(1_020_099),  # up 10_100: 1 % of 1_009_999 is 10_099.99
            trade(1_009_899),  # down 10_200: 1 % of 1_020_099 is 10_200.99
            trade(999_800),  # down 10_099: 1 % of 1_009_899 is 10_098.99
        ]
    )
    assert lanes_of(lanes, pushed) == [NORMAL, NORMAL, HIGH, NORMAL, HIGH]


def test_events_without_a_price_neither_trigger_nor_reset_the_price_move(
    lanes: PriorityLanes,
) -> None:
    pushed = np.concatenate(
        [
            event(EventKind.EXECUTE, "C", instrument=4, price=1_000_000),
            event(EventKind.EXECUTE, "E", instrument=4, price=0),
            event(EventKind.ADD, "A", instrument=4, price=5_000_000),  # not a trade kind
            event(EventKind.EXECUTE, "C", instrument=4, price=1_020_000),
        ]
    )
    assert lanes_of(lanes, pushed) == [NORMAL, NORMAL, NORMAL, HIGH]


def test_price_moves_are_tracked_per_instrument(lanes: PriorityLanes) -> None:
    pushed = np.concatenate(
        [
            event(EventKind.TRADE, instrument=1, price=1_000_000),
            event(EventKind.TRADE, instrument=2, price=2_000_000),
            event(EventKind.TRADE, instrument=1, price=1_001_000),
        ]
    )
    assert lanes_of(lanes, pushed) == [NORMAL, NORMAL, NORMAL]


def test_watch_list_and_news_flags_raise_every_event_of_the_instrument(
    lanes: PriorityLanes,
) -> None:
    pushed = np.concatenate(
        [
            event(EventKind.ADD, instrument=7),
            event(EventKind.REFERENCE, "R", instrument=7),
            event(EventKind.DELETE, instrument=9),
            event(EventKind.ADD, instrument=8),
        ]
    )
    assert lanes_of(lanes, pushed) == [HIGH, HIGH, HIGH, NORMAL]


def test_the_most_urgent_lane_of_all_matching_rules_wins() -> None:
    lanes = PriorityLanes(
        LaneConfig(
            max_instruments=64,
            messages=(MessageRule(EventKind.TRADE, BULK), MessageRule(EventKind.TRADE, HIGH, "Q")),
            trade_size=TradeSizeRule(1_000, NORMAL),
            watch=(WatchEntry(5, CRITICAL),),
        )
    )
    pushed = np.concatenate(
        [
            event(EventKind.TRADE, "P", qty=10),  # bulk rule only
            event(EventKind.TRADE, "P", qty=1_000),  # bulk vs size normal
            event(EventKind.TRADE, "Q", qty=1_000),  # letter high beats size normal
            event(EventKind.TRADE, "P", qty=10, instrument=5),  # watch critical
        ]
    )
    assert lanes_of(lanes, pushed) == [BULK, NORMAL, HIGH, CRITICAL]


def test_instruments_beyond_the_tables_skip_the_per_instrument_rules(
    lanes: PriorityLanes,
) -> None:
    pushed = np.concatenate(
        [
            event(EventKind.TRADE, instrument=64, price=1_000_000),
            event(EventKind.TRADE, instrument=64, price=2_000_000),
            event(EventKind.STATUS, "H", instrument=-1),
            event(EventKind.TRADE, instrument=-5, qty=20_000),
        ]
    )
    assert lanes_of(lanes, pushed) == [NORMAL, NORMAL, CRITICAL, HIGH]


def test_the_lane_byte_is_set_on_the_copy_and_the_input_is_untouched(
    lanes: PriorityLanes,
) -> None:
    pushed = event(EventKind.STATUS, "H")
    pushed["lane"] = 3
    before = pushed.copy()
    lanes.push(pushed, now_ns=0)
    drained = drain_all(lanes)
    assert drained["lane"].tolist() == [CRITICAL]
    assert np.array_equal(pushed, before)
    copy = drained.copy()
    copy["lane"] = 3
    assert np.array_equal(copy, before)


# --- run-time rule changes ---------------------------------------------------------------


def test_raise_and_lower_instrument_apply_from_the_next_event(lanes: PriorityLanes) -> None:
    assert lanes_of(lanes, event(instrument=12)) == [NORMAL]
    lanes.raise_instrument(np.int64(12), "critical")  # NumPy integers are integers too
    assert lanes_of(lanes, event(instrument=12)) == [CRITICAL]
    lanes.raise_instrument(12, BULK)  # the only rule that matches: a watch lane can demote
    assert lanes_of(lanes, event(instrument=12)) == [BULK]
    lanes.lower_instrument(7)
    assert lanes_of(lanes, event(instrument=7)) == [NORMAL]


def test_news_flags_switch_on_and_off(lanes: PriorityLanes) -> None:
    lanes.set_news(20)
    assert lanes_of(lanes, event(instrument=20)) == [HIGH]
    lanes.set_news(20, on=False)
    lanes.set_news(9, on=False)
    assert lanes_of(lanes, np.concatenate([event(instrument=20), event(instrument=9)])) == [
        NORMAL,
        NORMAL,
    ]


def test_trade_size_threshold_changes_keep_or_replace_the_lane(lanes: PriorityLanes) -> None:
    lanes.set_trade_size_threshold(np.int32(500))
    assert lanes_of(lanes, event(EventKind.TRADE, qty=500)) == [HIGH]
    lanes.set_trade_size_threshold(500, "critical")
    assert lanes_of(lanes, event(EventKind.TRADE, qty=500)) == [CRITICAL]
    lanes.set_trade_size_threshold(None)
    assert lanes_of(lanes, event(EventKind.TRADE, qty=10**9)) == [NORMAL]
    with pytest.raises(LaneConfigError, match="trade_size: the rule is off; give it a lane"):
        lanes.set_trade_size_threshold(500)
    lanes.set_trade_size_threshold(500, 1)
    assert lanes_of(lanes, event(EventKind.TRADE, qty=600)) == [HIGH]


def test_price_move_threshold_changes_apply_to_the_next_trade(lanes: PriorityLanes) -> None:
    def trade(price: int) -> np.ndarray:
        return event(EventKind.TRADE, instrument=30, price=price)

    assert lanes_of(lanes, trade(1_000_000)) == [NORMAL]
    assert lanes_of(lanes, trade(1_005_000)) == [NORMAL]  # ~50 bps
    lanes.set_price_move_bps(40, "critical")
    assert lanes_of(lanes, trade(1_000_000)) == [CRITICAL]
    lanes.set_price_move_bps(None)
    assert lanes_of(lanes, trade(2_000_000)) == [NORMAL]


def test_a_rule_off_in_the_config_can_be_switched_on_with_prices_already_known() -> None:
    lanes = PriorityLanes(LaneConfig(max_instruments=8, trade_size=None, price_move=None))
    assert lanes_of(lanes, event(EventKind.TRADE, price=1_000_000, qty=10**6)) == [NORMAL]
    lanes.set_price_move_bps(100, HIGH)
    lanes.set_trade_size_threshold(10**6, CRITICAL)
    pushed = np.concatenate(
        [event(EventKind.TRADE, price=1_100_000), event(EventKind.TRADE, qty=10**6)]
    )
    assert lanes_of(lanes, pushed) == [HIGH, CRITICAL]


def test_message_rules_can_be_set_and_removed_at_run_time(lanes: PriorityLanes) -> None:
    lanes.set_message_lane(EventKind.IMBALANCE, "high")
    lanes.set_message_lane("TRADE", CRITICAL, letter="Q")
    pushed = np.concatenate(
        [event(EventKind.IMBALANCE, "I"), event(EventKind.TRADE, "Q"), event(EventKind.TRADE)]
    )
    assert lanes_of(lanes, pushed) == [HIGH, CRITICAL, NORMAL]
    lanes.set_message_lane(EventKind.STATUS, None)
    lanes.set_message_lane(EventKind.TRADE, None, letter="Q")
    pushed = np.concatenate([event(EventKind.STATUS, "H"), event(EventKind.TRADE, "Q")])
    assert lanes_of(lanes, pushed) == [NORMAL, NORMAL]
    # removing the kind rule leaves its letter rules: the LULD collar stays critical
    lanes.set_message_lane(EventKind.REFERENCE, None)
    pushed = np.concatenate([event(EventKind.REFERENCE, "J"), event(EventKind.REFERENCE, "R")])
    assert lanes_of(lanes, pushed) == [CRITICAL, NORMAL]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lanes: lanes.raise_instrument(64, 0), "instrument: 64 is not an integer in 0..63"),
        (lambda lanes: lanes.raise_instrument(1, "urgent"), "lane: unknown lane 'urgent'"),
        (lambda lanes: lanes.lower_instrument(-1), "instrument: -1 is not an integer"),
        (lambda lanes: lanes.set_news(True, on=True), "instrument: True is not an integer"),
        (lambda lanes: lanes.set_trade_size_threshold(0), "trade_size: threshold 0 is not in"),
        (lambda lanes: lanes.set_trade_size_threshold(2.5), "threshold 2.5 is not an integer"),
        (lambda lanes: lanes.set_price_move_bps(70_000), "price_move: threshold 70000 is not"),
        (lambda lanes: lanes.set_price_move_bps(10, 4), "price_move.lane: 4 is not an integer"),
        (lambda lanes: lanes.set_message_lane("HALT", 0), "kind: unknown event kind 'HALT'"),
        (lambda lanes: lanes.set_message_lane("STATUS", 0, "HH"), "letter: 'HH' is not one"),
    ],
)
def test_bad_rule_changes_raise_and_change_nothing(lanes: PriorityLanes, change, message) -> None:
    tables = [array.copy() for array in lanes.arrays]
    with pytest.raises(LaneConfigError, match=message):
        change(lanes)
    assert all(np.array_equal(a, b) for a, b in zip(tables, lanes.arrays, strict=True))
