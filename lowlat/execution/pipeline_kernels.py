"""The compiled tick-to-order stage: book → signals → strategy → breakers → risk → gate. Hot path.

For every record the books consume, in one pass and one thread: the book update, the
signal update, the strategy, and for each intent it returns the breaker gate, the
pre-trade risk check and the decision gate (:func:`lowlat.execution.kernels.submit`),
which writes the order to send or the immediate ack. Nothing here waits, allocates or
reads anything but the monotonic clock.

Breaker gate (risk-increasing intents only; cancels always pass): an instrument in LIMIT,
PAUSED or HALTED, or any market-wide level, refuses with ``GateReason.BREAKER`` /
``MARKET_HALT``; WARN and THROTTLE pass (the strategy reads them; the risk throttle stays
in force). The breakers themselves are fed by the caller between batches (their stage
reads TICK records), so the gate sees the state as of the previous batch.

Time: risk's time-based limits (throttle, duplicate window) run on the trigger's
``recv_ns`` — a recorded input, so a replay of the same records decides the same — while
the decision itself is stamped with the monotonic clock (``decision_ns``, the latency
samples), which a replay does not reproduce and nothing decides on.

Risk is checked against the instrument's mid as the reference price, and the intent
carries its client order id (the next ids, in order) before the check, so that risk
reserves the order under the id the venue will see; a reserved order the gate then keeps
back (provisional, refused) is released at once through its ack.
"""

from __future__ import annotations

import numpy as np

from lowlat.book.kernels import apply_record, slot_of
from lowlat.book.layout import BookState
from lowlat.core.clock import monotonic_ns
from lowlat.core.jit import hot_kernel
from lowlat.core.records import OrderAction
from lowlat.execution.kernels import submit
from lowlat.execution.layout import C_NEXT_ID, ExecState, GateReason
from lowlat.risk.breakers.kernels import instrument_state, market_level
from lowlat.risk.breakers.layout import BreakerState
from lowlat.risk.breakers.records import InstrumentState
from lowlat.risk.kernels import check_order, on_ack
from lowlat.risk.layout import RiskState
from lowlat.signals.micro.kernels import emit_tick, update
from lowlat.signals.micro.layout import M_TWICE_MID, SignalState

__all__ = ["tick_to_order"]

_CANCEL = OrderAction.CANCEL.value
_LIMIT_STATE = InstrumentState.LIMIT.value
_BREAKER = GateReason.BREAKER.value
_MARKET_HALT = GateReason.MARKET_HALT.value


@hot_kernel
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
    events: np.ndarray,
    n: int,
    patterns: np.ndarray,
    intents: np.ndarray,
    outbound: np.ndarray,
    acks: np.ndarray,
    ticks: np.ndarray,
) -> tuple[int, int, int, int]:
    """Run ``events[:n]`` through the whole decision path.

    ``patterns`` (``PATTERN_EVENT_DTYPE``, ordered by trigger sequence) are handed to the
    strategy with the record whose ``seq`` triggered them. ``outbound`` receives the
    orders to send, ``acks`` the acknowledgements of decisions that did not leave,
    ``ticks`` a TICK record per mid change (for the breakers and patterns; mid changes
    beyond its size are counted as dropped by the signals). Returns ``(consumed, sent,
    acked, ticks)``.
    """
    consumed = 0
    n_out = 0
    n_acks = 0
    n_ticks = 0
    next_pattern = 0
    for i in range(n):
        e = events[i]
        instrument = e["instrument"]
        # The book engine is called, not inlined: this kernel is compiled once per
        # strategy, and inlining the engine into each costs minutes of compilation.
        if not apply_record(book, events, i):
            continue
        consumed += 1
        slot = slot_of(book, instrument)
        if update(signals, book, slot, e["kind"], e["exchange_ns"]):
            n_ticks = emit_tick(signals, slot, events, i, ticks, n_ticks)
        first = next_pattern
        while (
            next_pattern < patterns.shape[0] and patterns[next_pattern]["trigger_seq"] <= e["seq"]
        ):
            next_pattern += 1
        wanted = strategy(
            book,
            signals,
            ex,
            slot,
            events,
            i,
            patterns[first:next_pattern],
            next_pattern - first,
            params,
            memory,
            intents,
        )
        next_id = ex.counters[C_NEXT_ID]
        for j in range(wanted):
            intent = intents[j]
            intent["client_order_id"] = next_id + j
            reason = 0
            if intent["action"] != _CANCEL:
                if market_level(breakers) > 0:
                    reason = _MARKET_HALT
                elif instrument_state(breakers, intent["instrument"]) >= _LIMIT_STATE:
                    reason = _BREAKER
            now = monotonic_ns()
            if reason == 0:
                target = slot_of(book, intent["instrument"])
                reference = signals.marks[target, M_TWICE_MID] // 2 if target >= 0 else 0
                reason = check_order(risk, intents, j, e["recv_ns"], reference)
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
    return consumed, n_out, n_acks, n_ticks
