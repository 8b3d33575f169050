"""Recovery: verify every segment, cut a torn tail off the last one, refuse corruption.

Every frame of every segment is checked (head, CRC32C, sequence continuing the previous
one, across segments too) by the compiled scanner over the mmapped file.

Torn tail versus corruption
---------------------------
Let ``p`` be the offset in a segment where verification first fails — the header (``p``
= 0) or the first frame that is incomplete, malformed, fails its CRC32C or does not carry
the next sequence — and ``E`` the sequence expected there (for a header, the first
sequence its file name promises).

* In any segment but the last: **corruption**. The writer fsyncs a segment before it
  starts the next (every policy but ``none``), so nothing in a finished segment may be
  torn. A segment whose first sequence does not continue the previous one (a segment
  missing) is corruption too, at byte 0.
* In the last segment, the bytes from ``p`` to the end are a **torn tail** — what a crash
  during a write, or a power failure before an fsync, may leave: a short file, zeros,
  pages written back out of order — unless an intact frame (complete, well formed,
  CRC-valid, sequence ≥ ``E``) found at any multiple of 8 after ``p`` **vouches** for
  ``E``: its ``durable`` field, the highest sequence the writer had fsynced when it wrote
  that frame, is ≥ ``E``. Then ``E``'s bytes were on disk before that frame existed, no
  crash can have damaged them, and the damage is **corruption**.

A torn tail is truncated at ``p`` (a last segment torn at its header is removed) and the
truncation fsynced; the report gives the bytes cut and the records: the damaged frame at
``p`` plus every intact frame found after it. Corruption raises :class:`CorruptJournal`
naming the file and byte offset, and nothing is changed on disk.

Why is a damaged frame between intact neighbours not corruption by itself? Because a
power failure makes exactly that out of an honest torn write: the page holding the end of
the last fsynced data and the start of frame ``E`` may never be written back while the
next page, holding the rest of ``E`` and all of ``E + 1``, is; and a page written back
while ``write`` is still copying a batch into it holds part of a frame. Only the durable
mark separates promised bytes from unpromised ones. The price: damage to the last fsynced
batch, with no later frame to vouch for it, cannot be told from a torn write, so it is cut
(and reported), not refused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from lowlat.journal.files import FileLayer, MappedFile, OsFiles
from lowlat.journal.format import SEGMENT_HEAD
from lowlat.journal.scan_kernels import (
    BAD_CRC,
    BAD_HEAD,
    BAD_TRUNCATED,
    OK_END,
    find_vouching_frame,
    verify_frames,
)
from lowlat.journal.segments import list_segments, parse_segment_header

__all__ = ["CorruptJournal", "RecoveryReport", "SegmentInfo", "recover"]

_UNLIMITED = 1 << 62


class CorruptJournal(ValueError):
    """The journal is damaged where a crash cannot have damaged it.

    Attributes
    ----------
    path
        The segment file.
    offset
        Byte offset in it of the first damaged frame (0 for a damaged header).
    reason
        What is wrong there.
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"corrupt journal segment {path} at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class SegmentInfo:
    """One verified segment."""

    path: str
    first_seq: int
    records: int
    size: int  # bytes after recovery (header included)


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery found and what it cut.

    ``next_seq`` is the sequence the next append gets: one past the last recovered record.
    """

    directory: str
    segments: tuple[SegmentInfo, ...]
    first_seq: int
    next_seq: int
    records: int
    truncated_bytes: int
    truncated_records: int
    torn_reason: str | None  # what the torn tail looked like, None if there was none
    seconds: float

    @property
    def last_seq(self) -> int:
        """Sequence of the last recovered record (``first_seq - 1`` if there is none)."""
        return self.next_seq - 1


def frame_problem(status: int, expected: int, found: int) -> str:
    """Words for a scanner status."""
    if status == BAD_TRUNCATED:
        return "frame runs past the end of the file"
    if status == BAD_HEAD:
        return "malformed frame head (mark, type, flags or length)"
    if status == BAD_CRC:
        return "CRC32C mismatch"
    return f"sequence {found} where {expected} was expected"


def recover(directory: str | os.PathLike[str], *, files: FileLayer | None = None) -> RecoveryReport:
    """Verify the journal in ``directory`` and repair a torn tail (see the module docstring).

    Holds the directory's lock meanwhile: a journal open for writing elsewhere is refused.

    Raises
    ------
    CorruptJournal
        If any segment is damaged other than by a torn tail; nothing is changed then.
    DirectoryInUse
        If a journal has the directory open.
    """
    directory = os.fspath(directory)
    files = files or OsFiles()
    lock = files.lock(directory)
    try:
        return recover_locked(directory, files)
    finally:
        lock.release()


def recover_locked(directory: str, files: FileLayer) -> RecoveryReport:
    """:func:`recover` for a caller that holds the directory's lock."""
    began = time.monotonic()
    found = list_segments(files, directory)
    kept: list[SegmentInfo] = []
    first_seq = found[0][0] if found else 0
    expected = first_seq
    truncated_bytes = truncated_records = 0
    torn_reason = None
    for index, (name_seq, path) in enumerate(found):
        last = index == len(found) - 1
        if name_seq != expected:
            raise CorruptJournal(
                path, 0, f"segment starts at sequence {name_seq}, {expected} expected"
            )
        with files.map(path) as segment:
            file_size = segment.size
            problem = parse_segment_header(segment.bytes, name_seq)
            if problem is None:
                count, size, torn = _scan(path, segment, expected, last)
            else:
                torn = _torn_header(path, segment, expected, last, problem)
                count, size = 0, 0
        if torn is not None:
            truncated_bytes = file_size - size
            truncated_records, torn_reason = torn
        if size == 0:  # torn at its header: the whole segment goes
            files.remove(path)
            files.sync_dir(directory)
            break
        if size < file_size:
            files.truncate(path, size)
        kept.append(SegmentInfo(path, name_seq, count, size))
        expected += count
    return RecoveryReport(
        directory=directory,
        segments=tuple(kept),
        first_seq=first_seq,
        next_seq=expected,
        records=expected - first_seq,
        truncated_bytes=truncated_bytes,
        truncated_records=truncated_records,
        torn_reason=torn_reason,
        seconds=time.monotonic() - began,
    )


def _scan(
    path: str, segment: MappedFile, expected: int, last: bool
) -> tuple[int, int, tuple[int, str] | None]:
    """Verify the frames of one segment; ``(records, valid size, (torn records, why) | None)``."""
    data, words, end = segment.bytes, segment.words, segment.size
    count, pos, status = verify_frames(data, words, SEGMENT_HEAD, end, expected, _UNLIMITED)
    if status == OK_END:
        return int(count), int(pos), None
    bad_seq = expected + count
    found = int(words[(pos >> 3) + 1]) if pos + 16 <= end else -1
    problem = frame_problem(int(status), bad_seq, found)
    if not last:
        raise CorruptJournal(path, int(pos), problem)
    intact = _check_torn(path, segment, int(pos), bad_seq, problem)
    why = f"{os.path.basename(path)} byte {pos}: {problem}"
    return int(count), int(pos), (1 + intact, why)


def _torn_header(
    path: str, segment: MappedFile, first_seq: int, last: bool, problem: str
) -> tuple[int, str]:
    """``(torn records, why)`` for a last segment torn at its header, or raise."""
    if not last:
        raise CorruptJournal(path, 0, problem)
    intact = _check_torn(path, segment, 0, first_seq, problem)
    return intact, f"{os.path.basename(path)}: {problem}"


def _check_torn(path: str, segment: MappedFile, pos: int, seq: int, problem: str) -> int:
    """Raise if an intact frame after ``pos`` vouches for ``seq``; else the intact frames."""
    vouching, intact = find_vouching_frame(segment.bytes, segment.words, pos, segment.size, seq)
    if vouching >= 0:
        raise CorruptJournal(
            path,
            pos,
            f"{problem}; the intact frame at byte {vouching} was written after sequence "
            f"{seq} was fsynced, so this is not a torn tail",
        )
    return int(intact)
