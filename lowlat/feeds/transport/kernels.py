"""Compiled transport kernels: unwrapping SoupBinTCP packets for the ITCH decoder. Hot path."""

from __future__ import annotations

import numpy as np

from lowlat.core.byteorder import load_be16
from lowlat.core.jit import hot_kernel

__all__ = ["SEQUENCED_DATA", "unwrap_sequenced"]

SEQUENCED_DATA = ord("S")  # SoupBinTCP packet type of a sequenced message


@hot_kernel
def unwrap_sequenced(buf: np.ndarray, pos: int, end: int, out: np.ndarray) -> tuple[int, int, int]:
    """Copy the Sequenced Data packets at ``buf[pos:end]`` to ``out`` as length-prefixed messages.

    Stops at the first packet that is not complete, not Sequenced Data, or does not fit
    in ``out``. Returns ``(pos, out_end, count)``: where it stopped in ``buf``, the bytes
    written to ``out`` and how many messages they are.
    """
    cap = out.shape[0]
    o = 0
    count = 0
    while end - pos >= 3:
        length = load_be16(buf, pos)
        if buf[pos + 2] != SEQUENCED_DATA or length < 1 or end - pos < 2 + length:
            break
        size = length - 1
        if o + 2 + size > cap:
            break
        out[o] = size >> 8
        out[o + 1] = size & 0xFF
        for i in range(size):
            out[o + 2 + i] = buf[pos + 3 + i]
        o += 2 + size
        pos += 2 + length
        count += 1
    return pos, o, count
