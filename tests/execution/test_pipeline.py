"""The decision path end to end on a simulated session: book → signals → strategy →
breakers → risk → gate, with the example strategies."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lowlat.book import BookConfig, OrderBooks
from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import ORDER_DTYPE, AckFlag, AckStatus, OrderAction, Side
from lowlat.execution import ExecutionConfig, ExecutionEngine, GateReason
from lowlat.execution.examples import imbalance_quoter_strategy, pairs_trader_strategy
from lowlat.execution.pipeline import TradingPipeline
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import write_scenario
from lowlat.risk import KillSwitch, PreTradeRisk, RejectReason, RiskConfig, RiskLimits
from lowlat.risk.breakers import CircuitBreakers
from lowlat.signals.micro import MicroSignals
from lowlat.signals.patterns import (
    GroupConfig,
    PairZScorePattern,
    PatternConfig,
    PatternEngine,
    PatternKind,
)
from lowlat.venue import InProcessGateway, VenueConfig
from tests.execution.conftest import lifecycle_in


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path: Path = tmp_path_factory.mktemp("sim") / "normal.itch"
    write_scenario("normal", path, instruments=2, messages=20_000)
    return np.concatenate(list(iter_records(path)))


def _pipeline(state: LifecycleState, strategy=None, patterns=None, limits=None) -> TradingPipeline:
    life = lifecycle_in(state)
    books = OrderBooks(BookConfig(instruments=4, levels=64, orders=1 << 14))
    return TradingPipeline(
        strategy or imbalance_quoter_strategy(1, min_interval_ns=50_000_000),
        books=books,
        signals=MicroSignals(None, books),
        execution=ExecutionEngine(ExecutionConfig(orders=1 << 12), life),
        risk=PreTradeRisk(RiskConfig(limits=limits or RiskLimits()), lifecycle=life),
        breakers=CircuitBreakers(),
        patterns=patterns,
    )


def test_ready_sends_quotes_triggered_by_market_events(session: np.ndarray) -> None:
    pipeline = _pipeline(LifecycleState.READY)
    events = session.copy()
    events["recv_ns"] = time.monotonic_ns()  # as a feed handler stamps them
    out = pipeline.process(events)
    assert out.consumed > 19_000
    # No venue answers here: one quote per side goes out, then the quoter waits for acks.
    assert len(out.orders) == 2
    assert set(out.orders["side"].tolist()) == {Side.BUY, Side.SELL}
    assert set(out.orders["action"].tolist()) <= {OrderAction.NEW, OrderAction.CANCEL}
    assert np.all(np.diff(out.orders["client_order_id"]) > 0)
    assert set(out.orders["trigger_seq"].tolist()) <= set(session["seq"].tolist())
    counters = pipeline.execution.counters()
    assert counters["sent"] == len(out.orders)
    assert counters["decisions"] == counters["sent"] + len(out.acks)
    latency = pipeline.execution.latency()["decision"]
    assert len(latency) == counters["decisions"]
    assert latency.min() > 0  # decided after the trigger arrived (compilation included)
    assert len(out.ticks) > 100
    assert pipeline.risk.stats().checks >= counters["sent"]


def test_degraded_decides_and_acks_provisional_but_sends_nothing(session: np.ndarray) -> None:
    pipeline = _pipeline(LifecycleState.DEGRADED)
    out = pipeline.process(session)
    assert len(out.orders) == 0
    provisional = out.acks[out.acks["flags"] == AckFlag.PROVISIONAL]
    refused = out.acks[out.acks["flags"] != AckFlag.PROVISIONAL]
    assert len(provisional) > 10
    assert set(provisional["status"].tolist()) == {AckStatus.DECIDED}
    # Risk still refuses what it would refuse in READY (throttle, limits): those are REJECTED.
    assert set(refused["status"].tolist()) <= {AckStatus.REJECTED}
    assert all(0 < r < 1000 for r in refused["reason"].tolist())
    assert pipeline.risk.working_orders() == []  # reservations released


def test_the_kill_switch_halts_and_nothing_risk_increasing_leaves(session: np.ndarray) -> None:
    pipeline = _pipeline(LifecycleState.READY)
    venue = InProcessGateway(VenueConfig(instruments=(1, 2)))
    first = pipeline.process(session[:10_000])
    pipeline.on_reports(venue.submit(first.orders).acks)
    working = pipeline.execution.working_orders()
    assert len(working) == 2
    handed = []
    switch = KillSwitch(pipeline.execution.lifecycle, pipeline.risk, handed.extend)
    switch.engage("test", by="operator")
    assert pipeline.execution.lifecycle.state is LifecycleState.HALTED
    assert sorted(order.client_order_id for order in handed) == working
    later = pipeline.process(session[10_000:])
    assert set(later.orders["action"].tolist()) <= {OrderAction.CANCEL}  # only cancels leave
    refused = later.acks[later.acks["status"] == AckStatus.REJECTED]
    assert len(refused) > 0
    # The quoter's replaces add no quantity: risk's throttle may stop them before the gate.
    allowed = {GateReason.LIFECYCLE, RejectReason.KILL_SWITCH, RejectReason.THROTTLE}
    assert {int(r) for r in refused["reason"]} <= allowed


def _quote_session(pipeline: TradingPipeline, events: np.ndarray, venue: InProcessGateway):
    """Feed ``events`` one at a time, each batch of orders answered before the next record."""
    sent, acks = [], []
    for k in range(len(events)):
        out = pipeline.process(events[k : k + 1])
        acks.append(out.acks)
        if len(out.orders):
            sent.append(out.orders)
            acks.append(pipeline.on_reports(venue.submit(out.orders).acks))
    return np.concatenate([np.zeros(0, ORDER_DTYPE), *sent]), np.concatenate(acks)


def _quoter_pipeline() -> TradingPipeline:
    """The quoter deciding on every record of instrument 1, the throttle out of its way."""
    limits = RiskLimits(max_orders_per_second=1_000_000, throttle_burst=10_000)
    quoter = imbalance_quoter_strategy(1, min_interval_ns=0)
    return _pipeline(LifecycleState.READY, quoter, limits=limits)


def test_the_quoter_moves_its_quotes_with_replaces(session: np.ndarray) -> None:
    pipeline = _quoter_pipeline()
    venue = InProcessGateway(VenueConfig(instruments=(1, 2)))
    sent, acks = _quote_session(pipeline, session[:8_000], venue)
    actions = sent["action"].tolist()
    assert actions.count(OrderAction.REPLACE) > 20
    assert OrderAction.CANCEL not in actions
    # Two new orders open the quotes (more only if the venue filled one): every later move
    # of a quote is a replace of the order that works, so none is a duplicate new order.
    new = sent[sent["action"] == OrderAction.NEW]
    assert sorted(new["side"].tolist())[:2] == [Side.BUY, Side.SELL]
    reasons = {int(r) for r in acks[acks["status"] == AckStatus.REJECTED]["reason"]}
    assert RejectReason.DUPLICATE_ORDER not in reasons
    replaces = sent[sent["action"] == OrderAction.REPLACE]
    assert set(replaces["orig_client_order_id"].tolist()) <= set(sent["client_order_id"].tolist())
    working = [pipeline.execution.order(i) for i in pipeline.execution.working_orders()]
    assert sorted(order["side"] for order in working) == [Side.BUY, Side.SELL]


def test_a_quote_whose_replace_was_not_sent_still_stands(session: np.ndarray) -> None:
    pipeline = _quoter_pipeline()
    venue = InProcessGateway(VenueConfig(instruments=(1, 2)))
    _quote_session(pipeline, session[:2_000], venue)
    quotes = pipeline.execution.working_orders()
    assert len(quotes) == 2
    # DEGRADED: the moves are decided and acked provisional, never sent; the quotes they
    # would have moved stay where they are, and the quoter opens no new ones beside them.
    pipeline.execution.lifecycle.transition(LifecycleState.DEGRADED, "test")
    sent, acks = _quote_session(pipeline, session[2_000:6_000], venue)
    assert len(sent) == 0
    provisional = acks[acks["flags"] == AckFlag.PROVISIONAL]
    assert len(provisional) > 10
    decided = [pipeline.execution.order(int(i)) for i in provisional["client_order_id"]]
    assert {order["action"] for order in decided} == {OrderAction.REPLACE}
    assert {order["orig_client_order_id"] for order in decided} <= set(quotes)
    assert pipeline.execution.working_orders() == quotes


def test_the_pairs_example_trades_both_legs_on_the_pattern_events_the_path_fires(
    session: np.ndarray,
) -> None:
    pair = PairZScorePattern("pair-1-2", (1, 2), z_threshold=2.0, half_life_events=200)
    patterns = PatternEngine(PatternConfig(groups=(GroupConfig("all", (1, 2)),), patterns=(pair,)))
    pipeline = _pipeline(
        LifecycleState.READY, pairs_trader_strategy(0, entry_z=2.0, qty=100), patterns
    )
    out = pipeline.process(session)
    fired = out.patterns
    assert len(fired) > 0 and set(fired["kind"].tolist()) == {PatternKind.PAIR_ZSCORE}
    assert np.all(np.abs(fired["value"]) >= 2.0)
    # The patterns observe the mid changes the path emitted, each as its record made it.
    assert set(fired["trigger_seq"].tolist()) <= set(out.ticks["seq"].tolist())
    # The same patterns, run on their own over those ticks, fire the same events.
    alone = PatternEngine(patterns.config).feed(out.ticks)
    for field in ("trigger_seq", "pattern", "instrument", "other", "value", "flags"):
        assert np.array_equal(alone[field], fired[field]), field
    # The trader acts on the record that fired: its first trade is two legs on the first
    # event, selling the rich leg (z > 0: the first instrument is rich).
    first = fired[0]
    orders = out.orders
    assert len(orders) >= 2 and set(orders["trigger_seq"].tolist()) <= set(
        fired["trigger_seq"].tolist()
    )
    legs = orders[orders["trigger_seq"] == first["trigger_seq"]]
    rich_first = Side.SELL if first["value"] > 0 else Side.BUY
    cheap_second = Side.BUY if first["value"] > 0 else Side.SELL
    expected = {(int(first["instrument"]), rich_first), (int(first["other"]), cheap_second)}
    assert set(zip(legs["instrument"].tolist(), legs["side"].tolist(), strict=True)) == expected


def test_without_patterns_nothing_fires_and_the_strategy_is_handed_none(
    session: np.ndarray,
) -> None:
    pipeline = _pipeline(LifecycleState.READY, pairs_trader_strategy(0, entry_z=0.1, qty=100))
    out = pipeline.process(session[:5_000])
    assert len(out.ticks) > 0 and len(out.patterns) == 0 and len(out.orders) == 0


def test_signals_must_read_the_pipelines_books() -> None:
    books = OrderBooks(BookConfig(instruments=2, levels=8, orders=64))
    with pytest.raises(ValueError, match="signals must read"):
        TradingPipeline(
            imbalance_quoter_strategy(1),
            books=books,
            signals=MicroSignals(None, OrderBooks(BookConfig(instruments=2, levels=8, orders=64))),
            execution=ExecutionEngine(),
            risk=PreTradeRisk(),
            breakers=CircuitBreakers(),
        )
