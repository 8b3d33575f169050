"""``OrderBooks``: the control-plane handle on the book engine's preallocated state.

Control code. It allocates the arrays once, feeds batches of records to the compiled
kernels and reads books, integrity counters, memory use and own-order queue positions
back out. The hot path calls :mod:`lowlat.book.kernels` on :attr:`OrderBooks.state`
directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowlat.book import kernels
from lowlat.book.config import BookConfig
from lowlat.book.layout import (
    ASK,
    B_INSTRUMENT,
    BID,
    BOOK_FIELDS,
    COUNTER_FIELDS,
    G_BOOKS,
    G_DISPLACED,
    G_TOP_LEVELS,
    O_AHEAD,
    O_PRICE,
    O_SIDE,
    O_SLOT,
    BookState,
    allocate,
)
from lowlat.core.records import MARKET_EVENT_DTYPE, Side

__all__ = ["INTEGRITY_FIELDS", "OrderBooks", "OwnOrder", "QueuePosition", "TopOfBook"]

#: Per-book counters of problems in the input, reported by :meth:`OrderBooks.integrity`.
INTEGRITY_FIELDS = (
    "unknown_order",
    "duplicate_order",
    "negative_size",
    "crossed",
    "locked",
    "level_overflow",
    "missing_level",
)


@dataclass(frozen=True)
class TopOfBook:
    """Best bid and offer of one instrument; a size of 0 means that side is empty."""

    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int


@dataclass(frozen=True)
class OwnOrder:
    """Handle of an own order whose queue position the engine tracks."""

    index: int
    client_id: int
    instrument: int
    side: Side
    price: int
    qty: int


@dataclass(frozen=True)
class QueuePosition:
    """Where an own order stands: size queued ahead of it and the level's total size."""

    ahead: int
    level_size: int


def _side_index(side: Side | int) -> int:
    if side == Side.BUY:
        return BID
    if side == Side.SELL:
        return ASK
    raise ValueError(f"side must be Side.BUY or Side.SELL, got {side!r}")


class OrderBooks:
    """Order-level and price-level books of every instrument, in preallocated memory.

    Parameters
    ----------
    config
        Sizes (books, levels per side, order-table capacity, own orders); the defaults
        of :class:`BookConfig` when None.
    """

    def __init__(self, config: BookConfig | None = None) -> None:
        self.config = config or BookConfig()
        self.state: BookState = allocate(self.config)
        self._own_free = list(range(self.config.own_orders - 1, -1, -1))

    # ------------------------------------------------------------ feeding

    def apply(self, events: np.ndarray) -> int:
        """Apply a ``MARKET_EVENT_DTYPE`` array in order; return how many records were consumed.

        Records of kinds without book data (status, reference, …) are counted as ignored.
        """
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        return int(kernels.apply_batch(self.state, events, len(events)))

    def track_top_levels(self, levels: int) -> None:
        """Keep size and size × price summed over the best ``levels`` levels of each side.

        The sums are then maintained by every level update, so depth signals read them in
        O(1) (:meth:`top_sums`); 0 stops keeping them. May be called at any time: every
        book is summed afresh.
        """
        if levels < 0:
            raise ValueError(f"top levels must be 0 or more, got {levels}")
        kernels.track_top_levels(self.state, levels)

    @property
    def top_levels(self) -> int:
        """Levels per side the top-N sums cover (0: none kept)."""
        return int(self.state.counters[G_TOP_LEVELS])

    def after_restore(self) -> None:
        """Recount the displaced order-table entries after the arrays were loaded.

        Snapshots written before the count existed hold 0 there; with too low a count a
        removal would skip a shift that a displaced entry needs.
        """
        self.state.counters[G_DISPLACED] = kernels.count_displaced(self.state)

    def finish(self) -> None:
        """End of stream: run the crossed/locked check of the last message."""
        kernels.check_pending(self.state)

    # ------------------------------------------------------------ reading

    def slot(self, instrument: int) -> int | None:
        """Book slot of ``instrument``, or None if it has no book yet."""
        slot = int(kernels.slot_of(self.state, instrument))
        return None if slot < 0 else slot

    @property
    def instruments(self) -> list[int]:
        """Instrument ids that have a book, in the order their books were created."""
        used = int(self.state.counters[G_BOOKS])
        return [int(i) for i in self.state.book[:used, B_INSTRUMENT]]

    def levels(self, instrument: int, side: Side, depth: int) -> list[tuple[int, int]]:
        """The best ``depth`` levels of one side, best first, as ``(price, size)``."""
        s = _side_index(side)
        slot = self.slot(instrument)
        if slot is None:
            return []
        n = int(self.state.depth[slot, s])
        keys = self.state.keys[slot, s, max(n - depth, 0) : n][::-1]
        sizes = self.state.level_qty[slot, s, max(n - depth, 0) : n][::-1]
        prices = keys if s == BID else -keys
        return [(int(p), int(q)) for p, q in zip(prices, sizes, strict=True)]

    def top(self, instrument: int) -> TopOfBook:
        """Best bid and offer of ``instrument`` (sizes 0 where a side is empty)."""
        bid = self.levels(instrument, Side.BUY, 1) or [(0, 0)]
        ask = self.levels(instrument, Side.SELL, 1) or [(0, 0)]
        return TopOfBook(*bid[0], *ask[0])

    def snapshot(self, instrument: int, depth: int) -> list[tuple[int, int, int, int]]:
        """LOBSTER-style levels 1..``depth``: ``(ask price, ask size, bid price, bid size)``.

        A side without such a level gives ``(0, 0)``.
        """
        asks = self.levels(instrument, Side.SELL, depth) + [(0, 0)] * depth
        bids = self.levels(instrument, Side.BUY, depth) + [(0, 0)] * depth
        return [(*asks[k], *bids[k]) for k in range(depth)]

    def top_sums(self, instrument: int, side: Side) -> tuple[int, int]:
        """``(Σ size, Σ size × price)`` over the best :attr:`top_levels` levels of a side.

        Raises
        ------
        ValueError
            If no top-N sums are kept (see :meth:`track_top_levels`).
        """
        if self.top_levels == 0:
            raise ValueError("no top-N sums are kept; call track_top_levels first")
        slot = self.slot(instrument)
        if slot is None:
            return 0, 0
        qty, notional = kernels.top_sums(self.state, slot, _side_index(side))
        return int(qty), int(notional)

    def book_counters(self, instrument: int) -> dict[str, int]:
        """Every per-book word of ``instrument`` by name (see ``layout.BOOK_FIELDS``)."""
        slot = self.slot(instrument)
        if slot is None:
            raise KeyError(f"instrument {instrument} has no book")
        return {name: int(v) for name, v in zip(BOOK_FIELDS, self.state.book[slot], strict=False)}

    def integrity(self) -> dict[str, int]:
        """Integrity problems summed over every book (unknown orders, crossed books, …)."""
        used = int(self.state.counters[G_BOOKS])
        totals = self.state.book[:used].sum(axis=0)
        return {name: int(totals[BOOK_FIELDS.index(name)]) for name in INTEGRITY_FIELDS}

    def counters(self) -> dict[str, int]:
        """Engine-wide counters by name: events, applied, ignored, live orders and more."""
        values = self.state.counters
        return {name: int(values[i]) for i, name in enumerate(COUNTER_FIELDS)}

    def memory(self) -> dict[str, int]:
        """Bytes allocated per array; everything the engine will ever use."""
        return {name: int(array.nbytes) for name, array in self.state._asdict().items()}

    @property
    def memory_bytes(self) -> int:
        """Total bytes allocated."""
        return sum(self.memory().values())

    # ------------------------------------------------------------ own orders

    def add_own_order(
        self, client_id: int, instrument: int, side: Side, price: int, qty: int
    ) -> OwnOrder:
        """Track an own order resting at ``price``: it queues behind the level's size now.

        Raises
        ------
        RuntimeError
            If every own-order row is in use or the instrument cannot get a book.
        """
        s = _side_index(side)
        if not self._own_free:
            raise RuntimeError(f"all {self.config.own_orders} own-order rows are in use")
        index = self._own_free.pop()
        if kernels.own_add(self.state, index, client_id, instrument, s, price, qty) < 0:
            self._own_free.append(index)
            raise RuntimeError(f"instrument {instrument} cannot get a book slot")
        return OwnOrder(index, client_id, instrument, Side(side), price, qty)

    def queue_position(self, order: OwnOrder) -> QueuePosition:
        """Size ahead of ``order`` at its price and the level's current size."""
        row = self.state.own[order.index]
        size = kernels.level_size(self.state, int(row[O_SLOT]), int(row[O_SIDE]), int(row[O_PRICE]))
        return QueuePosition(int(row[O_AHEAD]), int(size))

    def remove_own_order(self, order: OwnOrder) -> None:
        """Stop tracking ``order`` (filled or cancelled)."""
        kernels.own_remove(self.state, order.index)
        if order.index not in self._own_free:
            self._own_free.append(order.index)
