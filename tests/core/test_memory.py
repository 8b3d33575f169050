"""touched: preallocated arrays whose every byte is written before they are handed out."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.memory import byte_view, fault_in, touched
from lowlat.core.records import ORDER_DTYPE


@pytest.mark.parametrize("fill", [0, 7, 255])
def test_every_byte_of_a_record_array_is_the_fill(fill: int) -> None:
    array = touched(1_000, ORDER_DTYPE, fill)
    assert array.dtype == ORDER_DTYPE and array.shape == (1_000,)
    assert np.all(array.view(np.uint8) == fill)


def test_a_plain_array_is_filled_element_by_element() -> None:
    array = touched((3, 5_000), np.int64, 9)
    assert array.shape == (3, 5_000) and array.dtype == np.int64
    assert np.all(array == 9)
    assert touched(4, np.float64).tolist() == [0.0] * 4


def resident() -> int:
    """Bytes of this process's resident set."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_the_pages_are_resident_when_it_returns() -> None:
    # mincore is not reachable from Python; the resident set must grow by the array's size
    # at the call, not later (one big array, so the allocator maps fresh pages for it).
    before = resident()
    array = touched(64 << 20, np.uint8)
    grew = resident() - before
    assert grew >= 0.9 * array.nbytes
    lazy_before = resident()
    lazy = np.zeros(64 << 20, np.uint8)
    assert resident() - lazy_before < 0.1 * lazy.nbytes  # np.zeros: mapped, not written


def test_fault_in_makes_lazy_arrays_resident_and_leaves_every_value_as_it_was() -> None:
    rng = np.random.default_rng(1)
    lazy = np.zeros(48 << 20, np.uint8)
    records = np.zeros(10_001, ORDER_DTYPE)
    records["qty"] = rng.integers(1, 1_000, len(records))
    expected = records.copy()
    odd = np.zeros((3, 7), np.int64)[:, ::2]  # not contiguous: left alone
    before = resident()
    fault_in([lazy, records, odd, np.zeros(0)])
    assert resident() - before >= 0.9 * lazy.nbytes
    assert not lazy.any() and np.array_equal(records, expected) and not odd.any()


def test_byte_view_is_the_arrays_own_memory_and_refuses_a_strided_array() -> None:
    records = np.zeros((2, 3), ORDER_DTYPE)
    view = byte_view(records)
    assert view.dtype == np.uint8 and view.shape == (records.nbytes,)
    view[:] = 0xFF
    assert np.all(records.view(np.uint8) == 0xFF)  # written through: no copy
    with pytest.raises(ValueError, match=r"shape \(3, 2\) is not contiguous"):
        byte_view(np.zeros((3, 4), np.int64)[:, ::2])
