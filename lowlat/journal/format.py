"""On-disk format of the journal: segment files, record frames, record types, the ring entry.

All integers are little-endian; every frame starts at a multiple of 8 bytes from the start
of its file, so that compiled code reads its fields as int64 words.

Segment file ``journal-<first_seq:020d>.seg`` — a 64-byte header, then frames::

    0   magic            8 bytes  b"LLJOURNL"
    8   version          u32      1
    12  header bytes     u32      64
    16  first_seq        i64      sequence of the segment's first frame
    24  created_wall_ns  i64      wall clock when the writer created the file (metadata)
    32  reserved         28 bytes zero
    60  crc              u32      CRC32C of bytes 0..60

Frame — a 48-byte head, then the payload padded with zeros to a multiple of 8 bytes::

    0   crc              u32      CRC32C of bytes 4 .. end of the padded payload
    4   length           u32      payload bytes before padding, 0 .. MAX_PAYLOAD
    8   seq              i64      journal sequence: 0, 1, 2, … without gaps
    16  mono_ns          i64      CLOCK_MONOTONIC when the producer recorded it
    24  wall_ns          i64      wall clock, ns since the Unix epoch (writer-stamped)
    32  durable          i64      highest sequence already fsynced when this frame was
                                  written (-1: none); recovery uses it to tell a torn
                                  tail from corruption
    40  type             u16      :class:`RecordType` (0 is never valid)
    42  flags            u16      0
    44  mark             u32      FRAME_MARK

A frame is at most ``MAX_FRAME`` (4096) bytes: a longer length can only be damage.

Payloads: the types with a NumPy record dtype carry one 64-byte record (``RECORD_DTYPES``);
LIFECYCLE, RISK, OPERATOR and SNAPSHOT carry UTF-8 JSON (an object, sorted keys); codes
from ``USER_TYPES`` on are the application's, with payloads of its choosing.
"""

from __future__ import annotations

import re
from enum import IntEnum

import numpy as np

from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    MARKET_EVENT_DTYPE,
    ORDER_DTYPE,
    RECORD_BYTES,
)

__all__ = [
    "ENTRY_DTYPE",
    "FRAME_HEAD",
    "JSON_TYPES",
    "MAX_FRAME",
    "MAX_PAYLOAD",
    "RECORD_DTYPES",
    "SEGMENT_HEAD",
    "USER_TYPES",
    "RecordType",
    "frame_bytes",
    "parse_segment_name",
    "record_dtype",
    "segment_name",
]


class RecordType(IntEnum):
    """What a journal record is (the frame's ``type``)."""

    MARKET_EVENT = 1  # MARKET_EVENT_DTYPE: an input event
    ORDER = 2  # ORDER_DTYPE: a decision, sent or provisional
    ACK = 3  # ACK_DTYPE
    FILL = 4  # FILL_DTYPE
    EXEC_REPORT = 5  # lowlat.venue EXEC_REPORT_DTYPE: the venue's own report
    BREAKER = 6  # lowlat.risk.breakers BREAKER_EVENT_DTYPE: a breaker state change
    PATTERN = 7  # lowlat.signals.patterns PATTERN_EVENT_DTYPE
    LIFECYCLE = 16  # JSON: a lifecycle transition
    RISK = 17  # JSON: kill switch, limit change, risk alert
    OPERATOR = 18  # JSON: an operator command or approval
    SNAPSHOT = 19  # JSON: a snapshot was taken covering the sequence it names


#: Types whose payload is one 64-byte record, with the dtype to read it (``None``: the
#: dtype lives in a package the journal does not import; see :func:`record_dtype`).
RECORD_DTYPES: dict[int, np.dtype | None] = {
    RecordType.MARKET_EVENT: MARKET_EVENT_DTYPE,
    RecordType.ORDER: ORDER_DTYPE,
    RecordType.ACK: ACK_DTYPE,
    RecordType.FILL: FILL_DTYPE,
    RecordType.EXEC_REPORT: None,
    RecordType.BREAKER: None,
    RecordType.PATTERN: None,
}
JSON_TYPES = frozenset(
    {RecordType.LIFECYCLE, RecordType.RISK, RecordType.OPERATOR, RecordType.SNAPSHOT}
)
USER_TYPES = 1024  # first type code free for applications
MAX_TYPE = 0xFFFF

SEGMENT_MAGIC = b"LLJOURNL"
SEGMENT_MAGIC_WORD = int.from_bytes(SEGMENT_MAGIC, "little")
SEGMENT_VERSION = 1
SEGMENT_HEAD = 64
FRAME_HEAD = 48
FRAME_MARK = 0x314A4C4C  # b"LLJ1"
MAX_FRAME = 4096
MAX_PAYLOAD = MAX_FRAME - FRAME_HEAD
RECORD_FRAME = FRAME_HEAD + RECORD_BYTES  # bytes of a frame holding one 64-byte record
NO_SEQ = -1  # "no record": the written or durable sequence of an empty journal

# frame words (int64 index from the frame start)
F_CRC_LENGTH = 0  # crc | length << 32
F_SEQ = 1
F_MONO = 2
F_WALL = 3
F_DURABLE = 4
F_TYPE_MARK = 5  # type | flags << 16 | mark << 32
FRAME_WORDS = FRAME_HEAD // 8

#: One ring slot: what the hot path hands the writer (80 bytes: 10 int64 words).
ENTRY_DTYPE = np.dtype(
    [("mono_ns", "i8"), ("type", "i8"), ("payload", "u1", (RECORD_BYTES,))], align=True
)
E_MONO = 0
E_TYPE = 1
E_PAYLOAD = 2
ENTRY_WORDS = ENTRY_DTYPE.itemsize // 8
PAYLOAD_WORDS = RECORD_BYTES // 8

_SEGMENT_RE = re.compile(r"^journal-(\d{20})\.seg$")


def frame_bytes(length: int) -> int:
    """Bytes a frame with a ``length``-byte payload takes on disk."""
    return FRAME_HEAD + ((length + 7) & ~7)


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first frame has sequence ``first_seq``."""
    return f"journal-{first_seq:020d}.seg"


def parse_segment_name(name: str) -> int | None:
    """First sequence of a segment file name, or None if ``name`` is not one."""
    match = _SEGMENT_RE.match(name)
    return None if match is None else int(match.group(1))


def record_dtype(rtype: int) -> np.dtype | None:
    """Dtype of the 64-byte payload of ``rtype``, or None if its payload is not a record.

    The breaker, pattern and venue dtypes are imported on first use: the journal sits
    below those packages and should not load their kernels just to be imported.
    """
    if rtype not in RECORD_DTYPES:
        return None
    known = RECORD_DTYPES[rtype]
    if known is not None:
        return known
    if rtype == RecordType.EXEC_REPORT:
        from lowlat.venue.records import EXEC_REPORT_DTYPE

        return EXEC_REPORT_DTYPE
    if rtype == RecordType.BREAKER:
        from lowlat.risk.breakers.records import BREAKER_EVENT_DTYPE

        return BREAKER_EVENT_DTYPE
    from lowlat.signals.patterns.events import PATTERN_EVENT_DTYPE

    return PATTERN_EVENT_DTYPE
