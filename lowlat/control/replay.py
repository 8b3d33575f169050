"""Deterministic replay: re-run a journal's inputs through the same path, prove the outputs.

Control code. :func:`replay_into` feeds a journal's market events, with their recorded
receive times, through an :class:`~lowlat.execution.loop.EngineLoop`, setting the
engine's lifecycle view where the journal's ENGINE_STATE records say the live engine saw
it change — so the path decides exactly as it did live. :func:`replay` does that on a
fresh path built from the session's recorded config, journaling the replay, and compares
the two journals' decisions — orders, acks, fills and breaker changes — record by record.

A journal whose early segments were retired (periodic snapshots, see
:class:`~lowlat.control.session.Session`) is replayed from its oldest kept snapshot: the
path starts from the snapshot's state, and the records compared are those after the
snapshot's SNAPSHOT_MARK.

What is compared: every field but the monotonic stamps no replay can reproduce (an
order's ``decision_ns``; an ack's ``decision_ns`` and ``completion_ns``; a fill's
``exchange_ns`` and ``recv_ns``, which the in-process venue derives from the decision
time). The digest is SHA-256 over the compared bytes of each stream, in order.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from lowlat.core.lifecycle import Lifecycle
from lowlat.execution import loop_kernels as lk
from lowlat.execution.loop import EngineLoop
from lowlat.execution.loop_kernels import (
    CANCEL_ALL_MARK,
    CONTROL_CELLS,
    ENGINE_STATE,
    SNAPSHOT_MARK,
)
from lowlat.journal import (
    Journal,
    JournalConfig,
    JournalError,
    JournalReader,
    RecordBatch,
    RecordType,
    Snapshot,
    SnapshotStore,
    record_dtype,
)
from lowlat.journal.files import OsFiles
from lowlat.journal.segments import list_segments

__all__ = [
    "DECISION_STREAMS",
    "SNAPSHOT_DIR",
    "ReplayResult",
    "Replayed",
    "after_mark",
    "decision_streams",
    "replay",
    "replay_into",
    "replay_start",
]

#: The journaled outputs a replay must reproduce, with the stamp fields left out.
DECISION_STREAMS: dict[RecordType, tuple[str, ...]] = {
    RecordType.ORDER: ("decision_ns",),
    RecordType.ACK: ("decision_ns", "completion_ns"),
    RecordType.FILL: ("exchange_ns", "recv_ns"),
    RecordType.BREAKER: (),
    RecordType.PATTERN: ("detect_ns",),
}
_SESSION_START = "session-start"
#: The engine's own control records, replayed where they were journaled.
_ENGINE_CONTROL = np.array([ENGINE_STATE, CANCEL_ALL_MARK, SNAPSHOT_MARK, *CONTROL_CELLS])


#: Where a session keeps its snapshots: this subdirectory of its journal directory.
SNAPSHOT_DIR = "snapshots"


@dataclass(frozen=True)
class Replayed:
    """What :func:`replay_into` ran: market events, and the sequence of the last one."""

    events: int
    last_event_seq: int


def after_mark(batches: Iterable[RecordBatch], mark: int) -> Iterator[RecordBatch]:
    """The records of ``batches`` after SNAPSHOT_MARK ``mark``; all of them if ``mark`` is 0.

    Raises
    ------
    JournalError
        If the batches end without the mark.
    """
    found = mark == 0
    for batch in batches:
        if not found:
            rows = np.flatnonzero(batch.types == SNAPSHOT_MARK)
            rows = [k for k in rows if np.frombuffer(batch.payload(int(k)), np.int64)[0] == mark]
            if not rows:
                continue
            found = True
            batch = _rows_from(batch, rows[0] + 1)
        yield batch
    if not found:
        raise JournalError(f"the journal holds no SNAPSHOT_MARK {mark} after its snapshot")


def _rows_from(batch: RecordBatch, row: int) -> RecordBatch:
    return replace(
        batch,
        types=batch.types[row:],
        seqs=batch.seqs[row:],
        mono_ns=batch.mono_ns[row:],
        wall_ns=batch.wall_ns[row:],
        offsets=batch.offsets[row:],
        lengths=batch.lengths[row:],
    )


def replay_into(loop: EngineLoop, batches: Iterable[RecordBatch]) -> Replayed:
    """Feed the market events of ``batches`` through ``loop`` as the live engine saw them.

    Between events, where the journal has them: ENGINE_STATE records set the lifecycle
    view the path reads; control-cell records (the kill switch, venue faults),
    CANCEL_ALL_MARK and SNAPSHOT_MARK records are carried out
    (:meth:`EngineLoop.replay_control`). Leaves ``loop`` following a private cell set to
    the last recorded state (starting from the loop's current view); the caller points it
    back at its lifecycle with :meth:`EngineLoop.follow`.
    """
    cell = loop.view.copy()
    source = cell.view()
    source.flags.writeable = False
    loop.follow(source)
    replayed, last = 0, int(loop.control[lk.L_LAST_EVENT_SEQ])
    for batch in batches:
        events = batch.records(RecordType.MARKET_EVENT)
        positions = np.flatnonzero(batch.types == RecordType.MARKET_EVENT)
        done = 0
        for k in np.flatnonzero(np.isin(batch.types, _ENGINE_CONTROL)):
            upto = int(np.searchsorted(positions, k))
            if upto > done:
                loop.process(events[done:upto])
                done = upto
            words = np.frombuffer(batch.payload(int(k)), np.int64)
            if batch.types[k] == ENGINE_STATE:
                cell[0] = words[0]
            else:
                loop.replay_control(int(batch.types[k]), words)
        if done < len(events):
            loop.process(events[done:])
        replayed += len(events)
        if len(events):
            last = int(events["seq"][-1])
    return Replayed(replayed, last)


def decision_streams(batches: Iterable[RecordBatch]) -> dict[RecordType, np.ndarray]:
    """Each decision stream of ``batches``, in order, with its stamp fields zeroed."""
    parts: dict[RecordType, list[np.ndarray]] = {rtype: [] for rtype in DECISION_STREAMS}
    for batch in batches:
        for rtype, stamps in DECISION_STREAMS.items():
            records = batch.records(rtype)
            for name in stamps:
                records[name] = 0
            parts[rtype].append(records)
    return {
        rtype: np.concatenate(chunks) if chunks else np.zeros(0, record_dtype(rtype))
        for rtype, chunks in parts.items()
    }


def replay_start(journal_dir: str | os.PathLike[str]) -> Snapshot | None:
    """The snapshot a whole-journal replay must start from: None if no segment was retired.

    Otherwise the oldest valid snapshot that covers every retired record.

    Raises
    ------
    JournalError
        If segments were retired and no snapshot covers them.
    """
    segments = list_segments(OsFiles(), os.fspath(journal_dir))
    first = segments[0][0] if segments else 0
    if first == 0:
        return None
    store = SnapshotStore(Path(journal_dir) / SNAPSHOT_DIR)
    for info in reversed(store.snapshots()):
        if info.seq + 1 < first:
            continue
        try:
            return store.read(info.path)
        except ValueError:
            continue
    raise JournalError(
        f"{journal_dir}: records before {first} were retired and no snapshot covers them"
    )


def _digest(streams: dict[RecordType, np.ndarray]) -> str:
    sha = hashlib.sha256()
    for rtype, records in streams.items():
        sha.update(int(rtype).to_bytes(2, "little") + len(records).to_bytes(8, "little"))
        sha.update(records.tobytes())
    return sha.hexdigest()


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of a replay: digests, counts, and the first difference if any."""

    recorded_digest: str
    replayed_digest: str
    events: int  # market events replayed
    counts: dict[str, int]  # records per decision stream (recorded)
    first_difference: dict[str, Any] | None

    @property
    def identical(self) -> bool:
        """Whether every decision stream is byte-identical."""
        return self.first_difference is None and self.recorded_digest == self.replayed_digest


def _first_difference(
    recorded: dict[RecordType, np.ndarray], replayed: dict[RecordType, np.ndarray]
) -> dict[str, Any] | None:
    for rtype in DECISION_STREAMS:
        a, b = recorded[rtype], replayed[rtype]
        for i in range(min(len(a), len(b))):
            if a[i].tobytes() != b[i].tobytes():
                return {
                    "stream": rtype.name,
                    "index": i,
                    "recorded": {name: a[i][name].item() for name in a.dtype.names},
                    "replayed": {name: b[i][name].item() for name in b.dtype.names},
                }
        if len(a) != len(b):
            return {
                "stream": rtype.name,
                "index": min(len(a), len(b)),
                "recorded_count": len(a),
                "replayed_count": len(b),
            }
    return None


def session_config(journal_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The config tables the journal's session started with.

    From its session-start record, or, if that was retired, the oldest kept snapshot's.

    Raises
    ------
    ValueError
        If the journal holds neither.
    """
    for batch in JournalReader(journal_dir):
        for k in np.flatnonzero(batch.types == RecordType.OPERATOR):
            event = batch.json(int(k))
            if event.get("action") == _SESSION_START:
                return event.get("config", {})
        break  # a session starts its journal with it: only the first batch can hold it
    snapshot = replay_start(journal_dir)
    if snapshot is not None and "config" in snapshot.metadata:
        return snapshot.metadata["config"]
    raise ValueError(f"{journal_dir} holds no session-start record: not a session's journal")


def replay(journal_dir: str | os.PathLike[str]) -> ReplayResult:
    """Re-run ``journal_dir``'s inputs on a fresh path and compare its decisions.

    Starts from the journal's first record, or, if early segments were retired, from the
    oldest kept snapshot (see :func:`replay_start`).

    Raises
    ------
    ValueError
        If the journal is not a session's.
    lowlat.journal.CorruptJournal
        If the journal is damaged before its tail (naming the file and offset).
    lowlat.journal.JournalError
        If segments were retired and no snapshot covers them.
    """
    from lowlat.control.session import RunConfig, build_pipeline
    from lowlat.venue import InProcessGateway

    config = RunConfig.from_dict(session_config(journal_dir))
    start = replay_start(journal_dir)
    lifecycle = Lifecycle()
    pipeline = build_pipeline(config, lifecycle)
    scratch = Path(tempfile.mkdtemp(prefix="lowlat-replay-"))

    def recorded_batches() -> Iterator[RecordBatch]:
        if start is None:
            return iter(JournalReader(journal_dir))
        return after_mark(JournalReader(journal_dir, start.seq + 1), start.metadata["mark"])

    try:
        with Journal(scratch, JournalConfig(fsync="none")) as journal:
            loop = EngineLoop(
                pipeline,
                InProcessGateway(config.venue_config()),
                block=config.session.block,
                journal=journal,
            )
            if start is not None:
                loop.restore(start.arrays)
            loop.journal_on()
            events = replay_into(loop, recorded_batches()).events
            journal.flush()
        replayed = decision_streams(JournalReader(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    recorded = decision_streams(recorded_batches())
    return ReplayResult(
        _digest(recorded),
        _digest(replayed),
        events,
        {rtype.name: len(records) for rtype, records in recorded.items()},
        _first_difference(recorded, replayed),
    )
