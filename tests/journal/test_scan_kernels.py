"""The scanner: what counts as a valid frame, each failure status, and the vouching search."""

import numpy as np
import pytest

from lowlat.journal.format import SEGMENT_HEAD
from lowlat.journal.scan_kernels import (
    BAD_CRC,
    BAD_HEAD,
    BAD_SEQ,
    BAD_TRUNCATED,
    OK_END,
    OK_FULL,
    find_vouching_frame,
    index_frames,
    verify_frames,
)
from lowlat.journal.segments import segment_header
from tests.journal.test_frame_kernels import reference_frame


def segment(frames):
    """Segment bytes from ``(seq, durable, payload)`` triples, with frame offsets."""
    data = bytearray(segment_header(frames[0][0] if frames else 0, 0))
    offsets = []
    for seq, durable, payload in frames:
        offsets.append(len(data))
        data += reference_frame(1, seq, seq * 10, seq * 10 + 5, durable, payload)
    return data, offsets


def views(data):
    b = np.frombuffer(bytes(data), np.uint8)
    return b, b[: b.size // 8 * 8].view(np.int64)


def verify(data, expected=0, max_count=1 << 40):
    b, w = views(data)
    count, pos, status = verify_frames(b, w, SEGMENT_HEAD, b.size, expected, max_count)
    return int(count), int(pos), int(status)


FRAMES = [(s, s - 1, bytes([s]) * (8 * s + 3)) for s in range(5)]


def test_a_sound_segment_verifies_to_its_end():
    data, _ = segment(FRAMES)
    assert verify(data) == (5, len(data), OK_END)


def test_verification_stops_at_max_count():
    data, offsets = segment(FRAMES)
    assert verify(data, max_count=3) == (3, offsets[3], OK_FULL)


@pytest.mark.parametrize(
    ("damage", "status"),
    [
        (lambda d, o: d[: o + 20], BAD_TRUNCATED),  # cut inside the head
        (lambda d, o: d[: o + 50], BAD_TRUNCATED),  # cut inside the payload
        (lambda d, o: d[: o + 44] + b"XXXX" + d[o + 48 :], BAD_HEAD),  # mark
        (lambda d, o: d[: o + 40] + b"\0\0" + d[o + 42 :], BAD_HEAD),  # type 0
        (lambda d, o: d[: o + 4] + b"\xff\xff\0\0" + d[o + 8 :], BAD_HEAD),  # length
        (lambda d, o: d[: o + 60] + bytes([d[o + 60] ^ 1]) + d[o + 61 :], BAD_CRC),
    ],
)
def test_each_kind_of_damage_has_its_status(damage, status):
    data, offsets = segment(FRAMES)
    assert verify(damage(bytes(data), offsets[2])) == (2, offsets[2], status)


def test_an_intact_frame_with_the_wrong_sequence_is_bad_seq():
    data, _ = segment(FRAMES)
    assert verify(data, expected=1) == (0, SEGMENT_HEAD, BAD_SEQ)


def test_index_frames_copies_payloads_and_stops_when_its_buffer_is_full():
    data, offsets = segment(FRAMES)
    b, w = views(data)
    cols = [np.zeros(10, np.int64) for _ in range(6)]
    room = np.zeros(40, np.uint8)  # payloads of 3, 11, 19 bytes pad to 8, 16, 24
    count, pos, used, status = index_frames(b, w, SEGMENT_HEAD, b.size, 0, *cols, room)
    assert (count, pos, used, status) == (2, offsets[2], 24, OK_FULL)
    types, seqs, mono, wall, offs, lengths = (c[:2].tolist() for c in cols)
    assert (types, seqs, mono, wall) == ([1, 1], [0, 1], [0, 10], [5, 15])
    assert (offs, lengths) == ([0, 8], [3, 11])
    assert room[8:19].tobytes() == bytes([1]) * 11


def test_a_frame_written_after_the_damaged_one_was_durable_vouches_for_it():
    frames = [(0, -1, b"a" * 64), (1, -1, b"b" * 64), (2, -1, b"c" * 64), (3, 1, b"d" * 64)]
    data, offsets = segment(frames)
    data[offsets[1] + 60] ^= 1  # frame 1 damaged; frame 3 says 1 was durable
    data[offsets[2] + 60] ^= 1  # and 2, so that 2 (= 1 + 1) cannot vouch
    b, w = views(data)
    assert find_vouching_frame(b, w, offsets[1], b.size, 1) == (offsets[3], 0)


def test_intact_neighbours_alone_do_not_vouch_for_a_damaged_frame():
    data, offsets = segment([(s, 0, b"x" * 64) for s in range(4)])
    data[offsets[1] + 60] ^= 1
    b, w = views(data)
    assert find_vouching_frame(b, w, offsets[1], b.size, 1) == (-1, 2)


def test_later_intact_frames_that_were_not_durable_do_not_vouch():
    data, offsets = segment([(s, -1, b"x" * 64) for s in range(5)])
    for bad in (1, 2):
        data[offsets[bad] + 60] ^= 1
    b, w = views(data)
    assert find_vouching_frame(b, w, offsets[1], b.size, 1) == (-1, 2)
