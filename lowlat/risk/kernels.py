"""Compiled pre-trade checks and post-fill bookkeeping. Hot path.

:func:`check_order` decides one ``ORDER_DTYPE`` record in O(1) without allocating and
returns a :class:`~lowlat.risk.reasons.RejectReason` code (0 = pass). The checks, in the
order they run (the first failing one names the reason):

1. well formed: action, side, order type, client order id (not 0), quantity > 0, limit
   price > 0, account and instrument ids in range; a replace must name a working order
   (``UNKNOWN_ORDER``) on the same side, account and instrument.
2. an order that adds risk — a new order, a replace that raises the quantity — is refused
   while the kill switch is engaged (``KILL_SWITCH``) or the lifecycle is HALTED or
   STOPPED (``HALTED``), and in a restricted instrument or suspended account.
3. max order quantity; price collar of a limit order,
   ``|price − reference| × 10,000 ≤ bps × reference``; max notional ``qty × price`` (the
   reference price for a market order). Both need a reference price (> 0): without one
   the order is refused (``NO_REFERENCE_PRICE``).
4. max open orders of the account in the instrument (new orders), and max position:
   position + working quantity on the order's side + the order (the increase, for a
   replace), as a signed exposure on that side, at most the limit.
5. duplicate (new orders): the same account, instrument, side, price and quantity passed
   less than the window ago.
6. throttle: the account's token bucket (refilled at the rate by ``now_ns``) has a token.

Limits are resolved per (account, instrument) as :mod:`lowlat.risk.config` describes. A
passing order is *reserved*: it is in the open-order table and counts toward open orders
and position exposure until acknowledgements or fills release it; it took a token and its
fingerprint. A rejected one changes nothing but counters, slots for new ids and its
account's token bucket, which is brought up to ``now_ns`` (refilling is not spending).
Cancels always pass and consume nothing; the request is remembered so that its
acknowledgement can release the order it cancels.

Acknowledgements (:func:`on_ack`) follow FIX: an ack carries the client order id of the
request it answers (a cancel's or replace's own id). CANCELLED, EXPIRED, REJECTED and
DECIDED (never sent) end an order; REPLACED makes the replacement the working order, its
leaves the new quantity less what the original had filled. Fills (:func:`on_fill`) reduce
the order's leaves and move the position: average-cost accounting in integer ticks, the
cost basis of a reduced position shrinking pro rata (floored), realized PnL on every
reduction, a flip through zero opening the rest at the fill price. Unrealized PnL is
``position × mark − basis``; the mark is set by :func:`mark` (the first fill sets it when
there is none). Every change of an account's equity updates its high-water mark and
drawdown; a drawdown beyond the limit engages the kill-switch flag.

Cross-thread: the kill-switch flag is read with acquire loads; an order that adds risk
is inserted, then the flag is read again after a full fence (the control plane stores the
flag, fences, then lists working orders), so an order either sees the flag or is seen by
the list.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.atomics import fence_release, fence_seq_cst, load_acquire, store_release
from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import AckStatus, OrderAction, OrderType, Side
from lowlat.risk.layout import (
    A_DRAWDOWN,
    A_EPOCH,
    A_HIGH_WATER,
    A_ID,
    A_LAST_NS,
    A_REALIZED,
    A_TOKENS,
    A_UNREALIZED,
    A_WORST_DRAWDOWN,
    C_HWM_EPOCH,
    C_KILL_ACCOUNT,
    C_KILL_CAUSE,
    C_KILL_SWITCH,
    CAUSE_DRAWDOWN,
    D_KEY,
    D_NS,
    D_PRICE,
    D_QTY,
    E_ID,
    E_KIND,
    E_LINK,
    E_OPEN,
    E_PAIR,
    E_PRICE,
    E_QTY,
    E_SIDE,
    ENTRY_WORDS,
    G_ACCOUNTS,
    G_ACKS,
    G_CANCELS,
    G_CHECKS,
    G_ENTRIES,
    G_FILLS,
    G_INSTRUMENTS,
    G_KILL_REQUESTS,
    G_MARKS,
    G_PASSES,
    G_REJECTS,
    G_TABLE_VERSION,
    G_UNKNOWN_ACKS,
    G_UNKNOWN_FILLS,
    G_UNTRACKED_CANCELS,
    I_ID,
    I_MARK,
    KIND_CANCEL,
    KIND_ORDER,
    KIND_REPLACE,
    L_ALLOWED,
    L_COLLAR_BPS,
    L_DUPLICATE_WINDOW_NS,
    L_MAX_DRAWDOWN,
    L_MAX_NOTIONAL,
    L_MAX_OPEN_ORDERS,
    L_MAX_ORDER_QTY,
    L_MAX_POSITION,
    L_THROTTLE_CAPACITY,
    L_THROTTLE_FILL_NS,
    L_THROTTLE_RATE,
    NS_PER_TOKEN,
    P_ACCOUNT,
    P_BASIS,
    P_BOUGHT,
    P_FILLS,
    P_INSTRUMENT,
    P_OPEN_BUY,
    P_OPEN_ORDERS,
    P_OPEN_SELL,
    P_POSITION,
    P_REALIZED,
    P_SOLD,
    P_UNREALIZED,
    UNSET,
    RiskState,
)
from lowlat.risk.reasons import RejectReason

__all__ = ["check_order", "mark", "on_ack", "on_fill"]

_NEW = OrderAction.NEW.value
_CANCEL = OrderAction.CANCEL.value
_REPLACE = OrderAction.REPLACE.value
_BUY = Side.BUY.value
_SELL = Side.SELL.value
_LIMIT = OrderType.LIMIT.value
_MARKET = OrderType.MARKET.value
_ACK_CANCELLED = AckStatus.CANCELLED.value
_ACK_EXPIRED = AckStatus.EXPIRED.value
_ACK_REJECTED = AckStatus.REJECTED.value
_ACK_REPLACED = AckStatus.REPLACED.value
_ACK_DECIDED = AckStatus.DECIDED.value
_ACK_FILLED = AckStatus.FILLED.value
_HALTED_STATE = LifecycleState.HALTED.value  # HALTED and STOPPED (the larger value) refuse

_PASS = RejectReason.NONE.value
_INVALID = RejectReason.INVALID_ORDER.value
_UNKNOWN_ORDER = RejectReason.UNKNOWN_ORDER.value
_DUPLICATE_ID = RejectReason.DUPLICATE_CLIENT_ID.value
_KILL_SWITCH = RejectReason.KILL_SWITCH.value
_HALTED = RejectReason.HALTED.value
_CAPACITY = RejectReason.CAPACITY.value
_RESTRICTED = RejectReason.RESTRICTED.value
_MAX_ORDER_QTY = RejectReason.MAX_ORDER_QTY.value
_NO_REFERENCE = RejectReason.NO_REFERENCE_PRICE.value
_MAX_NOTIONAL = RejectReason.MAX_NOTIONAL.value
_PRICE_COLLAR = RejectReason.PRICE_COLLAR.value
_MAX_OPEN_ORDERS = RejectReason.MAX_OPEN_ORDERS.value
_MAX_POSITION = RejectReason.MAX_POSITION.value
_DUPLICATE_ORDER = RejectReason.DUPLICATE_ORDER.value
_THROTTLE = RejectReason.THROTTLE.value

_BPS = 10_000
_TABLE_FULL = -1
_ID_IN_USE = -2
_W = ENTRY_WORDS


# ---------------------------------------------------------------- limits and slots


@hot_kernel_inline
def _limit(state: RiskState, a: int, s: int, word: int) -> int:
    """Limit ``word`` of account slot ``a`` in instrument ``s``: tighter override, or default."""
    value = min(state.account_limits[a, word], state.instrument_limits[s, word])
    if value == UNSET:
        return state.default_limits[word]
    return value


@hot_kernel_inline
def _account_limit(state: RiskState, a: int, word: int) -> int:
    value = state.account_limits[a, word]
    if value == UNSET:
        return state.default_limits[word]
    return value


@hot_kernel_inline
def _account_slot(state: RiskState, account: int) -> int:
    """Slot of ``account``, assigning the next free one (full bucket) on first sight; -1 if none."""
    a = np.int64(state.account_slot_of[account])
    if a >= 0:
        return a
    a = state.counters[G_ACCOUNTS]
    if a >= state.accounts.shape[0]:
        return -1
    state.counters[G_ACCOUNTS] = a + 1
    state.accounts[a, A_ID] = account
    state.accounts[a, A_TOKENS] = _account_limit(state, a, L_THROTTLE_CAPACITY)
    state.account_slot_of[account] = a
    return a


@hot_kernel_inline
def _instrument_slot(state: RiskState, instrument: int) -> int:
    s = np.int64(state.instrument_slot_of[instrument])
    if s >= 0:
        return s
    s = state.counters[G_INSTRUMENTS]
    if s >= state.instruments.shape[0]:
        return -1
    state.counters[G_INSTRUMENTS] = s + 1
    state.instruments[s, I_ID] = instrument
    state.instrument_slot_of[instrument] = s
    return s


# ---------------------------------------------------------------- open-order table


@hot_kernel_inline
def _home(client_id: int, mask: int) -> int:
    return (client_id ^ (client_id >> 17) ^ (client_id >> 34)) & mask


@hot_kernel_inline
def _find(state: RiskState, client_id: int) -> int:
    """Entry of ``client_id`` (not 0), or -1."""
    table = state.open
    mask = table.shape[0] // _W - 1
    e = _home(client_id, mask)
    while True:
        key = table[e * _W + E_ID]
        if key == client_id:
            return e
        if key == 0:
            return -1
        e = (e + 1) & mask


@hot_kernel_inline
def _insert(
    state: RiskState,
    client_id: int,
    kind: int,
    side: int,
    pair: int,
    price: int,
    qty: int,
    open_qty: int,
    link: int,
) -> int:
    """Add an entry (the id published last, with a release store); _ID_IN_USE or _TABLE_FULL."""
    table = state.open
    entries = table.shape[0] // _W
    mask = entries - 1
    e = _home(client_id, mask)
    while True:
        key = table[e * _W + E_ID]
        if key == client_id:
            return _ID_IN_USE
        if key == 0:
            break
        e = (e + 1) & mask
    if state.counters[G_ENTRIES] >= entries - entries // 4:
        return _TABLE_FULL
    base = e * _W
    table[base + E_KIND] = kind
    table[base + E_SIDE] = side
    table[base + E_PAIR] = pair
    table[base + E_PRICE] = price
    table[base + E_QTY] = qty
    table[base + E_OPEN] = open_qty
    table[base + E_LINK] = link
    store_release(table, base + E_ID, client_id)
    state.counters[G_ENTRIES] += 1
    return e


@hot_kernel_inline
def _remove(state: RiskState, e: int) -> None:
    """Free entry ``e``, shifting later entries of its probe chain back (inside the seqlock)."""
    table = state.open
    counters = state.counters
    mask = table.shape[0] // _W - 1
    version = counters[G_TABLE_VERSION]
    store_release(counters, G_TABLE_VERSION, version + 1)
    fence_release()
    hole = e
    j = e
    while True:
        j = (j + 1) & mask
        key = table[j * _W + E_ID]
        if key == 0:
            break
        home = _home(key, mask)
        if ((j - home) & mask) >= ((j - hole) & mask):
            for w in range(_W):
                table[hole * _W + w] = table[j * _W + w]
            hole = j
    for w in range(_W):
        table[hole * _W + w] = 0
    store_release(counters, G_TABLE_VERSION, version + 2)
    counters[G_ENTRIES] -= 1


@hot_kernel_inline
def _add_open(state: RiskState, pair: int, side: int, qty: int) -> None:
    if side == _BUY:
        state.pairs[pair, P_OPEN_BUY] += qty
    else:
        state.pairs[pair, P_OPEN_SELL] += qty


@hot_kernel_inline
def _remove_order(state: RiskState, e: int) -> None:
    """Remove order entry ``e`` and release what it reserved."""
    base = e * _W
    pair = state.open[base + E_PAIR]
    _add_open(state, pair, state.open[base + E_SIDE], -state.open[base + E_OPEN])
    state.pairs[pair, P_OPEN_ORDERS] -= 1
    _remove(state, e)


@hot_kernel_inline
def _remove_request(state: RiskState, e: int) -> None:
    """Remove cancel or replace request ``e`` and release the increase it reserved."""
    base = e * _W
    _add_open(
        state, state.open[base + E_PAIR], state.open[base + E_SIDE], -state.open[base + E_OPEN]
    )
    _remove(state, e)


@hot_kernel_inline
def _linked_order(state: RiskState, client_id: int, pair: int, side: int) -> int:
    """Entry of the working order ``client_id`` a request names, or -1 if it is gone.

    An order of another account, instrument or side under that id is not it.
    """
    x = _find(state, client_id)
    if x < 0:
        return -1
    base = x * _W
    if (
        state.open[base + E_KIND] != KIND_ORDER
        or state.open[base + E_PAIR] != pair
        or state.open[base + E_SIDE] != side
    ):
        return -1
    return x


@hot_kernel_inline
def _end_linked_order(state: RiskState, client_id: int, pair: int, side: int) -> None:
    """Remove the working order a request named, if it is still there."""
    x = _linked_order(state, client_id, pair, side)
    if x >= 0:
        _remove_order(state, x)


@hot_kernel_inline
def _promote(state: RiskState, y: int) -> None:
    """Replace request ``y`` took effect: it becomes the working order, its original goes."""
    table = state.open
    base = y * _W
    client_id = table[base + E_ID]
    pair = table[base + E_PAIR]
    side = table[base + E_SIDE]
    qty = table[base + E_QTY]
    x = _linked_order(state, table[base + E_LINK], pair, side)
    if x >= 0:
        old_leaves = table[x * _W + E_OPEN]
        leaves = max(0, qty - (table[x * _W + E_QTY] - old_leaves))
        _add_open(state, pair, side, leaves - old_leaves - table[base + E_OPEN])
        table[base + E_KIND] = KIND_ORDER
        table[base + E_OPEN] = leaves
        table[base + E_LINK] = 0
        _remove(state, x)  # may shift y: found again below
        if leaves == 0:
            _remove_order(state, _find(state, client_id))
    else:  # the original is gone: hold the whole replacement until the venue says more
        _add_open(state, pair, side, qty - table[base + E_OPEN])
        table[base + E_KIND] = KIND_ORDER
        table[base + E_OPEN] = qty
        table[base + E_LINK] = 0
        state.pairs[pair, P_OPEN_ORDERS] += 1


# ---------------------------------------------------------------- throttle and duplicates


@hot_kernel_inline
def _refill(state: RiskState, a: int, now_ns: int) -> int:
    """Tokens (nano-tokens) in account ``a``'s bucket at ``now_ns``, stored back."""
    account = state.accounts[a]
    capacity = _account_limit(state, a, L_THROTTLE_CAPACITY)
    elapsed = now_ns - account[A_LAST_NS]
    tokens = account[A_TOKENS]
    if elapsed > 0:
        if elapsed >= _account_limit(state, a, L_THROTTLE_FILL_NS):
            tokens = capacity
        else:  # elapsed × rate < capacity + rate: no overflow
            tokens = min(capacity, tokens + elapsed * _account_limit(state, a, L_THROTTLE_RATE))
        account[A_LAST_NS] = now_ns
        account[A_TOKENS] = tokens
    return tokens


@hot_kernel_inline
def _fingerprint_slot(key: int, price: int, qty: int, mask: int) -> int:
    h = price ^ (price >> 21) ^ (qty << 7) ^ (key << 19)
    return (h ^ (h >> 31)) & mask


# ---------------------------------------------------------------- pre-trade


@hot_kernel_inline
def _track_cancel(state: RiskState, rec) -> None:
    """Remember a cancel request so that its acknowledgement releases the order."""
    client_id = np.int64(rec["client_order_id"])
    target = np.int64(rec["orig_client_order_id"])
    x = _find(state, target) if target != 0 and client_id != 0 else -1
    if x < 0 or state.open[x * _W + E_KIND] != KIND_ORDER:
        state.counters[G_UNTRACKED_CANCELS] += 1
        return
    base = x * _W
    side = state.open[base + E_SIDE]
    pair = state.open[base + E_PAIR]
    if _insert(state, client_id, KIND_CANCEL, side, pair, 0, 0, 0, target) < 0:
        state.counters[G_UNTRACKED_CANCELS] += 1


@hot_kernel_inline
def _check(state: RiskState, rec, now_ns: int, reference_price: int) -> int:
    """Every check of a new order or replace, then its reservation; the reason code."""
    action = np.int64(rec["action"])
    client_id = np.int64(rec["client_order_id"])
    side = np.int64(rec["side"])
    order_type = np.int64(rec["order_type"])
    price = np.int64(rec["price"])
    qty = np.int64(rec["qty"])
    account = np.int64(rec["account"])
    instrument = np.int64(rec["instrument"])
    if (
        (action != _NEW and action != _REPLACE)
        or client_id == 0
        or (side != _BUY and side != _SELL)
        or (order_type != _LIMIT and order_type != _MARKET)
        or qty <= 0
        or (order_type == _LIMIT and price <= 0)
        or account < 0
        or account >= state.account_slot_of.shape[0]
        or instrument < 0
        or instrument >= state.instrument_slot_of.shape[0]
    ):
        return _INVALID
    table = state.open
    target = np.int64(rec["orig_client_order_id"])
    increase = qty
    x = -1
    if action == _REPLACE:
        x = _find(state, target) if target != 0 else -1
        if x < 0 or table[x * _W + E_KIND] != KIND_ORDER:
            return _UNKNOWN_ORDER
        if table[x * _W + E_SIDE] != side:
            return _INVALID
        increase = max(0, qty - table[x * _W + E_QTY])
    adds_risk = increase > 0
    if adds_risk:
        if load_acquire(state.control, C_KILL_SWITCH) != 0:
            return _KILL_SWITCH
        if load_acquire(state.lifecycle, 0) >= _HALTED_STATE:
            return _HALTED
    a = _account_slot(state, account)
    if a < 0:
        return _CAPACITY
    s = _instrument_slot(state, instrument)
    if s < 0:
        return _CAPACITY
    pair = a * state.instruments.shape[0] + s
    if x >= 0 and table[x * _W + E_PAIR] != pair:
        return _INVALID
    if adds_risk and _limit(state, a, s, L_ALLOWED) == 0:
        return _RESTRICTED
    if qty > _limit(state, a, s, L_MAX_ORDER_QTY):
        return _MAX_ORDER_QTY
    if reference_price <= 0:
        return _NO_REFERENCE
    if order_type == _LIMIT and abs(price - reference_price) > (
        _limit(state, a, s, L_COLLAR_BPS) * reference_price // _BPS
    ):
        return _PRICE_COLLAR
    valued_at = price if order_type == _LIMIT else reference_price
    if valued_at > _limit(state, a, s, L_MAX_NOTIONAL) // qty:
        return _MAX_NOTIONAL
    row = state.pairs[pair]
    if action == _NEW and row[P_OPEN_ORDERS] >= _limit(state, a, s, L_MAX_OPEN_ORDERS):
        return _MAX_OPEN_ORDERS
    if adds_risk:
        if side == _BUY:
            exposure = row[P_POSITION] + row[P_OPEN_BUY] + increase
        else:
            exposure = row[P_OPEN_SELL] - row[P_POSITION] + increase
        if exposure > _limit(state, a, s, L_MAX_POSITION):
            return _MAX_POSITION
    key = pair * 4 + side
    fingerprint = state.duplicates[
        _fingerprint_slot(key, price, qty, state.duplicates.shape[0] - 1)
    ]
    if (
        action == _NEW
        and fingerprint[D_KEY] == key
        and fingerprint[D_PRICE] == price
        and fingerprint[D_QTY] == qty
        and now_ns - fingerprint[D_NS] < _limit(state, a, s, L_DUPLICATE_WINDOW_NS)
    ):
        return _DUPLICATE_ORDER
    tokens = _refill(state, a, now_ns)
    if tokens < NS_PER_TOKEN:
        return _THROTTLE
    if action == _NEW:
        e = _insert(state, client_id, KIND_ORDER, side, pair, price, qty, qty, 0)
    else:
        e = _insert(state, client_id, KIND_REPLACE, side, pair, price, qty, increase, target)
    if e == _ID_IN_USE:
        return _DUPLICATE_ID
    if e < 0:
        return _CAPACITY
    if adds_risk:
        # the control plane stores the flag, fences, then lists working orders
        fence_seq_cst()
        if load_acquire(state.control, C_KILL_SWITCH) != 0:
            _remove(state, e)
            return _KILL_SWITCH
    state.accounts[a, A_TOKENS] = tokens - NS_PER_TOKEN
    _add_open(state, pair, side, increase)
    if action == _NEW:
        row[P_OPEN_ORDERS] += 1
        fingerprint[D_KEY] = key
        fingerprint[D_PRICE] = price
        fingerprint[D_QTY] = qty
        fingerprint[D_NS] = now_ns
    return _PASS


@hot_kernel
def check_order(
    state: RiskState, orders: np.ndarray, i: int, now_ns: int, reference_price: int
) -> int:
    """Check ``orders[i]`` at monotonic ``now_ns`` against ``reference_price`` (ticks; 0 = none).

    Returns the ``RejectReason`` code, 0 when it passed (and is then reserved).
    """
    counters = state.counters
    counters[G_CHECKS] += 1
    rec = orders[i]
    if np.int64(rec["action"]) == _CANCEL:
        _track_cancel(state, rec)
        counters[G_CANCELS] += 1
        counters[G_PASSES] += 1
        return _PASS
    reason = _check(state, rec, np.int64(now_ns), np.int64(reference_price))
    if reason == _PASS:
        counters[G_PASSES] += 1
    else:
        counters[G_REJECTS] += 1
        state.rejects[reason] += 1
    return reason


# ---------------------------------------------------------------- post-trade


@hot_kernel
def on_ack(state: RiskState, acks: np.ndarray, i: int) -> bool:
    """Apply acknowledgement ``acks[i]`` to the open-order table; False if its id is unknown.

    A FILLED ack of an order its last fill already closed is expected and not counted as
    unknown.
    """
    state.counters[G_ACKS] += 1
    rec = acks[i]
    client_id = np.int64(rec["client_order_id"])
    status = np.int64(rec["status"])
    e = _find(state, client_id) if client_id != 0 else -1
    if e < 0:
        if status != _ACK_FILLED:
            state.counters[G_UNKNOWN_ACKS] += 1
        return False
    base = e * _W
    kind = state.open[base + E_KIND]
    ends = status in (_ACK_CANCELLED, _ACK_EXPIRED)
    refused = status in (_ACK_REJECTED, _ACK_DECIDED)
    if kind == KIND_ORDER:
        if ends or refused:
            _remove_order(state, e)
    elif kind == KIND_REPLACE and status == _ACK_REPLACED:
        _promote(state, e)
    elif ends or refused:  # a cancel or replace request answered
        target = state.open[base + E_LINK]
        pair = state.open[base + E_PAIR]
        side = state.open[base + E_SIDE]
        _remove_request(state, e)
        if ends:
            _end_linked_order(state, target, pair, side)
    return True


@hot_kernel_inline
def _drawdown(state: RiskState, a: int) -> None:
    """Update account ``a``'s high-water mark and drawdown; past the limit, engage the switch."""
    account = state.accounts[a]
    equity = account[A_REALIZED] + account[A_UNREALIZED]
    epoch = load_acquire(state.control, C_HWM_EPOCH)
    if account[A_EPOCH] != epoch:
        account[A_EPOCH] = epoch
        account[A_HIGH_WATER] = equity
    elif equity > account[A_HIGH_WATER]:
        account[A_HIGH_WATER] = equity
    drawdown = account[A_HIGH_WATER] - equity
    account[A_DRAWDOWN] = drawdown
    account[A_WORST_DRAWDOWN] = max(account[A_WORST_DRAWDOWN], drawdown)
    if drawdown > _account_limit(state, a, L_MAX_DRAWDOWN) and (
        load_acquire(state.control, C_KILL_SWITCH) == 0
    ):
        state.control[C_KILL_CAUSE] = CAUSE_DRAWDOWN
        state.control[C_KILL_ACCOUNT] = account[A_ID]
        store_release(state.control, C_KILL_SWITCH, 1)
        state.counters[G_KILL_REQUESTS] += 1


@hot_kernel_inline
def _revalue(state: RiskState, pair: int, a: int, mark_price: int) -> None:
    """Unrealized PnL of ``pair`` at ``mark_price``, carried into its account's equity."""
    row = state.pairs[pair]
    unrealized = row[P_POSITION] * mark_price - row[P_BASIS]
    state.accounts[a, A_UNREALIZED] += unrealized - row[P_UNREALIZED]
    row[P_UNREALIZED] = unrealized
    _drawdown(state, a)


@hot_kernel_inline
def _apply_fill(state: RiskState, pair: int, qty: int, price: int) -> None:
    """Move ``pair``'s position by signed ``qty`` at ``price`` (average cost, integer ticks)."""
    row = state.pairs[pair]
    a = row[P_ACCOUNT]
    s = row[P_INSTRUMENT]
    if state.instruments[s, I_MARK] == 0:
        state.instruments[s, I_MARK] = price
    position = row[P_POSITION]
    basis = row[P_BASIS]
    realized = 0
    if position == 0 or (position > 0) == (qty > 0):
        position += qty
        basis += qty * price
    else:
        direction = 1 if position > 0 else -1
        size = position * direction
        amount = -qty * direction
        closed = min(size, amount)
        cost = basis * direction
        # cost × closed // size without forming cost × closed (it may not fit in int64)
        removed = (cost // size) * closed + (cost % size) * closed // size
        realized = direction * (closed * price - removed)
        position -= direction * closed
        basis -= direction * removed
        if amount > closed:
            position = -direction * (amount - closed)
            basis = position * price
    row[P_POSITION] = position
    row[P_BASIS] = basis
    row[P_REALIZED] += realized
    row[P_FILLS] += 1
    if qty > 0:
        row[P_BOUGHT] += qty
    else:
        row[P_SOLD] -= qty
    state.accounts[a, A_REALIZED] += realized
    _revalue(state, pair, a, state.instruments[s, I_MARK])


@hot_kernel
def on_fill(state: RiskState, fills: np.ndarray, i: int) -> bool:
    """Apply fill ``fills[i]``: the order's leaves, then its account's position and PnL.

    A fill under a pending replace's id means the replace took effect; under a pending
    cancel's id, it belongs to the order being cancelled. False (and counted) if the fill
    names no known order: it then moves no position.
    """
    state.counters[G_FILLS] += 1
    rec = fills[i]
    client_id = np.int64(rec["client_order_id"])
    qty = np.int64(rec["qty"])
    table = state.open
    e = _find(state, client_id) if client_id != 0 else -1
    if e >= 0 and table[e * _W + E_KIND] == KIND_REPLACE:
        _promote(state, e)
        e = _find(state, client_id)
    elif e >= 0 and table[e * _W + E_KIND] == KIND_CANCEL:
        base = e * _W
        e = _linked_order(state, table[base + E_LINK], table[base + E_PAIR], table[base + E_SIDE])
    if e < 0 or qty <= 0:
        state.counters[G_UNKNOWN_FILLS] += 1
        return False
    base = e * _W
    pair = table[base + E_PAIR]
    side = table[base + E_SIDE]
    leaves = table[base + E_OPEN]
    used = min(qty, leaves)
    _add_open(state, pair, side, -used)
    table[base + E_OPEN] = leaves - used
    if leaves == used:
        state.pairs[pair, P_OPEN_ORDERS] -= 1
        _remove(state, e)
    _apply_fill(state, pair, qty if side == _BUY else -qty, np.int64(rec["price"]))
    return True


@hot_kernel
def mark(state: RiskState, instrument: int, price: int) -> int:
    """Mark ``instrument`` at ``price`` (ticks): every position in it revalued; how many.

    O(accounts in use). Instruments risk has never seen, and prices ≤ 0, are ignored.
    """
    state.counters[G_MARKS] += 1
    if instrument < 0 or instrument >= state.instrument_slot_of.shape[0] or price <= 0:
        return 0
    s = np.int64(state.instrument_slot_of[instrument])
    if s < 0:
        return 0
    state.instruments[s, I_MARK] = price
    slots = state.instruments.shape[0]
    revalued = 0
    for a in range(state.counters[G_ACCOUNTS]):
        pair = a * slots + s
        if state.pairs[pair, P_POSITION] != 0 or state.pairs[pair, P_UNREALIZED] != 0:
            _revalue(state, pair, a, np.int64(price))
            revalued += 1
    return revalued
