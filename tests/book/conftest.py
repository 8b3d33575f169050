"""Builders for book tests: market-event records written as short tuples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from lowlat.book import BookConfig, OrderBooks
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side

ADD, EXECUTE, CANCEL, DELETE, REPLACE = (
    EventKind.ADD,
    EventKind.EXECUTE,
    EventKind.CANCEL,
    EventKind.DELETE,
    EventKind.REPLACE,
)
TRADE, QUOTE, SNAPSHOT, STATUS = (
    EventKind.TRADE,
    EventKind.QUOTE,
    EventKind.SNAPSHOT,
    EventKind.STATUS,
)
BUY, SELL, NONE = Side.BUY, Side.SELL, Side.NONE


def event(
    kind: int,
    side: int = NONE,
    price: int = 0,
    qty: int = 0,
    order_id: int = 0,
    *,
    instrument: int = 1,
    seq: int = 0,
    aux: int = 0,
    flags: int = 0,
) -> tuple:
    """One record as a tuple in ``MARKET_EVENT_DTYPE`` field order."""
    return (seq, 0, 0, order_id, price, qty, aux, instrument, kind, side, flags, 0)


def records(*events: tuple, number: bool = True) -> np.ndarray:
    """A record array; with ``number`` every record without a seq gets its position + 1."""
    out = np.array(list(events), MARKET_EVENT_DTYPE)
    if number:
        unset = out["seq"] == 0
        out["seq"][unset] = np.arange(1, len(out) + 1)[unset]
    return out


# Ids 1..7 + 256·k all share a home entry of the 256-entry table modulo 8 alternatives,
# so probe chains are long and removals shift entries around.
ORDER_IDS = [a + 256 * b for a in range(1, 8) for b in range(9)]


def book_events(instruments: tuple[int, ...]) -> st.SearchStrategy[tuple]:
    """Random records of every kind, bad sides and sizes included, on prices 90..110."""
    return st.builds(
        event,
        kind=st.sampled_from(
            [ADD] * 4 + [EXECUTE, CANCEL, DELETE, REPLACE, TRADE, QUOTE, SNAPSHOT, STATUS]
        ),
        side=st.sampled_from([BUY, SELL, BUY, SELL, NONE]),
        price=st.integers(90, 110),
        qty=st.one_of(st.integers(0, 20), st.just(-1)),
        order_id=st.one_of(st.sampled_from(ORDER_IDS), st.just(0)),
        instrument=st.sampled_from(instruments),
        aux=st.one_of(st.just(0), st.sampled_from(ORDER_IDS)),
        flags=st.sampled_from([0, 0, 0, 1, 2]),
    )


def book_messages(instruments: tuple[int, ...]) -> st.SearchStrategy[list[tuple]]:
    """Random messages: one to three :func:`book_events` records sharing a sequence number."""
    return st.lists(book_events(instruments), min_size=1, max_size=3)


def message(events: list[tuple], seq: int) -> np.ndarray:
    """The records of one message, every one stamped with sequence number ``seq``."""
    batch = records(*events, number=False)
    batch["seq"] = seq
    return batch


@pytest.fixture
def books() -> OrderBooks:
    """A small engine: 4 books, 8 levels a side, 64 order entries, 4 own orders."""
    return OrderBooks(
        BookConfig(instruments=4, max_instrument_id=99, levels=8, orders=64, own_orders=4)
    )
