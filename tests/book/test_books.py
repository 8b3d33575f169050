from __future__ import annotations

import numpy as np
import pytest

from lowlat.book import FLAG_BOOK_START, FLAG_TOP_OF_BOOK, BookConfig, OrderBooks, TopOfBook
from lowlat.book.layout import G_DISPLACED
from lowlat.feeds.depth import FLAG_BOOK_START as DEPTH_BOOK_START
from lowlat.feeds.depth import FLAG_TOP_OF_BOOK as DEPTH_TOP_OF_BOOK
from lowlat.feeds.fix import FLAG_BOOK_START as FIX_BOOK_START
from tests.book.conftest import (
    ADD,
    BUY,
    CANCEL,
    DELETE,
    EXECUTE,
    NONE,
    QUOTE,
    REPLACE,
    SELL,
    SNAPSHOT,
    STATUS,
    TRADE,
    event,
    records,
)


def test_flags_match_what_the_feeds_write() -> None:
    assert FLAG_BOOK_START == FIX_BOOK_START == DEPTH_BOOK_START
    assert FLAG_TOP_OF_BOOK == DEPTH_TOP_OF_BOOK


def test_orders_aggregate_into_levels_best_first(books: OrderBooks) -> None:
    books.apply(
        records(
            event(ADD, BUY, 100, 5, 1),
            event(ADD, BUY, 101, 7, 2),
            event(ADD, BUY, 100, 3, 3),
            event(ADD, SELL, 103, 4, 4),
            event(ADD, SELL, 102, 6, 5),
        )
    )
    assert books.levels(1, BUY, 5) == [(101, 7), (100, 8)]
    assert books.levels(1, SELL, 5) == [(102, 6), (103, 4)]
    assert books.top(1) == TopOfBook(101, 7, 102, 6)
    assert books.counters()["live_orders"] == 5


def test_execute_cancel_delete_reduce_the_order_and_its_level(books: OrderBooks) -> None:
    books.apply(
        records(
            event(ADD, BUY, 100, 10, 1),
            event(ADD, BUY, 100, 5, 2),
            event(EXECUTE, qty=4, order_id=1),
            event(CANCEL, qty=2, order_id=1),
        )
    )
    assert books.levels(1, BUY, 1) == [(100, 9)]
    books.apply(records(event(DELETE, order_id=1, seq=10)))
    assert books.levels(1, BUY, 1) == [(100, 5)]
    books.apply(records(event(EXECUTE, qty=5, order_id=2, seq=11)))
    assert books.levels(1, BUY, 1) == []
    assert books.counters()["live_orders"] == 0
    counters = books.book_counters(1)
    assert (counters["last_trade_price"], counters["last_trade_qty"]) == (100, 5)
    assert counters["last_trade_side"] == BUY  # the resting order's side


def test_replace_moves_the_order_to_its_new_id_price_and_size(books: OrderBooks) -> None:
    books.apply(
        records(
            event(ADD, SELL, 105, 10, 7),
            event(REPLACE, NONE, 104, 3, 7, aux=8),  # ITCH U: no side, new id in aux
        )
    )
    assert books.levels(1, SELL, 5) == [(104, 3)]
    books.apply(records(event(DELETE, order_id=8, seq=3)))
    assert books.levels(1, SELL, 5) == []
    assert books.integrity()["unknown_order"] == 0


def test_hidden_executions_and_trades_leave_depth_alone(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 10, 1), event(TRADE, BUY, 100, 50, 0, flags=1)))
    assert books.levels(1, BUY, 1) == [(100, 10)]
    assert books.book_counters(1)["last_trade_qty"] == 50


def test_unknown_order_with_price_and_size_still_updates_its_level(books: OrderBooks) -> None:
    # A LOBSTER file starting mid-day: the level came from the initial book.
    books.apply(records(event(SNAPSHOT, SELL, 200, 30), number=False))
    books.apply(
        records(
            event(CANCEL, SELL, 200, 5, 999),
            event(EXECUTE, SELL, 200, 10, 998),
            event(DELETE, SELL, 200, 15, 997),
        )
    )
    assert books.levels(1, SELL, 1) == []
    assert books.integrity()["unknown_order"] == 3
    assert books.integrity()["missing_level"] == 0


def test_unknown_order_without_side_is_counted_and_changes_nothing(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 10, 1), event(EXECUTE, NONE, 0, 3, 55)))
    assert books.levels(1, BUY, 1) == [(100, 10)]
    assert books.integrity()["unknown_order"] == 1


def test_duplicate_ids_and_oversized_reductions_are_counted_never_raised(
    books: OrderBooks,
) -> None:
    books.apply(
        records(
            event(ADD, BUY, 100, 10, 1),
            event(ADD, BUY, 101, 10, 1),
            event(EXECUTE, qty=25, order_id=1),
        )
    )
    integrity = books.integrity()
    assert integrity["duplicate_order"] == 1
    assert integrity["negative_size"] == 1
    assert books.levels(1, BUY, 5) == []


def test_crossed_and_locked_books_are_judged_when_the_message_is_complete(
    books: OrderBooks,
) -> None:
    books.apply(records(event(QUOTE, BUY, 100, 5, seq=1), event(QUOTE, SELL, 101, 5, seq=1)))
    # One diff (one seq) moves both sides up: crossed halfway, clean at the end.
    books.apply(records(event(QUOTE, BUY, 102, 5, seq=2), event(QUOTE, SELL, 101, 0, seq=2)))
    books.apply(records(event(QUOTE, SELL, 103, 5, seq=2), number=False))
    books.finish()
    assert books.integrity()["crossed"] == 0
    books.apply(records(event(QUOTE, SELL, 102, 1, seq=3)))
    books.apply(records(event(QUOTE, SELL, 101, 1, seq=4)))
    books.finish()
    assert books.integrity()["locked"] == 1
    assert books.integrity()["crossed"] == 1


def test_quotes_set_levels_and_tickers_are_not_depth(books: OrderBooks) -> None:
    books.apply(
        records(
            event(QUOTE, BUY, 100, 5),
            event(QUOTE, BUY, 100, 8),
            event(QUOTE, BUY, 99, 0),  # removing a level the book never had: no problem
            event(QUOTE, SELL, 90, 1, flags=FLAG_TOP_OF_BOOK),
        )
    )
    assert books.levels(1, BUY, 5) == [(100, 8)]
    assert books.levels(1, SELL, 5) == []
    assert books.counters()["ignored"] == 1
    assert books.integrity()["missing_level"] == 0


def test_a_quote_without_a_side_is_a_bad_event_even_with_an_order_id(books: OrderBooks) -> None:
    books.apply(records(event(QUOTE, NONE, 90, 1, 7), event(QUOTE, NONE, 91, 2)))
    assert books.levels(1, BUY, 5) == [] and books.levels(1, SELL, 5) == []
    assert books.counters()["bad_event"] == 2
    assert books.book_counters(1)["trades"] == 0


def test_price_level_records_without_order_ids_speak_of_the_level(books: OrderBooks) -> None:
    # FIX incremental refresh without MDEntryID: new / change / delete of a price level.
    books.apply(
        records(
            event(ADD, BUY, 100, 5),
            event(ADD, BUY, 99, 4),
            event(REPLACE, BUY, 100, 9),
            event(DELETE, BUY, 99),
            event(EXECUTE, BUY, 100, 2),
        )
    )
    assert books.levels(1, BUY, 5) == [(100, 7)]


def test_a_snapshot_resets_the_book_and_forgets_its_orders(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 5, 1), event(ADD, SELL, 101, 5, 2)))
    books.apply(
        records(
            event(SNAPSHOT, BUY, 98, 3, seq=9, flags=FLAG_BOOK_START),
            event(SNAPSHOT, BUY, 97, 2, seq=9),
            event(SNAPSHOT, SELL, 99, 6, 50, seq=9),  # an order-level snapshot entry
            number=False,
        )
    )
    assert books.snapshot(1, 2) == [(99, 6, 98, 3), (0, 0, 97, 2)]
    assert books.counters()["live_orders"] == 1
    books.apply(records(event(DELETE, order_id=1, seq=10), event(DELETE, order_id=50, seq=11)))
    assert books.integrity()["unknown_order"] == 1
    assert books.levels(1, SELL, 5) == []
    assert books.book_counters(1)["resets"] == 1


def test_an_empty_snapshot_clears_the_book(books: OrderBooks) -> None:
    books.apply(records(event(ADD, BUY, 100, 5, 1)))
    books.apply(records(event(SNAPSHOT, NONE, flags=FLAG_BOOK_START, seq=5), number=False))
    assert books.levels(1, BUY, 5) == []
    assert books.counters()["bad_event"] == 0


def test_a_full_side_drops_the_level_farthest_from_the_touch(books: OrderBooks) -> None:
    books.apply(records(*(event(ADD, BUY, 100 + k, 1, k + 1) for k in range(8))))
    books.apply(records(event(ADD, BUY, 120, 1, 50, seq=20), number=False))
    assert [p for p, _ in books.levels(1, BUY, 8)] == [120, *range(107, 100, -1)]
    books.apply(records(event(ADD, BUY, 90, 1, 51, seq=21), number=False))  # farther: dropped
    assert [p for p, _ in books.levels(1, BUY, 8)][-1] == 101
    assert books.integrity()["level_overflow"] == 2


def test_a_full_order_table_is_counted_and_depth_still_applies(books: OrderBooks) -> None:
    limit = books.config.order_limit
    books.apply(records(*(event(ADD, SELL, 100, 1, k + 1) for k in range(limit + 3))))
    assert books.counters()["order_table_full"] == 3
    assert books.counters()["live_orders"] == limit
    assert books.levels(1, SELL, 1) == [(100, limit + 3)]


def test_instruments_get_slots_until_none_is_left(books: OrderBooks) -> None:
    books.apply(records(*(event(ADD, BUY, 100, 1, k + 1, instrument=10 + k) for k in range(6))))
    assert books.instruments == [10, 11, 12, 13]
    assert books.counters()["instrument_overflow"] == 2
    books.apply(
        records(event(ADD, BUY, 1, 1, 99, instrument=100), event(ADD, BUY, 1, 1, 98, instrument=-1))
    )
    assert books.counters()["bad_instrument"] == 2
    assert books.slot(14) is None


def test_status_and_reference_records_are_ignored(books: OrderBooks) -> None:
    assert books.apply(records(event(STATUS), event(ADD, BUY, 100, 1, 1))) == 1
    assert books.counters()["ignored"] == 1


def test_records_of_another_dtype_are_refused(books: OrderBooks) -> None:
    with pytest.raises(TypeError, match="MARKET_EVENT_DTYPE"):
        books.apply(np.zeros(3, np.int64))


def test_memory_is_reported_and_fixed_by_the_config() -> None:
    small = OrderBooks(BookConfig(instruments=2, levels=16, orders=1024))
    large = OrderBooks(BookConfig(instruments=4, levels=16, orders=1024))
    assert small.memory_bytes == sum(small.memory().values())
    assert small.memory()["orders"] == 1024 * 32
    assert large.memory()["keys"] == 2 * small.memory()["keys"] == 4 * 2 * 16 * 8


def test_order_table_keeps_every_order_findable_through_removals() -> None:
    # Ids that share a home entry form long probe chains; removing from their middle must
    # shift the rest back so that every surviving id is still found.
    books = OrderBooks(BookConfig(instruments=1, levels=64, orders=64))
    ids = [k * 64 + 5 for k in range(1, 20)] + [6, 7, 70]
    books.apply(records(*(event(ADD, BUY, 100 + i, 1, oid) for i, oid in enumerate(ids))))
    rng = np.random.default_rng(3)
    order = rng.permutation(len(ids))
    for step, k in enumerate(order):
        books.apply(records(event(DELETE, order_id=ids[k], seq=100 + step), number=False))
        assert books.counters()["live_orders"] == len(ids) - step - 1
    assert books.integrity()["unknown_order"] == 0
    assert books.levels(1, BUY, 64) == []


def test_displaced_entries_are_counted_and_recounted_after_a_restore() -> None:
    # A snapshot from before the count existed holds 0 there, which would let removals
    # skip the shifts that displaced entries need.
    books = OrderBooks(BookConfig(instruments=1, levels=64, orders=64))
    ids = [5, 69, 133, 6, 7, 200]  # homes 5, 5, 5, 6, 7, 8: all but the first pushed on
    books.apply(records(*(event(ADD, BUY, 100 + i, 1, oid) for i, oid in enumerate(ids))))
    assert books.counters()["displaced"] == 5
    books.state.counters[G_DISPLACED] = 0
    books.after_restore()
    assert books.counters()["displaced"] == 5
    books.apply(records(event(DELETE, order_id=5, seq=50), number=False))
    assert books.counters()["displaced"] == 4  # 69 moved home; the others one entry back
    for step, oid in enumerate([7, 69, 200, 133, 6]):
        books.apply(records(event(DELETE, order_id=oid, seq=60 + step), number=False))
    assert books.integrity()["unknown_order"] == 0
    assert books.counters()["displaced"] == books.counters()["live_orders"] == 0


@pytest.mark.parametrize(
    "bad", [{"instruments": 0}, {"orders": 100}, {"levels": 0}, {"own_orders": 0}]
)
def test_bad_sizes_are_refused_by_name(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        BookConfig(**bad)


def test_config_loads_from_toml_and_names_unknown_keys() -> None:
    config = BookConfig.from_toml("[book]\ninstruments = 8\nlevels = 32\n")
    assert (config.instruments, config.levels) == (8, 32)
    assert BookConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="depth"):
        BookConfig.from_toml("depth = 3\n")
    with pytest.raises(ValueError, match="levels must be an integer"):
        BookConfig.from_toml("levels = '3'\n")
