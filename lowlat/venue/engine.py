"""``MatchingEngine``: the control-plane handle on the compiled matching engine.

Control code. It allocates the engine's memory once, feeds batches of ``ORDER_DTYPE``
requests to :func:`lowlat.venue.kernels.process`, collects the execution reports, and
reads books, working orders and counters back out. The hot path (the gateways) calls the
kernels on :attr:`MatchingEngine.state` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowlat.core.records import ORDER_DTYPE, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue import kernels
from lowlat.venue.config import VenueConfig
from lowlat.venue.layout import (
    ASK,
    BID,
    COUNTER_FIELDS,
    OR_CUM,
    OR_LEAVES,
    OR_META,
    OR_PRICE,
    T_ID,
    T_ROW,
    VenueState,
    allocate,
    report_capacity,
)
from lowlat.venue.records import ACTION_REDUCE, EXEC_REPORT_DTYPE

__all__ = ["BookView", "MatchingEngine", "WorkingOrder", "order_record"]


@dataclass(frozen=True)
class BookView:
    """One instrument's levels as ``(price, size)``, best first on each side."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


@dataclass(frozen=True)
class WorkingOrder:
    """A resting order as the venue holds it."""

    order_id: int
    instrument: int
    account: int
    side: Side
    price: int
    leaves_qty: int
    cum_qty: int


def order_record(
    action: OrderAction | int,
    client_order_id: int = 0,
    *,
    orig_client_order_id: int = 0,
    side: Side | int = Side.NONE,
    order_type: OrderType | int = OrderType.LIMIT,
    tif: TimeInForce | int = TimeInForce.GTC,
    price: int = 0,
    qty: int = 0,
    account: int = 0,
    instrument: int = 1,
    decision_ns: int = 0,
    trigger_seq: int = 0,
) -> np.void:
    """One ``ORDER_DTYPE`` request (``action`` may be :data:`ACTION_REDUCE`)."""
    rec = np.zeros((), ORDER_DTYPE)
    rec["action"] = action
    rec["client_order_id"] = client_order_id
    rec["orig_client_order_id"] = orig_client_order_id
    rec["side"] = side
    rec["order_type"] = order_type
    rec["tif"] = tif
    rec["price"] = price
    rec["qty"] = qty
    rec["account"] = account
    rec["instrument"] = instrument
    rec["decision_ns"] = decision_ns
    rec["trigger_seq"] = trigger_seq
    return rec[()]


class MatchingEngine:
    """Price-time matching for every listed instrument, in memory allocated once.

    Parameters
    ----------
    config
        Instruments, sizes and self-trade prevention; :class:`VenueConfig` defaults
        when None.
    """

    def __init__(self, config: VenueConfig | None = None) -> None:
        self.config = config or VenueConfig()
        self.state: VenueState = allocate(self.config)
        self.reports = np.zeros(report_capacity(self.config), EXEC_REPORT_DTYPE)

    # ------------------------------------------------------------ requests

    def process(self, requests: np.ndarray) -> np.ndarray:
        """Apply an ``ORDER_DTYPE`` array in order; return every report (a new array)."""
        if requests.dtype != ORDER_DTYPE:
            raise TypeError(f"expected ORDER_DTYPE requests, got dtype {requests.dtype}")
        out = []
        start, stop = 0, len(requests)
        while start < stop:
            start, written = kernels.process(self.state, requests, start, stop, self.reports)
            out.append(self.reports[:written].copy())
        return np.concatenate(out) if out else np.zeros(0, EXEC_REPORT_DTYPE)

    def submit(self, request: np.void) -> np.ndarray:
        """Apply one request (see :func:`order_record`); return its reports."""
        return self.process(np.array([request], ORDER_DTYPE))

    def new(
        self,
        order_id: int,
        side: Side | int,
        qty: int,
        price: int = 0,
        *,
        order_type: OrderType | int = OrderType.LIMIT,
        tif: TimeInForce | int = TimeInForce.GTC,
        account: int = 0,
        instrument: int | None = None,
    ) -> np.ndarray:
        """Enter a new order; return its reports and those of the orders it traded with."""
        return self.submit(
            order_record(
                OrderAction.NEW, order_id, side=side, order_type=order_type, tif=tif,
                price=price, qty=qty, account=account, instrument=self._instrument(instrument),
            )
        )  # fmt: skip

    def cancel(self, order_id: int) -> np.ndarray:
        """Cancel a working order."""
        return self.submit(order_record(OrderAction.CANCEL, orig_client_order_id=order_id))

    def reduce(self, order_id: int, qty: int) -> np.ndarray:
        """Take ``qty`` off a working order, keeping its priority."""
        return self.submit(order_record(ACTION_REDUCE, orig_client_order_id=order_id, qty=qty))

    def replace(self, order_id: int, price: int, qty: int, new_order_id: int = 0) -> np.ndarray:
        """Change a working order's price and total quantity (filled quantity included)."""
        return self.submit(
            order_record(
                OrderAction.REPLACE, new_order_id, orig_client_order_id=order_id, price=price,
                qty=qty,
            )
        )  # fmt: skip

    # ------------------------------------------------------------ reading

    def _instrument(self, instrument: int | None) -> int:
        return self.config.instruments[0] if instrument is None else instrument

    def book(self, instrument: int | None = None, depth: int | None = None) -> BookView:
        """Levels of ``instrument`` (the first listed one by default), best first."""
        instrument = self._instrument(instrument)
        if instrument not in self.config.instruments:
            raise KeyError(f"instrument {instrument} is not listed at this venue")
        slot = int(self.state.slot_of[instrument])
        sides = []
        for side in (BID, ASK):
            n = int(self.state.depth[slot, side])
            low = 0 if depth is None else max(n - depth, 0)
            keys = self.state.keys[slot, side, low:n][::-1]
            sizes = self.state.level_qty[slot, side, low:n][::-1]
            prices = keys if side == BID else -keys
            sides.append([(int(p), int(q)) for p, q in zip(prices, sizes, strict=True)])
        return BookView(*sides)

    def order(self, order_id: int) -> WorkingOrder | None:
        """The working order ``order_id``, or None."""
        entries = np.flatnonzero(self.state.ids[:, T_ID] == order_id) if order_id > 0 else []
        if len(entries) == 0:
            return None
        row = int(self.state.ids[entries[0], T_ROW])
        words = self.state.orders[row]
        meta = int(words[OR_META])
        slot = (meta & 0xFFFFFFFF) >> 1
        return WorkingOrder(
            order_id=order_id,
            instrument=int(self.state.instrument_of[slot]),
            account=meta >> 32,
            side=Side(1 + (meta & 1)),
            price=int(words[OR_PRICE]),
            leaves_qty=int(words[OR_LEAVES]),
            cum_qty=int(words[OR_CUM]),
        )

    def counters(self) -> dict[str, int]:
        """Engine-wide counters by name (requests, trades, volume, live orders, …)."""
        return {name: int(self.state.counters[i]) for i, name in enumerate(COUNTER_FIELDS)}
