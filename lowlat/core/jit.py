"""How hot-path code is compiled: one decorator for every ``kernels`` module.

``hot_kernel`` is ``numba.njit`` with ``nogil=True`` (threads run it in parallel),
``cache=True`` (compiled once per machine, loaded during WARMUP) and the Numba runtime
(NRT) switched off. Without the NRT the compiler refuses any heap allocation inside the
kernel — "no allocation per event" is checked at compile time — and it emits no
reference-count updates for array arguments, which halves the cost of a one-event
publish + poll (57 → 28 ns measured). ``_nrt`` is Numba's own flag for this; the test
suite pins the behaviour, so a Numba release that changes it fails CI, not production.
"""

from __future__ import annotations

from numba import njit

__all__ = ["hot_kernel", "hot_kernel_inline", "hot_kernel_uncached"]

hot_kernel = njit(nogil=True, cache=True, _nrt=False)

#: For small helpers: inlined into the caller's IR, so no call (and no argument
#: marshalling) remains on the hot path.
hot_kernel_inline = njit(nogil=True, cache=True, _nrt=False, inline="always")

#: For kernels that take a compiled function as an argument (a strategy): Numba keys such
#: an argument's type on the dispatcher object, so an on-disk cache entry never matches in
#: a new process — the index only grows, and past ~128 stale entries loading fails. They
#: compile once per process instead, during WARMUP. (The trading path avoids this for any
#: strategy importable by name: :mod:`lowlat.execution.specialize`.)
hot_kernel_uncached = njit(nogil=True, cache=False, _nrt=False)
