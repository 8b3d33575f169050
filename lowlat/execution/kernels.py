"""Compiled decision gate and order lifecycle. Hot path.

:func:`submit` takes one intent — an ``ORDER_DTYPE`` record a strategy wrote (action, side,
price, qty, instrument, account; ``orig_client_order_id`` for cancel/replace) — gives it
the next client order id and decides, from the lifecycle state alone, what happens:

=============  ==============================  ==================================
lifecycle      NEW / REPLACE (risk-increasing)  CANCEL (risk-reducing)
=============  ==============================  ==================================
READY          sent                            sent
DEGRADED,      recorded, acked provisional,    sent
WARMUP         not sent
HALTED         refused (``LIFECYCLE``)          sent
INIT, STOPPED  refused                         refused
=============  ==============================  ==================================

A non-zero ``reason`` (from the risk checks or a circuit breaker, computed by the caller
before) refuses the intent with that code. A cancel or replace is sent only for an order
that rests (ACKED or PARTIAL) with no other request pending; otherwise it is refused with
``NOT_WORKING`` — one outstanding request per order, as venues require. Every decision
that does not reach the venue is acknowledged at once: provisional ones with status
DECIDED and flag PROVISIONAL, refused ones with status REJECTED and the reason. Sent
ones are acknowledged when the venue's report arrives (:func:`on_report`), flagged
EXECUTED. Every ack carries the decision's sequence number (its client order id), the
decision time and the completion time.

:func:`on_report` moves an order through PENDING_NEW → ACKED → PARTIAL → FILLED /
CANCELLED / REJECTED / EXPIRED (and pending cancel/replace), stamping every transition.
Reports are named as FIX names them (the venue gateway does so): a report answering a
cancel or replace carries the request's own client order id. A cancel's CANCELLED
answer ends the order it targets; its REJECTED answer puts that order back where it was
(unless it ended meanwhile) and refuses the request. A replace's REPLACED answer ends the
original (REPLACED) and makes the request's entry the working order — later fills name
the new id, as FIX does. A fill while a request is pending keeps it pending.

A report for an id we never sent is counted as unknown; one that repeats the order's
current state (a resent NEW, a fill with no new quantity, a second CANCELLED) as a
duplicate; one that cannot follow the current state (NEW after a fill, anything after a
terminal state other than a repeat of it) as out of order. Such reports change nothing.

Latency is attributed in two segments, each kept in a lossy sample ring the control
plane drains: decision latency (trigger received → decision, ours) and execution latency
(order sent → the venue's first report, the venue's).
"""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import load_acquire
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.lifecycle.states import LifecycleState
from lowlat.core.records import AckFlag, AckStatus, OrderAction
from lowlat.execution.layout import (
    C_ACKS,
    C_DECISION_SAMPLES,
    C_DECISIONS,
    C_DUPLICATE_REPORTS,
    C_ENGINE_MARK_NS,
    C_ENGINE_SAMPLES,
    C_EXECUTION_SAMPLES,
    C_NEXT_ID,
    C_NOT_WORKING,
    C_OUT_OF_ORDER_REPORTS,
    C_OUTBOUND_FULL,
    C_PROVISIONAL,
    C_REFUSED,
    C_REFUSED_LIFECYCLE,
    C_REPORTS,
    C_SENT,
    C_TABLE_FULL,
    C_UNKNOWN_REPORTS,
    O_ACCOUNT,
    O_ACTION,
    O_CUM,
    O_DECISION_NS,
    O_ID,
    O_INSTRUMENT,
    O_LAST_NS,
    O_LEAVES,
    O_PREVIOUS_STATE,
    O_PRICE,
    O_QTY,
    O_REASON,
    O_SENT_NS,
    O_SIDE,
    O_STATE,
    O_TARGET,
    O_TRANSITIONS,
    O_TRIGGER_RECV_NS,
    O_TRIGGER_SEQ,
    O_VENUE_ID,
    ExecState,
    GateReason,
)
from lowlat.execution.states import OrderState

__all__ = ["find_order", "on_report", "on_reports", "submit", "submit_all"]

_READY = LifecycleState.READY.value
_WARMUP = LifecycleState.WARMUP.value
_DEGRADED = LifecycleState.DEGRADED.value
_HALTED = LifecycleState.HALTED.value

_NEW = OrderAction.NEW.value
_CANCEL = OrderAction.CANCEL.value
_REPLACE = OrderAction.REPLACE.value

_FREE = OrderState.FREE.value
_PROVISIONAL = OrderState.PROVISIONAL.value
_PENDING_NEW = OrderState.PENDING_NEW.value
_ACKED = OrderState.ACKED.value
_PARTIAL = OrderState.PARTIAL.value
_PENDING_CANCEL = OrderState.PENDING_CANCEL.value
_PENDING_REPLACE = OrderState.PENDING_REPLACE.value
_FILLED = OrderState.FILLED.value
_CANCELLED = OrderState.CANCELLED.value
_REJECTED = OrderState.REJECTED.value
_EXPIRED = OrderState.EXPIRED.value
_REFUSED = OrderState.REFUSED.value
_REQUESTED = OrderState.REQUESTED.value
_REPLACED = OrderState.REPLACED.value

_ST_NEW = AckStatus.NEW.value
_ST_PARTIAL = AckStatus.PARTIAL.value
_ST_FILLED = AckStatus.FILLED.value
_ST_CANCELLED = AckStatus.CANCELLED.value
_ST_REJECTED = AckStatus.REJECTED.value
_ST_EXPIRED = AckStatus.EXPIRED.value
_ST_REPLACED = AckStatus.REPLACED.value
_ST_DECIDED = AckStatus.DECIDED.value

_EXECUTED = AckFlag.EXECUTED.value
_PROVISIONAL_FLAG = AckFlag.PROVISIONAL.value

_LIFECYCLE = GateReason.LIFECYCLE.value
_TABLE_FULL = GateReason.TABLE_FULL.value
_NOT_WORKING = GateReason.NOT_WORKING.value
_OUTBOUND_FULL = GateReason.OUTBOUND_FULL.value


@hot_kernel_inline
def _working(state: int) -> bool:
    return _PENDING_NEW <= state <= _PENDING_REPLACE


@hot_kernel_inline
def _amendable(state: int) -> bool:
    """Whether a cancel or replace may be sent: the order rests and nothing is pending."""
    return state in (_ACKED, _PARTIAL)


@hot_kernel_inline
def _terminal(state: int) -> bool:
    return state in (_FREE, _PROVISIONAL) or state >= _FILLED


@hot_kernel_inline
def _ack_without_row(
    acks: np.ndarray, n: int, ex: ExecState, client_id: int, instrument: int, now_ns: int
) -> int:
    """Ack a decision refused because its table entry is taken (no row to read from)."""
    if n >= acks.shape[0]:
        return n
    a = acks[n]
    a["seq"] = client_id
    a["client_order_id"] = client_id
    a["decision_ns"] = now_ns
    a["completion_ns"] = now_ns
    a["venue_order_id"] = 0
    a["leaves_qty"] = 0
    a["cum_qty"] = 0
    a["instrument"] = instrument
    a["status"] = _ST_REJECTED
    a["flags"] = 0
    a["reason"] = _TABLE_FULL
    ex.counters[C_ACKS] += 1
    return n + 1


@hot_kernel_inline
def _sample(ring: np.ndarray, counters: np.ndarray, word: int, value: int) -> None:
    ring[counters[word] & (ring.shape[0] - 1)] = value
    counters[word] += 1


@hot_kernel_inline
def _ack(
    acks: np.ndarray,
    n: int,
    ex: ExecState,
    entry: int,
    status: int,
    flags: int,
    completion_ns: int,
    reason: int,
) -> int:
    """Write the ack of order ``entry`` into ``acks[n]``; return the new count."""
    if n >= acks.shape[0]:
        return n
    row = ex.orders[entry]
    a = acks[n]
    a["seq"] = row[O_ID]
    a["client_order_id"] = row[O_ID]
    a["decision_ns"] = row[O_DECISION_NS]
    a["completion_ns"] = completion_ns
    a["venue_order_id"] = row[O_VENUE_ID]
    a["leaves_qty"] = row[O_LEAVES]
    a["cum_qty"] = row[O_CUM]
    a["instrument"] = row[O_INSTRUMENT]
    a["status"] = status
    a["flags"] = flags
    a["reason"] = reason
    ex.counters[C_ACKS] += 1
    return n + 1


@hot_kernel_inline
def _move(ex: ExecState, entry: int, state: int, now_ns: int) -> None:
    row = ex.orders[entry]
    row[O_STATE] = state
    row[O_LAST_NS] = now_ns
    row[O_TRANSITIONS] += 1


@hot_kernel_inline
def find_order(ex: ExecState, client_order_id: int) -> int:
    """Entry of order ``client_order_id``, or -1 if the table does not hold it."""
    if client_order_id <= 0:
        return -1
    entry = client_order_id & (ex.orders.shape[0] - 1)
    if ex.orders[entry, O_ID] != client_order_id or ex.orders[entry, O_STATE] == _FREE:
        return -1
    return entry


@hot_kernel
def submit(
    ex: ExecState,
    lifecycle: np.ndarray,
    intents: np.ndarray,
    i: int,
    reason: int,
    trigger_seq: int,
    trigger_recv_ns: int,
    now_ns: int,
    outbound: np.ndarray,
    n_out: int,
    acks: np.ndarray,
    n_acks: int,
) -> tuple[int, int]:
    """Decide on intent ``intents[i]``; return the new ``(n_out, n_acks)``.

    ``outbound`` receives the orders to send (``ORDER_DTYPE``), ``acks`` the immediate
    acknowledgements (``ACK_DTYPE``); both are filled from ``n_out`` / ``n_acks``.
    """
    counters = ex.counters
    orders = ex.orders
    counters[C_DECISIONS] += 1
    client_id = counters[C_NEXT_ID]
    counters[C_NEXT_ID] = client_id + 1
    entry = client_id & (orders.shape[0] - 1)
    intent = intents[i]
    action = intent["action"]
    if not _terminal(orders[entry, O_STATE]):
        # The entry still holds a live order: keep it, refuse this decision.
        counters[C_TABLE_FULL] += 1
        return n_out, _ack_without_row(acks, n_acks, ex, client_id, intent["instrument"], now_ns)
    row = orders[entry]
    row[O_ID] = client_id
    row[O_PREVIOUS_STATE] = _FREE
    row[O_INSTRUMENT] = intent["instrument"]
    row[O_ACCOUNT] = intent["account"]
    row[O_SIDE] = intent["side"]
    row[O_PRICE] = intent["price"]
    row[O_QTY] = intent["qty"]
    row[O_CUM] = 0
    row[O_LEAVES] = intent["qty"]
    row[O_TRIGGER_SEQ] = trigger_seq
    row[O_TRIGGER_RECV_NS] = trigger_recv_ns
    row[O_DECISION_NS] = now_ns
    row[O_SENT_NS] = 0
    row[O_VENUE_ID] = 0
    row[O_REASON] = 0
    row[O_TRANSITIONS] = 0
    row[O_ACTION] = action
    row[O_TARGET] = intent["orig_client_order_id"] if action != _NEW else 0
    if trigger_recv_ns > 0:
        _sample(ex.decision_latency, counters, C_DECISION_SAMPLES, now_ns - trigger_recv_ns)
        # The engine's own share: from its last mark before this decision — the block taken
        # off the feed ring, the previous decision, or the block's previous round done
        # (outside an engine loop: the trigger's receipt) — so neither the wait in the ring
        # nor the wait behind earlier records of the block.
        since = max(counters[C_ENGINE_MARK_NS], trigger_recv_ns)
        _sample(ex.engine_latency, counters, C_ENGINE_SAMPLES, now_ns - since)
    counters[C_ENGINE_MARK_NS] = now_ns
    life = load_acquire(lifecycle, 0)
    reducing = action == _CANCEL
    target = -1
    if action != _NEW:
        target = find_order(ex, intent["orig_client_order_id"])
        if target < 0 or not _amendable(orders[target, O_STATE]):
            reason = _NOT_WORKING
            counters[C_NOT_WORKING] += 1
    if reason == 0 and not (
        life == _READY or (reducing and (life in (_DEGRADED, _WARMUP, _HALTED)))
    ):
        if life in (_DEGRADED, _WARMUP):
            counters[C_PROVISIONAL] += 1
            _move(ex, entry, _PROVISIONAL, now_ns)
            return n_out, _ack(acks, n_acks, ex, entry, _ST_DECIDED, _PROVISIONAL_FLAG, now_ns, 0)
        reason = _LIFECYCLE
        counters[C_REFUSED_LIFECYCLE] += 1
    elif reason != 0 and reason != _NOT_WORKING:
        counters[C_REFUSED] += 1
    if reason == 0 and n_out >= outbound.shape[0]:
        reason = _OUTBOUND_FULL
        counters[C_OUTBOUND_FULL] += 1
    if reason != 0:
        row[O_REASON] = reason
        _move(ex, entry, _REFUSED, now_ns)
        return n_out, _ack(acks, n_acks, ex, entry, _ST_REJECTED, 0, now_ns, reason)
    o = outbound[n_out]
    o["client_order_id"] = client_id
    o["trigger_seq"] = trigger_seq
    o["decision_ns"] = now_ns
    o["price"] = intent["price"]
    o["qty"] = intent["qty"]
    o["orig_client_order_id"] = intent["orig_client_order_id"]
    o["instrument"] = intent["instrument"]
    o["account"] = intent["account"]
    o["action"] = action
    o["side"] = intent["side"]
    o["order_type"] = intent["order_type"]
    o["tif"] = intent["tif"]
    o["flags"] = intent["flags"]
    row[O_SENT_NS] = now_ns
    counters[C_SENT] += 1
    if action == _NEW:
        _move(ex, entry, _PENDING_NEW, now_ns)
    else:
        # The request's own row waits for the answer; the target order is pending until then.
        _move(ex, entry, _REQUESTED, now_ns)
        orders[target, O_PREVIOUS_STATE] = orders[target, O_STATE]
        _move(ex, target, _PENDING_CANCEL if reducing else _PENDING_REPLACE, now_ns)
    return n_out + 1, n_acks


@hot_kernel_inline
def _classify(state: int, status: int, cum: int, known_cum: int) -> int:
    """The state a report moves an order to; -1 duplicate, -2 out of order."""
    if state == _PENDING_NEW:
        if status == _ST_NEW:
            return _ACKED
    elif state == _ACKED:
        if status == _ST_NEW:
            return -1
    elif state == _PARTIAL:
        if status == _ST_NEW:
            return -2
        if status == _ST_PARTIAL and cum <= known_cum:
            return -1
    elif state in (_PENDING_CANCEL, _PENDING_REPLACE):
        if status == _ST_PARTIAL:  # a fill before the answer: the request stays pending
            return state if cum > known_cum else -1
        if status in (_ST_NEW, _ST_REJECTED):
            return -2
    elif state >= _FILLED:
        same = (
            (state == _FILLED and status == _ST_FILLED)
            or (state == _CANCELLED and status == _ST_CANCELLED)
            or (state == _REJECTED and status == _ST_REJECTED)
            or (state == _EXPIRED and status == _ST_EXPIRED)
        )
        return -1 if same else -2
    if status == _ST_PARTIAL:
        return _PARTIAL if cum > known_cum else -1
    if status == _ST_FILLED:
        return _FILLED
    if status == _ST_CANCELLED:
        return _CANCELLED
    if status == _ST_EXPIRED:
        return _EXPIRED
    if status == _ST_REJECTED:
        return _REJECTED if state == _PENDING_NEW else -2
    return -2


@hot_kernel_inline
def _sample_execution(ex: ExecState, r: np.void, row: np.ndarray) -> None:
    """The first report of a sent order or request: the venue's segment of the latency."""
    latency = r["completion_ns"] - row[O_SENT_NS]
    _sample(ex.execution_latency, ex.counters, C_EXECUTION_SAMPLES, latency)


@hot_kernel_inline
def _answer(
    ex: ExecState, entry: int, r: np.void, now_ns: int, acks: np.ndarray, n_acks: int
) -> int:
    """Apply the venue's answer ``r`` to the cancel/replace request in ``entry``."""
    orders = ex.orders
    row = orders[entry]
    status = r["status"]
    target = find_order(ex, row[O_TARGET])
    pending = target >= 0 and orders[target, O_STATE] in (_PENDING_CANCEL, _PENDING_REPLACE)
    row[O_REASON] = r["reason"]
    if row[O_ACTION] == _REPLACE and status == _ST_REPLACED:
        if pending:
            _move(ex, target, _REPLACED, now_ns)
        row[O_CUM] = r["cum_qty"]
        row[O_LEAVES] = r["leaves_qty"]
        row[O_VENUE_ID] = r["venue_order_id"]
        working = _FILLED if r["leaves_qty"] == 0 else (_PARTIAL if r["cum_qty"] > 0 else _ACKED)
        _move(ex, entry, working, now_ns)
        return _ack(acks, n_acks, ex, entry, status, _EXECUTED, r["completion_ns"], r["reason"])
    if row[O_ACTION] == _CANCEL and status == _ST_CANCELLED:
        _move(ex, entry, _CANCELLED, now_ns)
        if not pending:  # the order ended meanwhile (filled): nothing more to move
            return n_acks
        orders[target, O_LEAVES] = 0
        if r["cum_qty"] > orders[target, O_CUM]:
            orders[target, O_CUM] = r["cum_qty"]
        _move(ex, target, _CANCELLED, now_ns)
        return _ack(acks, n_acks, ex, target, status, _EXECUTED, r["completion_ns"], r["reason"])
    if status == _ST_REJECTED:
        if pending:
            _move(ex, target, orders[target, O_PREVIOUS_STATE], now_ns)
        _move(ex, entry, _REJECTED, now_ns)
        return _ack(acks, n_acks, ex, entry, status, _EXECUTED, r["completion_ns"], r["reason"])
    ex.counters[C_OUT_OF_ORDER_REPORTS] += 1
    return n_acks


@hot_kernel_inline
def on_report(
    ex: ExecState, reports: np.ndarray, i: int, now_ns: int, acks: np.ndarray, n_acks: int
) -> int:
    """Apply venue report ``reports[i]`` (``ACK_DTYPE``) to its order; return the new count.

    Reports name the order or request they answer by client order id, as FIX does. Every
    report that moves an order writes an EXECUTED ack.
    """
    counters = ex.counters
    counters[C_REPORTS] += 1
    r = reports[i]
    entry = find_order(ex, r["client_order_id"])
    if entry < 0 or ex.orders[entry, O_SENT_NS] == 0:
        counters[C_UNKNOWN_REPORTS] += 1
        return n_acks
    row = ex.orders[entry]
    first = row[O_TRANSITIONS] == 1
    state = row[O_STATE]
    if state == _REQUESTED:
        if first and r["status"] in (_ST_REPLACED, _ST_CANCELLED, _ST_REJECTED):
            _sample_execution(ex, r, row)
        return _answer(ex, entry, r, now_ns, acks, n_acks)
    if r["status"] == _ST_REPLACED:
        # Only a pending request is answered REPLACED: a repeat if this entry was one.
        counters[C_DUPLICATE_REPORTS if row[O_ACTION] == _REPLACE else C_OUT_OF_ORDER_REPORTS] += 1
        return n_acks
    moved = _classify(state, r["status"], r["cum_qty"], row[O_CUM])
    if moved == -1:
        counters[C_DUPLICATE_REPORTS] += 1
        return n_acks
    if moved == -2:
        counters[C_OUT_OF_ORDER_REPORTS] += 1
        return n_acks
    if first:
        _sample_execution(ex, r, row)
    row[O_CUM] = r["cum_qty"] if r["cum_qty"] > row[O_CUM] else row[O_CUM]
    row[O_LEAVES] = r["leaves_qty"]
    if r["venue_order_id"] != 0:
        row[O_VENUE_ID] = r["venue_order_id"]
    row[O_REASON] = r["reason"]
    _move(ex, entry, moved, now_ns)
    return _ack(acks, n_acks, ex, entry, r["status"], _EXECUTED, r["completion_ns"], r["reason"])


@hot_kernel
def on_reports(
    ex: ExecState, reports: np.ndarray, n: int, now_ns: int, acks: np.ndarray, n_acks: int
) -> int:
    """:func:`on_report` for ``reports[:n]``; return the new ``n_acks``."""
    for i in range(n):
        n_acks = on_report(ex, reports, i, now_ns, acks, n_acks)
    return n_acks


@hot_kernel
def submit_all(
    ex: ExecState,
    lifecycle: np.ndarray,
    intents: np.ndarray,
    n: int,
    reasons: np.ndarray,
    trigger_seq: int,
    trigger_recv_ns: int,
    now_ns: int,
    outbound: np.ndarray,
    acks: np.ndarray,
) -> tuple[int, int]:
    """:func:`submit` for ``intents[:n]`` with ``reasons[:n]``; return ``(sent, acks)``."""
    n_out = 0
    n_acks = 0
    for i in range(n):
        n_out, n_acks = submit(
            ex,
            lifecycle,
            intents,
            i,
            reasons[i],
            trigger_seq,
            trigger_recv_ns,
            now_ns,
            outbound,
            n_out,
            acks,
            n_acks,
        )
    return n_out, n_acks
