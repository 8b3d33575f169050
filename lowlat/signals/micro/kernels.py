"""Compiled microstructure signals, updated right after each book update. Hot path.

Per book update, in O(1) on the slot's row: the N-level sums are the book's own (see
``lowlat.book.kernels.track_top_levels``), or, when the book keeps them for another N,
summed here in O(N):

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

from lowlat.book.kernels import apply_event, slot_of, top_sums
from lowlat.book.layout import (
    ASK,
    B_LAST_TRADE_QTY,
    B_LAST_TRADE_SIDE,
    B_TRADES,
    BID,
    G_TOP_LEVELS,
    BookState,
)
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.records import EventKind, Side
from lowlat.feeds.kernels import write_event
from lowlat.signals.micro.layout import (
    C_TICKS,
    C_TICKS_DROPPED,
    F_FLOW_DECAY_RATE,
    F_MIGRATION_DECAY,
    F_VOLATILITY_DECAY,
    M_ASK,
    M_ASK_NOTIONAL,
    M_ASK_SIZE,
    M_ASK_TOTAL,
    M_BID,
    M_BID_NOTIONAL,
    M_BID_SIZE,
    M_BID_TOTAL,
    M_FLOW_NS,
    M_HAS_DISTANCE,
    M_MID_CHANGES,
    M_TRADES_SEEN,
    M_TWICE_MID,
    M_TWO_SIDED,
    M_UPDATES,
    P_LEVELS,
    P_TRADE_SIDE_IS_AGGRESSOR,
    S_ASK_DISTANCE,
    S_BID_DISTANCE,
    S_BUY_FLOW,
    S_FLOW,
    S_IMBALANCE_N,
    S_IMBALANCE_TOP,
    S_MICROPRICE,
    S_MID,
    S_MIGRATION,
    S_SELL_FLOW,
    S_SPREAD,
    S_VARIANCE,
    S_VOLATILITY,
    V_BUY_FLOW,
    V_DISTANCE,
    V_MIGRATION,
    V_SELL_FLOW,
    V_VARIANCE,
    SignalState,
)

__all__ = ["derive", "derive_all", "emit_tick", "process_batch", "update"]

_BPS = 10_000.0
_TAYLOR_LIMIT = 1.0 / 32
_EXECUTE = EventKind.EXECUTE.value
_TRADE = EventKind.TRADE.value
_TICK = EventKind.TICK.value
_BUY = Side.BUY.value
_SELL = Side.SELL.value


@hot_kernel_inline
def _exp_neg(x: float) -> float:
    """``exp(-x)`` for ``x >= 0``: a degree-7 Taylor polynomial below 1/32, else ``math.exp``.

    Below 1/32 the first omitted term, ``x**8 / 8!``, is under 1e-16: the polynomial is
    ``math.exp`` to the last bit or two, at a fraction of the cost of the library call.
    Flow decays between a book's trades are that small (milliseconds against a half-life
    of a second), so the call is the rare case.
    """
    if x >= _TAYLOR_LIMIT:
        return math.exp(-x)
    return 1.0 - x * (
        1.0
        - x
        * (1.0 / 2 - x * (1.0 / 6 - x * (1.0 / 24 - x * (1.0 / 120 - x * (1.0 / 720 - x / 5040)))))
    )


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
        keep = _exp_neg(dt * sig.fparams[F_FLOW_DECAY_RATE])
        values[V_BUY_FLOW] *= keep
        values[V_SELL_FLOW] *= keep
        marks[M_FLOW_NS] = exchange_ns
    qty = book.book[slot, B_LAST_TRADE_QTY]
    if aggressor == _BUY:
        values[V_BUY_FLOW] += qty
    else:
        values[V_SELL_FLOW] += qty


@hot_kernel_inline
def update(sig: SignalState, book: BookState, slot: int, kind: int, exchange_ns: int) -> bool:
    """Refresh the signals of book ``slot`` after an update; return whether the mid moved.

    The touch and the N-level sums are kept as exact integers (the book's own top-N sums
    when it keeps them for the signals' N); ratios (microprice, imbalances, distances) are
    derived from them when read (:func:`derive`), so the per-event cost is a few reads and
    the two EWMAs.
    """
    marks = sig.marks[slot]
    marks[M_UPDATES] += 1
    if kind in (_EXECUTE, _TRADE):
        _flow(sig, book, slot, kind, exchange_ns)
    n_bid = book.depth[slot, BID]
    n_ask = book.depth[slot, ASK]
    if n_bid == 0 or n_ask == 0:
        marks[M_TWO_SIDED] = 0
        return False
    marks[M_TWO_SIDED] = 1
    bid_keys = book.keys[slot, BID]
    bid_sizes = book.level_qty[slot, BID]
    ask_keys = book.keys[slot, ASK]
    ask_sizes = book.level_qty[slot, ASK]
    levels = sig.iparams[P_LEVELS]
    if book.counters[G_TOP_LEVELS] == levels:
        bid_total, bid_notional = top_sums(book, slot, BID)
        ask_total, ask_notional = top_sums(book, slot, ASK)
    else:
        # The book keeps no sums over these N levels: walk down from the touch (levels
        # are stored worst first, best last; asks as negated prices).
        bid_total = 0
        bid_notional = 0
        for i in range(n_bid - 1, max(n_bid - levels, 0) - 1, -1):
            bid_total += bid_sizes[i]
            bid_notional += bid_sizes[i] * bid_keys[i]
        ask_total = 0
        ask_notional = 0
        for i in range(n_ask - 1, max(n_ask - levels, 0) - 1, -1):
            ask_total += ask_sizes[i]
            ask_notional -= ask_sizes[i] * ask_keys[i]
    bid = bid_keys[n_bid - 1]
    ask = -ask_keys[n_ask - 1]
    marks[M_BID] = bid
    marks[M_ASK] = ask
    marks[M_BID_SIZE] = bid_sizes[n_bid - 1]
    marks[M_ASK_SIZE] = ask_sizes[n_ask - 1]
    marks[M_BID_TOTAL] = bid_total
    marks[M_ASK_TOTAL] = ask_total
    marks[M_BID_NOTIONAL] = bid_notional
    marks[M_ASK_NOTIONAL] = ask_notional
    values = sig.values[slot]
    # Mean distance of the N-level depth from the mid: ((ask_notional/ask_total - mid) +
    # (mid - bid_notional/bid_total)) / 2, over one common denominator (one division).
    ask_weight = float(ask_total)
    bid_weight = float(bid_total)
    distance = (0.5 * (ask_notional * bid_weight - bid_notional * ask_weight)) / (
        ask_weight * bid_weight
    )
    if marks[M_HAS_DISTANCE]:
        keep = sig.fparams[F_MIGRATION_DECAY]
        change = distance - values[V_DISTANCE]
        values[V_MIGRATION] = keep * values[V_MIGRATION] + (1.0 - keep) * change
    marks[M_HAS_DISTANCE] = 1
    values[V_DISTANCE] = distance
    twice_mid = bid + ask
    previous = marks[M_TWICE_MID]
    if twice_mid == previous:
        return False
    marks[M_TWICE_MID] = twice_mid
    if previous == 0:
        return True
    marks[M_MID_CHANGES] += 1
    ret = (twice_mid / previous - 1.0) * _BPS
    keep = sig.fparams[F_VOLATILITY_DECAY]
    values[V_VARIANCE] = keep * values[V_VARIANCE] + (1.0 - keep) * ret * ret
    return True


@hot_kernel_inline
def derive(sig: SignalState, slot: int, out: np.ndarray) -> None:
    """Write every signal of book ``slot`` into ``out`` (float64, ``SIGNAL_FIELDS`` order).

    O(1): ratios of the integer sums :func:`update` keeps. A compiled strategy calls this
    (or reads the sums) when it decides; the control plane calls it to report.
    """
    m = sig.marks[slot]
    v = sig.values[slot]
    bid, ask = m[M_BID], m[M_ASK]
    bid_size, ask_size = m[M_BID_SIZE], m[M_ASK_SIZE]
    top = bid_size + ask_size
    depth = m[M_BID_TOTAL] + m[M_ASK_TOTAL]
    mid = 0.5 * (bid + ask)
    out[S_MID] = mid
    out[S_MICROPRICE] = (bid * ask_size + ask * bid_size) / top if top > 0 else 0.0
    out[S_SPREAD] = ask - bid
    out[S_IMBALANCE_TOP] = (bid_size - ask_size) / top if top > 0 else 0.0
    out[S_IMBALANCE_N] = (m[M_BID_TOTAL] - m[M_ASK_TOTAL]) / depth if depth > 0 else 0.0
    out[S_BID_DISTANCE] = mid - m[M_BID_NOTIONAL] / m[M_BID_TOTAL] if m[M_BID_TOTAL] else 0.0
    out[S_ASK_DISTANCE] = m[M_ASK_NOTIONAL] / m[M_ASK_TOTAL] - mid if m[M_ASK_TOTAL] else 0.0
    out[S_MIGRATION] = v[V_MIGRATION]
    out[S_BUY_FLOW] = v[V_BUY_FLOW]
    out[S_SELL_FLOW] = v[V_SELL_FLOW]
    total = v[V_BUY_FLOW] + v[V_SELL_FLOW]
    out[S_FLOW] = (v[V_BUY_FLOW] - v[V_SELL_FLOW]) / total if total > 0 else 0.0
    out[S_VARIANCE] = v[V_VARIANCE]
    out[S_VOLATILITY] = math.sqrt(v[V_VARIANCE])


@hot_kernel
def derive_all(sig: SignalState, slot: int, out: np.ndarray) -> None:
    """:func:`derive` callable from Python (the control plane's reads)."""
    derive(sig, slot, out)


@hot_kernel_inline
def emit_tick(
    sig: SignalState, slot: int, events: np.ndarray, i: int, ticks: np.ndarray, n: int
) -> int:
    """Write the TICK of the mid change ``events[i]`` caused into ``ticks[n]``; return the count.

    When ``ticks`` is full the count stays and the drop is counted.
    """
    if n == ticks.shape[0]:
        sig.counters[C_TICKS_DROPPED] += 1
        return n
    e = events[i]
    twice_mid = sig.marks[slot, M_TWICE_MID]
    write_event(
        ticks,
        n,
        e["seq"],
        e["recv_ns"],
        e["exchange_ns"],
        0,
        twice_mid // 2,
        0,
        twice_mid,
        e["instrument"],
        _TICK,
        0,
        0,
    )
    sig.counters[C_TICKS] += 1
    return n + 1


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
        if not apply_event(book, e):
            continue
        consumed += 1
        slot = slot_of(book, instrument)
        if update(sig, book, slot, kind, e["exchange_ns"]):
            written = emit_tick(sig, slot, events, i, ticks, written)
    return consumed, written
