"""The engine thread's compiled loop: ring → decision path → venue → reports. Hot path.

:func:`process_block` runs a block of market events the whole way in one thread:
:func:`~lowlat.execution.pipeline_kernels.tick_to_order` (book, signals, strategy,
breaker gate, risk, decision gate), the circuit breakers on the mid changes it emitted,
the in-process venue gateway (:func:`~lowlat.venue.gateway_kernels.route`, its latency
and fault models) for the orders that left, and the venue's reports back into the order
lifecycle and risk (open orders, positions, PnL). :func:`run_from_ring` is the engine
thread: it polls the feed's ring and processes each block, until the control cell's stop
word is set, never waiting on anything but the ring.

Every output the control plane may want (breaker changes, acks for the strategy and the
journal) lands in the preallocated :class:`~lowlat.execution.loop.LoopScratch` and is
counted in ``control``; the block's results are overwritten by the next block, so a
caller that wants them reads them between calls to :func:`process_block`.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import cpu_relax, load_acquire, store_release
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import hot_kernel
from lowlat.core.ring.kernels import poll_batch
from lowlat.execution.kernels import on_reports
from lowlat.execution.pipeline_kernels import tick_to_order
from lowlat.risk.kernels import on_ack, on_fill
from lowlat.venue.gateway_kernels import route

__all__ = [
    "LOOP_WORDS",
    "L_BLOCKS",
    "L_BREAKER_CHANGES",
    "L_CONSUMED",
    "L_EVENTS",
    "L_EXEC_ACKS",
    "L_FILLS",
    "L_LOST",
    "L_ORDERS",
    "L_REPORTS",
    "L_STALLED_ROUTES",
    "L_STOP",
    "process_block",
    "run_from_ring",
]

# control[L_*]: the stop word the control plane writes, and counters only the loop writes.
L_STOP = 0
L_EVENTS = 1  # records polled from the ring
L_CONSUMED = 2  # records the books consumed
L_BLOCKS = 3
L_ORDERS = 4  # orders sent to the venue
L_REPORTS = 5  # venue reports (acks) applied
L_FILLS = 6
L_EXEC_ACKS = 7  # acks of orders the reports moved
L_BREAKER_CHANGES = 8
L_LOST = 9  # feed records this consumer lost to the producer lapping it (overwrite policy)
L_STALLED_ROUTES = 10  # venue batches that did not fit the scratch space (not sent on)
LOOP_WORDS = 16


@hot_kernel
def process_block(
    book,
    signals,
    ex,
    lifecycle: np.ndarray,
    risk,
    breakers,
    strategy,
    params: np.ndarray,
    memory: np.ndarray,
    venue,
    gateway,
    events: np.ndarray,
    n: int,
    patterns: np.ndarray,
    intents: np.ndarray,
    outbound: np.ndarray,
    decision_acks: np.ndarray,
    ticks: np.ndarray,
    breaker_changes: np.ndarray,
    reports: np.ndarray,
    venue_acks: np.ndarray,
    venue_fills: np.ndarray,
    exec_acks: np.ndarray,
    control: np.ndarray,
) -> int:
    """Run ``events[:n]`` through the decision path and the venue; return orders sent.

    A record's orders reach the venue, and the venue's answers the order lifecycle and
    risk, before the next record is decided on (``tick_to_order`` stops after a record
    that sent); the breakers judge its mid change at once. So what is decided does not
    depend on how the records were grouped into blocks — a replay decides as the live
    run did.
    """
    total = 0
    i = 0
    while i < n:
        i, consumed, sent, _acked, _moved, changed = tick_to_order(
            book, signals, ex, lifecycle, risk, breakers, strategy, params, memory,
            events, i, n, patterns, intents, outbound, decision_acks, ticks, breaker_changes,
            True,
        )  # fmt: skip
        control[L_CONSUMED] += consumed
        control[L_BREAKER_CHANGES] += changed
        start = 0
        while start < sent:
            routed, n_acks, n_fills = route(
                venue, gateway, outbound, start, sent, reports, venue_acks, venue_fills
            )
            if routed == start:
                control[L_STALLED_ROUTES] += 1
                break
            start = routed
            now = monotonic_ns()
            control[L_EXEC_ACKS] += on_reports(ex, venue_acks, n_acks, now, exec_acks, 0)
            for k in range(n_acks):
                on_ack(risk, venue_acks, k)
            for k in range(n_fills):
                on_fill(risk, venue_fills, k)
            control[L_REPORTS] += n_acks
            control[L_FILLS] += n_fills
        control[L_ORDERS] += sent
        total += sent
    control[L_BLOCKS] += 1
    return total


@hot_kernel
def run_from_ring(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    block_words: np.ndarray,
    block: np.ndarray,
    book,
    signals,
    ex,
    lifecycle: np.ndarray,
    risk,
    breakers,
    strategy,
    params: np.ndarray,
    memory: np.ndarray,
    venue,
    gateway,
    patterns: np.ndarray,
    intents: np.ndarray,
    outbound: np.ndarray,
    decision_acks: np.ndarray,
    ticks: np.ndarray,
    breaker_changes: np.ndarray,
    reports: np.ndarray,
    venue_acks: np.ndarray,
    venue_fills: np.ndarray,
    exec_acks: np.ndarray,
    control: np.ndarray,
) -> int:
    """Poll the ring as ``consumer`` and process every block until ``control[L_STOP]`` is set.

    ``block_words`` is ``block`` (``MARKET_EVENT_DTYPE``) viewed as int64 words, the form
    the ring copies into. Busy-polls: the engine thread owns its core. Returns the number
    of records processed. The stop word is checked only when the ring is empty, so every
    record published before the stop is processed.
    """
    total = 0
    capacity = block.shape[0]
    while True:
        # Read the stop word before polling: whatever was published before the stop was
        # stored is then visible to this poll, so an empty poll after it means drained.
        stopping = load_acquire(control, L_STOP) != 0
        count, _first, lost = poll_batch(header, stamps, slots, consumer, block_words, capacity)
        if lost > 0:
            control[L_LOST] += lost
        if count == 0:
            if stopping:
                return total
            cpu_relax()
            continue
        process_block(
            book, signals, ex, lifecycle, risk, breakers, strategy, params, memory, venue,
            gateway, block, count, patterns, intents, outbound, decision_acks, ticks,
            breaker_changes, reports, venue_acks, venue_fills, exec_acks, control,
        )  # fmt: skip
        total += count
        store_release(control, L_EVENTS, control[L_EVENTS] + count)
