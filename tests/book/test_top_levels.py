"""Top-N sums kept by the level operations equal the sums of the levels themselves."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lowlat.book import BookConfig, OrderBooks
from lowlat.core.records import Side
from tests.book.conftest import (
    ADD,
    BUY,
    DELETE,
    QUOTE,
    SELL,
    book_messages,
    event,
    message,
    records,
)

INSTRUMENTS = (1, 2)
CAPACITY = 4  # levels per side: prices 90..110 overflow it, so the farthest level drops


def _expected(books: OrderBooks, instrument: int, side: Side) -> tuple[int, int]:
    levels = books.levels(instrument, side, books.top_levels)
    return sum(q for _, q in levels), sum(p * q for p, q in levels)


class TopSumsFollowTheLevels(RuleBasedStateMachine):
    """Inserts, removals, resizes, full sides and clears all keep the sums exact."""

    def __init__(self) -> None:
        super().__init__()
        self.books = OrderBooks(
            BookConfig(instruments=2, max_instrument_id=8, levels=CAPACITY, orders=256)
        )
        self.books.track_top_levels(2)
        self.seq = 0

    @rule(events=book_messages(INSTRUMENTS))
    def apply_message(self, events: list[tuple]) -> None:
        self.seq += 1
        batch = message(events, self.seq)
        self.books.apply(batch)

    @rule(levels=st.integers(1, CAPACITY + 1))
    def track_another_count(self, levels: int) -> None:
        self.books.track_top_levels(levels)

    @invariant()
    def sums_equal_the_levels(self) -> None:
        for instrument in INSTRUMENTS:
            if self.books.slot(instrument) is None:
                continue
            for side in (Side.BUY, Side.SELL):
                assert self.books.top_sums(instrument, side) == _expected(
                    self.books, instrument, side
                )


TopSumsFollowTheLevels.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTopSumsFollowTheLevels = TopSumsFollowTheLevels.TestCase


def test_a_level_entering_the_top_pushes_the_nth_best_out(books: OrderBooks) -> None:
    books.track_top_levels(2)
    books.apply(records(event(ADD, BUY, 100, 5, 1), event(ADD, BUY, 99, 7, 2)))
    assert books.top_sums(1, Side.BUY) == (12, 100 * 5 + 99 * 7)
    books.apply(records(event(ADD, BUY, 101, 3, 3)))  # 99 drops out of the best two
    assert books.top_sums(1, Side.BUY) == (8, 101 * 3 + 100 * 5)
    books.apply(records(event(DELETE, order_id=3)))  # and comes back
    assert books.top_sums(1, Side.BUY) == (12, 100 * 5 + 99 * 7)
    books.apply(records(event(ADD, BUY, 50, 9, 4)))  # far from the touch: no change
    assert books.top_sums(1, Side.BUY) == (12, 100 * 5 + 99 * 7)


def test_sums_are_in_prices_on_both_sides(books: OrderBooks) -> None:
    books.track_top_levels(5)
    books.apply(records(event(QUOTE, SELL, 102, 4), event(QUOTE, SELL, 103, 6)))
    assert books.top_sums(1, Side.SELL) == (10, 102 * 4 + 103 * 6)
    books.apply(records(event(QUOTE, SELL, 102, 1)))
    assert books.top_sums(1, Side.SELL) == (7, 102 * 1 + 103 * 6)
    assert books.top_sums(1, Side.BUY) == (0, 0)


def test_tracking_started_late_sums_what_is_there(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 5, 1), event(ADD, BUY, 99, 7, 2)))
    assert books.top_levels == 0
    books.track_top_levels(1)
    assert books.top_levels == 1
    assert books.counters()["top_levels"] == 1
    assert books.top_sums(1, Side.BUY) == (5, 500)
    assert books.book_counters(1)["top_qty_bid"] == 5


def test_sums_are_refused_when_none_are_kept(books: OrderBooks) -> None:
    with pytest.raises(ValueError, match="track_top_levels"):
        books.top_sums(1, Side.BUY)
    with pytest.raises(ValueError, match="top levels must be 0 or more, got -1"):
        books.track_top_levels(-1)


def test_untracked_books_keep_zero_sums(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 5, 1)))
    assert books.book_counters(1)["top_qty_bid"] == 0
    assert books.book_counters(1)["top_notional_bid"] == 0
