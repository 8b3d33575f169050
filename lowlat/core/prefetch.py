"""Cache prefetch hints, callable from compiled code and from Python (where they do nothing).

A producer that is about to write lines another core read long ago (a journal ring's next
slots) pays a read-for-ownership miss per line, one after another as its stores drain.
:func:`prefetch_write` asks for the line in a writable state ahead of time (``prefetchw``
on x86-64), so the misses overlap with other work instead of stalling the stores. A hint
never faults and never changes a value: prefetching past an array's end is harmless.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = ["prefetch_write"]

_I8_PTR = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)
_WRITE = 1  # llvm.prefetch: 0 read, 1 write
_KEEP = 3  # temporal locality: keep in every cache level
_DATA = 1  # data cache, not instruction cache


@intrinsic
def _prefetch_write_ir(typingctx, array, offset):
    def codegen(context, builder, signature, args):
        values = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(values.data, [args[1]])
        fnty = ir.FunctionType(ir.VoidType(), [_I8_PTR, _I32, _I32, _I32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        hints = [ir.Constant(_I32, value) for value in (_WRITE, _KEEP, _DATA)]
        builder.call(fn, [builder.bitcast(ptr, _I8_PTR), *hints])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


def prefetch_write(array: np.ndarray, offset: int) -> None:
    """Hint that the element ``offset`` elements into ``array`` is about to be written.

    ``offset`` counts elements in memory order (the array is contiguous), so one call
    reaches any word of a 2-d array of records: ``row * columns + column``.
    """


@overload(prefetch_write, jit_options={"nogil": True, "_nrt": False})
def _ov_prefetch_write(array, offset):
    if not isinstance(array, types.Array) or array.layout != "C":
        raise TypingError(f"prefetch_write takes a contiguous array, got {array}")
    return lambda array, offset: _prefetch_write_ir(array, offset)
