"""Compiled verification of segment bytes: recovery's scanner and the reader's indexer.

Each function takes a segment twice — as uint8 bytes and as int64 words (the first
``size // 8 * 8`` bytes) — both views of one mmap, and byte offsets that are multiples
of 8. A frame is *valid* at ``pos`` when it lies wholly before ``end``, its head is
well formed (mark, flags 0, type ≠ 0, length ≤ ``MAX_PAYLOAD``), its CRC32C matches
and its sequence is the one expected there. Statuses below zero say what failed.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.journal.crc_kernels import MASK32, crc32c_update
from lowlat.journal.format import (
    F_CRC_LENGTH,
    F_DURABLE,
    F_MONO,
    F_SEQ,
    F_TYPE_MARK,
    F_WALL,
    FRAME_HEAD,
    FRAME_MARK,
    MAX_PAYLOAD,
)

__all__ = [
    "BAD_CRC",
    "BAD_HEAD",
    "BAD_SEQ",
    "BAD_TRUNCATED",
    "OK_END",
    "OK_FULL",
    "check_frame",
    "find_vouching_frame",
    "index_frames",
    "verify_frames",
]

OK_END = 0  # the scan reached ``end`` exactly
OK_FULL = 1  # the scan stopped for room (max count, output arrays, payload buffer)
BAD_TRUNCATED = -1  # the frame at pos runs past ``end``
BAD_HEAD = -2  # mark, flags, type or length impossible
BAD_CRC = -3
BAD_SEQ = -4  # an intact frame, but not the sequence expected there


@hot_kernel_inline
def _frame_size(b: np.ndarray, w: np.ndarray, pos: int, end: int) -> int:
    """Size of an intact frame at ``pos`` (whatever its sequence), or a BAD_* status."""
    if pos + FRAME_HEAD > end:
        return BAD_TRUNCATED
    k = pos >> 3
    type_mark = w[k + F_TYPE_MARK]
    if (type_mark >> 32) != FRAME_MARK or ((type_mark >> 16) & 0xFFFF) != 0:
        return BAD_HEAD
    if (type_mark & 0xFFFF) == 0:
        return BAD_HEAD
    crc_length = w[k + F_CRC_LENGTH]
    length = (crc_length >> 32) & MASK32
    if length > MAX_PAYLOAD:
        return BAD_HEAD
    size = FRAME_HEAD + ((length + 7) & ~7)
    if pos + size > end:
        return BAD_TRUNCATED
    if crc32c_update(0, b, pos + 4, pos + size) != (crc_length & MASK32):
        return BAD_CRC
    return size


@hot_kernel
def check_frame(b: np.ndarray, w: np.ndarray, pos: int, end: int, expected_seq: int) -> int:
    """Size in bytes of the valid frame at ``pos``, or the BAD_* status that refutes it."""
    size = _frame_size(b, w, pos, end)
    if size > 0 and w[(pos >> 3) + F_SEQ] != expected_seq:
        return BAD_SEQ
    return size


@hot_kernel
def verify_frames(
    b: np.ndarray, w: np.ndarray, pos: int, end: int, expected_seq: int, max_count: int
) -> tuple[int, int, int]:
    """Verify consecutive frames from ``pos``, the first with sequence ``expected_seq``.

    Returns
    -------
    (count, pos, status)
        Valid frames passed, the offset after them (where the scan stopped), and
        ``OK_END``, ``OK_FULL`` (``max_count`` reached) or the BAD_* status of the frame
        at ``pos``.
    """
    count = 0
    while count < max_count:
        if pos == end:
            return count, pos, OK_END
        size = check_frame(b, w, pos, end, expected_seq + count)
        if size < 0:
            return count, pos, size
        pos += size
        count += 1
    return count, pos, OK_FULL


@hot_kernel
def index_frames(
    b: np.ndarray,
    w: np.ndarray,
    pos: int,
    end: int,
    expected_seq: int,
    types: np.ndarray,
    seqs: np.ndarray,
    mono: np.ndarray,
    wall: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    data: np.ndarray,
) -> tuple[int, int, int, int]:
    """Verify frames like :func:`verify_frames` and copy them out for a reader.

    Row ``i`` of the output arrays describes the ``i``-th frame; its payload is copied to
    ``data[offsets[i]:offsets[i] + lengths[i]]`` (offsets multiples of 8). The scan stops
    when the arrays or ``data`` are full.

    Returns
    -------
    (count, pos, used, status)
        Frames copied, offset after them, bytes of ``data`` used, and a status as in
        :func:`verify_frames`.
    """
    count = 0
    used = 0
    rows = types.shape[0]
    room = data.shape[0]
    while count < rows:
        if pos == end:
            return count, pos, used, OK_END
        size = check_frame(b, w, pos, end, expected_seq + count)
        if size < 0:
            return count, pos, used, size
        if used + size - FRAME_HEAD > room:
            return count, pos, used, OK_FULL
        k = pos >> 3
        length = (w[k + F_CRC_LENGTH] >> 32) & MASK32
        types[count] = w[k + F_TYPE_MARK] & 0xFFFF
        seqs[count] = w[k + F_SEQ]
        mono[count] = w[k + F_MONO]
        wall[count] = w[k + F_WALL]
        offsets[count] = used
        lengths[count] = length
        body = pos + FRAME_HEAD
        for i in range(length):
            data[used + i] = b[body + i]
        used += size - FRAME_HEAD
        pos += size
        count += 1
    return count, pos, used, OK_FULL


@hot_kernel
def find_vouching_frame(
    b: np.ndarray, w: np.ndarray, start: int, end: int, expected_seq: int
) -> tuple[int, int]:
    """Look past a bad frame at ``start`` for an intact frame proving it was not torn.

    Every multiple of 8 after ``start`` is tried. An intact frame vouches for the bad one
    (sequence ``expected_seq``) if its ``durable`` field is at least ``expected_seq``: the
    writer had fsynced the bad frame before it wrote this one, so the bad frame's bytes
    were on disk before this frame's existed, and no crash or power failure undoes that.

    Returns
    -------
    (offset, intact)
        Offset of the first vouching frame (-1 if none) and how many intact frames with a
        sequence of at least ``expected_seq`` the search met before it.
    """
    intact = 0
    q = start + 8
    while q + FRAME_HEAD <= end:
        size = _frame_size(b, w, q, end)
        if size < 0:
            q += 8
            continue
        k = q >> 3
        if w[k + F_SEQ] >= expected_seq:
            if w[k + F_DURABLE] >= expected_seq:
                return q, intact
            intact += 1
        q += size
    return -1, intact
