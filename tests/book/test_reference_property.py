"""The compiled engine against the plain-Python reference book on random event streams."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lowlat.book import INTEGRITY_FIELDS, BookConfig, OrderBooks, ReferenceBooks
from lowlat.book.layout import EMPTY_ID, OR_ID
from lowlat.core.records import MARKET_EVENT_DTYPE, Side
from tests.book.conftest import book_messages, message

INSTRUMENTS = (1, 2)
DEPTH = 64
TOP_LEVELS = 3


class EngineMatchesReference(RuleBasedStateMachine):
    """After every message the L2 books and integrity counters of both agree exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.engine = OrderBooks(
            BookConfig(instruments=2, max_instrument_id=8, levels=DEPTH, orders=256)
        )
        self.engine.track_top_levels(TOP_LEVELS)
        self.reference = ReferenceBooks()
        self.seq = 0

    @rule(events=book_messages(INSTRUMENTS))
    def apply_message(self, events: list[tuple]) -> None:
        self.seq += 1
        batch = message(events, self.seq)
        assert self.engine.apply(batch) == self.reference.apply_all(batch)

    @rule()
    def end_of_stream(self) -> None:
        self.engine.finish()
        self.reference.finish()

    @invariant()
    def books_agree(self) -> None:
        for instrument in INSTRUMENTS:
            assert self.engine.snapshot(instrument, DEPTH) == self.reference.snapshot(
                instrument, DEPTH
            )
        problems = {name: 0 for name in INTEGRITY_FIELDS}
        for book in self.reference.books.values():
            for name in INTEGRITY_FIELDS:
                problems[name] += book.problems[name]
        assert self.engine.integrity() == problems
        counters = self.engine.counters()
        assert counters["ignored"] == self.reference.ignored
        assert counters["bad_event"] == self.reference.bad_events
        live = sum(len(b.orders) for b in self.reference.books.values())
        assert counters["live_orders"] == live

    @invariant()
    def order_table_chains_are_unbroken(self) -> None:
        # Linear probing: between an entry's home and the entry itself no entry is free,
        # and the displaced count (which lets removals skip the shift) is exact.
        ids = self.engine.state.orders[:, OR_ID]
        mask = ids.shape[0] - 1
        displaced = 0
        for pos in np.flatnonzero(ids != EMPTY_ID):
            home = (int(ids[pos]) ^ (int(ids[pos]) >> 32)) & mask
            distance = (pos - home) & mask
            assert all(ids[(home + k) & mask] != EMPTY_ID for k in range(distance))
            displaced += distance > 0
        assert self.engine.counters()["displaced"] == displaced

    @invariant()
    def top_sums_agree(self) -> None:
        for instrument in INSTRUMENTS:
            levels = self.reference.snapshot(instrument, TOP_LEVELS)
            asks = [(price, size) for price, size, _, _ in levels]
            bids = [(price, size) for _, _, price, size in levels]
            for side, book_side in ((Side.SELL, asks), (Side.BUY, bids)):
                expected = (sum(q for _, q in book_side), sum(p * q for p, q in book_side))
                if self.engine.slot(instrument) is not None:
                    assert self.engine.top_sums(instrument, side) == expected


EngineMatchesReference.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineMatchesReference = EngineMatchesReference.TestCase


def test_splitting_a_stream_into_batches_changes_nothing() -> None:
    rng = np.random.default_rng(11)
    n = 3_000
    stream = np.zeros(n, MARKET_EVENT_DTYPE)
    stream["seq"] = np.arange(1, n + 1) // 2  # two records per message
    stream["kind"] = rng.choice([1, 1, 1, 2, 3, 4, 5, 7], n)
    stream["side"] = rng.integers(1, 3, n)
    stream["price"] = rng.integers(90, 111, n)
    stream["qty"] = rng.integers(1, 30, n)
    stream["order_id"] = rng.integers(1, 400, n)
    stream["aux"] = rng.integers(1, 400, n)
    stream["instrument"] = rng.integers(1, 3, n)
    whole = OrderBooks(BookConfig(instruments=2, levels=64, orders=2048))
    whole.apply(stream)
    pieces = OrderBooks(BookConfig(instruments=2, levels=64, orders=2048))
    for part in np.array_split(stream, [1, 7, 500, 501, 2_999]):
        pieces.apply(part)
    for name in ("keys", "level_qty", "level_orders", "depth", "orders", "book", "counters"):
        assert np.array_equal(getattr(whole.state, name), getattr(pieces.state, name)), name
