"""Segment names, the segment header, record types and their dtypes, the ring entry."""

import numpy as np
import pytest

from lowlat.core.records import ACK_DTYPE, FILL_DTYPE, MARKET_EVENT_DTYPE, ORDER_DTYPE
from lowlat.journal import ENTRY_DTYPE, RecordType, crc32c, record_dtype, segment_name
from lowlat.journal.format import (
    JSON_TYPES,
    MAX_FRAME,
    MAX_PAYLOAD,
    RECORD_DTYPES,
    SEGMENT_HEAD,
    frame_bytes,
    parse_segment_name,
)
from lowlat.journal.segments import parse_segment_header, segment_header


def test_segment_names_sort_by_first_sequence_and_parse_back():
    names = [segment_name(seq) for seq in (0, 9, 10, 123_456_789_012)]
    assert names == sorted(names)
    assert names[1] == "journal-00000000000000000009.seg"
    assert [parse_segment_name(name) for name in names] == [0, 9, 10, 123_456_789_012]


@pytest.mark.parametrize(
    "name", ["journal-1.seg", "journal-00000000000000000009.seg.tmp", "snapshot-x", "x.seg"]
)
def test_other_file_names_are_not_segments(name):
    assert parse_segment_name(name) is None


def test_segment_header_is_64_bytes_ending_in_its_crc():
    head = segment_header(42, 1_700_000_000_000_000_000)
    assert len(head) == SEGMENT_HEAD
    assert head[:8] == b"LLJOURNL"
    assert int.from_bytes(head[60:], "little") == crc32c(head[:60])
    assert parse_segment_header(np.frombuffer(head, np.uint8), 42) is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda h: h[:40], "incomplete"),
        (lambda h: b"X" + h[1:], "CRC32C mismatch"),
    ],
)
def test_a_damaged_segment_header_is_reported(damage, problem):
    head = damage(segment_header(0, 0))
    assert problem in parse_segment_header(np.frombuffer(head, np.uint8), 0)


def test_a_header_naming_another_first_sequence_is_reported():
    head = np.frombuffer(segment_header(7, 0), np.uint8)
    assert "name 8" in parse_segment_header(head, 8)


def test_a_header_with_a_valid_crc_but_wrong_magic_or_version_is_reported():
    import struct

    for magic, version in ((b"NOTJOURN", 1), (b"LLJOURNL", 2)):
        head = struct.pack("<8sIIqq28x", magic, version, 64, 0, 0)
        head += struct.pack("<I", crc32c(head))
        problem = parse_segment_header(np.frombuffer(head, np.uint8), 0)
        assert problem is not None
        assert ("magic" in problem) or ("version" in problem)


def test_record_types_map_to_64_byte_dtypes():
    assert record_dtype(RecordType.MARKET_EVENT) == MARKET_EVENT_DTYPE
    assert record_dtype(RecordType.ORDER) == ORDER_DTYPE
    assert record_dtype(RecordType.ACK) == ACK_DTYPE
    assert record_dtype(RecordType.FILL) == FILL_DTYPE
    for rtype in RECORD_DTYPES:
        assert record_dtype(rtype).itemsize == 64
    for rtype in JSON_TYPES:
        assert record_dtype(rtype) is None
    assert record_dtype(4242) is None


def test_frames_are_8_byte_aligned_and_at_most_4_kib():
    assert frame_bytes(0) == 48
    assert frame_bytes(1) == frame_bytes(8) == 56
    assert frame_bytes(64) == 112
    assert frame_bytes(MAX_PAYLOAD) == MAX_FRAME == 4096


def test_the_ring_entry_is_ten_words():
    assert ENTRY_DTYPE.itemsize == 80
