"""Compiled hot-path side of the journal: hand a 64-byte record to the journal ring. Hot path.

The journal ring is a ``RingBus`` of ``ENTRY_DTYPE`` slots with one lossless consumer,
the writer thread. Publishing writes the entry in place in the slot — no staging copy —
and never waits: when the writer is a full ring behind, the publish returns
``BACK_PRESSURED`` and the ring's back-pressure counter records it, so nothing is ever
dropped silently. What the caller does then (retry later, shed, degrade) is its policy.

The functions take the ring's three arrays (``Journal.ring(producer)``) plus the record as
int64 words: ``records.view(np.int64).reshape(-1, 8)[i]`` for row ``i`` of any 64-byte
record array, a view made once in control code. One thread per ring: a ring has one
producer.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import fence_release, store_relaxed, store_release
from lowlat.core.copy import copy_record
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.prefetch import prefetch_write
from lowlat.core.ring.kernels import claimable, commit, try_claim
from lowlat.core.ring.layout import BACK_PRESSURED, H_BACK_PRESSURED, H_MASK, H_PUBLISH_CURSOR
from lowlat.journal.format import E_MONO, E_PAYLOAD, E_TYPE, MAX_TYPE, PAYLOAD_WORDS

__all__ = ["INVALID_TYPE", "prefetch_slots", "publish", "publish_batch"]

#: ``publish`` result for a type code outside 1..65535 (nothing was journaled).
INVALID_TYPE = -2


@hot_kernel
def publish(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    rtype: int,
    mono_ns: int,
    words: np.ndarray,
) -> int:
    """Journal one 64-byte record (``words``: its 8 int64 words) of type ``rtype``.

    Returns
    -------
    int
        The record's ticket (its sequence in this ring, not yet its journal sequence,
        which the writer assigns); ``BACK_PRESSURED`` if the writer is a full ring
        behind (the refusal is counted in the ring header); ``INVALID_TYPE`` if
        ``rtype`` is not in 1..65535.
    """
    if rtype < 1 or rtype > MAX_TYPE:
        return INVALID_TYPE
    ticket = try_claim(header, stamps)
    if ticket < 0:
        return BACK_PRESSURED
    slot = ticket & header[H_MASK]
    slots[slot, E_MONO] = mono_ns
    slots[slot, E_TYPE] = rtype
    for w in range(PAYLOAD_WORDS):
        slots[slot, E_PAYLOAD + w] = words[w]
    commit(header, stamps, ticket)
    return ticket


@hot_kernel
def publish_batch(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    rtype: int,
    mono_ns: int,
    rows: np.ndarray,
    start: int,
    count: int,
) -> int:
    """Journal ``rows[start:start + count]`` (C-ordered int64, 8 words a row), of type ``rtype``.

    One gate check for the batch, each entry written under its stamp, and the publish
    cursor advanced once at the end: the writer sees the whole batch at once. What does
    not fit is refused (counted once in the ring header). Returns how many were
    journaled (the caller keeps the rest), or ``INVALID_TYPE``.
    """
    if rtype < 1 or rtype > MAX_TYPE:
        return INVALID_TYPE
    done = claimable(header, count)
    if done < count:
        header[H_BACK_PRESSURED] += 1
    mask = header[H_MASK]
    first = header[H_PUBLISH_CURSOR]
    entry_words = slots.shape[1]
    row_words = rows.shape[1]
    for k in range(done):
        seq = first + k
        slot = seq & mask
        # Seqlock write, as ring.kernels.publish_batch: "being written", data, stamp.
        store_relaxed(stamps, slot, -(seq + 2))
        fence_release()
        slots[slot, E_MONO] = mono_ns
        slots[slot, E_TYPE] = rtype
        copy_record(slots, slot * entry_words + E_PAYLOAD, rows, (start + k) * row_words)
        store_release(stamps, slot, seq)
    if done > 0:
        store_release(header, H_PUBLISH_CURSOR, first + done)
    return done


@hot_kernel_inline
def prefetch_slots(header: np.ndarray, stamps: np.ndarray, slots: np.ndarray, count: int) -> None:
    """Prefetch, for writing, the entries and stamps the next ``count`` publishes will fill.

    The writer read those lines a ring ago, so each costs the producer a miss when it
    writes it; issued early — when a block is taken, before it is decided on — the misses
    overlap with the decisions instead of stalling the hand-off after them.
    """
    mask = header[H_MASK]
    seq = header[H_PUBLISH_CURSOR]
    words = slots.shape[1]
    for k in range(count):
        index = (seq + k) & mask
        prefetch_write(slots, index * words)
        prefetch_write(slots, index * words + words - 1)  # an entry may span two lines
        prefetch_write(stamps, index)
