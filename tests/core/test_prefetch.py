"""Prefetch hints: they compile to the instruction, change no value, refuse what they cannot use."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from lowlat.core.prefetch import prefetch_write
from tests.core._ring_support import JIT


@njit
def _prefetch_then_write(array, offset, value):
    prefetch_write(array, offset)
    array.reshape(-1)[offset] = value


def test_a_prefetched_element_is_written_as_without_it() -> None:
    rows = np.zeros((4, 10), np.int64)
    _prefetch_then_write(rows, 23, 7)  # row 2, column 3: offsets count in memory order
    assert rows[2, 3] == 7
    assert np.count_nonzero(rows) == 1
    prefetch_write(rows, 23)  # interpreted: a no-op
    assert rows[2, 3] == 7


@pytest.mark.skipif(not JIT, reason="compile-time check")
def test_a_strided_array_is_refused() -> None:
    with pytest.raises(TypingError, match="contiguous array"):
        _prefetch_then_write(np.zeros(8, np.int64)[::2], 0, 1)


@pytest.mark.skipif(not JIT, reason="inspects compiled code")
def test_the_hint_compiles_to_a_write_prefetch() -> None:
    rows = np.zeros((4, 10), np.int64)
    _prefetch_then_write(rows, 5, 1)
    llvm_ir = _prefetch_then_write.inspect_llvm(_prefetch_then_write.signatures[0])
    assert "llvm.prefetch" in llvm_ir
