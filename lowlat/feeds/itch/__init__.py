"""NASDAQ TotalView-ITCH 5.0: every message type decoded to ``MARKET_EVENT_DTYPE`` records.

``kernels`` holds the compiled decoders (hot path); ``files`` the control code that frames
files (length-prefixed or type-framed, plain or gzip) and streams them in chunks; ``spec``
the message layouts and the exact mapping of each message to a record.
"""

from lowlat.feeds.itch import kernels, spec
from lowlat.feeds.itch.files import (
    FRAMINGS,
    LENGTH_PREFIXED,
    TYPE_FRAMED,
    ItchDecoder,
    detect_framing,
    file_stats,
    iter_records,
    iter_stream,
    open_itch,
)
from lowlat.feeds.itch.spec import (
    FLAG_PRINTABLE,
    MESSAGE_LENGTHS,
    TYPE_MASK,
    pack_alpha,
    unpack_alpha,
)

__all__ = [
    "FLAG_PRINTABLE",
    "FRAMINGS",
    "LENGTH_PREFIXED",
    "MESSAGE_LENGTHS",
    "TYPE_FRAMED",
    "TYPE_MASK",
    "ItchDecoder",
    "detect_framing",
    "file_stats",
    "iter_records",
    "iter_stream",
    "kernels",
    "open_itch",
    "pack_alpha",
    "spec",
    "unpack_alpha",
]
