"""Price-time matching: order types, TIFs, partial fills, priority, replace, STP, rejects."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.records import OrderAction
from lowlat.venue import MAX_QTY, Liquidity, MatchingEngine, Reason, order_record
from lowlat.venue.records import ACTION_REDUCE, EXEC_REPORT_DTYPE
from tests.venue.conftest import (
    BUY,
    CANCELLED,
    DAY,
    EXPIRED,
    FILLED,
    FOK,
    IOC,
    MARKET,
    NEW,
    PARTIAL,
    REJECTED,
    SELL,
    new,
    requests,
    short,
    small_config,
)

R = Reason


def test_a_limit_order_that_cannot_trade_rests_and_is_acknowledged(engine):
    assert short(engine.new(1, BUY, 10, 100)) == [(1, NEW, R.NONE, 0, 0, 10, 0, 0)]
    assert engine.book().bids == [(100, 10)]
    assert engine.book().asks == []
    assert engine.order(1).leaves_qty == 10


def test_a_match_trades_at_the_resting_price_and_reports_incoming_then_resting(engine):
    engine.new(1, SELL, 5, 101)
    reports = engine.new(2, BUY, 5, 103)
    assert short(reports) == [
        (2, NEW, R.NONE, 0, 0, 5, 0, 0),
        (2, FILLED, R.NONE, 101, 5, 0, 5, 1),
        (1, FILLED, R.NONE, 101, 5, 0, 5, 2),
    ]
    assert list(reports["liquidity"]) == [Liquidity.NONE, Liquidity.REMOVED, Liquidity.ADDED]
    assert engine.book().asks == [] and engine.book().bids == []
    assert engine.order(1) is None and engine.order(2) is None


def test_better_prices_trade_first_and_equal_prices_in_arrival_order(engine):
    engine.new(1, SELL, 5, 102)
    engine.new(2, SELL, 5, 101)
    engine.new(3, SELL, 5, 101)
    trades = [r for r in short(engine.new(4, BUY, 12, 102)) if r[0] != 4 and r[4]]
    assert trades == [
        (2, FILLED, R.NONE, 101, 5, 0, 5, 4),
        (3, FILLED, R.NONE, 101, 5, 0, 5, 4),
        (1, PARTIAL, R.NONE, 102, 2, 3, 2, 4),
    ]
    assert engine.book().asks == [(102, 3)]


def test_a_partly_filled_limit_order_rests_with_its_remainder(engine):
    engine.new(1, SELL, 4, 100)
    assert short(engine.new(2, BUY, 10, 100))[1] == (2, PARTIAL, R.NONE, 100, 4, 6, 4, 1)
    assert engine.book().bids == [(100, 6)]
    resting = engine.order(2)
    assert (resting.leaves_qty, resting.cum_qty) == (6, 4)


def test_day_orders_rest_like_gtc(engine):
    engine.new(1, BUY, 3, 100, tif=DAY)
    assert engine.book().bids == [(100, 3)]


def test_an_ioc_remainder_expires_after_trading_what_it_can(engine):
    engine.new(1, SELL, 4, 100)
    reports = short(engine.new(2, BUY, 10, 100, tif=IOC))
    assert reports[1:] == [
        (2, PARTIAL, R.NONE, 100, 4, 6, 4, 1),
        (1, FILLED, R.NONE, 100, 4, 0, 4, 2),
        (2, EXPIRED, R.NO_LIQUIDITY, 0, 0, 0, 4, 0),
    ]
    assert engine.book().bids == []


def test_an_ioc_beyond_the_touch_expires_without_trading(engine):
    engine.new(1, SELL, 4, 101)
    assert short(engine.new(2, BUY, 4, 100, tif=IOC))[-1] == (
        2,
        EXPIRED,
        R.NO_LIQUIDITY,
        0,
        0,
        0,
        0,
        0,
    )
    assert engine.book().asks == [(101, 4)]


def test_fok_expires_untouched_unless_its_whole_quantity_is_available(engine):
    engine.new(1, SELL, 5, 100)
    engine.new(2, SELL, 5, 101)
    assert short(engine.new(3, BUY, 6, 100, tif=FOK)) == [
        (3, NEW, R.NONE, 0, 0, 6, 0, 0),
        (3, EXPIRED, R.NOT_FILLABLE, 0, 0, 0, 0, 0),
    ]
    assert engine.book().asks == [(100, 5), (101, 5)]
    filled = short(engine.new(4, BUY, 6, 101, tif=FOK))
    assert filled[-2:] == [
        (4, FILLED, R.NONE, 101, 1, 0, 6, 2),
        (2, PARTIAL, R.NONE, 101, 1, 4, 1, 4),
    ]
    assert engine.book().asks == [(101, 4)]


def test_a_market_order_sweeps_every_price_and_expires_the_rest(engine):
    engine.new(1, SELL, 3, 100)
    engine.new(2, SELL, 3, 105)
    reports = short(engine.new(3, BUY, 10, 999, order_type=MARKET))
    assert [r[3:5] for r in reports if r[0] == 3 and r[4]] == [(100, 3), (105, 3)]
    assert reports[-1] == (3, EXPIRED, R.NO_LIQUIDITY, 0, 0, 0, 6, 0)
    assert engine.book().asks == [] and engine.book().bids == []


def test_a_market_order_on_an_empty_side_is_accepted_then_expires(engine):
    engine.new(1, BUY, 3, 100)
    assert short(engine.new(2, BUY, 5, order_type=MARKET)) == [
        (2, NEW, R.NONE, 0, 0, 5, 0, 0),
        (2, EXPIRED, R.NO_LIQUIDITY, 0, 0, 0, 0, 0),
    ]
    assert engine.book().bids == [(100, 3)]


def test_cancel_removes_the_order_and_an_unknown_id_is_rejected(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, SELL, 4, 100)
    assert short(engine.cancel(1)) == [(1, CANCELLED, R.NONE, 0, 0, 0, 4, 0)]
    assert engine.book().bids == []
    assert short(engine.cancel(1)) == [(1, REJECTED, R.UNKNOWN_ORDER, 0, 0, 0, 0, 0)]


def test_reduce_keeps_priority_and_cancels_at_zero(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 100)
    assert short(engine.reduce(1, 4)) == [(1, NEW, R.REDUCED, 0, 0, 6, 0, 0)]
    assert engine.book().bids == [(100, 16)]
    assert short(engine.new(3, SELL, 1, 100))[1][7] == 1  # order 1 is still first
    assert short(engine.reduce(1, 99)) == [(1, CANCELLED, R.REDUCED, 0, 0, 0, 1, 0)]
    assert short(engine.reduce(2, 0)) == [(2, REJECTED, R.BAD_QTY, 0, 0, 0, 0, 0)]
    assert engine.book().bids == [(100, 10)]


def test_replace_to_a_smaller_size_keeps_priority(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 100)
    assert short(engine.replace(1, 100, 4)) == [(1, NEW, R.REPLACED, 0, 0, 4, 0, 0)]
    assert short(engine.new(3, SELL, 4, 100))[1][7] == 1


def test_replace_to_a_bigger_size_loses_priority(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 100)
    engine.replace(1, 100, 12)
    assert short(engine.new(3, SELL, 1, 100))[1][7] == 2
    assert engine.book().bids == [(100, 21)]


def test_replace_to_another_price_and_back_loses_priority(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 100)
    engine.replace(1, 99, 10)
    engine.replace(1, 100, 10)
    assert short(engine.new(3, SELL, 1, 100))[1][7] == 2


def test_replace_with_the_same_price_and_size_keeps_priority(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 100)
    assert short(engine.replace(1, 100, 10)) == [(1, NEW, R.REPLACED, 0, 0, 10, 0, 0)]
    assert short(engine.new(3, SELL, 1, 100))[1][7] == 1


def test_a_repriced_order_can_cross_and_trade_before_resting(engine):
    engine.new(5, SELL, 3, 101)
    engine.new(1, BUY, 10, 100)
    assert short(engine.replace(1, 102, 10)) == [
        (1, NEW, R.REPLACED, 0, 0, 10, 0, 0),
        (1, PARTIAL, R.NONE, 101, 3, 7, 3, 5),
        (5, FILLED, R.NONE, 101, 3, 0, 3, 1),
    ]
    assert engine.book().bids == [(102, 7)]
    assert engine.book().asks == []


def test_replace_quantity_is_the_new_total_including_what_has_filled(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, SELL, 4, 100)
    assert short(engine.replace(1, 100, 8)) == [(1, PARTIAL, R.REPLACED, 0, 0, 4, 4, 0)]
    assert engine.book().bids == [(100, 4)]
    assert short(engine.replace(1, 100, 3)) == [(1, FILLED, R.REPLACED, 0, 0, 0, 4, 0)]
    assert engine.order(1) is None
    assert engine.book().bids == []


def test_replace_can_give_the_order_a_new_id_but_not_a_working_one(engine):
    engine.new(1, BUY, 10, 100)
    engine.new(2, BUY, 10, 99)
    assert short(engine.replace(1, 100, 10, new_order_id=7)) == [
        (7, NEW, R.REPLACED, 0, 0, 10, 0, 0)
    ]
    assert engine.order(1) is None
    assert engine.order(7).leaves_qty == 10
    assert short(engine.replace(7, 100, 10, new_order_id=2)) == [
        (2, REJECTED, R.DUPLICATE_ID, 0, 0, 0, 0, 0)
    ]
    assert engine.order(7) is not None


@pytest.mark.parametrize(
    ("stp", "expected", "asks"),
    [
        (
            "cancel_resting",
            [
                (3, NEW, R.NONE, 0, 0, 5, 0, 0),
                (1, CANCELLED, R.SELF_TRADE, 0, 0, 0, 0, 3),
                (3, FILLED, R.NONE, 100, 5, 0, 5, 2),
                (2, FILLED, R.NONE, 100, 5, 0, 5, 3),
            ],
            [],
        ),
        (
            "cancel_incoming",
            [(3, NEW, R.NONE, 0, 0, 5, 0, 0), (3, CANCELLED, R.SELF_TRADE, 0, 0, 0, 0, 1)],
            [(100, 10)],
        ),
        (
            "none",
            [
                (3, NEW, R.NONE, 0, 0, 5, 0, 0),
                (3, FILLED, R.NONE, 100, 5, 0, 5, 1),
                (1, FILLED, R.NONE, 100, 5, 0, 5, 3),
            ],
            [(100, 5)],
        ),
    ],
)
def test_self_trade_prevention_cancels_the_configured_side(stp, expected, asks):
    engine = MatchingEngine(small_config(stp=stp))
    engine.new(1, SELL, 5, 100, account=1)
    engine.new(2, SELL, 5, 100, account=2)
    assert short(engine.new(3, BUY, 5, 100, account=1)) == expected
    assert engine.book().asks == asks


def test_self_trade_prevention_stops_a_partly_filled_order():
    incoming_first = MatchingEngine(small_config(stp="cancel_incoming"))
    incoming_first.new(1, SELL, 2, 100, account=2)
    incoming_first.new(2, SELL, 5, 100, account=1)
    assert short(incoming_first.new(3, BUY, 5, 100, account=1))[-1] == (
        3, CANCELLED, R.SELF_TRADE, 0, 0, 0, 2, 2,
    )  # fmt: skip
    assert incoming_first.book().asks == [(100, 5)]


@pytest.mark.parametrize(("stp", "fills"), [("cancel_incoming", False), ("cancel_resting", True)])
def test_fok_counts_only_quantity_that_self_trade_prevention_lets_it_take(stp, fills):
    engine = MatchingEngine(small_config(stp=stp))
    engine.new(1, SELL, 5, 100, account=1)
    engine.new(2, SELL, 5, 100, account=2)
    last = short(engine.new(3, BUY, 5, 100, tif=FOK, account=1))[-1]
    assert (last[1] == EXPIRED) is not fills
    assert short(engine.new(4, BUY, 6, 100, tif=FOK, account=1))[-1][1] == EXPIRED


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (new(0, BUY, 1, 100), R.BAD_ORDER_ID),
        (new(-5, BUY, 1, 100), R.BAD_ORDER_ID),
        (new(9, BUY, 1, 100, instrument=3), R.UNKNOWN_INSTRUMENT),
        (new(9, BUY, 1, 100, instrument=-1), R.UNKNOWN_INSTRUMENT),
        (new(9, 0, 1, 100), R.BAD_SIDE),
        (new(9, BUY, 1, 100, order_type=3), R.BAD_TYPE),
        (new(9, BUY, 1, 100, tif=4), R.BAD_TIF),
        (new(9, BUY, 0, 100), R.BAD_QTY),
        (new(9, BUY, MAX_QTY + 1, 100), R.BAD_QTY),
        (new(9, BUY, 1, 0), R.BAD_PRICE),
        (new(1, BUY, 1, 100), R.DUPLICATE_ID),
        (order_record(9, 9), R.BAD_ACTION),
        (
            order_record(OrderAction.REPLACE, orig_client_order_id=8, price=1, qty=1),
            R.UNKNOWN_ORDER,
        ),
        (order_record(OrderAction.REPLACE, orig_client_order_id=1, price=1, qty=0), R.BAD_QTY),
        (order_record(OrderAction.REPLACE, orig_client_order_id=1, price=0, qty=1), R.BAD_PRICE),
        (
            order_record(OrderAction.REPLACE, -1, orig_client_order_id=1, price=1, qty=1),
            R.BAD_ORDER_ID,
        ),
        (order_record(ACTION_REDUCE, orig_client_order_id=8, qty=1), R.UNKNOWN_ORDER),
    ],
)
def test_a_bad_request_is_rejected_with_its_reason_and_changes_nothing(engine, request_, reason):
    engine.new(1, BUY, 5, 100)
    reports = engine.submit(request_)
    assert len(reports) == 1
    assert (reports[0]["status"], reports[0]["reason"]) == (REJECTED, reason)
    assert engine.book().bids == [(100, 5)]
    assert engine.counters()["rejected"] == 1


def test_a_remainder_that_would_need_a_level_on_a_full_side_is_cancelled():
    engine = MatchingEngine(small_config(levels=2))
    engine.new(1, BUY, 1, 100)
    engine.new(2, BUY, 1, 99)
    assert short(engine.new(3, BUY, 1, 98))[-1] == (3, CANCELLED, R.BOOK_FULL, 0, 0, 0, 0, 0)
    engine.new(4, BUY, 1, 99)  # an existing level still takes orders
    assert engine.book().bids == [(100, 1), (99, 2)]
    engine.cancel(1)
    engine.replace(4, 98, 1)  # a replace moving to a new level on a full side
    assert engine.book().bids == [(99, 1), (98, 1)]
    assert short(engine.replace(2, 97, 1))[-1][:3] == (2, NEW, R.REPLACED)
    engine.new(5, BUY, 1, 97)
    assert short(engine.replace(5, 95, 1))[-1] == (5, CANCELLED, R.BOOK_FULL, 0, 0, 0, 0, 0)
    assert engine.order(5) is None
    assert engine.counters()["book_full"] == 2


def test_a_remainder_is_cancelled_when_the_order_table_is_full():
    engine = MatchingEngine(small_config(orders=2))
    engine.new(1, BUY, 1, 100)
    engine.new(2, BUY, 1, 99)
    assert short(engine.new(3, BUY, 1, 98))[-1] == (3, CANCELLED, R.ORDER_TABLE_FULL, 0, 0, 0, 0, 0)
    assert short(engine.new(4, SELL, 1, 100))[-1][1] == FILLED  # a full fill needs no entry
    assert short(engine.new(5, BUY, 1, 98))[-1][1] == NEW  # room again
    assert engine.counters()["live_orders"] == 2


def test_instruments_have_separate_books(engine):
    engine.new(1, BUY, 5, 100, instrument=1)
    assert short(engine.new(2, SELL, 5, 100, instrument=2)) == [(2, NEW, R.NONE, 0, 0, 5, 0, 0)]
    assert engine.book(2).asks == [(100, 5)]
    assert engine.book(1).bids == [(100, 5)]


def test_reports_are_numbered_without_gaps_and_echo_the_decision_time(engine):
    engine.process(requests(new(1, SELL, 5, 100, decision_ns=11)))
    reports = engine.process(
        requests(
            new(2, BUY, 2, 100, decision_ns=22),
            order_record(OrderAction.CANCEL, orig_client_order_id=1, decision_ns=33),
        )
    )
    assert list(reports["exec_id"]) == [2, 3, 4, 5]
    assert list(reports["decision_ns"]) == [22, 22, 11, 33]  # the resting fill keeps its own


def test_a_finished_order_id_can_be_used_again(engine):
    engine.new(1, BUY, 5, 100)
    engine.cancel(1)
    assert short(engine.new(1, SELL, 5, 100))[0][1] == NEW


def test_a_batch_larger_than_the_report_buffer_gives_the_same_reports_as_one_by_one():
    config = small_config(orders=4)
    rng = np.random.default_rng(3)
    batch = requests(
        *(
            new(
                i,
                BUY if rng.random() < 0.5 else SELL,
                int(rng.integers(1, 9)),
                int(rng.integers(98, 103)),
            )
            for i in range(1, 120)
        )
    )
    whole = MatchingEngine(config)
    assert len(whole.reports) < 200  # the batch's reports cannot fit at once
    together = whole.process(batch)
    single = MatchingEngine(config)
    apart = np.concatenate([single.process(batch[i : i + 1]) for i in range(len(batch))])
    assert together.dtype == EXEC_REPORT_DTYPE
    assert together.tolist() == apart.tolist()
    assert len(together) > len(whole.reports)


def test_process_refuses_other_records(engine):
    with pytest.raises(TypeError, match="ORDER_DTYPE"):
        engine.process(np.zeros(1, EXEC_REPORT_DTYPE))


def test_book_of_an_unlisted_instrument_is_an_error(engine):
    with pytest.raises(KeyError, match="not listed"):
        engine.book(5)


def test_a_deep_book_keeps_every_level_in_price_order():
    engine = MatchingEngine(small_config(levels=64, orders=256))
    prices = np.random.default_rng(5).permutation(np.arange(100, 160))
    for i, price in enumerate(prices, start=1):
        engine.new(i, BUY, 1 + i % 3, int(price))
        engine.new(1000 + i, SELL, 1, int(price) + 100)
    assert [p for p, _ in engine.book().bids] == list(range(159, 99, -1))
    assert [p for p, _ in engine.book().asks] == list(range(200, 260))
    for i in range(1, 61, 2):
        engine.cancel(i)
    assert [p for p, _ in engine.book().bids] == sorted(
        (int(p) for p in prices[1::2]), reverse=True
    )


def test_a_repriced_order_that_fills_completely_leaves_nothing_behind(engine):
    engine.new(5, SELL, 3, 101, account=1)
    engine.new(1, BUY, 3, 100, account=2)
    assert short(engine.replace(1, 101, 3))[-2] == (1, FILLED, R.NONE, 101, 3, 0, 3, 5)
    assert engine.order(1) is None
    assert engine.counters()["live_orders"] == 0
    assert engine.book().bids == [] and engine.book().asks == []


def test_a_repriced_order_stopped_by_self_trade_prevention_is_cancelled():
    engine = MatchingEngine(small_config(stp="cancel_incoming"))
    engine.new(5, SELL, 3, 101, account=1)
    engine.new(1, BUY, 3, 100, account=1)
    assert short(engine.replace(1, 101, 3))[-1] == (1, CANCELLED, R.SELF_TRADE, 0, 0, 0, 0, 5)
    assert engine.order(1) is None
    assert engine.counters()["live_orders"] == 1
    assert engine.book().bids == [] and engine.book().asks == [(101, 3)]


def test_an_order_renamed_by_replace_is_cancelled_by_its_new_id(engine):
    engine.new(1, BUY, 3, 100)
    engine.replace(1, 99, 3, new_order_id=2)
    assert short(engine.cancel(1))[0][2] == R.UNKNOWN_ORDER
    assert short(engine.cancel(2)) == [(2, CANCELLED, R.NONE, 0, 0, 0, 0, 0)]
    assert engine.book().bids == []
