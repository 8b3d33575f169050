"""LOBSTER test helpers: sample message files written per the documented format, and an
independent pure-Python reading of one line to check the compiled parser against."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.lobster import FLAG_CROSS, FLAG_HIDDEN, LobsterDecoder, iter_stream


class Msg(NamedTuple):
    """One message line: time as a decimal string, then the five integer columns."""

    time: str
    type: int
    order_id: int
    size: int
    price: int
    direction: int

    def line(self) -> str:
        return f"{self.time},{self.type},{self.order_id},{self.size},{self.price},{self.direction}"


def sample_messages(count: int = 120) -> list[Msg]:
    """``count`` lines (at least 10) cycling through every event type, times increasing,
    with 0 to 9 decimals, halts and resumes included."""
    messages = []
    for i in range(count):
        seconds = 34_200 + i
        decimals = i % 10
        fraction = str(123_456_789 + i * 7_919)[:decimals]
        time = f"{seconds}.{fraction}" if decimals else str(seconds)
        kind = i % 7 + 1
        price = 2_238_100 + (i % 13) * 100
        direction = 1 if i % 3 else -1
        if kind == 7:
            price = (-1, 0, 1)[(i // 7) % 3]
            messages.append(Msg(time, 7, 0, 0, price, -1))
        else:
            messages.append(Msg(time, kind, 11_885_113 + i, 1 + i % 500, price, direction))
    return messages


def message_bytes(messages: list[Msg], newline: str = "\n") -> bytes:
    return "".join(m.line() + newline for m in messages).encode()


def time_ns(text: str) -> int:
    """Seconds-after-midnight text to nanoseconds, exactly, via Decimal."""
    return int(Decimal(text) * 1_000_000_000)


_KIND = {1: EventKind.ADD, 2: EventKind.CANCEL, 3: EventKind.DELETE, 4: EventKind.EXECUTE,
         5: EventKind.TRADE, 6: EventKind.TRADE, 7: EventKind.STATUS}  # fmt: skip
_FLAGS = {5: FLAG_HIDDEN, 6: FLAG_CROSS}
_LINE = re.compile(
    rb"(\d{1,9})(?:\.(\d+))?,(\d{1,18}),(-?\d{1,18}),(\d{1,18}),(-?\d{1,18}),(-?\d{1,18})\r?"
)


def reference(line: bytes) -> tuple[int, ...] | None:
    """What a line must parse to, written independently of the kernel:
    ``(exchange_ns, kind, order_id, price, qty, side, flags)``, or None if it is bad."""
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    seconds, fraction, kind, order_id, size, price, direction = match.groups()
    fraction = fraction or b""
    if fraction[9:].strip(b"0"):
        return None
    t, d, p = int(kind), int(direction), int(price)
    if t not in _KIND or d not in (1, -1) or (t == 7 and p not in (-1, 0, 1)):
        return None
    ns = int(seconds) * 10**9 + int((fraction[:9] or b"0").ljust(9, b"0"))
    side = Side.BUY if d == 1 else Side.SELL
    return ns, int(_KIND[t]), int(order_id), p, int(size), int(side), _FLAGS.get(t, 0)


def as_tuple(record: np.void) -> tuple[int, ...]:
    return tuple(
        int(record[f]) for f in ("exchange_ns", "kind", "order_id", "price", "qty", "side", "flags")
    )


def parse(
    data: bytes, chunk_size: int = 1 << 16, batch: int = 32, instrument: int = 1
) -> tuple[np.ndarray, LobsterDecoder]:
    """Parse ``data`` in chunks, checking that every byte and line is accounted for."""
    decoder = LobsterDecoder(instrument)
    batches = list(iter_stream(io.BytesIO(data), decoder, chunk_size=chunk_size, batch=batch))
    records = np.concatenate(batches) if batches else np.zeros(0, MARKET_EVENT_DTYPE)
    assert decoder.bytes_read == len(data)
    assert decoder.bytes_decoded + decoder.bytes_quarantined == len(data)
    assert len(records) == decoder.messages
    assert decoder.lines == decoder.messages + decoder.quarantine.total
    assert decoder.lines == data.count(b"\n") + (not data.endswith(b"\n") and len(data) > 0)
    if len(records):
        assert (np.diff(records["seq"]) > 0).all()
        assert (records["instrument"] == instrument).all()
        assert (records["recv_ns"] == 0).all() and (records["aux"] == 0).all()
    return records, decoder
