"""Every pre-trade check with a passing and a failing case at its boundary."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.records import ORDER_DTYPE, AckStatus
from lowlat.risk import LimitOverride, PreTradeRisk, RejectReason, RiskConfig, kernels
from tests.risk import (
    INSTRUMENT,
    LIMITS,
    MARKET,
    REF,
    REPLACE,
    SELL,
    T0,
    ack,
    cancel,
    engine,
    fill,
    order,
)

R = RejectReason
LOW_REF = 100_000  # 10.0000: max_order_qty (1,000) is within max_notional at this price


def test_a_plain_order_passes_and_is_reserved() -> None:
    risk = engine()
    assert risk.check(order(1), reference_price=REF) is R.NONE
    position = risk.position(1, INSTRUMENT)
    assert position is not None
    assert (position.open_orders, position.open_buy_qty, position.qty) == (1, 100, 0)
    assert [o.client_order_id for o in risk.working_orders()] == [1]


@pytest.mark.parametrize(
    "fields",
    [
        {"action": 9},
        {"side": 0},
        {"order_type": 0},
        {"qty": 0},
        {"qty": -5},
        {"price": 0},
        {"client_order_id": 0},
        {"account": -1},
        {"account": 100},
        {"instrument": -1},
        {"instrument": 100},
    ],
)
def test_malformed_orders_are_invalid(fields: dict[str, int]) -> None:
    risk = engine()
    rec = np.array([order(1)], ORDER_DTYPE)
    for name, value in fields.items():
        rec[name] = value
    assert risk.check(rec, reference_price=REF) is R.INVALID_ORDER
    assert risk.working_orders() == []


def test_max_order_qty_boundary() -> None:
    risk = engine()
    assert risk.check(order(1, qty=1_000, price=LOW_REF), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(2, qty=1_001, price=LOW_REF), reference_price=LOW_REF) is (
        R.MAX_ORDER_QTY
    )


def test_max_notional_boundary_for_limit_orders_at_their_price() -> None:
    risk = engine()  # 50,000 currency = 500,000,000 ticks × qty
    assert risk.check(order(1, qty=500), reference_price=REF) is R.NONE
    assert risk.check(order(2, qty=501), reference_price=REF) is R.MAX_NOTIONAL
    high = REF + 10_000  # at the collar: 495 × 1,010,000 fits, 496 does not
    assert risk.check(order(3, qty=495, price=high), reference_price=REF) is R.NONE
    assert risk.check(order(4, qty=496, price=high), reference_price=REF) is R.MAX_NOTIONAL


def test_market_orders_are_valued_at_the_reference_price() -> None:
    risk = engine()
    market = {"order_type": MARKET, "price": 0}
    assert risk.check(order(1, qty=500, **market), reference_price=REF) is R.NONE
    assert risk.check(order(2, qty=501, **market), reference_price=REF) is R.MAX_NOTIONAL
    assert risk.check(order(3, qty=1_000, **market), reference_price=LOW_REF) is R.NONE


def test_no_reference_price_refuses_limit_and_market_orders() -> None:
    risk = engine()
    assert risk.check(order(1), reference_price=0) is R.NO_REFERENCE_PRICE
    market = order(2, order_type=MARKET, price=0)
    assert risk.check(market, reference_price=0) is R.NO_REFERENCE_PRICE
    assert risk.check(order(3)) is R.NO_REFERENCE_PRICE  # no mark yet either


def test_the_mark_is_the_reference_when_none_is_given() -> None:
    risk = engine()
    assert risk.check(order(1, qty=10), reference_price=REF) is R.NONE
    risk.on_fills(fill(1, 10))  # the first fill marks the instrument
    assert risk.mark_of(INSTRUMENT) == REF
    assert risk.check(order(2, price=REF + 10_000)) is R.NONE
    assert risk.check(order(3, price=REF + 10_001)) is R.PRICE_COLLAR


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        (REF + 10_000, R.NONE),  # exactly 100 bps above
        (REF + 10_001, R.PRICE_COLLAR),
        (REF - 10_000, R.NONE),
        (REF - 10_001, R.PRICE_COLLAR),
        (REF * 1_000, R.PRICE_COLLAR),  # fat finger: named by the collar, not the notional
    ],
)
def test_price_collar_boundary_both_sides(price: int, reason: RejectReason) -> None:
    assert engine().check(order(1, qty=1, price=price), reference_price=REF) is reason


def test_max_open_orders_per_account_and_instrument() -> None:
    risk = engine()
    for i in (1, 2, 3):
        assert risk.check(order(i, price=REF - i), reference_price=REF) is R.NONE
    assert risk.check(order(4, price=REF - 4), reference_price=REF) is R.MAX_OPEN_ORDERS
    # another instrument, another account: their own counts
    assert risk.check(order(5, instrument=8), reference_price=REF) is R.NONE
    assert risk.check(order(6, account=2), reference_price=REF) is R.NONE
    risk.on_acks(ack(2, AckStatus.REJECTED))
    assert risk.check(order(7, price=REF - 7), reference_price=REF) is R.NONE


def test_max_position_counts_working_orders_on_the_same_side() -> None:
    risk = engine()
    buy = {"price": LOW_REF}
    assert risk.check(order(1, qty=1_000, **buy), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(2, qty=1_000, price=LOW_REF - 1), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(3, qty=1, price=LOW_REF - 2), reference_price=LOW_REF) is (
        R.MAX_POSITION
    )
    # sells are the other side: a long position does not count against them
    assert risk.check(order(4, SELL, qty=1_000, **buy), reference_price=LOW_REF) is R.NONE


def test_max_position_counts_the_position() -> None:
    risk = engine(instrument_limits={INSTRUMENT: LimitOverride(max_open_orders=10)})
    assert risk.check(order(1, qty=1_000, price=LOW_REF), reference_price=LOW_REF) is R.NONE
    risk.on_fills(fill(1, 1_000, LOW_REF))
    assert risk.check(order(2, qty=1_000, price=LOW_REF), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(3, qty=1, price=LOW_REF - 1), reference_price=LOW_REF) is (
        R.MAX_POSITION
    )
    # short exposure: -position + open sells + qty ≤ 2,000, so sells up to 3,000 would fit
    for i in (4, 5, 6):
        assert risk.check(
            order(i, SELL, qty=1_000, price=LOW_REF + i), reference_price=LOW_REF
        ) is (R.NONE)
    assert risk.check(order(7, SELL, qty=1, price=LOW_REF), reference_price=LOW_REF) is (
        R.MAX_POSITION
    )


def test_short_side_position_limit() -> None:
    risk = engine()
    assert risk.check(order(1, SELL, qty=1_000, price=LOW_REF), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(2, SELL, qty=1_000, price=LOW_REF + 1), reference_price=LOW_REF) is (
        R.NONE
    )
    assert risk.check(order(3, SELL, qty=1, price=LOW_REF + 2), reference_price=LOW_REF) is (
        R.MAX_POSITION
    )


def test_throttle_token_bucket_burst_then_refill_over_time() -> None:
    risk = engine()  # 100 orders/s, burst 5
    now = T0
    for i in range(5):  # a different instrument each: no other limit is near
        assert risk.check(order(i + 1, instrument=i), reference_price=REF, now_ns=now) is R.NONE
    assert risk.check(order(6, instrument=5), reference_price=REF, now_ns=now) is R.THROTTLE
    # one token takes 10 ms at 100/s
    almost = now + 9_999_999
    assert risk.check(order(7, instrument=5), reference_price=REF, now_ns=almost) is R.THROTTLE
    now += 10_000_000
    assert risk.check(order(8, instrument=5), reference_price=REF, now_ns=now) is R.NONE
    assert risk.check(order(9, instrument=6), reference_price=REF, now_ns=now) is R.THROTTLE
    # a long idle refills to the burst, never beyond
    later = now + 60_000_000_000
    for i in range(5):
        rec = order(10 + i, SELL, instrument=i)
        assert risk.check(rec, reference_price=REF, now_ns=later) is R.NONE
    assert risk.check(order(15, SELL, instrument=5), reference_price=REF, now_ns=later) is (
        R.THROTTLE
    )


def test_throttle_is_per_account_and_cancels_are_free() -> None:
    risk = engine()
    for i in range(5):
        assert risk.check(order(i + 1, instrument=i), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(cancel(6, orig=1), now_ns=T0) is R.NONE
    assert risk.check(order(7, account=2), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(order(8, instrument=5), reference_price=REF, now_ns=T0) is R.THROTTLE


def test_duplicate_within_the_window_and_its_expiry() -> None:
    risk = engine()  # window 1 ms
    assert risk.check(order(1), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(order(2), reference_price=REF, now_ns=T0 + 999_999) is R.DUPLICATE_ORDER
    # the refused duplicate did not restart the window
    assert risk.check(order(3), reference_price=REF, now_ns=T0 + 1_000_000) is R.NONE


@pytest.mark.parametrize(
    "change",
    [{"price": REF - 1}, {"qty": 99}, {"side": SELL}, {"account": 2}, {"instrument": 8}],
)
def test_orders_differing_in_any_fingerprint_field_are_not_duplicates(
    change: dict[str, int],
) -> None:
    risk = engine()
    assert risk.check(order(1), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(order(2, **change), reference_price=REF, now_ns=T0) is R.NONE


def test_a_zero_window_switches_duplicate_detection_off() -> None:
    risk = engine(LIMITS.__class__(**{**LIMITS.__dict__, "duplicate_window_ns": 0}))
    assert risk.check(order(1), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(order(2), reference_price=REF, now_ns=T0) is R.NONE


def test_restricted_instrument_and_suspended_account() -> None:
    risk = engine(
        instrument_limits={3: LimitOverride(restricted=True)},
        account_limits={4: LimitOverride(restricted=True)},
    )
    assert risk.check(order(1, instrument=3), reference_price=REF) is R.RESTRICTED
    assert risk.check(order(2, account=4), reference_price=REF) is R.RESTRICTED
    assert risk.check(order(3), reference_price=REF) is R.NONE
    assert risk.check(cancel(4, orig=99, instrument=3), reference_price=REF) is R.NONE


def test_per_instrument_and_per_account_overrides_in_the_kernel() -> None:
    risk = engine(
        instrument_limits={3: LimitOverride(max_order_qty=50)},
        account_limits={2: LimitOverride(max_order_qty=1_500)},
    )
    at = {"price": LOW_REF}
    assert risk.check(order(1, qty=50, instrument=3, **at), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(2, qty=51, instrument=3, **at), reference_price=LOW_REF) is (
        R.MAX_ORDER_QTY
    )
    assert risk.check(order(3, qty=51, instrument=4, **at), reference_price=LOW_REF) is R.NONE
    # account 2 may send more than the default, except where the instrument says less
    assert risk.check(order(4, qty=1_500, account=2, **at), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(5, qty=1_500, account=1, **at), reference_price=LOW_REF) is (
        R.MAX_ORDER_QTY
    )
    assert (
        risk.check(order(6, qty=51, account=2, instrument=3, **at), reference_price=LOW_REF)
        is R.MAX_ORDER_QTY
    )
    assert risk.limits(2, 3).max_order_qty == 50
    assert risk.limits(2, 4).max_order_qty == 1_500


def test_every_bucket_starts_full_whatever_the_clock_says() -> None:
    risk = engine(account_limits={2: LimitOverride(throttle_burst=2)})
    for account, burst in ((2, 2), (3, 5)):  # configured at start; seen first in a check
        for i in range(burst):
            rec = order(10 * account + i, account=account, instrument=i)
            assert risk.check(rec, reference_price=REF, now_ns=1) is R.NONE
        rec = order(10 * account + 9, account=account, instrument=7)
        assert risk.check(rec, reference_price=REF, now_ns=1) is R.THROTTLE


def test_per_account_throttle_override() -> None:
    risk = engine(account_limits={2: LimitOverride(throttle_burst=1, max_orders_per_second=1)})
    assert risk.check(order(1, account=2), reference_price=REF, now_ns=T0) is R.NONE
    assert risk.check(order(2, account=2, instrument=1), reference_price=REF, now_ns=T0) is (
        R.THROTTLE
    )
    late = T0 + 999_999_999
    assert risk.check(order(3, account=2, instrument=1), reference_price=REF, now_ns=late) is (
        R.THROTTLE
    )
    assert (
        risk.check(
            order(4, account=2, instrument=1), reference_price=REF, now_ns=T0 + 1_000_000_000
        )
        is R.NONE
    )
    assert risk.check(order(5, account=1), reference_price=REF, now_ns=T0) is R.NONE


def test_replace_must_name_a_working_order_of_the_same_side_and_pair() -> None:
    risk = engine()
    assert risk.check(order(1), reference_price=REF) is R.NONE
    assert risk.check(cancel(2, orig=1)) is R.NONE
    replace = {"action": REPLACE}
    assert risk.check(order(3, orig=99, **replace), reference_price=REF) is R.UNKNOWN_ORDER
    assert risk.check(order(3, orig=0, **replace), reference_price=REF) is R.UNKNOWN_ORDER
    assert risk.check(order(3, orig=2, **replace), reference_price=REF) is R.UNKNOWN_ORDER
    assert risk.check(order(3, SELL, orig=1, **replace), reference_price=REF) is R.INVALID_ORDER
    assert risk.check(order(3, orig=1, instrument=8, **replace), reference_price=REF) is (
        R.INVALID_ORDER
    )
    assert risk.check(order(3, orig=1, price=REF - 5, **replace), reference_price=REF) is R.NONE


def test_a_replace_reserves_only_its_increase_until_acknowledged() -> None:
    risk = engine()
    at = {"price": LOW_REF}
    assert risk.check(order(1, qty=1_000, **at), reference_price=LOW_REF) is R.NONE
    assert risk.check(order(2, qty=900, price=LOW_REF - 1), reference_price=LOW_REF) is R.NONE
    replace = order(3, qty=1_000, price=LOW_REF - 1, action=REPLACE, orig=2)
    assert risk.check(replace, reference_price=LOW_REF) is R.NONE  # 1,000 + 900 + 100
    assert risk.check(order(4, qty=1, price=LOW_REF - 3), reference_price=LOW_REF) is (
        R.MAX_POSITION
    )
    risk.on_acks(ack(3, AckStatus.REJECTED))
    assert risk.check(order(5, qty=100, price=LOW_REF - 5), reference_price=LOW_REF) is R.NONE


def test_duplicate_client_order_id() -> None:
    risk = engine()
    assert risk.check(order(1), reference_price=REF) is R.NONE
    assert risk.check(order(1, price=REF - 1), reference_price=REF) is R.DUPLICATE_CLIENT_ID


def test_capacity_of_account_slots_and_of_the_open_order_table() -> None:
    risk = engine(open_orders=16)  # 4 accounts; inserts stop at 12 entries
    for account in range(4):
        assert risk.check(order(account + 1, account=account), reference_price=REF) is R.NONE
    assert risk.check(order(5, account=4), reference_price=REF) is R.CAPACITY
    for i in range(8):
        rec = order(10 + i, instrument=i % 4 + 1, price=REF - i)
        assert risk.check(rec, reference_price=REF) is R.NONE
    assert risk.check(order(20, instrument=6), reference_price=REF) is R.CAPACITY
    assert risk.check(cancel(21, orig=10)) is R.NONE  # always passes, cannot be tracked
    assert risk.stats().counters["untracked_cancels"] == 1


def test_capacity_of_instrument_slots() -> None:
    risk = engine(instruments=2)
    assert risk.check(order(1, instrument=1), reference_price=REF) is R.NONE
    assert risk.check(order(2, instrument=2), reference_price=REF) is R.NONE
    assert risk.check(order(3, instrument=3), reference_price=REF) is R.CAPACITY


def test_cancels_always_pass_even_malformed_or_unknown() -> None:
    risk = engine()
    assert risk.check(cancel(1, orig=42)) is R.NONE
    assert risk.check(cancel(0, orig=0, account=-7, instrument=1_000)) is R.NONE
    stats = risk.stats()
    assert (stats.passes, stats.counters["cancels"], stats.counters["untracked_cancels"]) == (
        2,
        2,
        2,
    )


def test_halted_lifecycle_refuses_new_risk_but_not_cancels() -> None:
    lifecycle = Lifecycle()
    risk = PreTradeRisk(RiskConfig(limits=LIMITS), lifecycle=lifecycle, clock=lambda: T0)
    assert risk.check(order(1), reference_price=REF) is R.NONE  # INIT: risk does not gate
    lifecycle.transition(LifecycleState.HALTED, "test")
    assert risk.check(order(2, price=REF - 1), reference_price=REF) is R.HALTED
    assert risk.check(cancel(3, orig=1)) is R.NONE
    lifecycle.transition(LifecycleState.STOPPED, "test")
    assert risk.check(order(4, price=REF - 2), reference_price=REF) is R.HALTED


def test_stats_count_checks_passes_and_rejects_by_reason() -> None:
    risk = engine()
    risk.check(order(1), reference_price=REF)
    risk.check(order(2, qty=5_000), reference_price=REF)
    risk.check(order(3, qty=5_000), reference_price=REF)
    risk.check(order(4), reference_price=0)
    stats = risk.stats()
    assert (stats.checks, stats.passes, stats.rejected) == (4, 1, 3)
    assert stats.rejects == {R.MAX_ORDER_QTY: 2, R.NO_REFERENCE_PRICE: 1}
    assert stats.counters["rejects"] == 3


def test_check_takes_one_record() -> None:
    risk = engine()
    with pytest.raises(ValueError, match="one order, got 2"):
        risk.check(np.array([order(1), order(2)]))
    with pytest.raises(TypeError, match="expected"):
        risk.check(np.zeros(1, np.int64))


def test_reject_codes_are_stable() -> None:
    assert [(r.name, r.value) for r in RejectReason] == [
        ("NONE", 0),
        ("INVALID_ORDER", 1),
        ("UNKNOWN_ORDER", 2),
        ("DUPLICATE_CLIENT_ID", 3),
        ("KILL_SWITCH", 4),
        ("HALTED", 5),
        ("CAPACITY", 6),
        ("RESTRICTED", 7),
        ("MAX_ORDER_QTY", 8),
        ("NO_REFERENCE_PRICE", 9),
        ("MAX_NOTIONAL", 10),
        ("PRICE_COLLAR", 11),
        ("MAX_OPEN_ORDERS", 12),
        ("MAX_POSITION", 13),
        ("DUPLICATE_ORDER", 14),
        ("THROTTLE", 15),
    ]


def test_the_kernel_is_callable_on_a_batch_array() -> None:
    risk = engine()
    batch = np.array([order(1), order(2, qty=5_000)], ORDER_DTYPE)
    reasons = [kernels.check_order(risk.state, batch, i, T0, REF) for i in range(2)]
    assert reasons == [R.NONE, R.MAX_ORDER_QTY]
