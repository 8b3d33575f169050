"""Preallocation with the pages already there: arrays written once when they are made.

``np.zeros`` maps fresh zero pages lazily: the first write to each 4 KiB page faults,
and for a buffer the hot path (or a thread it waits on) fills, that fault happens while
trading. DESIGN.md puts page faulting in WARMUP, so long-lived buffers are made here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["byte_view", "fault_in", "touched"]

_PAGE = 4096


def touched(shape: int | tuple[int, ...], dtype: np.dtype | type, fill: int = 0) -> np.ndarray:
    """A new array of ``shape`` and ``dtype`` filled with ``fill``, every page written.

    For a plain ``dtype`` every element is ``fill``; for a structured one every byte of
    every record is (``fill`` in 0..255).
    """
    array = np.empty(shape, dtype)
    if array.dtype.fields is None:
        array.fill(fill)
    else:
        array.view(np.uint8).fill(fill)
    return array


def byte_view(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array's memory as a flat uint8 view (no copy).

    Raises
    ------
    ValueError
        If ``array`` is not C-contiguous (a flat view of it would be a copy).
    """
    if not array.flags.c_contiguous:
        raise ValueError(f"an array of shape {array.shape} is not contiguous: no byte view")
    return array.reshape(-1).view(np.uint8)


def fault_in(arrays: Iterable[np.ndarray]) -> None:
    """Write one byte of every page of each array with its own value: resident, unchanged.

    For state the components allocated lazily (``np.zeros``) and only some of which a
    short warm-up reaches (order tables, pools): its pages are faulted in now. Only while
    no other thread writes the arrays. A non-contiguous array is left as it is.
    """
    for array in arrays:
        if array.nbytes and array.flags.c_contiguous and array.flags.writeable:
            flat = byte_view(array)
            flat[::_PAGE] = flat[::_PAGE].copy()
            flat[-1:] = flat[-1:].copy()  # the last page, when the first starts mid-page
