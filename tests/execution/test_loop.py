"""The engine loop: the whole in-process path compiled, in this thread or on its own."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from lowlat.book import BookConfig, OrderBooks
from lowlat.book.layout import G_DISPLACED
from lowlat.core.lifecycle import LifecycleState
from lowlat.core.ring import RingBus, WaitStrategy
from lowlat.core.ring import kernels as ring_kernels
from lowlat.execution import ExecutionConfig, ExecutionEngine, OrderState
from lowlat.execution import loop_kernels as lk
from lowlat.execution.examples import imbalance_quoter_strategy
from lowlat.execution.layout import ORDER_FIELDS
from lowlat.execution.loop import EngineLoop
from lowlat.execution.pipeline import TradingPipeline
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import write_scenario
from lowlat.journal import Journal, JournalConfig, JournalReader, RecordType, record_dtype
from lowlat.risk import PreTradeRisk
from lowlat.risk.breakers import CircuitBreakers
from lowlat.signals.micro import MicroSignals
from lowlat.venue import InProcessGateway, LatencyModel, VenueConfig
from tests.execution.conftest import lifecycle_in

BLOCK = 500


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path: Path = tmp_path_factory.mktemp("sim") / "normal.itch"
    write_scenario("normal", path, instruments=1, messages=8_000)
    events = np.concatenate(list(iter_records(path)))
    # Stamped as a feed handler would, from the monotonic clock: event time (09:30 and
    # on) stands after "now" on a machine up for less than that.
    events["recv_ns"] = time.monotonic_ns()
    return events


def _parts(
    state: LifecycleState = LifecycleState.READY,
) -> tuple[TradingPipeline, InProcessGateway]:
    life = lifecycle_in(state)
    books = OrderBooks(BookConfig(instruments=2, levels=64, orders=1 << 14))
    pipeline = TradingPipeline(
        imbalance_quoter_strategy(1, min_interval_ns=20_000_000),
        books=books,
        signals=MicroSignals(None, books),
        execution=ExecutionEngine(ExecutionConfig(orders=1 << 12), life),
        risk=PreTradeRisk(lifecycle=life),
        breakers=CircuitBreakers(),
        capacity=BLOCK,
    )
    venue = InProcessGateway(VenueConfig(instruments=(1,), latency=LatencyModel(fixed_ns=40_000)))
    return pipeline, venue


def _decided(pipeline: TradingPipeline) -> np.ndarray:
    """The order table but the monotonic stamps, which no replay reproduces."""
    stamps = [ORDER_FIELDS.index(name) for name in ("decision_ns", "sent_ns", "last_ns")]
    return np.delete(pipeline.execution.state.orders, stamps, axis=1)


def test_the_compiled_loop_decides_as_the_python_driven_pipeline_whatever_the_block(
    session: np.ndarray,
) -> None:
    events = session[:3_000]
    reference, reference_venue = _parts()
    for k in range(len(events)):  # one record at a time, answered before the next
        out = reference.process(events[k : k + 1])
        if len(out.orders):
            replies = reference_venue.submit(out.orders)
            reference.on_reports(replies.acks, replies.fills)
    for block in (7, BLOCK):
        pipeline, venue = _parts()
        loop = EngineLoop(pipeline, venue, block=block)
        sent = loop.process(events)
        assert sent == reference.execution.counters()["sent"] > 5
        assert pipeline.execution.counters() == reference.execution.counters()
        assert np.array_equal(_decided(pipeline), _decided(reference))
        assert pipeline.risk.working_orders() == reference.risk.working_orders()
        assert pipeline.risk.positions() == reference.risk.positions()
        counters = loop.counters()
        assert counters["events"] == len(events)
        assert counters["orders"] == sent
        assert counters["reports"] == venue.stats()["acks"] > 0
        assert counters["stalled_routes"] == 0


@pytest.mark.parametrize("wait", list(WaitStrategy))
def test_the_engine_thread_drains_the_ring_and_answers_every_order(
    session: np.ndarray, wait: WaitStrategy
) -> None:
    pipeline, venue = _parts()
    loop = EngineLoop(pipeline, venue, block=64)
    ring = RingBus(1 << 16)
    consumer = ring.add_consumer(policy="lossless")
    loop.start(ring, consumer, wait=wait)
    time.sleep(0.05)  # the ring is empty a while: the thread idles as told, then wakes
    words = session.view(np.int64).reshape(len(session), -1)
    assert ring_kernels.publish_batch(*ring.arrays, words, len(words)) == len(words)
    assert loop.stop() == len(session)
    counters = loop.counters()
    assert counters["events"] == len(session) and counters["lost"] == 0
    assert counters["orders"] == pipeline.execution.counters()["sent"] > 5
    states = [pipeline.execution.order(i)["state"] for i in pipeline.execution.working_orders()]
    assert OrderState.PENDING_NEW not in states  # the in-process venue answered them all
    # Each decision's engine time starts at the engine's last mark before it (its block
    # taken, its previous decision, a round done): never before the trigger's receipt, so
    # never longer than the decision latency, which counts the waits too.
    latency = pipeline.execution.latency()
    assert len(latency["engine"]) == len(latency["decision"]) > 5
    assert (latency["engine"] >= 0).all()
    assert (latency["engine"] <= latency["decision"]).all()
    assert (latency["engine"] < latency["decision"]).any()  # the records waited in the ring
    assert [o.client_order_id for o in pipeline.risk.working_orders()] == sorted(
        pipeline.execution.working_orders()
    )
    ring.close()


def test_an_idle_sleeping_engine_thread_uses_little_cpu_on_the_cpu_it_was_pinned_to(
    session: np.ndarray,
) -> None:
    cpu = max(os.sched_getaffinity(0))
    loop = EngineLoop(*_parts(), block=64)
    ring = RingBus(1 << 16)
    consumer = ring.add_consumer(policy="lossless")
    loop.start(ring, consumer, wait=WaitStrategy.SLEEP_BACKOFF, cpu=cpu)
    time.sleep(0.05)  # past the back-off's first steps
    thread = loop.thread_id
    assert thread is not None and os.sched_getaffinity(thread) == {cpu}
    cpu_before, wall_before = loop.cpu_seconds(), time.monotonic()
    time.sleep(0.5)
    busy = (loop.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
    assert busy < 0.1  # a busy-spinning thread would take the whole core it can get
    words = session.view(np.int64).reshape(len(session), -1)
    assert ring_kernels.publish_batch(*ring.arrays, words, len(words)) == len(words)
    assert loop.stop() == len(session)
    ring.close()


def test_a_cpu_the_process_may_not_run_on_is_refused_before_the_thread_starts() -> None:
    loop = EngineLoop(*_parts())
    ring = RingBus(1 << 10)
    with pytest.raises(ValueError, match="CPU 4096 is not one this process may run on"):
        loop.start(ring, ring.add_consumer(), cpu=4096)
    assert not loop.running
    ring.close()


def test_degraded_keeps_deciding_but_sends_nothing_to_the_venue(session: np.ndarray) -> None:
    pipeline, venue = _parts(LifecycleState.DEGRADED)
    loop = EngineLoop(pipeline, venue, block=BLOCK)
    assert loop.process(session) == 0
    assert venue.stats()["orders"] == 0
    assert pipeline.execution.counters()["provisional"] > 5


def test_a_running_loop_refuses_to_process_in_another_thread(session: np.ndarray) -> None:
    pipeline, venue = _parts()
    loop = EngineLoop(pipeline, venue)
    ring = RingBus(1 << 10)
    loop.start(ring, ring.add_consumer())
    with pytest.raises(RuntimeError, match="running"):
        loop.process(session[:10])
    with pytest.raises(RuntimeError, match="already running"):
        loop.start(ring, 0)
    loop.stop()
    ring.close()


def test_a_journaled_loop_records_every_input_and_output_in_order(
    session: np.ndarray, tmp_path: Path
) -> None:
    pipeline, venue = _parts()
    with Journal(tmp_path / "journal") as journal:
        loop = EngineLoop(pipeline, venue, block=BLOCK, journal=journal)
        loop.journal_on()
        sent = loop.process(session)
        journal.sync()
        counters = loop.counters()
        assert counters["journal_refused"] == 0
        types, seqs = [], []
        orders = []
        for batch in JournalReader(tmp_path / "journal"):
            types.extend(batch.types.tolist())
            seqs.extend(batch.seqs.tolist())
            orders.append(batch.records(RecordType.ORDER))
    assert seqs == list(range(len(seqs)))
    assert len(types) == counters["journaled"]
    assert types.count(RecordType.MARKET_EVENT) == len(session)
    assert types.count(RecordType.ORDER) == sent
    assert types.count(RecordType.ACK) == counters["reports"] + (
        pipeline.execution.counters()["decisions"] - sent
    )
    # Every order comes after the market event that triggered it.
    seen: set[int] = set()
    for batch in JournalReader(tmp_path / "journal"):
        for k in range(len(batch)):
            if batch.types[k] in (RecordType.MARKET_EVENT, RecordType.ORDER):
                record = np.frombuffer(batch.payload(k), record_dtype(int(batch.types[k])))[0]
                if batch.types[k] == RecordType.MARKET_EVENT:
                    seen.add(int(record["seq"]))
                else:
                    assert int(record["trigger_seq"]) in seen


def test_cancel_all_cancels_every_resting_order_at_the_venue_and_in_risk(
    session: np.ndarray,
) -> None:
    pipeline, venue = _parts()
    loop = EngineLoop(pipeline, venue, block=BLOCK)
    loop.process(session)
    resting = pipeline.execution.working_orders()
    assert resting
    assert loop.cancel_all() == len(resting)
    assert pipeline.execution.working_orders() == []
    assert pipeline.risk.working_orders() == []
    book = venue.engine.book(1)  # only our quotes ever rested there
    assert (book.bids, book.asks) == ([], [])


def test_the_engine_thread_carries_out_a_cancel_all_request(session: np.ndarray) -> None:
    pipeline, venue = _parts()
    loop = EngineLoop(pipeline, venue, block=BLOCK)
    loop.process(session)
    resting = len(pipeline.execution.working_orders())
    ring = RingBus(1 << 10)
    loop.start(ring, ring.add_consumer())
    request = loop.request_cancel_all()
    loop.stop()
    ring.close()
    counters = loop.counters()
    assert counters["cancel_all_done"] == request
    assert counters["cancels_sent"] == resting > 0
    assert pipeline.execution.working_orders() == []


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.mark.parametrize("hold", [True, False])
def test_a_journal_writer_behind_holds_the_engine_back_or_its_refusals_are_counted(
    session: np.ndarray, tmp_path: Path, hold: bool
) -> None:
    pipeline, venue = _parts()
    words = session.view(np.int64).reshape(len(session), -1)
    ring = RingBus(1 << 16)
    config = JournalConfig(ring_capacity=1 << 13)  # less than the session journals
    with Journal(tmp_path / "journal", config, start=False) as journal:
        loop = EngineLoop(pipeline, venue, block=64, journal=journal, hold_for_journal=hold)
        assert 0 < loop.journal_reserve <= config.ring_capacity // 2
        loop.journal_on()
        loop.start(ring, ring.add_consumer(policy="lossless"))
        assert ring_kernels.publish_batch(*ring.arrays, words, len(words)) == len(words)
        if hold:  # the writer is not running: the engine stops short of the journal's end
            _wait_for(lambda: loop.counters()["journal_held"] > 100, "the engine to hold")
            counters = loop.counters()
            assert counters["journal_refused"] == 0 and counters["events"] < len(session)
            assert journal.stats().back_pressured == 0
        else:  # the engine does not wait for the writer
            _wait_for(lambda: loop.counters()["events"] == len(session), "the ring to drain")
        journal.start()
        _wait_for(lambda: loop.counters()["events"] == len(session), "the ring to drain")
        loop.stop()
        journal.sync()
        types = np.concatenate([batch.types for batch in JournalReader(tmp_path / "journal")])
    ring.close()
    counters = loop.counters()
    if hold:
        assert counters["journal_refused"] == 0
        assert np.count_nonzero(types == RecordType.MARKET_EVENT) == len(session)
        assert len(types) == counters["journaled"]
    else:  # the engine never waited: what the full ring refused is counted, not journaled
        assert counters["journal_held"] == 0 and counters["journal_refused"] > 0
        assert len(types) == counters["journaled"]
        assert np.count_nonzero(types == RecordType.MARKET_EVENT) < len(session)


def _buffers(loop: EngineLoop) -> dict[str, np.ndarray]:
    return {name: np.zeros_like(array) for name, array in loop.state_arrays().items()}


def test_capture_pauses_the_engine_thread_at_a_block_boundary_and_journals_it(
    session: np.ndarray, tmp_path: Path
) -> None:
    pipeline, venue = _parts()
    words = session.view(np.int64).reshape(len(session), -1)
    half = len(session) // 2
    ring = RingBus(1 << 16)
    with Journal(tmp_path / "journal") as journal:
        loop = EngineLoop(pipeline, venue, block=64, journal=journal)
        loop.journal_on()
        loop.start(ring, ring.add_consumer(policy="lossless"))
        assert ring_kernels.publish_batch(*ring.arrays, words[:half], half) == half
        while loop.counters()["events"] == 0:  # the thread compiles its kernel first
            time.sleep(0.01)
        captured = _buffers(loop)
        boundary = loop.capture(captured)
        rest = len(session) - half
        assert ring_kernels.publish_batch(*ring.arrays, words[half:], rest) == rest
        loop.stop()
        journal.sync()
        batches = list(JournalReader(tmp_path / "journal"))
    ring.close()
    assert boundary.mark == 1 and 0 < boundary.events <= len(session)
    assert boundary.last_event_seq == session["seq"][boundary.events - 1]
    assert boundary.pause_ns > 0
    types = np.concatenate([b.types for b in batches])
    (mark,) = np.flatnonzero(types == lk.SNAPSHOT_MARK)
    assert np.count_nonzero(types[:mark] == RecordType.MARKET_EVENT) == boundary.events
    # The copy is the state after exactly the records before the mark.
    reference, reference_venue = _parts()
    EngineLoop(reference, reference_venue, block=BLOCK).process(session[: boundary.events])
    stamps = [ORDER_FIELDS.index(name) for name in ("decision_ns", "sent_ns", "last_ns")]
    copied = np.delete(captured["execution.orders"], stamps, axis=1)
    assert np.array_equal(copied, _decided(reference))
    assert np.array_equal(captured["books.level_qty"], reference.books.state.level_qty)


def test_a_restored_loop_continues_exactly_as_the_original(session: np.ndarray) -> None:
    original, original_venue = _parts()
    loop = EngineLoop(original, original_venue, block=BLOCK)
    loop.process(session[:3_000])
    captured = _buffers(loop)
    boundary = loop.capture(captured)
    assert (boundary.mark, boundary.events, boundary.pause_ns) == (0, 3_000, 0)  # no journal
    loop.process(session[3_000:])
    restored, restored_venue = _parts()
    again = EngineLoop(restored, restored_venue, block=BLOCK)
    # Counts the book derives are recounted, not trusted (older snapshots lack them).
    displaced = int(captured["books.counters"][G_DISPLACED])
    captured["books.counters"][G_DISPLACED] = displaced + 7
    again.restore(captured)
    assert restored.books.counters()["displaced"] == displaced
    again.process(session[3_000:])
    assert np.array_equal(_decided(restored), _decided(original))
    assert restored.risk.positions() == original.risk.positions()
    counts = [{k: v for k, v in venue.stats().items() if not k.endswith("_ns")}
              for venue in (restored_venue, original_venue)]  # fmt: skip
    assert counts[0] == counts[1] and counts[0]["acks"] > 0
    assert again.counters() == loop.counters()


def test_capture_into_a_buffer_of_another_shape_names_it_and_copies_nothing() -> None:
    loop = EngineLoop(*_parts(), block=BLOCK)
    captured = _buffers(loop)
    captured["books.level_qty"] = captured["books.level_qty"][:1]
    with pytest.raises(ValueError, match=r"capture buffer 'books\.level_qty'"):
        loop.capture(captured)
    assert loop.control[lk.L_PAUSE] == 0


def test_restoring_a_snapshot_of_another_configuration_names_the_array(
    session: np.ndarray,
) -> None:
    pipeline, venue = _parts()
    loop = EngineLoop(pipeline, venue, block=BLOCK)
    captured = _buffers(loop)
    loop.capture(captured)
    captured["books.level_qty"] = captured["books.level_qty"][:1]
    with pytest.raises(ValueError, match=r"books\.level_qty.*another configuration"):
        EngineLoop(*_parts(), block=BLOCK).restore(captured)
    del captured["books.level_qty"]
    with pytest.raises(ValueError, match=r"no array 'books\.level_qty'"):
        EngineLoop(*_parts(), block=BLOCK).restore(captured)
