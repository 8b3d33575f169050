"""The open-order table against a dictionary model, with client ids that collide in the table.

Random new orders, cancels, replaces, acks of every status and fills; after each step the
working orders, the working quantity per side and the open-order counts must equal the
model's, whatever probing and removal did to the table. Client ids are never reused (as
at a venue) and all map to three home entries of the table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lowlat.core.records import ACK_DTYPE, AckStatus, Side
from lowlat.risk import PreTradeRisk, RejectReason, RiskConfig, RiskLimits
from tests.risk import REF, REPLACE, T0, ack, cancel, fill, order

UNKNOWN = 4 + 64  # an id never sent
ACCOUNTS = (1, 2)
INSTRUMENT = 7
ENDS = (AckStatus.CANCELLED, AckStatus.EXPIRED)
REFUSALS = (AckStatus.REJECTED, AckStatus.DECIDED)
STATUSES = [*ENDS, *REFUSALS, AckStatus.REPLACED, AckStatus.NEW, AckStatus.PARTIAL]


@dataclass
class Order:
    account: int
    side: Side
    qty: int
    leaves: int


@dataclass
class Cancel:
    target: int
    account: int
    side: Side


@dataclass
class Replace:
    target: int
    account: int
    side: Side
    qty: int
    extra: int


class TableMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        limits = RiskLimits(
            max_order_qty=50,
            max_notional=10**9,
            price_collar_bps=10_000,
            max_open_orders=10**6,
            max_position=10**9,
            max_orders_per_second=10**9,
            throttle_burst=10**6,
            duplicate_window_ns=0,
        )
        config = RiskConfig(
            accounts=2, instruments=1, max_account_id=3, max_instrument_id=8, open_orders=64,
            limits=limits,
        )  # fmt: skip
        self.risk = PreTradeRisk(config, clock=lambda: T0)
        self.orders: dict[int, Order] = {}
        self.cancels: dict[int, Cancel] = {}
        self.replaces: dict[int, Replace] = {}
        self.sent = [UNKNOWN]
        self.counter = itertools.count()

    def fresh_id(self) -> int:
        """The next client id: home entries 1, 2, 3 of the 64-entry table in turn."""
        n = next(self.counter)
        self.sent.append(1 + n % 3 + 64 * (1 + n // 3))
        return self.sent[-1]

    def linked(self, target: int, account: int, side: Side) -> Order | None:
        o = self.orders.get(target)
        return o if o is not None and (o.account, o.side) == (account, side) else None

    def check(self, rec: object) -> None:
        assert self.risk.check(rec, reference_price=REF) is RejectReason.NONE

    @rule(
        account=st.sampled_from(ACCOUNTS),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        qty=st.integers(1, 50),
    )
    def new(self, account: int, side: Side, qty: int) -> None:
        client_id = self.fresh_id()
        self.check(order(client_id, side, qty, account=account))
        self.orders[client_id] = Order(account, side, qty, qty)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.orders)))
        o = self.orders[target]
        client_id = self.fresh_id()
        self.check(cancel(client_id, orig=target, account=o.account))
        self.cancels[client_id] = Cancel(target, o.account, o.side)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), qty=st.integers(1, 50))
    def replace(self, data: st.DataObject, qty: int) -> None:
        target = data.draw(st.sampled_from(sorted(self.orders)))
        client_id = self.fresh_id()
        o = self.orders[target]
        self.check(order(client_id, o.side, qty, action=REPLACE, orig=target, account=o.account))
        self.replaces[client_id] = Replace(target, o.account, o.side, qty, max(0, qty - o.qty))

    def promote(self, client_id: int) -> None:
        r = self.replaces.pop(client_id)
        original = self.linked(r.target, r.account, r.side)
        if original is None:
            self.orders[client_id] = Order(r.account, r.side, r.qty, r.qty)
            return
        del self.orders[r.target]
        leaves = max(0, r.qty - (original.qty - original.leaves))
        if leaves:
            self.orders[client_id] = Order(r.account, r.side, r.qty, leaves)

    def end_linked(self, request: Cancel | Replace) -> None:
        if self.linked(request.target, request.account, request.side) is not None:
            del self.orders[request.target]

    @rule(data=st.data(), status=st.sampled_from(STATUSES))
    def acknowledge(self, data: st.DataObject, status: AckStatus) -> None:
        client_id = data.draw(st.sampled_from(self.sent))
        known = self.risk.on_acks(ack(client_id, status, INSTRUMENT))
        if client_id in self.orders:
            if status in ENDS or status in REFUSALS:
                del self.orders[client_id]
        elif client_id in self.cancels:
            if status in ENDS or status in REFUSALS:
                request = self.cancels.pop(client_id)
                if status in ENDS:
                    self.end_linked(request)
        elif client_id in self.replaces:
            if status == AckStatus.REPLACED:
                self.promote(client_id)
            elif status in ENDS or status in REFUSALS:
                request = self.replaces.pop(client_id)
                if status in ENDS:
                    self.end_linked(request)
        else:
            assert not known
            return
        assert known

    @rule(data=st.data(), qty=st.integers(1, 30))
    def execute(self, data: st.DataObject, qty: int) -> None:
        client_id = data.draw(st.sampled_from(self.sent))
        moved = self.risk.on_fills(fill(client_id, qty, REF, Side.BUY, INSTRUMENT))
        if client_id in self.replaces:
            self.promote(client_id)
        target, o = client_id, self.orders.get(client_id)
        if client_id in self.cancels:
            request = self.cancels[client_id]
            target, o = request.target, self.linked(request.target, request.account, request.side)
        assert moved == (o is not None)
        if o is not None:
            o.leaves -= min(qty, o.leaves)
            if not o.leaves:
                del self.orders[target]

    @invariant()
    def table_matches(self) -> None:
        got = {
            (w.client_order_id, w.account, w.side, w.leaves_qty) for w in self.risk.working_orders()
        }
        assert got == {(i, o.account, o.side, o.leaves) for i, o in self.orders.items()}
        live = [*self.orders, *self.cancels, *self.replaces]
        assert self.risk.stats().counters["open_entries"] == len(live)
        # every entry can be found by its id (a NEW ack changes nothing)
        acks = np.array([ack(i, AckStatus.NEW) for i in live], ACK_DTYPE)
        assert self.risk.on_acks(acks) == len(live)
        for p in self.risk.positions():
            mine = [o for o in self.orders.values() if o.account == p.account]
            extra = [r for r in self.replaces.values() if r.account == p.account]
            for side, open_qty in ((Side.BUY, p.open_buy_qty), (Side.SELL, p.open_sell_qty)):
                expected = sum(o.leaves for o in mine if o.side == side)
                expected += sum(r.extra for r in extra if r.side == side)
                assert open_qty == expected
            assert p.open_orders == len(mine)


TableMatchesModel.TestCase.settings = settings(max_examples=80, stateful_step_count=40)
TestTableMatchesModel = TableMatchesModel.TestCase
