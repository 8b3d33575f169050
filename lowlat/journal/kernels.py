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

from lowlat.core.jit import hot_kernel
from lowlat.core.ring.kernels import commit, try_claim
from lowlat.core.ring.layout import BACK_PRESSURED, H_MASK
from lowlat.journal.format import E_MONO, E_PAYLOAD, E_TYPE, MAX_TYPE, PAYLOAD_WORDS

__all__ = ["INVALID_TYPE", "publish", "publish_batch"]

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
    """Journal ``rows[start:start + count]`` (int64, 8 words each), all of type ``rtype``.

    Stops at the first refusal. Returns how many were journaled (the caller keeps the
    rest), or ``INVALID_TYPE``. Each record is committed on its own, so the writer may
    start on the first while the last is being copied.
    """
    if rtype < 1 or rtype > MAX_TYPE:
        return INVALID_TYPE
    done = 0
    while done < count:
        ticket = try_claim(header, stamps)
        if ticket < 0:
            break
        slot = ticket & header[H_MASK]
        slots[slot, E_MONO] = mono_ns
        slots[slot, E_TYPE] = rtype
        row = start + done
        for w in range(PAYLOAD_WORDS):
            slots[slot, E_PAYLOAD + w] = rows[row, w]
        commit(header, stamps, ticket)
        done += 1
    return done
