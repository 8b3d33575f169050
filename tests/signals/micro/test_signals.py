from __future__ import annotations

import math

import numpy as np
import pytest

from lowlat.book import BookConfig, OrderBooks, ReferenceBooks
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.micro import MicroSignals, SignalConfig, kernels
from tests.book.conftest import ADD, BUY, DELETE, EXECUTE, QUOTE, SELL, TRADE, event, records


@pytest.fixture
def signals() -> MicroSignals:
    books = OrderBooks(BookConfig(instruments=2, max_instrument_id=9, levels=16, orders=256))
    return MicroSignals(SignalConfig(levels=2, flow_half_life_ns=1_000), books)


def test_book_signals_of_a_two_level_book(signals: MicroSignals) -> None:
    signals.process(
        records(
            event(ADD, BUY, 100, 10, 1),
            event(ADD, BUY, 99, 20, 2),
            event(ADD, SELL, 102, 5, 3),
            event(ADD, SELL, 103, 15, 4),
            event(ADD, SELL, 104, 99, 5),  # beyond the 2 levels the signals read
        )
    )
    v = signals.values(1)
    assert (v["mid"], v["spread"], v["two_sided"]) == (101.0, 2.0, 1.0)
    assert v["microprice"] == pytest.approx((100 * 5 + 102 * 10) / 15)
    assert v["imbalance_top"] == pytest.approx(5 / 15)
    assert v["imbalance_n"] == pytest.approx((30 - 20) / 50)
    assert v["bid_distance"] == pytest.approx((10 * 1 + 20 * 2) / 30)
    assert v["ask_distance"] == pytest.approx((5 * 1 + 15 * 2) / 20)


def test_migration_says_whether_depth_moves_toward_the_touch() -> None:
    books = OrderBooks(BookConfig(instruments=1, max_instrument_id=9, levels=16, orders=64))
    signals = MicroSignals(SignalConfig(levels=2, migration_half_life=5.0), books)
    signals.process(records(event(QUOTE, BUY, 100, 10), event(QUOTE, SELL, 102, 10)))
    signals.process(records(event(QUOTE, BUY, 95, 50, seq=5), number=False))  # far: retreats
    assert signals.values(1)["migration"] > 0
    for k in range(40):  # size piles up at the touch
        signals.process(records(event(QUOTE, BUY, 100, 60 + 10 * k, seq=10 + k), number=False))
    assert signals.values(1)["migration"] < 0


def test_aggressor_flow_decays_with_event_time(signals: MicroSignals) -> None:
    signals.process(records(event(ADD, SELL, 102, 50, 1), event(ADD, BUY, 100, 50, 2)))
    taken = records(event(EXECUTE, qty=8, order_id=1, seq=3), number=False)
    taken["exchange_ns"] = 5_000
    signals.process(taken)  # a buyer lifted the resting offer
    v = signals.values(1)
    assert (v["buy_flow"], v["sell_flow"], v["flow"]) == (8.0, 0.0, 1.0)
    hit = records(event(EXECUTE, qty=8, order_id=2, seq=4), number=False)
    hit["exchange_ns"] = 6_000  # one half-life later
    signals.process(hit)
    v = signals.values(1)
    assert v["buy_flow"] == pytest.approx(4.0)
    assert v["sell_flow"] == 8.0
    assert v["flow"] == pytest.approx(-4 / 12)


@pytest.mark.parametrize(("aggressor", "expected"), [(False, "sell_flow"), (True, "buy_flow")])
def test_trade_side_is_read_as_configured(aggressor: bool, expected: str) -> None:
    books = OrderBooks(BookConfig(instruments=1, max_instrument_id=9, levels=4, orders=64))
    signals = MicroSignals(SignalConfig(trade_side_is_aggressor=aggressor), books)
    signals.process(records(event(TRADE, BUY, 100, 7)))
    assert signals.values(1)[expected] == 7.0


def test_volatility_is_an_ewma_of_squared_mid_returns() -> None:
    books = OrderBooks(BookConfig(instruments=1, max_instrument_id=9, levels=4, orders=64))
    signals = MicroSignals(SignalConfig(volatility_half_life=3.0), books)
    keep = 0.5 ** (1 / 3)
    variance, previous = 0.0, None
    for k, bid in enumerate([1000, 1002, 1002, 998, 1010, 1001]):
        batch = records(
            event(QUOTE, BUY, bid, 5, seq=2 * k + 1), event(QUOTE, SELL, bid + 2, 5, seq=2 * k + 2)
        )
        batch["price"][0] = bid
        signals.process(records(event(QUOTE, SELL, 5000, 0, seq=99), number=False))
        signals.process(batch)
        signals.process(
            records(
                event(QUOTE, BUY, bid, 0, seq=2 * k + 50),
                event(QUOTE, SELL, bid + 2, 0, seq=2 * k + 51),
                number=False,
            )
        )
        mid = bid + 1.0
        if previous is not None and mid != previous:
            r = (mid / previous - 1) * 1e4
            variance = keep * variance + (1 - keep) * r * r
        previous = mid
    assert signals.values(1)["volatility"] == pytest.approx(math.sqrt(variance))


def test_mid_changes_become_tick_records_and_overflow_is_counted(signals: MicroSignals) -> None:
    ticks = np.zeros(2, MARKET_EVENT_DTYPE)
    stream = records(
        event(QUOTE, BUY, 100, 5),
        event(QUOTE, SELL, 103, 5),  # first two-sided mid: 101.5
        event(QUOTE, SELL, 103, 9),  # same mid: no tick
        event(QUOTE, BUY, 101, 5),  # 102
        event(QUOTE, BUY, 102, 5),  # 102.5: buffer full
    )
    signals.process(stream, ticks)
    assert signals.ticks_written == 2
    assert ticks["kind"].tolist() == [EventKind.TICK] * 2
    assert ticks["price"].tolist() == [101, 102]
    assert ticks["aux"].tolist() == [203, 204]  # bid + ask: the exact mid, doubled
    assert ticks["seq"].tolist() == [2, 4]
    assert signals.counters() == {"ticks": 2, "ticks_dropped": 1}


def test_a_one_sided_book_keeps_the_last_values_and_says_so(signals: MicroSignals) -> None:
    signals.process(records(event(ADD, BUY, 100, 5, 1), event(ADD, SELL, 102, 5, 2)))
    signals.process(records(event(DELETE, order_id=2, seq=3), number=False))
    v = signals.values(1)
    assert (v["two_sided"], v["mid"]) == (0.0, 101.0)
    assert signals.values(7) == {}


def _random_stream(n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    stream = np.zeros(n, MARKET_EVENT_DTYPE)
    stream["seq"] = np.arange(1, n + 1)
    stream["kind"] = rng.choice([1, 1, 1, 2, 3, 4, 5, 7], n)
    stream["side"] = rng.integers(1, 3, n)
    stream["price"] = np.where(
        stream["side"] == 1, rng.integers(90, 100, n), rng.integers(100, 110, n)
    )
    stream["qty"] = rng.integers(1, 30, n)
    stream["order_id"] = rng.integers(1, 300, n)
    stream["aux"] = rng.integers(1, 300, n)
    stream["instrument"] = 1
    stream["exchange_ns"] = np.arange(n) * 1_000
    return stream


@pytest.mark.parametrize("book_keeps", [0, 2], ids=["the book's sums", "its own walk"])
def test_book_signals_match_the_reference_book_on_a_random_stream(book_keeps: int) -> None:
    n = 1_500
    stream = _random_stream(n)
    books = OrderBooks(BookConfig(instruments=1, max_instrument_id=9, levels=64, orders=1024))
    books.track_top_levels(book_keeps)  # 2: the book keeps sums for another N than 3
    signals = MicroSignals(SignalConfig(levels=3), books)
    assert books.top_levels == (book_keeps or 3)
    reference = ReferenceBooks()
    checked = 0
    for i in range(n):
        signals.process(stream[i : i + 1])
        reference.apply(stream[i])
        bids = reference.book(1).top(0, 3)
        asks = reference.book(1).top(1, 3)
        if not bids or not asks:
            assert signals.values(1)["two_sided"] == 0.0
            continue
        (bid, bid_size), (ask, ask_size) = bids[0], asks[0]
        mid = (bid + ask) / 2
        v = signals.values(1)
        assert v["mid"] == mid
        assert v["microprice"] == pytest.approx(
            (bid * ask_size + ask * bid_size) / (bid_size + ask_size)
        )
        assert v["imbalance_top"] == pytest.approx((bid_size - ask_size) / (bid_size + ask_size))
        total_b, total_a = sum(q for _, q in bids), sum(q for _, q in asks)
        assert v["imbalance_n"] == pytest.approx((total_b - total_a) / (total_b + total_a))
        assert v["bid_distance"] == pytest.approx(sum(q * (mid - p) for p, q in bids) / total_b)
        assert v["ask_distance"] == pytest.approx(sum(q * (p - mid) for p, q in asks) / total_a)
        checked += 1
    assert checked > n // 2


def test_the_books_sums_and_the_signals_own_walk_give_identical_state() -> None:
    stream = _random_stream(3_000)
    states = []
    for book_keeps in (0, 2):
        books = OrderBooks(BookConfig(instruments=1, max_instrument_id=9, levels=64, orders=1024))
        books.track_top_levels(book_keeps)
        signals = MicroSignals(SignalConfig(levels=3, flow_half_life_ns=50_000), books)
        signals.process(stream)
        states.append(signals.state)
    for name, array in states[0]._asdict().items():
        assert np.array_equal(array, getattr(states[1], name)), name


@pytest.mark.parametrize("x", [0.0, 1e-9, 1e-4, 0.01, 1 / 32 - 1e-12, 1 / 32, 0.5, 7.0])
def test_the_flow_decay_is_exp_to_the_last_bits(x: float) -> None:
    assert kernels._exp_neg(x) == pytest.approx(math.exp(-x), rel=4e-16, abs=0)


def test_config_from_toml_and_bad_values() -> None:
    config = SignalConfig.from_toml("[signals]\nlevels = 3\ntrade_side_is_aggressor = true\n")
    assert (config.levels, config.trade_side_is_aggressor) == (3, True)
    assert SignalConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="window"):
        SignalConfig.from_dict({"window": 3})
    for bad in ({"levels": 0}, {"flow_half_life_ns": 0}, {"volatility_half_life": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SignalConfig(**bad)
