"""The writer thread: drains the journal rings, frames each batch, appends it with one write.

Control code around two compiled calls per ring and pass — ``poll_batch`` (the ring's
lossless consumer) and ``frame_entries`` — plus one ``write`` per batch (group commit)
and the fsync policy. It also frames the control plane's variable-length records, which
arrive through a locked list rather than a ring (control code may block briefly; the hot
path never does).

Sequence numbers are assigned here, in the order the writer frames records: control
records queued before a pass first, then each ring's batch in producer order. Wall time
is never read on the hot path: each pass samples a (monotonic, wall) anchor pair and
stamps ``wall = mono + (anchor_wall - anchor_mono)``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.memory import touched
from lowlat.core.ring import RingBus
from lowlat.core.ring import kernels as ring_kernels
from lowlat.core.sched import pin_thread
from lowlat.journal.config import FsyncPolicy, JournalConfig
from lowlat.journal.files import AppendFile, FileLayer
from lowlat.journal.format import (
    ENTRY_WORDS,
    MAX_FRAME,
    NO_SEQ,
    RECORD_FRAME,
    SEGMENT_HEAD,
    frame_bytes,
    segment_name,
)
from lowlat.journal.frame_kernels import frame_entries, frame_payload
from lowlat.journal.segments import segment_header

__all__ = ["JournalError", "Writer"]

# status words (int64, written by the writer with release stores)
S_WRITTEN = 0  # highest sequence handed to the file (survives a process crash)
S_DURABLE = 1  # highest sequence fsynced (survives a power failure)
S_RECORDS = 2
S_BYTES = 3
S_BATCHES = 4
S_FSYNCS = 5
S_SEGMENTS = 6  # segments the writer created
STATUS_WORDS = 8

_IDLE_FIRST_S = 20e-6
_IDLE_MAX_S = 1e-3
_NS_PER_MS = 1_000_000


class JournalError(RuntimeError):
    """The journal cannot do what was asked: its writer failed, stopped, or timed out."""


class Writer:
    """Owns the open segment, the batch buffers and the writer thread of one journal."""

    def __init__(
        self,
        directory: str,
        config: JournalConfig,
        files: FileLayer,
        rings: Sequence[RingBus],
        consumers: Sequence[int],
        next_seq: int,
        segments: Sequence[tuple[str, int]],
    ) -> None:
        self._directory = directory
        self._files = files
        self._rings = list(rings)
        self._consumers = list(consumers)
        self._sync_policy = config.fsync
        self._cpu = config.writer_cpu
        self._interval_ns = config.fsync_interval_ms * _NS_PER_MS
        self._segment_bytes = config.segment_bytes
        self._batch = config.batch_records
        # Written now (touched): the first batches must not stall on page faults, the
        # engine waiting for this thread when it holds for the journal.
        self._entries = touched((self._batch, ENTRY_WORDS), np.int64)
        self._buffer_bytes = len(self._rings) * self._batch * RECORD_FRAME + 4 * MAX_FRAME
        self._out_words = touched(self._buffer_bytes // 8, np.int64)
        self._out_bytes = self._out_words.view(np.uint8)
        # Load the framing kernels here, not on the writer thread's first pass: loading
        # allocates, and a session freezes its heap once warm. (They frame nothing, and an
        # empty control record into the scratch buffer, which every pass writes anew.)
        frame_entries(self._entries, 0, 0, self._out_words, self._out_bytes, 0, 0, 0, 0, 0, 0)
        empty = np.frombuffer(b"", np.uint8)  # read-only, as each control payload
        frame_payload(self._out_words, self._out_bytes, 0, 0, 0, 0, 0, 0, empty, 0)
        self.status = np.zeros(STATUS_WORDS, np.int64)
        self._next_seq = next_seq
        self._control: list[tuple[int, int, bytes]] = []
        self._control_lock = threading.Lock()
        self._submitted = 0  # control records queued (under the lock)
        self._done = 0  # control records written
        self._ring_done = [0] * len(self._rings)  # per ring: tickets written
        self._sync_wanted = NO_SEQ
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sync_ns = time.monotonic_ns()
        self.error: BaseException | None = None
        self.status[S_WRITTEN] = next_seq - 1
        self.status[S_DURABLE] = NO_SEQ
        # Finished segments not known to be fsynced (policy none, or a previous process).
        self._unsynced_paths = [path for path, _ in segments[:-1]]
        self._dir_unsynced = True
        if segments:
            self._path, self._segment_size = segments[-1]
            self._file: AppendFile | None = files.append(self._path)
        else:
            self._file = self._create_segment()
            self._segment_size = SEGMENT_HEAD
        if self._sync_policy is not FsyncPolicy.NONE:
            self._fsync()  # recovered records count as durable once they surely are

    # --- control side (any thread) -----------------------------------------------------

    def submit(self, rtype: int, mono_ns: int, payload: bytes) -> None:
        """Queue a control record for the next pass."""
        with self._control_lock:
            self._control.append((rtype, mono_ns, payload))
            self._submitted += 1
        self._wake.set()

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float | None) -> int:
        """Wait until everything published or queued before the call is written."""
        targets = [ring.publish_cursor() for ring in self._rings]
        with self._control_lock:
            control = self._submitted

        def written() -> bool:
            return self._done >= control and all(
                done >= target for done, target in zip(self._ring_done, targets, strict=True)
            )

        self._wait(written, timeout, "flush")
        return int(load_acquire(self.status, S_WRITTEN))

    def sync(self, timeout: float | None) -> int:
        """Flush, then fsync whatever is written; return the durable sequence."""
        target = self.flush(timeout)
        with self._changed:
            self._sync_wanted = max(self._sync_wanted, target)
        self._wake.set()
        self._wait(lambda: load_acquire(self.status, S_DURABLE) >= target, timeout, "sync")
        return int(load_acquire(self.status, S_DURABLE))

    def wait_durable(self, seq: int, timeout: float | None) -> bool:
        """Wait until ``seq`` is durable; False on timeout."""
        return self._wait(lambda: load_acquire(self.status, S_DURABLE) >= seq, timeout, None)

    def _wait(self, done: Callable[[], bool], timeout: float | None, what: str | None) -> bool:
        """Wait for ``done()``; on timeout raise naming ``what``, or return False if None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not done():
                if self.error is not None:
                    raise JournalError(f"journal writer failed: {self.error!r}") from self.error
                if not self.running:
                    raise JournalError("the journal writer is not running")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if what is None:
                        return False
                    raise JournalError(f"journal {what} timed out after {timeout} s")
                self._changed.wait(0.05 if left is None else min(left, 0.05))
        return True

    def write_pending(self) -> int:
        """One writer pass in the caller's thread (no writer thread); records written."""
        if self._thread is not None:
            raise JournalError("write_pending is for a journal whose writer thread is not started")
        if self._file is None:
            raise JournalError("the journal is closed")
        try:
            return self._pass()
        except BaseException as exc:
            self.error = exc
            raise

    def stop(self) -> None:
        """Drain everything published so far, sync per policy, close the segment.

        Without a running thread (never started) the caller's thread drains.
        """
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
        elif self._file is not None and self.error is None:
            self._drain()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.error is not None:
            raise JournalError(f"journal writer failed: {self.error!r}") from self.error

    # --- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        idle = _IDLE_FIRST_S
        try:
            pin_thread(self._cpu)
            while True:
                # Read the stop flag before the pass: a record published before stop was set
                # is then taken by this pass, so an empty pass after it means drained.
                stopping = self._stop.is_set()
                if self._pass():
                    idle = _IDLE_FIRST_S
                    continue
                if stopping:
                    break
                self._wake.wait(self._idle_for(idle))
                self._wake.clear()
                idle = min(idle * 2, _IDLE_MAX_S)
            self._finish()
        except BaseException as exc:  # kept, and raised to every waiter
            self.error = exc
        finally:
            with self._changed:
                self._changed.notify_all()

    def _drain(self) -> None:
        try:
            while self._pass():
                pass
            self._finish()
        except BaseException as exc:
            self.error = exc
            raise

    def _finish(self) -> None:
        if self._sync_policy is not FsyncPolicy.NONE and self._unsynced():
            self._fsync()

    def _idle_for(self, idle: float) -> float:
        if self._sync_policy is FsyncPolicy.INTERVAL and self._unsynced():
            due = (self._last_sync_ns + self._interval_ns - time.monotonic_ns()) / 1e9
            return max(0.0, min(idle, due))
        return idle

    def _unsynced(self) -> bool:
        return self.status[S_WRITTEN] > self.status[S_DURABLE]

    def _pass(self) -> int:
        """Take what is waiting, frame it, write it; return how many records it took."""
        first_mono = time.monotonic_ns()
        anchor_wall = time.time_ns()
        anchor_mono = (first_mono + time.monotonic_ns()) // 2
        shift = anchor_wall - anchor_mono
        durable = int(self.status[S_DURABLE])
        with self._control_lock:
            control, self._control = self._control, []
        pos = 0
        for rtype, mono_ns, payload in control:
            pos = self._make_room(pos, frame_bytes(len(payload)))
            data = np.frombuffer(payload, np.uint8)
            pos = frame_payload(
                self._out_words,
                self._out_bytes,
                pos,
                rtype,
                self._next_seq,
                mono_ns,
                mono_ns + shift,
                durable,
                data,
                len(payload),
            )
            self._next_seq += 1
        taken = len(control)
        polled = list(self._ring_done)
        for index, ring in enumerate(self._rings):
            count, first, lost = ring_kernels.poll_batch(
                *ring.arrays, self._consumers[index], self._entries, self._batch
            )
            if lost:
                raise JournalError(f"journal ring {index} lost {lost} records (not lossless)")
            done = 0
            while done < count:
                pos = self._make_room(pos, RECORD_FRAME)
                limit = min(self._buffer_bytes, self._segment_bytes - self._segment_size)
                framed, pos = frame_entries(
                    self._entries,
                    done,
                    count - done,
                    self._out_words,
                    self._out_bytes,
                    pos,
                    limit,
                    self._next_seq,
                    anchor_mono,
                    anchor_wall,
                    durable,
                )
                self._next_seq += framed
                done += framed
            polled[index] = first + count
            taken += count
        self._write(pos)
        if (
            self._sync_policy is FsyncPolicy.INTERVAL
            and self._unsynced()
            and time.monotonic_ns() - self._last_sync_ns >= self._interval_ns
        ):
            self._fsync()
        if self._sync_wanted > self.status[S_DURABLE] and self._unsynced():
            self._fsync()
        if taken:
            with self._changed:
                self._done += len(control)
                self._ring_done = polled
                self._changed.notify_all()
        return taken

    def _make_room(self, pos: int, size: int) -> int:
        """Write out the buffer or roll the segment if a ``size``-byte frame does not fit."""
        if pos + size > self._buffer_bytes:
            self._write(pos)
            pos = 0
        used = self._segment_size + pos
        if used + size > self._segment_bytes and used > SEGMENT_HEAD:
            self._write(pos)
            self._roll()
            pos = 0
        return pos

    def _write(self, pos: int) -> None:
        if pos == 0:
            return
        self._file.write(memoryview(self._out_bytes[:pos]))
        self._segment_size += pos
        status = self.status
        status[S_RECORDS] += self._next_seq - 1 - status[S_WRITTEN]
        status[S_BYTES] += pos
        status[S_BATCHES] += 1
        store_release(status, S_WRITTEN, self._next_seq - 1)
        if self._sync_policy is FsyncPolicy.EVERY_BATCH:
            self._fsync()

    def _fsync(self) -> None:
        target = int(self.status[S_WRITTEN])
        for path in self._unsynced_paths:
            file = self._files.append(path)
            try:
                file.sync()
            finally:
                file.close()
        self._unsynced_paths = []
        self._file.sync()
        if self._dir_unsynced:
            self._files.sync_dir(self._directory)
            self._dir_unsynced = False
        self._last_sync_ns = time.monotonic_ns()
        self.status[S_FSYNCS] += 1
        store_release(self.status, S_DURABLE, target)
        with self._changed:
            self._changed.notify_all()

    def _roll(self) -> None:
        if self._sync_policy is FsyncPolicy.NONE:
            self._unsynced_paths.append(self._path)
        elif self._unsynced():
            self._fsync()
        self._file.close()
        self._file = self._create_segment()
        self._segment_size = SEGMENT_HEAD

    def _create_segment(self) -> AppendFile:
        """Start the segment of ``next_seq``; fsynced with its directory unless policy none."""
        self._path = os.path.join(self._directory, segment_name(self._next_seq))
        file = self._files.create(self._path)
        file.write(memoryview(segment_header(self._next_seq, time.time_ns())))
        if self._sync_policy is FsyncPolicy.NONE:
            self._dir_unsynced = True
        else:
            file.sync()
            self._files.sync_dir(self._directory)
            self._dir_unsynced = False
        self.status[S_SEGMENTS] += 1
        return file
