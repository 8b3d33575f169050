"""Control code around the FIX decoder: symbol table, streaming decoder, files, statistics.

Everything here may allocate; it prepares the arrays :func:`lowlat.feeds.fix.kernels.decode`
fills, feeds it bytes in chunks of any size (a message split between two chunks decodes
exactly as if it were whole) and turns its counters into JSON-able reports.

Log files often write SOH as ``|``. :class:`FixDecoder` looks at the first FIX header it
sees: if it is ``8=FIX.4.4|``, every ``|`` of the stream is read as SOH from then on. Such
a log is decoded as it was sent, so a ``|`` inside a value (rare: text fields) breaks
that message's framing or checksum and it is quarantined; the bytes before the first
header are taken as they are.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.fix import kernels as k
from lowlat.feeds.quarantine import Quarantine

__all__ = ["FixDecoder", "SymbolTable", "file_stats", "iter_records"]

CHUNK_BYTES = 1 << 20
DEFAULT_BATCH = 65_536
_PIPE_HEADER = b"8=FIX.4.4|"
_DETECT_BYTES = 1 << 16  # how far into the stream to look for the first header
_SOH_HEADER = b"8=FIX.4.4\x01"


class SymbolTable:
    """Symbols ↔ dense instrument ids, in arrays the compiled decoder reads and extends.

    Parameters
    ----------
    symbols
        Symbols to register first, getting ids 0, 1, … in order.
    capacity
        Most symbols the table holds.
    learn
        Whether the decoder may add symbols it has not seen (ids in order of first
        appearance); if not, a message naming an unknown symbol is quarantined as BAD_FIELD.
    """

    def __init__(
        self, symbols: list[str] | None = None, *, capacity: int = 4096, learn: bool = True
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        buckets = 1 << max(capacity * 2 - 1, 1).bit_length()
        self.symbols = np.zeros((capacity, k.SYMBOL_BYTES), np.uint8)
        self.lengths = np.zeros(capacity, np.int32)
        self.index = np.full(buckets, -1, np.int32)
        self.learn = learn
        self._stats = np.zeros(k.N_STATS, np.int64)  # owns the count until a decoder adopts it
        for symbol in symbols or []:
            self.add(symbol)

    def add(self, symbol: str) -> int:
        """Register ``symbol`` (ASCII, at most ``SYMBOL_BYTES`` bytes) and return its id."""
        raw = np.frombuffer(bytearray(symbol.encode("ascii")), np.uint8)
        if not 1 <= raw.size <= k.SYMBOL_BYTES:
            raise ValueError(f"symbol {symbol!r} must have 1 to {k.SYMBOL_BYTES} bytes")
        sid = k._symbol_id(
            raw, 0, raw.size, self.symbols, self.lengths, self.index, self._stats, True
        )
        if sid < 0:
            raise ValueError(f"symbol table full ({self.symbols.shape[0]}): cannot add {symbol!r}")
        return int(sid)

    def __len__(self) -> int:
        return int(self._stats[k.S_SYMBOLS])

    def name(self, instrument: int) -> str:
        """The symbol of an instrument id."""
        if not 0 <= instrument < len(self):
            raise KeyError(instrument)
        return self.symbols[instrument, : self.lengths[instrument]].tobytes().decode("ascii")

    def names(self) -> list[str]:
        """All symbols, in id order."""
        return [self.name(i) for i in range(len(self))]


def _type_name(code: int) -> str:
    second = code % 128
    return chr(code // 128) + (chr(second) if second else "")


class FixDecoder:
    """A FIX 4.4 market-data stream decoder: give it bytes, get record batches.

    One decoder is one stream: its sequence tracking, symbol table and counters span
    every :meth:`feed` call. Bytes of an incomplete message at the end of a chunk are kept
    until the next chunk (or :meth:`finish`) completes them.

    Parameters
    ----------
    batch
        Records per output batch (the preallocated output array).
    symbols
        The symbol table to use and extend; a fresh learning table by default.
    max_sessions
        FIX sessions (SenderCompID, TargetCompID) whose MsgSeqNum is tracked.
    """

    def __init__(
        self,
        *,
        batch: int = DEFAULT_BATCH,
        symbols: SymbolTable | None = None,
        max_sessions: int = 16,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.symbols = symbols if symbols is not None else SymbolTable()
        self.out = np.zeros(batch, MARKET_EVENT_DTYPE)
        self.sessions = np.zeros((max_sessions, k.SESSION_COLUMNS), np.int64)
        self.type_counts = np.zeros(k.TYPE_CODES, np.int64)
        self.stats = np.zeros(k.N_STATS, np.int64)
        self.quarantine = Quarantine.empty()
        self.bytes_in = 0
        self.pipe_delimited: bool | None = None  # decided at the first header seen
        self._pending = np.empty(0, np.uint8)

    def _decode(self, buffer: np.ndarray, final: bool, recv_ns: int) -> tuple[int, int]:
        sym = self.symbols
        self.stats[k.S_SYMBOLS] = len(sym)  # the kernel keeps the symbol count in stats
        consumed, records = k.decode(
            buffer,
            buffer.shape[0],
            final,
            recv_ns,
            self.out,
            sym.symbols,
            sym.lengths,
            sym.index,
            sym.learn,
            self.sessions,
            self.type_counts,
            self.stats,
            *self.quarantine.arrays,
        )
        sym._stats[k.S_SYMBOLS] = self.stats[k.S_SYMBOLS]
        return int(consumed), int(records)

    def feed(
        self,
        chunk: bytes | bytearray | memoryview | np.ndarray,
        *,
        recv_ns: int = 0,
        copy: bool = True,
    ) -> Iterator[np.ndarray]:
        """Decode ``chunk`` (appended to what is pending) and yield record batches.

        With ``copy=False`` each batch is a view of the decoder's output array, valid only
        until the generator resumes (no allocation per batch: for benchmarks and
        consumers that copy into a ring).
        """
        yield from self._run(chunk, final=False, recv_ns=recv_ns, copy=copy)

    def finish(self, *, recv_ns: int = 0, copy: bool = True) -> Iterator[np.ndarray]:
        """End of stream: decode or quarantine (as TRUNCATED) whatever is pending."""
        yield from self._run(b"", final=True, recv_ns=recv_ns, copy=copy)

    def _run(
        self,
        chunk: bytes | bytearray | memoryview | np.ndarray,
        *,
        final: bool,
        recv_ns: int,
        copy: bool,
    ) -> Iterator[np.ndarray]:
        # writable arrays only: one compiled specialization of the kernel, not two
        if isinstance(chunk, np.ndarray):
            new = (
                chunk
                if chunk.flags.writeable and chunk.dtype == np.uint8
                else chunk.astype(np.uint8)
            )
        else:
            new = np.frombuffer(bytearray(chunk), np.uint8)
        self.bytes_in += new.size
        if self._pending.size:
            buffer = np.concatenate((self._pending, new))
        elif self.pipe_delimited and new is chunk:
            buffer = new.copy()
        else:
            buffer = new
        if self.pipe_delimited is None:
            raw = buffer[:_DETECT_BYTES].tobytes()  # the first header decides; no full copy
            pipe, soh = raw.find(_PIPE_HEADER), raw.find(_SOH_HEADER)
            if pipe >= 0 and (soh < 0 or pipe < soh):
                self.pipe_delimited = True
                buffer = buffer.copy() if buffer is chunk else buffer
                buffer[pipe:][buffer[pipe:] == 0x7C] = 1
            elif soh >= 0:
                self.pipe_delimited = False
        elif self.pipe_delimited:
            start = self._pending.size
            buffer[start:][buffer[start:] == 0x7C] = 1
        position = 0
        while True:
            consumed, records = self._decode(buffer[position:], final, recv_ns)
            position += consumed
            if records:
                batch = self.out[:records]
                yield batch.copy() if copy else batch
            if consumed == 0 and records == 0:
                break
        self._pending = buffer[position:].copy()

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet decided (an incomplete message at the end)."""
        return int(self._pending.size)

    def counts(self) -> dict[str, int]:
        """Framed messages by MsgType, e.g. ``{"X": 10, "0": 2}``."""
        codes = np.flatnonzero(self.type_counts)
        return {_type_name(int(c)): int(self.type_counts[c]) for c in codes}

    def report(self) -> dict[str, Any]:
        """JSON-able statistics of everything decoded so far."""
        s = self.stats
        return {
            "format": "fix",
            "bytes": self.bytes_in,
            "messages": int(s[k.S_MESSAGES]),
            "market_messages": int(s[k.S_MARKET_MESSAGES]),
            "counts": self.counts(),
            "entries": int(s[k.S_ENTRIES]),
            "entries_ignored": int(s[k.S_IGNORED_ENTRIES]),
            "bytes_parsed": int(s[k.S_PARSED_BYTES]),
            "bytes_skipped": int(s[k.S_SKIPPED_BYTES]),
            "bytes_quarantined": int(s[k.S_QUARANTINED_BYTES]),
            "bytes_left": self.pending_bytes,
            "symbols": self.symbols.names(),
            "sessions": int(s[k.S_SESSIONS]),
            "untracked_messages": int(s[k.S_UNTRACKED]),
            "delimiter": "|" if self.pipe_delimited else "SOH",
            "errors": self.quarantine.to_dict(),
        }


def _open(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file, decompressed if it starts with the gzip magic bytes."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller's with-block
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb")
    handle.seek(0)
    return handle


def _stream(
    path: str | os.PathLike[str], decoder: FixDecoder, chunk_bytes: int, copy: bool
) -> Iterator[np.ndarray]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"FIX file {os.fspath(path)!r} does not exist")
    with _open(path) as handle:
        while chunk := handle.read(chunk_bytes):
            yield from decoder.feed(chunk, copy=copy)
        yield from decoder.finish(copy=copy)


def iter_records(
    path: str | os.PathLike[str],
    batch: int = DEFAULT_BATCH,
    *,
    symbols: SymbolTable | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[np.ndarray]:
    """Market events of a FIX file (plain or gzip), in batches of at most ``batch``.

    Each batch is a fresh ``MARKET_EVENT_DTYPE`` array. Pass ``symbols`` to fix the
    instrument ids (and read the symbols the decoder learnt afterwards).

    Raises
    ------
    FileNotFoundError
        Naming ``path`` if it does not exist.
    """
    decoder = FixDecoder(batch=batch, symbols=symbols)
    yield from _stream(path, decoder, chunk_bytes, copy=True)


def file_stats(path: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES) -> dict[str, Any]:
    """Decode a FIX file (plain or gzip) and report what it holds, JSON-able.

    Keys: ``format`` ("fix"), ``bytes`` (decompressed), ``messages`` (framed, valid
    checksum), ``counts`` (by MsgType), ``entries`` (records), ``errors``
    (:meth:`Quarantine.to_dict`), ``bytes_left`` (0 once the file is read: an incomplete
    tail is quarantined as TRUNCATED), and the details of :meth:`FixDecoder.report`.

    Raises
    ------
    FileNotFoundError
        Naming ``path`` if it does not exist.
    """
    decoder = FixDecoder()
    for _ in _stream(path, decoder, chunk_bytes, copy=False):
        pass
    return decoder.report()
