"""Pattern event records: what a detection says, 64 bytes, and the kind and flag codes.

A pattern event carries the sequence and both timestamps of the market event that
triggered it, so that a consumer can join it back to the stream and measure detection
latency (``detect_ns - trigger_recv_ns``, both monotonic).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from lowlat.core.records import RECORD_BYTES

__all__ = ["PATTERN_EVENT_DTYPE", "PatternFlag", "PatternKind"]


class PatternKind(IntEnum):
    """Which detector produced a pattern event (``PATTERN_EVENT_DTYPE.kind``)."""

    LEAD_LAG = 1
    PAIR_ZSCORE = 2
    BREAKOUT = 3
    PREDICATE = 4


class PatternFlag(IntEnum):
    """Bit flags on a pattern event."""

    UP = 1  # value > 0: an upward move, a positive z-score, an up breakout
    DOWN = 2  # value < 0
    TIME_CLAMPED = 4  # the trigger's event time was earlier than its group's; the later was used


PATTERN_EVENT_DTYPE = np.dtype(
    [
        ("trigger_seq", "i8"),  # seq of the market event that triggered the detection
        ("trigger_exchange_ns", "i8"),  # its exchange timestamp (data)
        ("trigger_recv_ns", "i8"),  # its monotonic receive time
        ("detect_ns", "i8"),  # monotonic time the kernel detected the pattern
        ("value", "f8"),  # move in bps (lead-lag), z-score, ±count (breakout), predicate value
        ("pattern", "i4"),  # index of the pattern in the config
        ("group", "i4"),  # index of its group in the config
        ("instrument", "i4"),  # the trigger's instrument
        ("other", "i4"),  # the counterpart (follower, other leg), -1 if none
        ("kind", "u1"),  # PatternKind
        ("flags", "u1"),  # PatternFlag bits
        ("trigger_kind", "u1"),  # EventKind of the trigger
        ("reserved", "u1", (5,)),  # zero; explicit, so that copies never carry stray bytes
    ],
    align=True,
)
if PATTERN_EVENT_DTYPE.itemsize != RECORD_BYTES:
    raise AssertionError(f"pattern event is {PATTERN_EVENT_DTYPE.itemsize} bytes, not 64")
