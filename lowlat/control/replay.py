"""Deterministic replay: re-run a journal's inputs through the same path, prove the outputs.

Control code. :func:`replay_into` feeds a journal's market events, with their recorded
receive times, through an :class:`~lowlat.execution.loop.EngineLoop`, setting the
engine's lifecycle view where the journal's ENGINE_STATE records say the live engine saw
it change — so the path decides exactly as it did live. :func:`replay` does that on a
fresh path built from the session's recorded config, journaling the replay, and compares
the two journals' decisions — orders, acks, fills and breaker changes — record by record.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lowlat.core.lifecycle import Lifecycle
from lowlat.execution.loop import EngineLoop
from lowlat.execution.loop_kernels import ENGINE_STATE
from lowlat.journal import Journal, JournalConfig, JournalReader, RecordType, record_dtype

__all__ = ["DECISION_STREAMS", "ReplayResult", "decision_streams", "replay", "replay_into"]

#: The journaled outputs a replay must reproduce, with the stamp fields left out.
DECISION_STREAMS: dict[RecordType, tuple[str, ...]] = {
    RecordType.ORDER: ("decision_ns",),
    RecordType.ACK: ("decision_ns", "completion_ns"),
    RecordType.FILL: ("exchange_ns", "recv_ns"),
    RecordType.BREAKER: (),
}
_SESSION_START = "session-start"


def replay_into(loop: EngineLoop, journal_dir: str | os.PathLike[str]) -> int:
    """Feed ``journal_dir``'s market events through ``loop``, following its ENGINE_STATE records.

    Leaves ``loop`` following a private cell set to the last recorded state; the caller
    points it back at its lifecycle with :meth:`EngineLoop.follow`. Returns the number of
    market events replayed.
    """
    cell = loop.view.copy()
    source = cell.view()
    source.flags.writeable = False
    loop.follow(source)
    replayed = 0
    for batch in JournalReader(journal_dir):
        events = batch.records(RecordType.MARKET_EVENT)
        positions = np.flatnonzero(batch.types == RecordType.MARKET_EVENT)
        done = 0
        for k in np.flatnonzero(batch.types == ENGINE_STATE):
            upto = int(np.searchsorted(positions, k))
            if upto > done:
                loop.process(events[done:upto])
                done = upto
            cell[0] = np.frombuffer(batch.payload(int(k)), np.int64)[0]
        if done < len(events):
            loop.process(events[done:])
        replayed += len(events)
    return replayed


def decision_streams(journal_dir: str | os.PathLike[str]) -> dict[RecordType, np.ndarray]:
    """Each decision stream of a journal, in order, with its stamp fields zeroed."""
    parts: dict[RecordType, list[np.ndarray]] = {rtype: [] for rtype in DECISION_STREAMS}
    for batch in JournalReader(journal_dir):
        for rtype, stamps in DECISION_STREAMS.items():
            records = batch.records(rtype)
            for name in stamps:
                records[name] = 0
            parts[rtype].append(records)
    return {
        rtype: np.concatenate(chunks) if chunks else np.zeros(0, record_dtype(rtype))
        for rtype, chunks in parts.items()
    }


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
    """The config tables the journal's first session started with.

    Raises
    ------
    ValueError
        If the journal holds no session-start record.
    """
    for batch in JournalReader(journal_dir):
        for k in np.flatnonzero(batch.types == RecordType.OPERATOR):
            event = batch.json(int(k))
            if event.get("action") == _SESSION_START:
                return event.get("config", {})
    raise ValueError(f"{journal_dir} holds no session-start record: not a session's journal")


def replay(journal_dir: str | os.PathLike[str]) -> ReplayResult:
    """Re-run ``journal_dir``'s inputs on a fresh path and compare its decisions.

    Raises
    ------
    ValueError
        If the journal is not a session's.
    lowlat.journal.CorruptJournal
        If the journal is damaged before its tail (naming the file and offset).
    """
    from lowlat.control.session import RunConfig, build_pipeline
    from lowlat.venue import InProcessGateway

    config = RunConfig.from_dict(session_config(journal_dir))
    lifecycle = Lifecycle()
    pipeline = build_pipeline(config, lifecycle)
    scratch = Path(tempfile.mkdtemp(prefix="lowlat-replay-"))
    try:
        with Journal(scratch, JournalConfig(fsync="none")) as journal:
            loop = EngineLoop(
                pipeline,
                InProcessGateway(config.venue_config()),
                block=config.session.block,
                journal=journal,
            )
            loop.journal_on()
            events = replay_into(loop, journal_dir)
            journal.flush()
        replayed = decision_streams(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    recorded = decision_streams(journal_dir)
    return ReplayResult(
        _digest(recorded),
        _digest(replayed),
        events,
        {rtype.name: len(records) for rtype, records in recorded.items()},
        _first_difference(recorded, replayed),
    )
