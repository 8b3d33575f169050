"""Compiled microstructure signals, updated right after each book update. Hot path.

Per book update, in O(N) for the N configured levels (a constant), on the slot's row:

* mid, spread, microprice ``(bid·ask_size + ask·bid_size) / (bid_size + ask_size)``;
* order-book imbalance at the touch and over N levels, ``(bid - ask) / (bid + ask)`` sizes;
* liquidity migration: the size-weighted distance of each side's top N levels from the
  mid, and an EWMA of the change of their mean — negative while depth moves toward the
  touch, positive while it retreats;
* aggressor flow: buy- and sell-initiated volume decayed with a half-life in event time
  (exchange timestamps, so a replay gives the same values), and their normalised
  difference. An EXECUTE takes liquidity from the resting order's side, so its aggressor
  is the other side; a TRADE's side is the aggressor's or the resting order's as
  configured;
* volatility: EWMA of squared mid returns in basis points, per mid change.

The book-derived values are refreshed only while both sides have a level
(``marks[slot, M_TWO_SIDED]``); flow is updated by every trade.

:func:`process_batch` is the pipeline stage: book update, then signals, per record, and —
when the mid moves — a TICK record for the pattern engine (``price`` = the mid rounded
down to a tick, ``aux`` = bid + ask, so half ticks are not lost).
"""

from __future__ import annotations

import math

import numpy as np

from lowlat.book.kernels import apply_one, level, slot_of
from lowlat.book.layout import (
    ASK,
    B_LAST_TRADE_QTY,
    B_LAST_TRADE_SIDE,
    B_TRADES,
    BID,
    BookState,
)
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind, Side
from lowlat.feeds.kernels import write_event
from lowlat.signals.micro.layout import (
    C_TICKS,
    C_TICKS_DROPPED,
    F_MIGRATION_DECAY,
    F_VOLATILITY_DECAY,
    M_FLOW_NS,
    M_HAS_DISTANCE,
    M_MID_CHANGES,
    M_TRADES_SEEN,
    M_TWO_SIDED,
    M_UPDATES,
    P_FLOW_HALF_LIFE_NS,
    P_LEVELS,
    P_TRADE_SIDE_IS_AGGRESSOR,
    V_ASK_DISTANCE,
    V_BID_DISTANCE,
    V_BUY_FLOW,
    V_FLOW,
    V_IMBALANCE_N,
    V_IMBALANCE_TOP,
    V_MICROPRICE,
    V_MID,
    V_MIGRATION,
    V_SELL_FLOW,
    V_SPREAD,
    V_VARIANCE,
    V_VOLATILITY,
    SignalState,
)

__all__ = ["process_batch", "update"]

_LN2 = math.log(2.0)
_BPS = 10_000.0
_EXECUTE = EventKind.EXECUTE.value
_TRADE = EventKind.TRADE.value
_TICK = EventKind.TICK.value
_BUY = Side.BUY.value
_SELL = Side.SELL.value


@hot_kernel_inline
def _flow(sig: SignalState, book: BookState, slot: int, kind: int, exchange_ns: int) -> None:
    """Add the trade the book just recorded (if any) to the decayed aggressor volumes."""
    trades = book.book[slot, B_TRADES]
    marks = sig.marks[slot]
    if trades == marks[M_TRADES_SEEN]:
        return
    marks[M_TRADES_SEEN] = trades
    recorded = book.book[slot, B_LAST_TRADE_SIDE]
    if kind == _EXECUTE or sig.iparams[P_TRADE_SIDE_IS_AGGRESSOR] == 0:
        aggressor = _SELL if recorded == _BUY else (_BUY if recorded == _SELL else 0)
    else:
        aggressor = recorded
    if aggressor == 0:
        return
    values = sig.values[slot]
    dt = exchange_ns - marks[M_FLOW_NS]
    if dt > 0:
        keep = math.exp(-_LN2 * dt / sig.iparams[P_FLOW_HALF_LIFE_NS])
        values[V_BUY_FLOW] *= keep
        values[V_SELL_FLOW] *= keep
        marks[M_FLOW_NS] = exchange_ns
    qty = book.book[slot, B_LAST_TRADE_QTY]
    if aggressor == _BUY:
        values[V_BUY_FLOW] += qty
    else:
        values[V_SELL_FLOW] += qty
    total = values[V_BUY_FLOW] + values[V_SELL_FLOW]
    values[V_FLOW] = (values[V_BUY_FLOW] - values[V_SELL_FLOW]) / total if total > 0 else 0.0


@hot_kernel_inline
def update(sig: SignalState, book: BookState, slot: int, kind: int, exchange_ns: int) -> bool:
    """Refresh the signals of book ``slot`` after an update; return whether the mid moved."""
    marks = sig.marks[slot]
    values = sig.values[slot]
    marks[M_UPDATES] += 1
    if kind in (_EXECUTE, _TRADE):
        _flow(sig, book, slot, kind, exchange_ns)
    bid, bid_size = level(book, slot, BID, 0)
    ask, ask_size = level(book, slot, ASK, 0)
    if bid_size <= 0 or ask_size <= 0:
        marks[M_TWO_SIDED] = 0
        return False
    marks[M_TWO_SIDED] = 1
    mid = 0.5 * (bid + ask)
    top = bid_size + ask_size
    values[V_SPREAD] = ask - bid
    values[V_MICROPRICE] = (bid * ask_size + ask * bid_size) / top
    values[V_IMBALANCE_TOP] = (bid_size - ask_size) / top
    bid_total = 0.0
    ask_total = 0.0
    bid_far = 0.0
    ask_far = 0.0
    for k in range(sig.iparams[P_LEVELS]):
        price, size = level(book, slot, BID, k)
        if size > 0:
            bid_total += size
            bid_far += size * (mid - price)
        price, size = level(book, slot, ASK, k)
        if size > 0:
            ask_total += size
            ask_far += size * (price - mid)
    values[V_IMBALANCE_N] = (bid_total - ask_total) / (bid_total + ask_total)
    bid_distance = bid_far / bid_total
    ask_distance = ask_far / ask_total
    distance = 0.5 * (bid_distance + ask_distance)
    if marks[M_HAS_DISTANCE]:
        change = distance - 0.5 * (values[V_BID_DISTANCE] + values[V_ASK_DISTANCE])
        keep = sig.fparams[F_MIGRATION_DECAY]
        values[V_MIGRATION] = keep * values[V_MIGRATION] + (1.0 - keep) * change
    marks[M_HAS_DISTANCE] = 1
    values[V_BID_DISTANCE] = bid_distance
    values[V_ASK_DISTANCE] = ask_distance
    previous = values[V_MID]
    values[V_MID] = mid
    if previous <= 0.0 or mid == previous:
        return previous <= 0.0
    marks[M_MID_CHANGES] += 1
    ret = (mid / previous - 1.0) * _BPS
    keep = sig.fparams[F_VOLATILITY_DECAY]
    values[V_VARIANCE] = keep * values[V_VARIANCE] + (1.0 - keep) * ret * ret
    values[V_VOLATILITY] = math.sqrt(values[V_VARIANCE])
    return True


@hot_kernel
def process_batch(
    book: BookState, sig: SignalState, events: np.ndarray, n: int, ticks: np.ndarray
) -> tuple[int, int]:
    """Book update then signals for ``events[:n]``; mid changes go to ``ticks`` as TICKs.

    Returns ``(consumed, ticks written)``. When ``ticks`` is full, further mid changes
    are counted in ``sig.counters[C_TICKS_DROPPED]`` (pass an empty array for none).
    """
    consumed = 0
    written = 0
    for i in range(n):
        e = events[i]
        kind = e["kind"]
        instrument = e["instrument"]
        if not apply_one(
            book,
            kind,
            instrument,
            e["side"],
            e["flags"],
            e["order_id"],
            e["price"],
            e["qty"],
            e["aux"],
            e["seq"],
            e["exchange_ns"],
            e["recv_ns"],
        ):
            continue
        consumed += 1
        slot = slot_of(book, instrument)
        if not update(sig, book, slot, kind, e["exchange_ns"]):
            continue
        if written == ticks.shape[0]:
            sig.counters[C_TICKS_DROPPED] += 1
            continue
        bid, _ = level(book, slot, BID, 0)
        ask, _ = level(book, slot, ASK, 0)
        write_event(
            ticks,
            written,
            e["seq"],
            e["recv_ns"],
            e["exchange_ns"],
            0,
            (bid + ask) // 2,
            0,
            bid + ask,
            instrument,
            _TICK,
            0,
            0,
        )
        written += 1
    sig.counters[C_TICKS] += written
    return consumed, written
