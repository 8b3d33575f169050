"""Open-order bookkeeping from acks and fills; positions, PnL, marks and drawdown by hand."""

from __future__ import annotations

import pytest

from lowlat.core.records import AckStatus
from lowlat.risk import KillCause, LimitOverride, PreTradeRisk, RejectReason
from tests.risk import INSTRUMENT, REF, REPLACE, SELL, ack, cancel, engine, fill, order

R = RejectReason


def working(risk: PreTradeRisk) -> dict[int, int]:
    """Working orders as client id → leaves."""
    return {o.client_order_id: o.leaves_qty for o in risk.working_orders()}


def entries(risk: PreTradeRisk) -> int:
    return risk.stats().counters["open_entries"]


def placed(risk: PreTradeRisk, *orders: object) -> PreTradeRisk:
    for rec in orders:
        assert risk.check(rec, reference_price=REF) is R.NONE
    return risk


# ---------------------------------------------------------------- open orders


@pytest.mark.parametrize(
    "status", [AckStatus.CANCELLED, AckStatus.EXPIRED, AckStatus.REJECTED, AckStatus.DECIDED]
)
def test_acks_that_end_an_order_release_it(status: AckStatus) -> None:
    risk = placed(engine(), order(1), order(2, SELL, qty=30))
    risk.on_acks(ack(1, AckStatus.NEW))
    assert working(risk) == {1: 100, 2: 30}
    risk.on_acks(ack(1, status))
    assert working(risk) == {2: 30}
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.open_orders, position.open_buy_qty, position.open_sell_qty) == (1, 0, 30)


def test_a_cancel_ack_under_the_cancel_s_id_ends_the_order() -> None:
    risk = placed(engine(), order(1), cancel(2, orig=1))
    assert entries(risk) == 2 and working(risk) == {1: 100}
    risk.on_acks(ack(2, AckStatus.CANCELLED))
    assert working(risk) == {} and entries(risk) == 0


def test_a_rejected_cancel_leaves_the_order_working() -> None:
    risk = placed(engine(), order(1), cancel(2, orig=1))
    risk.on_acks(ack(2, AckStatus.REJECTED))
    assert working(risk) == {1: 100} and entries(risk) == 1


def test_a_fill_under_a_pending_cancel_s_id_belongs_to_the_order() -> None:
    risk = placed(engine(), order(1), cancel(2, orig=1))
    assert risk.on_fills(fill(2, 30)) == 1
    assert working(risk) == {1: 70}
    position = risk.position(1, INSTRUMENT)
    assert position is not None and position.qty == 30


def test_replace_acknowledged_moves_the_order_to_its_new_id() -> None:
    risk = placed(engine(), order(1))
    risk.on_fills(fill(1, 30))
    placed(risk, order(2, qty=150, price=REF - 10, action=REPLACE, orig=1))
    position = risk.position(1, INSTRUMENT)
    assert position is not None and position.open_buy_qty == 70 + 50  # leaves + increase
    risk.on_acks(ack(2, AckStatus.REPLACED))
    assert working(risk) == {2: 120}  # 150 less the 30 already filled
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.open_orders, position.open_buy_qty, entries(risk)) == (1, 120, 1)
    risk.on_fills(fill(2, 120, REF - 10))
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.qty, position.open_orders, working(risk)) == (150, 0, {})


def test_a_fill_under_the_replacement_s_id_means_the_replace_took_effect() -> None:
    risk = placed(engine(), order(1), order(2, qty=80, action=REPLACE, orig=1, price=REF - 1))
    risk.on_fills(fill(2, 10, REF - 1))
    assert working(risk) == {2: 70}
    assert risk.on_acks(ack(2, AckStatus.REPLACED)) == 1  # already the working order
    assert working(risk) == {2: 70}


def test_a_rejected_replace_releases_its_increase() -> None:
    risk = placed(engine(), order(1), order(2, qty=300, action=REPLACE, orig=1, price=REF - 1))
    position = risk.position(1, INSTRUMENT)
    assert position is not None and position.open_buy_qty == 300
    risk.on_acks(ack(2, AckStatus.REJECTED))
    position = risk.position(1, INSTRUMENT)
    assert position is not None and position.open_buy_qty == 100
    assert working(risk) == {1: 100} and entries(risk) == 1


def test_a_replace_down_to_the_filled_quantity_ends_the_order() -> None:
    risk = placed(engine(), order(1))
    risk.on_fills(fill(1, 60))
    placed(risk, order(2, qty=60, action=REPLACE, orig=1, price=REF - 1))
    risk.on_acks(ack(2, AckStatus.REPLACED))
    assert working(risk) == {} and entries(risk) == 0
    position = risk.position(1, INSTRUMENT)
    assert position is not None and (position.open_orders, position.open_buy_qty) == (0, 0)


def test_a_replace_whose_original_is_gone_holds_the_whole_replacement() -> None:
    risk = placed(engine(), order(1), order(2, qty=100, action=REPLACE, orig=1, price=REF - 1))
    risk.on_acks(ack(1, AckStatus.CANCELLED))  # the venue cancelled the original meanwhile
    risk.on_acks(ack(2, AckStatus.REPLACED))
    assert working(risk) == {2: 100}
    position = risk.position(1, INSTRUMENT)
    assert position is not None and (position.open_orders, position.open_buy_qty) == (1, 100)


def test_a_request_never_takes_an_order_of_another_side_that_reused_the_id() -> None:
    risk = placed(engine(), order(1), order(2, qty=80, action=REPLACE, orig=1, price=REF - 1))
    risk.on_acks(ack(1, AckStatus.CANCELLED))
    placed(risk, order(1, SELL, qty=30), cancel(3, orig=1))
    risk.on_acks(ack(2, AckStatus.REPLACED))  # its original is gone, not the sell order
    assert working(risk) == {1: 30, 2: 80}
    risk.on_fills(fill(3, 10, side=SELL))  # the cancel names the sell order: it is filled
    risk.on_acks(ack(3, AckStatus.CANCELLED))
    assert working(risk) == {2: 80}
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.open_buy_qty, position.open_sell_qty, position.qty) == (80, 0, -10)


def test_a_cancelled_replace_request_ends_the_order_and_the_request() -> None:
    risk = placed(engine(), order(1), order(2, qty=120, action=REPLACE, orig=1, price=REF - 1))
    risk.on_acks(ack(2, AckStatus.CANCELLED))
    assert working(risk) == {} and entries(risk) == 0
    assert risk.position(1, INSTRUMENT) is None  # nothing working, nothing traded


def test_unknown_acks_and_fills_are_counted_and_move_nothing() -> None:
    risk = placed(engine(), order(1))
    assert risk.on_acks(ack(77, AckStatus.CANCELLED)) == 0
    assert risk.on_fills(fill(77, 10)) == 0
    assert risk.on_fills(fill(1, 0)) == 0  # a fill of nothing
    risk.on_fills(fill(1, 100))
    assert risk.on_acks(ack(1, AckStatus.FILLED)) == 0  # expected: the fill closed it
    counters = risk.stats().counters
    assert (counters["unknown_acks"], counters["unknown_fills"]) == (1, 2)
    position = risk.position(1, INSTRUMENT)
    assert position is not None and position.qty == 100


def test_an_overfill_moves_the_position_by_what_was_filled() -> None:
    risk = placed(engine(), order(1))
    risk.on_fills(fill(1, 130))
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.qty, position.open_buy_qty, position.open_orders) == (130, 0, 0)


# ---------------------------------------------------------------- positions and PnL


def test_position_and_pnl_by_hand_buy_partial_sells_flip_and_marks() -> None:
    risk = engine()
    pnl = risk.pnl

    def check_position(qty: int, basis: int, realized: int, unrealized: int) -> None:
        p = risk.position(1, INSTRUMENT)
        assert p is not None
        assert (p.qty, p.cost_basis, p.realized, p.unrealized) == (qty, basis, realized, unrealized)

    placed(risk, order(1, qty=100))
    risk.on_fills(fill(1, 100, 1_000_000))
    check_position(100, 100_000_000, 0, 0)  # the first fill sets the mark
    assert risk.mark(INSTRUMENT, 1_010_000) == 1
    check_position(100, 100_000_000, 0, 1_000_000)
    assert risk.check(order(2, SELL, qty=40, price=1_020_000), reference_price=1_010_000) is (
        R.NONE
    )
    risk.on_fills(fill(2, 40, 1_020_000, SELL))
    # 40 × 1,020,000 − 40 × 1,000,000 realized; 60 × (1,010,000 − 1,000,000) unrealized
    check_position(60, 60_000_000, 800_000, 600_000)
    assert pnl()[1].high_water == 1_400_000
    placed(risk, order(3, SELL, qty=100, price=990_000))
    risk.on_fills(fill(3, 100, 990_000, SELL))
    # 60 closed at a loss of 10,000 each, then short 40 at 990,000, marked at 1,010,000
    check_position(-40, -39_600_000, 200_000, -800_000)
    assert risk.position(1, INSTRUMENT).average_price == 990_000  # type: ignore[union-attr]
    assert (pnl()[1].total, pnl()[1].drawdown) == (-600_000, 2_000_000)
    risk.mark(INSTRUMENT, 980_000)
    check_position(-40, -39_600_000, 200_000, 400_000)
    assert risk.check(order(4, qty=40, price=985_000), reference_price=980_000) is R.NONE
    risk.on_fills(fill(4, 40, 985_000))
    check_position(0, 0, 400_000, 0)
    account = pnl()[1]
    assert (account.realized, account.unrealized, account.high_water) == (400_000, 0, 1_400_000)
    assert (account.drawdown, account.worst_drawdown) == (1_000_000, 2_000_000)
    p = risk.position(1, INSTRUMENT)
    assert p is not None and (p.bought, p.sold, p.fills, p.average_price) == (140, 140, 4, None)


def test_partial_closes_floor_the_basis_removed_and_keep_total_pnl_exact() -> None:
    risk = placed(engine(), order(1, qty=3, price=1_000_001), order(2, qty=1, price=1_000_000))
    risk.on_fills(fill(1, 3, 1_000_001))
    risk.on_fills(fill(2, 1, 1_000_000))
    # basis 4,000,003 for 4: selling 1 removes floor(4,000,003 / 4) = 1,000,000
    placed(risk, order(3, SELL, qty=1, price=1_000_002))
    risk.on_fills(fill(3, 1, 1_000_002, SELL))
    p = risk.position(1, INSTRUMENT)
    assert p is not None and (p.qty, p.cost_basis, p.realized) == (3, 3_000_003, 2)
    # cash flow: −3,000,003 − 1,000,000 + 1,000,002 = −3,000,001; 3 × mark 1,000,001
    assert p.realized + p.unrealized == -3_000_001 + 3 * p.mark


def test_positions_are_per_account_and_instrument_and_marks_revalue_each() -> None:
    risk = placed(engine(), order(1), order(2, account=2), order(3, instrument=8))
    for client_id in (1, 2, 3):
        instrument = 8 if client_id == 3 else INSTRUMENT
        risk.on_fills(fill(client_id, 100, REF, instrument=instrument))
    assert risk.mark(INSTRUMENT, REF + 100) == 2
    assert risk.mark(8, REF - 100) == 1
    assert risk.mark(99, REF) == 0  # never traded: ignored
    assert risk.mark(INSTRUMENT, 0) == 0  # not a price
    by_key = {(p.account, p.instrument): p.unrealized for p in risk.positions()}
    assert by_key == {(1, INSTRUMENT): 10_000, (1, 8): -10_000, (2, INSTRUMENT): 10_000}
    assert {a: p.total for a, p in risk.pnl().items()} == {1: 0, 2: 10_000}


def test_drawdown_beyond_the_limit_engages_the_kill_switch_flag() -> None:
    risk = placed(engine(), order(1))  # max drawdown 1,000 currency = 10,000,000 ticks × qty
    risk.on_fills(fill(1, 100, REF))
    risk.mark(INSTRUMENT, 900_000)  # exactly the limit
    assert not risk.kill_flag().engaged
    assert risk.pnl()[1].drawdown == 10_000_000
    risk.mark(INSTRUMENT, 899_999)
    flag = risk.kill_flag()
    assert (flag.engaged, flag.cause, flag.account) == (True, KillCause.DRAWDOWN, 1)
    assert risk.stats().counters["kill_requests"] == 1
    assert risk.check(order(2, price=899_999), reference_price=899_999) is R.KILL_SWITCH
    assert risk.check(cancel(3, orig=1)) is R.NONE


def test_clearing_the_flag_restarts_the_high_water_mark_at_the_equity() -> None:
    risk = placed(engine(), order(1))
    risk.on_fills(fill(1, 100, REF))
    risk.mark(INSTRUMENT, 899_999)
    assert risk.kill_flag().engaged
    risk.clear_kill_flag()
    risk.mark(INSTRUMENT, 899_990)  # the first revaluation after: the new high-water mark
    account = risk.pnl()[1]
    assert not risk.kill_flag().engaged
    assert (account.high_water, account.drawdown) == (-10_001_000, 0)
    risk.mark(INSTRUMENT, 899_980)
    account = risk.pnl()[1]
    assert (account.high_water, account.drawdown) == (-10_001_000, 1_000)
    assert account.worst_drawdown == 10_000_100
    assert not risk.kill_flag().engaged


def test_the_drawdown_limit_has_account_overrides() -> None:
    risk = placed(
        engine(account_limits={2: LimitOverride(max_drawdown=2_000)}), order(1, account=2)
    )
    risk.on_fills(fill(1, 100, REF))
    risk.mark(INSTRUMENT, 850_000)  # 15,000,000: beyond the default, within account 2's
    assert not risk.kill_flag().engaged
    risk.mark(INSTRUMENT, 799_999)
    assert risk.kill_flag().account == 2
