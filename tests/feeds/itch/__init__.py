"""Tests of the ITCH 5.0 decoder, with an independent ``struct``-based message encoder."""

from __future__ import annotations

import struct
from pathlib import Path

# The project's public test data lives in shared/, beside the repository (CI clones it so).
TEST_VECTOR = Path(__file__).resolve().parents[3].parent / "shared/data/ex20101224.TEST_ITCH_50"

# body layout after the 11-byte header, written from the spec independently of lowlat
BODY_FORMATS = {
    "S": "c",
    "R": "8sccIcc2scccccIc",
    "H": "8scc4s",
    "Y": "8sc",
    "L": "4s8sccc",
    "V": "QQQ",
    "W": "c",
    "K": "8sIcI",
    "J": "8sIIII",
    "h": "8scc",
    "A": "QcI8sI",
    "F": "QcI8sI4s",
    "E": "QIQ",
    "C": "QIQcI",
    "X": "QI",
    "D": "Q",
    "U": "QQII",
    "P": "QcI8sIQ",
    "Q": "Q8sIQc",
    "B": "Q",
    "I": "QQc8sIIIcc",
    "N": "8sc",
    "O": "8scIIIQII",
}


def message(letter: str, *body: object, locate: int = 7, tracking: int = 3, ts: int = 0) -> bytes:
    """One ITCH 5.0 message (no prefix): header then ``body`` packed big-endian."""
    head = struct.pack(">cHH", letter.encode(), locate, tracking) + ts.to_bytes(6, "big")
    return head + struct.pack(">" + BODY_FORMATS[letter], *body)


def prefixed(msg: bytes) -> bytes:
    """``msg`` with its 2-byte big-endian length prefix."""
    return struct.pack(">H", len(msg)) + msg


def zero_prefixed(msg: bytes) -> bytes:
    """``msg`` with a zero prefix, as in the type-framed test vector."""
    return b"\x00\x00" + msg


def vector_messages(limit: int | None = None) -> list[bytes]:
    """The test vector's messages (without prefixes), framed by type in plain Python."""
    lengths = {k: struct.calcsize(">" + v) + 11 for k, v in BODY_FORMATS.items()}
    data = TEST_VECTOR.read_bytes()
    out, pos = [], 0
    while pos < len(data) and (limit is None or len(out) < limit):
        size = lengths[chr(data[pos + 2])]
        out.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out
