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

import numpy as np
from numba import njit

__all__ = [
    "ONE",
    "ZERO",
    "hot_kernel",
    "hot_kernel_inline",
    "hot_kernel_inline_ir",
    "hot_kernel_uncached",
]

#: Pass these, not ``0`` or ``1``, from one kernel to another that is not inlined (and
#: start loop-carried counters passed on at them): Numba types an integer literal as
#: ``Literal[int]`` — a counter initialised ``= 0`` too, while it infers the loop — and
#: compiles the callee once more for it, beside the ``int64`` version every other caller
#: uses: minutes for a kernel that inlines the book or the venue engine.
ZERO = np.int64(0)
ONE = np.int64(1)

hot_kernel = njit(nogil=True, cache=True, _nrt=False)

#: For helpers: compiled once per signature (and cached), then inlined by LLVM into every
#: caller (``alwaysinline``), so no call and no argument marshalling remains on the hot
#: path. Not Numba's ``inline="always"``, which splices the helper's IR into each caller
#: and types it again there: the book engine took 155 s to compile that way, 24 s this
#: way, and runs as fast (``lowlat bench book``, book_only, same machine, same hour).
hot_kernel_inline = njit(nogil=True, cache=True, _nrt=False, forceinline=True)

#: For the kernels that take a strategy as an argument: spliced into the caller's Numba IR,
#: so that in :mod:`lowlat.execution.specialize`'s wrappers, where the strategy is a
#: global, it stays one. (Passed on to a separately compiled function it would be compiled
#: in as an address, which Numba refuses to cache.) Costly to compile; use for nothing else.
hot_kernel_inline_ir = njit(nogil=True, cache=True, _nrt=False, inline="always")

#: For kernels that take a compiled function as an argument (a strategy): Numba keys such
#: an argument's type on the dispatcher object, so an on-disk cache entry never matches in
#: a new process — the index only grows, and past ~128 stale entries loading fails. They
#: compile once per process instead, during WARMUP. (The trading path avoids this for any
#: strategy importable by name: :mod:`lowlat.execution.specialize`.)
hot_kernel_uncached = njit(nogil=True, cache=False, _nrt=False)
