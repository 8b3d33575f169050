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
    states = {pipeline.execution.order(int(i))["state"] for i in acks["client_order_id"]}
    assert OrderState.ACKED in states  # resting quotes
    assert states <= {OrderState.ACKED, OrderState.PARTIAL, OrderState.FILLED, OrderState.CANCELLED}
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
