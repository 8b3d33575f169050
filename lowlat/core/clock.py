"""Monotonic nanoseconds for the hot path.

``monotonic_ns()`` reads ``clock_gettime(CLOCK_MONOTONIC)`` — the clock behind Python's
``time.monotonic_ns()`` — directly from compiled code (a vDSO call, no syscall, ~25 ns).
The wall clock never appears on the hot path; exchange timestamps are data, not clocks.
"""

from __future__ import annotations

import time

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["NS_PER_SECOND", "monotonic_ns"]

NS_PER_SECOND = 1_000_000_000

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_TIMESPEC = ir.LiteralStructType([_I64, _I64])  # struct timespec on LP64: tv_sec, tv_nsec


@intrinsic
def _monotonic_ns_ir(typingctx):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I32, [_I32, _TIMESPEC.as_pointer()])
        clock_gettime = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        spec = cgutils.alloca_once(builder, _TIMESPEC)
        builder.call(clock_gettime, [ir.Constant(_I32, time.CLOCK_MONOTONIC), spec])
        seconds = builder.load(cgutils.gep_inbounds(builder, spec, 0, 0))
        nanos = builder.load(cgutils.gep_inbounds(builder, spec, 0, 1))
        return builder.add(builder.mul(seconds, ir.Constant(_I64, NS_PER_SECOND)), nanos)

    return types.int64(), codegen


def monotonic_ns() -> int:
    """Return CLOCK_MONOTONIC in nanoseconds; the same clock as ``time.monotonic_ns()``."""
    return time.monotonic_ns()


@overload(monotonic_ns)
def _ov_monotonic_ns():
    return lambda: _monotonic_ns_ir()
