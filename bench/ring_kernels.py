"""Compiled producer and consumer loops for the ring benchmarks, plus the consumer process.

The loops run whole measurements inside ``nogil`` compiled code, so Python does no
per-event work and threads run truly in parallel. Each record carries its sequence in
word 0, the producer's monotonic publish time in word 1 and the complement of the
sequence in the last word, so that the consumer can verify order, completeness and
untorn data for every event.

This module is also what a consumer child process imports (with the 'spawn' start
method): it depends on NumPy, Numba and the ring only.
"""

from __future__ import annotations

import sys
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection

import numpy as np
from numba import njit

from lowlat.core.atomics import cpu_relax, load_acquire
from lowlat.core.clock import monotonic_ns
from lowlat.core.ring import kernels
from lowlat.core.ring.bus import RingBus
from lowlat.core.ring.layout import (
    C_CURSOR,
    CONSUMER_BASE,
    CONSUMER_STRIDE,
    H_PUBLISH_CURSOR,
    H_SLOT_WORDS,
    H_STOP,
    WaitStrategy,
)

_jit = njit(nogil=True, cache=True)

BUSY_SPIN = int(WaitStrategy.BUSY_SPIN)  # plain ints: an IntEnum argument would compile anew
YIELD = int(WaitStrategy.YIELD)
WORD_SEQ = 0
WORD_STAMP = 1
DEFAULT_TIMEOUT_NS = 10_000_000_000  # give up after 10 s without progress: never hang
_CHECK_EVERY = 1024  # idle rounds between (costly) stop-flag and deadline checks
STALL_PROBE_WARMUP_THRESHOLD_NS = 5_000
SPIN_LIMIT = 4096  # idle rounds before yielding the core: the peer may share it (2 cores)


@_jit
def _idle(strategy: int, attempt: int) -> None:
    """Idle per ``strategy``, but yield once ``SPIN_LIMIT`` rounds passed in vain.

    A thread spinning for its peer while that peer waits for the same core (more busy
    threads than cores, or a noisy neighbour) would burn a whole time slice; yielding
    then costs nothing when the peer does run, since it frees a slot within microseconds.
    """
    kernels.idle(strategy if attempt < SPIN_LIMIT else YIELD, attempt)


@_jit
def stall_fraction(duration_ns: int, threshold_ns: int) -> tuple[float, int]:
    """Read the clock in a tight loop; return the share of time lost in gaps > threshold.

    A gap between two consecutive reads is time this thread did not run: an interrupt,
    a preemption, the hypervisor. No cross-thread latency percentile can beat the share
    of time a lone thread spends stalled, so this is the platform's noise floor.
    """
    start = monotonic_ns()
    last = start
    stalled = 0
    stalls = 0
    while last - start < duration_ns:
        now = monotonic_ns()
        if now - last > threshold_ns:
            stalled += now - last
            stalls += 1
        last = now
    return stalled / (last - start), stalls


@_jit
def produce(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    events: int,
    batch: int,
    interval_ns: int,
    strategy: int,
    timeout_ns: int,
) -> tuple[int, int, int]:
    """Publish ``events`` records in batches of ``batch``, retrying on back-pressure.

    With ``interval_ns > 0`` the producer paces itself: it spins on the clock so that
    batches start at least ``interval_ns`` apart. When back-pressured it idles per
    ``strategy`` (``BUSY_SPIN``: ``cpu_relax``; see ``_idle``) and retries; it never drops
    an event.
    Batch 1 uses the single-event ``publish`` kernel, larger batches ``publish_batch``.

    Returns
    -------
    (published, start_ns, retries)
        Events published (short of ``events`` only on stop flag or ``timeout_ns`` without
        progress), the monotonic time of the first publish attempt, and how many publish
        calls were refused by back-pressure.
    """
    words = header[H_SLOT_WORDS]
    rows = np.zeros((batch, words), dtype=np.int64)
    first_seq = header[H_PUBLISH_CURSOR]  # single producer: nobody else moves it
    start = monotonic_ns()
    due = start
    done = 0
    retries = 0
    while done < events:
        n = min(batch, events - done)
        now = monotonic_ns()
        if interval_ns > 0:
            while now < due:
                cpu_relax()
                now = monotonic_ns()
            due = now + interval_ns
        for i in range(n):
            seq = first_seq + done + i
            rows[i, WORD_SEQ] = seq
            rows[i, WORD_STAMP] = now
            rows[i, words - 1] = ~seq
        sent = 0
        attempt = 0
        stalled_since = now
        while sent < n:
            if n == 1:
                accepted = 1 if kernels.publish(header, stamps, slots, rows[0]) >= 0 else 0
            else:
                accepted = kernels.publish_batch(header, stamps, slots, rows[sent:], n - sent)
            if accepted > 0:
                sent += accepted
                attempt = 0
                continue
            retries += 1
            attempt += 1
            if attempt % _CHECK_EVERY == 0:
                clock = monotonic_ns()
                if attempt == _CHECK_EVERY:
                    stalled_since = clock
                if load_acquire(header, H_STOP) != 0 or clock - stalled_since > timeout_ns:
                    return done + sent, start, retries
            _idle(strategy, attempt)
        done += n
    return done, start, retries


@_jit
def consume(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    events: int,
    max_batch: int,
    strategy: int,
    timeout_ns: int,
    latencies: np.ndarray,
) -> tuple[int, int, int, int]:
    """Poll until ``events`` records arrived, checking each one; optionally time them.

    Every event must arrive exactly once, in sequence order, untorn: a gap, a loss, a
    repeat or a payload that does not match its sequence counts as one error each. When
    ``latencies`` has room for ``events`` values, ``latencies[k]`` receives the k-th
    event's publish→poll latency (clock at poll return minus the producer's stamp).

    Returns
    -------
    (received, errors, first_bad_seq, end_ns)
        ``first_bad_seq`` is the first sequence found wrong (-1 if none); ``end_ns`` the
        monotonic time the last event was received. Events still missing when the stop
        flag is set or ``timeout_ns`` passes without progress count as errors.
    """
    words = header[H_SLOT_WORDS]
    out = np.empty((max_batch, words), dtype=np.int64)
    record = latencies.shape[0] >= events
    expected = header[CONSUMER_BASE + CONSUMER_STRIDE * consumer + C_CURSOR]
    received = 0
    errors = 0
    first_bad = -1
    end = monotonic_ns()
    attempt = 0
    while received < events:
        count, first_seq, lost = kernels.poll_batch(
            header, stamps, slots, consumer, out, min(max_batch, events - received)
        )
        if count == 0 and lost == 0:
            attempt += 1
            if attempt % _CHECK_EVERY == 0 and (
                load_acquire(header, H_STOP) != 0 or monotonic_ns() - end > timeout_ns
            ):
                return received, errors + events - received, first_bad, end
            _idle(strategy, attempt)
            continue
        attempt = 0
        end = monotonic_ns()
        if lost > 0 or first_seq != expected:
            errors += lost if lost > 0 else 1
            if first_bad < 0:
                first_bad = expected
        for i in range(count):
            seq = first_seq + i
            if out[i, WORD_SEQ] != seq or out[i, words - 1] != ~seq:
                errors += 1
                if first_bad < 0:
                    first_bad = seq
            if record:
                latencies[received + i] = end - out[i, WORD_STAMP]
        received += count
        expected = first_seq + count
    return received, errors, first_bad, end


@_jit
def hop_latencies(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    block: int,
    stamp_word: int,
    latencies: np.ndarray,
    timeout_ns: int,
) -> int:
    """Take ``latencies.shape[0]`` records in blocks of up to ``block``, doing nothing with them.

    ``latencies[k]`` = the clock when the k-th record's block came off the ring minus the
    record's word ``stamp_word`` (the producer's stamp). Busy-spins. This is a paced path's
    floor on this machine: the same producer, ring, block size and cores as the real
    consumer, with no work per record, so the tail it shows is the platform's stalls and
    the bursts they leave. Returns how many records arrived (fewer only after ``timeout_ns``
    without one).
    """
    out = np.empty((block, header[H_SLOT_WORDS]), dtype=np.int64)
    total = latencies.shape[0]
    received = 0
    last = monotonic_ns()
    while received < total:
        count, _, _ = kernels.poll_batch(
            header, stamps, slots, consumer, out, min(block, total - received)
        )
        now = monotonic_ns()
        if count == 0:
            if now - last > timeout_ns:
                return received
            continue
        last = now
        for i in range(count):
            latencies[received + i] = now - out[i, stamp_word]
        received += count
    return received


def warm_up() -> None:
    """Compile (or load from cache) both loops, so that no measurement includes the JIT."""
    bus = RingBus(2)
    consumer = bus.add_consumer()
    produce(*bus.arrays, 1, 1, 0, BUSY_SPIN, DEFAULT_TIMEOUT_NS)
    consume(*bus.arrays, consumer, 1, 1, BUSY_SPIN, DEFAULT_TIMEOUT_NS, np.empty(0, np.int64))
    stall_fraction(1_000, STALL_PROBE_WARMUP_THRESHOLD_NS)


def consumer_process(ring_name: str, consumer: int, conn: Connection) -> None:
    """Child-process entry: attach to a shared ring and consume on request.

    Protocol over ``conn``: the child sends ``"ready"`` once attached and compiled; then,
    for each ``(events, max_batch)`` it receives, it sends ``"go"`` right before entering
    the loop and ``(received, errors, first_bad_seq, end_ns)`` after it. ``None`` ends it.
    """
    warm_up()
    bus = RingBus.attach(ring_name)
    if sys.version_info < (3, 13):
        # attach() unregisters the block from the resource tracker, but a 'spawn' child
        # shares its parent's tracker: register it again, or the creator's unlink fails.
        resource_tracker.register(f"/{ring_name}", "shared_memory")
    empty = np.empty(0, dtype=np.int64)
    try:
        conn.send("ready")
        while (request := conn.recv()) is not None:
            events, max_batch = request
            conn.send("go")
            result = consume(
                *bus.arrays,
                consumer,
                events,
                max_batch,
                BUSY_SPIN,
                DEFAULT_TIMEOUT_NS,
                empty,
            )
            conn.send(tuple(int(v) for v in result))
    finally:
        bus.close()
        conn.close()
