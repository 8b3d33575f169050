"""Memory of the book engine: every array, allocated once from a :class:`BookConfig`.

The engine's state is a ``BookState`` named tuple of NumPy arrays, which compiled kernels
take as one argument. Nothing in it grows: a full side, a full order table or too many
instruments are counted, never reallocated.

Price levels
    Per book slot and side (0 = bids, 1 = asks) a sorted array of ``levels`` entries,
    worst first and best last, so that the busy end of the book — the touch — is where
    inserts and removals shift the fewest entries. Prices are stored as *keys*: the price
    for bids, its negation for asks, so both sides sort ascending toward the touch and
    share one search. ``level_qty`` is the aggregate size, ``level_orders`` the number of
    orders the engine knows at the level (levels set by price-level feeds have none).

Order table
    Open addressing with linear probing on the venue's order id (the identity with the
    high bits folded in: venues number orders consecutively, so live orders sit close
    together in the table and stay in cache). Each entry is one 32-byte row: id, price,
    remaining size and a packed word ``slot << 32 | side``. Removal shifts the following
    entries of the probe chain back (no tombstones), so chains never rot; while no entry
    sits away from its home (``G_DISPLACED`` = 0, the usual case with consecutive ids)
    there is nothing to shift and a removal only frees its entry. Clearing a book (a
    snapshot) removes its orders.

Own orders
    A small table of the strategy's own resting orders with the size queued ahead of each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowlat.book.config import BookConfig

__all__ = [
    "ASK",
    "BID",
    "BOOK_FIELDS",
    "COUNTER_FIELDS",
    "OWN_FIELDS",
    "BookState",
    "allocate",
]

BID = 0
ASK = 1

# order table columns
OR_ID = 0
OR_PRICE = 1
OR_QTY = 2
OR_META = 3
ORDER_WORDS = 4
EMPTY_ID = 0  # order id 0 means "no order" in every feed, so it marks a free entry

# per-book words: book[slot, B_*]
B_INSTRUMENT = 0
B_GENERATION = 1
B_UPDATES = 2  # events that changed this book
B_UNKNOWN_ORDER = 3
B_DUPLICATE_ORDER = 4
B_NEGATIVE_SIZE = 5
B_CROSSED = 6  # events after which the book was crossed (best bid > best ask)
B_LOCKED = 7  # events after which the book was locked (best bid == best ask)
B_LEVEL_OVERFLOW = 8
B_MISSING_LEVEL = 9  # a reduction at a price where the book has no level
B_RESETS = 10  # snapshots that cleared the book
B_LAST_SEQ = 11
B_LAST_EXCHANGE_NS = 12
B_LAST_RECV_NS = 13
B_LAST_TRADE_PRICE = 14
B_LAST_TRADE_QTY = 15
B_LAST_TRADE_SIDE = 16  # aggressor side of the last trade (Side), 0 if unknown
B_ORDERS = 17  # live orders of this book in the order table
B_TRADES = 18  # trades recorded (executions and trade reports)
# Sums over the best ``counters[G_TOP_LEVELS]`` levels of each side, kept by the level
# operations while that count is not 0 (see ``kernels.track_top_levels``): + BID / + ASK.
B_TOP_QTY = 19  # 19 bids, 20 asks: Σ size
B_TOP_NOTIONAL = 21  # 21 bids, 22 asks: Σ size × price
BOOK_WORDS = 24
BOOK_FIELDS = (
    "instrument",
    "generation",
    "updates",
    "unknown_order",
    "duplicate_order",
    "negative_size",
    "crossed",
    "locked",
    "level_overflow",
    "missing_level",
    "resets",
    "last_seq",
    "last_exchange_ns",
    "last_recv_ns",
    "last_trade_price",
    "last_trade_qty",
    "last_trade_side",
    "orders",
    "trades",
    "top_qty_bid",
    "top_qty_ask",
    "top_notional_bid",
    "top_notional_ask",
)

# engine-wide counters: counters[G_*]
G_EVENTS = 0
G_APPLIED = 1  # events the book consumed
G_IGNORED = 2  # events of kinds that carry no book data
G_BAD_INSTRUMENT = 3  # instrument id outside 0..max_instrument_id
G_INSTRUMENT_OVERFLOW = 4  # a new instrument when every slot is taken
G_ORDER_TABLE_FULL = 5
G_BAD_EVENT = 6  # a book event without a usable side or with a negative size
G_BOOKS = 7  # slots in use
G_LIVE_ORDERS = 8
G_PRIORITY = 9  # arrival counter stamped on every order (queue priority)
G_OWN_ORDERS = 10
G_MAX_PROBE = 11  # longest order-table probe seen
G_TOP_LEVELS = 12  # levels per side the book[B_TOP_*] sums cover; 0 keeps no sums
G_DISPLACED = 13  # order-table entries not at their home entry (0: removals shift nothing)
G_PENDING_SLOT = 14  # book whose crossed/locked check waits for its message to end, or -1
G_PENDING_SEQ = 15  # sequence number of that message
COUNTER_WORDS = 16
COUNTER_FIELDS = (
    "events",
    "applied",
    "ignored",
    "bad_instrument",
    "instrument_overflow",
    "order_table_full",
    "bad_event",
    "books",
    "live_orders",
    "priority",
    "own_orders",
    "max_probe",
    "top_levels",
    "displaced",
)

# own orders: own[i, O_*]
O_ACTIVE = 0
O_CLIENT_ID = 1
O_SLOT = 2
O_SIDE = 3  # 0 bids, 1 asks
O_PRICE = 4
O_QTY = 5
O_AHEAD = 6  # size queued ahead at the same price
O_PRIORITY = 7
OWN_WORDS = 8
OWN_FIELDS = ("active", "client_id", "slot", "side", "price", "qty", "ahead", "priority")


class BookState(NamedTuple):
    """Every array of the book engine; compiled kernels take the tuple as one argument."""

    slot_of: np.ndarray  # int32[max_instrument_id + 1]: instrument id → slot, -1 none
    keys: np.ndarray  # int64[instruments, 2, levels]: price (bids) or -price (asks)
    level_qty: np.ndarray  # int64[instruments, 2, levels]
    level_orders: np.ndarray  # int32[instruments, 2, levels]
    depth: np.ndarray  # int32[instruments, 2]: levels in use per side
    orders: np.ndarray  # int64[orders, 4]: id, price, qty, meta
    order_priority: np.ndarray  # int64[orders]: arrival number, for queue position
    book: np.ndarray  # int64[instruments, BOOK_WORDS]
    counters: np.ndarray  # int64[COUNTER_WORDS]
    own: np.ndarray  # int64[own_orders, OWN_WORDS]
    own_count: np.ndarray  # int32[instruments, 2]: active own orders per side
    order_limit: np.ndarray  # int64[1]: live orders accepted before inserts are refused


def allocate(config: BookConfig) -> BookState:
    """Allocate and zero every array of an engine sized by ``config``."""
    shape = (config.instruments, 2, config.levels)
    state = BookState(
        slot_of=np.full(config.max_instrument_id + 1, -1, np.int32),
        keys=np.zeros(shape, np.int64),
        level_qty=np.zeros(shape, np.int64),
        level_orders=np.zeros(shape, np.int32),
        depth=np.zeros((config.instruments, 2), np.int32),
        orders=np.zeros((config.orders, ORDER_WORDS), np.int64),
        order_priority=np.zeros(config.orders, np.int64),
        book=np.zeros((config.instruments, BOOK_WORDS), np.int64),
        counters=np.zeros(COUNTER_WORDS, np.int64),
        own=np.zeros((config.own_orders, OWN_WORDS), np.int64),
        own_count=np.zeros((config.instruments, 2), np.int32),
        order_limit=np.array([config.order_limit], np.int64),
    )
    state.counters[G_PENDING_SLOT] = -1
    return state
