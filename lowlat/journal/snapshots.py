"""Snapshots: a component's arrays at a sequence boundary, so restart replays only a tail.

A snapshot file ``snapshot-<seq:020d>.snap`` holds named NumPy arrays and JSON metadata,
and says which journal sequence it covers: the state after applying every record up to
and including ``seq``. Restart loads the newest valid snapshot and replays the journal
from ``seq + 1``; segments wholly covered by the oldest kept snapshot are deleted, so
restart time depends on the snapshot interval, not on the session's length.

Writing is atomic: the file is written under a ``.tmp`` name, fsynced, renamed into
place and the directory fsynced, so a crash leaves either the old set of snapshots or
the new one — never a partial file under a snapshot's name. A CRC32C over the whole file
catches later damage; a damaged snapshot is skipped (and reported) in favour of an older
one.

File format, little-endian::

    magic "LLSNAP01"  8 bytes
    version           u32     1
    meta_bytes        u32     length of the JSON that follows
    meta              JSON    {"seq", "created_wall_ns", "metadata", "arrays": [{"name",
                              "descr", "aligned", "shape", "offset", "nbytes"}]};
                              offsets from the data start (the first multiple of 64
                              after the JSON)
    data              arrays, each at a multiple of 64 bytes, zero padding between
    crc               u32     CRC32C of every byte before it
    reserved          u32     0
    total             u64     bytes before the trailer
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lowlat.core.memory import byte_view
from lowlat.journal.crc_kernels import crc32c
from lowlat.journal.files import FileLayer, MappedFile, OsFiles

__all__ = ["Snapshot", "SnapshotInfo", "SnapshotStore"]

MAGIC = b"LLSNAP01"
VERSION = 1
_ALIGN = 64
_HEAD = struct.Struct("<8sII")
_TRAILER = struct.Struct("<IIQ")
#: Bytes checked at a time when a snapshot is verified (a multiple of any page size).
VERIFY_WINDOW = 8 << 20
_NAME_RE = re.compile(r"^snapshot-(\d{20})\.snap$")
_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot file on disk."""

    seq: int
    path: str
    size: int


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: the state after every record up to and including ``seq``."""

    seq: int
    path: str
    created_wall_ns: int
    metadata: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)


def _pad(size: int) -> int:
    return -size % _ALIGN


class SnapshotStore:
    """Snapshots in one directory.

    Parameters
    ----------
    directory
        Where snapshot files live (created if missing). May be the journal's directory.
    files
        File layer (tests inject one that simulates crashes and power failures).
    """

    def __init__(self, directory: str | os.PathLike[str], *, files: FileLayer | None = None):
        self.directory = os.fspath(directory)
        self._files = files or OsFiles()
        self._files.make_dir(self.directory)

    def path_of(self, seq: int) -> str:
        """File of the snapshot covering ``seq``."""
        return os.path.join(self.directory, f"snapshot-{seq:020d}.snap")

    def snapshots(self) -> list[SnapshotInfo]:
        """Snapshot files (valid or not), newest first."""
        found = []
        for name in self._files.list_dir(self.directory):
            match = _NAME_RE.match(name)
            if match:
                path = os.path.join(self.directory, name)
                found.append(SnapshotInfo(int(match.group(1)), path, self._files.size(path)))
        return sorted(found, key=lambda info: info.seq, reverse=True)

    def save(
        self,
        seq: int,
        arrays: Mapping[str, np.ndarray],
        metadata: Mapping[str, Any] | None = None,
    ) -> SnapshotInfo:
        """Write a snapshot covering ``seq`` atomically (temp file, fsync, rename, fsync dir).

        The caller guarantees the arrays are the state after exactly the records up to
        ``seq``; :func:`~lowlat.journal.checkpoint` gets that boundary from the journal.
        """
        if seq < 0:
            raise ValueError(f"a snapshot covers a sequence ≥ 0, got {seq}")
        blocks = [(str(name), np.asarray(array, order="C")) for name, array in arrays.items()]
        manifest, offset = [], 0
        for name, array in blocks:
            manifest.append(
                {
                    "name": name,
                    "descr": np.lib.format.dtype_to_descr(array.dtype),
                    "aligned": bool(array.dtype.isalignedstruct),
                    "shape": list(array.shape),
                    "offset": offset,
                    "nbytes": array.nbytes,
                }
            )
            offset += array.nbytes + _pad(array.nbytes)
        meta = {
            "seq": seq,
            "created_wall_ns": time.time_ns(),
            "metadata": dict(metadata or {}),
            "arrays": manifest,
        }
        text = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        head = _HEAD.pack(MAGIC, VERSION, len(text)) + text
        path = self.path_of(seq)
        temp = path + _TMP_SUFFIX
        if os.path.basename(temp) in self._files.list_dir(self.directory):
            self._files.remove(temp)  # left by a crash during an earlier save
        file = self._files.create(temp)
        try:
            crc, total = 0, 0
            for chunk in self._chunks(head, blocks):
                file.write(chunk)
                crc = crc32c(chunk, crc)
                total += len(chunk)
            file.write(memoryview(_TRAILER.pack(crc, 0, total)))
            file.sync()
        finally:
            file.close()
        self._files.replace(temp, path)
        self._files.sync_dir(self.directory)
        return SnapshotInfo(seq, path, total + _TRAILER.size)

    @staticmethod
    def _chunks(head: bytes, blocks: list[tuple[str, np.ndarray]]) -> Iterator[memoryview]:
        yield memoryview(head + bytes(_pad(len(head))))
        for _, array in blocks:
            if array.nbytes:
                yield memoryview(byte_view(array))
            if _pad(array.nbytes):
                yield memoryview(bytes(_pad(array.nbytes)))

    def read(self, path: str) -> Snapshot:
        """Load and verify one snapshot file.

        Raises
        ------
        ValueError
            Saying what is wrong, if the file is damaged or not a snapshot.
        """
        with self._files.map(path) as mapped:
            meta, base = _verified(mapped)
            data = mapped.bytes
            arrays = {}
            for entry in meta["arrays"]:
                dtype = _dtype(entry["descr"], entry["aligned"])
                start = base + entry["offset"]
                raw = data[start : start + entry["nbytes"]]
                arrays[entry["name"]] = raw.view(dtype).reshape(entry["shape"]).copy()
        return Snapshot(meta["seq"], path, meta["created_wall_ns"], meta["metadata"], arrays)

    def verify(self, path: str) -> None:
        """Check one snapshot file as :meth:`read` does, without loading its arrays.

        The file is read a window at a time (see :data:`VERIFY_WINDOW`), so checking a
        snapshot while trading costs the process one window of memory, not the file.

        Raises
        ------
        ValueError
            Saying what is wrong, if the file is damaged or not a snapshot.
        """
        with self._files.map(path) as mapped:
            _verified(mapped)

    def latest(self, max_seq: int | None = None) -> tuple[Snapshot | None, list[tuple[str, str]]]:
        """The newest valid snapshot covering at most ``max_seq``, and those skipped.

        Returns
        -------
        (snapshot, skipped)
            The snapshot, or None if there is no usable one; and ``(path, reason)`` for
            every newer file passed over (damaged, or beyond ``max_seq``).
        """
        skipped = []
        for info in self.snapshots():
            if max_seq is not None and info.seq > max_seq:
                skipped.append((info.path, f"covers {info.seq}, beyond sequence {max_seq}"))
                continue
            try:
                return self.read(info.path), skipped
            except (ValueError, KeyError, TypeError) as exc:
                skipped.append((info.path, f"damaged: {exc}"))
        return None, skipped

    def prune(self, keep: int) -> list[SnapshotInfo]:
        """Keep the newest ``keep`` valid snapshots; delete older ones and stale temp files.

        Damaged snapshots newer than the oldest kept one are left for inspection.
        Returns the kept snapshots, newest first.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        kept: list[SnapshotInfo] = []
        doomed = []
        for info in self.snapshots():
            if len(kept) == keep:
                doomed.append(info.path)
                continue
            try:
                self.verify(info.path)
            except (ValueError, KeyError, TypeError):
                continue
            kept.append(info)
        doomed += [
            os.path.join(self.directory, name)
            for name in self._files.list_dir(self.directory)
            if name.endswith(_TMP_SUFFIX) and _NAME_RE.match(name[: -len(_TMP_SUFFIX)])
        ]
        for path in doomed:
            self._files.remove(path)
        if doomed:
            self._files.sync_dir(self.directory)
        return kept


def _verified(mapped: MappedFile) -> tuple[dict[str, Any], int]:
    """Check a mapped snapshot's trailer, CRC32C and head; its metadata and data offset.

    The CRC is computed a window at a time, each window's pages dropped after it.
    """
    data = mapped.bytes
    size = data.shape[0]
    if size < _HEAD.size + _TRAILER.size:
        raise ValueError(f"too short for a snapshot ({size} bytes)")
    crc, _, total = _TRAILER.unpack(data[size - _TRAILER.size :].tobytes())
    if total != size - _TRAILER.size:
        raise ValueError(f"trailer says {total} bytes, the file has {size - 16}")
    computed = 0
    for start in range(0, total, VERIFY_WINDOW):
        end = min(total, start + VERIFY_WINDOW)
        computed = crc32c(data[start:end], computed)
        mapped.drop(start, end)
    if computed != crc:
        raise ValueError("CRC32C mismatch")
    magic, version, meta_bytes = _HEAD.unpack(data[: _HEAD.size].tobytes())
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a version {VERSION} snapshot (magic {magic!r})")
    meta_end = _HEAD.size + meta_bytes
    meta = json.loads(data[_HEAD.size : meta_end].tobytes())
    base = meta_end + _pad(meta_end)
    for entry in meta["arrays"]:
        dtype = _dtype(entry["descr"], entry["aligned"])
        if base + entry["offset"] + entry["nbytes"] > total:
            raise ValueError(f"array {entry['name']!r} runs past the end of the data")
        if entry["nbytes"] != dtype.itemsize * int(np.prod(entry["shape"])):
            raise ValueError(f"array {entry['name']!r}: {entry['nbytes']} bytes for its shape")
    return meta, base


def _dtype(descr: Any, aligned: bool) -> np.dtype:
    """The dtype a manifest entry describes, aligned-struct flag included.

    Numba's record types include the flag, so a snapshot must not change it.
    """
    dtype = np.lib.format.descr_to_dtype(_tuples(descr))
    if not aligned:
        return dtype
    names = dtype.names
    return np.dtype(
        {
            "names": names,
            "formats": [dtype.fields[name][0] for name in names],
            "offsets": [dtype.fields[name][1] for name in names],
            "itemsize": dtype.itemsize,
            "aligned": True,
        }
    )


def _tuples(descr: Any) -> Any:
    """A dtype descr as NumPy wants it back: JSON turned its tuples into lists."""
    if isinstance(descr, str):
        return descr
    fields = []
    for name, kind, *shape in descr:
        entry = (name if isinstance(name, str) else tuple(name), _tuples(kind))
        fields.append((*entry, tuple(shape[0])) if shape else entry)
    return fields
