"""Compiled framing for the writer: a batch of ring entries becomes one byte run to append.

The writer thread polls the journal ring into an entry buffer, and one call here frames
the whole batch into a preallocated output buffer — sequence, timestamps, durable mark,
CRC32C — so that the batch reaches the file in a single write. The output buffer is
passed twice, as int64 words (to write fields) and as bytes (for the CRC), two views of
the same memory made once by the writer.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel
from lowlat.journal.crc_kernels import MASK32, crc32c_update
from lowlat.journal.format import (
    E_MONO,
    E_PAYLOAD,
    E_TYPE,
    F_CRC_LENGTH,
    F_DURABLE,
    F_MONO,
    F_SEQ,
    F_TYPE_MARK,
    F_WALL,
    FRAME_HEAD,
    FRAME_MARK,
    FRAME_WORDS,
    PAYLOAD_WORDS,
    RECORD_FRAME,
)

__all__ = ["frame_entries", "frame_payload"]

_RECORD_BYTES = PAYLOAD_WORDS * 8


@hot_kernel
def frame_entries(
    entries: np.ndarray,
    start: int,
    count: int,
    out_words: np.ndarray,
    out_bytes: np.ndarray,
    pos: int,
    limit: int,
    seq: int,
    anchor_mono: int,
    anchor_wall: int,
    durable: int,
) -> tuple[int, int]:
    """Frame ``entries[start:start + count]`` at byte ``pos``, stopping before ``limit``.

    The first gets sequence ``seq``; the wall time of each is its monotonic time moved by
    the writer's anchor pair (``anchor_wall - anchor_mono``).

    Returns
    -------
    (framed, pos)
        How many entries were framed, and the byte just after the last frame.
    """
    framed = 0
    shift = anchor_wall - anchor_mono
    while framed < count and pos + RECORD_FRAME <= limit:
        entry = start + framed
        w = pos >> 3
        mono = entries[entry, E_MONO]
        out_words[w + F_CRC_LENGTH] = _RECORD_BYTES << 32
        out_words[w + F_SEQ] = seq + framed
        out_words[w + F_MONO] = mono
        out_words[w + F_WALL] = mono + shift
        out_words[w + F_DURABLE] = durable
        out_words[w + F_TYPE_MARK] = (entries[entry, E_TYPE] & 0xFFFF) | (FRAME_MARK << 32)
        for k in range(PAYLOAD_WORDS):
            out_words[w + FRAME_WORDS + k] = entries[entry, E_PAYLOAD + k]
        crc = crc32c_update(0, out_bytes, pos + 4, pos + RECORD_FRAME)
        out_words[w + F_CRC_LENGTH] = (_RECORD_BYTES << 32) | crc
        pos += RECORD_FRAME
        framed += 1
    return framed, pos


@hot_kernel
def frame_payload(
    out_words: np.ndarray,
    out_bytes: np.ndarray,
    pos: int,
    rtype: int,
    seq: int,
    mono_ns: int,
    wall_ns: int,
    durable: int,
    payload: np.ndarray,
    length: int,
) -> int:
    """Frame one payload of ``length`` bytes (uint8, at most ``MAX_PAYLOAD``) at ``pos``.

    The caller has checked that the frame fits. Returns the byte after the frame.
    """
    w = pos >> 3
    padded = (length + 7) & ~7
    if padded > 0:
        out_words[w + FRAME_WORDS + (padded >> 3) - 1] = 0  # zero padding: the buffer is reused
    out_words[w + F_CRC_LENGTH] = np.int64(length) << 32
    out_words[w + F_SEQ] = seq
    out_words[w + F_MONO] = mono_ns
    out_words[w + F_WALL] = wall_ns
    out_words[w + F_DURABLE] = durable
    out_words[w + F_TYPE_MARK] = (rtype & 0xFFFF) | (FRAME_MARK << 32)
    body = pos + FRAME_HEAD
    for i in range(length):
        out_bytes[body + i] = payload[i]
    end = body + padded
    crc = crc32c_update(0, out_bytes, pos + 4, end)
    out_words[w + F_CRC_LENGTH] = (np.int64(length) << 32) | (crc & MASK32)
    return end
