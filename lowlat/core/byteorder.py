"""Integer loads from byte arrays at any offset, callable from compiled code and from Python.

Wire formats (ITCH, SoupBinTCP, MoldUDP64) are big-endian and pack their fields with no
alignment. Assembled a byte at a time, an 8-byte field is eight loads, seven shifts and
seven ors, and LLVM does not merge them into one load: the ITCH decoder spent most of its
time there. Each function here is an ordinary Python function (used as is under
``NUMBA_DISABLE_JIT=1``) with a Numba overload that emits one unaligned load (``align 1``)
and, for big-endian, one ``llvm.bswap`` (``movbe`` or ``mov`` + ``bswap`` on x86-64).

Compiled, the array must be a contiguous 1-d ``uint8`` array (a slice of one is); anything
else is refused when the caller compiles. No bounds are checked, as with any compiled
indexing: the caller has checked that ``buf[pos:pos + width]`` is inside the array.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = ["load_be16", "load_be32", "load_be48", "load_be64", "load_le64"]

_I64 = ir.IntType(64)


def _check_bytes(buf) -> None:
    if not (
        isinstance(buf, types.Array)
        and buf.dtype == types.uint8
        and buf.ndim == 1
        and buf.layout == "C"
    ):
        raise TypingError(f"byte loads read contiguous 1-d uint8 arrays, got {buf}")


def _make_load(width: int, big_endian: bool):
    """An intrinsic loading ``width`` bytes at ``buf[pos]`` as a zero-extended int64."""
    bits = 8 * width

    @intrinsic
    def _load(typingctx, buf, pos):
        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            array = context.make_array(array_type)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(
                context, builder, array_type, array, [args[1]], wraparound=False
            )
            word = ir.IntType(bits)
            value = builder.load(builder.bitcast(ptr, word.as_pointer()), align=1)
            if big_endian:
                swap = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(word, [word]), f"llvm.bswap.i{bits}"
                )
                value = builder.call(swap, [value])
            return value if bits == 64 else builder.zext(value, _I64)

        return types.int64(buf, pos), codegen

    return _load


_be16_ir = _make_load(2, big_endian=True)
_be32_ir = _make_load(4, big_endian=True)
_be64_ir = _make_load(8, big_endian=True)
_le64_ir = _make_load(8, big_endian=False)


def _python_load(buf: np.ndarray, pos: int, width: int, order: str) -> np.int64:
    """``width`` bytes at ``buf[pos]`` as an int64 (8 bytes keep their bit pattern)."""
    kind = "i" if width == 8 else "u"
    return np.int64(np.frombuffer(buf[pos : pos + width].tobytes(), f"{order}{kind}{width}")[0])


def load_be16(buf: np.ndarray, pos: int) -> np.int64:
    """The big-endian unsigned 16-bit integer at ``buf[pos:pos + 2]``."""
    return _python_load(buf, pos, 2, ">")


def load_be32(buf: np.ndarray, pos: int) -> np.int64:
    """The big-endian unsigned 32-bit integer at ``buf[pos:pos + 4]``."""
    return _python_load(buf, pos, 4, ">")


def load_be48(buf: np.ndarray, pos: int) -> np.int64:
    """The big-endian unsigned 48-bit integer at ``buf[pos:pos + 6]`` (ITCH timestamps)."""
    return (load_be16(buf, pos) << np.int64(32)) | load_be32(buf, pos + 2)


def load_be64(buf: np.ndarray, pos: int) -> np.int64:
    """The big-endian 64-bit integer at ``buf[pos:pos + 8]``; above 2**63 - 1 it is negative."""
    return _python_load(buf, pos, 8, ">")


def load_le64(buf: np.ndarray, pos: int) -> np.int64:
    """The little-endian 64-bit integer at ``buf[pos:pos + 8]``, bit pattern kept."""
    return _python_load(buf, pos, 8, "<")


def _overload_word(function, load_ir) -> None:
    """Compile ``function`` to its one-load intrinsic (after the array check)."""

    @overload(function, jit_options={"nogil": True, "_nrt": False})
    def _ov(buf, pos):
        _check_bytes(buf)
        return lambda buf, pos: load_ir(buf, pos)


_overload_word(load_be16, _be16_ir)
_overload_word(load_be32, _be32_ir)
_overload_word(load_be64, _be64_ir)
_overload_word(load_le64, _le64_ir)


@overload(load_be48, jit_options={"nogil": True, "_nrt": False})
def _ov_load_be48(buf, pos):
    _check_bytes(buf)
    return lambda buf, pos: (_be16_ir(buf, pos) << 32) | _be32_ir(buf, pos + 2)
