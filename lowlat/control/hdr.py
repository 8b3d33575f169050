"""``HdrHistogram``: a log-linear latency histogram in NumPy (HdrHistogram's bucket layout).

Values are non-negative integers (nanoseconds here) from 0 to ``highest``. Up to
``2 × 10^digits`` every value has its own counter; above, each power-of-two range is cut
into ``2^⌈log2(2 × 10^digits)⌉ / 2`` equal sub-buckets, so a recorded value is known to
within ``1 / 2^10`` (< 0.1 %) for 3 significant digits — 33,792 counters cover 1 ns to
an hour. Recording is one vectorized index computation and one ``np.add.at``; a
percentile is one cumulative sum and one search. Control code: the sidecar fills these,
never the hot path.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

__all__ = ["HOUR_NS", "HdrHistogram"]

HOUR_NS = 3_600 * 1_000_000_000


@cache
def _geometry(highest: int, digits: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """``(half_magnitude, counters, lowest, highest_equivalent)`` of a histogram layout.

    ``lowest[i]`` and ``highest_equivalent[i]`` bound the values counter ``i`` stands for.
    """
    sub_magnitude = math.ceil(math.log2(2 * 10**digits))
    half_magnitude = sub_magnitude - 1
    buckets, reach = 1, 1 << sub_magnitude
    while reach <= highest:
        reach <<= 1
        buckets += 1
    counters = (buckets + 1) << half_magnitude
    index = np.arange(counters, dtype=np.int64)
    bucket = (index >> half_magnitude) - 1
    sub = (index & ((1 << half_magnitude) - 1)) + (1 << half_magnitude)
    below = bucket < 0
    sub[below] -= 1 << half_magnitude
    bucket[below] = 0
    lowest = sub << bucket
    highest_equivalent = lowest + (np.int64(1) << bucket) - 1
    for array in (lowest, highest_equivalent):
        array.flags.writeable = False
    return half_magnitude, counters, lowest, highest_equivalent


class HdrHistogram:
    """Counts of integer values in log-linear buckets, with exact count, sum, min and max.

    Parameters
    ----------
    highest
        Largest value tracked; larger values are recorded as ``highest`` and counted in
        :attr:`clamped` (as are negative ones, recorded as 0). Default: one hour in ns.
    digits
        Significant decimal digits kept (1 to 5).
    """

    def __init__(self, highest: int = HOUR_NS, digits: int = 3) -> None:
        if isinstance(highest, bool) or not isinstance(highest, int) or highest < 2:
            raise ValueError(f"highest must be an integer of at least 2, got {highest!r}")
        if highest >= 1 << 53:
            raise ValueError(f"highest must be below 2**53, got {highest}")
        if isinstance(digits, bool) or digits not in range(1, 6):
            raise ValueError(f"digits must be 1 to 5, got {digits!r}")
        self.highest = highest
        self.digits = digits
        self._half, size, self._lowest, self._highest_equivalent = _geometry(highest, digits)
        self.counts = np.zeros(size, np.int64)
        self.total = 0
        """Values recorded."""
        self.sum = 0
        """Sum of the values recorded (after clamping)."""
        self.min = 0
        """Smallest value recorded (0 when empty)."""
        self.max = 0
        """Largest value recorded (0 when empty)."""
        self.clamped = 0
        """Values outside ``0..highest``, recorded at the nearer end."""

    def index_of(self, values: np.ndarray | int) -> np.ndarray:
        """Counter index of each value in ``values`` (clamped to ``0..highest``)."""
        v = np.clip(np.asarray(values, np.int64), 0, self.highest)
        _, exponent = np.frexp((v | ((np.int64(2) << self._half) - 1)).astype(np.float64))
        bucket = exponent.astype(np.int64) - 1 - self._half
        return ((bucket + 1) << self._half) + (v >> bucket) - (np.int64(1) << self._half)

    def record(self, value: int) -> None:
        """Record one value."""
        self.record_many(np.array([value], np.int64))

    def record_many(self, values: np.ndarray) -> None:
        """Record every value of a 1-d integer array."""
        values = np.asarray(values, np.int64)
        if values.size == 0:
            return
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > self.highest:
            self.clamped += int(np.count_nonzero((values < 0) | (values > self.highest)))
            values = np.clip(values, 0, self.highest)
            low, high = max(low, 0), min(high, self.highest)
        np.add.at(self.counts, self.index_of(values), 1)
        self.min = low if self.total == 0 else min(self.min, low)
        self.max = max(self.max, high)
        self.total += int(values.size)
        self.sum += int(values.sum())

    def merge(self, other: HdrHistogram) -> None:
        """Add every count of ``other`` (same ``highest`` and ``digits``) to this one."""
        if (other.highest, other.digits) != (self.highest, self.digits):
            raise ValueError(
                f"cannot merge a histogram of highest={other.highest}, digits={other.digits} "
                f"into one of highest={self.highest}, digits={self.digits}"
            )
        if other.total == 0:
            return
        self.counts += other.counts
        self.min = other.min if self.total == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.sum += other.sum
        self.clamped += other.clamped

    def reset(self) -> None:
        """Forget every value (keeps the memory)."""
        self.counts.fill(0)
        self.total = self.sum = self.min = self.max = self.clamped = 0

    def percentiles(self, qs: np.ndarray | list[float]) -> np.ndarray:
        """The value at each percentile of ``qs`` (0 to 100); zeros when empty.

        As HdrHistogram: the highest value equivalent to the smallest recorded value with
        at least ``q`` % of the values at or below it — within the histogram's precision
        of ``numpy.percentile(..., method="inverted_cdf")``, and never outside min..max.
        """
        q = np.asarray(qs, np.float64)
        if np.any((q < 0) | (q > 100)) or np.any(np.isnan(q)):
            raise ValueError(f"percentiles must be in [0, 100], got {qs!r}")
        if self.total == 0:
            return np.zeros(q.shape, np.int64)
        rank = np.maximum(np.ceil(q / 100.0 * self.total), 1).astype(np.int64)
        index = np.searchsorted(np.cumsum(self.counts), rank, side="left")
        return np.clip(self._highest_equivalent[index], self.min, self.max)

    def percentile(self, q: float) -> int:
        """The value at percentile ``q`` (see :meth:`percentiles`)."""
        return int(self.percentiles([q])[0])

    def counts_at_or_below(self, values: np.ndarray | list[int]) -> np.ndarray:
        """How many recorded values are at or below each of ``values``.

        A value shares its counter with its equivalents, so the count includes those
        above it in its counter: exact up to ``2 × 10^digits``, within precision above.
        """
        cumulative = np.cumsum(self.counts)
        return cumulative[self.index_of(np.asarray(values, np.int64))]

    @property
    def mean(self) -> float:
        """Mean of the values recorded (0.0 when empty)."""
        return self.sum / self.total if self.total else 0.0
