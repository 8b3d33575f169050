"""Builders for book tests: market-event records written as short tuples."""

from __future__ import annotations

import numpy as np
import pytest

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


@pytest.fixture
def books() -> OrderBooks:
    """A small engine: 4 books, 8 levels a side, 64 order entries, 4 own orders."""
    return OrderBooks(
        BookConfig(instruments=4, max_instrument_id=99, levels=8, orders=64, own_orders=4)
    )
