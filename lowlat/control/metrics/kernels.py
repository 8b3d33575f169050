"""Compiled metrics: what hot-path stages call (count, sample) and the sidecar's drain.

:func:`count` and :func:`sample` are inlined into the calling stage: a few loads and
stores and one release store each — no allocation, lock, log, clock or wait. The arrays
are a :class:`~lowlat.control.metrics.layout.MetricsArrays`; every counter and every
stage has a single writer.

A sample ring is lossy: the stage never waits for the sidecar and simply overwrites the
oldest sample. Ordering between the stage (writer) and the sidecar (reader) is a seqlock
on the write index ``w`` (``W_WRITTEN``), with the slots as relaxed atomics::

    writer: sample i                        reader: drain from cursor
      fence_release                           w1 = load_acquire(w)
      store_relaxed(slot(i), latency)         copy slots [start, w1) with relaxed loads
      store_release(w, i + 1)                 fence_acquire
                                              w2 = load_acquire(w)

The release store publishes sample ``i`` to a reader that sees ``w > i``. Writing sample
``j`` overwrites sample ``j - N`` and may start as soon as ``w == j``; the release fence
keeps that store from becoming visible before ``w == j`` does, so a reader that copied an
overwritten slot is guaranteed to see ``w2 >= j`` after its acquire fence. Every sample
below ``w2 - N + 1`` is therefore suspect: the reader drops it and counts it lost. A ring
of ``N`` slots thus yields at most its last ``N - 1`` samples.
"""

from __future__ import annotations

import numpy as np

from lowlat.control.metrics.layout import LINE, W_BREACHES, W_WRITTEN, MetricsArrays
from lowlat.control.stages import N_STAGES
from lowlat.core.atomics import (
    fence_acquire,
    fence_release,
    load_acquire,
    load_relaxed,
    store_relaxed,
    store_release,
)
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import hot_kernel, hot_kernel_inline

__all__ = ["count", "drain_breaches", "drain_samples", "sample", "sample_since"]


@hot_kernel_inline
def count(metrics: MetricsArrays, counter: int, n: int) -> None:
    """Add ``n`` to ``counter`` (its one writer: a plain load, a release store)."""
    word = counter * LINE
    store_release(metrics.counters, word, metrics.counters[word] + n)


@hot_kernel_inline
def _push(ring: np.ndarray, stage: int, words: np.ndarray, word: int, value: int) -> None:
    """Append ``value`` to ``stage``'s block of ``ring``, indexed by ``words[word]``."""
    capacity = ring.shape[0] // N_STAGES
    index = words[word]  # only this stage writes it: a plain load of our own last store
    # The fence keeps the slot store below from becoming visible before the release store
    # of ``index`` (the previous call's): a reader that copies the overwritten slot is
    # bound to see an index that tells it so.
    fence_release()
    store_relaxed(ring, stage * capacity + (index & (capacity - 1)), value)
    store_release(words, word, index + 1)  # publishes the slot


@hot_kernel_inline
def sample(metrics: MetricsArrays, stage: int, latency_ns: int) -> None:
    """Record one latency sample of ``stage``; over the stage's budget it is also a breach."""
    line = stage * LINE
    _push(metrics.samples, stage, metrics.stages, line + W_WRITTEN, latency_ns)
    # relaxed: the budget is one word, and nothing else is published with it
    if latency_ns > load_relaxed(metrics.budgets, stage):
        _push(metrics.breaches, stage, metrics.stages, line + W_BREACHES, latency_ns)


@hot_kernel_inline
def sample_since(metrics: MetricsArrays, stage: int, since_ns: int) -> int:
    """Sample ``now - since_ns`` for ``stage`` and return ``now`` (the next stage's start)."""
    now = monotonic_ns()
    sample(metrics, stage, now - since_ns)
    return now


@hot_kernel_inline
def _drain(
    ring: np.ndarray, stage: int, words: np.ndarray, word: int, cursor: int, out: np.ndarray
) -> tuple[int, int, int, int]:
    capacity = ring.shape[0] // N_STAGES
    base = stage * capacity
    written = load_acquire(words, word)
    start = max(cursor, written - capacity + 1)
    end = min(written, start + out.shape[0])
    for i in range(start, end):
        out[i - start] = load_relaxed(ring, base + (i & (capacity - 1)))
    # The fence keeps the slot loads above before the index load below; any slot the
    # writer may have begun to overwrite by then lies below ``settled - capacity + 1``.
    fence_acquire()
    settled = load_acquire(words, word)
    first = max(start, settled - capacity + 1)
    if first >= end:
        return 0, 0, first - cursor, first
    return first - start, end - first, first - cursor, end


@hot_kernel
def drain_samples(
    metrics: MetricsArrays, stage: int, cursor: int, out: np.ndarray
) -> tuple[int, int, int, int]:
    """Copy ``stage``'s samples from sequence ``cursor`` on into ``out``, oldest first.

    Returns ``(offset, count, lost, next_cursor)``: the samples read are
    ``out[offset:offset + count]``; ``lost`` samples between ``cursor`` and them were
    overwritten before they could be read; the next drain starts at ``next_cursor``.
    Control-plane kernel: it only reads the metrics, so it runs beside the stages.
    """
    return _drain(metrics.samples, stage, metrics.stages, stage * LINE + W_WRITTEN, cursor, out)


@hot_kernel
def drain_breaches(
    metrics: MetricsArrays, stage: int, cursor: int, out: np.ndarray
) -> tuple[int, int, int, int]:
    """:func:`drain_samples` for ``stage``'s ring of over-budget samples."""
    return _drain(metrics.breaches, stage, metrics.stages, stage * LINE + W_BREACHES, cursor, out)
