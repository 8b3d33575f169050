"""The compiled engine against the plain-Python reference on random request streams."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lowlat.core.records import ORDER_DTYPE, OrderAction
from lowlat.venue import ACTION_REDUCE, MAX_QTY, MatchingEngine, ReferenceVenue, order_record
from tests.venue.conftest import small_config

INSTRUMENTS = (1, 2)
# Ids 1..4 + 16·k share home entries of the 16-entry id table (8 orders), so probe chains
# are long and removals shift entries around.
ORDER_IDS = st.sampled_from([a + 16 * b for a in range(1, 5) for b in range(4)])
# mostly valid, sometimes not: sampled_from weighs every entry alike
QTY = st.sampled_from([*range(1, 13), 0, -1, MAX_QTY + 1])
PRICE = st.sampled_from([*range(96, 105), 0, -3])
ACCOUNT = st.sampled_from([0, 1, 2, 3])


def _valid_new_on(side: int, prices: list[int]) -> st.SearchStrategy:
    return st.builds(
        order_record,
        st.just(OrderAction.NEW),
        ORDER_IDS,
        side=st.just(side),
        order_type=st.sampled_from([1, 1, 1, 1, 2]),
        tif=st.sampled_from([1, 1, 1, 0, 2, 3]),
        price=st.sampled_from(prices),
        qty=st.integers(1, 12),
        account=ACCOUNT,
        instrument=st.sampled_from(INSTRUMENTS),
        decision_ns=st.integers(0, 1000),
    )


# Buy and sell prices overlap only around 100: queues build up on both sides, and orders
# still cross.
_valid_new = _valid_new_on(1, [98, 99, 100, 100, 101]) | _valid_new_on(2, [99, 100, 100, 101, 102])
_any_new = st.builds(
    order_record,
    st.just(OrderAction.NEW),
    ORDER_IDS | st.just(0),
    side=st.sampled_from([1, 2, 1, 2, 0]),
    order_type=st.sampled_from([1, 1, 1, 2, 3]),
    tif=st.sampled_from([0, 1, 1, 1, 2, 3, 4]),
    price=PRICE,
    qty=QTY,
    account=ACCOUNT,
    instrument=st.sampled_from([1, 2, 2, 3]),
    decision_ns=st.integers(0, 1000),
)
_cancel = st.builds(
    order_record,
    st.sampled_from([OrderAction.CANCEL, ACTION_REDUCE]),
    orig_client_order_id=ORDER_IDS,
    qty=st.integers(1, 8),
    decision_ns=st.integers(0, 1000),
)
_replace = st.builds(
    order_record,
    st.just(OrderAction.REPLACE),
    st.sampled_from([0, 0, 0, 1, 17, 33]),
    orig_client_order_id=ORDER_IDS,
    price=st.integers(98, 102),
    qty=st.integers(1, 16),
    decision_ns=st.integers(0, 1000),
)
_anything = st.one_of(
    _any_new,
    _cancel,
    _replace,
    st.builds(
        order_record,
        st.sampled_from([OrderAction.CANCEL, ACTION_REDUCE, OrderAction.REPLACE, 7]),
        st.sampled_from([0, -1, 1]),
        orig_client_order_id=ORDER_IDS | st.just(0),
        price=PRICE,
        qty=QTY,
    ),
)


def _batch(requests: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(requests, min_size=1, max_size=4)


class _EngineMatchesReference(RuleBasedStateMachine):
    """After every batch: identical reports, books and working orders.

    Rules are picked alike, so valid new orders get two of them; the last one mixes in
    every kind of bad request.
    """

    stp = "cancel_resting"

    def __init__(self) -> None:
        super().__init__()
        config = small_config(levels=2, orders=8, stp=self.stp)
        self.engine = MatchingEngine(config)
        self.reference = ReferenceVenue(config)

    def _apply(self, batch: list[np.void]) -> None:
        requests = np.array(batch, ORDER_DTYPE)
        compiled = [tuple(r) for r in self.engine.process(requests).tolist()]
        assert compiled == self.reference.process(requests)

    @rule(batch=_batch(_valid_new))
    def new_orders(self, batch: list[np.void]) -> None:
        self._apply(batch)

    @rule(batch=_batch(_valid_new))
    def more_new_orders(self, batch: list[np.void]) -> None:
        self._apply(batch)

    @rule(batch=_batch(_cancel))
    def cancels_and_reductions(self, batch: list[np.void]) -> None:
        self._apply(batch)

    @rule(batch=_batch(_replace))
    def replaces(self, batch: list[np.void]) -> None:
        self._apply(batch)

    @rule(batch=_batch(_anything))
    def anything(self, batch: list[np.void]) -> None:
        self._apply(batch)

    @rule(pick=st.integers(0, 7), qty=st.integers(1, 16), new_id=st.sampled_from([0, 0, 0, 49]))
    def resize_a_working_order(self, pick: int, qty: int, new_id: int) -> None:
        """Same price, new total: a decrease keeps the order's place, an increase loses it."""
        working = sorted(self.reference.orders.items())
        if working:
            order_id, order = working[pick % len(working)]
            self._apply(
                [
                    order_record(
                        OrderAction.REPLACE,
                        new_id,
                        orig_client_order_id=order_id,
                        price=order.price,
                        qty=qty,
                    )
                ]
            )

    @rule(
        pick=st.integers(0, 7),
        action=st.sampled_from([OrderAction.CANCEL, ACTION_REDUCE]),
        qty=st.integers(1, 6),
    )
    def cancel_or_reduce_a_working_order(self, pick: int, action: int, qty: int) -> None:
        working = sorted(self.reference.orders)
        if working:
            target = working[pick % len(working)]
            self._apply([order_record(action, orig_client_order_id=target, qty=qty)])

    @invariant()
    def books_agree(self) -> None:
        for instrument in INSTRUMENTS:
            book = self.engine.book(instrument)
            assert (book.bids, book.asks) == self.reference.book(instrument)
        assert self.engine.counters()["live_orders"] == len(self.reference.orders)
        for order_id, order in self.reference.orders.items():
            working = self.engine.order(order_id)
            assert (working.leaves_qty, working.cum_qty, working.price) == (
                order.leaves,
                order.cum,
                order.price,
            )


_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class CancelResting(_EngineMatchesReference):
    stp = "cancel_resting"


class CancelIncoming(_EngineMatchesReference):
    stp = "cancel_incoming"


class NoSelfTradePrevention(_EngineMatchesReference):
    stp = "none"


TestCancelResting = CancelResting.TestCase
TestCancelResting.settings = _SETTINGS
TestCancelIncoming = CancelIncoming.TestCase
TestCancelIncoming.settings = _SETTINGS
TestNoSelfTradePrevention = NoSelfTradePrevention.TestCase
TestNoSelfTradePrevention.settings = _SETTINGS
