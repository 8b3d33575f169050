"""Publish decoded records to a ring on a schedule, as a feed handler receives them. Hot path.

The simulated feed of a session: rows are due at ``t0 + (offset + i) * interval_ns`` on
the monotonic clock (an absolute schedule, so a stalled publisher catches up in a burst, as
a real feed does), and each is stamped with its receive time as it is published.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import load_acquire
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import hot_kernel
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring.kernels import publish

__all__ = ["publish_paced"]

_RECV_WORD = MARKET_EVENT_DTYPE.fields["recv_ns"][1] // 8


@hot_kernel
def publish_paced(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    words: np.ndarray,
    n: int,
    t0: int,
    offset: int,
    interval_ns: int,
    stop: np.ndarray,
) -> tuple[int, int]:
    """Publish ``words[:n]`` (rows of 8 int64 words) on schedule; stop early if ``stop[0]``.

    Returns ``(published, refused)``: a refused publish (a lossless consumer a full ring
    behind) is retried while the row's stamp stands — the producer spins, it does not
    wait on a lock — and counted once per refusal.
    """
    refused = 0
    for i in range(n):
        due = t0 + (offset + i) * interval_ns
        now = monotonic_ns()
        while now < due:
            now = monotonic_ns()
        if load_acquire(stop, 0) != 0:
            return i, refused
        words[i, _RECV_WORD] = now
        while publish(header, stamps, slots, words[i]) < 0:
            refused += 1
            if load_acquire(stop, 0) != 0:
                return i, refused
    return n, refused
