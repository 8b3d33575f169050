"""Control-side FIX 4.4 message builder, for tests, benchmarks and the simulator.

It writes fields in the order given, computes BodyLength(9) and CheckSum(10), and can be
told to write wrong ones so that tests can produce every kind of broken message. It
allocates freely: it is not on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "SOH",
    "MDEntry",
    "checksum",
    "encode",
    "heartbeat",
    "incremental_refresh",
    "sequence_reset",
    "snapshot_refresh",
]

SOH = b"\x01"
BEGIN_STRING = b"8=FIX.4.4\x01"

Field = tuple[int, str | int | bytes]


def _value(value: str | int | bytes) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("ascii")


def checksum(data: bytes) -> int:
    """FIX CheckSum: the sum of the bytes, modulo 256."""
    return sum(data) % 256


def encode(
    msg_type: str,
    fields: Iterable[Field],
    *,
    body_length: int | None = None,
    check: int | str | None = None,
) -> bytes:
    """One FIX 4.4 message: header, ``35=msg_type``, ``fields`` in order, trailer.

    ``body_length`` and ``check`` override the computed BodyLength and CheckSum (a
    string ``check`` is written as is, e.g. ``"x1y"``).
    """
    body = b"35=" + msg_type.encode("ascii") + SOH
    body += b"".join(b"%d=%s\x01" % (tag, _value(value)) for tag, value in fields)
    length = len(body) if body_length is None else body_length
    head = BEGIN_STRING + b"9=%d\x01" % length + body
    if check is None:
        trailer = b"%03d" % checksum(head)
    elif isinstance(check, str):
        trailer = check.encode("ascii")
    else:
        trailer = b"%03d" % check
    return head + b"10=" + trailer + SOH


def _header(seq: int, sender: str, target: str, sending_time: str | None) -> list[Field]:
    fields: list[Field] = [(49, sender), (56, target), (34, seq)]
    if sending_time is not None:
        fields.append((52, sending_time))
    return fields


@dataclass(frozen=True, slots=True)
class MDEntry:
    """One NoMDEntries(268) entry; ``None`` fields are left out of the message."""

    type: str | None = "0"  # MDEntryType(269)
    px: str | None = None  # MDEntryPx(270)
    size: str | None = None  # MDEntrySize(271)
    action: str | None = "0"  # MDUpdateAction(279), incremental refresh only
    id: str | None = None  # MDEntryID(278)
    ref_id: str | None = None  # MDEntryRefID(280), incremental refresh only
    symbol: str | None = None  # Symbol(55), incremental refresh only


def snapshot_refresh(
    seq: int,
    symbol: str,
    entries: Sequence[MDEntry],
    *,
    sender: str = "VENUE",
    target: str = "CLIENT",
    sending_time: str | None = "20240102-14:30:00.123",
) -> bytes:
    """MarketDataSnapshotFullRefresh (35=W) for one symbol."""
    fields = [*_header(seq, sender, target, sending_time), (55, symbol), (268, len(entries))]
    for e in entries:
        fields.append((269, e.type or ""))
        if e.px is not None:
            fields.append((270, e.px))
        if e.size is not None:
            fields.append((271, e.size))
        if e.id is not None:
            fields.append((278, e.id))
    return encode("W", fields)


def incremental_refresh(
    seq: int,
    entries: Sequence[MDEntry],
    *,
    sender: str = "VENUE",
    target: str = "CLIENT",
    sending_time: str | None = "20240102-14:30:00.123",
) -> bytes:
    """MarketDataIncrementalRefresh (35=X); each entry names its own symbol."""
    fields = [*_header(seq, sender, target, sending_time), (268, len(entries))]
    for e in entries:
        fields.append((279, e.action or ""))
        if e.type is not None:
            fields.append((269, e.type))
        if e.id is not None:
            fields.append((278, e.id))
        if e.ref_id is not None:
            fields.append((280, e.ref_id))
        if e.symbol is not None:
            fields.append((55, e.symbol))
        if e.px is not None:
            fields.append((270, e.px))
        if e.size is not None:
            fields.append((271, e.size))
    return encode("X", fields)


def heartbeat(
    seq: int,
    *,
    sender: str = "VENUE",
    target: str = "CLIENT",
    sending_time: str | None = "20240102-14:30:00.123",
) -> bytes:
    """Heartbeat (35=0)."""
    return encode("0", _header(seq, sender, target, sending_time))


def sequence_reset(
    seq: int, new_seq: int, *, gap_fill: bool = True, sender: str = "VENUE", target: str = "CLIENT"
) -> bytes:
    """SequenceReset (35=4), gap-fill mode by default."""
    fields = _header(seq, sender, target, None)
    if gap_fill:
        fields.append((123, "Y"))
    fields.append((36, new_seq))
    return encode("4", fields)
