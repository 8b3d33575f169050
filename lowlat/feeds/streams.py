"""Reading feed files: plain or gzip, decoded chunk by chunk so a file never sits in memory.

Control code shared by the file readers of every protocol. A decoder plugs in through
:class:`ChunkDecoder`: it decodes ``buf[pos:end]`` into records, stops at an incomplete
message unless told the stream is final, and keeps the stream offset of ``buf[0]`` in
``state[0]`` so that quarantine samples carry true file offsets.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE

__all__ = ["GZIP_MAGIC", "ChunkDecoder", "decode_chunks", "open_feed_file"]

GZIP_MAGIC = b"\x1f\x8b"
STATE_BASE = 0  # index in ``ChunkDecoder.state`` of the stream offset of buf[0]


class ChunkDecoder(Protocol):
    """What :func:`decode_chunks` needs from a protocol decoder."""

    state: np.ndarray
    bytes_read: int

    def decode(
        self, buf: np.ndarray, out: np.ndarray, *, pos: int, end: int, n: int, final: bool
    ) -> tuple[int, int]:
        """Decode ``buf[pos:end]`` into ``out[n:]``; return the new ``(pos, n)``."""
        ...


def open_feed_file(path: str | os.PathLike[str], protocol: str) -> tuple[BinaryIO, bool]:
    """Open ``path`` for reading, decompressing gzip; return ``(stream, compressed)``.

    Raises
    ------
    FileNotFoundError, OSError
        If the file is missing or unreadable; the message names the protocol and path.
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{protocol} file not found: {os.fspath(path)!r}") from exc
    try:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
    except OSError as exc:
        raw.close()
        raise OSError(f"cannot read {protocol} file {os.fspath(path)!r}: {exc}") from exc
    if compressed:
        return gzip.GzipFile(fileobj=raw, mode="rb"), True  # type: ignore[return-value]
    return raw, False


def decode_chunks(
    reader: BinaryIO,
    decoder: ChunkDecoder,
    *,
    batch: int,
    chunk_size: int,
    carry: int,
    reuse: bool = False,
) -> Iterator[np.ndarray]:
    """Decode everything ``reader`` yields, ``chunk_size`` bytes at a time, into batches.

    ``carry`` is the longest incomplete message a chunk can end with (it is kept and
    completed by the next chunk). Every batch but the last holds ``batch`` records. With
    ``reuse`` one output array is refilled for every batch (each yielded array is valid
    only until the next one); otherwise every batch is a new array the caller may keep.
    """
    if batch < 1 or chunk_size < 1:
        raise ValueError("batch and chunk_size must be at least 1")
    buf = np.empty(chunk_size + carry, np.uint8)
    window = memoryview(buf)
    out = np.empty(batch, MARKET_EVENT_DTYPE)
    pos = end = n = 0
    final = False
    while not final:
        if pos:  # keep the undecoded tail (a message split across chunks) at the front
            keep = end - pos
            buf[:keep] = buf[pos:end]
            decoder.state[STATE_BASE] += pos
            pos, end = 0, keep
        got = reader.readinto(window[end : end + chunk_size])
        if got:
            end += got
            decoder.bytes_read += got
        else:
            final = True
        while True:
            pos, n = decoder.decode(buf, out, pos=pos, end=end, n=n, final=final)
            if n < batch:
                break
            yield out
            out = out if reuse else np.empty(batch, MARKET_EVENT_DTYPE)
            n = 0
    if n:
        yield out[:n]
