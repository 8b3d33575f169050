"""``Journal``: open (recover) a journal directory, hand the hot path its rings, write.

Control code. Opening runs recovery, then allocates one lossless journal ring per
producer and starts the writer thread. The hot path journals a 64-byte record with
``kernels.publish(*journal.ring(p), rtype, mono_ns, words)``; control code appends
variable-length records (lifecycle, risk, operator events) with :meth:`Journal.append`.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowlat.core.atomics import load_acquire
from lowlat.core.records import RECORD_BYTES
from lowlat.core.ring import Policy, RingArrays, RingBus
from lowlat.journal import kernels
from lowlat.journal.config import JournalConfig
from lowlat.journal.files import FileLayer, OsFiles
from lowlat.journal.format import ENTRY_DTYPE, MAX_PAYLOAD, MAX_TYPE
from lowlat.journal.reader import JournalReader
from lowlat.journal.recovery import RecoveryReport, recover_locked
from lowlat.journal.segments import list_segments
from lowlat.journal.writer import (
    S_BATCHES,
    S_BYTES,
    S_DURABLE,
    S_FSYNCS,
    S_RECORDS,
    S_SEGMENTS,
    S_WRITTEN,
    JournalError,
    Writer,
)

__all__ = ["Journal", "JournalStats", "record_words"]


@dataclass(frozen=True)
class JournalStats:
    """Counters of an open journal (read without stopping anything)."""

    written_seq: int  # highest sequence handed to the file: survives a process crash
    durable_seq: int  # highest sequence fsynced: survives a power failure
    records: int  # records written since open
    bytes: int  # bytes written since open (frames only)
    batches: int  # writes (group commits)
    fsyncs: int
    segments_created: int
    back_pressured: int  # publishes refused because a ring was full, over all rings
    pending: int  # records published but not yet taken by the writer
    writer_running: bool


def record_words(records: np.ndarray) -> np.ndarray:
    """The int64 words of a 64-byte record array, one row of 8 per record (a view, no copy).

    Made once in control code; the hot path passes ``words[i]`` to ``kernels.publish``.
    """
    if records.dtype.itemsize != RECORD_BYTES or not records.flags.c_contiguous:
        raise ValueError(
            f"need a contiguous array of {RECORD_BYTES}-byte records, got {records.dtype}"
        )
    return records.reshape(-1).view(np.int64).reshape(-1, RECORD_BYTES // 8)


class Journal:
    """An open, append-only journal in ``directory``.

    Parameters
    ----------
    directory
        Where the segment files live (created if missing).
    config
        Sizes and fsync policy; the defaults if None.
    files
        File layer to write through (tests inject one that simulates power failures).
    start
        Start the writer thread now. Without it, publishes fill the rings (and are
        back-pressured once one is full) until :meth:`start`.

    Raises
    ------
    CorruptJournal
        If recovery finds damage other than a torn tail.
    DirectoryInUse
        If another journal has the directory open (one writer per directory).

    Attributes
    ----------
    recovery
        What recovery found (records, next sequence, what was truncated).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        config: JournalConfig | None = None,
        *,
        files: FileLayer | None = None,
        start: bool = True,
    ) -> None:
        self.directory = os.fspath(directory)
        self.config = config or JournalConfig()
        self._files = files or OsFiles()
        self._files.make_dir(self.directory)
        self._lock = self._files.lock(self.directory)
        try:
            self.recovery: RecoveryReport = recover_locked(self.directory, self._files)
            self._open()
        except BaseException:
            self._lock.release()
            raise
        self._closed = False
        if start:
            self.start()

    def _open(self) -> None:
        self._rings = [
            RingBus(self.config.ring_capacity, ENTRY_DTYPE, max_consumers=1)
            for _ in range(self.config.producers)
        ]
        consumers = [ring.add_consumer(Policy.LOSSLESS) for ring in self._rings]
        segments = [(info.path, info.size) for info in self.recovery.segments]
        self._writer = Writer(
            self.directory,
            self.config,
            self._files,
            self._rings,
            consumers,
            self.recovery.next_seq,
            segments,
        )

    # --- producing ----------------------------------------------------------------------

    def ring(self, producer: int = 0) -> RingArrays:
        """The arrays of producer ``producer``'s ring, for ``kernels.publish`` (hot path)."""
        return self._rings[producer].arrays

    def ring_bus(self, producer: int = 0) -> RingBus:
        """Producer ``producer``'s ring itself, for its statistics (one consumer: the writer)."""
        return self._rings[producer]

    def publish(
        self,
        rtype: int,
        record: np.ndarray | np.void,
        *,
        producer: int = 0,
        mono_ns: int | None = None,
    ) -> int:
        """Journal one 64-byte record from control code, through producer ``producer``'s ring.

        Only from the thread that owns that ring. Returns the ticket, ``BACK_PRESSURED``
        or ``INVALID_TYPE``, like ``kernels.publish``.
        """
        words = np.ascontiguousarray(record).reshape(1)
        mono = time.monotonic_ns() if mono_ns is None else mono_ns
        return int(kernels.publish(*self.ring(producer), rtype, mono, record_words(words)[0]))

    def append(self, rtype: int, payload: bytes, *, mono_ns: int | None = None) -> None:
        """Queue a variable-length record (control plane; any thread; blocks only briefly).

        Raises
        ------
        ValueError
            If ``rtype`` is not in 1..65535 or the payload exceeds ``MAX_PAYLOAD`` bytes.
        JournalError
            If the journal is closed.
        """
        if not 1 <= rtype <= MAX_TYPE:
            raise ValueError(f"record type must be in 1..{MAX_TYPE}, got {rtype}")
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        if self._closed:
            raise JournalError("the journal is closed")
        mono = time.monotonic_ns() if mono_ns is None else mono_ns
        self._writer.submit(int(rtype), mono, bytes(payload))

    def append_json(
        self, rtype: int, event: Mapping[str, Any], *, mono_ns: int | None = None
    ) -> None:
        """Queue ``event`` as compact JSON with sorted keys (same event, same bytes)."""
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.append(rtype, text.encode(), mono_ns=mono_ns)

    # --- progress -----------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Sequence recovery said the first new record gets (fixed at open)."""
        return self.recovery.next_seq

    @property
    def written_seq(self) -> int:
        """Highest sequence written to the file: a process crash cannot lose it."""
        return int(load_acquire(self._writer.status, S_WRITTEN))

    @property
    def durable_seq(self) -> int:
        """Highest sequence the fsync policy guarantees survives a power failure (-1: none)."""
        return int(load_acquire(self._writer.status, S_DURABLE))

    def flush(self, timeout: float | None = None) -> int:
        """Wait until everything published or appended before the call is written.

        Returns the written sequence. Taken at a quiescent point — the hot path published
        everything a state reflects and nothing after it — that is the sequence a snapshot
        of that state covers.
        """
        return self._writer.flush(timeout)

    def sync(self, timeout: float | None = None) -> int:
        """:meth:`flush`, then fsync regardless of the policy; return the durable sequence."""
        return self._writer.sync(timeout)

    def wait_durable(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until ``seq`` is durable under the policy; False on timeout."""
        return self._writer.wait_durable(seq, timeout)

    def write_pending(self) -> int:
        """Write what is waiting now, in the calling thread, as one group commit.

        For a journal opened with ``start=False`` that is never started: a single-threaded
        or deterministic loop drives the writer itself (the fsync policy applies as usual).
        Returns how many records were written.
        """
        return self._writer.write_pending()

    def stats(self) -> JournalStats:
        """Counters of the writer and the rings."""
        status = self._writer.status
        rings = [ring.stats() for ring in self._rings]
        return JournalStats(
            written_seq=int(load_acquire(status, S_WRITTEN)),
            durable_seq=int(load_acquire(status, S_DURABLE)),
            records=int(status[S_RECORDS]),
            bytes=int(status[S_BYTES]),
            batches=int(status[S_BATCHES]),
            fsyncs=int(status[S_FSYNCS]),
            segments_created=int(status[S_SEGMENTS]),
            back_pressured=sum(r.back_pressured for r in rings),
            pending=sum(c.lag for r in rings for c in r.consumers),
            writer_running=self._writer.running,
        )

    @property
    def error(self) -> BaseException | None:
        """What the writer thread died of, or None."""
        return self._writer.error

    # --- reading and retiring -----------------------------------------------------------

    def reader(self, from_seq: int | None = None, *, batch_records: int = 65_536) -> JournalReader:
        """A reader of the records written so far, from ``from_seq`` (the first kept)."""
        first = self.recovery.first_seq if from_seq is None else from_seq
        return JournalReader(
            self.directory,
            first,
            self.written_seq,
            batch_records=batch_records,
            files=self._files,
        )

    def retire(self, covered_seq: int) -> list[str]:
        """Delete segments whose records all have sequences ≤ ``covered_seq``.

        The segment being written is never deleted. Returns the deleted paths.
        """
        segments = list_segments(self._files, self.directory)
        removed = []
        for (_, path), (following, _) in itertools.pairwise(segments):
            if following - 1 > covered_seq:
                break
            self._files.remove(path)
            removed.append(path)
        if removed:
            self._files.sync_dir(self.directory)
        return removed

    # --- lifetime -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (if it is not running yet)."""
        self._writer.start()

    def close(self) -> None:
        """Write everything published so far, fsync per policy, stop the writer.

        The hot path must have stopped publishing. Raises ``JournalError`` if the writer
        had failed.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.stop()
        finally:
            self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
