"""Round trip: decisions out through a venue gateway, execution reports back, per fault mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lowlat.book import BookConfig, OrderBooks
from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import (
    ORDER_DTYPE,
    AckFlag,
    AckStatus,
    OrderAction,
    OrderType,
    Side,
    TimeInForce,
)
from lowlat.execution import ExecutionConfig, ExecutionEngine, OrderState
from lowlat.execution.examples import imbalance_quoter_strategy
from lowlat.execution.pipeline import TradingPipeline
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import write_scenario
from lowlat.risk import PreTradeRisk
from lowlat.risk.breakers import CircuitBreakers
from lowlat.signals.micro import MicroSignals
from lowlat.venue import AckSequence, FaultModel, InProcessGateway, LatencyModel, VenueConfig
from lowlat.venue.engine import order_record
from lowlat.venue.records import Reason
from tests.execution.conftest import lifecycle_in

LATENCY_NS = 40_000


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path: Path = tmp_path_factory.mktemp("sim") / "normal.itch"
    write_scenario("normal", path, instruments=1, messages=8_000)
    events = np.concatenate(list(iter_records(path)))
    events["recv_ns"] = events["exchange_ns"]  # event time stands in for receive time
    return events


def _trip(
    session: np.ndarray, faults: FaultModel
) -> tuple[TradingPipeline, InProcessGateway, list]:
    life = lifecycle_in(LifecycleState.READY)
    books = OrderBooks(BookConfig(instruments=2, levels=64, orders=1 << 14))
    pipeline = TradingPipeline(
        imbalance_quoter_strategy(1, min_interval_ns=20_000_000),
        books=books,
        signals=MicroSignals(None, books),
        execution=ExecutionEngine(ExecutionConfig(orders=1 << 12), life),
        risk=PreTradeRisk(lifecycle=life),
        breakers=CircuitBreakers(),
    )
    venue = InProcessGateway(
        VenueConfig(instruments=(1,), latency=LatencyModel(fixed_ns=LATENCY_NS), faults=faults)
    )
    sequence = AckSequence()
    executed = []
    for start in range(0, len(session), 500):
        out = pipeline.process(session[start : start + 500])
        if len(out.orders):
            replies = venue.submit(out.orders)
            sequence.observe(replies)
            executed.append(pipeline.on_reports(replies.acks, replies.fills))
    return pipeline, venue, [np.concatenate(executed), sequence]


def test_orders_are_acked_with_decision_and_completion_times(session: np.ndarray) -> None:
    pipeline, _venue, (acks, sequence) = _trip(session, FaultModel())
    sent = pipeline.execution.counters()["sent"]
    assert sent > 5
    assert set(acks["flags"].tolist()) == {AckFlag.EXECUTED}
    assert np.all(acks["completion_ns"] - acks["decision_ns"] >= LATENCY_NS)
    assert sequence.missing == 0
    rows = [pipeline.execution.order(int(i)) for i in acks["client_order_id"]]
    # The quoter opens its quotes with new orders and moves them with replaces: a replaced
    # order hands on to its replace's entry, which then rests (or fills, or is replaced).
    ended = {OrderState.FILLED, OrderState.CANCELLED, OrderState.REPLACED}
    opened = {row["state"] for row in rows if row["action"] == OrderAction.NEW}
    moved = {row["state"] for row in rows if row["action"] == OrderAction.REPLACE}
    assert OrderState.REPLACED in opened and OrderState.ACKED in moved  # resting quotes
    assert opened <= {OrderState.ACKED, OrderState.PARTIAL, *ended}
    assert moved <= {OrderState.ACKED, OrderState.PARTIAL, OrderState.REJECTED, *ended}
    # A cancel or replace refused by the venue came too late: its order had ended (filled,
    # or cancelled by self-trade prevention) before the request reached it.
    for row in rows:
        if row["action"] != OrderAction.NEW and row["state"] == OrderState.REJECTED:
            assert row["reason"] == Reason.UNKNOWN_ORDER
            target = pipeline.execution.order(row["orig_client_order_id"])
            assert target["state"] in (OrderState.FILLED, OrderState.CANCELLED)
    execution = pipeline.execution.latency()["execution"]
    assert len(execution) > 0 and execution.min() >= LATENCY_NS  # the venue's segment
    assert pipeline.execution.counters()["unknown_reports"] == 0


def test_a_venue_reject_comes_back_as_a_rejected_order(session: np.ndarray) -> None:
    pipeline, _, (acks, _) = _trip(session, FaultModel(reject_rate=1.0, seed=3))
    assert set(acks["status"].tolist()) == {AckStatus.REJECTED}
    assert pipeline.execution.working_orders() == []
    assert pipeline.risk.working_orders() == []


def test_dropped_acks_are_missing_in_the_sequence_and_orders_stay_pending(
    session: np.ndarray,
) -> None:
    pipeline, venue, (_, sequence) = _trip(session, FaultModel(drop_ack_rate=1.0, seed=5))
    assert sequence.missing == venue.stats()["dropped_acks"] > 0
    pending = [pipeline.execution.order(i)["state"] for i in pipeline.execution.working_orders()]
    assert set(pending) == {OrderState.PENDING_NEW}


def test_delay_and_slow_venue_lengthen_the_execution_segment(session: np.ndarray) -> None:
    _pipeline, _, (acks, _) = _trip(
        session, FaultModel(delay_rate=1.0, delay_ns=1_000_000, service_ns=50_000, seed=7)
    )
    assert np.all(acks["completion_ns"] - acks["decision_ns"] >= LATENCY_NS + 1_000_000)


def test_a_fill_reaches_the_order_and_the_position(session: np.ndarray) -> None:
    pipeline, venue, _ = _trip(session, FaultModel())
    resting = [
        i
        for i in pipeline.execution.working_orders()
        if pipeline.execution.order(i)["state"] == OrderState.ACKED
    ]
    assert resting
    bid = pipeline.execution.order(resting[0])  # a resting quote, either side
    hit = np.zeros(1, ORDER_DTYPE)
    hit[0] = order_record(
        OrderAction.NEW, 10**9, side=Side.SELL if bid["side"] == Side.BUY else Side.BUY,
        order_type=OrderType.LIMIT, tif=TimeInForce.IOC,
        price=bid["price"], qty=bid["leaves_qty"], account=99, instrument=1,
    )  # fmt: skip
    replies = venue.submit(hit)
    ours = replies.acks[replies.acks["client_order_id"] == bid["client_order_id"]]
    pipeline.on_reports(
        ours, replies.fills[replies.fills["client_order_id"] == bid["client_order_id"]]
    )
    assert pipeline.execution.order(bid["client_order_id"])["state"] == OrderState.FILLED
    position = pipeline.risk.position(int(bid["account"]), 1)
    signed = bid["leaves_qty"] if bid["side"] == Side.BUY else -bid["leaves_qty"]
    assert position is not None and position.qty == signed


def test_cancel_and_replace_keep_execution_and_risk_in_step_through_the_venue() -> None:
    """Both read the gateway's FIX-named reports as they come: no translation between."""
    life = lifecycle_in(LifecycleState.READY)
    execution = ExecutionEngine(ExecutionConfig(orders=64), life)
    risk = PreTradeRisk(lifecycle=life)
    venue = InProcessGateway(VenueConfig(instruments=(1,)))
    clock = iter(range(1_000_000_000, 2_000_000_000, 50_000_000))  # 20 orders/s: no throttle

    def decide(action, side, price, qty, orig=0) -> int:
        order = np.zeros(1, ORDER_DTYPE)
        order["client_order_id"] = execution.counters()["next_client_order_id"]
        order["action"], order["side"], order["price"], order["qty"] = action, side, price, qty
        order["orig_client_order_id"], order["instrument"], order["account"] = orig, 1, 7
        order["order_type"], order["tif"] = OrderType.LIMIT, TimeInForce.GTC
        now = next(clock)
        reason = risk.check(order, reference_price=1_000_000, now_ns=now)
        assert reason == 0
        decided = execution.decide(order, now_ns=now)
        replies = venue.submit(decided.orders)
        execution.on_reports(replies.acks)
        risk.on_acks(replies.acks)
        risk.on_fills(replies.fills)
        return int(order["client_order_id"][0])

    def working() -> tuple[list[int], list[int]]:
        return execution.working_orders(), [o.client_order_id for o in risk.working_orders()]

    bid = decide(OrderAction.NEW, Side.BUY, 999_900, 100)
    ask = decide(OrderAction.NEW, Side.SELL, 1_000_100, 100)
    assert working() == ([bid, ask], [bid, ask])
    new_bid = decide(OrderAction.REPLACE, Side.BUY, 999_800, 150, orig=bid)
    assert execution.order(bid)["state"] == OrderState.REPLACED
    assert working() == ([ask, new_bid], [ask, new_bid])
    cancel = decide(OrderAction.CANCEL, Side.SELL, 0, 0, orig=ask)
    assert execution.order(ask)["state"] == OrderState.CANCELLED
    assert execution.order(cancel)["state"] == OrderState.CANCELLED
    assert working() == ([new_bid], [new_bid])
    # A seller crosses the replaced bid: the fill names the replacement, and both see it.
    taker = order_record(
        OrderAction.NEW, 900_001, account=9, side=Side.SELL, price=999_800, qty=150
    )
    replies = venue.submit(np.array([taker]))
    ours = replies.acks[replies.acks["client_order_id"] != 900_001]
    execution.on_reports(ours)
    risk.on_acks(ours)
    risk.on_fills(replies.fills[replies.fills["client_order_id"] != 900_001])
    assert execution.order(new_bid)["state"] == OrderState.FILLED
    assert working() == ([], [])
    assert [(p.account, p.qty) for p in risk.positions()] == [(7, 150)]
    assert execution.counters()["unknown_reports"] == 0
    assert risk.stats().counters["unknown_acks"] == 0
    assert risk.stats().counters["unknown_fills"] == 0
