"""A plain-Python order book with the engine's exact semantics.

It is the reference the compiled engine is tested against, and the "plain Python"
baseline of ``lowlat bench book``.

Dictionaries instead of preallocated arrays, no capacity limits, one method per event
kind; :mod:`lowlat.book.kernels` documents the rules both follow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lowlat.book.kernels import FLAG_BOOK_START, FLAG_TOP_OF_BOOK
from lowlat.core.records import EventKind

__all__ = ["ReferenceBook", "ReferenceBooks"]

_BOOK_KINDS = frozenset(
    {
        EventKind.ADD,
        EventKind.EXECUTE,
        EventKind.CANCEL,
        EventKind.DELETE,
        EventKind.REPLACE,
        EventKind.TRADE,
        EventKind.QUOTE,
        EventKind.SNAPSHOT,
    }
)


@dataclass
class ReferenceBook:
    """One instrument: orders by id, and size and order count per price on each side."""

    levels: tuple[dict[int, int], dict[int, int]] = field(default_factory=lambda: ({}, {}))
    orders: dict[int, list[int]] = field(default_factory=dict)  # id → [side, price, qty]
    problems: Counter[str] = field(default_factory=Counter)

    def top(self, side: int, depth: int) -> list[tuple[int, int]]:
        """The best ``depth`` levels of ``side`` (0 bids, 1 asks) as ``(price, size)``."""
        prices = sorted(self.levels[side], reverse=side == 0)[:depth]
        return [(p, self.levels[side][p]) for p in prices]

    def add_level(self, side: int, price: int, qty: int) -> None:
        """Add ``qty`` to the level at ``price``, creating it if needed."""
        if qty <= 0 and price not in self.levels[side]:
            return
        self.levels[side][price] = self.levels[side].get(price, 0) + qty

    def reduce_level(self, side: int, price: int, qty: int) -> None:
        """Take ``qty`` off the level at ``price``; remove it at zero."""
        if price not in self.levels[side]:
            self.problems["missing_level"] += 1
            return
        left = self.levels[side][price] - qty
        if left < 0:
            self.problems["negative_size"] += 1
            left = 0
        if left == 0:
            del self.levels[side][price]
        else:
            self.levels[side][price] = left

    def set_level(self, side: int, price: int, qty: int) -> None:
        """Set the level at ``price`` to ``qty``; 0 removes it."""
        if qty == 0:
            self.levels[side].pop(price, None)
        else:
            self.levels[side][price] = qty

    def add_order(self, order_id: int, side: int, price: int, qty: int) -> None:
        """Add a resting order and its size to its level."""
        if order_id in self.orders:
            self.problems["duplicate_order"] += 1
            return
        self.orders[order_id] = [side, price, qty]
        self.add_level(side, price, qty)

    def reduce_order(self, kind: int, order_id: int, qty: int) -> None:
        """Execute, cancel or delete (``kind``) a known order."""
        side, price, remaining = self.orders[order_id]
        dq = remaining if kind == EventKind.DELETE else qty
        if dq > remaining:
            self.problems["negative_size"] += 1
            dq = remaining
        if dq == remaining:
            del self.orders[order_id]
        else:
            self.orders[order_id][2] = remaining - dq
        self.reduce_level(side, price, dq)

    def clear(self) -> None:
        """Empty the book (a snapshot starts)."""
        self.levels = ({}, {})
        self.orders.clear()
        self.problems["resets"] += 1

    def check(self) -> None:
        """Count a crossed or locked book."""
        if self.levels[0] and self.levels[1]:
            bid, ask = max(self.levels[0]), min(self.levels[1])
            if bid > ask:
                self.problems["crossed"] += 1
            elif bid == ask:
                self.problems["locked"] += 1


class ReferenceBooks:
    """Books for every instrument, fed one ``MARKET_EVENT_DTYPE`` record at a time."""

    def __init__(self) -> None:
        self.books: dict[int, ReferenceBook] = {}
        self.ignored = 0
        self.bad_events = 0
        self._pending: tuple[int, int] | None = None

    def book(self, instrument: int) -> ReferenceBook:
        """The book of ``instrument`` (empty if it never had an event)."""
        return self.books.setdefault(instrument, ReferenceBook())

    def apply_all(self, events: Iterable[np.void]) -> int:
        """Apply every record; return how many the books consumed."""
        return sum(self.apply(e) for e in events)

    def finish(self) -> None:
        """Run the integrity check of the last message."""
        if self._pending is not None:
            self.books[self._pending[0]].check()
            self._pending = None

    def apply(self, e: np.void) -> int:
        """Apply one record; return 1 if a book consumed it, else 0."""
        kind, flags = int(e["kind"]), int(e["flags"])
        if kind not in _BOOK_KINDS or (kind == EventKind.QUOTE and flags & FLAG_TOP_OF_BOOK):
            self.ignored += 1
            return 0
        instrument, seq = int(e["instrument"]), int(e["seq"])
        order_id, price, qty, aux = (int(e[f]) for f in ("order_id", "price", "qty", "aux"))
        if self._pending is not None and self._pending != (instrument, seq):
            self.finish()
        book = self.book(instrument)
        side = int(e["side"]) - 1  # Side.BUY → 0 (bids), Side.SELL → 1 (asks)
        sided = side in (0, 1)
        names_level = kind == EventKind.QUOTE or (
            kind not in (EventKind.TRADE, EventKind.SNAPSHOT) and order_id == 0
        )
        if qty < 0 or (not sided and names_level):
            self.bad_events += 1
            return 1
        if kind == EventKind.TRADE:
            return 1
        if kind == EventKind.SNAPSHOT:
            if flags & FLAG_BOOK_START:
                book.clear()
            if sided and qty > 0:
                if order_id:
                    book.add_order(order_id, side, price, qty)
                else:
                    book.add_level(side, price, qty)
        elif kind == EventKind.QUOTE:
            book.set_level(side, price, qty)
        elif order_id == 0:
            if kind in (EventKind.ADD, EventKind.REPLACE):
                book.set_level(side, price, qty)
            elif kind == EventKind.DELETE:
                book.set_level(side, price, 0)
            else:
                book.reduce_level(side, price, qty)
        elif kind == EventKind.ADD:
            if not sided:
                self.bad_events += 1
                return 1
            book.add_order(order_id, side, price, qty)
        elif kind == EventKind.REPLACE:
            if order_id in book.orders:
                side = book.orders[order_id][0]
                sided = True
                book.reduce_order(EventKind.DELETE, order_id, 0)
            else:
                book.problems["unknown_order"] += 1
            if sided and qty > 0:
                book.add_order(aux or order_id, side, price, qty)
        elif order_id in book.orders:
            book.reduce_order(kind, order_id, qty)
        else:
            book.problems["unknown_order"] += 1
            if sided and qty > 0:
                book.reduce_level(side, price, qty)
        self._pending = (instrument, seq)
        return 1

    def snapshot(self, instrument: int, depth: int) -> list[tuple[int, int, int, int]]:
        """Levels 1..``depth`` as ``(ask price, ask size, bid price, bid size)``.

        A side without such a level gives ``(0, 0)``, as :meth:`OrderBooks.snapshot`.
        """
        book = self.book(instrument)
        asks = book.top(1, depth) + [(0, 0)] * depth
        bids = book.top(0, depth) + [(0, 0)] * depth
        return [(*asks[k], *bids[k]) for k in range(depth)]
