"""FIX 4.4 market data: compiled decoding of W and X messages into market events.

MarketDataSnapshotFullRefresh (35=W) and MarketDataIncrementalRefresh (35=X) become
``MARKET_EVENT_DTYPE`` records; session messages are counted and skipped.

:class:`FixDecoder` decodes a byte stream fed in chunks of any size, :func:`iter_records`
and :func:`file_stats` read files (plain or gzip, SOH or ``|`` delimited), and
:mod:`lowlat.feeds.fix.codec` builds messages for tests and simulations. The field
mapping, framing and sequence rules are documented in :mod:`lowlat.feeds.fix.kernels`.
"""

from lowlat.feeds.fix.files import FixDecoder, SymbolTable, file_stats, iter_records
from lowlat.feeds.fix.kernels import (
    FLAG_BOOK_START,
    FLAG_LAST_IN_MESSAGE,
    FLAG_LATE,
    SYMBOL_BYTES,
)

__all__ = [
    "FLAG_BOOK_START",
    "FLAG_LAST_IN_MESSAGE",
    "FLAG_LATE",
    "SYMBOL_BYTES",
    "FixDecoder",
    "SymbolTable",
    "file_stats",
    "iter_records",
]
