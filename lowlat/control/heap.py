"""The Python heap while trading: one collection after warm-up, then the survivors frozen.

Warm-up leaves hundreds of thousands of long-lived container objects behind (Numba's
type, IR and dispatcher caches, the components' Python side). Every full collection of
CPython's cyclic GC traverses them all: a pause of a third of a second in whichever Python
thread triggers it (the feed, the sidecar, the snapshot writer), measured in a 1 G-message
soak. ``gc.freeze`` moves them to a permanent generation that no collection visits; what
trading allocates afterwards is collected as usual, in short passes. The compiled hot
path never takes the GIL and is not paused either way.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap", "thaw_heap"]


def freeze_heap() -> int:
    """Collect once, then freeze every object alive now; return how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Give the frozen objects back to the collector (at the end of a session)."""
    gc.unfreeze()
