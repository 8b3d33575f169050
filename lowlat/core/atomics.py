"""Explicit atomics on NumPy int64 arrays, callable from compiled code and from Python.

Each operation is an ordinary Python function (used as is under ``NUMBA_DISABLE_JIT=1``
and from control code) with a Numba overload that emits the LLVM atomic instruction
(``load atomic … acquire``, ``store atomic … release``, ``cmpxchg``, ``atomicrmw add``,
``fence``). Cursors shared between threads or processes go through these functions only;
on x86-64 acquire loads and release stores compile to plain ``mov`` plus a compiler barrier,
so they cost nothing on the hot path while keeping the compiler from reordering.

The interpreted fallbacks rely on the GIL (threads) or on x86-64 total store order
(processes); they exist for debugging and coverage, not for speed. The GIL makes a single
element load or store atomic but not a read-modify-write, which may be interrupted between
its read and its write: ``compare_and_swap`` and ``fetch_add`` take a lock, so that they are
atomic between the threads of a process.
"""

from __future__ import annotations

import platform
import threading

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = [
    "compare_and_swap",
    "cpu_relax",
    "fence_acquire",
    "fence_release",
    "fence_seq_cst",
    "fetch_add",
    "load_acquire",
    "load_relaxed",
    "store_relaxed",
    "store_release",
]

_IS_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_RMW_LOCK = threading.Lock()  # makes the interpreted read-modify-writes atomic


def _element_pointer(context, builder, array_type, array_value, index_value):
    array = context.make_array(array_type)(context, builder, array_value)
    return cgutils.get_item_pointer(
        context, builder, array_type, array, [index_value], wraparound=False
    )


def _check_int64_array(array) -> None:
    if not (isinstance(array, types.Array) and array.dtype == types.int64 and array.ndim == 1):
        raise TypeError(f"atomics operate on 1-d int64 arrays, got {array}")


def _make_load(ordering: str):
    @intrinsic
    def _load(typingctx, array, index):
        _check_int64_array(array)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
            return builder.load_atomic(ptr, ordering, 8)

        return types.int64(array, index), codegen

    return _load


def _make_store(ordering: str):
    @intrinsic
    def _store(typingctx, array, index, value):
        _check_int64_array(array)

        def codegen(context, builder, signature, args):
            ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
            stored = context.cast(builder, args[2], signature.args[2], types.int64)
            builder.store_atomic(stored, ptr, ordering, 8)
            return context.get_dummy_value()

        return types.void(array, index, value), codegen

    return _store


_load_acquire_ir = _make_load("acquire")
_load_relaxed_ir = _make_load("monotonic")
_store_release_ir = _make_store("release")
_store_relaxed_ir = _make_store("monotonic")


@intrinsic
def _cas_ir(typingctx, array, index, expected, desired):
    _check_int64_array(array)

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        old = context.cast(builder, args[2], signature.args[2], types.int64)
        new = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(ptr, old, new, "acq_rel", "acquire")
        return builder.zext(builder.extract_value(pair, 1), ir.IntType(8))

    return types.boolean(array, index, expected, desired), codegen


@intrinsic
def _fetch_add_ir(typingctx, array, index, delta):
    _check_int64_array(array)

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, value, "acq_rel")

    return types.int64(array, index, delta), codegen


def _make_fence(ordering: str):
    @intrinsic
    def _fence(typingctx):
        def codegen(context, builder, signature, args):
            builder.fence(ordering)
            return context.get_dummy_value()

        return types.void(), codegen

    return _fence


_fence_acquire_ir = _make_fence("acquire")
_fence_release_ir = _make_fence("release")
_fence_seq_cst_ir = _make_fence("seq_cst")


@intrinsic
def _cpu_relax_ir(typingctx):
    def codegen(context, builder, signature, args):
        if _IS_X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            pause = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(pause, [])
        else:  # pragma: no cover - no other architecture here to run it on
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


# --- Python-visible API (interpreted fallbacks) and their compiled overloads ------------


def load_acquire(array: np.ndarray, index: int) -> int:
    """Load ``array[index]`` with acquire ordering: later reads see what the writer published."""
    return int(array[index])


def load_relaxed(array: np.ndarray, index: int) -> int:
    """Load ``array[index]`` atomically (no tearing) with no ordering constraint."""
    return int(array[index])


def store_release(array: np.ndarray, index: int, value: int) -> None:
    """Store ``value`` with release ordering: earlier writes become visible before it."""
    array[index] = value


def store_relaxed(array: np.ndarray, index: int, value: int) -> None:
    """Store ``value`` atomically (no tearing) with no ordering constraint."""
    array[index] = value


def compare_and_swap(array: np.ndarray, index: int, expected: int, desired: int) -> bool:
    """Set ``array[index] = desired`` if it equals ``expected``; return whether it did."""
    with _RMW_LOCK:
        if array[index] == expected:
            array[index] = desired
            return True
        return False


def fetch_add(array: np.ndarray, index: int, delta: int) -> int:
    """Atomically add ``delta`` to ``array[index]`` and return the previous value."""
    with _RMW_LOCK:
        previous = int(array[index])
        array[index] = previous + delta
        return previous


def fence_acquire() -> None:
    """Acquire fence: no later load moves before the loads preceding it."""


def fence_release() -> None:
    """Release fence: no earlier load or store moves after the stores following it."""


def fence_seq_cst() -> None:
    """Full fence (``mfence`` on x86-64), for store→load ordering."""


def cpu_relax() -> None:
    """Spin-loop hint (x86 ``pause``): frees the sibling hyper-thread and saves power."""


@overload(load_acquire)
def _ov_load_acquire(array, index):
    return lambda array, index: _load_acquire_ir(array, index)


@overload(load_relaxed)
def _ov_load_relaxed(array, index):
    return lambda array, index: _load_relaxed_ir(array, index)


@overload(store_release)
def _ov_store_release(array, index, value):
    return lambda array, index, value: _store_release_ir(array, index, value)


@overload(store_relaxed)
def _ov_store_relaxed(array, index, value):
    return lambda array, index, value: _store_relaxed_ir(array, index, value)


@overload(compare_and_swap)
def _ov_cas(array, index, expected, desired):
    return lambda array, index, expected, desired: _cas_ir(array, index, expected, desired)


@overload(fetch_add)
def _ov_fetch_add(array, index, delta):
    return lambda array, index, delta: _fetch_add_ir(array, index, delta)


@overload(fence_acquire)
def _ov_fence_acquire():
    return lambda: _fence_acquire_ir()


@overload(fence_release)
def _ov_fence_release():
    return lambda: _fence_release_ir()


@overload(fence_seq_cst)
def _ov_fence_seq_cst():
    return lambda: _fence_seq_cst_ir()


@overload(cpu_relax)
def _ov_cpu_relax():
    return lambda: _cpu_relax_ir()
