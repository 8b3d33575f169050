"""Framing: the bytes the writer produces, field by field, against a struct-built reference."""

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lowlat.journal import crc32c
from lowlat.journal.format import ENTRY_WORDS, FRAME_MARK, RECORD_FRAME
from lowlat.journal.frame_kernels import frame_entries, frame_payload

HEAD = struct.Struct("<IqqqqHHI")  # length .. mark: what the CRC covers before the payload


def reference_frame(rtype, seq, mono, wall, durable, payload):
    padded = payload + bytes(-len(payload) % 8)
    body = HEAD.pack(len(payload), seq, mono, wall, durable, rtype, 0, FRAME_MARK) + padded
    return struct.pack("<I", crc32c(body)) + body


def out_buffer(size=8192):
    words = np.zeros(size // 8, np.int64)
    return words, words.view(np.uint8)


def entries_for(payloads, types, monos):
    entries = np.zeros((len(payloads), ENTRY_WORDS), np.int64)
    for i, payload in enumerate(payloads):
        entries[i, 0] = monos[i]
        entries[i, 1] = types[i]
        entries[i, 2:] = np.frombuffer(payload, np.int64)
    return entries


def test_entries_are_framed_with_sequence_wall_time_and_crc():
    payloads = [bytes(range(i, i + 64)) for i in range(3)]
    entries = entries_for(payloads, [1, 2, 3], [1_000, 2_000, 3_000])
    words, data = out_buffer()
    framed, end = frame_entries(entries, 0, 3, words, data, 0, data.size, 10, 500, 10_500, 7)
    assert (framed, end) == (3, 3 * RECORD_FRAME)
    expected = b"".join(
        reference_frame(i + 1, 10 + i, (i + 1) * 1_000, (i + 1) * 1_000 + 10_000, 7, p)
        for i, p in enumerate(payloads)
    )
    assert data[:end].tobytes() == expected


def test_framing_stops_before_the_limit_and_resumes_from_an_entry():
    payloads = [bytes([i]) * 64 for i in range(5)]
    entries = entries_for(payloads, [9] * 5, [0] * 5)
    words, data = out_buffer()
    framed, end = frame_entries(entries, 0, 5, words, data, 0, 2 * RECORD_FRAME + 50, 0, 0, 0, -1)
    assert (framed, end) == (2, 2 * RECORD_FRAME)
    framed, end = frame_entries(entries, 2, 3, words, data, end, data.size, 2, 0, 0, -1)
    assert (framed, end) == (3, 5 * RECORD_FRAME)
    assert data[4 * RECORD_FRAME + 48 : 5 * RECORD_FRAME].tobytes() == payloads[4]


@settings(deadline=None)  # the first example may compile
@given(st.binary(max_size=300), st.integers(1, 0xFFFF))
def test_a_variable_payload_is_framed_with_zero_padding(payload, rtype):
    words, data = out_buffer()
    data[:] = 0xAB  # a reused buffer holds old bytes
    end = frame_payload(
        words, data, 8, rtype, 5, 6, 7, 4, np.frombuffer(payload, np.uint8), len(payload)
    )
    assert data[8:end].tobytes() == reference_frame(rtype, 5, 6, 7, 4, payload)
