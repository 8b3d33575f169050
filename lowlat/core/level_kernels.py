"""Sorted price levels: the search the order books and the matching engine share. Hot path.

A side of a book is an array of *keys* sorted ascending toward the touch, worst first and
best last: the price for bids, its negation for asks, so that both sides use one search
and inserts and removals near the touch — where most of them happen — shift few entries.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel_inline

__all__ = ["BID", "LINEAR_PROBES", "lower_bound", "price_key"]

BID = 0  # side index of bids; asks are 1
LINEAR_PROBES = 8  # levels checked from the touch before a binary search


@hot_kernel_inline
def price_key(side: int, price: int) -> int:
    """The sort key of ``price`` on ``side``: the price for bids, its negation for asks."""
    return price if side == BID else -price


@hot_kernel_inline
def lower_bound(keys: np.ndarray, n: int, key: int) -> int:
    """First index of ``keys[:n]`` whose key is >= ``key`` (``n`` if none).

    Looks at the ``LINEAR_PROBES`` levels nearest the touch first, then bisects the rest.
    """
    i = n - 1
    steps = 0
    while i >= 0 and keys[i] > key:
        i -= 1
        steps += 1
        if steps == LINEAR_PROBES:
            break
    if i < 0:
        return 0
    if keys[i] <= key:
        return i if keys[i] == key else i + 1
    lo = 0
    hi = i  # keys[hi] > key
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo
