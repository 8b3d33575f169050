"""Compiled quarantine recording, called by every decoder on the hot path."""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel
from lowlat.feeds.quarantine import (
    META_KEPT,
    META_LENGTH,
    META_OFFSET,
    META_SEQUENCE,
    SAMPLE_BYTES,
    SAMPLES_PER_KIND,
)


@hot_kernel
def reject(
    counts: np.ndarray,
    samples: np.ndarray,
    meta: np.ndarray,
    kind: int,
    data: np.ndarray,
    start: int,
    length: int,
    offset: int,
    sequence: int,
) -> None:
    """Count one bad message of ``kind`` and keep its first bytes if samples remain.

    ``data[start : start + length]`` are the message's bytes (clipped to ``data``);
    ``offset`` is where it began in the whole stream, ``sequence`` its sequence or -1.
    """
    seen = counts[kind]
    counts[kind] = seen + 1
    if seen >= SAMPLES_PER_KIND:
        return
    kept = max(min(length, data.shape[0] - start, SAMPLE_BYTES), 0)
    for i in range(kept):
        samples[kind, seen, i] = data[start + i]
    meta[kind, seen, META_OFFSET] = offset
    meta[kind, seen, META_LENGTH] = length
    meta[kind, seen, META_SEQUENCE] = sequence
    meta[kind, seen, META_KEPT] = kept


@hot_kernel
def flag(counts: np.ndarray, kind: int, how_many: int) -> None:
    """Count an anomaly that has no bytes to keep (a sequence gap of ``how_many``)."""
    counts[kind] += how_many
