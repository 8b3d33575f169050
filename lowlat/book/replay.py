"""Replay a market-data file through the book engine and write one book's levels per message.

Control code behind ``lowlat book replay``. The file is decoded in batches by its feed's
``iter_records``; the compiled :func:`~lowlat.book.kernels.replay_rows` applies each batch
and copies the chosen instrument's top ``depth`` levels after every message the book
consumed (after every message line for LOBSTER, whose own orderbook files have one row
per message line, halts and hidden executions included).

Output, CSV:

* ``lobster`` — exactly LOBSTER's orderbook-file layout, no header: for levels 1..N ask
  price, ask size, bid price, bid size, integers (prices × 10,000), empty levels as
  LOBSTER writes them (price 9999999999 / -9999999999, size 0).
* other formats — a header line, then the message's sequence number (ITCH: message number
  in the file; FIX: MsgSeqNum; depth streams: the final update id ``u``, or a snapshot's
  ``lastUpdateId``), then the same level columns as decimals in the venue's units; empty
  levels are empty cells.

A message is the records between two message ends: every ITCH and LOBSTER record; the
record flagged last-in-message for FIX; the last record of a run with one sequence
number for depth streams (a diff's levels share its ``u``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from lowlat.book import kernels
from lowlat.book.books import OrderBooks
from lowlat.book.config import BookConfig
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind

__all__ = ["FORMATS", "ReplaySummary", "replay_file"]

FORMATS = ("itch50", "lobster", "fix", "binance-capture")
_EMPTY_ASK = 9_999_999_999  # LOBSTER's placeholders (lowlat.feeds.lobster.EMPTY_*_PRICE)
_EMPTY_BID = -9_999_999_999
_FIX_LAST_IN_MESSAGE = 2  # lowlat.feeds.fix.FLAG_LAST_IN_MESSAGE
_BOOK_KINDS = (
    EventKind.ADD,
    EventKind.EXECUTE,
    EventKind.CANCEL,
    EventKind.DELETE,
    EventKind.REPLACE,
    EventKind.QUOTE,
    EventKind.SNAPSHOT,
)


@dataclass(frozen=True)
class ReplaySummary:
    """What a replay did: rows written, for which instrument, and the engine's counters."""

    instrument: int
    symbol: str
    records: int
    rows: int
    counters: dict[str, int]
    integrity: dict[str, int]


class _Source:
    """Records of one file plus how to name and scale its instruments."""

    def __init__(
        self, path: str | os.PathLike[str], fmt: str, want: str | None, batch: int
    ) -> None:
        self.fmt = fmt
        self.want = want
        self.price_decimals = 4
        self.qty_decimals = 0
        if fmt == "itch50":
            from lowlat.feeds.itch import ItchDecoder, detect_framing, iter_records, open_itch

            stream, _ = open_itch(path)
            with stream:
                framing = detect_framing(stream.read(1 << 16))
            self._itch = ItchDecoder(framing)
            self.batches = iter_records(path, batch, decoder=self._itch)
        elif fmt == "lobster":
            from lowlat.feeds.lobster import iter_records

            self.batches = iter_records(path, batch, instrument=1)
            self.want = "1"  # a LOBSTER file holds one instrument
        elif fmt == "fix":
            from lowlat.feeds.fix import SymbolTable, iter_records

            self._fix = SymbolTable()
            if want is not None and not want.isdigit():
                self._fix.add(want)
            self.batches = iter_records(path, batch, symbols=self._fix)
        else:
            from lowlat.feeds.depth.capture import iter_records
            from lowlat.feeds.depth.decode import DEFAULT_PRICE_SCALE, DEFAULT_QTY_SCALE

            self.price_decimals = len(str(DEFAULT_PRICE_SCALE)) - 1
            self.qty_decimals = len(str(DEFAULT_QTY_SCALE)) - 1
            symbols = None if want is None or want.isdigit() else {want: 0}
            self._depth_symbols = dict(symbols or {})
            self.batches = iter_records(path, batch, symbols=symbols)

    def name(self, instrument: int) -> str:
        """The instrument's symbol where the feed names it, else its id."""
        if self.fmt == "itch50":
            return self._itch.symbol(instrument) or str(instrument)
        if self.fmt == "fix" and instrument < len(self._fix):
            return self._fix.name(instrument)
        if self.fmt == "binance-capture":
            for symbol, ident in self._depth_symbols.items():
                if ident == instrument:
                    return symbol
        return str(instrument)

    def resolve(self, batch: np.ndarray) -> int | None:
        """The wanted instrument's id once ``batch`` (already decoded) names it."""
        if self.want is not None and self.want.lstrip("-").isdigit():
            return int(self.want)
        if self.want is None:
            book = np.isin(batch["kind"], _BOOK_KINDS)
            return int(batch["instrument"][np.argmax(book)]) if book.any() else None
        if self.fmt == "itch50":
            for locate in np.unique(batch["instrument"]):
                if self._itch.symbol(int(locate)) == self.want:
                    return int(locate)
            return None
        return 0 if self.fmt in ("fix", "binance-capture") else None

    def message_ends(self, batch: np.ndarray, last: bool) -> np.ndarray:
        """Where messages end in ``batch``; ``last`` says no record follows it."""
        if self.fmt in ("itch50", "lobster"):
            return np.ones(len(batch), np.uint8)
        if self.fmt == "fix":
            return (batch["flags"] & _FIX_LAST_IN_MESSAGE != 0).astype(np.uint8)
        ends = np.ones(len(batch), np.uint8)
        if len(batch) > 1:
            same = (batch["seq"][1:] == batch["seq"][:-1]) & (
                batch["instrument"][1:] == batch["instrument"][:-1]
            )
            ends[:-1] = ~same
        if not last and len(batch):
            ends[-1] = 0
        return ends


def _with_lookahead(batches: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """Each batch with "is it the last one", holding back an incomplete trailing message."""
    previous = None
    for batch in batches:
        if previous is not None:
            yield previous, False
        previous = batch
    if previous is not None:
        yield previous, True


def _decimal(value: int, decimals: int) -> str:
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def _write_rows(
    out: TextIO, rows: np.ndarray, seqs: np.ndarray, source: _Source, lobster: bool
) -> None:
    if lobster:
        out.writelines(",".join(map(str, row)) + "\n" for row in rows.tolist())
        return
    pd, qd = source.price_decimals, source.qty_decimals
    for seq, row in zip(seqs.tolist(), rows.tolist(), strict=True):
        cells = [str(seq)]
        for k in range(0, len(row), 4):
            ask_price, ask_size, bid_price, bid_size = row[k : k + 4]
            cells += [_decimal(ask_price, pd), _decimal(ask_size, qd)] if ask_size else ["", ""]
            cells += [_decimal(bid_price, pd), _decimal(bid_size, qd)] if bid_size else ["", ""]
        out.write(",".join(cells) + "\n")


def replay_file(
    path: str | os.PathLike[str],
    fmt: str,
    depth: int,
    out: TextIO,
    *,
    instrument: str | None = None,
    initial_book: np.ndarray | None = None,
    skip: int = 0,
    config: BookConfig | None = None,
    batch: int = 65_536,
) -> ReplaySummary:
    """Replay ``path`` through a book and write the instrument's levels after each message.

    Parameters
    ----------
    path
        The market-data file (plain or gzip).
    fmt
        One of :data:`FORMATS`.
    depth
        Levels per side written per row.
    out
        Where the CSV goes.
    instrument
        Symbol or numeric id of the book to write; None takes the first instrument with
        a book event (every LOBSTER file holds one instrument).
    initial_book
        ``MARKET_EVENT_DTYPE`` records applied before the first message (LOBSTER: the
        SNAPSHOT records of an orderbook row); they write no row.
    skip
        Message records to skip at the start (their effect is in ``initial_book``);
        LOBSTER: message lines.
    config
        Book sizes; by default enough levels for ``depth`` and 1 M orders.
    batch
        Records decoded per batch (the output does not depend on it).

    Raises
    ------
    ValueError
        On an unknown format, a depth below 1, or an instrument the file never names.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    books = OrderBooks(config or BookConfig(levels=max(1024, depth)))
    source = _Source(path, fmt, instrument, batch)
    lobster = fmt == "lobster"
    empty_ask, empty_bid = (_EMPTY_ASK, _EMPTY_BID) if lobster else (0, 0)
    if not lobster:
        out.write(
            "seq,"
            + ",".join(
                f"ask_price_{k},ask_size_{k},bid_price_{k},bid_size_{k}"
                for k in range(1, depth + 1)
            )
            + "\n"
        )
    if initial_book is not None and len(initial_book):
        books.apply(initial_book)
    touched = np.zeros(1, np.int64)
    target: int | None = None
    records = rows_total = 0
    held = np.zeros(0, MARKET_EVENT_DTYPE)
    for batch, last in _with_lookahead(source.batches):
        if skip:
            cut = min(skip, len(batch))
            batch, skip = batch[cut:], skip - cut
        batch = np.concatenate([held, batch]) if len(held) else batch
        if target is None:
            target = source.resolve(batch)
            if target is None:
                books.apply(batch)
                records += len(batch)
                held = batch[:0]
                continue
        ends = source.message_ends(batch, last)
        complete = len(batch) if last else int(np.flatnonzero(ends)[-1] + 1) if ends.any() else 0
        ready, held = batch[:complete], batch[complete:]
        rows = np.empty((int(ends[:complete].sum()), 4 * depth), np.int64)
        seqs = np.empty(len(rows), np.int64)
        written = kernels.replay_rows(
            books.state,
            ready,
            len(ready),
            ends[:complete],
            target,
            lobster,
            touched,
            rows,
            seqs,
            empty_ask,
            empty_bid,
        )
        _write_rows(out, rows[:written], seqs[:written], source, lobster)
        records += len(ready)
        rows_total += written
    books.finish()
    if target is None:
        wanted = "any book event" if instrument is None else f"instrument {instrument!r}"
        raise ValueError(f"{os.fspath(path)!r} has no records of {wanted}")
    return ReplaySummary(
        instrument=target,
        symbol=source.name(target),
        records=records,
        rows=rows_total,
        counters=books.counters(),
        integrity=books.integrity(),
    )
