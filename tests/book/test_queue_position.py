from __future__ import annotations

import pytest

from lowlat.book import FLAG_BOOK_START, OrderBooks, QueuePosition
from lowlat.core.records import Side
from tests.book.conftest import (
    ADD,
    BUY,
    CANCEL,
    DELETE,
    EXECUTE,
    QUOTE,
    SELL,
    SNAPSHOT,
    event,
    records,
)


def test_order_level_queue_counts_only_orders_that_arrived_earlier(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 10, 1), event(ADD, BUY, 100, 5, 2)))
    mine = books.add_own_order(77, 1, Side.BUY, 100, 3)
    assert books.queue_position(mine) == QueuePosition(15, 15)
    books.apply(records(event(ADD, BUY, 100, 4, 3, seq=3), number=False))  # behind us
    books.apply(records(event(CANCEL, qty=4, order_id=3, seq=4), number=False))
    assert books.queue_position(mine).ahead == 15
    books.apply(records(event(EXECUTE, qty=6, order_id=1, seq=5), number=False))
    assert books.queue_position(mine) == QueuePosition(9, 9)
    books.apply(records(event(CANCEL, qty=5, order_id=2, seq=6), number=False))
    assert books.queue_position(mine).ahead == 4
    books.apply(records(event(DELETE, order_id=1, seq=7), number=False))
    assert books.queue_position(mine) == QueuePosition(0, 0)


def test_other_prices_and_sides_do_not_move_the_queue(books: OrderBooks) -> None:
    books.apply(
        records(event(ADD, BUY, 100, 10, 1), event(ADD, BUY, 99, 5, 2), event(ADD, SELL, 100, 5, 3))
    )
    mine = books.add_own_order(1, 1, Side.BUY, 100, 1)
    books.apply(
        records(event(DELETE, order_id=2, seq=4), event(DELETE, order_id=3, seq=5), number=False)
    )
    assert books.queue_position(mine).ahead == 10


def test_price_level_feeds_move_the_queue_by_executions_and_by_share(books: OrderBooks) -> None:
    books.apply(records(event(QUOTE, BUY, 100, 100)))
    mine = books.add_own_order(5, 1, Side.BUY, 100, 10)
    books.apply(records(event(QUOTE, BUY, 100, 50, seq=2), number=False))
    assert books.queue_position(mine).ahead == 50  # half the level left: half of those ahead
    books.apply(records(event(QUOTE, BUY, 100, 80, seq=3), number=False))  # joins behind
    assert books.queue_position(mine).ahead == 50
    books.apply(records(event(QUOTE, BUY, 100, 40, seq=4), number=False))
    assert books.queue_position(mine).ahead == 50 - 40 * 50 // 80
    books.apply(records(event(EXECUTE, BUY, 100, 10, seq=5), number=False))  # no order id
    assert books.queue_position(mine) == QueuePosition(15, 30)


def test_orders_from_before_the_stream_are_ahead_of_ours(books: OrderBooks) -> None:
    books.apply(records(event(SNAPSHOT, SELL, 200, 30), number=False))
    mine = books.add_own_order(9, 1, Side.SELL, 200, 1)
    books.apply(records(event(CANCEL, SELL, 200, 12, 4242, seq=1), number=False))
    assert books.queue_position(mine).ahead == 18


def test_a_reset_or_an_emptied_level_puts_us_at_the_front(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 10, 1)))
    first = books.add_own_order(1, 1, Side.BUY, 100, 1)
    books.apply(records(event(SNAPSHOT, BUY, 100, 7, seq=2, flags=FLAG_BOOK_START), number=False))
    assert books.queue_position(first) == QueuePosition(0, 7)
    second = books.add_own_order(2, 1, Side.BUY, 100, 1)
    books.apply(records(event(QUOTE, BUY, 100, 0, seq=3), number=False))
    assert books.queue_position(second) == QueuePosition(0, 0)


def test_own_order_rows_are_finite_and_reusable(books: OrderBooks) -> None:
    handles = [books.add_own_order(k, 1, Side.BUY, 100, 1) for k in range(4)]
    with pytest.raises(RuntimeError, match="own-order rows"):
        books.add_own_order(9, 1, Side.BUY, 100, 1)
    books.remove_own_order(handles[0])
    books.remove_own_order(handles[0])
    assert books.counters()["own_orders"] == 3
    books.add_own_order(9, 1, Side.SELL, 100, 1)
    with pytest.raises(ValueError, match="side"):
        books.add_own_order(10, 1, Side.NONE, 100, 1)
