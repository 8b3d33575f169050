"""Capture files of a Binance session: receive time and raw JSON, one message per line.

A line is ``<receive time, ns since the epoch> <JSON as the venue sent it>`` and a
newline; the file may be gzip (recognised by its magic bytes when read). Stream messages
are written verbatim. A REST depth snapshot body does not name its symbol, so
:meth:`CaptureWriter.write_snapshot` wraps it, byte for byte, in the combined-stream envelope
``{"stream":"<symbol>@depthSnapshot","data":<body>}`` that the decoder unwraps; bare bodies
are still read, attributed to ``snapshot_symbol`` or the capture's only symbol. The only
change ever made to a message is turning CR/LF into spaces (legal only as JSON whitespace)
so that a pretty-printed body stays on one line.

Reading replays the capture through :class:`~lowlat.feeds.depth.decode.DepthDecoder` and
:class:`~lowlat.feeds.depth.sync.DepthFeed`, exactly as the live client would have: bad
lines (no space, a time that is not an integer, bad JSON) are quarantined as BAD_FIELD.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from lowlat.feeds.depth.decode import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_QTY_SCALE,
    DepthDecoder,
    MessageKind,
    SymbolSpec,
)
from lowlat.feeds.depth.sync import DEFAULT_MAX_BUFFER, DepthFeed
from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.streams import open_feed_file

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CHUNK_LINES",
    "SNAPSHOT_STREAM",
    "CaptureWriter",
    "file_stats",
    "iter_lines",
    "iter_records",
    "snapshot_line",
]

DEFAULT_BATCH = 65_536  # records per yielded batch
DEFAULT_CHUNK_LINES = 4_096  # lines decoded per call
SNAPSHOT_STREAM = "{symbol}@depthSnapshot"
_MAX_TIME_DIGITS = 19  # int64 nanoseconds
_READ_ERRORS = (OSError, EOFError, zlib.error)


def _one_line(raw: bytes | str) -> bytes:
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    return data.replace(b"\r", b" ").replace(b"\n", b" ")


def snapshot_line(symbol: str, body: bytes | str) -> bytes:
    """A REST snapshot ``body`` wrapped in the envelope that names its ``symbol``."""
    stream = SNAPSHOT_STREAM.format(symbol=symbol.lower()).encode()
    return b'{"stream":"' + stream + b'","data":' + _one_line(body) + b"}"


class CaptureWriter:
    """Append messages to a capture file (gzip when ``compress``, default: ``.gz`` name).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], *, compress: bool | None = None) -> None:
        self.path = os.fspath(path)
        if compress is None:
            compress = self.path.endswith(".gz")
        self.compressed = compress
        self._file: BinaryIO = (
            gzip.open(self.path, "wb") if compress else open(self.path, "wb")  # noqa: SIM115
        )  # type: ignore[assignment]
        self.messages = 0

    def write(self, raw: bytes | str, recv_ns: int | None = None) -> None:
        """Write one stream message as received (``recv_ns`` defaults to now)."""
        stamp = time.time_ns() if recv_ns is None else int(recv_ns)
        self._file.write(b"%d %s\n" % (stamp, _one_line(raw)))
        self.messages += 1

    def write_snapshot(self, symbol: str, body: bytes | str, recv_ns: int | None = None) -> None:
        """Write a REST depth snapshot ``body`` of ``symbol`` (see the module docstring)."""
        self.write(snapshot_line(symbol, body), recv_ns)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def iter_lines(path: str | os.PathLike[str], decoder: DepthDecoder) -> Iterator[tuple[int, bytes]]:
    """``(recv_ns, raw JSON)`` of each well-formed line; bad lines go to ``decoder.quarantine``.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable (the message names the path).
    """
    stream, _ = open_feed_file(path, "Binance capture")
    with stream:
        try:
            for line in stream:
                body = line.rstrip(b"\r\n")
                space = body.find(b" ")
                stamp = body[:space]
                if space <= 0 or len(stamp) > _MAX_TIME_DIGITS or not stamp.isdigit():
                    decoder.reject(body, ErrorKind.BAD_FIELD)
                    continue
                yield int(stamp), body[space + 1 :]
        except _READ_ERRORS as exc:  # corrupt or cut-off gzip
            raise OSError(f"cannot read Binance capture {os.fspath(path)!r}: {exc}") from exc


class _Replay:
    """Decoder, feed and counters of one pass over a capture."""

    def __init__(
        self,
        symbols: Mapping[str, int | SymbolSpec] | None,
        price_scale: int,
        qty_scale: int,
        max_buffer: int,
    ) -> None:
        self.decoder = DepthDecoder(symbols, price_scale=price_scale, qty_scale=qty_scale)
        self.feed = DepthFeed(self.decoder.quarantine, max_buffer=max_buffer)
        self.lines = 0

    def chunks(
        self, path: str | os.PathLike[str], chunk_lines: int, snapshot_symbol: str | None
    ) -> Iterator[np.ndarray]:
        stamps: list[int] = []
        raws: list[bytes] = []
        for stamp, raw in iter_lines(path, self.decoder):
            stamps.append(stamp)
            raws.append(raw)
            if len(raws) >= chunk_lines:
                yield self._decode(raws, stamps, snapshot_symbol)
                stamps, raws = [], []
        yield self._decode(raws, stamps, snapshot_symbol)

    def _decode(
        self, raws: list[bytes], stamps: list[int], snapshot_symbol: str | None
    ) -> np.ndarray:
        self.lines += len(raws)
        decoded = self.decoder.decode(raws, stamps, snapshot_symbol=snapshot_symbol)
        self.feed.process(decoded)
        return self.feed.take()


def _rebatch(chunks: Iterator[np.ndarray], batch: int) -> Iterator[np.ndarray]:
    held: list[np.ndarray] = []
    size = 0
    for chunk in chunks:
        if chunk.shape[0] == 0:
            continue
        held.append(chunk)
        size += chunk.shape[0]
        if size >= batch:
            joined = np.concatenate(held)
            cut = size - size % batch
            yield from (joined[i : i + batch].copy() for i in range(0, cut, batch))
            held = [joined[cut:].copy()] if cut < size else []
            size -= cut
    if size:
        yield np.concatenate(held)


def iter_records(
    path: str | os.PathLike[str],
    batch: int = DEFAULT_BATCH,
    *,
    symbols: Mapping[str, int | SymbolSpec] | None = None,
    price_scale: int = DEFAULT_PRICE_SCALE,
    qty_scale: int = DEFAULT_QTY_SCALE,
    snapshot_symbol: str | None = None,
    max_buffer: int = DEFAULT_MAX_BUFFER,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
) -> Iterator[np.ndarray]:
    """Replay a capture (plain or gzip) through decode and sync, in record batches.

    Parameters
    ----------
    path
        The capture file.
    batch
        Records per yielded ``MARKET_EVENT_DTYPE`` array (the last one may be shorter);
        each array is new and belongs to the caller.
    symbols, price_scale, qty_scale
        Symbol table and default scales (see :class:`DepthDecoder`); None numbers the
        symbols in order of appearance.
    snapshot_symbol
        Symbol of bare (unwrapped) REST snapshot bodies.
    max_buffer
        Diffs buffered per symbol while waiting for a snapshot.
    chunk_lines
        Lines decoded per call.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable.
    ValueError
        If ``batch`` is below 1 or a scale is not a power of ten.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    replay = _Replay(symbols, price_scale, qty_scale, max_buffer)
    yield from _rebatch(replay.chunks(path, chunk_lines, snapshot_symbol), batch)


def file_stats(
    path: str | os.PathLike[str],
    *,
    symbols: Mapping[str, int | SymbolSpec] | None = None,
    price_scale: int = DEFAULT_PRICE_SCALE,
    qty_scale: int = DEFAULT_QTY_SCALE,
    snapshot_symbol: str | None = None,
) -> dict[str, Any]:
    """Replay a whole capture and report what it holds, as a JSON-able dict.

    Keys: ``format`` (``"binance-capture"``), ``compressed``, ``lines`` (well-formed),
    ``messages`` (by kind name: depth, snapshot, book_ticker, trade, rejected),
    ``records`` (delivered after sequencing), ``symbols`` (name to instrument id),
    ``errors`` (:meth:`Quarantine.to_dict`), ``resyncs``, ``stale``, ``duplicates``,
    ``gaps``, ``buffered`` (diffs still waiting for a snapshot at the end) and
    ``first_ns`` / ``last_ns`` (receive times of the first and last record, None if none).
    """
    replay = _Replay(symbols, price_scale, qty_scale, DEFAULT_MAX_BUFFER)
    records = 0
    first_ns: int | None = None
    last_ns: int | None = None
    for chunk in replay.chunks(path, DEFAULT_CHUNK_LINES, snapshot_symbol):
        if chunk.shape[0] == 0:
            continue
        records += chunk.shape[0]
        if first_ns is None:
            first_ns = int(chunk["recv_ns"][0])
        last_ns = int(chunk["recv_ns"][-1])
    stream, compressed = open_feed_file(path, "Binance capture")
    stream.close()
    counts = replay.decoder.quarantine.counts
    return {
        "format": "binance-capture",
        "compressed": compressed,
        "lines": replay.lines,
        "messages": {k.name.lower(): int(replay.decoder.messages[k]) for k in MessageKind},
        "records": records,
        "symbols": {name: spec.instrument for name, spec in replay.decoder.specs.items()},
        "errors": replay.decoder.quarantine.to_dict(),
        "resyncs": replay.feed.resyncs,
        "stale": int(counts[ErrorKind.STALE]),
        "duplicates": int(counts[ErrorKind.DUPLICATE]),
        "gaps": int(counts[ErrorKind.SEQUENCE_GAP]),
        "buffered": sum(s.buffered for s in replay.feed.syncs.values()),
        "first_ns": first_ns,
        "last_ns": last_ns,
    }
