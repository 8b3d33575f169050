"""The compiled tick-to-order stage: book → signals → patterns → strategy → risk → gate. Hot path.

For every record the books consume, in one pass and one thread: the book update, the
signal update, the cross-instrument patterns on the mid change it made (if any), the
strategy — handed the pattern events that record fired — and for each intent it returns
the breaker gate, the pre-trade risk check and the decision gate
(:func:`lowlat.execution.kernels.submit`), which writes the order to send or the
immediate ack. Nothing here waits, allocates or
reads anything but the monotonic clock.

Breaker gate (risk-increasing intents only; cancels always pass): an instrument in LIMIT,
PAUSED or HALTED, or any market-wide level, refuses with ``GateReason.BREAKER`` /
``MARKET_HALT``; WARN and THROTTLE pass (the strategy reads them; the risk throttle stays
in force). The breakers judge each TICK as the signals emit it, before the strategy runs,
so a record's own price move gates its decisions.

Time: risk's time-based limits (throttle, duplicate window) run on the trigger's
``recv_ns`` — a recorded input, so a replay of the same records decides the same — while
the decision itself is stamped with the monotonic clock once past the breakers and the
risk check (``decision_ns``, the latency samples), which a replay does not reproduce and
nothing decides on.

Risk is checked against the instrument's mid as the reference price, and the intent
carries its client order id (the next ids, in order) before the check, so that risk
reserves the order under the id the venue will see; a reserved order the gate then keeps
back (provisional, refused) is released at once through its ack.
"""

from __future__ import annotations

import numpy as np

from lowlat.book.kernels import apply_event, slot_of
from lowlat.book.layout import BookState
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import ONE, ZERO, hot_kernel_inline_ir
from lowlat.core.records import OrderAction
from lowlat.execution.kernels import submit
from lowlat.execution.layout import C_NEXT_ID, ExecState, GateReason
from lowlat.risk.breakers.kernels import instrument_state, market_level
from lowlat.risk.breakers.kernels import on_events as breaker_on_events
from lowlat.risk.breakers.layout import BreakerState
from lowlat.risk.breakers.records import InstrumentState
from lowlat.risk.kernels import check_order, on_ack
from lowlat.risk.layout import RiskState
from lowlat.signals.micro.kernels import emit_tick, update
from lowlat.signals.micro.layout import M_TWICE_MID, SignalState
from lowlat.signals.patterns.kernels import most_events_per_observation
from lowlat.signals.patterns.kernels import on_events as pattern_on_events

__all__ = ["tick_to_order"]

_CANCEL = OrderAction.CANCEL.value
_LIMIT_STATE = InstrumentState.LIMIT.value
_BREAKER = GateReason.BREAKER.value
_MARKET_HALT = GateReason.MARKET_HALT.value


@hot_kernel_inline_ir
def tick_to_order(
    book: BookState,
    signals: SignalState,
    ex: ExecState,
    lifecycle: np.ndarray,
    risk: RiskState,
    breakers: BreakerState,
    strategy,
    params: np.ndarray,
    memory: np.ndarray,
    pattern_state,
    predicates,
    events: np.ndarray,
    start: int,
    n: int,
    patterns: np.ndarray,
    intents: np.ndarray,
    outbound: np.ndarray,
    acks: np.ndarray,
    ticks: np.ndarray,
    changes: np.ndarray,
    stop_on_send: bool,
) -> tuple[int, int, int, int, int, int, int]:
    """Run ``events[start:n]`` through the whole decision path, from output index 0.

    ``outbound`` receives the orders to send, ``acks`` the acknowledgements of decisions
    that did not leave, ``ticks`` a TICK record per mid change, ``changes`` the
    circuit-breaker state changes those ticks caused (the breakers judge each tick at
    once, so the next record's gate sees them), and ``patterns`` the pattern events
    (``PATTERN_EVENT_DTYPE``) the ticks fired in ``pattern_state``'s patterns — the
    strategy is handed those its record triggered.

    It stops early, before a record whose worst case would not fit the outputs, and —
    with ``stop_on_send`` — after the first record whose decisions sent an order, so that
    the caller can have the venue answer them before the next record is decided on.
    Returns ``(next, consumed, sent, acked, ticks, changes, pattern events)``: ``next`` is
    the index of the first record not processed.
    """
    # ZERO, not 0: these counters are passed to kernels compiled on their own, and Numba
    # would first type them Literal[int](0) and compile each such kernel once more.
    consumed = ZERO
    n_out = ZERO
    n_acks = ZERO
    n_ticks = ZERO
    n_changes = ZERO
    n_patterns = ZERO
    worst_changes = breakers.ints.shape[0] + 3  # one tick: every timer, the market, its own
    worst_patterns = most_events_per_observation(pattern_state)
    room = intents.shape[0]
    i = start
    while i < n:
        if (
            n_out + room > outbound.shape[0]
            or n_acks + room > acks.shape[0]
            or n_ticks >= ticks.shape[0]
            or n_changes + worst_changes > changes.shape[0]
            or n_patterns + worst_patterns > patterns.shape[0]
        ):
            break
        e = events[i]
        i += 1
        instrument = e["instrument"]
        if not apply_event(book, e):
            continue
        consumed += 1
        slot = slot_of(book, instrument)
        first_pattern = n_patterns
        if update(signals, book, slot, e["kind"], e["exchange_ns"]):
            first_tick = n_ticks
            n_ticks = emit_tick(signals, slot, events, i - 1, ticks, n_ticks)
            if n_ticks > first_tick:
                n_changes += breaker_on_events(
                    breakers, ticks[first_tick:], ONE, changes[n_changes:]
                )
                n_patterns += pattern_on_events(
                    ticks[first_tick:], ONE, pattern_state, predicates, patterns[n_patterns:]
                )
        wanted = strategy(
            book,
            signals,
            ex,
            slot,
            events,
            i - 1,
            patterns[first_pattern:n_patterns],
            n_patterns - first_pattern,
            params,
            memory,
            intents,
        )
        next_id = ex.counters[C_NEXT_ID]
        sent_before = n_out
        for j in range(wanted):
            intent = intents[j]
            intent["client_order_id"] = next_id + j
            reason = 0
            if intent["action"] != _CANCEL:
                if market_level(breakers) > 0:
                    reason = _MARKET_HALT
                elif instrument_state(breakers, intent["instrument"]) >= _LIMIT_STATE:
                    reason = _BREAKER
            if reason == 0:
                target = slot_of(book, intent["instrument"])
                reference = signals.marks[target, M_TWICE_MID] // 2 if target >= 0 else 0
                reason = check_order(risk, intents, j, e["recv_ns"], reference)
            now = monotonic_ns()  # past the breakers and the risk check: the decision's time
            acked = n_acks
            n_out, n_acks = submit(
                ex,
                lifecycle,
                intents,
                j,
                reason,
                e["seq"],
                e["recv_ns"],
                now,
                outbound,
                n_out,
                acks,
                n_acks,
            )
            if reason == 0 and n_acks > acked:
                # Risk reserved it, the gate did not send it: release the reservation.
                on_ack(risk, acks, acked)
        if stop_on_send and n_out > sent_before:
            break
    return i, consumed, n_out, n_acks, n_ticks, n_changes, n_patterns
