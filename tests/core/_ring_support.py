"""Helpers for the ring tests: record encoding, compiled producer/consumer loops, process workers.

Every test record encodes its sequence number in all of its int64 words (word ``w`` of
sequence ``s`` is ``s ^ (w * WORD_MIX)``; word 0, the ``seq`` field, is ``s`` itself), so a
record mixing words of two sequences — a torn read — never passes :func:`record_ok`.

The loops are ``njit(nogil=True)``: threads running them run in parallel. Under
``NUMBA_DISABLE_JIT=1`` they run as Python (holding the GIL), so tests scale their event
counts with :func:`scaled`. Each loop has a deadline so that a bug makes a test fail, not hang.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from numba import njit

from lowlat.core.atomics import load_acquire
from lowlat.core.clock import monotonic_ns
from lowlat.core.ring import BACK_PRESSURED, RingBus, kernels
from lowlat.core.ring.layout import H_STOP
from lowlat.core.sched import sleep_ns, yield_thread

JIT = not numba.config.DISABLE_JIT
WORD_MIX = 0x5DEECE66D
NS_PER_S = 1_000_000_000

# indices of the result arrays the loops fill
P_PUBLISHED, P_REFUSED, P_WRONG_SEQ = 0, 1, 2
R_RECEIVED, R_LOST, R_LOSS_EVENTS, R_BAD_CONTENT, R_OUT_OF_ORDER, R_NEXT = range(6)
PRODUCER_RESULT_SIZE = 3
CONSUMER_RESULT_SIZE = 6


def scaled(jit: int, interpreted: int) -> int:
    """``jit`` when kernels are compiled, else the smaller ``interpreted`` count."""
    return jit if JIT else interpreted


def deadline_after(seconds: float) -> int:
    """A ``monotonic_ns`` deadline ``seconds`` from now."""
    return time.monotonic_ns() + int(seconds * NS_PER_S)


@njit(nogil=True, cache=True)
def fill_words(words: np.ndarray, seq: int) -> None:
    """Encode ``seq`` into every word of ``words``."""
    for w in range(words.shape[0]):
        words[w] = seq ^ (w * WORD_MIX)


@njit(nogil=True, cache=True)
def record_ok(words: np.ndarray, seq: int) -> bool:
    """Whether ``words`` is exactly the record :func:`fill_words` makes for ``seq``."""
    for w in range(words.shape[0]):  # noqa: SIM110 (a plain loop compiles best)
        if words[w] != seq ^ (w * WORD_MIX):
            return False
    return True


def make_record(bus: RingBus, seq: int) -> np.ndarray:
    """A one-record array of ``bus``'s dtype encoding ``seq``."""
    record = bus.new_batch(1)
    fill_words(record.view(np.int64), seq)
    return record


def publish_seq(bus: RingBus, seq: int) -> int:
    """Publish the record for ``seq``; return what ``bus.publish`` returns."""
    return bus.publish(make_record(bus, seq)[0])


def batch_seqs(out: np.ndarray, count: int) -> list[int]:
    """Sequence numbers of the first ``count`` records of ``out``, checking their content."""
    words = out.view(np.int64).reshape(len(out), out.dtype.itemsize // 8)
    seqs = [int(s) for s in words[:count, 0]]
    for row, seq in zip(words[:count], seqs, strict=True):
        assert record_ok(row, seq), f"record {seq} has corrupted words {row.tolist()}"
    return seqs


# --- compiled loops ------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def produce(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    n: int,
    batch: int,
    pause_every: int,
    pause_ns: int,
    deadline_ns: int,
    result: np.ndarray,
) -> None:
    """Publish sequences ``0 .. n-1``, ``batch`` at a time, yielding while back-pressured.

    Sleeps ``pause_ns`` after every ``pause_every`` events (0: never). While refused it
    yields, then sleeps a little (interpreted, a yield may not hand over the GIL). Stops
    early at the deadline or on the ring's stop flag. Fills ``result[P_*]``.
    """
    rows = np.empty((batch, slots.shape[1]), np.int64)
    published = 0
    refused = 0
    refused_in_a_row = 0
    wrong_seq = 0
    while published < n:
        want = min(batch, n - published)
        for r in range(want):
            fill_words(rows[r], published + r)
        if batch == 1:
            seq = kernels.publish(header, stamps, slots, rows[0])
            if seq == BACK_PRESSURED:
                done = 0
            else:
                done = 1
                if seq != published:
                    wrong_seq += 1
        else:
            done = kernels.publish_batch(header, stamps, slots, rows, want)
        if done < want:
            refused += 1
        if done == 0:
            if load_acquire(header, H_STOP) != 0 or monotonic_ns() > deadline_ns:
                break
            refused_in_a_row += 1
            if refused_in_a_row < 64:
                yield_thread()
            else:
                sleep_ns(20_000)
        else:
            refused_in_a_row = 0
        before = published
        published += done
        if pause_every > 0 and published // pause_every != before // pause_every:
            sleep_ns(pause_ns)
    result[P_PUBLISHED] = published
    result[P_REFUSED] = refused
    result[P_WRONG_SEQ] = wrong_seq


@njit(nogil=True, cache=True)
def consume(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    start: int,
    n: int,
    batch: int,
    strategy: int,
    pause_ns: int,
    deadline_ns: int,
    result: np.ndarray,
) -> None:
    """Read until sequence ``n - 1`` has been received or lost, checking every record.

    Expects to start at sequence ``start``. Every batch must continue exactly where the
    previous one ended, after the ``lost`` sequences it reports. Sleeps ``pause_ns`` after
    each batch (a deliberately slow consumer). Fills ``result[R_*]``.
    """
    out = np.empty((batch, slots.shape[1]), np.int64)
    received = 0
    lost_total = 0
    loss_events = 0
    bad_content = 0
    out_of_order = 0
    expected = start
    while expected < n:
        count, first, lost = kernels.poll_batch_wait(
            header, stamps, slots, consumer, out, batch, strategy, 10_000_000
        )
        if count == 0 and lost == 0:
            if load_acquire(header, H_STOP) != 0 or monotonic_ns() > deadline_ns:
                break
            continue
        if first - lost != expected:
            out_of_order += 1
        if lost > 0:
            lost_total += lost
            loss_events += 1
        for i in range(count):
            if not record_ok(out[i], first + i):
                bad_content += 1
        received += count
        expected = first + count
        if pause_ns > 0:
            sleep_ns(pause_ns)
    result[R_RECEIVED] = received
    result[R_LOST] = lost_total
    result[R_LOSS_EVENTS] = loss_events
    result[R_BAD_CONTENT] = bad_content
    result[R_OUT_OF_ORDER] = out_of_order
    result[R_NEXT] = expected


# --- process workers (module-level so that 'spawn' children can import them) ---------------


def child_consume(
    name: str,
    consumer: int,
    n: int,
    batch: int,
    strategy: int,
    pause_ns: int,
    seconds: float,
    ready: object,
    results: object,
) -> None:
    """Attach to ring ``name`` and run :func:`consume`; put the outcome on ``results``.

    Sets the ``ready`` event once attached and compiled. Puts a dict of the loop's result
    and the consumer's header counters, or the exception's repr if anything failed.
    """
    try:
        bus = RingBus.attach(name)
        try:
            result = np.zeros(CONSUMER_RESULT_SIZE, np.int64)
            # A first call with n = start returns at once: it loads the compiled loop.
            consume(*bus.arrays, consumer, n, n, batch, strategy, 0, 0, result)
            ready.set()  # type: ignore[attr-defined]
            deadline = deadline_after(seconds)
            consume(*bus.arrays, consumer, 0, n, batch, strategy, pause_ns, deadline, result)
            stats = bus.consumer_stats(consumer)
            results.put(  # type: ignore[attr-defined]
                {
                    "result": result.tolist(),
                    "consumed": stats.consumed,
                    "lost": stats.lost,
                    "loss_events": stats.loss_events,
                    "torn_reads": stats.torn_reads,
                }
            )
        finally:
            bus.close()
    except BaseException as exc:
        results.put(repr(exc))  # type: ignore[attr-defined]
        raise
