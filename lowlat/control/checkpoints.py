"""Periodic snapshots of a running engine, and the restart that starts from the newest one.

Control code. :class:`PeriodicSnapshots` runs a thread that, every interval, has the
engine thread stop at a block boundary to copy its own state (:meth:`EngineLoop.capture`
— the only moment it touches the hot path; the engine copies into buffers of its own and
trades on), takes that copy into buffers allocated at start, then writes it as a snapshot
file and retires the journal segments the oldest kept snapshot covers
(:func:`~lowlat.journal.checkpoint`), while the engine trades on. So restart time depends
on the interval, not on the session's length.

The boundary is exact: the engine journals a SNAPSHOT_MARK as it pauses, every engine
record before it is in the copy and none after it. The snapshot file says which journal
sequence it covers — one read before the pause, so everything up to it is in the copy —
and names its mark; :func:`recover_engine` loads the newest usable snapshot and replays
the engine records after the mark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowlat.control.replay import after_mark, replay_into
from lowlat.execution.loop import EngineLoop
from lowlat.journal import Journal, SnapshotInfo, SnapshotStore, checkpoint, restore

__all__ = ["PeriodicSnapshots", "Recovered", "recover_engine"]


@dataclass(frozen=True)
class Recovered:
    """How an engine was rebuilt from its journal."""

    snapshot: str | None  # the snapshot file it started from (None: the journal's start)
    snapshot_events: int  # market events the snapshot's state had processed
    replayed_events: int  # market events replayed from the journal after it
    last_event_seq: int  # sequence of the last market event in the rebuilt state (-1: none)
    skipped: tuple[tuple[str, str], ...]  # (path, reason) of snapshots passed over
    metadata: dict[str, Any]  # the snapshot's metadata ({} without one)
    tail_from: int  # the first journal sequence after the snapshot (the journal's first)


def recover_engine(loop: EngineLoop, journal: Journal, store: SnapshotStore) -> Recovered:
    """Rebuild ``loop``'s state from the newest usable snapshot and the journal after it.

    ``loop`` must not be journaling (a replay journals nothing). Leaves it following a
    private lifecycle cell (see :func:`~lowlat.control.replay.replay_into`).

    Raises
    ------
    lowlat.journal.JournalError
        If segments were retired and no usable snapshot covers them, or the snapshot's
        mark is missing from the journal.
    ValueError
        If the snapshot was taken with another configuration (naming the array).
    """
    start = restore(journal, store)
    batches = iter(start.reader)
    snapshot_events = 0
    if start.snapshot is not None:
        loop.restore(start.snapshot.arrays)
        batches = after_mark(batches, int(start.snapshot.metadata["mark"]))
        snapshot_events = int(start.snapshot.metadata["events"])
    replayed = replay_into(loop, batches)
    return Recovered(
        None if start.snapshot is None else start.snapshot.path,
        snapshot_events,
        replayed.events,
        replayed.last_event_seq,
        start.skipped,
        {} if start.snapshot is None else dict(start.snapshot.metadata),
        start.from_seq,
    )


class PeriodicSnapshots:
    """A thread that snapshots ``loop`` every ``interval_s`` into ``store``.

    Parameters
    ----------
    loop
        The engine (running or not); it must be journaling into ``journal``.
    journal
        The session's journal: the snapshots cover its sequences, and retire its segments.
    store
        Where the snapshot files go.
    interval_s
        Seconds between snapshots.
    metadata
        Called at each snapshot for JSON metadata to store with it (the session's config:
        a replay of a journal whose start was retired reads it from there).
    """

    def __init__(
        self,
        loop: EngineLoop,
        journal: Journal,
        store: SnapshotStore,
        interval_s: float,
        metadata: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.loop = loop
        self.journal = journal
        self.store = store
        self.interval_s = interval_s
        self._metadata = metadata
        self._buffers: dict[str, np.ndarray] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one snapshot at a time (the thread, or take())
        self.taken = 0
        self.failures = 0
        self.last_error = ""
        self.last: SnapshotInfo | None = None
        self.last_pause_ns = 0
        self.max_pause_ns = 0
        self.last_write_ns = 0

    def start(self) -> None:
        """Allocate (and fault in) the copy buffers, then start the thread."""
        if self._thread is not None:
            raise RuntimeError("the snapshot thread is already running")
        self._allocate()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lowlat-snapshots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a snapshot being written is finished first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def _allocate(self) -> None:
        # Copying the live state writes every page of the buffers: no snapshot's copy into
        # them page-faults.
        self._buffers = {name: array.copy() for name, array in self.loop.state_arrays().items()}

    def take(self) -> SnapshotInfo | None:
        """Snapshot now; None if there is nothing to cover yet or the loop is not journaling."""
        with self._lock:
            if not self._buffers:
                self._allocate()
            covers = self.journal.written_seq
            if covers < 0:
                return None
            boundary = self.loop.capture(self._buffers)
            if boundary.mark == 0:
                return None
            begin = time.monotonic_ns()
            info = checkpoint(
                self.journal,
                self.store,
                self._buffers,
                {
                    **self._metadata(),
                    "mark": boundary.mark,
                    "events": boundary.events,
                    "last_event_seq": boundary.last_event_seq,
                    "pause_ns": boundary.pause_ns,
                },
                covers=covers,
            )
            self.last_write_ns = time.monotonic_ns() - begin
            self.last_pause_ns = boundary.pause_ns
            self.max_pause_ns = max(self.max_pause_ns, boundary.pause_ns)
            self.last = info
            self.taken += 1
            return info

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.take()
            except Exception as error:  # a failed snapshot is reported; trading goes on
                self.failures += 1
                self.last_error = f"{type(error).__name__}: {error}"

    def status(self) -> dict[str, Any]:
        """Snapshots taken and failed, the last one, and the pauses they cost the engine."""
        return {
            "interval_s": self.interval_s,
            "taken": self.taken,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_file": None if self.last is None else self.last.path,
            "last_covers": None if self.last is None else self.last.seq,
            "last_bytes": None if self.last is None else self.last.size,
            "last_pause_us": self.last_pause_ns / 1e3,
            "max_pause_us": self.max_pause_ns / 1e3,
            "last_write_ms": self.last_write_ns / 1e6,
        }
