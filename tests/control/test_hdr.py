"""HdrHistogram: percentiles within its precision of numpy's, merge, reset, bucket counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lowlat.control import HdrHistogram
from lowlat.control.hdr import HOUR_NS

PRECISION = 2.0**-10  # 3 significant digits: 2048 sub-buckets, half of them per octave

latencies = hnp.arrays(
    np.int64,
    st.integers(1, 400),
    elements=st.one_of(st.integers(0, 3_000), st.integers(0, 10**7), st.integers(0, HOUR_NS)),
)
percentile_values = st.lists(st.floats(0.0, 100.0), min_size=1, max_size=8)


def within_precision(actual: np.ndarray, exact: np.ndarray) -> bool:
    return bool(np.all((actual >= exact) & (actual <= exact + exact * PRECISION)))


@settings(max_examples=200, deadline=None)
@given(values=latencies, qs=percentile_values)
def test_percentiles_are_within_the_histograms_precision_of_numpys(values, qs):
    h = HdrHistogram()
    h.record_many(values)
    exact = np.percentile(values, qs, method="inverted_cdf").astype(np.int64)
    assert within_precision(h.percentiles(qs), exact)
    assert within_precision(h.percentiles([0]), values.min())
    assert h.percentile(100) == values.max()
    assert (h.total, h.sum, h.min, h.max) == (
        values.size,
        int(values.sum()),
        int(values.min()),
        int(values.max()),
    )


def test_values_below_two_thousand_and_forty_eight_are_exact():
    h = HdrHistogram()
    values = np.arange(2_048, dtype=np.int64)
    h.record_many(values)
    for q in (0.1, 1, 25, 50, 75, 99, 99.9):
        assert h.percentile(q) == np.percentile(values, q, method="inverted_cdf")


def test_a_lognormal_latency_distribution_keeps_three_significant_digits():
    rng = np.random.default_rng(7)
    values = rng.lognormal(8.0, 1.5, 200_000).astype(np.int64)
    h = HdrHistogram()
    for chunk in np.array_split(values, 37):
        h.record_many(chunk)
    qs = [50, 90, 99, 99.9, 99.99]
    exact = np.percentile(values, qs, method="inverted_cdf")
    assert within_precision(h.percentiles(qs), exact)


@settings(max_examples=60, deadline=None)
@given(a=latencies, b=latencies, bounds=st.lists(st.integers(0, 10**7), min_size=1, max_size=6))
def test_merge_equals_recording_everything_and_counts_at_or_below_match(a, b, bounds):
    merged, left, right = HdrHistogram(), HdrHistogram(), HdrHistogram()
    merged.record_many(np.concatenate([a, b]))
    left.record_many(a)
    right.record_many(b)
    left.merge(right)
    np.testing.assert_array_equal(left.counts, merged.counts)
    assert (left.total, left.sum, left.min, left.max) == (
        merged.total,
        merged.sum,
        merged.min,
        merged.max,
    )
    values = np.concatenate([a, b])
    at_or_below = left.counts_at_or_below(bounds)
    for bound, count in zip(bounds, at_or_below, strict=True):
        # the bound's own bucket counts whole: values up to its highest equivalent
        top = bound + bound * PRECISION
        assert np.count_nonzero(values <= bound) <= count <= np.count_nonzero(values <= top)


def test_reset_forgets_and_an_empty_histogram_answers_zero():
    h = HdrHistogram()
    h.record_many(np.array([5, 500, 5_000_000], np.int64))
    h.reset()
    assert h.total == h.sum == h.max == h.min == 0
    assert not h.counts.any()
    assert h.percentile(99) == 0
    assert h.mean == 0.0
    h.record_many(np.zeros(0, np.int64))
    assert h.total == 0
    h.record(7)
    assert (h.percentile(50), h.mean) == (7, 7.0)


def test_out_of_range_values_are_clamped_and_counted():
    h = HdrHistogram(highest=1_000_000)
    h.record_many(np.array([-5, 10, 2_000_000], np.int64))
    assert h.clamped == 2
    assert (h.min, h.max) == (0, 1_000_000)
    assert h.percentile(100) == 1_000_000


def test_one_hour_fits_in_thirty_four_thousand_counters():
    assert HdrHistogram().counts.size == 33_792
    assert HdrHistogram(highest=HOUR_NS).percentile(50) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"highest": 1}, "highest"),
        ({"highest": 2**60}, "2\\*\\*53"),
        ({"digits": 0}, "digits"),
        ({"digits": True}, "digits"),
    ],
)
def test_bad_geometry_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HdrHistogram(**kwargs)


def test_merging_different_geometries_and_bad_percentiles_are_refused():
    with pytest.raises(ValueError, match="cannot merge"):
        HdrHistogram().merge(HdrHistogram(digits=2))
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        HdrHistogram().percentiles([101])
