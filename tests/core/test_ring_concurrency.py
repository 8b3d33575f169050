"""Concurrency: compiled nogil producer/consumer loops in threads, and consumers in child
processes attached to a shared ring by name.

Every consumer checks every word of every record it gets (a torn read would show), that each
batch continues exactly after the sequences it reports lost, and, at the end, that what it
consumed plus what it lost is exactly what was published — matching the ring's counters.
Under ``NUMBA_DISABLE_JIT=1`` the same tests run with smaller event counts.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time

import numpy as np
import pytest

from lowlat.core.ring import ConsumerState, Policy, WaitStrategy
from tests.core._ring_support import (
    CONSUMER_RESULT_SIZE,
    P_PUBLISHED,
    P_WRONG_SEQ,
    PRODUCER_RESULT_SIZE,
    R_BAD_CONTENT,
    R_LOSS_EVENTS,
    R_LOST,
    R_NEXT,
    R_OUT_OF_ORDER,
    R_RECEIVED,
    child_consume,
    consume,
    deadline_after,
    produce,
    scaled,
)

LOOP_SECONDS = 60  # each loop gives up after this; a hang becomes a failure, not a stall
JOIN_SECONDS = 90


class Loops:
    """Runs compiled producer/consumer loops on one ring, each in its own thread."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self.threads: list[threading.Thread] = []
        self.deadline = deadline_after(LOOP_SECONDS)

    def producer(self, n, *, batch=1, pause_every=0, pause_ns=0) -> np.ndarray:
        result = np.zeros(PRODUCER_RESULT_SIZE, np.int64)
        args = (*self.bus.arrays, n, batch, pause_every, pause_ns, self.deadline, result)
        self.threads.append(threading.Thread(target=produce, args=args, daemon=True))
        return result

    def consumer(self, consumer, n, *, batch, strategy, pause_ns=0) -> np.ndarray:
        result = np.zeros(CONSUMER_RESULT_SIZE, np.int64)
        args = (*self.bus.arrays, consumer, 0, n, batch, strategy, pause_ns, self.deadline, result)
        self.threads.append(threading.Thread(target=consume, args=args, daemon=True))
        return result

    def run(self) -> None:
        """Start consumers then the producer (in the order added); wait for all of them."""
        for thread in self.threads:
            thread.start()
        give_up = time.monotonic() + JOIN_SECONDS
        for thread in self.threads:
            thread.join(max(0.0, give_up - time.monotonic()))
        if any(thread.is_alive() for thread in self.threads):
            self.bus.request_stop()
            for thread in self.threads:
                thread.join(10)
            pytest.fail("a ring loop did not finish in time")


def assert_lossless(bus, consumer, result, n) -> None:
    assert result[R_BAD_CONTENT] == 0, "a record with torn or wrong content was returned"
    assert result[R_OUT_OF_ORDER] == 0, "a batch did not continue where the previous ended"
    assert (result[R_RECEIVED], result[R_LOST], result[R_NEXT]) == (n, 0, n)
    stats = bus.consumer_stats(consumer)
    assert (stats.consumed, stats.lost, stats.loss_events, stats.cursor) == (n, 0, 0, n)


def assert_losses_accounted(bus, consumer, result, n) -> None:
    assert result[R_BAD_CONTENT] == 0, "a record with torn or wrong content was returned"
    assert result[R_OUT_OF_ORDER] == 0, "a loss report did not match the sequences skipped"
    assert result[R_RECEIVED] + result[R_LOST] == n
    assert result[R_NEXT] == n
    stats = bus.consumer_stats(consumer)
    assert (stats.consumed, stats.lost, stats.loss_events) == (
        result[R_RECEIVED],
        result[R_LOST],
        result[R_LOSS_EVENTS],
    )
    assert stats.cursor == n


def assert_published(bus, producer, n) -> None:
    assert producer[P_PUBLISHED] == n
    assert producer[P_WRONG_SEQ] == 0
    assert bus.stats().published == n


# --- threads ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_threads_lossless_consumers_get_everything_and_overwrite_consumer_accounts_for_losses(
    ring_factory,
):
    n = scaled(2_000_000, 30_000)
    bus = ring_factory(1024, max_consumers=4)
    steady = bus.add_consumer(Policy.LOSSLESS)
    spinning = bus.add_consumer(Policy.LOSSLESS)
    lapped = bus.add_consumer(Policy.OVERWRITE)
    loops = Loops(bus)
    steady_result = loops.consumer(steady, n, batch=64, strategy=WaitStrategy.YIELD)
    spinning_result = loops.consumer(spinning, n, batch=256, strategy=WaitStrategy.BUSY_SPIN)
    lapped_result = loops.consumer(
        lapped,
        n,
        batch=16,
        strategy=WaitStrategy.SLEEP_BACKOFF,
        pause_ns=scaled(200_000, 2_000_000),  # at most 16 events per pause: lapped
    )
    producer = loops.producer(n)
    loops.run()
    assert_published(bus, producer, n)
    assert_lossless(bus, steady, steady_result, n)
    assert_lossless(bus, spinning, spinning_result, n)
    assert_losses_accounted(bus, lapped, lapped_result, n)
    assert lapped_result[R_LOST] > 0, "the slow overwrite consumer was never lapped"
    assert lapped_result[R_RECEIVED] > 0


@pytest.mark.slow
def test_threads_batch_producer_isolates_a_slow_lossless_consumer_and_its_losses_add_up(
    ring_factory,
):
    n = scaled(1_000_000, 30_000)
    bus = ring_factory(1024, max_consumers=3)
    fast = bus.add_consumer(Policy.LOSSLESS)
    slow = bus.add_consumer(Policy.LOSSLESS, lag_limit=512, isolate=True)
    loops = Loops(bus)
    fast_result = loops.consumer(fast, n, batch=32, strategy=WaitStrategy.YIELD)
    slow_result = loops.consumer(
        slow, n, batch=8, strategy=WaitStrategy.YIELD, pause_ns=scaled(100_000, 2_000_000)
    )
    producer = loops.producer(n, batch=32)
    loops.run()
    assert_published(bus, producer, n)
    assert_lossless(bus, fast, fast_result, n)
    assert_losses_accounted(bus, slow, slow_result, n)
    assert bus.consumer_stats(slow).state is ConsumerState.DETACHED
    assert bus.stats().isolations == 1
    assert slow_result[R_LOST] > 0


def test_threads_overwrite_consumer_racing_the_producer_on_a_tiny_ring_never_gets_a_torn_record(
    ring_factory,
):
    n = scaled(5_000_000, 30_000)
    bus = ring_factory(4, max_consumers=2)
    racer = bus.add_consumer(Policy.OVERWRITE)
    loops = Loops(bus)
    result = loops.consumer(racer, n, batch=4, strategy=WaitStrategy.BUSY_SPIN)
    producer = loops.producer(n)
    loops.run()
    assert_published(bus, producer, n)
    assert_losses_accounted(bus, racer, result, n)
    assert bus.stats().back_pressured == 0


# --- processes -------------------------------------------------------------------------------


def run_child_consumer(bus, consumer, n, *, batch, strategy, child_pause_ns, **producer_kw):
    """Start a 'spawn' child consuming from ``bus``; produce ``n`` events; return its report."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    results = context.Queue()
    child = context.Process(
        target=child_consume,
        args=(
            bus.shared_name,
            consumer,
            n,
            batch,
            strategy,
            child_pause_ns,
            LOOP_SECONDS,
            ready,
            results,
        ),
        daemon=True,
    )
    child.start()
    try:
        if not ready.wait(JOIN_SECONDS):
            pytest.fail(f"child did not start: {_drain(results)}")
        producer = np.zeros(PRODUCER_RESULT_SIZE, np.int64)
        produce(*bus.arrays, n, 1, *_pacing(producer_kw), deadline_after(LOOP_SECONDS), producer)
        assert_published(bus, producer, n)
        report = results.get(timeout=JOIN_SECONDS)
        assert isinstance(report, dict), f"child failed: {report}"
        child.join(JOIN_SECONDS)
        assert child.exitcode == 0
        return report
    finally:
        if child.is_alive():
            bus.request_stop()
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()


def _pacing(producer_kw) -> tuple[int, int]:
    return producer_kw.get("pause_every", 0), producer_kw.get("pause_ns", 0)


def _drain(results) -> object:
    try:
        return results.get(timeout=1)
    except queue.Empty:
        return "no report"


@pytest.mark.slow
def test_lossless_consumer_in_a_child_process_receives_every_record_in_order(
    ring_factory, shm_name
):
    n = scaled(2_000_000, 30_000)
    bus = ring_factory(1024, shared_name=shm_name)
    consumer = bus.add_consumer(Policy.LOSSLESS)
    report = run_child_consumer(
        bus, consumer, n, batch=256, strategy=WaitStrategy.YIELD, child_pause_ns=0
    )
    result = report["result"]
    assert result[R_BAD_CONTENT] == 0
    assert result[R_OUT_OF_ORDER] == 0
    assert (result[R_RECEIVED], result[R_LOST], result[R_NEXT]) == (n, 0, n)
    assert (report["consumed"], report["lost"], report["loss_events"]) == (n, 0, 0)
    assert_lossless(bus, consumer, np.array(result), n)


@pytest.mark.slow
def test_overwrite_consumer_in_a_child_process_lapped_by_the_producer_accounts_for_every_loss(
    ring_factory, shm_name
):
    n = scaled(2_000_000, 30_000)
    bus = ring_factory(256, shared_name=shm_name)
    consumer = bus.add_consumer(Policy.OVERWRITE)
    report = run_child_consumer(
        bus,
        consumer,
        n,
        batch=32,
        strategy=WaitStrategy.SLEEP_BACKOFF,
        child_pause_ns=scaled(20_000, 2_000_000),
        pause_every=1024,
        pause_ns=50_000,
    )
    result = report["result"]
    assert result[R_BAD_CONTENT] == 0, "a torn record was returned"
    assert result[R_OUT_OF_ORDER] == 0
    assert result[R_RECEIVED] + result[R_LOST] == n
    assert result[R_LOST] > 0, "the child was never lapped"
    assert result[R_RECEIVED] >= 256
    assert (report["consumed"], report["lost"], report["loss_events"]) == (
        result[R_RECEIVED],
        result[R_LOST],
        result[R_LOSS_EVENTS],
    )
    assert_losses_accounted(bus, consumer, np.array(result), n)
