"""Two EXAMPLE strategies, compiled, to exercise the execution path. Not trading advice.

They exist so that the pipeline, the gate, risk and the venue have realistic traffic;
their parameters are arrays described by the ``P_*`` / ``M_*`` indices below.

* :func:`imbalance_quoter` quotes both sides of one instrument at the touch and steps the
  side facing the imbalance back by ``skew`` ticks (order-book imbalance at the touch
  beyond ``threshold`` predicts the next move), moving a quote with a replace once the
  venue has answered the previous request, at most once per ``min_interval_ns`` of event
  time. A replace, not a cancel and a new order: one message, and a quote that returns to
  an earlier price is not a duplicate new order to pre-trade risk.
* :func:`pairs_trader` follows one pair z-score pattern: when it fires above ``entry`` it
  sells the rich leg and buys the cheap one with IOC orders at the touch, and flattens
  when the pattern fires with the opposite sign.
"""

from __future__ import annotations

import numpy as np

from lowlat.book.kernels import level, slot_of
from lowlat.book.layout import ASK, BID, BookState
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import OrderAction, OrderType, Side, TimeInForce
from lowlat.execution.kernels import find_order
from lowlat.execution.layout import C_NEXT_ID, O_PRICE, O_STATE, ExecState
from lowlat.execution.states import OrderState
from lowlat.signals.micro.layout import M_ASK_SIZE, M_BID_SIZE, M_TWO_SIDED, SignalState
from lowlat.signals.patterns.events import PatternKind

__all__ = ["imbalance_quoter", "pairs_trader"]

# imbalance_quoter params / memory
Q_INSTRUMENT = 0
Q_ACCOUNT = 1
Q_QTY = 2
Q_THRESHOLD = 3
Q_SKEW = 4
Q_MIN_INTERVAL_NS = 5
QM_BID_ID = 0  # client order id of the bid quote (0: none)
QM_BID_REQUEST = 1  # client order id of a replace of it not yet settled (0: none)
QM_ASK_ID = 2
QM_ASK_REQUEST = 3
QM_LAST_NS = 4

# pairs_trader params / memory
R_PATTERN = 0
R_ACCOUNT = 1
R_QTY = 2
R_ENTRY = 3
RM_POSITION = 0  # +1 long the first leg, -1 short it, 0 flat

_NEW = OrderAction.NEW.value
_REPLACE = OrderAction.REPLACE.value
_LIMIT = OrderType.LIMIT.value
_DAY = TimeInForce.DAY.value
_IOC = TimeInForce.IOC.value
_BUY = Side.BUY.value
_SELL = Side.SELL.value
_FREE = OrderState.FREE.value
_PENDING_NEW = OrderState.PENDING_NEW.value
_ACKED = OrderState.ACKED.value
_PARTIAL = OrderState.PARTIAL.value
_PENDING_CANCEL = OrderState.PENDING_CANCEL.value
_PENDING_REPLACE = OrderState.PENDING_REPLACE.value
_REQUESTED = OrderState.REQUESTED.value
_PAIR = PatternKind.PAIR_ZSCORE.value


@hot_kernel_inline
def _intent(
    intents: np.ndarray,
    n: int,
    action: int,
    side: int,
    price: int,
    qty: int,
    instrument: int,
    account: int,
    tif: int,
    orig: int,
) -> int:
    o = intents[n]
    o["client_order_id"] = 0
    o["trigger_seq"] = 0
    o["decision_ns"] = 0
    o["price"] = price
    o["qty"] = qty
    o["orig_client_order_id"] = orig
    o["instrument"] = instrument
    o["account"] = account
    o["action"] = action
    o["side"] = side
    o["order_type"] = _LIMIT
    o["tif"] = tif
    o["flags"] = 0
    return n + 1


@hot_kernel_inline
def _order_state(ex: ExecState, client_id: int) -> int:
    """State of our order ``client_id`` (FREE if the table no longer holds it)."""
    entry = find_order(ex, client_id)
    return _FREE if entry < 0 else ex.orders[entry, O_STATE]


@hot_kernel_inline
def _working_quote(ex: ExecState, memory: np.ndarray, id_word: int, request_word: int) -> int:
    """Client order id of a side's resting quote: 0 if it has none, -1 while the venue decides.

    Settles a replace first: once answered, its request's entry carries the order on if it
    was replaced; if it was refused, rejected or only decided, the original still stands.
    """
    request = memory[request_word]
    if request != 0:
        state = _order_state(ex, request)
        if state == _REQUESTED:
            return -1
        memory[request_word] = 0
        if state in (_ACKED, _PARTIAL):
            memory[id_word] = request
    current = memory[id_word]
    state = _order_state(ex, current)
    if state in (_PENDING_NEW, _PENDING_CANCEL, _PENDING_REPLACE):
        return -1  # one request per order at a time
    return current if state in (_ACKED, _PARTIAL) else 0


@hot_kernel
def imbalance_quoter(
    book: BookState,
    signals: SignalState,
    ex: ExecState,
    slot: int,
    events: np.ndarray,
    i: int,
    patterns: np.ndarray,
    n_patterns: int,
    params: np.ndarray,
    memory: np.ndarray,
    intents: np.ndarray,
) -> int:
    """EXAMPLE: quote both sides, leaning away from the side the imbalance points at."""
    instrument = np.int64(params[Q_INSTRUMENT])
    if events[i]["instrument"] != instrument or signals.marks[slot, M_TWO_SIDED] == 0:
        return 0
    now = events[i]["exchange_ns"]
    if memory[QM_LAST_NS] != 0 and now - memory[QM_LAST_NS] < params[Q_MIN_INTERVAL_NS]:
        return 0
    bid, _ = level(book, slot, BID, 0)
    ask, _ = level(book, slot, ASK, 0)
    bid_size = signals.marks[slot, M_BID_SIZE]
    ask_size = signals.marks[slot, M_ASK_SIZE]
    imbalance = (bid_size - ask_size) / (bid_size + ask_size)
    skew = np.int64(params[Q_SKEW])
    threshold = params[Q_THRESHOLD]
    want_bid = bid - skew if imbalance < -threshold else bid
    want_ask = ask + skew if imbalance > threshold else ask
    qty = np.int64(params[Q_QTY])
    account = np.int64(params[Q_ACCOUNT])
    next_id = ex.counters[C_NEXT_ID]
    n = 0
    for side, want, id_word, request_word in (
        (_BUY, want_bid, QM_BID_ID, QM_BID_REQUEST),
        (_SELL, want_ask, QM_ASK_ID, QM_ASK_REQUEST),
    ):
        if n >= intents.shape[0]:
            break
        working = _working_quote(ex, memory, id_word, request_word)
        if working < 0:
            continue
        if working == 0:
            memory[id_word] = next_id + n
            n = _intent(intents, n, _NEW, side, want, qty, instrument, account, _DAY, 0)
        elif ex.orders[find_order(ex, working), O_PRICE] != want:
            # Client order ids are handed out in intent order: this request's is next_id + n.
            memory[request_word] = next_id + n
            n = _intent(intents, n, _REPLACE, side, want, qty, instrument, account, _DAY, working)
    if n:
        memory[QM_LAST_NS] = now
    return n


@hot_kernel
def pairs_trader(
    book: BookState,
    signals: SignalState,
    ex: ExecState,
    slot: int,
    events: np.ndarray,
    i: int,
    patterns: np.ndarray,
    n_patterns: int,
    params: np.ndarray,
    memory: np.ndarray,
    intents: np.ndarray,
) -> int:
    """EXAMPLE: trade a pair's divergence signalled by a pair z-score pattern."""
    n = 0
    follow = np.int64(params[R_PATTERN])
    qty = np.int64(params[R_QTY])
    account = np.int64(params[R_ACCOUNT])
    for k in range(n_patterns):
        p = patterns[k]
        if p["kind"] != _PAIR or p["pattern"] != follow or n + 2 > intents.shape[0]:
            continue
        z = p["value"]
        position = memory[RM_POSITION]
        # Spread rich (z > entry): sell the first leg, buy the second; cheap: the reverse.
        if position == 0 and abs(z) >= params[R_ENTRY]:
            target = -1 if z > 0 else 1
        elif position != 0 and z * position > 0:
            target = 0  # the spread crossed to the other side: flatten
        else:
            continue
        first = slot_of(book, p["instrument"])
        second = slot_of(book, p["other"])
        if first < 0 or second < 0:
            continue
        trade = target - position  # +1: buy the first leg, sell the second
        for leg_slot, instrument, sign in ((first, p["instrument"], 1), (second, p["other"], -1)):
            buy = trade * sign > 0
            price, size = level(book, leg_slot, ASK if buy else BID, 0)
            if size == 0:
                continue
            side = _BUY if buy else _SELL
            lots = qty * abs(trade)
            n = _intent(intents, n, _NEW, side, price, lots, instrument, account, _IOC, 0)
        memory[RM_POSITION] = target
    return n
