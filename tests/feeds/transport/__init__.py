"""Tests of the SoupBinTCP and MoldUDP64 transports over loopback sockets."""

from __future__ import annotations

import functools

import numpy as np
from numba import config

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.itch import ItchDecoder
from lowlat.feeds.transport import MessageSource
from tests.feeds.itch import TEST_VECTOR

# interpreted, the ITCH decoder is slow: the first messages exercise the same paths
LIMIT = 2_000 if config.DISABLE_JIT else None


@functools.cache
def vector_source() -> MessageSource:
    return MessageSource.from_itch_file(TEST_VECTOR, limit=LIMIT)


def reference_records(source: MessageSource) -> tuple[np.ndarray, dict[str, int]]:
    """What decoding the source's messages as one length-prefixed stream gives."""
    decoder = ItchDecoder()
    blocks = np.frombuffer(source.blocks(1, len(source)), np.uint8)
    out = np.empty(len(source), MARKET_EVENT_DTYPE)
    _, n = decoder.decode(blocks, out)
    return out[:n], decoder.counts


class Collector:
    """A block handler that keeps copies of everything delivered, to check it."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []
        self.chunks: list[bytes] = []

    def __call__(self, block: np.ndarray, first: int, count: int) -> None:
        self.runs.append((first, count))
        self.chunks.append(block.tobytes())

    @property
    def messages(self) -> int:
        return sum(count for _, count in self.runs)

    def check_exactly(self, source: MessageSource, first: int = 1) -> None:
        """Every message of ``source`` from ``first`` arrived once, in order."""
        expected = first
        for start, count in self.runs:
            assert start == expected, f"run starts at {start}, {expected} expected"
            expected += count
        assert expected == len(source) + 1
        assert b"".join(self.chunks) == bytes(source.blocks(first, len(source) - first + 1))
