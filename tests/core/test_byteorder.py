"""Byte loads: the value of every width and order at every offset, compiled and interpreted,
on contiguous and strided arrays, and the instructions they compile to."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError

from lowlat.core.byteorder import load_be16, load_be32, load_be48, load_be64, load_le64
from tests.core._ring_support import JIT

LOADS = {
    "be16": (load_be16, 2, "big"),
    "be32": (load_be32, 4, "big"),
    "be48": (load_be48, 6, "big"),
    "be64": (load_be64, 8, "big"),
    "le64": (load_le64, 8, "little"),
}


@njit
def _all_loads(buf, pos):
    return (
        load_be16(buf, pos),
        load_be32(buf, pos),
        load_be48(buf, pos),
        load_be64(buf, pos),
        load_le64(buf, pos),
    )


@njit
def _be64(buf, pos):
    return load_be64(buf, pos)


def _expected(data: bytes, pos: int) -> tuple[int, ...]:
    """What each load must return: the bytes as an integer, 8-byte ones as a signed int64."""
    values = []
    for _, width, order in LOADS.values():
        value = int.from_bytes(data[pos : pos + width], order)
        values.append(value - (1 << 64) if value >= 1 << 63 else value)
    return tuple(values)


@given(data=st.binary(min_size=8, max_size=64), pick=st.integers(min_value=0))
def test_every_load_reads_its_bytes_at_any_offset(data: bytes, pick: int) -> None:
    buf = np.frombuffer(data, np.uint8)
    pos = pick % (len(data) - 7)
    expected = _expected(data, pos)
    assert tuple(int(value) for value in _all_loads(buf, pos)) == expected
    interpreted = tuple(int(load(buf, pos)) for load, _, _ in LOADS.values())
    assert interpreted == expected


def test_a_slice_is_read_like_the_array_it_views() -> None:
    data = bytes(range(200, 250))
    buf = np.frombuffer(data, np.uint8)
    assert tuple(int(v) for v in _all_loads(buf[5:20], 3)) == _expected(data, 8)


def test_eight_byte_loads_keep_the_bit_pattern_of_values_above_int64_max() -> None:
    buf = np.frombuffer(bytes([0xFF] * 7 + [0xFE]), np.uint8)
    assert int(_be64(buf, 0)) == -2
    assert int(load_be64(buf, 0)) == -2
    assert int(load_le64(buf, 0)) == -(1 << 56) - 1


@pytest.mark.skipif(not JIT, reason="compile-time check")
@pytest.mark.parametrize(
    "array",
    [np.zeros(4, np.int64), np.zeros((2, 8), np.uint8), np.zeros(32, np.uint8)[::2]],
    ids=["int64", "2-d", "strided"],
)
def test_loads_refuse_arrays_that_are_not_contiguous_bytes(array: np.ndarray) -> None:
    with pytest.raises(TypingError, match="contiguous 1-d uint8"):
        _be64(array, 0)


@pytest.mark.skipif(not JIT, reason="inspects compiled code")
def test_a_big_endian_load_compiles_to_one_load_and_a_byte_swap() -> None:
    buf = np.zeros(16, np.uint8)
    _be64(buf, 1)
    llvm_ir = _be64.inspect_llvm(_be64.signatures[0])
    assert "llvm.bswap.i64" in llvm_ir
    assert "align 1" in llvm_ir
