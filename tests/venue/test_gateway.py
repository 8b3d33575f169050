"""The in-process gateway: acks and fills, latency models, every fault mode, both clocks."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lowlat.core.records import ACK_DTYPE, AckFlag, AckStatus, OrderAction
from lowlat.venue import (
    AckSequence,
    FaultModel,
    GatewayDisconnected,
    InProcessGateway,
    LatencyModel,
    MatchingEngine,
    ProtocolError,
    Reason,
    Replies,
    VenueConfig,
    order_record,
)
from tests.venue.conftest import BUY, CANCELLED, FILLED, NEW, REJECTED, SELL, new, requests

FIXED = 2_000


def gateway(latency: LatencyModel | None = None, **faults: object) -> InProcessGateway:
    config = VenueConfig(
        instruments=(1, 2),
        orders=4096,
        latency=latency or LatencyModel(fixed_ns=FIXED),
        faults=FaultModel(**faults),
    )
    return InProcessGateway(config)


def stream(n: int, seed: int = 1) -> np.ndarray:
    """Alternating-side limit orders around 100 from four accounts, 1 µs apart."""
    rng = np.random.default_rng(seed)
    return requests(
        *(
            new(
                i,
                BUY if rng.random() < 0.5 else SELL,
                int(rng.integers(1, 10)),
                int(rng.integers(98, 103)),
                account=int(rng.integers(1, 5)),
                decision_ns=1_000 * i,
            )
            for i in range(1, n + 1)
        )
    )


def latencies(replies: Replies) -> np.ndarray:
    """Completion − decision of each new order's own acknowledgement.

    (The acks of resting orders it traded with carry their own, older, decision times.)
    """
    acks = replies.acks[replies.acks["status"] == NEW]
    return acks["completion_ns"] - acks["decision_ns"]


def test_a_match_gives_acks_for_both_sides_and_a_fill_each():
    venue = gateway()
    venue.submit(requests(new(1, SELL, 5, 101, account=1, decision_ns=1_000)))
    replies = venue.submit(requests(new(2, BUY, 3, 102, account=2, decision_ns=5_000)))
    acks, fills = replies.acks, replies.fills
    assert list(acks["seq"]) == [2, 3, 4]
    assert list(acks["client_order_id"]) == [2, 2, 1]
    assert list(acks["venue_order_id"]) == [2, 2, 1]
    assert list(acks["status"]) == [NEW, FILLED, 2]
    assert list(acks["decision_ns"]) == [5_000, 5_000, 1_000]  # the resting order's own
    assert set(acks["completion_ns"]) == {5_000 + FIXED}
    assert list(acks["leaves_qty"]) == [3, 0, 2]
    assert list(acks["cum_qty"]) == [0, 3, 3]
    assert set(acks["flags"]) == {AckFlag.EXECUTED}
    assert list(fills["client_order_id"]) == [2, 1]
    assert list(fills["exec_id"]) == [3, 4]
    assert list(fills["price"]) == [101, 101]
    assert list(fills["qty"]) == [3, 3]
    assert list(fills["side"]) == [BUY, SELL]
    assert list(fills["liquidity"]) == [2, 1]
    assert set(fills["exchange_ns"]) == {5_000}
    assert set(fills["recv_ns"]) == {5_000 + FIXED}
    assert replies.last_seq == 4


def test_a_fixed_latency_is_exactly_the_gap_between_decision_and_completion():
    replies = gateway().submit(stream(200))
    assert set(latencies(replies)) == {FIXED}


@pytest.mark.parametrize("distribution", ["uniform", "exponential"])
def test_a_seeded_distribution_repeats_with_its_seed_and_changes_with_another(distribution):
    model = LatencyModel(fixed_ns=FIXED, distribution=distribution, scale_ns=1_000, seed=5)
    first = gateway(model).submit(stream(300))
    again = gateway(model).submit(stream(300))
    other = gateway(LatencyModel(FIXED, distribution, 1_000, seed=6)).submit(stream(300))
    assert first.acks.tobytes() == again.acks.tobytes()
    assert first.fills.tobytes() == again.fills.tobytes()
    assert not np.array_equal(latencies(first), latencies(other))
    spread = latencies(first) - FIXED
    assert spread.min() >= 0
    assert len(set(spread)) > 50
    if distribution == "uniform":
        assert spread.max() <= 1_000
    else:
        assert 500 < spread.mean() < 2_000


def test_spikes_come_only_while_the_volatility_flag_is_raised():
    venue = gateway(LatencyModel(fixed_ns=FIXED, spike_ns=50_000, spike_probability=1.0))
    orders = stream(30)
    assert set(latencies(venue.submit(orders[:10]))) == {FIXED}
    venue.set_volatile(True)
    assert venue.volatile
    assert set(latencies(venue.submit(orders[10:20]))) == {FIXED + 50_000}
    venue.set_volatile(False)
    assert set(latencies(venue.submit(orders[20:]))) == {FIXED}
    assert venue.stats()["spikes"] == 10


def test_spike_probability_hits_some_orders_only():
    venue = gateway(LatencyModel(fixed_ns=FIXED, spike_ns=50_000, spike_probability=0.3, seed=2))
    venue.set_volatile(True)
    orders = stream(200)
    hit = []
    for i in range(len(orders)):
        replies = venue.submit(orders[i : i + 1])
        hit.append(bool(latencies(replies)[0] > FIXED))
    assert 20 < sum(hit) < 100
    assert sum(hit) == venue.stats()["spikes"]


def test_injected_rejects_are_rejected_acks_and_never_reach_the_book():
    venue = gateway(reject_rate=0.3, seed=3)
    replies = venue.submit(requests(*(new(i, BUY, 1, 90 + i) for i in range(1, 41))))
    rejected = replies.acks[replies.acks["status"] == REJECTED]
    assert len(rejected) == venue.stats()["fault_rejects"] > 0
    assert set(rejected["reason"]) == {Reason.VENUE_REJECT}
    assert len(replies.acks) == 40
    resting = {price for price, _ in venue.engine.book(1).bids}
    assert resting == {
        90 + int(i) for i in replies.acks["client_order_id"][replies.acks["status"] == NEW]
    }
    assert not resting & {90 + int(i) for i in rejected["client_order_id"]}


def test_answers_to_a_cancel_name_the_request_and_the_venue_order_as_fix_does():
    venue = gateway(reject_rate=1.0)
    replies = venue.submit(requests(order_record(OrderAction.CANCEL, 50, orig_client_order_id=7)))
    ack = replies.acks[0]
    assert (ack["client_order_id"], ack["venue_order_id"], ack["reason"]) == (
        50,
        7,
        Reason.VENUE_REJECT,
    )
    venue = gateway()
    venue.submit(requests(new(7, BUY, 10, 95)))
    ack = venue.submit(requests(order_record(OrderAction.CANCEL, 51, orig_client_order_id=7))).acks[
        0
    ]
    assert (ack["client_order_id"], ack["venue_order_id"], ack["status"]) == (51, 7, CANCELLED)


def test_a_replace_is_answered_replaced_under_its_new_id_and_fills_follow_it():
    venue = gateway()
    venue.submit(requests(new(7, BUY, 10, 95)))
    replace = order_record(
        OrderAction.REPLACE, 8, orig_client_order_id=7, side=BUY, price=96, qty=12
    )
    ack = venue.submit(requests(replace)).acks[0]
    assert (ack["client_order_id"], ack["status"], ack["leaves_qty"]) == (
        8,
        AckStatus.REPLACED,
        12,
    )
    replies = venue.submit(requests(new(30, SELL, 12, 96, account=2)))
    maker = replies.acks[replies.acks["client_order_id"] != 30]
    assert maker["client_order_id"].tolist() == [8]
    assert replies.fills["client_order_id"].tolist().count(8) == 1


def test_dropped_acks_are_missing_from_the_sequence_and_counted_on_both_sides():
    venue = gateway(drop_ack_rate=0.2, seed=8)
    sequence = AckSequence()
    delivered_seqs = []
    orders = stream(400)
    for first in range(0, 400, 50):
        replies = venue.submit(orders[first : first + 50])
        sequence.observe(replies)
        delivered_seqs.extend(replies.acks["seq"])
        assert set(replies.fills["exec_id"]) <= set(replies.acks["seq"])
    dropped = venue.stats()["dropped_acks"]
    assert dropped > 0
    assert sequence.missing == dropped
    assert sequence.received + sequence.missing == venue.engine.counters()["exec_id"]
    assert len(set(delivered_seqs)) == len(delivered_seqs)


def test_delayed_orders_complete_later_by_the_delay():
    venue = gateway(delay_rate=0.5, delay_ns=30_000, seed=4)
    orders = stream(100)
    per_order = [set(latencies(venue.submit(orders[i : i + 1]))) for i in range(100)]
    assert all(s in ({FIXED}, {FIXED + 30_000}) for s in per_order)
    delayed = sum(s == {FIXED + 30_000} for s in per_order)
    assert delayed == venue.stats()["delayed"]
    assert 25 < delayed < 75


def test_a_slow_venue_queues_a_burst_so_its_latency_grows():
    venue = gateway(service_ns=1_000)
    burst = requests(*(new(i, BUY, 1, 100 - i, decision_ns=10_000) for i in range(1, 11)))
    waited = latencies(venue.submit(burst))
    assert list(waited) == [FIXED + 1_000 * k for k in range(1, 11)]
    later = venue.submit(requests(new(20, BUY, 1, 50, decision_ns=1_000_000)))
    assert list(latencies(later)) == [FIXED + 1_000]  # the queue drained meanwhile


def test_the_session_drops_after_disconnect_after_orders_until_reconnected():
    venue = gateway(disconnect_after=3)
    venue.submit(stream(2))
    assert venue.connected
    venue.submit(stream(3)[2:])
    assert not venue.connected
    with pytest.raises(GatewayDisconnected, match="reconnect"):
        venue.submit(stream(4)[3:])
    venue.reconnect()
    assert len(venue.submit(stream(4)[3:]).acks) >= 1
    assert venue.stats()["disconnects"] == 1
    assert venue.stats()["orders"] == 4


def test_realtime_clock_releases_replies_no_earlier_than_their_completion():
    config = VenueConfig(
        latency=LatencyModel(fixed_ns=3_000_000), faults=FaultModel(service_ns=1_000)
    )
    venue = InProcessGateway(config, clock="realtime")
    decided = time.monotonic_ns()
    replies = venue.submit(requests(new(1, BUY, 1, 100, decision_ns=decided)))
    returned = time.monotonic_ns()
    completion = int(replies.acks["completion_ns"][0])
    assert completion - decided >= 3_001_000
    assert returned >= completion


def test_a_large_batch_is_routed_in_several_passes_with_nothing_lost():
    config = VenueConfig(orders=8, latency=LatencyModel(fixed_ns=FIXED))
    venue = InProcessGateway(config)
    orders = stream(300)
    replies = venue.submit(orders)
    assert len(replies.acks) == venue.engine.counters()["exec_id"] > len(venue._acks)
    assert list(replies.acks["seq"]) == list(range(1, len(replies.acks) + 1))


def test_the_gateway_refuses_other_records_and_unknown_clocks():
    with pytest.raises(TypeError, match="ORDER_DTYPE"):
        gateway().submit(np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="clock must be one of"):
        InProcessGateway(clock="wall")


def test_the_ack_sequence_refuses_repeats_and_numbers_beyond_the_last():
    acks = np.zeros(2, ACK_DTYPE)
    acks["seq"] = [1, 1]
    with pytest.raises(ProtocolError, match="repeat"):
        AckSequence().observe(Replies(acks, acks[:0], 2))
    acks["seq"] = [1, 5]
    with pytest.raises(ProtocolError, match="beyond"):
        AckSequence().observe(Replies(acks, acks[:0], 4))


def test_without_faults_every_engine_report_becomes_one_ack_and_every_trade_a_fill():
    orders = stream(300)
    orders["account"][::3] = 0  # some orders with no account: never self-trade
    venue = gateway()
    replies = venue.submit(orders)
    reports = MatchingEngine(venue.config).process(orders)
    acks = replies.acks
    assert list(acks["seq"]) == list(reports["exec_id"])
    assert list(acks["client_order_id"]) == list(reports["order_id"])
    for field in ("leaves_qty", "cum_qty", "status", "reason"):
        assert list(acks[field]) == list(reports[field]), field
    trades = reports[reports["last_qty"] > 0]
    assert len(trades) > 0
    assert list(replies.fills["exec_id"]) == list(trades["exec_id"])
    assert list(replies.fills["price"]) == list(trades["last_px"])
    assert list(replies.fills["qty"]) == list(trades["last_qty"])
