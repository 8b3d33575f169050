"""ITCH 5.0 files: framing detection, streaming decode in chunks, per-file statistics.

This is control code: it opens files (plain or gzip, recognised by their magic bytes),
reads them in fixed-size chunks into one preallocated buffer and hands the bytes to the
compiled framing loops in :mod:`.kernels`, carrying a message split across two chunks
over to the next call. A file is never loaded whole, and every byte ends up either in a
record or in the decoder's :class:`~lowlat.feeds.quarantine.Quarantine`.

Two framings exist in the wild: NASDAQ's BinaryFILE puts a 2-byte big-endian length
before each message ("length-prefixed"); some published test files have that prefix but
leave it zero, so messages can only be framed by the fixed length of their type
("type-framed"). :func:`detect_framing` tells them apart from the first messages.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from lowlat.core.records import EventKind
from lowlat.feeds.itch import kernels
from lowlat.feeds.itch.spec import MESSAGE_LENGTHS, MSG_LEN, PREFIX_BYTES
from lowlat.feeds.quarantine import Quarantine
from lowlat.feeds.streams import GZIP_MAGIC, decode_chunks, open_feed_file

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_CHUNK_BYTES",
    "FRAMINGS",
    "LENGTH_PREFIXED",
    "TYPE_FRAMED",
    "ItchDecoder",
    "detect_framing",
    "file_stats",
    "iter_records",
    "iter_stream",
    "open_itch",
]

LENGTH_PREFIXED = "length-prefixed"
TYPE_FRAMED = "type-framed"
FRAMINGS = (LENGTH_PREFIXED, TYPE_FRAMED)
DEFAULT_CHUNK_BYTES = 1 << 21  # 2 MiB per read
DEFAULT_BATCH = 65_536  # records per yielded batch
_MAX_CARRY = PREFIX_BYTES + 0xFFFF  # longest incomplete message a chunk can end with
_DETECT_BYTES = 1 << 16
_DETECT_MESSAGES = 16


class ItchDecoder:
    """Decoding state of one ITCH stream: counters, symbol table, quarantine, position.

    All arrays are allocated here, once; the compiled framing loop fills them.

    Parameters
    ----------
    framing
        ``"length-prefixed"`` or ``"type-framed"``.

    Attributes
    ----------
    type_counts
        ``int64[256]``: decoded messages by type byte.
    symbols
        ``uint8[65536, 8]``: stock symbol by locate code, from stock directory messages.
    quarantine
        Rejected messages by :class:`~lowlat.feeds.quarantine.ErrorKind`, with samples.
    state
        ``int64[N_STATE]``: stream offset, sequence and byte counts (``kernels.ST_*``).
    bytes_read
        Stream bytes read by :func:`iter_stream` (decompressed), to check the counts.
    """

    def __init__(self, framing: str = LENGTH_PREFIXED) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"unknown ITCH framing {framing!r}; choose from {FRAMINGS}")
        self.framing = framing
        self.kernel = (
            kernels.decode_length_prefixed
            if framing == LENGTH_PREFIXED
            else kernels.decode_type_framed
        )
        self.type_counts = np.zeros(256, np.int64)
        self.symbols = np.zeros((65_536, 8), np.uint8)
        self.quarantine = Quarantine.empty()
        self.state = np.zeros(kernels.N_STATE, np.int64)
        self.bytes_read = 0  # counted by the reader loop, independently of the kernels

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
        """Decode ``buf[pos:end]`` into ``out[n:]``; return the new ``(pos, n)``.

        With ``final`` a trailing partial message is quarantined as TRUNCATED; without
        it the caller keeps ``buf[pos:end]`` and passes it again with more bytes, after
        adding the dropped prefix length to ``state[ST_BASE]``.
        """
        stop = buf.shape[0] if end is None else end
        counts, samples, meta = self.quarantine.arrays
        new_pos, new_n = self.kernel(
            buf, pos, stop, final, out, n, self.type_counts, self.symbols, counts, samples,
            meta, self.state,
        )  # fmt: skip
        return int(new_pos), int(new_n)

    @property
    def messages(self) -> int:
        """Messages decoded so far (the last record's ``seq``)."""
        return int(self.state[kernels.ST_SEQ])

    @property
    def bytes_decoded(self) -> int:
        """Stream bytes, prefixes included, that became records."""
        return int(self.state[kernels.ST_DECODED_BYTES])

    @property
    def bytes_quarantined(self) -> int:
        """Stream bytes handed to the quarantine."""
        return int(self.state[kernels.ST_QUARANTINED_BYTES])

    @property
    def counts(self) -> dict[str, int]:
        """Decoded messages by type letter, types never seen left out."""
        return {
            letter: int(self.type_counts[ord(letter)])
            for letter in MESSAGE_LENGTHS
            if self.type_counts[ord(letter)]
        }

    def symbol(self, locate: int) -> str:
        """The stock symbol of ``locate`` from the stock directory, or ``""`` if unseen."""
        return bytes(self.symbols[locate]).decode("ascii", "replace").strip(" \x00")


def detect_framing(sample: bytes | bytearray | memoryview | np.ndarray) -> str:
    """``"length-prefixed"`` if the first messages' prefixes equal their types' lengths.

    Up to 16 messages from the start of ``sample`` are walked by their prefixes; if all of
    them (or all that fit in the sample) agree, the stream is length-prefixed, otherwise
    type-framed. An empty sample counts as length-prefixed.
    """
    data = np.frombuffer(sample, np.uint8) if not isinstance(sample, np.ndarray) else sample
    pos = 0
    for _ in range(_DETECT_MESSAGES):
        if pos + 3 > data.shape[0]:
            break
        length = (int(data[pos]) << 8) | int(data[pos + 1])
        if length == 0 or MSG_LEN[data[pos + 2]] != length:
            return TYPE_FRAMED
        pos += PREFIX_BYTES + length
    return LENGTH_PREFIXED


def open_itch(path: str | os.PathLike[str]) -> tuple[BinaryIO, bool]:
    """Open a ITCH file for reading, decompressing gzip; return ``(stream, compressed)``."""
    return open_feed_file(path, "ITCH")


def iter_stream(
    reader: BinaryIO,
    decoder: ItchDecoder,
    *,
    batch: int = DEFAULT_BATCH,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
    reuse: bool = False,
) -> Iterator[np.ndarray]:
    """Decode everything ``reader`` yields, ``chunk_size`` bytes at a time, into batches.

    Every batch but the last holds ``batch`` records. With ``reuse`` one output array is
    refilled for every batch (each yielded array is valid only until the next one);
    otherwise every batch is a new array the caller may keep.
    """
    return decode_chunks(
        reader, decoder, batch=batch, chunk_size=chunk_size, carry=_MAX_CARRY, reuse=reuse
    )


def _resolve_framing(path: str | os.PathLike[str], framing: str | None) -> str:
    """``framing`` if given (checked), else what the start of the file looks like."""
    if framing is not None:
        if framing not in FRAMINGS:
            raise ValueError(f"unknown ITCH framing {framing!r}; choose from {FRAMINGS}")
        return framing
    stream, _ = open_itch(path)
    with stream:
        sample = _read(stream, path, _DETECT_BYTES)
    return detect_framing(sample)


def _read(stream: BinaryIO, path: str | os.PathLike[str], size: int) -> bytes:
    try:
        return stream.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise OSError(f"cannot read ITCH file {os.fspath(path)!r}: {exc}") from exc


def _records(
    path: str | os.PathLike[str],
    decoder: ItchDecoder,
    batch: int,
    chunk_size: int,
    reuse: bool,
) -> Iterator[np.ndarray]:
    stream, _ = open_itch(path)
    with stream:
        try:
            yield from iter_stream(stream, decoder, batch=batch, chunk_size=chunk_size, reuse=reuse)
        except (OSError, EOFError, zlib.error) as exc:  # corrupt or cut-off gzip
            raise OSError(f"cannot read ITCH file {os.fspath(path)!r}: {exc}") from exc


def iter_records(
    path: str | os.PathLike[str],
    batch: int = DEFAULT_BATCH,
    *,
    framing: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
    decoder: ItchDecoder | None = None,
) -> Iterator[np.ndarray]:
    """Stream the records of an ITCH 5.0 file (plain or gzip) in batches.

    Parameters
    ----------
    path
        The file.
    batch
        Records per yielded ``MARKET_EVENT_DTYPE`` array (the last one may be shorter);
        each array is new and belongs to the caller.
    framing
        ``"length-prefixed"`` or ``"type-framed"``; detected from the file when None.
    chunk_size
        Bytes read per chunk.
    decoder
        Decoder to use, for its counters, symbols and quarantine afterwards; a new one
        (which must match ``framing``) when None.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable (the message names the path).
    """
    if decoder is None:
        decoder = ItchDecoder(_resolve_framing(path, framing))
    yield from _records(path, decoder, batch, chunk_size, reuse=False)


def file_stats(
    path: str | os.PathLike[str],
    framing: str | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Decode a whole ITCH 5.0 file and report what it holds, as a JSON-able dict.

    Keys: ``format`` (``"itch50"``), ``framing``, ``compressed``, ``bytes`` (of the
    decompressed stream), ``messages``, ``counts`` (by type letter), ``instruments``
    (symbol → locate, messages, orders added), ``errors``
    (:meth:`Quarantine.to_dict`), ``bytes_decoded``, ``bytes_quarantined`` and
    ``bytes_left`` (stream bytes not turned into records, = quarantined bytes).

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable (the message names the path).
    """
    chosen = _resolve_framing(path, framing)
    compressed = _is_gzip(path)
    decoder = ItchDecoder(chosen)
    messages = np.zeros(65_536, np.int64)
    orders = np.zeros(65_536, np.int64)
    for records in _records(path, decoder, DEFAULT_BATCH, chunk_size, reuse=True):
        instrument = records["instrument"]
        messages += np.bincount(instrument, minlength=65_536)
        orders += np.bincount(instrument[records["kind"] == EventKind.ADD], minlength=65_536)
    instruments = {}
    for locate in np.flatnonzero(messages[1:]) + 1:
        name = decoder.symbol(int(locate)) or f"locate {int(locate)}"
        instruments[name] = {
            "locate": int(locate),
            "messages": int(messages[locate]),
            "orders": int(orders[locate]),
        }
    return {
        "format": "itch50",
        "framing": chosen,
        "compressed": compressed,
        "bytes": decoder.bytes_read,
        "messages": decoder.messages,
        "counts": decoder.counts,
        "instruments": instruments,
        "errors": decoder.quarantine.to_dict(),
        "bytes_decoded": decoder.bytes_decoded,
        "bytes_quarantined": decoder.bytes_quarantined,
        "bytes_left": decoder.bytes_read - decoder.bytes_decoded,
    }


def _is_gzip(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == GZIP_MAGIC
