"""The shared level search: ``lower_bound`` agrees with ``bisect`` on any sorted keys."""

from __future__ import annotations

import bisect

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lowlat.core.level_kernels import BID, LINEAR_PROBES, lower_bound, price_key


@given(
    keys=st.lists(st.integers(-1_000, 1_000), max_size=60, unique=True).map(sorted),
    key=st.integers(-1_100, 1_100),
    data=st.data(),
)
def test_lower_bound_is_bisect_left_over_the_first_n_keys(keys, key, data):
    n = data.draw(st.integers(0, len(keys)))
    array = np.array([*keys, 10**9, 10**9], np.int64)  # slack beyond n is never read
    assert lower_bound(array, n, key) == bisect.bisect_left(keys[:n], key)


def test_a_key_far_from_the_touch_is_found_by_bisection_past_the_linear_probes():
    keys = np.arange(0, 1_000, 10, dtype=np.int64)
    assert len(keys) > LINEAR_PROBES
    for key in (-5, 0, 5, 10, 495, 500, 985, 990, 995):
        assert lower_bound(keys, len(keys), key) == bisect.bisect_left(keys.tolist(), key)


def test_asks_sort_by_negated_price_so_the_best_is_last_on_both_sides():
    bids = sorted(price_key(BID, p) for p in (101, 99, 100))
    asks = sorted(price_key(1 - BID, p) for p in (101, 99, 100))
    assert bids[-1] == 101  # the highest bid is the touch
    assert -asks[-1] == 99  # the lowest ask is the touch
