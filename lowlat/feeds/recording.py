"""Recording any feed's raw bytes with receive timestamps, and replaying them.

A recording keeps exactly what a feed delivered, chunk by chunk, before any decoding, so
that a session can be decoded again later (after a decoder fix, by another decoder) and
replayed deterministically: as fast as possible, or paced at the recorded speed. The
format knows nothing of the protocol; the header only names it. Control code: nothing here
runs on the hot path except :meth:`Recorder.write` (one ``crc32`` and one buffer append).

File format (version 1), all integers little-endian; the whole file is optionally one
gzip stream (detected by its magic number when read, chosen by a ``.gz`` name or
``compress=True`` when written)::

    header := magic "LLREC1"          6 bytes
              version         u16     1
              started_ns      i64     wall clock when recording started, ns since the Unix
                                      epoch (control-plane metadata, never used to pace)
              protocol_len    u16     1 .. 256
              source_len      u32     0 .. 65,536
              protocol        utf-8   e.g. "itch50", "fix", "lobster", "binance-capture"
              source          utf-8   free text: where the bytes came from
              header_crc      u32     CRC-32 of every header byte before it
    record := recv_ns         i64     receive time in ns, from the recorder's clock:
                                      ``CLOCK_MONOTONIC`` by convention (the default of
                                      :meth:`Recorder.tap`); replay uses differences only
              length          u32     payload bytes, at most ``MAX_RECORD_BYTES``
              crc             u32     CRC-32 of recv_ns, length and the payload, so that a
                                      damaged timestamp is detected like damaged bytes
              payload         bytes

A crash while writing leaves at worst a partial last record: the reader reports it
(:attr:`Recording.truncated_records`, :attr:`Recording.truncated_bytes`) and ignores it.
Damage anywhere else (a CRC mismatch, an impossible length, a broken gzip stream) raises
:class:`RecordingError` naming the file and the offset (in the decompressed stream for a
gzip file), because silently skipping data would make a replay differ from the session it
claims to reproduce.
"""

from __future__ import annotations

import math
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NoReturn

import numpy as np

from lowlat.core.clock import NS_PER_SECOND, monotonic_ns
from lowlat.feeds.streams import GZIP_MAGIC
from lowlat.feeds.transport.replay import BlockHandler

__all__ = [
    "MAGIC",
    "MAX_RECORD_BYTES",
    "VERSION",
    "Recorder",
    "Recording",
    "RecordingError",
    "replay",
]

MAGIC = b"LLREC1"
VERSION = 1
#: Longest payload of one record: far above any packet or read chunk, so that a longer
#: length can only be damage.
MAX_RECORD_BYTES = 1 << 26
MAX_PROTOCOL_BYTES = 256
MAX_SOURCE_BYTES = 1 << 16

_HEAD = struct.Struct("<6sHqHI")  # magic, version, started_ns, protocol_len, source_len
_CRC = struct.Struct("<I")
_RECORD = struct.Struct("<qII")  # recv_ns, length, crc
_STAMP = struct.Struct("<qI")  # the part of a record head its crc covers
_FLUSH_BYTES = 1 << 16  # Recorder buffer size
_READ_BYTES = 1 << 16  # Recording read size (compressed bytes for gzip files)
_GZIP_LEVEL = 1  # fastest: recording must keep up with the feed; ratio matters less
_GZIP_WBITS = 31  # zlib's gzip container

Payload = bytes | bytearray | memoryview | np.ndarray


class RecordingError(ValueError):
    """A recording file is not one, or is damaged; the message names the file and offset."""


class Recorder:
    """Writes a recording: a header, then one record per :meth:`write`.

    Records are buffered (``_FLUSH_BYTES``) and reach the file on :meth:`flush` and
    :meth:`close`; use it as a context manager.

    Parameters
    ----------
    path
        The file to create (replaced if it exists).
    protocol
        Name of the feed's protocol, e.g. ``"itch50"``; what a reader needs to choose the
        decoder.
    source
        Free text: where the bytes come from (host, port, session, capture tool).
    compress
        Write one gzip stream (fastest level); by default when ``path`` ends in ``.gz``.

    Attributes
    ----------
    started
        Wall clock when recording started, ns since the Unix epoch (in the header).
    records
        Records written so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        protocol: str,
        source: str = "",
        *,
        compress: bool | None = None,
    ) -> None:
        proto = protocol.encode()
        text = source.encode()
        if not 0 < len(proto) <= MAX_PROTOCOL_BYTES:
            raise ValueError(f"protocol name must be 1..{MAX_PROTOCOL_BYTES} bytes of utf-8")
        if len(text) > MAX_SOURCE_BYTES:
            raise ValueError(f"source description longer than {MAX_SOURCE_BYTES} bytes")
        self.path = os.fspath(path)
        self.protocol = protocol
        self.source = source
        self.started = time.time_ns()
        self.records = 0
        if compress is None:
            compress = self.path.endswith(".gz")
        self._zip = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS) if compress else None
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        head = _HEAD.pack(MAGIC, VERSION, self.started, len(proto), len(text)) + proto + text
        self._pending = bytearray(head + _CRC.pack(zlib.crc32(head)))
        self.flush()  # a crash leaves at least a readable, empty recording

    def write(self, recv_ns: int, data: Payload) -> None:
        """Append one record: ``data`` (any C-contiguous buffer) received at ``recv_ns``."""
        if self._file is None:
            raise ValueError(f"recording {self.path!r} is closed")
        payload = memoryview(data).cast("B")
        size = payload.nbytes
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"record of {size} bytes exceeds MAX_RECORD_BYTES")
        crc = zlib.crc32(payload, zlib.crc32(_STAMP.pack(recv_ns, size)))
        self._pending += _RECORD.pack(recv_ns, size, crc)
        self._pending += payload
        self.records += 1
        if len(self._pending) >= _FLUSH_BYTES:
            self._drain()

    def tap(self, on_block: BlockHandler, clock: Callable[[], int] = monotonic_ns) -> BlockHandler:
        """A :data:`BlockHandler` that records each block, stamped by ``clock``, then forwards it.

        Only the bytes are kept: a client delivers runs in sequence order without gaps, so
        the sequence numbers of a replay follow from counting messages.
        """

        def record_then_forward(block: np.ndarray, first: int, count: int) -> None:
            self.write(clock(), block)
            on_block(block, first, count)

        return record_then_forward

    def flush(self) -> None:
        """Hand everything written so far to the OS; a gzip stream stays decodable to here."""
        if self._file is None:
            return
        self._drain()
        if self._zip is not None:
            self._file.write(self._zip.flush(zlib.Z_SYNC_FLUSH))
        self._file.flush()

    def close(self) -> None:
        """Write what is buffered, end the gzip stream, close the file; idempotent."""
        if self._file is None:
            return
        self._drain()
        if self._zip is not None:
            self._file.write(self._zip.flush())
        self._file.close()
        self._file = None

    def _drain(self) -> None:
        assert self._file is not None
        data = self._pending if self._zip is None else self._zip.compress(self._pending)
        self._file.write(data)
        self._pending.clear()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Bytes:
    """The (decompressed) bytes of a recording file, consumed from the front."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0  # stream offset of buf[0]
        self.buf = bytearray()  # deleting from the front of a bytearray is O(1)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._zip = None
        if self._file.read(2) == GZIP_MAGIC:
            self._zip = zlib.decompressobj(_GZIP_WBITS)
        self._file.seek(0)

    @property
    def compressed(self) -> bool:
        return self._zip is not None

    def fill(self, need: int) -> bool:
        """Read until ``need`` bytes are buffered; False if the stream ends first."""
        while len(self.buf) < need:
            block = self._file.read(_READ_BYTES)
            if not block:
                return False
            if self._zip is None:
                self.buf += block
                continue
            try:
                self.buf += self._zip.decompress(block)
            except zlib.error as exc:
                self.error(self.offset + len(self.buf), f"corrupt gzip stream: {exc}")
            if self._zip.unused_data:
                self.error(self.offset + len(self.buf), "data after the end of the gzip stream")
        return True

    def take(self, size: int) -> bytes:
        out = bytes(self.buf[:size])
        del self.buf[:size]
        self.offset += size
        return out

    def error(self, offset: int, what: str) -> NoReturn:
        raise RecordingError(f"recording {self.path!r}, offset {offset}: {what}")

    def close(self) -> None:
        self._file.close()


class Recording:
    """A recording file (plain or gzip): its header, and its records by iteration.

    The header is read and checked here; every iteration reads the file again from the
    start and yields ``(recv_ns, payload)`` for each record in file order.

    Parameters
    ----------
    path
        The recording file.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    RecordingError
        If the file does not start with a complete, intact version 1 header.

    Attributes
    ----------
    protocol, source, started
        From the header (``started``: ns since the Unix epoch).
    compressed
        Whether the file is gzip.
    records
        Records yielded by the last iteration.
    truncated_records, truncated_bytes
        The partial last record (0 or 1) found by the last complete iteration, and its
        bytes: what a crash while writing leaves; ignored, not yielded.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.records = self.truncated_records = self.truncated_bytes = 0
        stream = _Bytes(self.path)
        try:
            self.compressed = stream.compressed
            self.protocol, self.source, self.started = self._header(stream)
            self._body = stream.offset
        finally:
            stream.close()

    @staticmethod
    def _header(stream: _Bytes) -> tuple[str, str, int]:
        if not stream.fill(_HEAD.size):
            stream.error(0, "too short for a recording header")
        magic, version, started, proto_len, source_len = _HEAD.unpack_from(stream.buf)
        if magic != MAGIC:
            stream.error(0, f"not a recording (magic {magic!r}, {MAGIC!r} expected)")
        if version != VERSION:
            stream.error(6, f"unsupported recording version {version} ({VERSION} supported)")
        if not 0 < proto_len <= MAX_PROTOCOL_BYTES or source_len > MAX_SOURCE_BYTES:
            stream.error(16, "impossible header lengths")
        size = _HEAD.size + proto_len + source_len
        if not stream.fill(size + _CRC.size):
            stream.error(0, "truncated header")
        head = stream.take(size)
        (crc,) = _CRC.unpack(stream.take(_CRC.size))
        if crc != zlib.crc32(head):
            stream.error(size, "header CRC mismatch")
        try:
            protocol = head[_HEAD.size : _HEAD.size + proto_len].decode()
            source = head[_HEAD.size + proto_len :].decode()
        except UnicodeDecodeError as exc:
            stream.error(_HEAD.size, f"header text is not utf-8: {exc}")
        return protocol, source, started

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(recv_ns, payload)`` per record; the counters are set as it goes.

        Raises
        ------
        RecordingError
            On a CRC mismatch, an impossible length or a broken gzip stream.
        """
        self.records = self.truncated_records = self.truncated_bytes = 0
        stream = _Bytes(self.path)
        try:
            stream.fill(self._body)
            stream.take(self._body)
            while stream.fill(_RECORD.size):
                recv_ns, size, crc = _RECORD.unpack_from(stream.buf)
                if size > MAX_RECORD_BYTES:
                    stream.error(stream.offset, f"impossible record length {size}")
                if not stream.fill(_RECORD.size + size):
                    break
                head = stream.take(_RECORD.size)
                payload = stream.take(size)
                if zlib.crc32(payload, zlib.crc32(head[: _STAMP.size])) != crc:
                    stream.error(stream.offset - len(head) - size, "record CRC mismatch")
                self.records += 1
                yield recv_ns, payload
            if stream.buf:
                self.truncated_records, self.truncated_bytes = 1, len(stream.buf)
        finally:
            stream.close()


def replay(
    recording: Iterable[tuple[int, bytes]],
    sink: Callable[[int, bytes], None],
    *,
    paced: bool = False,
    speed: float = 1.0,
    clock: Callable[[], int] = monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Deliver every record to ``sink`` in order; return how many were delivered.

    The due times of paced delivery are absolute (first delivery plus scaled recorded
    offset), so sleeping late never accumulates drift, and a record already due (a slow
    sink, a timestamp stepping back) goes at once.

    Parameters
    ----------
    recording
        A :class:`Recording`, or any iterable of ``(recv_ns, payload)``.
    sink
        Called as ``sink(recv_ns, payload)`` for every record.
    paced
        Deliver record ``i`` once ``clock()`` has advanced ``(recv_ns[i] - recv_ns[0]) /
        speed`` since the first delivery, sleeping until then; otherwise as fast as
        possible.
    speed
        Recorded time divided by replay time when ``paced``: 2.0 replays twice as fast.
    clock
        Monotonic ns; with ``sleep``, injectable so that pacing is tested without waiting.
    sleep
        Waits the given seconds, like :func:`time.sleep`.
    """
    if not (speed > 0 and math.isfinite(speed)):
        raise ValueError(f"speed must be positive and finite, not {speed}")
    delivered = 0
    first_ns = start = 0
    for recv_ns, payload in recording:
        if paced:
            if delivered == 0:
                first_ns, start = recv_ns, clock()
            due = start + round((recv_ns - first_ns) / speed)
            while (wait := due - clock()) > 0:
                sleep(wait / NS_PER_SECOND)
        sink(recv_ns, payload)
        delivered += 1
    return delivered
