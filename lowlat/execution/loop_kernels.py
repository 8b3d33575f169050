"""The engine thread's compiled loop: ring → decision path → venue → reports. Hot path.

:func:`process_block` runs a block of market events the whole way in one thread:
:func:`~lowlat.execution.pipeline_kernels.tick_to_order` (book, signals, strategy,
breaker gate, risk, decision gate), the circuit breakers on the mid changes it emitted,
the in-process venue gateway (:func:`~lowlat.venue.gateway_kernels.route`, its latency
and fault models) for the orders that left, and the venue's reports back into the order
lifecycle and risk (open orders, positions, PnL). :func:`run_from_ring` is the engine
thread: it polls the feed's ring and processes each block, until the control cell's stop
word is set, never waiting on anything but the ring.

Every buffer is the preallocated :class:`~lowlat.execution.loop.LoopScratch` (``s``);
``control`` holds the words the control plane writes (stop, journaling on, cancel-all
requests) and the loop's counters. The loop samples stage latencies into the control
plane's metrics (INGEST: receive → polled; DECISION: trigger received → order past the
gate; SEND: the venue call; ACK: the venue's latency as its reports stamp it) and hands
every input and output to the journal ring, in order, when journaling is on — a refused
hand-off (the writer a full ring behind) is counted, never waited for.
"""

from __future__ import annotations

import numpy as np

from lowlat.control.metrics.kernels import sample
from lowlat.control.stages import Stage
from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import ZERO, hot_kernel, hot_kernel_inline, hot_kernel_inline_ir
from lowlat.core.records import OrderAction
from lowlat.core.ring import WaitStrategy
from lowlat.core.ring.kernels import has_room, idle, poll_batch
from lowlat.execution.kernels import on_reports, submit
from lowlat.execution.layout import (
    C_ENGINE_MARK_NS,
    C_NEXT_ID,
    O_ACCOUNT,
    O_ID,
    O_INSTRUMENT,
    O_SIDE,
    O_STATE,
)
from lowlat.execution.pipeline_kernels import tick_to_order
from lowlat.execution.states import OrderState
from lowlat.journal.format import USER_TYPES, RecordType
from lowlat.journal.kernels import prefetch_slots, publish_batch
from lowlat.risk.kernels import check_order, on_ack, on_fill
from lowlat.venue.gateway_kernels import route

__all__ = [
    "CANCEL_ALL_MARK",
    "CONTROL_CELLS",
    "ENGINE_STATE",
    "LOOP_WORDS",
    "L_BLOCKS",
    "L_BREAKER_CHANGES",
    "L_CANCELS_SENT",
    "L_CANCEL_ALL",
    "L_CANCEL_ALL_DONE",
    "L_CAPTURED",
    "L_CONSUMED",
    "L_EVENTS",
    "L_EXEC_ACKS",
    "L_FILLS",
    "L_JOURNAL",
    "L_JOURNALED",
    "L_JOURNAL_HELD",
    "L_JOURNAL_REFUSED",
    "L_JOURNAL_RESERVE",
    "L_LAST_EVENT_SEQ",
    "L_LOST",
    "L_ORDERS",
    "L_PATTERNS",
    "L_PAUSE",
    "L_PAUSED",
    "L_PAUSE_NS",
    "L_REPORTS",
    "L_STALLED_ROUTES",
    "L_STOP",
    "L_WAIT",
    "RISK_CONTROL",
    "SNAPSHOT_MARK",
    "VENUE_FPARAMS",
    "VENUE_IPARAMS",
    "VENUE_VOLATILE",
    "cancel_working",
    "copy_state",
    "journal_mark",
    "process_block",
    "route_and_apply",
    "run_from_ring",
]

# control[L_*]: words the control plane writes (stop, journaling, cancel-all), and
# counters only the loop writes.
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
L_JOURNAL = 11  # control: 1 = hand every input and output to the journal ring
L_JOURNALED = 12  # records handed to the journal ring
L_JOURNAL_REFUSED = 13  # records the journal ring refused (its writer a full ring behind)
L_CANCEL_ALL = 14  # control: requests to cancel every working order (the kill switch)
L_CANCEL_ALL_DONE = 15  # requests carried out
L_CANCELS_SENT = 16  # cancels sent by them
L_PAUSE = 17  # control: requests to pause at the next block boundary (a snapshot)
L_PAUSED = 18  # the last request the loop paused for (its number is in the copy)
L_CAPTURED = 19  # the last request whose copy of the state is complete
L_LAST_EVENT_SEQ = 20  # sequence of the last market event processed (-1: none yet)
L_WAIT = 21  # control: how the loop idles on an empty ring (a ``WaitStrategy``)
L_PATTERNS = 22  # pattern events the path's patterns fired
L_JOURNAL_RESERVE = 23  # control: journaling, poll only while the journal ring has this room
L_JOURNAL_HELD = 24  # polls put off because the journal ring had less room (its writer behind)
L_PAUSE_NS = 25  # how long the last pause for a snapshot stopped the loop (ns)
LOOP_WORDS = 32

#: Journal type of the engine's lifecycle view changing (64 bytes: the state, the sequence
#: of the record it applies from): a replay sets its view at the same record.
ENGINE_STATE = USER_TYPES + 1
#: Journal type of a snapshot's boundary (64 bytes: the pause request, the sequence of the
#: last market event processed before it, the records processed): every engine record
#: before it in the journal is in the snapshot, none after it.
SNAPSHOT_MARK = USER_TYPES + 2
#: Journal type of a cancel-all carried out (64 bytes, as SNAPSHOT_MARK): the cancels
#: journaled after it are its; a replay cancels every working order at the same place.
CANCEL_ALL_MARK = USER_TYPES + 3
#: Journal types of the control cells the path reads changing by the control plane's hand
#: (64 bytes: the cell's words, zero-padded): the risk control words (the kill switch), the
#: venue's integer and float parameters and its volatility flag (failure injection). A
#: replay sets them at the same record.
RISK_CONTROL = USER_TYPES + 4
VENUE_IPARAMS = USER_TYPES + 5
VENUE_FPARAMS = USER_TYPES + 6
VENUE_VOLATILE = USER_TYPES + 7
CONTROL_CELLS = (RISK_CONTROL, VENUE_IPARAMS, VENUE_FPARAMS, VENUE_VOLATILE)

_MARKET_EVENT = RecordType.MARKET_EVENT.value
_ORDER = RecordType.ORDER.value
_ACK = RecordType.ACK.value
_FILL = RecordType.FILL.value
_BREAKER = RecordType.BREAKER.value
_PATTERN = RecordType.PATTERN.value
_INGEST = Stage.INGEST.value
_DECISION = Stage.DECISION.value
_SEND = Stage.SEND.value
_ACK_STAGE = Stage.ACK.value
_CANCEL = OrderAction.CANCEL.value
_ACKED = OrderState.ACKED.value
_PARTIAL = OrderState.PARTIAL.value
_YIELD = WaitStrategy.YIELD.value
_OUTPUT_SLACK = 4  # journal entries prefetched beyond a block's records: its orders and acks


@hot_kernel_inline
def _journal(journal, control: np.ndarray, rtype: int, now: int, rows: np.ndarray, n: int) -> None:
    """Hand ``rows[:n]`` (int64 words of 64-byte records) to the journal ring, if journaling."""
    if n > 0 and control[L_JOURNAL] != 0:
        done = publish_batch(
            journal.header, journal.stamps, journal.slots, rtype, now, rows, ZERO, n
        )
        control[L_JOURNALED] += done
        control[L_JOURNAL_REFUSED] += n - done


@hot_kernel_inline
def route_and_apply(
    ex, risk, venue, gateway, s, sent: int, control: np.ndarray, metrics, journal
) -> None:
    """Send ``s.outbound[:sent]`` to the venue; apply its reports to the lifecycle and risk.

    Inlined: as a call it cost ~300 ns per order sent — the engine's whole state passed as
    arguments, once per round (measured: 715 → 400 ns per replace, venue included).
    """
    start = ZERO  # not 0: see ZERO (a loop-carried literal compiles route twice)
    while start < sent:
        begin = monotonic_ns()
        routed, n_acks, n_fills = route(
            venue, gateway, s.outbound, start, sent, s.reports, s.venue_acks, s.venue_fills
        )
        if routed == start:
            control[L_STALLED_ROUTES] += 1
            break
        now = monotonic_ns()
        sample(metrics, _SEND, now - begin)
        start = routed
        control[L_EXEC_ACKS] += on_reports(ex, s.venue_acks, n_acks, now, s.exec_acks, ZERO)
        for k in range(n_acks):
            on_ack(risk, s.venue_acks, k)
            sample(
                metrics,
                _ACK_STAGE,
                s.venue_acks[k]["completion_ns"] - s.venue_acks[k]["decision_ns"],
            )
        for k in range(n_fills):
            on_fill(risk, s.venue_fills, k)
        control[L_REPORTS] += n_acks
        control[L_FILLS] += n_fills
        _journal(journal, control, _ACK, now, s.venue_ack_words, n_acks)
        _journal(journal, control, _FILL, now, s.venue_fill_words, n_fills)


@hot_kernel_inline
def _sync_control_cells(s, control: np.ndarray, journal) -> None:
    """Agree the control cells the path reads with those the control plane writes.

    A control cell is a few words the control plane sets while the engine runs: the risk
    control words (the kill switch), the venue's integer and float parameters and its
    volatility flag (failure injection). The path reads ``s.cell_engine[k]``, its own
    copy; the control plane writes ``s.cell_source[k]``; ``s.cell_synced[k]`` is what they
    last agreed on. A word the control plane changed is copied in, and the cell's words
    are journaled (type ``s.cell_types[k]``); a word the path changed (a drawdown breach
    engaging the kill switch) is published to the source. Called at record boundaries
    only, so a replay applies each change at the same record.
    """
    for k in range(len(s.cell_engine)):
        engine = s.cell_engine[k]
        source = s.cell_source[k]
        synced = s.cell_synced[k]
        changed = False
        for w in range(synced.shape[0]):
            value = load_acquire(source, w)
            if value != synced[w]:
                engine[w] = value
                synced[w] = value
                changed = True
            elif engine[w] != synced[w]:
                synced[w] = engine[w]
                store_release(source, w, engine[w])
        if changed and control[L_JOURNAL] != 0:
            s.state_words[0, :] = 0
            for w in range(synced.shape[0]):
                s.state_words[0, w] = synced[w]
            _journal(journal, control, s.cell_types[k], monotonic_ns(), s.state_words, 1)


@hot_kernel
def journal_mark(journal, control: np.ndarray, s, rtype: int, request: int) -> None:
    """Journal a control request carried out at this block boundary.

    A SNAPSHOT_MARK or CANCEL_ALL_MARK: the request's number, the last event's sequence,
    the records processed.
    """
    s.state_words[0, :] = 0
    s.state_words[0, 0] = request
    s.state_words[0, 1] = control[L_LAST_EVENT_SEQ]
    s.state_words[0, 2] = control[L_EVENTS]
    _journal(journal, control, rtype, monotonic_ns(), s.state_words, 1)


@hot_kernel_inline
def copy_state(sources, targets) -> None:
    """Copy each byte view in ``sources`` into the same-sized one in ``targets``."""
    for k in range(len(sources)):
        source = sources[k]
        target = targets[k]
        for i in range(source.shape[0]):
            target[i] = source[i]


@hot_kernel
def cancel_working(
    ex, lifecycle: np.ndarray, risk, venue, gateway, s, control, metrics, journal
) -> int:
    """Send a cancel for every resting order (the kill switch's request); return how many."""
    orders = ex.orders
    total = 0
    for entry in range(orders.shape[0]):
        state = orders[entry, O_STATE]
        if state != _ACKED and state != _PARTIAL:
            continue
        intent = s.intents[0]
        intent["action"] = _CANCEL
        intent["orig_client_order_id"] = orders[entry, O_ID]
        intent["instrument"] = orders[entry, O_INSTRUMENT]
        intent["account"] = orders[entry, O_ACCOUNT]
        intent["side"] = orders[entry, O_SIDE]
        intent["price"] = 0
        intent["qty"] = 0
        intent["client_order_id"] = ex.counters[C_NEXT_ID]
        now = monotonic_ns()
        check_order(risk, s.intents, ZERO, now, ZERO)  # cancels always pass; risk tracks them
        sent, acked = submit(
            ex, lifecycle, s.intents, ZERO, ZERO, ZERO, ZERO, now, s.outbound, ZERO,
            s.decision_acks, ZERO,
        )  # fmt: skip
        if acked:
            on_ack(risk, s.decision_acks, ZERO)  # refused by the gate: risk forgets the request
        _journal(journal, control, _ORDER, now, s.outbound_words, sent)
        _journal(journal, control, _ACK, now, s.decision_ack_words, acked)
        route_and_apply(ex, risk, venue, gateway, s, sent, control, metrics, journal)
        total += sent
    control[L_CANCELS_SENT] += total
    return total


@hot_kernel_inline_ir
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
    pattern_state,
    predicates,
    venue,
    gateway,
    s,
    n: int,
    control: np.ndarray,
    metrics,
    journal,
    view: np.ndarray,
    source: np.ndarray,
) -> int:
    """Run ``s.block[:n]`` through the decision path and the venue; return orders sent.

    A record's orders reach the venue, and the venue's answers the order lifecycle and
    risk, before the next record is decided on (``tick_to_order`` stops after a record
    that sent); the breakers judge its mid change at once. So what is decided does not
    depend on how the records were grouped into blocks — a replay decides as the live
    run did. With ``control[L_JOURNAL]`` set, every record processed, every decision, ack,
    fill and breaker change is handed to the journal ring in the order it happened.

    Lifecycle: the path reads ``lifecycle``, the engine's view of the state, which this
    loop copies from ``source`` (the controllers' cell) only between runs — at a record
    boundary — and journals as ENGINE_STATE when it changes; ``view`` is the same cell,
    writable. So a replay that sets its view where the journal says decides the same.
    """
    events = s.block
    if n > 0:
        taken_ns = monotonic_ns()
        ex.counters[C_ENGINE_MARK_NS] = taken_ns  # engine-time samples start at a mark
        sample(metrics, _INGEST, taken_ns - events[0]["recv_ns"])
        if control[L_JOURNAL] != 0:
            # The block's records and a round's outputs: their entries arrive while it is
            # decided on, rather than each stalling its hand-off.
            prefetch_slots(journal.header, journal.stamps, journal.slots, n + _OUTPUT_SLACK)
    total = 0
    i = 0
    while i < n:
        first = i
        _sync_control_cells(s, control, journal)
        state = load_acquire(source, 0)
        if state != view[0]:
            store_release(view, 0, state)
            if control[L_JOURNAL] != 0:
                s.state_words[0, :] = 0
                s.state_words[0, 0] = state
                s.state_words[0, 1] = events[i]["seq"]
                _journal(journal, control, ENGINE_STATE, monotonic_ns(), s.state_words, 1)
        i, consumed, sent, acked, _moved, changed, fired = tick_to_order(
            book, signals, ex, lifecycle, risk, breakers, strategy, params, memory,
            pattern_state, predicates, events, i, n, s.patterns, s.intents, s.outbound,
            s.decision_acks, s.ticks, s.breaker_changes, True,
        )  # fmt: skip
        now = monotonic_ns()
        ex.counters[C_ENGINE_MARK_NS] = now
        control[L_CONSUMED] += consumed
        control[L_BREAKER_CHANGES] += changed
        control[L_PATTERNS] += fired
        if control[L_JOURNAL] != 0:
            _journal(journal, control, _MARKET_EVENT, now, s.block_words[first:i], i - first)
            _journal(journal, control, _BREAKER, now, s.breaker_words, changed)
            _journal(journal, control, _PATTERN, now, s.pattern_words, fired)
            _journal(journal, control, _ORDER, now, s.outbound_words, sent)
            _journal(journal, control, _ACK, now, s.decision_ack_words, acked)
        for k in range(sent):
            sample(metrics, _DECISION, s.outbound[k]["decision_ns"] - events[i - 1]["recv_ns"])
        route_and_apply(ex, risk, venue, gateway, s, sent, control, metrics, journal)
        control[L_ORDERS] += sent
        total += sent
    if n > 0:
        control[L_LAST_EVENT_SEQ] = events[n - 1]["seq"]
    control[L_BLOCKS] += 1
    return total


@hot_kernel_inline_ir
def run_from_ring(
    header: np.ndarray,
    stamps: np.ndarray,
    slots: np.ndarray,
    consumer: int,
    book,
    signals,
    ex,
    lifecycle: np.ndarray,
    risk,
    breakers,
    strategy,
    params: np.ndarray,
    memory: np.ndarray,
    pattern_state,
    predicates,
    venue,
    gateway,
    s,
    control: np.ndarray,
    metrics,
    journal,
    view: np.ndarray,
    source: np.ndarray,
    state_bytes,
    capture_bytes,
) -> int:
    """Poll the ring as ``consumer`` and process every block until ``control[L_STOP]`` is set.

    On an empty ring it idles as ``control[L_WAIT]`` says (a ``WaitStrategy``: busy-spin
    by default, the engine thread owning its core). Between blocks it carries out a
    cancel-all request of the control plane (``control[L_CANCEL_ALL]``), and pauses when
    asked (``control[L_PAUSE]``): it journals the boundary (SNAPSHOT_MARK), copies its
    state (``state_bytes``, byte views of every state array) into ``capture_bytes`` itself
    — on its own core, without the GIL, so the pause is a memory copy and nothing else —
    and publishes ``L_CAPTURED`` for the control plane to take the copy. While journaling
    with ``control[L_JOURNAL_RESERVE]`` set, it polls only when the journal ring has that
    much room, and otherwise idles and counts ``L_JOURNAL_HELD``: back-pressure from the
    journal writer reaches the feed instead of refused hand-offs (not once stopping: the
    ring is drained whatever the journal's room).
    Returns the number of records processed. Every record published before the stop is
    processed.
    """
    total = 0
    empty_polls = 0  # in a row: the sleep back-off grows with them
    capacity = s.block.shape[0]
    while True:
        # Read the stop word first: whatever was requested or published before the stop
        # was stored is then visible below, so an empty poll after it means drained.
        stopping = load_acquire(control, L_STOP) != 0
        requested = load_acquire(control, L_CANCEL_ALL)
        if requested > control[L_CANCEL_ALL_DONE]:
            journal_mark(journal, control, s, CANCEL_ALL_MARK, requested)
            cancel_working(ex, lifecycle, risk, venue, gateway, s, control, metrics, journal)
            store_release(control, L_CANCEL_ALL_DONE, requested)
        pause = load_acquire(control, L_PAUSE)
        if pause > control[L_PAUSED]:
            journal_mark(journal, control, s, SNAPSHOT_MARK, pause)
            paused = monotonic_ns()
            control[L_PAUSED] = pause  # in the copy: the request it was taken for
            copy_state(state_bytes, capture_bytes)
            control[L_PAUSE_NS] = monotonic_ns() - paused
            # Release: the copy is complete for whoever acquires L_CAPTURED.
            store_release(control, L_CAPTURED, pause)
        reserve = control[L_JOURNAL_RESERVE]
        if (
            reserve > 0
            and not stopping
            and control[L_JOURNAL] != 0
            and not has_room(journal.header, reserve)
        ):
            # The writer is behind: leave the input in the feed ring (whose producer is
            # refused, and counts it, once that fills) rather than decide on records the
            # journal would refuse. Yield at least: the writer may need this core to catch up.
            control[L_JOURNAL_HELD] += 1
            idle(max(control[L_WAIT], _YIELD), empty_polls)
            empty_polls += 1
            continue
        count, _first, lost = poll_batch(header, stamps, slots, consumer, s.block_words, capacity)
        if lost > 0:
            control[L_LOST] += lost
        if count == 0:
            if stopping:
                return total
            idle(control[L_WAIT], empty_polls)
            empty_polls += 1
            continue
        empty_polls = 0
        process_block(
            book, signals, ex, lifecycle, risk, breakers, strategy, params, memory,
            pattern_state, predicates, venue, gateway, s, count, control, metrics, journal,
            view, source,
        )  # fmt: skip
        total += count
        store_release(control, L_EVENTS, control[L_EVENTS] + count)
