"""The compiled engine against the plain-Python reference book on random event streams."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lowlat.book import INTEGRITY_FIELDS, BookConfig, OrderBooks, ReferenceBooks
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from tests.book.conftest import event, records

INSTRUMENTS = (1, 2)
DEPTH = 64
# Ids 1..7 + 256·k all share a home entry of the 256-entry table modulo 8 alternatives,
# so probe chains are long and removals shift entries around.
ORDER_IDS = [a + 256 * b for a in range(1, 8) for b in range(9)]

_record = st.builds(
    event,
    kind=st.sampled_from(
        [EventKind.ADD] * 4
        + [
            EventKind.EXECUTE,
            EventKind.CANCEL,
            EventKind.DELETE,
            EventKind.REPLACE,
            EventKind.TRADE,
            EventKind.QUOTE,
            EventKind.SNAPSHOT,
            EventKind.STATUS,
        ]
    ),
    side=st.sampled_from([Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.NONE]),
    price=st.integers(90, 110),
    qty=st.one_of(st.integers(0, 20), st.just(-1)),
    order_id=st.one_of(st.sampled_from(ORDER_IDS), st.just(0)),
    instrument=st.sampled_from(INSTRUMENTS),
    aux=st.one_of(st.just(0), st.sampled_from(ORDER_IDS)),
    flags=st.sampled_from([0, 0, 0, 1, 2]),
)


class EngineMatchesReference(RuleBasedStateMachine):
    """After every message the L2 books and integrity counters of both agree exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.engine = OrderBooks(
            BookConfig(instruments=2, max_instrument_id=8, levels=DEPTH, orders=256)
        )
        self.reference = ReferenceBooks()
        self.seq = 0

    @rule(message=st.lists(_record, min_size=1, max_size=3))
    def apply_message(self, message: list[tuple]) -> None:
        self.seq += 1
        batch = records(*message, number=False)
        batch["seq"] = self.seq
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
