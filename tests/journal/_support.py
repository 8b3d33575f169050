"""Helpers for the journal tests: deterministic records, a compiled producer, a frame walker
independent of the package's scanner, and a file layer that can lose power.

Test records encode their journal sequence: word 0 is the sequence, word ``w`` is
``seq ^ (w * WORD_MIX)``, so a recovered record can be checked against its position.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from lowlat.core.clock import monotonic_ns
from lowlat.journal import MappedFile, kernels
from lowlat.journal.format import FRAME_HEAD, SEGMENT_HEAD

JIT = not numba.config.DISABLE_JIT
WORD_MIX = 0x5DEECE66D
TEST_TYPE = 1024  # a user type: any 64-byte payload


def segment_files(directory) -> list[str]:
    """Names of the segment files in ``directory``, in order."""
    return sorted(name for name in os.listdir(directory) if name.endswith(".seg"))


def scaled(jit: int, interpreted: int) -> int:
    """``jit`` when kernels are compiled, else the smaller ``interpreted`` count."""
    return jit if JIT else interpreted


@njit(nogil=True, cache=True)
def fill_words(words: np.ndarray, seq: int) -> None:
    """Encode ``seq`` into the 8 words of one record."""
    for w in range(8):
        words[w] = seq ^ (w * WORD_MIX)


@njit(nogil=True, cache=True)
def publish_seqs(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    words: np.ndarray,
    first: int,
    count: int,
    retries: int,
) -> int:
    """Publish records for ``first .. first + count - 1`` in order (TEST_TYPE).

    A refused publish is retried up to ``retries`` times in a row; returns how many were
    published.
    """
    done = 0
    refused = 0
    while done < count:
        fill_words(words, first + done)
        if kernels.publish(header, stamps, slots, TEST_TYPE, monotonic_ns(), words) >= 0:
            done += 1
            refused = 0
        else:
            refused += 1
            if refused > retries:
                break
    return done


def expected_words(seqs: np.ndarray) -> np.ndarray:
    """The 8 words of the test record of each sequence in ``seqs``."""
    return seqs[:, None] ^ (np.arange(8, dtype=np.int64) * WORD_MIX)


def check_batches(batches, first_seq: int) -> int:
    """Assert that test records run from ``first_seq`` without a gap; return the next seq."""
    seq = first_seq
    for batch in batches:
        assert np.array_equal(batch.seqs, np.arange(seq, seq + len(batch)))
        assert np.all(batch.types == TEST_TYPE)
        words = batch.records(TEST_TYPE, np.dtype((np.int64, 8)))
        assert np.array_equal(words, expected_words(batch.seqs))
        seq += len(batch)
    return seq


# --- an independent walk of the format -------------------------------------------------


@dataclass(frozen=True)
class Frame:
    offset: int
    size: int
    seq: int
    durable: int
    rtype: int


_FRAME = struct.Struct("<IIqqqqHHI")


def walk_frames(data: bytes) -> list[Frame]:
    """Frames of an undamaged segment, parsed with ``struct`` (not the package's scanner)."""
    frames = []
    pos = SEGMENT_HEAD
    while pos < len(data):
        _, length, seq, _, _, durable, rtype, _, _ = _FRAME.unpack_from(data, pos)
        size = FRAME_HEAD + (length + 7) // 8 * 8
        frames.append(Frame(pos, size, seq, durable, rtype))
        pos += size
    assert pos == len(data)
    return frames


# --- a file layer that can lose power --------------------------------------------------


class _Inode:
    def __init__(self) -> None:
        self.data = bytearray()  # what reads see (the page cache)
        self.synced = b""  # what survives a power failure


class _Handle:
    def __init__(self, files: PowerLossFiles, inode: _Inode) -> None:
        self._files = files
        self._inode = inode

    def write(self, data: memoryview) -> None:
        self._files.check("write")
        self._inode.data += bytes(data)

    def sync(self) -> None:
        self._files.check("sync")
        self._inode.synced = bytes(self._inode.data)

    def close(self) -> None:
        pass


class _NoLock:
    def release(self) -> None:
        pass


class PowerLossFiles:
    """An in-memory file system that keeps, on :meth:`power_failure`, only what was synced.

    A file's bytes survive up to its last ``sync``; a creation, rename or removal
    survives once its directory is synced. ``fail_at`` makes the named operation raise
    (a crash at that point).
    """

    def __init__(self) -> None:
        self.live: dict[str, _Inode] = {}
        self.durable: dict[str, _Inode] = {}
        self.fail_at: str | None = None
        self.syncs = 0

    def check(self, operation: str) -> None:
        if self.fail_at == operation:
            raise OSError(f"injected failure at {operation}")

    # the FileLayer interface
    def list_dir(self, directory: str) -> list[str]:
        return [os.path.basename(p) for p in self.live if os.path.dirname(p) == directory]

    def make_dir(self, directory: str) -> None:
        pass

    def size(self, path: str) -> int:
        return len(self.live[path].data)

    def map(self, path: str) -> MappedFile:
        return MappedFile(np.frombuffer(bytes(self.live[path].data), np.uint8))

    def create(self, path: str) -> _Handle:
        self.check("create")
        if path in self.live:
            raise FileExistsError(path)
        self.live[path] = _Inode()
        return _Handle(self, self.live[path])

    def append(self, path: str) -> _Handle:
        return _Handle(self, self.live[path])

    def truncate(self, path: str, size: int) -> None:
        inode = self.live[path]
        del inode.data[size:]
        inode.synced = bytes(inode.data)

    def remove(self, path: str) -> None:
        del self.live[path]

    def replace(self, source: str, target: str) -> None:
        self.check("replace")
        self.live[target] = self.live.pop(source)

    def lock(self, directory: str) -> _NoLock:
        return _NoLock()

    def sync_dir(self, directory: str) -> None:
        self.check("sync_dir")
        self.syncs += 1
        for path in [p for p in self.durable if os.path.dirname(p) == directory]:
            del self.durable[path]
        for path, inode in self.live.items():
            if os.path.dirname(path) == directory:
                self.durable[path] = inode

    # test controls
    def power_failure(self, rng: random.Random | None = None, pages: bool = False) -> None:
        """Forget what was not synced. With ``rng``, each file also keeps some unsynced bytes:
        a random prefix, or (``pages``) a random subset of its unsynced 4 KiB pages, zeros
        elsewhere, cut after the last page kept."""
        self.live = dict(self.durable)
        for inode in self.live.values():
            kept = bytearray(inode.synced)
            extra = bytes(inode.data[len(kept) :])
            if rng is not None and extra:
                if pages:
                    kept += _some_pages(rng, len(kept), extra)
                else:
                    kept += extra[: rng.randrange(len(extra) + 1)]
            inode.data = kept
            inode.synced = bytes(kept)
        self.fail_at = None

    def bytes_of(self, path: str) -> bytes:
        return bytes(self.live[path].data)

    def put(self, path: str, data: bytes) -> None:
        """Create or overwrite ``path`` with ``data``, durable."""
        inode = _Inode()
        inode.data = bytearray(data)
        inode.synced = bytes(data)
        self.live[path] = self.durable[path] = inode


def _some_pages(rng: random.Random, start: int, extra: bytes) -> bytes:
    """``extra`` (at file offset ``start``) with random whole pages zeroed, cut at a page end."""
    page = 4096
    out = bytearray(extra)
    last = 0
    offset = 0
    while offset < len(out):
        end = min(len(out), (start + offset) // page * page + page - start)
        if rng.random() < 0.5:
            out[offset:end] = bytes(end - offset)
        else:
            last = end
        offset = end
    return bytes(out[:last])
