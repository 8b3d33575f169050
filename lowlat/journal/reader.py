"""Reading a journal back in batches: what a replay re-runs through the pipeline.

A batch is a handful of NumPy arrays — type, sequence, monotonic and wall time, payload
offset and length — plus one byte buffer holding the payloads, so a replay loop can pick
the records of one type as a structured array (:meth:`RecordBatch.records`) and hand them
to compiled code without a Python object per record. Every frame is verified (CRC32C,
sequence) as it is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowlat.core.records import RECORD_BYTES
from lowlat.journal.files import FileLayer, OsFiles
from lowlat.journal.format import MAX_FRAME, SEGMENT_HEAD, record_dtype
from lowlat.journal.recovery import CorruptJournal, frame_problem
from lowlat.journal.scan_kernels import OK_END, OK_FULL, index_frames, verify_frames
from lowlat.journal.segments import list_segments, parse_segment_header

__all__ = ["JournalReader", "RecordBatch"]


@dataclass(frozen=True)
class RecordBatch:
    """Consecutive journal records: row ``i`` is sequence ``seqs[i]``.

    ``data[offsets[i]:offsets[i] + lengths[i]]`` is the payload of row ``i``.
    """

    types: np.ndarray  # int64
    seqs: np.ndarray  # int64
    mono_ns: np.ndarray  # int64
    wall_ns: np.ndarray  # int64
    offsets: np.ndarray  # int64
    lengths: np.ndarray  # int64
    data: np.ndarray  # uint8

    def __len__(self) -> int:
        return int(self.seqs.shape[0])

    def payload(self, row: int) -> bytes:
        """The payload of row ``row``."""
        start = int(self.offsets[row])
        return self.data[start : start + int(self.lengths[row])].tobytes()

    def json(self, row: int) -> Any:
        """The JSON payload of row ``row``, decoded."""
        return json.loads(self.payload(row))

    def records(self, rtype: int, dtype: np.dtype | None = None) -> np.ndarray:
        """The 64-byte payloads of the rows of type ``rtype``, in order, as a record array.

        ``dtype`` defaults to the type's registered dtype (``RECORD_DTYPES``).

        Raises
        ------
        ValueError
            If the type has no record dtype, or a row of it is not 64 bytes.
        """
        dtype = np.dtype(dtype) if dtype is not None else record_dtype(rtype)
        if dtype is None or dtype.itemsize != RECORD_BYTES:
            raise ValueError(f"record type {rtype} has no {RECORD_BYTES}-byte record dtype")
        rows = np.flatnonzero(self.types == rtype)
        if np.any(self.lengths[rows] != RECORD_BYTES):
            raise ValueError(f"a record of type {rtype} is not {RECORD_BYTES} bytes")
        out = np.empty(rows.shape[0], dtype)
        index = self.offsets[rows, None] + np.arange(RECORD_BYTES)
        out.view(np.uint8).reshape(-1, RECORD_BYTES)[:] = self.data[index]
        return out


class JournalReader:
    """Iterates the records of a journal directory from ``from_seq``, in batches.

    Parameters
    ----------
    directory
        The journal's directory.
    from_seq
        First sequence to return (earlier ones are skipped); the journal's first by default.
    until_seq
        Last sequence to return; by default the end of the last segment. A reader of a
        journal that is being written passes the journal's written sequence, so that it
        never meets a frame still being appended.
    batch_records
        Most rows per batch.
    files
        File layer (tests); the real file system by default.

    Raises
    ------
    CorruptJournal
        While iterating, at the first frame that fails verification (run recovery first:
        a reader does not repair).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        from_seq: int = 0,
        until_seq: int | None = None,
        *,
        batch_records: int = 65_536,
        files: FileLayer | None = None,
    ) -> None:
        if batch_records < 1:
            raise ValueError(f"batch_records must be at least 1, got {batch_records}")
        self.directory = os.fspath(directory)
        self.from_seq = from_seq
        self.until_seq = until_seq
        self.batch_records = batch_records
        self._files = files or OsFiles()

    def __iter__(self) -> Iterator[RecordBatch]:
        segments = list_segments(self._files, self.directory)
        for index, (first_seq, path) in enumerate(segments):
            following = segments[index + 1][0] if index + 1 < len(segments) else None
            if following is not None and following <= self.from_seq:
                continue
            if self.until_seq is not None and first_seq > self.until_seq:
                return
            yield from self._segment(path, first_seq)

    def _segment(self, path: str, first_seq: int) -> Iterator[RecordBatch]:
        with self._files.map(path) as segment:
            problem = parse_segment_header(segment.bytes, first_seq)
            if problem is not None:
                raise CorruptJournal(path, 0, problem)
            b, w, end = segment.bytes, segment.words, segment.size
            pos, seq = SEGMENT_HEAD, first_seq
            if self.from_seq > seq:  # skip, verifying
                count, pos, status = verify_frames(b, w, pos, end, seq, self.from_seq - seq)
                seq += count
                if status not in (OK_END, OK_FULL):
                    raise self._corrupt(path, w, pos, end, status, seq)
            while True:
                rows = self.batch_records
                if self.until_seq is not None:
                    rows = min(rows, self.until_seq + 1 - seq)
                if rows <= 0 or pos == end:
                    return
                batch, pos, status = self._batch(b, w, pos, end, seq, rows)
                if len(batch):
                    seq += len(batch)
                    yield batch
                if status not in (OK_END, OK_FULL):
                    if self.until_seq is not None and seq > self.until_seq:
                        return
                    raise self._corrupt(path, w, pos, end, status, seq)

    @staticmethod
    def _batch(
        b: np.ndarray, w: np.ndarray, pos: int, end: int, seq: int, rows: int
    ) -> tuple[RecordBatch, int, int]:
        columns = [np.empty(rows, np.int64) for _ in range(6)]
        data = np.empty(rows * RECORD_BYTES + MAX_FRAME, np.uint8)
        count, pos, used, status = index_frames(b, w, pos, end, seq, *columns, data)
        batch = RecordBatch(*(c[:count] for c in columns), data[:used])
        return batch, int(pos), int(status)

    @staticmethod
    def _corrupt(
        path: str, w: np.ndarray, pos: int, end: int, status: int, seq: int
    ) -> CorruptJournal:
        found = int(w[(pos >> 3) + 1]) if pos + 16 <= end else -1
        return CorruptJournal(path, int(pos), frame_problem(int(status), seq, found))
