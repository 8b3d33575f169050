"""LOBSTER files: streaming parse of message files, statistics, initial book from orderbook rows.

This is control code. Message files (plain or gzip, recognised by their magic bytes) are
read in fixed-size chunks into one preallocated buffer and handed to the compiled
:func:`~lowlat.feeds.lobster.kernels.parse_lines`; a line split across two chunks is
carried to the front of the buffer and completed by the next read. A file is never
loaded whole, and every line ends up either in a record or in the decoder's
:class:`~lowlat.feeds.quarantine.Quarantine`.

An orderbook file has one row per message line: row ``k`` (0-based) is the book *after*
message line ``k + 1`` (``seq == k + 1``), for ``levels`` levels, each written as ask
price, ask size, bid price, bid size. To start a book mid-file, seed it with
:func:`initial_book_records` of row ``k`` and apply only records with ``seq > k + 1``.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, BinaryIO

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.lobster import kernels
from lowlat.feeds.lobster.kernels import LOBSTER_TYPE_NAMES, MAX_LINE
from lowlat.feeds.quarantine import Quarantine
from lowlat.feeds.streams import decode_chunks, open_feed_file

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CHUNK_BYTES",
    "EMPTY_ASK_PRICE",
    "EMPTY_BID_PRICE",
    "LobsterDecoder",
    "file_stats",
    "initial_book_records",
    "iter_records",
    "iter_stream",
    "open_lobster",
    "read_orderbook_row",
]

DEFAULT_CHUNK_BYTES = 1 << 21  # 2 MiB per read
DEFAULT_BATCH = 65_536  # records per yielded batch
#: LOBSTER's placeholder price of an ask level that does not exist (size 0).
EMPTY_ASK_PRICE = 9_999_999_999
#: LOBSTER's placeholder price of a bid level that does not exist (size 0).
EMPTY_BID_PRICE = -9_999_999_999
_READ_ERRORS = (OSError, EOFError, zlib.error)


class LobsterDecoder:
    """Parsing state of one LOBSTER message stream: counters, quarantine, position.

    All arrays are allocated here, once; the compiled line parser fills them.

    Parameters
    ----------
    instrument
        Written to every record's ``instrument`` (LOBSTER files hold one ticker and do
        not name it inside).

    Attributes
    ----------
    type_counts
        ``int64[8]``: parsed lines by LOBSTER event type (index 1–7).
    quarantine
        Rejected lines by :class:`~lowlat.feeds.quarantine.ErrorKind`, with samples.
    state
        ``int64[N_STATE]``: stream offset, line count and byte counts (``kernels.ST_*``).
    bytes_read
        Stream bytes read by :func:`iter_stream` (decompressed), to check the counts.
    """

    def __init__(self, instrument: int = 1) -> None:
        self.instrument = instrument
        self.type_counts = np.zeros(8, np.int64)
        self.quarantine = Quarantine.empty()
        self.state = np.zeros(kernels.N_STATE, np.int64)
        self.bytes_read = 0

    def decode(
        self,
        buf: np.ndarray,
        out: np.ndarray,
        *,
        pos: int = 0,
        end: int | None = None,
        n: int = 0,
        final: bool = True,
    ) -> tuple[int, int]:
        """Parse the lines in ``buf[pos:end]`` into ``out[n:]``; return the new ``(pos, n)``.

        With ``final`` a last line without a newline is parsed; without it the caller
        keeps ``buf[pos:end]`` and passes it again with more bytes, after adding the
        dropped prefix length to ``state[ST_BASE]``.
        """
        stop = buf.shape[0] if end is None else end
        counts, samples, meta = self.quarantine.arrays
        new_pos, new_n = kernels.parse_lines(
            buf, pos, stop, final, out, n, self.instrument, self.type_counts, counts, samples,
            meta, self.state,
        )  # fmt: skip
        return int(new_pos), int(new_n)

    @property
    def lines(self) -> int:
        """Lines seen so far, parsed or quarantined (the last line's ``seq``)."""
        return int(self.state[kernels.ST_LINES])

    @property
    def messages(self) -> int:
        """Lines that became records."""
        return int(self.type_counts.sum())

    @property
    def bytes_decoded(self) -> int:
        """Stream bytes, newlines included, of lines that became records."""
        return int(self.state[kernels.ST_DECODED_BYTES])

    @property
    def bytes_quarantined(self) -> int:
        """Stream bytes of quarantined lines."""
        return int(self.state[kernels.ST_QUARANTINED_BYTES])

    @property
    def counts(self) -> dict[str, int]:
        """Parsed lines by event type name, types never seen left out."""
        return {
            name: int(self.type_counts[t])
            for t, name in LOBSTER_TYPE_NAMES.items()
            if self.type_counts[t]
        }


def open_lobster(path: str | os.PathLike[str]) -> tuple[BinaryIO, bool]:
    """Open a LOBSTER file for reading, decompressing gzip; return ``(stream, compressed)``."""
    return open_feed_file(path, "LOBSTER")


def iter_stream(
    reader: BinaryIO,
    decoder: LobsterDecoder,
    *,
    batch: int = DEFAULT_BATCH,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
    reuse: bool = False,
) -> Iterator[np.ndarray]:
    """Parse everything ``reader`` yields, ``chunk_size`` bytes at a time, into batches.

    Every batch but the last holds ``batch`` records. With ``reuse`` one output array is
    refilled for every batch (each yielded array is valid only until the next one);
    otherwise every batch is a new array the caller may keep.
    """
    return decode_chunks(
        reader, decoder, batch=batch, chunk_size=chunk_size, carry=MAX_LINE, reuse=reuse
    )


def _records(
    path: str | os.PathLike[str],
    decoder: LobsterDecoder,
    batch: int,
    chunk_size: int,
    reuse: bool,
) -> Iterator[np.ndarray]:
    stream, _ = open_lobster(path)
    with stream:
        try:
            yield from iter_stream(stream, decoder, batch=batch, chunk_size=chunk_size, reuse=reuse)
        except _READ_ERRORS as exc:  # corrupt or cut-off gzip
            raise OSError(f"cannot read LOBSTER file {os.fspath(path)!r}: {exc}") from exc


def iter_records(
    path: str | os.PathLike[str],
    batch: int = DEFAULT_BATCH,
    *,
    instrument: int = 1,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
    decoder: LobsterDecoder | None = None,
) -> Iterator[np.ndarray]:
    """Stream the records of a LOBSTER message file (plain or gzip) in batches.

    Parameters
    ----------
    path
        The message file.
    batch
        Records per yielded ``MARKET_EVENT_DTYPE`` array (the last one may be shorter);
        each array is new and belongs to the caller.
    instrument
        Instrument id written to every record.
    chunk_size
        Bytes read per chunk.
    decoder
        Decoder to use, for its counters and quarantine afterwards (its ``instrument``
        wins); a new one when None.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable (the message names the path).
    """
    if decoder is None:
        decoder = LobsterDecoder(instrument)
    yield from _records(path, decoder, batch, chunk_size, reuse=False)


def _seconds(ns: int) -> str:
    """Nanoseconds after midnight as LOBSTER writes them: seconds with nine decimals."""
    return str(Decimal(ns).scaleb(-9).quantize(Decimal("1e-9")))


def file_stats(
    path: str | os.PathLike[str],
    *,
    orderbook: str | os.PathLike[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Parse a whole LOBSTER message file and report what it holds, as a JSON-able dict.

    Keys: ``format`` (``"lobster"``), ``compressed``, ``bytes`` (of the decompressed
    stream), ``lines``, ``messages`` (lines that became records), ``counts`` (by event
    type name), ``errors`` (:meth:`Quarantine.to_dict`), ``bytes_decoded``,
    ``bytes_quarantined``, ``bytes_left`` (stream bytes not turned into records),
    ``first_ns`` / ``last_ns`` (exchange time of the first and last record, None if no
    record) and ``first_time`` / ``last_time`` (the same as seconds-after-midnight strings).
    With ``orderbook``, also ``orderbook``: its ``rows``, ``levels``, whether ``rows``
    equals ``lines`` (``rows_match``), and the ``initial_book`` of row 0 as
    ``{"bids": [[price, size], ...], "asks": [...]}``, best level first.

    Raises
    ------
    FileNotFoundError, OSError
        If a file is missing or unreadable (the message names the path).
    ValueError
        If the orderbook's first row is not a LOBSTER orderbook row.
    """
    decoder = LobsterDecoder()
    first_ns: int | None = None
    last_ns: int | None = None
    for records in _records(path, decoder, DEFAULT_BATCH, chunk_size, reuse=True):
        if first_ns is None:
            first_ns = int(records["exchange_ns"][0])
        last_ns = int(records["exchange_ns"][-1])
    _, compressed = _close(open_lobster(path))
    stats: dict[str, Any] = {
        "format": "lobster",
        "compressed": compressed,
        "bytes": decoder.bytes_read,
        "lines": decoder.lines,
        "messages": decoder.messages,
        "counts": decoder.counts,
        "errors": decoder.quarantine.to_dict(),
        "bytes_decoded": decoder.bytes_decoded,
        "bytes_quarantined": decoder.bytes_quarantined,
        "bytes_left": decoder.bytes_read - decoder.bytes_decoded,
        "first_ns": first_ns,
        "last_ns": last_ns,
        "first_time": None if first_ns is None else _seconds(first_ns),
        "last_time": None if last_ns is None else _seconds(last_ns),
    }
    if orderbook is not None:
        row = read_orderbook_row(orderbook)
        levels = len(row) // 4
        book = initial_book_records(row, levels)
        rows = _count_rows(orderbook, chunk_size)
        stats["orderbook"] = {
            "rows": rows,
            "levels": levels,
            "rows_match": rows == decoder.lines,
            "initial_book": {
                name: [[int(r["price"]), int(r["qty"])] for r in book[book["side"] == side]]
                for name, side in (("bids", Side.BUY), ("asks", Side.SELL))
            },
        }
    return stats


def _close(opened: tuple[BinaryIO, bool]) -> tuple[None, bool]:
    opened[0].close()
    return None, opened[1]


def _count_rows(path: str | os.PathLike[str], chunk_size: int) -> int:
    """Lines in a (possibly gzip) text file, a last line without newline included."""
    stream, _ = open_lobster(path)
    rows = 0
    last = b"\n"
    with stream:
        try:
            while chunk := stream.read(chunk_size):
                rows += chunk.count(b"\n")
                last = chunk[-1:]
        except _READ_ERRORS as exc:
            raise OSError(f"cannot read LOBSTER file {os.fspath(path)!r}: {exc}") from exc
    return rows + (last != b"\n")


def read_orderbook_row(path: str | os.PathLike[str], row: int = 0) -> tuple[int, ...]:
    """Row ``row`` (0-based) of a LOBSTER orderbook file (plain or gzip), as integers.

    Row ``k`` is the book after message line ``k + 1``; see the module docstring.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable (the message names the path).
    IndexError
        If the file has no row ``row``.
    ValueError
        If the row is not a whole number of levels of integers.
    """
    if row < 0:
        raise IndexError(f"orderbook row must be >= 0, not {row}")
    stream, _ = open_lobster(path)
    with stream:
        text = io.TextIOWrapper(stream, encoding="ascii", errors="replace", newline=None)
        try:
            for index, line in enumerate(text):
                if index == row:
                    return _parse_row(line.strip(), path, row)
        except _READ_ERRORS as exc:
            raise OSError(f"cannot read LOBSTER file {os.fspath(path)!r}: {exc}") from exc
    raise IndexError(f"LOBSTER orderbook {os.fspath(path)!r} has no row {row}")


def _parse_row(line: str, path: str | os.PathLike[str], row: int) -> tuple[int, ...]:
    try:
        values = tuple(int(field) for field in line.split(","))
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)!r} row {row} is not integers: {line[:80]!r}") from exc
    if len(values) % 4:
        raise ValueError(
            f"{os.fspath(path)!r} row {row} has {len(values)} columns, not 4 per level"
        )
    return values


def initial_book_records(
    orderbook_row: str | Sequence[int],
    levels: int,
    *,
    instrument: int = 1,
    exchange_ns: int = 0,
) -> np.ndarray:
    """SNAPSHOT records of one LOBSTER orderbook row, to seed a book before its messages.

    Parameters
    ----------
    orderbook_row
        The row as a CSV line or as integers: for each level 1..``levels``, ask price,
        ask size, bid price, bid size (prices in ticks of 1/10,000).
    levels
        Levels in the row; it must have exactly ``4 * levels`` columns.
    instrument, exchange_ns
        Written to every record (LOBSTER rows carry neither).

    Returns
    -------
    numpy.ndarray
        ``MARKET_EVENT_DTYPE`` records, kind SNAPSHOT: the bid levels best first, then the
        ask levels best first, each with ``price``, ``qty`` (aggregate size), ``side`` and
        ``aux`` = its level number (1-based). Empty levels — size 0, or LOBSTER's
        placeholder prices ``EMPTY_ASK_PRICE`` / ``EMPTY_BID_PRICE`` — give no record.
        ``seq`` is 0: these records precede every message line.

    Raises
    ------
    ValueError
        If the row has the wrong number of columns, a non-integer, or a negative size.
    """
    if isinstance(orderbook_row, str):
        try:
            values = [int(field) for field in orderbook_row.strip().split(",")]
        except ValueError as exc:
            raise ValueError(f"not a LOBSTER orderbook row: {orderbook_row[:80]!r}") from exc
    else:
        values = [int(v) for v in orderbook_row]
    if levels < 1 or len(values) != 4 * levels:
        raise ValueError(f"orderbook row has {len(values)} columns, expected 4 × {levels}")
    grid = np.array(values, np.int64).reshape(levels, 4)
    if (grid[:, 1::2] < 0).any():
        raise ValueError("orderbook row has a negative size")
    sides = (
        (Side.BUY, grid[:, 2], grid[:, 3], EMPTY_BID_PRICE),
        (Side.SELL, grid[:, 0], grid[:, 1], EMPTY_ASK_PRICE),
    )
    chunks = []
    for side, prices, sizes, empty in sides:
        (present,) = np.nonzero((sizes > 0) & (prices != empty))
        part = np.zeros(present.shape[0], MARKET_EVENT_DTYPE)
        part["price"] = prices[present]
        part["qty"] = sizes[present]
        part["aux"] = present + 1
        part["side"] = side
        chunks.append(part)
    records = np.concatenate(chunks)
    records["exchange_ns"] = exchange_ns
    records["instrument"] = instrument
    records["kind"] = EventKind.SNAPSHOT
    return records
