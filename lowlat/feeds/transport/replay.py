"""Both ends of an ITCH replay: the server's numbered messages and the client's decoder.

:class:`MessageSource` holds messages 1..N contiguously, in both framings the transports
need, so that a run of consecutive messages is one slice (one ``send`` call): SoupBinTCP
Sequenced Data packets and MoldUDP64 message blocks. :class:`ItchSink` is what a client
hands every in-order run of messages to: one compiled ITCH decode per run.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.itch import kernels
from lowlat.feeds.itch.files import LENGTH_PREFIXED, ItchDecoder, detect_framing, open_itch
from lowlat.feeds.itch.spec import MSG_LEN, PREFIX_BYTES

__all__ = ["BlockHandler", "ItchSink", "MessageSource"]

#: ``handler(block, first, count)``: ``block`` (``uint8``, valid only during the call)
#: holds ``count`` messages, each after a 2-byte big-endian length, numbered from ``first``.
BlockHandler = Callable[[np.ndarray, int, int], None]

_SOUP_SEQUENCED = b"S"


class MessageSource:
    """Messages numbered from 1, as length-prefixed blocks and as SoupBinTCP packets.

    Parameters
    ----------
    messages
        The message payloads, in sequence order (each at most 65,534 bytes, so that it
        fits a SoupBinTCP packet).
    """

    def __init__(self, messages: Iterable[bytes | bytearray | memoryview]) -> None:
        blocks = []
        packets = []
        for msg in messages:
            size = len(msg)
            if size > 0xFFFE:
                raise ValueError(f"message of {size} bytes does not fit a SoupBinTCP packet")
            blocks.append(struct.pack(">H", size))
            blocks.append(bytes(msg))
            packets.append(struct.pack(">H", size + 1) + _SOUP_SEQUENCED)
            packets.append(bytes(msg))
        self._blocks = b"".join(blocks)
        self._packets = b"".join(packets)
        sizes = np.array([len(b) for b in blocks[1::2]], np.int64)
        self._offsets = np.zeros(sizes.shape[0] + 1, np.int64)
        np.cumsum(sizes + PREFIX_BYTES, out=self._offsets[1:])

    @classmethod
    def from_itch_file(
        cls,
        path: str | os.PathLike[str],
        *,
        framing: str | None = None,
        limit: int | None = None,
    ) -> MessageSource:
        """The messages of an ITCH 5.0 file (plain or gzip), read whole into memory.

        ``framing`` is detected from the file when None; type-framed files (zero
        prefixes) are split by each type's fixed length. ``limit`` keeps the first
        messages only. A trailing partial message, or one of an unknown type in a
        type-framed file, ends the source.
        """
        stream, _ = open_itch(path)
        with stream:
            try:
                data = stream.read()
            except (OSError, EOFError, zlib.error) as exc:
                raise OSError(f"cannot read ITCH file {os.fspath(path)!r}: {exc}") from exc
        if framing is None:
            framing = detect_framing(data[: 1 << 16])
        messages = []
        pos = 0
        while pos + PREFIX_BYTES < len(data) and (limit is None or len(messages) < limit):
            size = int.from_bytes(data[pos : pos + PREFIX_BYTES], "big")
            if framing != LENGTH_PREFIXED:
                size = int(MSG_LEN[data[pos + PREFIX_BYTES]])
            start = pos + PREFIX_BYTES
            if size == 0 or start + size > len(data):
                break
            messages.append(data[start : start + size])
            pos = start + size
        return cls(messages)

    def __len__(self) -> int:
        return self._offsets.shape[0] - 1

    def message(self, seq: int) -> bytes:
        """Message ``seq`` (1-based) without its length prefix."""
        start = int(self._offsets[seq - 1])
        return self._blocks[start + PREFIX_BYTES : int(self._offsets[seq])]

    def blocks(self, first: int, count: int) -> memoryview:
        """Messages ``first .. first + count - 1``, each after its 2-byte length."""
        start, stop = self._offsets[first - 1], self._offsets[first - 1 + count]
        return memoryview(self._blocks)[start:stop]

    def soup_packets(self, first: int, count: int) -> memoryview:
        """Messages ``first .. first + count - 1`` as SoupBinTCP Sequenced Data packets."""
        # a packet is its block plus the one type byte, so offsets shift by the index
        start = self._offsets[first - 1] + first - 1
        stop = self._offsets[first - 1 + count] + first - 1 + count
        return memoryview(self._packets)[start:stop]

    def fit(self, first: int, max_bytes: int, max_count: int = 0xFFFE) -> int:
        """How many messages from ``first`` fit in ``max_bytes`` of blocks (at least 1).

        0 when ``first`` is past the last message.
        """
        if first > len(self):
            return 0
        limit = self._offsets[first - 1] + max_bytes
        stop = int(np.searchsorted(self._offsets, limit, side="right")) - 1
        return max(1, min(stop - (first - 1), max_count, len(self) - first + 1))


class ItchSink:
    """A :data:`BlockHandler` that decodes each run of ITCH messages in one compiled call.

    Parameters
    ----------
    decoder
        A length-prefixed :class:`~lowlat.feeds.itch.ItchDecoder` (its counters,
        symbols and quarantine accumulate over all runs); a new one when None.
    on_records
        Called with every filled ``MARKET_EVENT_DTYPE`` batch (valid only during the
        call: the array is reused).
    batch
        Records per batch.

    Attributes
    ----------
    messages
        Transport messages received (decoded or quarantined by the decoder).
    last_seq
        Transport sequence number of the last message received, 0 before any.
    """

    def __init__(
        self,
        decoder: ItchDecoder | None = None,
        on_records: Callable[[np.ndarray], None] | None = None,
        *,
        batch: int = 4096,
    ) -> None:
        self.decoder = ItchDecoder(LENGTH_PREFIXED) if decoder is None else decoder
        if self.decoder.framing != LENGTH_PREFIXED:
            raise ValueError("transport blocks are length-prefixed; the decoder must be too")
        self.on_records = on_records
        self._out = np.empty(batch, MARKET_EVENT_DTYPE)
        self.messages = 0
        self.last_seq = 0

    def __call__(self, block: np.ndarray, first: int, count: int) -> None:
        """Decode ``block`` (``count`` length-prefixed messages numbered from ``first``)."""
        pos, end = 0, block.shape[0]
        while pos < end:
            pos, n = self.decoder.decode(block, self._out, pos=pos, end=end, final=True)
            if n and self.on_records is not None:
                self.on_records(self._out[:n])
        # quarantine offsets count the bytes of all runs, as if they were one stream
        self.decoder.state[kernels.ST_BASE] += end
        self.messages += count
        self.last_seq = first + count - 1
