"""Segment files: naming, listing in sequence order, and the 64-byte header."""

from __future__ import annotations

import os
import struct

import numpy as np

from lowlat.journal.crc_kernels import crc32c
from lowlat.journal.files import FileLayer
from lowlat.journal.format import (
    SEGMENT_HEAD,
    SEGMENT_MAGIC,
    SEGMENT_VERSION,
    parse_segment_name,
)

__all__ = ["list_segments", "parse_segment_header", "segment_header"]

_HEAD = struct.Struct("<8sIIqq28x")  # magic, version, header bytes, first_seq, created_wall_ns
_CRC = struct.Struct("<I")


def segment_header(first_seq: int, created_wall_ns: int) -> bytes:
    """The 64-byte header of a segment whose first frame will have ``first_seq``."""
    head = _HEAD.pack(SEGMENT_MAGIC, SEGMENT_VERSION, SEGMENT_HEAD, first_seq, created_wall_ns)
    return head + _CRC.pack(crc32c(head))


def parse_segment_header(data: np.ndarray, first_seq: int) -> str | None:
    """What is wrong with the header at the start of ``data`` (uint8), or None if it is sound.

    ``first_seq`` is the sequence the file name promises; the header must agree.
    """
    if data.shape[0] < SEGMENT_HEAD:
        return f"segment header incomplete ({data.shape[0]} of {SEGMENT_HEAD} bytes)"
    head = data[: _HEAD.size].tobytes()
    (crc,) = _CRC.unpack(data[_HEAD.size : SEGMENT_HEAD].tobytes())
    if crc != crc32c(head):
        return "segment header CRC32C mismatch"
    magic, version, size, seq, _ = _HEAD.unpack(head)
    if magic != SEGMENT_MAGIC:
        return f"not a journal segment (magic {magic!r})"
    if version != SEGMENT_VERSION or size != SEGMENT_HEAD:
        return f"unsupported segment version {version} (header {size} bytes)"
    if seq != first_seq:
        return f"segment header says first sequence {seq}, its name {first_seq}"
    return None


def list_segments(files: FileLayer, directory: str) -> list[tuple[int, str]]:
    """``(first_seq, path)`` of every segment file in ``directory``, in sequence order."""
    found = []
    for name in files.list_dir(directory):
        first = parse_segment_name(name)
        if first is not None:
            found.append((first, os.path.join(directory, name)))
    return sorted(found)
