"""The file operations the journal and the snapshot store make, behind one small interface.

Everything durable goes through a :class:`FileLayer`, so that tests can put a layer
underneath that forgets, on a simulated power failure, whatever was not fsynced — and
check each fsync policy's promise without pulling a plug. :class:`OsFiles` is the real
one: plain POSIX calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
from typing import Protocol

import numpy as np

__all__ = ["AppendFile", "DirectoryInUse", "FileLayer", "Lock", "MappedFile", "OsFiles"]

LOCK_NAME = "LOCK"


class DirectoryInUse(RuntimeError):
    """Another process (or another journal in this one) holds the directory's lock."""


class Lock(Protocol):
    """An exclusive claim on a journal directory."""

    def release(self) -> None:
        """Give the claim up (also implied when the process dies)."""


class AppendFile(Protocol):
    """A file open for appending."""

    def write(self, data: memoryview) -> None:
        """Append all of ``data`` (the layer retries short writes)."""

    def sync(self) -> None:
        """Make every byte written so far durable (``fsync``)."""

    def close(self) -> None:
        """Close without syncing."""


class MappedFile:
    """A file's bytes, read-only, as a uint8 array and as int64 words (its first ``n//8*8``).

    :meth:`close` drops both arrays before releasing the mapping, so no view outlives it.
    """

    def __init__(self, data: np.ndarray, closer: mmap.mmap | None = None) -> None:
        self.bytes = data
        self.words = data[: data.shape[0] // 8 * 8].view(np.int64)
        self._closer = closer

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return int(self.bytes.shape[0])

    def drop(self, start: int, end: int) -> None:
        """Drop the resident pages of bytes ``[start, end)`` from this process.

        They stay in the page cache; a later read faults them back in. Reading a large file
        window by window, dropping each, costs the process one window of RSS, not the file.
        ``start`` must be a multiple of the page size. No-op for a file not memory-mapped.
        """
        if self._closer is not None and end > start:
            self._closer.madvise(mmap.MADV_DONTNEED, start, end - start)

    def close(self) -> None:
        """Release the mapping (at once, or when the last view of it made elsewhere dies)."""
        self.bytes = self.words = np.empty(0, np.uint8)
        if self._closer is not None:
            # A caller's view may still use it; the mmap then unmaps when that view dies.
            with contextlib.suppress(BufferError):
                self._closer.close()
            self._closer = None

    def __enter__(self) -> MappedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileLayer(Protocol):
    """File operations, by path."""

    def list_dir(self, directory: str) -> list[str]:
        """Names in ``directory`` (empty if it does not exist)."""

    def make_dir(self, directory: str) -> None:
        """Create ``directory`` and its parents if missing."""

    def size(self, path: str) -> int:
        """Size of ``path`` in bytes."""

    def map(self, path: str) -> MappedFile:
        """The bytes of ``path``, read-only."""

    def create(self, path: str) -> AppendFile:
        """Create ``path`` (it must not exist) for appending."""

    def append(self, path: str) -> AppendFile:
        """Open an existing ``path`` for appending at its end."""

    def truncate(self, path: str, size: int) -> None:
        """Cut ``path`` to ``size`` bytes and make that durable."""

    def remove(self, path: str) -> None:
        """Delete ``path`` (durable once the directory is synced)."""

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` over ``target`` atomically (durable once the directory is synced)."""

    def sync_dir(self, directory: str) -> None:
        """Make the directory's entries (creations, renames, removals) durable."""

    def lock(self, directory: str) -> Lock:
        """Claim ``directory`` for one writer; raise :class:`DirectoryInUse` if it is taken."""


class _OsAppendFile:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _FlockLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


class OsFiles:
    """The real file system."""

    def lock(self, directory: str) -> Lock:
        """``flock`` a ``LOCK`` file in ``directory``: one writer per journal, machine-wide.

        The kernel drops the lock when the process dies, so a crash never leaves it stale.
        """
        path = os.path.join(directory, LOCK_NAME)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise FileNotFoundError(f"no journal directory at {directory}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryInUse(f"journal directory {directory} is in use (locked)") from None
        return _FlockLock(fd)

    def list_dir(self, directory: str) -> list[str]:
        """Names in ``directory`` (empty if it does not exist)."""
        try:
            return os.listdir(directory)
        except FileNotFoundError:
            return []

    def make_dir(self, directory: str) -> None:
        """Create ``directory`` and its parents if missing."""
        os.makedirs(directory, exist_ok=True)

    def size(self, path: str) -> int:
        """Size of ``path`` in bytes."""
        return os.stat(path).st_size

    def map(self, path: str) -> MappedFile:
        """The bytes of ``path``, memory-mapped read-only."""
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                return MappedFile(np.empty(0, np.uint8))
            mapping = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        return MappedFile(np.frombuffer(mapping, np.uint8), mapping)

    def create(self, path: str) -> AppendFile:
        """Create ``path`` (it must not exist) for appending."""
        return _OsAppendFile(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        )

    def append(self, path: str) -> AppendFile:
        """Open an existing ``path`` for appending at its end."""
        return _OsAppendFile(os.open(path, os.O_WRONLY | os.O_APPEND))

    def truncate(self, path: str, size: int) -> None:
        """Cut ``path`` to ``size`` bytes and fsync it."""
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, path: str) -> None:
        """Delete ``path``."""
        os.remove(path)

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` over ``target`` atomically."""
        os.replace(source, target)

    def sync_dir(self, directory: str) -> None:
        """Sync the directory itself, so that its entries survive a power failure."""
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
