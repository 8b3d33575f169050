"""Checkpoint and restart: a snapshot at a journal boundary, and the replay after it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowlat.journal.format import RecordType
from lowlat.journal.journal import Journal
from lowlat.journal.reader import JournalReader
from lowlat.journal.snapshots import Snapshot, SnapshotInfo, SnapshotStore
from lowlat.journal.writer import JournalError

__all__ = ["Restore", "checkpoint", "restore"]


@dataclass(frozen=True)
class Restore:
    """Where a restart begins: a snapshot (or none) and the records to replay after it."""

    snapshot: Snapshot | None
    reader: JournalReader
    skipped: tuple[tuple[str, str], ...]  # (path, reason) of snapshots passed over

    @property
    def from_seq(self) -> int:
        """First sequence the reader returns."""
        return self.reader.from_seq


def checkpoint(
    journal: Journal,
    store: SnapshotStore,
    arrays: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    *,
    covers: int | None = None,
) -> SnapshotInfo:
    """Snapshot ``arrays`` at a journal boundary, then prune and retire.

    The snapshot covers ``covers``: a sequence every record up to which the arrays reflect.
    By default it is the journal's written sequence after a :meth:`Journal.sync`, which
    is right when called at a quiescent point — the hot path has published every record
    the arrays reflect, and publishes nothing until this returns. A caller whose hot path
    went on (a copy taken during a pause) passes a sequence read before the pause, and
    finds the exact boundary after it by a mark it journaled.

    The records covered are durable before the snapshot exists; a SNAPSHOT record naming
    it is journaled; the store keeps the newest ``config.keep_snapshots``, and segments
    wholly covered by the oldest kept are deleted.
    """
    seq = journal.sync()
    if covers is None:
        covers = seq
    elif not 0 <= covers <= seq:
        raise ValueError(f"covers {covers} is not a written sequence (the journal is at {seq})")
    info = store.save(covers, arrays, metadata)
    journal.append_json(
        RecordType.SNAPSHOT, {"covers": covers, "file": os.path.basename(info.path)}
    )
    kept = store.prune(journal.config.keep_snapshots)
    journal.retire(kept[-1].seq)
    return info


def restore(journal: Journal, store: SnapshotStore, *, batch_records: int = 65_536) -> Restore:
    """The newest usable snapshot and a reader of the journal records after it.

    A snapshot is usable if it is valid and the journal holds every record after it: it
    covers no more than the journal's last recovered record (a journal that lost its
    unsynced tail cannot follow a snapshot beyond it) and no less than the record before
    the journal's first kept one.

    Raises
    ------
    JournalError
        If segments were retired and no usable snapshot covers them.
    """
    last = journal.recovery.last_seq
    first = journal.recovery.first_seq
    snapshot, skipped = store.latest(max_seq=last)
    if snapshot is not None and snapshot.seq + 1 < first:  # older ones cover even less
        skipped.append((snapshot.path, f"covers {snapshot.seq}, the journal starts at {first}"))
        snapshot = None
    if snapshot is None and first > 0:
        raise JournalError(
            f"journal records before {first} were retired and no usable snapshot covers them"
        )
    start = first if snapshot is None else snapshot.seq + 1
    reader = journal.reader(start, batch_records=batch_records)
    return Restore(snapshot, reader, tuple(skipped))
