"""Binance spot/futures JSON depth feeds: decode, sequence, capture and replay.

``decode`` turns JSON messages (diff depth, REST snapshots, bookTicker, trades) into
``MARKET_EVENT_DTYPE`` records; ``sync`` applies Binance's snapshot/diff sequencing rules
per symbol; ``capture`` reads and writes capture files (receive time + raw JSON per line);
``ws`` holds a loopback replay server and a reconnecting client.
"""

from lowlat.feeds.depth.decode import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_QTY_SCALE,
    FLAG_BOOK_START,
    FLAG_TOP_OF_BOOK,
    NO_ID,
    Decoded,
    DepthDecoder,
    MessageKind,
    SymbolSpec,
)
from lowlat.feeds.depth.sync import BookSync, DepthFeed, SyncAction

__all__ = [
    "DEFAULT_PRICE_SCALE",
    "DEFAULT_QTY_SCALE",
    "FLAG_BOOK_START",
    "FLAG_TOP_OF_BOOK",
    "NO_ID",
    "BookSync",
    "Decoded",
    "DepthDecoder",
    "DepthFeed",
    "MessageKind",
    "SymbolSpec",
    "SyncAction",
]
