"""Scheduler calls: idle (yield the CPU, sleep), pin a thread to a CPU, reserve a CPU.

Idle consumers yield or sleep for a number of nanoseconds; control code pins a thread
before its hot loop starts, and may reserve that CPU for it by moving every other thread
of the process off it. Yield and sleep call libc (``sched_yield``, ``nanosleep``) from
compiled code and, interpreted, through ctypes: both modes make the same call.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from lowlat.core.clock import NS_PER_SECOND

__all__ = [
    "auto_cpu",
    "check_cpu",
    "pin_thread",
    "release_cpu",
    "reserve_cpu",
    "sleep_ns",
    "yield_thread",
]

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_TIMESPEC = ir.LiteralStructType([_I64, _I64])


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


_reserved: set[int] = set()  # CPUs reserve_cpu kept for one thread: still this process's
_libc = ctypes.CDLL(None, use_errno=True)
_libc.sched_yield.restype = ctypes.c_int
_libc.nanosleep.argtypes = [ctypes.POINTER(_Timespec), ctypes.POINTER(_Timespec)]
_libc.nanosleep.restype = ctypes.c_int


@intrinsic
def _yield_ir(typingctx):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I32, [])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _sleep_ir(typingctx, nanoseconds):
    def codegen(context, builder, signature, args):
        total = context.cast(builder, args[0], signature.args[0], types.int64)
        billion = ir.Constant(_I64, NS_PER_SECOND)
        spec = cgutils.alloca_once(builder, _TIMESPEC)
        builder.store(builder.sdiv(total, billion), cgutils.gep_inbounds(builder, spec, 0, 0))
        builder.store(builder.srem(total, billion), cgutils.gep_inbounds(builder, spec, 0, 1))
        fnty = ir.FunctionType(_I32, [_TIMESPEC.as_pointer(), _TIMESPEC.as_pointer()])
        nanosleep = cgutils.get_or_insert_function(builder.module, fnty, "nanosleep")
        builder.call(nanosleep, [spec, ir.Constant(_TIMESPEC.as_pointer(), None)])
        return context.get_dummy_value()

    return types.void(nanoseconds), codegen


def yield_thread() -> None:
    """Let the OS run another thread on this core (``sched_yield``)."""
    _libc.sched_yield()


def sleep_ns(nanoseconds: int) -> None:
    """Sleep for about ``nanoseconds`` (``nanosleep``; the kernel rounds up to its timer slack)."""
    spec = _Timespec(nanoseconds // NS_PER_SECOND, nanoseconds % NS_PER_SECOND)
    _libc.nanosleep(ctypes.byref(spec), None)


def pin_thread(cpu: int) -> None:
    """Run the calling thread on CPU ``cpu`` only; ``-1`` leaves it to the OS.

    Raises
    ------
    ValueError
        If ``cpu`` is not one this process may run on (its affinity mask).
    """
    if cpu >= 0:
        check_cpu(cpu)
        os.sched_setaffinity(0, {cpu})  # pid 0: the calling thread, on Linux


def check_cpu(cpu: int) -> None:
    """Raise ``ValueError`` unless ``cpu`` is ``-1`` (any) or one this process may run on.

    That is, one in the calling thread's mask or one this process reserved
    (:func:`reserve_cpu`), which the calling thread has been moved off.
    """
    allowed = os.sched_getaffinity(0) | _reserved
    if cpu != -1 and cpu not in allowed:
        raise ValueError(f"CPU {cpu} is not one this process may run on: {sorted(allowed)}")


def auto_cpu() -> int:
    """The CPU to give a hot thread to itself: this process's highest, if it may use two or more.

    ``-1`` (not pinned) when it may run on one CPU only: pinning would then gain nothing.
    """
    allowed = os.sched_getaffinity(0)
    return max(allowed) if len(allowed) > 1 else -1


def reserve_cpu(cpu: int, owner: int) -> dict[int, set[int]]:
    """Move every thread of this process but ``owner`` (an OS thread id) off CPU ``cpu``.

    Threads started later inherit the mask of the thread that starts them, so the calling
    thread is moved too (unless it is the owner). A thread that may run on ``cpu`` alone
    keeps its mask. Returns the masks it changed, by thread id, for :func:`release_cpu`.
    """
    previous: dict[int, set[int]] = {}
    _reserved.add(cpu)
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        if tid == owner:
            continue
        with contextlib.suppress(OSError):  # the thread ended meanwhile
            mask = os.sched_getaffinity(tid)
            if cpu in mask and len(mask) > 1:
                os.sched_setaffinity(tid, mask - {cpu})
                previous[tid] = mask
    return previous


def release_cpu(previous: dict[int, set[int]]) -> None:
    """Give back the masks :func:`reserve_cpu` changed, to the threads still running."""
    _reserved.clear()
    for tid, mask in previous.items():
        # An ended thread's id may belong to another process by now: leave it alone.
        if os.path.exists(f"/proc/self/task/{tid}"):
            with contextlib.suppress(OSError):  # it ended just now
                os.sched_setaffinity(tid, mask)


@overload(yield_thread)
def _ov_yield_thread():
    return lambda: _yield_ir()


@overload(sleep_ns)
def _ov_sleep_ns(nanoseconds):
    return lambda nanoseconds: _sleep_ir(nanoseconds)
