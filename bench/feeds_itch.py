"""ITCH 5.0 decode benchmark: the compiled decoder against a plain-Python ``struct`` one.

Both decode the same in-memory BinaryFILE stream (2-byte length prefix per message), built
by repeating the messages of NASDAQ's published test vector. The compiled case times one
call of :meth:`lowlat.feeds.itch.ItchDecoder.decode` writing into a preallocated record
array; the baseline walks the buffer in Python and unpacks each message with
``struct.Struct.unpack_from`` into a tuple of the record's fields. Each run checks the
decoded counts by message type against the vector's (a mismatch counts as an error).
"""

from __future__ import annotations

import functools
import struct
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Case, summarize
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.itch import LENGTH_PREFIXED, ItchDecoder, spec

__all__ = ["CASES", "TEST_VECTOR", "build_stream", "struct_decode"]

# The public test vector lives in shared/, beside the repository.
TEST_VECTOR = Path(__file__).resolve().parents[1].parent / "shared/data/ex20101224.TEST_ITCH_50"
TARGET_DECODE = 20e6
DECODE = "itch_decode"
STRUCT = "itch_struct"
OUT_BATCH = 65_536  # records per kernel call in the compiled case
_BUFFER_MESSAGES = 1_000_000


@functools.cache
def _vector_messages() -> tuple[bytes, ...]:
    """The vector's messages without prefixes (its prefixes are zero: frame by type)."""
    data = TEST_VECTOR.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        size = spec.MESSAGE_LENGTHS[chr(data[pos + 2])]
        out.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return tuple(out)


@functools.cache
def build_stream(events: int) -> tuple[np.ndarray, dict[str, int]]:
    """A length-prefixed stream of about ``events`` messages and its counts by type."""
    messages = _vector_messages()
    copies = max(1, round(events / len(messages)))
    one = b"".join(struct.pack(">H", len(m)) + m for m in messages)
    counts = Counter(chr(m[0]) for m in messages)
    return np.frombuffer(one * copies, np.uint8), {k: v * copies for k, v in counts.items()}


def _decode_once(events: int) -> tuple[float, int, int]:
    """Seconds, messages and errors of compiled decoding of ``events`` messages.

    The stream holds at most ``_BUFFER_MESSAGES`` messages and is decoded as many times
    as needed, ``OUT_BATCH`` records per kernel call into one reused output array (as a
    feed handler writes into a ring): memory stays bounded for the 10 M-message case.
    """
    buf, expected = build_stream(min(events, _BUFFER_MESSAGES))
    per_pass = sum(expected.values())
    passes = max(1, round(events / per_pass))
    out = np.empty(OUT_BATCH, MARKET_EVENT_DTYPE)
    out.view(np.uint8)[:] = 0  # fault the pages in before timing
    ItchDecoder(LENGTH_PREFIXED).decode(buf[:4096], out, final=False)  # load the JIT cache
    decoders = [ItchDecoder(LENGTH_PREFIXED) for _ in range(passes)]
    size = buf.shape[0]
    total = 0
    start = time.perf_counter_ns()
    for decoder in decoders:
        pos = 0
        while pos < size:
            pos, n = decoder.decode(buf, out, pos=pos)
            total += n
    seconds = (time.perf_counter_ns() - start) / 1e9
    errors = abs(total - passes * per_pass)
    for decoder in decoders:
        errors += decoder.quarantine.total
        errors += sum(abs(decoder.counts.get(k, 0) - v) for k, v in expected.items())
    return seconds, total, errors


_SIDES = {b"B": Side.BUY, b"S": Side.SELL}
_STRUCTS = {k: struct.Struct(">cHH6s" + v) for k, v in {
    "A": "QcI8sI", "F": "QcI8sI4s", "E": "QIQ", "C": "QIQcI", "X": "QI", "D": "Q",
    "U": "QQII", "P": "QcI8sIQ", "Q": "Q8sIQc", "B": "Q",
}.items()}  # fmt: skip
_HEADER = struct.Struct(">cHH6s")


def struct_decode(data: bytes) -> list[tuple[int, ...]]:
    """Plain-Python decoder of a length-prefixed stream, one tuple per message.

    Tuples are ``(seq, exchange_ns, order_id, price, qty, aux, instrument, kind, side,
    flags)``, mapped as :mod:`lowlat.feeds.itch.spec` documents for the order and trade
    messages (other types keep only their header).
    """
    out: list[tuple[int, ...]] = []
    append = out.append
    pos, end, seq = 0, len(data), 0
    from_bytes = int.from_bytes
    while pos + 2 <= end:
        (length,) = struct.unpack_from(">H", data, pos)
        start = pos + 2
        pos = start + length
        letter = chr(data[start])
        seq += 1
        fields = _STRUCTS.get(letter)
        if fields is None:
            _, locate, _, ts = _HEADER.unpack_from(data, start)
            append((seq, from_bytes(ts), 0, 0, 0, 0, locate, 0, 0, ord(letter)))
            continue
        f = fields.unpack_from(data, start)
        ts, locate, flags = from_bytes(f[3]), f[1], ord(letter)
        if letter in "AF":
            aux = from_bytes(f[9]) if letter == "F" else 0
            append((seq, ts, f[4], f[8], f[6], aux, locate, EventKind.ADD, _SIDES[f[5]], flags))
        elif letter == "D":
            append((seq, ts, f[4], 0, 0, 0, locate, EventKind.DELETE, 0, flags))
        elif letter == "E":
            append((seq, ts, f[4], 0, f[5], f[6], locate, EventKind.EXECUTE, 0, flags))
        elif letter == "C":
            flags |= spec.FLAG_PRINTABLE if f[7] == b"Y" else 0
            append((seq, ts, f[4], f[8], f[5], f[6], locate, EventKind.EXECUTE, 0, flags))
        elif letter == "X":
            append((seq, ts, f[4], 0, f[5], 0, locate, EventKind.CANCEL, 0, flags))
        elif letter == "U":
            append((seq, ts, f[4], f[7], f[6], f[5], locate, EventKind.REPLACE, 0, flags))
        elif letter == "P":
            append((seq, ts, f[4], f[8], f[6], f[9], locate, EventKind.TRADE, _SIDES[f[5]], flags))
        elif letter == "Q":
            append((seq, ts, f[8][0], f[6], f[4], f[7], locate, EventKind.TRADE, 0, flags))
        else:  # B
            append((seq, ts, 0, 0, 0, f[4], locate, EventKind.BROKEN_TRADE, 0, flags))
    return out


def _struct_once(events: int) -> tuple[float, int, int]:
    buf, expected = build_stream(events)
    data = buf.tobytes()
    start = time.perf_counter_ns()
    rows = struct_decode(data)
    seconds = (time.perf_counter_ns() - start) / 1e9
    got = Counter(chr(row[9] & spec.TYPE_MASK) for row in rows)
    errors = sum(abs(got.get(k, 0) - v) for k, v in expected.items()) + abs(
        len(rows) - sum(expected.values())
    )
    return seconds, len(rows), errors


def _result(name: str, runs: list[tuple[float, int, int]], **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": name,
        "unit": "msg/s",
        "better": "higher",
        **summarize([n / s for s, n, _ in runs]),
        "events": runs[0][1],
        "errors": sum(e for _, _, e in runs),
    }
    result.update({k: v for k, v in extra.items() if v is not None})
    return result


def _case_decode(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [_decode_once(events) for _ in range(repeats)]
    note = "one core, from memory, 64K records per call into a reused array"
    return [_result(DECODE, runs, target=TARGET_DECODE, note=note)]


def _case_struct(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [_struct_once(events) for _ in range(repeats)]
    note = "plain Python struct.unpack_from into tuples"
    return [_result(STRUCT, runs, baseline_of=DECODE, note=note)]


CASES: dict[str, Case] = {
    DECODE: (_case_decode, 10_000_000, 1_000_000),
    STRUCT: (_case_struct, 500_000, 100_000),
}
