"""CRC32C (Castagnoli), compiled: the x86 ``crc32`` instruction, or table-driven slice-by-8.

CRC32C rather than zlib's CRC-32 because it is the checksum storage formats agree on
(iSCSI, ext4, Btrfs, RocksDB, Kafka), it detects more error patterns in short messages,
and x86-64 computes it in hardware: SSE4.2's ``crc32`` takes eight bytes per instruction,
several times the speed of the best table method, which is what bounds recovery time.

:func:`crc32c_update` is an ordinary Python function (slice-by-8 over eight 256-entry
tables: eight bytes per step, no branch per byte) with a Numba overload that uses the
instruction when the machine has it and Numba compiles for the host, and the same table
code otherwise. So interpreted (``NUMBA_DISABLE_JIT=1``) and compiled code call one name.
"""

from __future__ import annotations

import platform

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from lowlat.core.byteorder import load_le64
from lowlat.core.jit import hot_kernel

__all__ = ["HARDWARE_CRC", "crc32c", "crc32c_table", "crc32c_update"]

POLYNOMIAL = 0x82F63B78  # Castagnoli, bit-reversed
MASK32 = 0xFFFFFFFF

#: Whether compiled code uses the SSE4.2 instruction (x86-64 host with SSE4.2, and Numba
#: compiling for the host CPU rather than a configured one).
HARDWARE_CRC = (
    platform.machine().lower() in ("x86_64", "amd64")
    and numba.config.CPU_NAME is None
    and bool(llvm.get_host_cpu_features().get("sse4.2"))
)

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _tables() -> np.ndarray:
    """``tables[k, b]``: the CRC of byte ``b`` followed by ``k`` zero bytes."""
    tables = np.zeros((8, 256), np.int64)  # int64: no uint32/int64 mixing in compiled code
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (POLYNOMIAL if crc & 1 else 0)
        tables[0, byte] = crc
    for k in range(1, 8):
        for byte in range(256):
            previous = int(tables[k - 1, byte])
            tables[k, byte] = (previous >> 8) ^ int(tables[0, previous & 0xFF])
    return tables


_T = _tables()


def crc32c_update(crc: int, data: np.ndarray, start: int, end: int) -> int:
    """Continue a CRC32C over ``data[start:end]`` (uint8); ``crc`` and result are finalized.

    ``crc32c_update(0, data, 0, n)`` is the CRC32C of the first ``n`` bytes; feeding the
    result back in with the next range gives the CRC of the concatenation.
    """
    c = np.int64(crc) ^ MASK32
    i = start
    while i + 8 <= end:
        low = c ^ (
            np.int64(data[i])
            | (np.int64(data[i + 1]) << 8)
            | (np.int64(data[i + 2]) << 16)
            | (np.int64(data[i + 3]) << 24)
        )
        c = (
            _T[7, low & 0xFF]
            ^ _T[6, (low >> 8) & 0xFF]
            ^ _T[5, (low >> 16) & 0xFF]
            ^ _T[4, (low >> 24) & 0xFF]
            ^ _T[3, np.int64(data[i + 4])]
            ^ _T[2, np.int64(data[i + 5])]
            ^ _T[1, np.int64(data[i + 6])]
            ^ _T[0, np.int64(data[i + 7])]
        )
        i += 8
    while i < end:
        c = _T[0, (c ^ np.int64(data[i])) & 0xFF] ^ (c >> 8)
        i += 1
    return c ^ MASK32


@intrinsic
def _crc32_u64(typingctx, crc, value):
    """SSE4.2 ``crc32`` over eight bytes: the raw register in and out (low 32 bits)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I64, [_I64, _I64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse42.crc32.64.64")
        return builder.call(fn, [args[0], args[1]])

    return types.int64(types.int64, types.int64), codegen


@intrinsic
def _crc32_u8(typingctx, crc, value):
    """SSE4.2 ``crc32`` over one byte."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I32, [_I32, _I8])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse42.crc32.32.8")
        low = builder.trunc(args[0], _I32)
        return builder.zext(builder.call(fn, [low, builder.trunc(args[1], _I8)]), _I64)

    return types.int64(types.int64, types.int64), codegen


def _hardware_update(crc, data, start, end):
    c = np.int64(crc) ^ MASK32
    i = start
    while i + 8 <= end:
        c = _crc32_u64(c, load_le64(data, i))
        i += 8
    while i < end:
        c = _crc32_u8(c, np.int64(data[i]))
        i += 1
    return c ^ MASK32


@overload(crc32c_update, jit_options={"nogil": True, "_nrt": False})
def _ov_crc32c_update(crc, data, start, end):
    return _hardware_update if HARDWARE_CRC else crc32c_update


#: :func:`crc32c_update` by the tables alone, compiled (what the instruction is checked
#: against, and the code on machines without it).
crc32c_table = hot_kernel(crc32c_update)


@hot_kernel
def _crc32c_range(crc: int, data: np.ndarray, start: int, end: int) -> int:
    return crc32c_update(crc, data, start, end)


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, crc: int = 0) -> int:
    """CRC32C of ``data`` (any bytes-like or array), continuing from ``crc``.

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    view = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    # Read-only whatever the source, so one compiled version serves bytes and arrays alike
    # (it is loaded once, while warming up, not on a snapshot's first write).
    view.flags.writeable = False
    return int(_crc32c_range(crc, view, 0, view.shape[0]))
