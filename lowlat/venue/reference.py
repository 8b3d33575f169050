"""A plain-Python matching engine with the compiled engine's exact semantics.

It is the reference :mod:`lowlat.venue.kernels` is tested against and the plain-Python
baseline of ``lowlat bench venue``: dictionaries, sorted price lists and deques instead
of preallocated arrays, the same capacities (levels per side, resting orders) and the
same reports in the same order. The rules are documented in :mod:`lowlat.venue.kernels`.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

from lowlat.core.records import AckStatus, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue.config import VenueConfig
from lowlat.venue.records import ACTION_REDUCE, MAX_QTY, Liquidity, Reason, StpMode

__all__ = ["ReferenceVenue", "Report"]

#: One report as a tuple in ``EXEC_REPORT_DTYPE`` field order.
Report = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int]

_NEW, _PARTIAL, _FILLED = AckStatus.NEW, AckStatus.PARTIAL, AckStatus.FILLED
_CANCELLED, _REJECTED, _EXPIRED = AckStatus.CANCELLED, AckStatus.REJECTED, AckStatus.EXPIRED


_REQUEST_FIELDS = (
    "action",
    "client_order_id",
    "orig_client_order_id",
    "account",
    "instrument",
    "side",
    "order_type",
    "tif",
    "price",
    "qty",
    "decision_ns",
)


class _Order:
    """A resting (or re-entering) order."""

    __slots__ = ("account", "cum", "decision_ns", "id", "instrument", "leaves", "price", "side")

    def __init__(
        self,
        order_id: int,
        account: int,
        instrument: int,
        side: int,
        price: int,
        leaves: int,
        cum: int,
        decision_ns: int,
    ) -> None:
        self.id = order_id
        self.account = account
        self.instrument = instrument
        self.side = side  # 0 bids, 1 asks
        self.price = price
        self.leaves = leaves
        self.cum = cum
        self.decision_ns = decision_ns


class _Side:
    """One side of a book: prices sorted toward the touch (last = best) and their queues."""

    __slots__ = ("is_bid", "prices", "queues")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[int] = []  # keys: price for bids, -price for asks, ascending
        self.queues: dict[int, deque[_Order]] = {}

    def key(self, price: int) -> int:
        return price if self.is_bid else -price

    def remove(self, order: _Order) -> None:
        queue = self.queues[order.price]
        queue.remove(order)
        if not queue:
            del self.queues[order.price]
            self.prices.pop(bisect.bisect_left(self.prices, self.key(order.price)))

    def level_total(self, price: int) -> int:
        return sum(order.leaves for order in self.queues[price])


class ReferenceVenue:
    """Books of every listed instrument, orders by id, reports numbered like the engine's.

    Parameters
    ----------
    config
        Instruments, capacities and self-trade prevention (the gateway models are not
        used); :class:`VenueConfig` defaults when None.
    """

    def __init__(self, config: VenueConfig | None = None) -> None:
        self.config = config or VenueConfig()
        self.stp = self.config.stp_mode
        self.books = {i: (_Side(True), _Side(False)) for i in self.config.instruments}
        self.orders: dict[int, _Order] = {}
        self.exec_id = 0
        self._out: list[Report] = []

    # ------------------------------------------------------------ reading

    def book(self, instrument: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Bids and asks of ``instrument`` as ``(price, size)``, best first."""
        levels = []
        for side in self.books[instrument]:
            prices = [k if side.is_bid else -k for k in reversed(side.prices)]
            levels.append([(p, side.level_total(p)) for p in prices])
        return levels[0], levels[1]

    # ------------------------------------------------------------ requests

    def process(self, requests: np.ndarray) -> list[Report]:
        """Apply an ``ORDER_DTYPE`` array in order; return its reports as tuples."""
        self._out = []
        columns = (requests[name].tolist() for name in _REQUEST_FIELDS)
        for request in zip(*columns, strict=True):
            self.handle(*request)
        return self._out

    def handle(
        self,
        action: int,
        client_order_id: int,
        orig_id: int,
        account: int,
        instrument: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        decision_ns: int,
    ) -> None:
        """Apply one request (the fields of an ``ORDER_DTYPE`` record)."""
        if action == OrderAction.NEW:
            self._new(client_order_id, account, instrument, side, order_type, tif, price, qty,
                      decision_ns)  # fmt: skip
        elif action in (OrderAction.CANCEL, ACTION_REDUCE):
            self._cancel(orig_id, account, instrument, side, qty, decision_ns,
                         action == ACTION_REDUCE)  # fmt: skip
        elif action == OrderAction.REPLACE:
            self._replace(client_order_id, orig_id, account, instrument, side, price, qty,
                          decision_ns)  # fmt: skip
        else:
            self._report(client_order_id, 0, account, instrument, side, _REJECTED,
                         Reason.BAD_ACTION, 0, 0, 0, 0, decision_ns)  # fmt: skip

    def _report(
        self,
        order_id: int,
        counterparty: int,
        account: int,
        instrument: int,
        side: int,
        status: int,
        reason: int,
        px: int,
        qty: int,
        leaves: int,
        cum: int,
        decision_ns: int,
        liquidity: int = Liquidity.NONE,
    ) -> None:
        self.exec_id += 1
        self._out.append(
            (self.exec_id, order_id, counterparty, px, decision_ns, qty, leaves, cum,
             instrument, account, side, int(status), int(reason), int(liquidity))
        )  # fmt: skip

    def _new(
        self,
        order_id: int,
        account: int,
        instrument: int,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        decision_ns: int,
    ) -> None:
        if order_id <= 0:
            reason = Reason.BAD_ORDER_ID
        elif instrument not in self.books:
            reason = Reason.UNKNOWN_INSTRUMENT
        elif side not in (Side.BUY, Side.SELL):
            reason = Reason.BAD_SIDE
        elif order_type not in (OrderType.LIMIT, OrderType.MARKET):
            reason = Reason.BAD_TYPE
        elif tif > TimeInForce.FOK:
            reason = Reason.BAD_TIF
        elif not 0 < qty <= MAX_QTY:
            reason = Reason.BAD_QTY
        elif order_type == OrderType.LIMIT and price <= 0:
            reason = Reason.BAD_PRICE
        elif order_id in self.orders:
            reason = Reason.DUPLICATE_ID
        else:
            reason = Reason.NONE
        if reason:
            self._report(order_id, 0, account, instrument, side, _REJECTED, reason,
                         0, 0, 0, 0, decision_ns)  # fmt: skip
            return
        self._report(order_id, 0, account, instrument, side, _NEW, 0, 0, 0, qty, 0, decision_ns)
        market = order_type == OrderType.MARKET
        order = _Order(order_id, account, instrument, side - 1, 0 if market else price, qty, 0,
                       decision_ns)  # fmt: skip
        self._execute(order, market, tif, resting=False)

    def _cancel(
        self,
        order_id: int,
        account: int,
        instrument: int,
        side: int,
        qty: int,
        decision_ns: int,
        reduce: bool,
    ) -> None:
        order = self.orders.get(order_id)
        if order is None or (reduce and qty <= 0):
            reason = Reason.UNKNOWN_ORDER if order is None else Reason.BAD_QTY
            self._report(order_id, 0, account, instrument, side, _REJECTED, reason,
                         0, 0, 0, 0, decision_ns)  # fmt: skip
            return
        if reduce and qty < order.leaves:
            order.leaves -= qty
            self._report(order_id, 0, order.account, order.instrument, order.side + 1,
                         _NEW if order.cum == 0 else _PARTIAL, Reason.REDUCED, 0, 0,
                         order.leaves, order.cum, decision_ns)  # fmt: skip
            return
        self.books[order.instrument][order.side].remove(order)
        del self.orders[order_id]
        self._report(order_id, 0, order.account, order.instrument, order.side + 1, _CANCELLED,
                     Reason.REDUCED if reduce else Reason.NONE, 0, 0, 0, order.cum,
                     decision_ns)  # fmt: skip

    def _replace(
        self,
        new_id: int,
        old_id: int,
        account: int,
        instrument: int,
        side: int,
        price: int,
        qty: int,
        decision_ns: int,
    ) -> None:
        new_id = new_id or old_id
        order = self.orders.get(old_id)
        if new_id < 0:
            reason = Reason.BAD_ORDER_ID
        elif order is None:
            reason = Reason.UNKNOWN_ORDER
        elif not 0 < qty <= MAX_QTY:
            reason = Reason.BAD_QTY
        elif price <= 0:
            reason = Reason.BAD_PRICE
        elif new_id != old_id and new_id in self.orders:
            reason = Reason.DUPLICATE_ID
        else:
            reason = Reason.NONE
        if reason:
            self._report(new_id, 0, account, instrument, side, _REJECTED, reason,
                         0, 0, 0, 0, decision_ns)  # fmt: skip
            return
        assert order is not None
        order.decision_ns = decision_ns
        if new_id != old_id:
            del self.orders[old_id]
            self.orders[new_id] = order
            order.id = new_id
        book_side = self.books[order.instrument][order.side]
        side_code = order.side + 1
        if qty <= order.cum:
            book_side.remove(order)
            del self.orders[new_id]
            self._report(new_id, 0, order.account, order.instrument, side_code, _FILLED,
                         Reason.REPLACED, 0, 0, 0, order.cum, decision_ns)  # fmt: skip
            return
        new_leaves = qty - order.cum
        status = _NEW if order.cum == 0 else _PARTIAL
        if price == order.price and new_leaves <= order.leaves:
            order.leaves = new_leaves
            self._report(new_id, 0, order.account, order.instrument, side_code, status,
                         Reason.REPLACED, 0, 0, new_leaves, order.cum, decision_ns)  # fmt: skip
            return
        book_side.remove(order)
        order.price = price
        order.leaves = new_leaves
        self._report(new_id, 0, order.account, order.instrument, side_code, status,
                     Reason.REPLACED, 0, 0, new_leaves, order.cum, decision_ns)  # fmt: skip
        self._execute(order, False, TimeInForce.GTC, resting=True)

    # ------------------------------------------------------------ matching

    def _beyond(self, order: _Order, market: bool, price: int) -> bool:
        if market:
            return False
        return price > order.price if order.side == 0 else price < order.price

    def _fillable(self, order: _Order, market: bool) -> bool:
        opposite = self.books[order.instrument][1 - order.side]
        stp = self.stp if order.account else StpMode.NONE
        total = 0
        for key in reversed(opposite.prices):
            price = key if opposite.is_bid else -key
            if self._beyond(order, market, price):
                return False
            for resting in opposite.queues[price]:
                if stp != StpMode.NONE and resting.account == order.account:
                    if stp == StpMode.CANCEL_INCOMING:
                        return False
                    continue
                total += resting.leaves
                if total >= order.leaves:
                    return True
        return False

    def _match(self, order: _Order, market: bool) -> int:
        """Match ``order``; return the resting id that stopped it by self-trade prevention."""
        opposite = self.books[order.instrument][1 - order.side]
        stp = self.stp if order.account else StpMode.NONE
        while order.leaves > 0 and opposite.prices:
            key = opposite.prices[-1]
            price = key if opposite.is_bid else -key
            if self._beyond(order, market, price):
                break
            queue = opposite.queues[price]
            while queue and order.leaves > 0:
                resting = queue[0]
                if stp != StpMode.NONE and resting.account == order.account:
                    if stp == StpMode.CANCEL_INCOMING:
                        return resting.id
                    queue.popleft()
                    del self.orders[resting.id]
                    self._report(resting.id, order.id, resting.account, order.instrument,
                                 resting.side + 1, _CANCELLED, Reason.SELF_TRADE, 0, 0, 0,
                                 resting.cum, resting.decision_ns)  # fmt: skip
                    continue
                q = min(order.leaves, resting.leaves)
                order.leaves -= q
                order.cum += q
                resting.leaves -= q
                resting.cum += q
                self._report(order.id, resting.id, order.account, order.instrument,
                             order.side + 1, _PARTIAL if order.leaves else _FILLED, 0, price, q,
                             order.leaves, order.cum, order.decision_ns,
                             Liquidity.REMOVED)  # fmt: skip
                self._report(resting.id, order.id, resting.account, order.instrument,
                             resting.side + 1, _PARTIAL if resting.leaves else _FILLED, 0, price,
                             q, resting.leaves, resting.cum, resting.decision_ns,
                             Liquidity.ADDED)  # fmt: skip
                if resting.leaves == 0:
                    queue.popleft()
                    del self.orders[resting.id]
            if not queue:
                del opposite.queues[price]
                opposite.prices.pop()
        return 0

    def _execute(self, order: _Order, market: bool, tif: int, resting: bool) -> None:
        """Match, then rest, expire or cancel the remainder (``resting``: a replaced order)."""
        if tif == TimeInForce.FOK and not self._fillable(order, market):
            self._end(order, _EXPIRED, Reason.NOT_FILLABLE)
            return
        stopped_by = self._match(order, market)
        if order.leaves == 0:
            if resting:
                del self.orders[order.id]
            return
        if stopped_by:
            if resting:
                del self.orders[order.id]
            self._end(order, _CANCELLED, Reason.SELF_TRADE, stopped_by)
            return
        if market or tif in (TimeInForce.IOC, TimeInForce.FOK):
            self._end(order, _EXPIRED, Reason.NO_LIQUIDITY)
            return
        side = self.books[order.instrument][order.side]
        if not resting and len(self.orders) >= self.config.orders:
            self._end(order, _CANCELLED, Reason.ORDER_TABLE_FULL)
            return
        if order.price not in side.queues:
            if len(side.prices) >= self.config.levels:
                if resting:
                    del self.orders[order.id]
                self._end(order, _CANCELLED, Reason.BOOK_FULL)
                return
            bisect.insort(side.prices, side.key(order.price))
            side.queues[order.price] = deque()
        side.queues[order.price].append(order)
        self.orders[order.id] = order

    def _end(self, order: _Order, status: int, reason: int, counterparty: int = 0) -> None:
        self._report(order.id, counterparty, order.account, order.instrument, order.side + 1,
                     status, reason, 0, 0, 0, order.cum, order.decision_ns)  # fmt: skip
