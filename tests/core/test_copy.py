"""Record copies: the same words as a slice assignment, compiled and interpreted, at any offset."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from lowlat.core.copy import RECORD_WORDS, copy_record
from tests.core._ring_support import JIT


@njit
def _copy(dst, dst_offset, src, src_offset):
    copy_record(dst, dst_offset, src, src_offset)


@pytest.mark.parametrize("copy", [_copy, copy_record], ids=["compiled", "python"])
def test_a_record_lands_at_the_offset_and_nothing_else_changes(copy) -> None:
    source = np.arange(4 * RECORD_WORDS, dtype=np.int64).reshape(4, RECORD_WORDS) + 100
    entries = np.zeros((3, 10), np.int64)  # wider rows: the record is their payload part
    copy(entries, 1 * 10 + 2, source, 2 * RECORD_WORDS)
    expected = np.zeros((3, 10), np.int64)
    expected[1, 2:] = source[2]
    assert (entries == expected).all()


@pytest.mark.skipif(not JIT, reason="compile-time check")
def test_arrays_that_are_not_contiguous_int64_are_refused() -> None:
    with pytest.raises(TypingError, match="src must be a contiguous int64"):
        _copy(np.zeros(16, np.int64), 0, np.zeros(32, np.int64)[::2], 0)
    with pytest.raises(TypingError, match="dst must be a contiguous int64"):
        _copy(np.zeros(16, np.float64), 0, np.zeros(16, np.int64), 0)


@pytest.mark.skipif(not JIT, reason="inspects compiled code")
def test_the_copy_is_one_fixed_size_memcpy() -> None:
    _copy(np.zeros(16, np.int64), 0, np.ones(16, np.int64), 8)
    llvm_ir = _copy.inspect_llvm(_copy.signatures[0])
    assert "llvm.memcpy" in llvm_ir
