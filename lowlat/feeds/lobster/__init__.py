"""LOBSTER limit-order-book data: message files parsed to ``MARKET_EVENT_DTYPE`` records.

``kernels`` holds the compiled CSV line parser (hot path) and the mapping of LOBSTER
event types to records; ``files`` the control code that streams message files (plain or
gzip) in chunks, reports per-file statistics and turns orderbook rows into SNAPSHOT
records that seed a book.
"""

from lowlat.feeds.lobster import kernels
from lowlat.feeds.lobster.files import (
    EMPTY_ASK_PRICE,
    EMPTY_BID_PRICE,
    LobsterDecoder,
    file_stats,
    initial_book_records,
    iter_records,
    iter_stream,
    open_lobster,
    read_orderbook_row,
)
from lowlat.feeds.lobster.kernels import (
    FLAG_CROSS,
    FLAG_HIDDEN,
    HALT,
    LOBSTER_TYPE_NAMES,
    QUOTE_RESUME,
    TRADING_RESUME,
)

__all__ = [
    "EMPTY_ASK_PRICE",
    "EMPTY_BID_PRICE",
    "FLAG_CROSS",
    "FLAG_HIDDEN",
    "HALT",
    "LOBSTER_TYPE_NAMES",
    "QUOTE_RESUME",
    "TRADING_RESUME",
    "LobsterDecoder",
    "file_stats",
    "initial_book_records",
    "iter_records",
    "iter_stream",
    "kernels",
    "open_lobster",
    "read_orderbook_row",
]
