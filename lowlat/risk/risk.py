"""``PreTradeRisk``: the control-plane handle on the risk engine's preallocated state.

Control code. It allocates the arrays once, runs single records through the compiled
kernels (the hot path calls :mod:`lowlat.risk.kernels` on :attr:`PreTradeRisk.state`
directly) and reads positions, PnL, counters and working orders back out. The only words
it writes while the hot path runs are the kill-switch flag and the high-water-mark reset
epoch, each with one release store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from lowlat.core.atomics import fence_acquire, fence_seq_cst, load_acquire, store_release
from lowlat.core.clock import monotonic_ns
from lowlat.core.lifecycle import Lifecycle
from lowlat.core.records import ACK_DTYPE, FILL_DTYPE, ORDER_DTYPE, Side
from lowlat.risk import kernels
from lowlat.risk.config import RiskConfig, RiskLimits
from lowlat.risk.layout import (
    A_DRAWDOWN,
    A_HIGH_WATER,
    A_ID,
    A_REALIZED,
    A_UNREALIZED,
    A_WORST_DRAWDOWN,
    C_HWM_EPOCH,
    C_KILL_ACCOUNT,
    C_KILL_CAUSE,
    C_KILL_SWITCH,
    CAUSE_DRAWDOWN,
    CAUSE_OPERATOR,
    COUNTER_FIELDS,
    E_ID,
    E_KIND,
    E_OPEN,
    E_PAIR,
    E_PRICE,
    E_SIDE,
    ENTRY_WORDS,
    G_ACCOUNTS,
    G_CHECKS,
    G_INSTRUMENTS,
    G_PASSES,
    G_TABLE_VERSION,
    I_ID,
    I_MARK,
    KIND_ORDER,
    P_ACCOUNT,
    P_BASIS,
    P_BOUGHT,
    P_FILLS,
    P_INSTRUMENT,
    P_OPEN_BUY,
    P_OPEN_ORDERS,
    P_OPEN_SELL,
    P_POSITION,
    P_REALIZED,
    P_SOLD,
    P_UNREALIZED,
    RiskState,
    allocate,
)
from lowlat.risk.reasons import RejectReason

__all__ = [
    "AccountPnl",
    "KillCause",
    "KillFlag",
    "Position",
    "PreTradeRisk",
    "RiskStats",
    "WorkingOrder",
]

_SNAPSHOT_TRIES = 10_000


class KillCause(IntEnum):
    """Who set the kill-switch flag."""

    NONE = 0
    OPERATOR = CAUSE_OPERATOR  # the control plane (an operator, automation)
    DRAWDOWN = CAUSE_DRAWDOWN  # the hot path: an account's drawdown passed its limit


@dataclass(frozen=True)
class KillFlag:
    """The kill-switch flag as the kernels read it, and why it was set."""

    engaged: bool
    cause: KillCause
    account: int | None  # the account whose drawdown engaged it


@dataclass(frozen=True)
class Position:
    """One account's position in one instrument; money in ticks × quantity.

    ``cost_basis`` is the signed cost of the open position (Σ signed qty × price),
    ``unrealized`` is ``qty × mark − cost_basis`` at the last fill or mark.
    """

    account: int
    instrument: int
    qty: int
    cost_basis: int
    realized: int
    unrealized: int
    mark: int
    open_orders: int
    open_buy_qty: int
    open_sell_qty: int
    bought: int
    sold: int
    fills: int

    @property
    def average_price(self) -> float | None:
        """Average cost per unit in ticks, None when flat."""
        return self.cost_basis / self.qty if self.qty else None


@dataclass(frozen=True)
class AccountPnl:
    """An account's PnL over every instrument, in ticks × quantity."""

    account: int
    realized: int
    unrealized: int
    high_water: int
    drawdown: int
    worst_drawdown: int

    @property
    def total(self) -> int:
        """Equity: realized plus unrealized."""
        return self.realized + self.unrealized


@dataclass(frozen=True)
class WorkingOrder:
    """An order the risk state holds as working: what the kill switch cancels."""

    client_order_id: int
    account: int
    instrument: int
    side: Side
    price: int
    leaves_qty: int


@dataclass(frozen=True)
class RiskStats:
    """Check outcomes and every counter of the engine."""

    checks: int
    passes: int
    rejects: dict[RejectReason, int]  # reasons that occurred, by code
    counters: dict[str, int]  # every counter by name (see ``layout.COUNTER_FIELDS``)

    @property
    def rejected(self) -> int:
        """Orders refused, any reason."""
        return sum(self.rejects.values())


def _one(records: np.ndarray | np.void, dtype: np.dtype) -> np.ndarray:
    """``records`` as a 1-d array of ``dtype`` (a single record becomes a one-element array)."""
    if isinstance(records, np.void):
        records = np.array([records])
    if records.dtype != dtype:
        raise TypeError(f"expected {dtype} records, got dtype {records.dtype}")
    return records.reshape(-1)


class PreTradeRisk:
    """Pre-trade checks, positions and PnL of every account, in preallocated memory.

    Parameters
    ----------
    config
        Sizes and limits; the defaults of :class:`RiskConfig` when None.
    lifecycle
        The lifecycle whose HALTED and STOPPED states refuse risk-increasing orders (its
        read-only cell is shared with the kernels); without one the kernels see READY.
    clock
        Monotonic nanoseconds for :meth:`check` calls that pass no ``now_ns``.
    """

    def __init__(
        self,
        config: RiskConfig | None = None,
        *,
        lifecycle: Lifecycle | None = None,
        clock: Callable[[], int] = monotonic_ns,
    ) -> None:
        self.config = config or RiskConfig()
        self.state: RiskState = allocate(
            self.config, None if lifecycle is None else lifecycle.reader
        )
        self._clock = clock

    # ------------------------------------------------------------ feeding

    def check(
        self,
        order: np.ndarray | np.void,
        *,
        reference_price: int | None = None,
        now_ns: int | None = None,
    ) -> RejectReason:
        """Check one ``ORDER_DTYPE`` record; a passing order is reserved (see ``kernels``).

        Parameters
        ----------
        order
            The record (or a one-element array).
        reference_price
            Ticks to collar and value the order against; None takes the instrument's
            current mark (none yet: the order is refused with ``NO_REFERENCE_PRICE``).
        now_ns
            Monotonic time of the check (throttle, duplicate window); now when None.
        """
        orders = _one(order, ORDER_DTYPE)
        if orders.shape[0] != 1:
            raise ValueError(f"check takes one order, got {orders.shape[0]}")
        if reference_price is None:
            reference_price = self.mark_of(int(orders[0]["instrument"]))
        now = self._clock() if now_ns is None else now_ns
        return RejectReason(int(kernels.check_order(self.state, orders, 0, now, reference_price)))

    def on_acks(self, acks: np.ndarray | np.void) -> int:
        """Apply ``ACK_DTYPE`` records in order; return how many matched a known entry."""
        records = _one(acks, ACK_DTYPE)
        return sum(bool(kernels.on_ack(self.state, records, i)) for i in range(records.shape[0]))

    def on_fills(self, fills: np.ndarray | np.void) -> int:
        """Apply ``FILL_DTYPE`` records in order; return how many moved a position."""
        records = _one(fills, FILL_DTYPE)
        return sum(bool(kernels.on_fill(self.state, records, i)) for i in range(records.shape[0]))

    def mark(self, instrument: int, price: int) -> int:
        """Mark ``instrument`` at ``price`` ticks; return how many positions were revalued."""
        return int(kernels.mark(self.state, instrument, price))

    # ------------------------------------------------------------ reading

    def mark_of(self, instrument: int) -> int:
        """Current mark of ``instrument`` in ticks, 0 if it has none."""
        if not 0 <= instrument < self.state.instrument_slot_of.shape[0]:
            return 0
        slot = int(self.state.instrument_slot_of[instrument])
        return 0 if slot < 0 else int(self.state.instruments[slot, I_MARK])

    def limits(self, account: int, instrument: int) -> RiskLimits:
        """The limits an order of ``account`` in ``instrument`` is held to."""
        return self.config.effective(account, instrument)

    def stats(self) -> RiskStats:
        """Checks, passes, rejects by reason and every counter."""
        counters = self.state.counters
        rejects = {
            reason: int(self.state.rejects[reason])
            for reason in RejectReason
            if reason and self.state.rejects[reason]
        }
        return RiskStats(
            checks=int(counters[G_CHECKS]),
            passes=int(counters[G_PASSES]),
            rejects=rejects,
            counters={name: int(counters[i]) for i, name in enumerate(COUNTER_FIELDS)},
        )

    def _used(self) -> tuple[int, int]:
        return int(self.state.counters[G_ACCOUNTS]), int(self.state.counters[G_INSTRUMENTS])

    def positions(self) -> list[Position]:
        """Every (account, instrument) that traded or has working orders, by account then slot."""
        accounts, instruments = self._used()
        slots = self.config.instruments
        out = []
        for a in range(accounts):
            for s in range(instruments):
                row = self.state.pairs[a * slots + s]
                if not (row[P_FILLS] or row[P_OPEN_ORDERS] or row[P_POSITION]):
                    continue
                out.append(
                    Position(
                        account=int(self.state.accounts[a, A_ID]),
                        instrument=int(self.state.instruments[s, I_ID]),
                        qty=int(row[P_POSITION]),
                        cost_basis=int(row[P_BASIS]),
                        realized=int(row[P_REALIZED]),
                        unrealized=int(row[P_UNREALIZED]),
                        mark=int(self.state.instruments[s, I_MARK]),
                        open_orders=int(row[P_OPEN_ORDERS]),
                        open_buy_qty=int(row[P_OPEN_BUY]),
                        open_sell_qty=int(row[P_OPEN_SELL]),
                        bought=int(row[P_BOUGHT]),
                        sold=int(row[P_SOLD]),
                        fills=int(row[P_FILLS]),
                    )
                )
        return out

    def position(self, account: int, instrument: int) -> Position | None:
        """The position of ``account`` in ``instrument``, None if it never traded or quoted it."""
        for p in self.positions():
            if p.account == account and p.instrument == instrument:
                return p
        return None

    def pnl(self) -> dict[int, AccountPnl]:
        """PnL, high-water mark and drawdown of every account risk has seen, by account id."""
        accounts, _ = self._used()
        out = {}
        for a in range(accounts):
            row = self.state.accounts[a]
            ident = int(row[A_ID])
            out[ident] = AccountPnl(
                account=ident,
                realized=int(row[A_REALIZED]),
                unrealized=int(row[A_UNREALIZED]),
                high_water=int(row[A_HIGH_WATER]),
                drawdown=int(row[A_DRAWDOWN]),
                worst_drawdown=int(row[A_WORST_DRAWDOWN]),
            )
        return out

    def working_orders(self) -> list[WorkingOrder]:
        """Every working order (sent or reserved, not ended), from a consistent snapshot.

        Safe while the hot path runs: the snapshot is retaken until no removal from the
        table overlapped it.

        Raises
        ------
        RuntimeError
            If removals overlapped every one of many snapshots.
        """
        counters = self.state.counters
        for _ in range(_SNAPSHOT_TRIES):
            version = load_acquire(counters, G_TABLE_VERSION)
            if version & 1:
                os.sched_yield()
                continue
            table = self.state.open.copy()
            fence_acquire()
            if load_acquire(counters, G_TABLE_VERSION) == version:
                break
        else:
            raise RuntimeError("the open-order table changed during every snapshot")
        rows = table.reshape(-1, ENTRY_WORDS)
        rows = rows[(rows[:, E_ID] != 0) & (rows[:, E_KIND] == KIND_ORDER)]
        pairs = self.state.pairs
        out = [
            WorkingOrder(
                client_order_id=int(row[E_ID]),
                account=int(self.state.accounts[pairs[row[E_PAIR], P_ACCOUNT], A_ID]),
                instrument=int(self.state.instruments[pairs[row[E_PAIR], P_INSTRUMENT], I_ID]),
                side=Side(int(row[E_SIDE])),
                price=int(row[E_PRICE]),
                leaves_qty=int(row[E_OPEN]),
            )
            for row in rows
        ]
        return sorted(out, key=lambda order: order.client_order_id)

    # ------------------------------------------------------------ kill-switch flag

    def kill_flag(self) -> KillFlag:
        """The kill-switch flag the kernels read, and its cause."""
        control = self.state.control
        engaged = load_acquire(control, C_KILL_SWITCH) != 0
        cause = KillCause(int(control[C_KILL_CAUSE])) if engaged else KillCause.NONE
        account = int(control[C_KILL_ACCOUNT]) if cause is KillCause.DRAWDOWN else None
        return KillFlag(engaged, cause, account)

    def set_kill_flag(self) -> None:
        """Engage the flag (one release store), then fence before the caller lists orders.

        A flag the hot path set (drawdown) keeps its cause.
        """
        control = self.state.control
        if load_acquire(control, C_KILL_SWITCH) == 0:
            control[C_KILL_CAUSE] = CAUSE_OPERATOR
            control[C_KILL_ACCOUNT] = 0
            store_release(control, C_KILL_SWITCH, 1)
        fence_seq_cst()

    def clear_kill_flag(self) -> None:
        """Clear the flag; every account's high-water mark restarts at its next revaluation.

        The approver accepted the losses so far: the drawdown limit applies afresh from the
        equity at the account's next fill or mark, rather than engaging the switch again
        there. (The hot path owns the marks, so it resets them, on an epoch this bumps.)
        """
        control = self.state.control
        store_release(control, C_HWM_EPOCH, int(control[C_HWM_EPOCH]) + 1)
        control[C_KILL_CAUSE] = 0
        control[C_KILL_ACCOUNT] = 0
        store_release(control, C_KILL_SWITCH, 0)
