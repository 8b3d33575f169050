"""Positions, PnL, high-water marks and the drawdown flag against a plain-Python model.

The model keeps exact average cost (``Fraction``) and cash flows; the engine keeps integer
ticks and floors the cost removed by a partial close. So quantities, equity (realized +
unrealized = cash + qty × mark), high-water marks and drawdowns must agree exactly, and
realized PnL exactly whenever a position is flat; in between the engine's cost basis may
exceed the exact one by less than one tick per reduction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lowlat.core.records import AckStatus, Side
from lowlat.risk import PreTradeRisk, RejectReason, RiskConfig, RiskLimits
from tests.risk import T0, ack, fill, order

ACCOUNTS = (0, 1, 2)
INSTRUMENTS = (0, 1, 2)
MAX_DRAWDOWN = 300  # currency: 3,000,000 ticks × qty, reached now and then
PRICES = st.integers(95_000, 105_000)


@dataclass
class Holding:
    """One account's position in one instrument, exactly."""

    qty: int = 0
    basis: Fraction = Fraction(0)
    realized: Fraction = Fraction(0)
    cash: int = 0
    reductions: int = 0  # reducing fills since the position last opened from flat


class Model:
    """Average-cost positions in exact arithmetic."""

    def __init__(self) -> None:
        self.holdings: dict[tuple[int, int], Holding] = {}
        self.marks: dict[int, int] = {}
        self.high_water = dict.fromkeys(ACCOUNTS, 0)
        self.worst = dict.fromkeys(ACCOUNTS, 0)

    def fill(self, account: int, instrument: int, qty: int, price: int) -> None:
        h = self.holdings.setdefault((account, instrument), Holding())
        self.marks.setdefault(instrument, price)
        h.cash -= qty * price
        if h.qty == 0 or (h.qty > 0) == (qty > 0):
            if h.qty == 0:
                h.reductions = 0
            h.qty += qty
            h.basis += qty * price
            return
        sign = 1 if h.qty > 0 else -1
        closed = min(abs(qty), abs(h.qty))
        average = h.basis / h.qty
        h.realized += sign * closed * (price - average)
        h.basis -= sign * closed * average
        h.qty -= sign * closed
        h.reductions += 1
        rest = abs(qty) - closed
        if rest:
            h.qty = -sign * rest
            h.basis = Fraction(h.qty * price)
            h.reductions = 0

    def equity(self, account: int) -> int:
        return sum(
            h.cash + h.qty * self.marks[i] for (a, i), h in self.holdings.items() if a == account
        )

    def revalue(self) -> None:
        for account in ACCOUNTS:
            equity = self.equity(account)
            self.high_water[account] = max(self.high_water[account], equity)
            self.worst[account] = max(self.worst[account], self.high_water[account] - equity)


class EngineMatchesModel(RuleBasedStateMachine):
    """Orders filled in pieces, marks, and the engine's books against the model's."""

    def __init__(self) -> None:
        super().__init__()
        limits = RiskLimits(
            max_order_qty=500,
            max_notional=10**9,
            price_collar_bps=10_000,
            max_open_orders=10**6,
            max_position=10**9,
            max_orders_per_second=10**9,
            throttle_burst=10**6,
            duplicate_window_ns=0,
            max_drawdown=MAX_DRAWDOWN,
        )
        config = RiskConfig(
            accounts=3, instruments=3, max_account_id=3, max_instrument_id=3, limits=limits
        )
        self.risk = PreTradeRisk(config, clock=lambda: T0)
        self.model = Model()
        self.ids = itertools.count(1)

    @precondition(lambda self: not self.risk.kill_flag().engaged)  # then orders are refused
    @rule(
        account=st.sampled_from(ACCOUNTS),
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        qty=st.integers(1, 500),
        pieces=st.lists(st.tuples(st.integers(1, 500), PRICES), min_size=1, max_size=3),
        price=PRICES,
    )
    def trade(
        self,
        account: int,
        instrument: int,
        side: Side,
        qty: int,
        pieces: list[tuple[int, int]],
        price: int,
    ) -> None:
        client_id = next(self.ids)
        rec = order(client_id, side, qty, price, account=account, instrument=instrument)
        assert self.risk.check(rec, reference_price=price) is RejectReason.NONE
        leaves = qty
        for size, at in pieces:
            size = min(size, leaves)
            if not size:
                break
            self.risk.on_fills(fill(client_id, size, at, side, instrument))
            self.model.fill(account, instrument, size if side == Side.BUY else -size, at)
            self.model.revalue()
            leaves -= size
        if leaves:
            self.risk.on_acks(ack(client_id, AckStatus.CANCELLED, instrument))

    @rule(instrument=st.sampled_from(INSTRUMENTS), price=PRICES)
    def mark(self, instrument: int, price: int) -> None:
        self.risk.mark(instrument, price)
        if instrument in self.model.marks:
            self.model.marks[instrument] = price
            self.model.revalue()

    @invariant()
    def positions_match(self) -> None:
        positions = {(p.account, p.instrument): p for p in self.risk.positions()}
        traded = {key: h for key, h in self.model.holdings.items()}
        assert set(positions) == set(traded)
        for key, h in traded.items():
            p = positions[key]
            assert p.qty == h.qty
            assert p.open_orders == 0 and p.open_buy_qty == 0 and p.open_sell_qty == 0
            assert p.mark == self.model.marks[key[1]]
            assert p.realized + p.unrealized == h.cash + h.qty * p.mark
            excess = (p.cost_basis - h.basis) * (1 if h.qty >= 0 else -1)
            if h.qty == 0:
                assert p.cost_basis == 0 and p.realized == h.realized
            else:
                assert 0 <= excess < max(h.reductions, 1)

    @invariant()
    def accounts_match(self) -> None:
        pnl = self.risk.pnl()
        for account in ACCOUNTS:
            if account not in pnl:
                assert all(a != account for a, _ in self.model.holdings)
                continue
            got = pnl[account]
            assert got.total == self.model.equity(account)
            assert got.high_water == self.model.high_water[account]
            assert got.drawdown == self.model.high_water[account] - got.total
            assert got.worst_drawdown == self.model.worst[account]
        breached = any(w > MAX_DRAWDOWN * 10_000 for w in self.model.worst.values())
        assert self.risk.kill_flag().engaged == breached


EngineMatchesModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
TestEngineMatchesModel = EngineMatchesModel.TestCase
