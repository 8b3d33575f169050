"""Crash-safe journal: append-only segmented log, recovery, snapshots, replay reader.

Every input event and every decision, order, ack and fill — plus lifecycle, breaker and
risk events — is framed (length, type, sequence, monotonic and wall time, CRC32C) into
segment files. The hot path hands 64-byte records to a lossless ring with
``kernels.publish`` (non-blocking, non-allocating, callable from compiled code); a writer
thread frames each batch in one compiled call and appends it with one write, fsyncing as
the :class:`FsyncPolicy` says. :class:`Journal` recovers on open (a torn tail is cut,
corruption refused with :class:`CorruptJournal`), :class:`JournalReader` replays,
:class:`SnapshotStore` with :func:`checkpoint` and :func:`restore` bounds restart time.
"""

from lowlat.journal import kernels
from lowlat.journal.config import FsyncPolicy, JournalConfig
from lowlat.journal.crc_kernels import crc32c
from lowlat.journal.files import AppendFile, DirectoryInUse, FileLayer, Lock, MappedFile, OsFiles
from lowlat.journal.format import (
    ENTRY_DTYPE,
    MAX_PAYLOAD,
    RECORD_DTYPES,
    RecordType,
    record_dtype,
    segment_name,
)
from lowlat.journal.journal import Journal, JournalStats, record_words
from lowlat.journal.reader import JournalReader, RecordBatch
from lowlat.journal.recovery import CorruptJournal, RecoveryReport, SegmentInfo, recover
from lowlat.journal.restart import Restore, checkpoint, restore
from lowlat.journal.snapshots import Snapshot, SnapshotInfo, SnapshotStore
from lowlat.journal.writer import JournalError

__all__ = [
    "ENTRY_DTYPE",
    "MAX_PAYLOAD",
    "RECORD_DTYPES",
    "AppendFile",
    "CorruptJournal",
    "DirectoryInUse",
    "FileLayer",
    "FsyncPolicy",
    "Journal",
    "JournalConfig",
    "JournalError",
    "JournalReader",
    "JournalStats",
    "Lock",
    "MappedFile",
    "OsFiles",
    "RecordBatch",
    "RecordType",
    "RecoveryReport",
    "Restore",
    "SegmentInfo",
    "Snapshot",
    "SnapshotInfo",
    "SnapshotStore",
    "checkpoint",
    "crc32c",
    "kernels",
    "record_dtype",
    "record_words",
    "recover",
    "restore",
    "segment_name",
]
