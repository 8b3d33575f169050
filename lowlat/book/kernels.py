"""Compiled book engine: market events in, L3 orders and L2 levels updated in place. Hot path.

One engine serves every feed, because every decoder writes the same ``MARKET_EVENT_DTYPE``
records. How each kind changes a book (``s`` is the side, ``id`` the record's
``order_id``; id 0 means the feed names no order, as price-level feeds do):

===========  =====================================================================
kind         effect
===========  =====================================================================
ADD          id ≠ 0: new order (id, side, price, qty) at the back of its level.
             id = 0: the level at ``price`` is set to ``qty`` (FIX "new" on a level).
EXECUTE,     id known: the order loses ``qty`` (CANCEL, EXECUTE) or everything
CANCEL,      (DELETE); it leaves the table at zero. id unknown — an order placed
DELETE       before the stream began — and the record carries side and size (LOBSTER,
             FIX): the level at ``price`` loses ``qty`` anyway; ``unknown_order`` counts
             it either way. id = 0: EXECUTE/CANCEL take ``qty`` off the level, DELETE
             removes the level.
REPLACE      id known: the order is removed and ``aux`` (or the same id when ``aux``
             is 0) is added at ``price``/``qty`` on its side, losing its priority
             (ITCH U, FIX change). id unknown: the new order is added if the record has
             a side. id = 0: the level is set to ``qty``.
TRADE        No depth change (hidden and non-displayed executions, crosses); last
             trade price, size and side are recorded.
QUOTE        The level at ``price`` is set to ``qty``; 0 removes it (depth diffs).
             Records flagged top-of-book (``flags & FLAG_TOP_OF_BOOK``, bookTicker)
             are not depth and are ignored.
SNAPSHOT     ``flags & FLAG_BOOK_START`` clears the book first; then ``qty`` is added
             to the level at ``price`` (and the order to the table when id ≠ 0), so
             snapshots listing single orders or whole levels both work.
===========  =====================================================================

Other kinds (STATUS, REFERENCE, IMBALANCE, BROKEN_TRADE, TICK) are counted as ignored.
EXECUTE records the last trade at the order's resting price and side.

Integrity problems never raise: a size that would go negative is clamped at zero and
counted (``negative_size``), unknown and duplicate order ids, reductions at a price with
no level (``missing_level``) and overflowing sides are counted per book. Crossed and
locked books are checked when a message is complete — the next event has another
sequence number or instrument — so a depth diff that moves both sides is judged on its
result, not on the half-applied state between its records.

Top-N sums: while ``counters[G_TOP_LEVELS]`` is N > 0, every level operation keeps the
size and the size × price summed over the best N levels of its side
(``book[slot, B_TOP_QTY + side]``, ``book[slot, B_TOP_NOTIONAL + side]``), so that depth
signals read them in O(1) instead of walking N levels per event. A change at a level
outside the best N costs one comparison; an insert or removal inside them moves one level
across the boundary. A full side dropping its farthest level sums the side again.

Queue position: every order is stamped with an arrival number. An own order registered
with :func:`own_add` starts behind the level's current size; a reduction of an order
that arrived before it (every execution, and cancels of older orders) moves it forward.
Reductions without order ids (price-level feeds) move it forward by the full size for
executions and by its share of the level for other decreases.
"""

from __future__ import annotations

import numpy as np

from lowlat.book.layout import (
    ASK,
    B_CROSSED,
    B_DUPLICATE_ORDER,
    B_INSTRUMENT,
    B_LAST_EXCHANGE_NS,
    B_LAST_RECV_NS,
    B_LAST_SEQ,
    B_LAST_TRADE_PRICE,
    B_LAST_TRADE_QTY,
    B_LAST_TRADE_SIDE,
    B_LEVEL_OVERFLOW,
    B_LOCKED,
    B_MISSING_LEVEL,
    B_NEGATIVE_SIZE,
    B_ORDERS,
    B_RESETS,
    B_TOP_NOTIONAL,
    B_TOP_QTY,
    B_TRADES,
    B_UNKNOWN_ORDER,
    B_UPDATES,
    BID,
    EMPTY_ID,
    G_APPLIED,
    G_BAD_EVENT,
    G_BAD_INSTRUMENT,
    G_BOOKS,
    G_DISPLACED,
    G_EVENTS,
    G_IGNORED,
    G_INSTRUMENT_OVERFLOW,
    G_LIVE_ORDERS,
    G_MAX_PROBE,
    G_ORDER_TABLE_FULL,
    G_OWN_ORDERS,
    G_PENDING_SEQ,
    G_PENDING_SLOT,
    G_PRIORITY,
    G_TOP_LEVELS,
    O_ACTIVE,
    O_AHEAD,
    O_CLIENT_ID,
    O_PRICE,
    O_PRIORITY,
    O_QTY,
    O_SIDE,
    O_SLOT,
    OR_ID,
    OR_META,
    OR_PRICE,
    OR_QTY,
    BookState,
)
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.level_kernels import lower_bound, price_key
from lowlat.core.records import EventKind

__all__ = [
    "FLAG_BOOK_START",
    "FLAG_TOP_OF_BOOK",
    "NO_SLOT",
    "apply_batch",
    "apply_event",
    "apply_one",
    "best",
    "check_pending",
    "count_displaced",
    "level",
    "level_size",
    "own_add",
    "own_remove",
    "replay_rows",
    "slot_of",
    "top_sums",
    "track_top_levels",
    "write_levels",
]

#: SNAPSHOT flag: clear the book before this record (FIX W, depth REST snapshots).
FLAG_BOOK_START = 1
#: QUOTE flag: a best bid/offer ticker, not a depth level (ignored by the book).
FLAG_TOP_OF_BOOK = 2
NO_SLOT = -1

_ADD = EventKind.ADD.value
_EXECUTE = EventKind.EXECUTE.value
_CANCEL = EventKind.CANCEL.value
_DELETE = EventKind.DELETE.value
_REPLACE = EventKind.REPLACE.value
_TRADE = EventKind.TRADE.value
_QUOTE = EventKind.QUOTE.value
_SNAPSHOT = EventKind.SNAPSHOT.value

# How a reduction at a level moves own orders queued there.
_BY_PRIORITY = 0  # an order of known arrival: only older ones are ahead
_EXECUTED = 1  # an execution without an order: the front of the queue traded
_SHARE = 2  # a level decrease without an order: ahead shrinks by its share
_SIDE_MASK = 1
_SLOT_SHIFT = 32


# ---------------------------------------------------------------- price levels


@hot_kernel_inline
def _find_level(state: BookState, slot: int, side: int, price: int) -> int:
    """Index of the level at ``price``, or -1."""
    keys = state.keys[slot, side]
    n = state.depth[slot, side]
    key = price_key(side, price)
    p = lower_bound(keys, n, key)
    if p < n and keys[p] == key:
        return p
    return -1


@hot_kernel_inline
def _top_add(state: BookState, slot: int, side: int, qty: int, key: int) -> None:
    """Add ``qty`` at price key ``key`` to the side's top-N sums."""
    state.book[slot, B_TOP_QTY + side] += qty
    state.book[slot, B_TOP_NOTIONAL + side] += qty * (key if side == BID else -key)


@hot_kernel_inline
def _top_resum(state: BookState, slot: int, side: int) -> None:
    """Sum the side's best ``G_TOP_LEVELS`` levels again (0: the sums are 0)."""
    top = state.counters[G_TOP_LEVELS]
    n = state.depth[slot, side]
    state.book[slot, B_TOP_QTY + side] = 0
    state.book[slot, B_TOP_NOTIONAL + side] = 0
    if top == 0:
        return
    keys = state.keys[slot, side]
    qty = state.level_qty[slot, side]
    for i in range(max(n - top, 0), n):
        _top_add(state, slot, side, qty[i], keys[i])


@hot_kernel_inline
def _level_resized(state: BookState, slot: int, side: int, p: int, dq: int) -> None:
    """Level ``p`` of a side changed by ``dq``: count it if it is one of the best N."""
    top = state.counters[G_TOP_LEVELS]
    if top > 0 and p >= state.depth[slot, side] - top:
        _top_add(state, slot, side, dq, state.keys[slot, side, p])


@hot_kernel_inline
def _remove_level(state: BookState, slot: int, side: int, p: int) -> None:
    keys = state.keys[slot, side]
    qty = state.level_qty[slot, side]
    count = state.level_orders[slot, side]
    n = state.depth[slot, side]
    top = state.counters[G_TOP_LEVELS]
    if top > 0 and p >= n - top:
        # Level p leaves the best N; the best level outside them (below p) moves in.
        _top_add(state, slot, side, -qty[p], keys[p])
        if n - 1 - top >= 0:
            _top_add(state, slot, side, qty[n - 1 - top], keys[n - 1 - top])
    for i in range(p, n - 1):
        keys[i] = keys[i + 1]
        qty[i] = qty[i + 1]
        count[i] = count[i + 1]
    state.depth[slot, side] = n - 1


@hot_kernel_inline
def _level_add(state: BookState, slot: int, side: int, price: int, dq: int, dorders: int) -> None:
    """Add ``dq`` and ``dorders`` to the level at ``price``, creating it if needed."""
    keys = state.keys[slot, side]
    qty = state.level_qty[slot, side]
    count = state.level_orders[slot, side]
    n = state.depth[slot, side]
    key = price_key(side, price)
    p = lower_bound(keys, n, key)
    if p < n and keys[p] == key:
        qty[p] += dq
        count[p] += dorders
        _level_resized(state, slot, side, p, dq)
        return
    if dq <= 0:
        return
    if n == keys.shape[0]:
        # Full: the level farthest from the touch (index 0) gives way, unless the new one
        # is farther still.
        state.book[slot, B_LEVEL_OVERFLOW] += 1
        if p == 0:
            return
        for i in range(p - 1):
            keys[i] = keys[i + 1]
            qty[i] = qty[i + 1]
            count[i] = count[i + 1]
        p -= 1
        keys[p] = key
        qty[p] = dq
        count[p] = dorders
        _top_resum(state, slot, side)
        return
    for i in range(n, p, -1):
        keys[i] = keys[i - 1]
        qty[i] = qty[i - 1]
        count[i] = count[i - 1]
    state.depth[slot, side] = n + 1
    keys[p] = key
    qty[p] = dq
    count[p] = dorders
    top = state.counters[G_TOP_LEVELS]
    if top > 0 and p >= n + 1 - top:
        # The new level is one of the best N; the N-th best before it (below p) drops out.
        _top_add(state, slot, side, dq, key)
        if n - top >= 0:
            _top_add(state, slot, side, -qty[n - top], keys[n - top])


@hot_kernel_inline
def _own_reduce(
    state: BookState,
    slot: int,
    side: int,
    price: int,
    dq: int,
    how: int,
    priority: int,
    before: int,
) -> None:
    """Move own orders at the level forward after it lost ``dq`` (see module docstring)."""
    own = state.own
    for i in range(own.shape[0]):
        if (
            own[i, O_ACTIVE] == 0
            or own[i, O_SLOT] != slot
            or own[i, O_SIDE] != side
            or own[i, O_PRICE] != price
        ):
            continue
        ahead = own[i, O_AHEAD]
        if how == _BY_PRIORITY:
            if priority < own[i, O_PRIORITY]:
                ahead -= dq
        elif how == _EXECUTED:
            ahead -= dq
        elif before > 0:
            ahead -= dq * ahead // before
        own[i, O_AHEAD] = max(ahead, 0)


@hot_kernel_inline
def _level_reduce(
    state: BookState,
    slot: int,
    side: int,
    price: int,
    dq: int,
    dorders: int,
    how: int,
    priority: int,
) -> None:
    """Take ``dq`` and ``dorders`` off the level at ``price``; remove it at zero."""
    p = _find_level(state, slot, side, price)
    if p < 0:
        state.book[slot, B_MISSING_LEVEL] += 1
        return
    qty = state.level_qty[slot, side]
    count = state.level_orders[slot, side]
    before = qty[p]
    if state.own_count[slot, side] > 0:
        _own_reduce(state, slot, side, price, dq, how, priority, before)
    left = before - dq
    if left < 0:
        state.book[slot, B_NEGATIVE_SIZE] += 1
        left = 0
    count[p] = max(count[p] - dorders, 0)
    if left == 0:
        _remove_level(state, slot, side, p)
    else:
        qty[p] = left
        _level_resized(state, slot, side, p, left - before)


@hot_kernel_inline
def _level_set(state: BookState, slot: int, side: int, price: int, size: int) -> None:
    """Set the level at ``price`` to ``size`` (0 removes it; a missing level is no error)."""
    p = _find_level(state, slot, side, price)
    if p < 0:
        _level_add(state, slot, side, price, size, 0)
        return
    qty = state.level_qty[slot, side]
    before = qty[p]
    if size < before and state.own_count[slot, side] > 0:
        _own_reduce(state, slot, side, price, before - size, _SHARE, 0, before)
    if size == 0:
        _remove_level(state, slot, side, p)
    else:
        qty[p] = size
        _level_resized(state, slot, side, p, size - before)


# ---------------------------------------------------------------- order table


@hot_kernel_inline
def _home(order_id: int, mask: int) -> int:
    # The identity with the high half folded in: consecutive ids fill consecutive entries.
    return (order_id ^ (order_id >> 32)) & mask


@hot_kernel_inline
def _find_order(state: BookState, order_id: int, slot: int) -> int:
    """Entry of order ``order_id`` of book ``slot``, or -1."""
    orders = state.orders
    mask = orders.shape[0] - 1
    pos = _home(order_id, mask)
    while True:
        oid = orders[pos, OR_ID]
        if oid == EMPTY_ID:
            return -1
        if oid == order_id and orders[pos, OR_META] >> _SLOT_SHIFT == slot:
            return pos
        pos = (pos + 1) & mask


@hot_kernel_inline
def _insert_order(
    state: BookState, order_id: int, slot: int, side: int, price: int, qty: int
) -> int:
    """Add an order; return its entry, -1 if the table is full, -2 if the id is live."""
    counters = state.counters
    orders = state.orders
    mask = orders.shape[0] - 1
    pos = _home(order_id, mask)
    probe = 0
    while orders[pos, OR_ID] != EMPTY_ID:
        if orders[pos, OR_ID] == order_id and orders[pos, OR_META] >> _SLOT_SHIFT == slot:
            return -2
        pos = (pos + 1) & mask
        probe += 1
    if counters[G_LIVE_ORDERS] >= state.order_limit[0]:
        counters[G_ORDER_TABLE_FULL] += 1
        return -1
    if probe > 0:
        counters[G_DISPLACED] += 1
        if probe > counters[G_MAX_PROBE]:
            counters[G_MAX_PROBE] = probe
    orders[pos, OR_ID] = order_id
    orders[pos, OR_PRICE] = price
    orders[pos, OR_QTY] = qty
    orders[pos, OR_META] = (np.int64(slot) << _SLOT_SHIFT) | side
    counters[G_PRIORITY] += 1
    state.order_priority[pos] = counters[G_PRIORITY]
    counters[G_LIVE_ORDERS] += 1
    state.book[slot, B_ORDERS] += 1
    return pos


@hot_kernel_inline
def _remove_order_at(state: BookState, pos: int) -> None:
    """Free entry ``pos``, shifting later entries of its probe chain back (no tombstones).

    With no displaced entry left in the table, none can move toward its home: the scan
    to the end of the chain is skipped.
    """
    orders = state.orders
    priority = state.order_priority
    counters = state.counters
    mask = orders.shape[0] - 1
    counters[G_LIVE_ORDERS] -= 1
    state.book[orders[pos, OR_META] >> _SLOT_SHIFT, B_ORDERS] -= 1
    if _home(orders[pos, OR_ID], mask) != pos:
        counters[G_DISPLACED] -= 1
    i = pos
    j = (i + 1) & mask
    while counters[G_DISPLACED] > 0 and orders[j, OR_ID] != EMPTY_ID:
        home = _home(orders[j, OR_ID], mask)
        # The entry at j may fill the hole at i unless its home lies cyclically in (i, j]
        # (so a moved entry was displaced; at i it is home, or still displaced).
        if (i < j and (home <= i or home > j)) or (j < i and j < home <= i):
            for w in range(orders.shape[1]):
                orders[i, w] = orders[j, w]
            priority[i] = priority[j]
            if home == i:
                counters[G_DISPLACED] -= 1
            i = j
        j = (j + 1) & mask
    orders[i, OR_ID] = EMPTY_ID


@hot_kernel
def count_displaced(state: BookState) -> int:
    """Order-table entries away from their home entry, counted afresh (after a restore)."""
    orders = state.orders
    mask = orders.shape[0] - 1
    displaced = 0
    for pos in range(orders.shape[0]):
        oid = orders[pos, OR_ID]
        if oid != EMPTY_ID and _home(oid, mask) != pos:
            displaced += 1
    return displaced


@hot_kernel_inline
def _clear_book(state: BookState, slot: int) -> None:
    """Empty book ``slot``: its levels, its orders in the table, its own orders' queues."""
    state.depth[slot, 0] = 0
    state.depth[slot, 1] = 0
    _top_resum(state, slot, BID)
    _top_resum(state, slot, ASK)
    state.book[slot, B_RESETS] += 1
    orders = state.orders
    pos = 0
    while state.book[slot, B_ORDERS] > 0 and pos < orders.shape[0]:
        # Removal shifts a later entry into pos, so pos is examined again before moving on.
        if orders[pos, OR_ID] != EMPTY_ID and orders[pos, OR_META] >> _SLOT_SHIFT == slot:
            _remove_order_at(state, pos)
        else:
            pos += 1
    if state.own_count[slot, 0] + state.own_count[slot, 1] > 0:
        own = state.own
        for i in range(own.shape[0]):
            if own[i, O_ACTIVE] != 0 and own[i, O_SLOT] == slot:
                own[i, O_AHEAD] = 0


# ---------------------------------------------------------------- events


@hot_kernel_inline
def _slot(state: BookState, instrument: int, create: bool) -> int:
    counters = state.counters
    if instrument < 0 or instrument >= state.slot_of.shape[0]:
        counters[G_BAD_INSTRUMENT] += 1
        return NO_SLOT
    slot = state.slot_of[instrument]
    if slot >= 0 or not create:
        return slot
    if counters[G_BOOKS] == state.depth.shape[0]:
        counters[G_INSTRUMENT_OVERFLOW] += 1
        return NO_SLOT
    slot = counters[G_BOOKS]
    counters[G_BOOKS] = slot + 1
    state.slot_of[instrument] = slot
    state.book[slot, B_INSTRUMENT] = instrument
    return slot


@hot_kernel_inline
def _check_integrity(state: BookState, slot: int) -> None:
    if state.depth[slot, BID] == 0 or state.depth[slot, ASK] == 0:
        return
    bid = state.keys[slot, BID, state.depth[slot, BID] - 1]
    ask = -state.keys[slot, ASK, state.depth[slot, ASK] - 1]
    if bid > ask:
        state.book[slot, B_CROSSED] += 1
    elif bid == ask:
        state.book[slot, B_LOCKED] += 1


@hot_kernel_inline
def _record_trade(state: BookState, slot: int, price: int, qty: int, side: int) -> None:
    state.book[slot, B_TRADES] += 1
    state.book[slot, B_LAST_TRADE_PRICE] = price
    state.book[slot, B_LAST_TRADE_QTY] = qty
    state.book[slot, B_LAST_TRADE_SIDE] = side


@hot_kernel_inline
def _reduce_order(state: BookState, slot: int, kind: int, pos: int, qty: int) -> None:
    """EXECUTE / CANCEL / DELETE of a known order."""
    orders = state.orders
    remaining = orders[pos, OR_QTY]
    side = orders[pos, OR_META] & _SIDE_MASK
    price = orders[pos, OR_PRICE]
    dq = remaining if kind == _DELETE else qty
    if dq > remaining:
        state.book[slot, B_NEGATIVE_SIZE] += 1
        dq = remaining
    if kind == _EXECUTE:
        _record_trade(state, slot, price, dq, side + 1)
    priority = state.order_priority[pos]
    if dq == remaining:
        _remove_order_at(state, pos)
        _level_reduce(state, slot, side, price, dq, 1, _BY_PRIORITY, priority)
    else:
        orders[pos, OR_QTY] = remaining - dq
        _level_reduce(state, slot, side, price, dq, 0, _BY_PRIORITY, priority)


@hot_kernel_inline
def _add_order(state: BookState, slot: int, order_id: int, side: int, price: int, qty: int) -> None:
    pos = _insert_order(state, order_id, slot, side, price, qty)
    if pos == -2:
        state.book[slot, B_DUPLICATE_ORDER] += 1
    elif pos == -1:
        _level_add(state, slot, side, price, qty, 0)  # depth stays right; the id is lost
    else:
        _level_add(state, slot, side, price, qty, 1)


@hot_kernel_inline
def apply_one(
    state: BookState,
    kind: int,
    instrument: int,
    side_code: int,
    flags: int,
    order_id: int,
    price: int,
    qty: int,
    aux: int,
    seq: int,
    exchange_ns: int,
    recv_ns: int,
) -> int:
    """Apply one event given as fields; return 1 if the book consumed it, else 0.

    Inlined into every caller: compiled pipelines (book → signals → …) call it per record.
    """
    counters = state.counters
    counters[G_EVENTS] += 1
    if kind < _ADD or kind > _SNAPSHOT or (kind == _QUOTE and flags & FLAG_TOP_OF_BOOK):
        counters[G_IGNORED] += 1
        return 0
    slot = _slot(state, instrument, True)
    if slot < 0:
        return 0
    pending = counters[G_PENDING_SLOT]
    if pending >= 0 and (pending != slot or counters[G_PENDING_SEQ] != seq):
        _check_integrity(state, pending)
        counters[G_PENDING_SLOT] = NO_SLOT
    counters[G_APPLIED] += 1
    book = state.book
    book[slot, B_LAST_SEQ] = seq
    book[slot, B_LAST_EXCHANGE_NS] = exchange_ns
    book[slot, B_LAST_RECV_NS] = recv_ns
    side = np.int64(side_code) - 1  # Side.BUY → BID, Side.SELL → ASK; others: no side
    sided = side in (BID, ASK)
    # A record that names a level rather than an order (no id, or a QUOTE) needs a side.
    names_level = kind == _QUOTE or (order_id == EMPTY_ID and kind != _TRADE and kind != _SNAPSHOT)
    if qty < 0 or (not sided and names_level):
        counters[G_BAD_EVENT] += 1
        return 1
    if kind == _TRADE:
        _record_trade(state, slot, price, qty, side_code)
        return 1
    if kind == _SNAPSHOT:
        if flags & FLAG_BOOK_START:
            _clear_book(state, slot)
        if sided and qty > 0:
            if order_id != EMPTY_ID:
                _add_order(state, slot, order_id, side, price, qty)
            else:
                _level_add(state, slot, side, price, qty, 0)
    elif kind == _QUOTE:
        _level_set(state, slot, side, price, qty)
    elif order_id == EMPTY_ID:
        # Price-level feeds: the record speaks of the level itself.
        if kind in (_ADD, _REPLACE):
            _level_set(state, slot, side, price, qty)
        elif kind == _DELETE:
            _level_set(state, slot, side, price, 0)
        else:
            how = _EXECUTED if kind == _EXECUTE else _SHARE
            if kind == _EXECUTE:
                _record_trade(state, slot, price, qty, side_code)
            _level_reduce(state, slot, side, price, qty, 0, how, -1)
    elif kind == _ADD:
        if not sided:
            counters[G_BAD_EVENT] += 1
            return 1
        _add_order(state, slot, order_id, side, price, qty)
    else:
        pos = _find_order(state, order_id, slot)
        if kind == _REPLACE:
            if pos >= 0:
                side = state.orders[pos, OR_META] & _SIDE_MASK
                _reduce_order(state, slot, _DELETE, pos, 0)
                sided = True
            else:
                book[slot, B_UNKNOWN_ORDER] += 1
            if sided and qty > 0:
                _add_order(state, slot, aux if aux != EMPTY_ID else order_id, side, price, qty)
        elif pos >= 0:
            _reduce_order(state, slot, kind, pos, qty)
        else:
            book[slot, B_UNKNOWN_ORDER] += 1
            if sided and qty > 0:
                # An order from before the stream began: its size is still in the level.
                if kind == _EXECUTE:
                    _record_trade(state, slot, price, qty, side_code)
                _level_reduce(state, slot, side, price, qty, 0, _BY_PRIORITY, -1)
    book[slot, B_UPDATES] += 1
    counters[G_PENDING_SLOT] = slot
    counters[G_PENDING_SEQ] = seq
    return 1


@hot_kernel_inline
def apply_event(state: BookState, e: np.void) -> int:
    """Apply one market-event record (:data:`~lowlat.core.records.MARKET_EVENT_DTYPE`)."""
    return apply_one(
        state,
        e["kind"],
        e["instrument"],
        e["side"],
        e["flags"],
        e["order_id"],
        e["price"],
        e["qty"],
        e["aux"],
        e["seq"],
        e["exchange_ns"],
        e["recv_ns"],
    )


@hot_kernel
def apply_batch(state: BookState, events: np.ndarray, n: int) -> int:
    """Apply ``events[:n]`` in order; return how many the book consumed."""
    consumed = 0
    for i in range(n):
        e = events[i]
        consumed += apply_event(state, e)
    return consumed


@hot_kernel
def check_pending(state: BookState) -> None:
    """Run the crossed/locked check of the last message now (at the end of a stream)."""
    pending = state.counters[G_PENDING_SLOT]
    if pending >= 0:
        _check_integrity(state, pending)
        state.counters[G_PENDING_SLOT] = NO_SLOT


# ---------------------------------------------------------------- queries


@hot_kernel_inline
def slot_of(state: BookState, instrument: int) -> int:
    """Book slot of ``instrument``, or ``NO_SLOT`` if it has none."""
    if instrument < 0 or instrument >= state.slot_of.shape[0]:
        return NO_SLOT
    return state.slot_of[instrument]


@hot_kernel_inline
def level(state: BookState, slot: int, side: int, k: int) -> tuple[int, int]:
    """``(price, size)`` of level ``k`` (0 = best) of a side; size 0 if there is none."""
    n = state.depth[slot, side]
    if k >= n:
        return 0, 0
    key = state.keys[slot, side, n - 1 - k]
    return (key if side == BID else -key), state.level_qty[slot, side, n - 1 - k]


@hot_kernel
def level_size(state: BookState, slot: int, side: int, price: int) -> int:
    """Size of the level at ``price`` on ``side`` of book ``slot`` (0 if there is none)."""
    p = _find_level(state, slot, side, price)
    return state.level_qty[slot, side, p] if p >= 0 else 0


@hot_kernel_inline
def best(state: BookState, slot: int, side: int) -> tuple[int, int]:
    """``(price, size)`` of the best level of a side; size 0 if the side is empty."""
    return level(state, slot, side, 0)


@hot_kernel_inline
def top_sums(state: BookState, slot: int, side: int) -> tuple[int, int]:
    """``(Σ size, Σ size × price)`` over the best ``G_TOP_LEVELS`` levels of a side."""
    return state.book[slot, B_TOP_QTY + side], state.book[slot, B_TOP_NOTIONAL + side]


@hot_kernel
def track_top_levels(state: BookState, levels: int) -> None:
    """Keep top-N sums over the best ``levels`` levels of every side from now on (0: none).

    Every book's sums are computed afresh, so this may be called at any time.
    """
    state.counters[G_TOP_LEVELS] = levels
    for slot in range(state.depth.shape[0]):
        _top_resum(state, slot, BID)
        _top_resum(state, slot, ASK)


@hot_kernel
def write_levels(
    state: BookState, slot: int, out: np.ndarray, empty_ask: int, empty_bid: int
) -> None:
    """Write one book as a LOBSTER orderbook row into ``out``.

    Levels 1..``len(out) // 4``, each as ask price, ask size, bid price, bid size; a missing
    level gets the placeholder price and size 0.
    """
    for k in range(out.shape[0] // 4):
        ask_price, ask_size = level(state, slot, ASK, k)
        bid_price, bid_size = level(state, slot, BID, k)
        out[4 * k] = ask_price if ask_size > 0 else empty_ask
        out[4 * k + 1] = ask_size
        out[4 * k + 2] = bid_price if bid_size > 0 else empty_bid
        out[4 * k + 3] = bid_size


@hot_kernel
def replay_rows(
    state: BookState,
    events: np.ndarray,
    n: int,
    message_end: np.ndarray,
    instrument: int,
    every_message: bool,
    touched: np.ndarray,
    rows: np.ndarray,
    row_seq: np.ndarray,
    empty_ask: int,
    empty_bid: int,
) -> int:
    """Apply ``events[:n]`` and write the book of ``instrument`` after each message.

    ``message_end[i]`` marks the last record of a message. A row is written at a message
    end when a record of the message for ``instrument`` was consumed by the book — or for
    every message when ``every_message`` (LOBSTER writes one row per message line).
    ``touched[0]`` carries "this message touched the book" across calls, for a message
    split between batches. Returns the number of rows written to ``rows``/``row_seq``.
    """
    written = 0
    for i in range(n):
        e = events[i]
        consumed = apply_event(state, e)
        if consumed and e["instrument"] == instrument:
            touched[0] = 1
        if message_end[i]:
            if touched[0] or every_message:
                slot = slot_of(state, instrument)
                if slot >= 0:
                    write_levels(state, slot, rows[written], empty_ask, empty_bid)
                else:
                    for k in range(rows.shape[1] // 4):
                        rows[written, 4 * k] = empty_ask
                        rows[written, 4 * k + 1] = 0
                        rows[written, 4 * k + 2] = empty_bid
                        rows[written, 4 * k + 3] = 0
                row_seq[written] = e["seq"]
                written += 1
            touched[0] = 0
    return written


# ---------------------------------------------------------------- own orders


@hot_kernel
def own_add(
    state: BookState,
    index: int,
    client_id: int,
    instrument: int,
    side: int,
    price: int,
    qty: int,
) -> int:
    """Track own order ``client_id`` in row ``index``: it queues behind the level's size.

    ``side`` is 0 for bids, 1 for asks. Returns the size ahead of it, or -1 when the
    instrument has no book slot left.
    """
    slot = _slot(state, instrument, True)
    if slot < 0:
        return -1
    p = _find_level(state, slot, side, price)
    ahead = state.level_qty[slot, side, p] if p >= 0 else 0
    own = state.own
    state.counters[G_PRIORITY] += 1
    own[index, O_ACTIVE] = 1
    own[index, O_CLIENT_ID] = client_id
    own[index, O_SLOT] = slot
    own[index, O_SIDE] = side
    own[index, O_PRICE] = price
    own[index, O_QTY] = qty
    own[index, O_AHEAD] = ahead
    own[index, O_PRIORITY] = state.counters[G_PRIORITY]
    state.own_count[slot, side] += 1
    state.counters[G_OWN_ORDERS] += 1
    return ahead


@hot_kernel
def own_remove(state: BookState, index: int) -> None:
    """Stop tracking the own order in row ``index`` (filled or cancelled)."""
    own = state.own
    if own[index, O_ACTIVE] == 0:
        return
    own[index, O_ACTIVE] = 0
    state.own_count[own[index, O_SLOT], own[index, O_SIDE]] -= 1
    state.counters[G_OWN_ORDERS] -= 1
