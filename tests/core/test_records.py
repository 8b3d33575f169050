from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowlat.core import records
from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    MARKET_EVENT_DTYPE,
    ORDER_DTYPE,
    RECORD_BYTES,
    price_to_ticks,
    ticks_to_price,
)

ALL = {"market": MARKET_EVENT_DTYPE, "order": ORDER_DTYPE, "ack": ACK_DTYPE, "fill": FILL_DTYPE}


def test_a_record_layout_of_another_size_is_refused_when_defined():
    with pytest.raises(AssertionError, match="record is 16 bytes, expected 64"):
        records._record([("seq", "<i8"), ("price", "<i8")])


@pytest.mark.parametrize("dtype", ALL.values(), ids=ALL.keys())
def test_records_are_one_aligned_cache_line(dtype):
    assert dtype.itemsize == RECORD_BYTES
    assert dtype.isalignedstruct
    for name in dtype.names:
        field, offset = dtype.fields[name][:2]
        assert offset % field.alignment == 0, name


@pytest.mark.parametrize("dtype", ALL.values(), ids=ALL.keys())
def test_prices_and_times_are_integers(dtype):
    for name in dtype.names:
        if name == "price" or name.endswith("_ns"):
            assert dtype.fields[name][0] == np.int64, name


def test_acks_carry_sequence_decision_and_completion_times_and_flags():
    assert {"seq", "decision_ns", "completion_ns", "flags"} <= set(ACK_DTYPE.names)


def test_a_record_views_as_eight_int64_words():
    events = np.zeros(2, MARKET_EVENT_DTYPE)
    events["seq"] = [7, 8]
    words = events.view(np.int64).reshape(2, -1)
    assert words.shape == (2, 8)
    assert words[1, 0] == 8


@pytest.mark.parametrize(
    ("price", "ticks"), [("101.25", 1_012_500), ("0.0001", 1), (Decimal("3"), 30_000), (5, 50_000)]
)
def test_price_to_ticks_is_exact(price, ticks):
    assert price_to_ticks(price) == ticks


@pytest.mark.parametrize("price", ["1.00001", "abc", "NaN", "inf"])
def test_price_to_ticks_refuses_inexact_or_non_numbers(price):
    with pytest.raises(ValueError, match=repr(price)):
        price_to_ticks(price)


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_ticks_round_trip_through_decimal_prices(ticks):
    assert price_to_ticks(ticks_to_price(ticks)) == ticks
