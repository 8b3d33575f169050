"""Compiled price-time matching: order requests in, execution reports out. Hot path.

Requests are ``ORDER_DTYPE`` records; :func:`process` handles a batch and writes
``EXEC_REPORT_DTYPE`` records into a preallocated array. Order ids are the clients' ids,
unique among the venue's working orders (a finished order's id may be used again).

=========  =========================================================================
action     effect and reports
=========  =========================================================================
NEW        Validated in this order — id > 0 (``BAD_ORDER_ID``), listed instrument,
           side, type, TIF, 1 ≤ qty ≤ MAX_QTY, limit price > 0, id not working
           (``DUPLICATE_ID``) — else one REJECTED report. Accepted: a NEW report, then
           matching against the opposite side, best price first and oldest first
           within a price, at the resting order's price, with two reports per match
           (incoming, then resting: PARTIAL or FILLED each). FOK first checks that its
           whole quantity is available within its limit (after self-trade prevention)
           and otherwise EXPIRES untouched (``NOT_FILLABLE``). A remainder of an IOC,
           FOK or MARKET order (any TIF: market orders never rest) EXPIRES
           (``NO_LIQUIDITY``) — a market order meeting an empty book gets NEW then
           EXPIRED. A GTC/DAY remainder rests at the back of its level; if the order
           table is full or its side has no free level it is CANCELLED instead
           (``ORDER_TABLE_FULL``, ``BOOK_FULL``).
CANCEL     ``orig_client_order_id``: CANCELLED, or REJECTED ``UNKNOWN_ORDER``.
REDUCE     (:data:`ACTION_REDUCE`) takes ``qty`` off ``orig_client_order_id``, keeping
           its priority: NEW or PARTIAL with the new leaves, reason ``REDUCED``; CANCELLED
           (``REDUCED``) when nothing is left; REJECTED for qty ≤ 0 or an unknown order.
REPLACE    ``orig_client_order_id`` gets ``price`` and total quantity ``qty`` (FIX
           OrderQty: the filled quantity counts toward it) and, if
           ``client_order_id`` ≠ 0, that new id. Rejected for an unknown order, bad
           qty/price/id or a new id that is working. ``qty ≤ cum``: the order is done —
           FILLED, leaves 0, reason ``REPLACED``, no trade. Same price and leaves not
           larger: changed in place, priority kept — NEW/PARTIAL, reason ``REPLACED``.
           Otherwise the order leaves its queue, is acknowledged the same way and
           re-enters as an incoming GTC limit order: it may cross and trade, and what
           remains joins the back of its new level.
=========  =========================================================================

Self-trade prevention (``VenueConfig.stp``) applies whenever an incoming order reaches a
resting order of the same account (account 0 is no account: it never self-trades):
``cancel_resting`` cancels the resting order (CANCELLED, ``SELF_TRADE``, the incoming id
as counterparty) and goes on matching; ``cancel_incoming`` stops and cancels the incoming
remainder (CANCELLED, ``SELF_TRADE``, the resting id as counterparty).

Every report carries ``decision_ns`` of the request it answers; reports an order did not
ask for (it was traded against or cancelled by self-trade prevention) carry that of the
order's last NEW or REPLACE. ``exec_id`` numbers reports 1, 2, 3, … across the engine.
"""

from __future__ import annotations

import numpy as np

from lowlat.core.jit import hot_kernel, hot_kernel_inline
from lowlat.core.level_kernels import lower_bound, price_key
from lowlat.core.records import AckStatus, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue.layout import (
    ASK,
    BID,
    G_ACCEPTED,
    G_BOOK_FULL,
    G_CANCELLED,
    G_EXEC_ID,
    G_EXPIRED,
    G_FREE_TOP,
    G_LIVE,
    G_MAX_PROBE,
    G_REJECTED,
    G_REPLACED,
    G_REQUESTS,
    G_SELF_TRADES,
    G_STP,
    G_TABLE_FULL,
    G_TRADES,
    G_VOLUME,
    NO_ORDER,
    OR_CUM,
    OR_DECISION,
    OR_ID,
    OR_LEAVES,
    OR_META,
    OR_NEXT,
    OR_PREV,
    OR_PRICE,
    T_ID,
    T_ROW,
    VenueState,
)
from lowlat.venue.records import ACTION_REDUCE, MAX_QTY, Liquidity, Reason, StpMode

__all__ = ["find_row", "handle", "process", "reject", "report_bound", "request_order_id"]

_ACT_NEW = OrderAction.NEW.value
_ACT_CANCEL = OrderAction.CANCEL.value
_ACT_REPLACE = OrderAction.REPLACE.value
_BUY = Side.BUY.value
_SELL = Side.SELL.value
_LIMIT = OrderType.LIMIT.value
_MARKET = OrderType.MARKET.value
_GTC = TimeInForce.GTC.value
_IOC = TimeInForce.IOC.value
_FOK = TimeInForce.FOK.value
_S_NEW = AckStatus.NEW.value
_S_PARTIAL = AckStatus.PARTIAL.value
_S_FILLED = AckStatus.FILLED.value
_S_CANCELLED = AckStatus.CANCELLED.value
_S_REJECTED = AckStatus.REJECTED.value
_S_EXPIRED = AckStatus.EXPIRED.value
_STP_NONE = StpMode.NONE.value
_STP_CANCEL_INCOMING = StpMode.CANCEL_INCOMING.value
_ADDED = Liquidity.ADDED.value
_REMOVED = Liquidity.REMOVED.value
_NONE = Liquidity.NONE.value
_R_NONE = Reason.NONE.value
_R_SELF_TRADE = Reason.SELF_TRADE.value
_R_NOT_FILLABLE = Reason.NOT_FILLABLE.value
_R_NO_LIQUIDITY = Reason.NO_LIQUIDITY.value
_R_ORDER_TABLE_FULL = Reason.ORDER_TABLE_FULL.value
_R_BOOK_FULL = Reason.BOOK_FULL.value
_R_BAD_ORDER_ID = Reason.BAD_ORDER_ID.value
_R_UNKNOWN_INSTRUMENT = Reason.UNKNOWN_INSTRUMENT.value
_R_BAD_SIDE = Reason.BAD_SIDE.value
_R_BAD_TYPE = Reason.BAD_TYPE.value
_R_BAD_TIF = Reason.BAD_TIF.value
_R_BAD_QTY = Reason.BAD_QTY.value
_R_BAD_PRICE = Reason.BAD_PRICE.value
_R_DUPLICATE_ID = Reason.DUPLICATE_ID.value
_R_UNKNOWN_ORDER = Reason.UNKNOWN_ORDER.value
_R_REDUCED = Reason.REDUCED.value
_R_REPLACED = Reason.REPLACED.value
_R_BAD_ACTION = Reason.BAD_ACTION.value
_LOW32 = 0xFFFFFFFF


# ---------------------------------------------------------------- reports


@hot_kernel
def _write(
    counters: np.ndarray,
    reports: np.ndarray,
    w: int,
    order_id: int,
    counterparty: int,
    account: int,
    instrument: int,
    side: int,
    status: int,
    reason: int,
    px: int,
    qty: int,
    leaves: int,
    cum: int,
    decision_ns: int,
    liquidity: int,
) -> int:
    """Fill every field of ``reports[w]`` with the next exec id; return ``w + 1``."""
    exec_id = counters[G_EXEC_ID] + 1
    counters[G_EXEC_ID] = exec_id
    r = reports[w]
    r["exec_id"] = exec_id
    r["order_id"] = order_id
    r["counterparty_order_id"] = counterparty
    r["last_px"] = px
    r["decision_ns"] = decision_ns
    r["last_qty"] = qty
    r["leaves_qty"] = leaves
    r["cum_qty"] = cum
    r["instrument"] = instrument
    r["account"] = account
    r["side"] = side
    r["status"] = status
    r["reason"] = reason
    r["liquidity"] = liquidity
    return w + 1


@hot_kernel_inline
def _reject(
    state: VenueState,
    reports: np.ndarray,
    w: int,
    order_id: int,
    account: int,
    instrument: int,
    side: int,
    reason: int,
    decision_ns: int,
) -> int:
    state.counters[G_REJECTED] += 1
    return _write(
        state.counters, reports, w, order_id, 0, account, instrument, side, _S_REJECTED, reason,
        0, 0, 0, 0, decision_ns, _NONE,
    )  # fmt: skip


@hot_kernel_inline
def request_order_id(rec: np.void) -> int:
    """The order id a request's reports carry: the new id of NEW/REPLACE, else the target."""
    action = np.int64(rec["action"])
    new_id = np.int64(rec["client_order_id"])
    if action == _ACT_NEW or (action == _ACT_REPLACE and new_id != 0):
        return new_id
    if action in (_ACT_REPLACE, _ACT_CANCEL, ACTION_REDUCE):
        return np.int64(rec["orig_client_order_id"])
    return new_id


@hot_kernel_inline
def reject(state: VenueState, rec: np.void, reason: int, reports: np.ndarray, w: int) -> int:
    """Reject request ``rec`` untouched with ``reason`` (one REJECTED report); return ``w + 1``."""
    return _reject(
        state, reports, w, request_order_id(rec), np.int64(rec["account"]),
        np.int64(rec["instrument"]), np.int64(rec["side"]), reason, np.int64(rec["decision_ns"]),
    )  # fmt: skip


# ---------------------------------------------------------------- order ids


@hot_kernel_inline
def _home(ids: np.ndarray, order_id: int) -> int:
    return (order_id ^ (order_id >> 32)) & (ids.shape[0] - 1)


@hot_kernel_inline
def find_row(state: VenueState, order_id: int) -> int:
    """Pool row of working order ``order_id``, or -1."""
    if order_id <= 0:
        return NO_ORDER
    ids = state.ids
    mask = ids.shape[0] - 1
    i = _home(ids, order_id)
    while True:
        current = ids[i, T_ID]
        if current == order_id:
            return ids[i, T_ROW]
        if current == 0:
            return NO_ORDER
        i = (i + 1) & mask


@hot_kernel_inline
def _id_insert(state: VenueState, order_id: int, row: int) -> None:
    ids = state.ids
    mask = ids.shape[0] - 1
    i = _home(ids, order_id)
    probes = 0
    while ids[i, T_ID] != 0:
        i = (i + 1) & mask
        probes += 1
    ids[i, T_ID] = order_id
    ids[i, T_ROW] = row
    if probes > state.counters[G_MAX_PROBE]:
        state.counters[G_MAX_PROBE] = probes


@hot_kernel_inline
def _id_remove(state: VenueState, order_id: int) -> None:
    """Remove ``order_id`` (present) and shift the rest of its probe chain back."""
    ids = state.ids
    mask = ids.shape[0] - 1
    i = _home(ids, order_id)
    while ids[i, T_ID] != order_id:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        current = ids[j, T_ID]
        if current == 0:
            break
        k = _home(ids, current)
        # the entry at j stays unless the hole at i lies between its home k and j
        stays = (i < k <= j) if i <= j else (k > i or k <= j)
        if not stays:
            ids[i, T_ID] = current
            ids[i, T_ROW] = ids[j, T_ROW]
            i = j
    ids[i, T_ID] = 0
    ids[i, T_ROW] = 0


# ---------------------------------------------------------------- price levels


@hot_kernel_inline
def _find_level(state: VenueState, slot: int, side: int, price: int) -> int:
    """Index of the level at ``price`` (which exists: a resting order is there)."""
    return lower_bound(state.keys[slot, side], state.depth[slot, side], price_key(side, price))


@hot_kernel_inline
def _level_for(state: VenueState, slot: int, side: int, price: int) -> int:
    """Index of the level at ``price``, created empty if needed; -1 if the side is full."""
    keys = state.keys[slot, side]
    qty = state.level_qty[slot, side]
    head = state.level_head[slot, side]
    tail = state.level_tail[slot, side]
    n = state.depth[slot, side]
    key = price_key(side, price)
    p = lower_bound(keys, n, key)
    if p < n and keys[p] == key:
        return p
    if n == keys.shape[0]:
        return -1
    for i in range(n, p, -1):
        keys[i] = keys[i - 1]
        qty[i] = qty[i - 1]
        head[i] = head[i - 1]
        tail[i] = tail[i - 1]
    keys[p] = key
    qty[p] = 0
    head[p] = NO_ORDER
    tail[p] = NO_ORDER
    state.depth[slot, side] = n + 1
    return p


@hot_kernel_inline
def _remove_level(state: VenueState, slot: int, side: int, p: int) -> None:
    keys = state.keys[slot, side]
    qty = state.level_qty[slot, side]
    head = state.level_head[slot, side]
    tail = state.level_tail[slot, side]
    n = state.depth[slot, side]
    for i in range(p, n - 1):
        keys[i] = keys[i + 1]
        qty[i] = qty[i + 1]
        head[i] = head[i + 1]
        tail[i] = tail[i + 1]
    state.depth[slot, side] = n - 1


# ---------------------------------------------------------------- orders


@hot_kernel_inline
def _meta(account: int, slot: int, side: int) -> int:
    return (np.int64(account) << 32) | (np.int64(slot) << 1) | side


@hot_kernel_inline
def _account(meta: int) -> int:
    return meta >> 32  # arithmetic: negative accounts come back negative


@hot_kernel_inline
def _slot(meta: int) -> int:
    return (meta & _LOW32) >> 1


@hot_kernel_inline
def _link(state: VenueState, row: int, slot: int, side: int, p: int) -> None:
    """Append ``row`` to the back of level ``p``'s queue."""
    orders = state.orders
    tail = state.level_tail[slot, side, p]
    orders[row, OR_PREV] = tail
    orders[row, OR_NEXT] = NO_ORDER
    if tail == NO_ORDER:
        state.level_head[slot, side, p] = row
    else:
        orders[tail, OR_NEXT] = row
    state.level_tail[slot, side, p] = row
    state.level_qty[slot, side, p] += orders[row, OR_LEAVES]
    state.side_orders[slot, side] += 1


@hot_kernel_inline
def _unlink(state: VenueState, row: int, slot: int, side: int, p: int) -> None:
    """Take ``row`` out of level ``p``'s queue; drop the level when it empties."""
    orders = state.orders
    prev = orders[row, OR_PREV]
    nxt = orders[row, OR_NEXT]
    if prev == NO_ORDER:
        state.level_head[slot, side, p] = nxt
    else:
        orders[prev, OR_NEXT] = nxt
    if nxt == NO_ORDER:
        state.level_tail[slot, side, p] = prev
    else:
        orders[nxt, OR_PREV] = prev
    state.level_qty[slot, side, p] -= orders[row, OR_LEAVES]
    state.side_orders[slot, side] -= 1
    if state.level_head[slot, side, p] == NO_ORDER:
        _remove_level(state, slot, side, p)


@hot_kernel_inline
def _free(state: VenueState, row: int) -> None:
    """Forget the order in ``row`` (already unlinked) and return the row to the pool."""
    _id_remove(state, state.orders[row, OR_ID])
    top = state.counters[G_FREE_TOP]
    state.free[top] = row
    state.counters[G_FREE_TOP] = top + 1
    state.counters[G_LIVE] -= 1


@hot_kernel_inline
def _alloc(
    state: VenueState,
    order_id: int,
    price: int,
    leaves: int,
    cum: int,
    meta: int,
    decision_ns: int,
) -> int:
    """A pool row holding a new order (the pool has a free row), registered under its id."""
    top = state.counters[G_FREE_TOP] - 1
    state.counters[G_FREE_TOP] = top
    row = np.int64(state.free[top])
    orders = state.orders
    orders[row, OR_ID] = order_id
    orders[row, OR_PRICE] = price
    orders[row, OR_LEAVES] = leaves
    orders[row, OR_CUM] = cum
    orders[row, OR_META] = meta
    orders[row, OR_DECISION] = decision_ns
    _id_insert(state, order_id, row)
    state.counters[G_LIVE] += 1
    return row


@hot_kernel_inline
def _working_status(cum: int) -> int:
    return _S_NEW if cum == 0 else _S_PARTIAL


# ---------------------------------------------------------------- matching


@hot_kernel_inline
def _beyond(side: int, market: bool, limit: int, price: int) -> bool:
    """True if an incoming order on ``side`` may not trade at ``price``."""
    if market:
        return False
    return price > limit if side == BID else price < limit


@hot_kernel_inline
def _fillable(
    state: VenueState,
    slot: int,
    side: int,
    limit: int,
    market: bool,
    account: int,
    need: int,
) -> bool:
    """Whether matching would fill ``need`` in full (the FOK check; changes nothing)."""
    opp = 1 - side
    stp = state.counters[G_STP] if account != 0 else _STP_NONE
    keys = state.keys[slot, opp]
    total = 0
    for p in range(state.depth[slot, opp] - 1, -1, -1):
        price = keys[p] if opp == BID else -keys[p]
        if _beyond(side, market, limit, price):
            return False
        if stp == _STP_NONE:
            total += state.level_qty[slot, opp, p]
            if total >= need:
                return True
            continue
        row = np.int64(state.level_head[slot, opp, p])
        while row != NO_ORDER:
            if _account(state.orders[row, OR_META]) == account:
                if stp == _STP_CANCEL_INCOMING:
                    return False
            else:
                total += state.orders[row, OR_LEAVES]
                if total >= need:
                    return True
            row = state.orders[row, OR_NEXT]
    return False


@hot_kernel_inline
def _match(
    state: VenueState,
    reports: np.ndarray,
    w: int,
    slot: int,
    instrument: int,
    side: int,
    order_id: int,
    account: int,
    decision_ns: int,
    limit: int,
    market: bool,
    leaves: int,
    cum: int,
) -> tuple[int, int, int, int]:
    """Match an incoming order against the opposite side.

    Returns its leaves and cum, ``w``, and the id of the resting order at which self-trade
    prevention stopped it (0 if none).
    """
    opp = 1 - side
    stp = state.counters[G_STP] if account != 0 else _STP_NONE
    orders = state.orders
    counters = state.counters
    side_code = side + 1
    opp_code = opp + 1
    while leaves > 0:
        n = state.depth[slot, opp]
        if n == 0:
            break
        p = n - 1
        key = state.keys[slot, opp, p]
        price = key if opp == BID else -key
        if _beyond(side, market, limit, price):
            break
        row = np.int64(state.level_head[slot, opp, p])
        while row != NO_ORDER and leaves > 0:
            nxt = orders[row, OR_NEXT]
            meta = orders[row, OR_META]
            resting_account = _account(meta)
            resting_id = orders[row, OR_ID]
            if stp != _STP_NONE and resting_account == account:
                if stp == _STP_CANCEL_INCOMING:
                    return leaves, cum, w, resting_id
                _unlink(state, row, slot, opp, p)
                counters[G_SELF_TRADES] += 1
                w = _write(
                    state.counters, reports, w, resting_id, order_id, resting_account, instrument,
                    opp_code, _S_CANCELLED, _R_SELF_TRADE, 0, 0, 0, orders[row, OR_CUM],
                    orders[row, OR_DECISION], _NONE,
                )  # fmt: skip
                _free(state, row)
                row = nxt
                continue
            resting_leaves = orders[row, OR_LEAVES]
            q = leaves if leaves < resting_leaves else resting_leaves
            leaves -= q
            cum += q
            resting_leaves -= q
            resting_cum = orders[row, OR_CUM] + q
            orders[row, OR_LEAVES] = resting_leaves
            orders[row, OR_CUM] = resting_cum
            state.level_qty[slot, opp, p] -= q
            counters[G_TRADES] += 1
            counters[G_VOLUME] += q
            w = _write(
                state.counters, reports, w, order_id, resting_id, account, instrument, side_code,
                _S_PARTIAL if leaves > 0 else _S_FILLED, _R_NONE, price, q, leaves, cum,
                decision_ns, _REMOVED,
            )  # fmt: skip
            w = _write(
                state.counters, reports, w, resting_id, order_id, resting_account, instrument,
                opp_code,
                _S_PARTIAL if resting_leaves > 0 else _S_FILLED, _R_NONE, price, q,
                resting_leaves, resting_cum, orders[row, OR_DECISION], _ADDED,
            )  # fmt: skip
            if resting_leaves == 0:
                _unlink(state, row, slot, opp, p)
                _free(state, row)
            row = nxt
    return leaves, cum, w, 0


@hot_kernel_inline
def _execute(
    state: VenueState,
    reports: np.ndarray,
    w: int,
    slot: int,
    instrument: int,
    side: int,
    order_id: int,
    account: int,
    decision_ns: int,
    price: int,
    market: bool,
    tif: int,
    leaves: int,
    cum: int,
    row: int,
) -> int:
    """Match an accepted order and rest, expire or cancel what remains.

    ``row`` is -1 for a new order, or the pool row of a replaced order re-entering
    (always as GTC limit).
    """
    counters = state.counters
    side_code = side + 1
    if tif == _FOK and not _fillable(state, slot, side, price, market, account, leaves):
        counters[G_EXPIRED] += 1
        return _write(
            state.counters, reports, w, order_id, 0, account, instrument, side_code, _S_EXPIRED,
            _R_NOT_FILLABLE, 0, 0, 0, cum, decision_ns, _NONE,
        )  # fmt: skip
    leaves, cum, w, stopped_by = _match(
        state, reports, w, slot, instrument, side, order_id, account, decision_ns, price,
        market, leaves, cum,
    )  # fmt: skip
    if leaves == 0:
        if row != NO_ORDER:
            _free(state, row)
        return w
    if stopped_by != 0:
        counters[G_SELF_TRADES] += 1
        if row != NO_ORDER:
            _free(state, row)
        return _write(
            state.counters, reports, w, order_id, stopped_by, account, instrument, side_code,
            _S_CANCELLED, _R_SELF_TRADE, 0, 0, 0, cum, decision_ns, _NONE,
        )  # fmt: skip
    if market or tif in (_IOC, _FOK):
        counters[G_EXPIRED] += 1
        return _write(
            state.counters, reports, w, order_id, 0, account, instrument, side_code, _S_EXPIRED,
            _R_NO_LIQUIDITY, 0, 0, 0, cum, decision_ns, _NONE,
        )  # fmt: skip
    reason = _R_NONE
    if row == NO_ORDER and counters[G_FREE_TOP] == 0:
        reason = _R_ORDER_TABLE_FULL
        counters[G_TABLE_FULL] += 1
    else:
        p = _level_for(state, slot, side, price)
        if p < 0:
            reason = _R_BOOK_FULL
            counters[G_BOOK_FULL] += 1
            if row != NO_ORDER:
                _free(state, row)
        else:
            if row == NO_ORDER:
                row = _alloc(
                    state, order_id, price, leaves, cum, _meta(account, slot, side), decision_ns
                )
            else:
                state.orders[row, OR_PRICE] = price
                state.orders[row, OR_LEAVES] = leaves
                state.orders[row, OR_CUM] = cum
            _link(state, row, slot, side, p)
            return w
    return _write(
        state.counters, reports, w, order_id, 0, account, instrument, side_code, _S_CANCELLED,
        reason, 0, 0, 0, cum, decision_ns, _NONE,
    )  # fmt: skip


# ---------------------------------------------------------------- requests
#
# NEW and REPLACE validate and acknowledge; an order that goes on to match comes back as an
# entry ``(w, slot, instrument, side, order_id, account, decision_ns, price, market, tif,
# leaves, cum, row)`` (``slot`` -1: nothing to match), so that ``handle`` holds the one
# call of the matching code.


@hot_kernel_inline
def _done(w: int) -> tuple[int, int, int, int, int, int, int, int, bool, int, int, int, int]:
    """The entry of a request that is finished (nothing to match)."""
    zero = np.int64(0)
    return w, np.int64(-1), zero, zero, zero, zero, zero, zero, False, zero, zero, zero, zero


@hot_kernel_inline
def _new(
    state: VenueState, rec: np.void, reports: np.ndarray, w: int
) -> tuple[int, int, int, int, int, int, int, int, bool, int, int, int, int]:
    order_id = np.int64(rec["client_order_id"])
    instrument = np.int64(rec["instrument"])
    account = np.int64(rec["account"])
    side_code = np.int64(rec["side"])
    order_type = np.int64(rec["order_type"])
    tif = np.int64(rec["tif"])
    qty = np.int64(rec["qty"])
    price = np.int64(rec["price"])
    decision_ns = np.int64(rec["decision_ns"])
    slot = np.int64(-1)
    if 0 <= instrument < state.slot_of.shape[0]:
        slot = np.int64(state.slot_of[instrument])
    reason = _R_NONE
    if order_id <= 0:
        reason = _R_BAD_ORDER_ID
    elif slot < 0:
        reason = _R_UNKNOWN_INSTRUMENT
    elif side_code != _BUY and side_code != _SELL:
        reason = _R_BAD_SIDE
    elif order_type != _LIMIT and order_type != _MARKET:
        reason = _R_BAD_TYPE
    elif tif > _FOK:
        reason = _R_BAD_TIF
    elif qty <= 0 or qty > MAX_QTY:
        reason = _R_BAD_QTY
    elif order_type == _LIMIT and price <= 0:
        reason = _R_BAD_PRICE
    elif find_row(state, order_id) != NO_ORDER:
        reason = _R_DUPLICATE_ID
    if reason != _R_NONE:
        return _done(
            _reject(state, reports, w, order_id, account, instrument, side_code, reason,
                    decision_ns)
        )  # fmt: skip
    state.counters[G_ACCEPTED] += 1
    w = _write(
        state.counters, reports, w, order_id, 0, account, instrument, side_code, _S_NEW, _R_NONE,
        0, 0, qty, 0, decision_ns, _NONE,
    )  # fmt: skip
    market = order_type == _MARKET
    if market:
        price = 0
    return (w, slot, instrument, side_code - 1, order_id, account, decision_ns, price, market,
            tif, qty, np.int64(0), np.int64(NO_ORDER))  # fmt: skip


@hot_kernel_inline
def _cancel(state: VenueState, rec: np.void, reports: np.ndarray, w: int, reduce: bool) -> int:
    """CANCEL, or REDUCE by ``qty`` (a cancel when nothing would be left)."""
    order_id = np.int64(rec["orig_client_order_id"])
    decision_ns = np.int64(rec["decision_ns"])
    qty = np.int64(rec["qty"])
    row = find_row(state, order_id)
    reason = _R_NONE
    if row == NO_ORDER:
        reason = _R_UNKNOWN_ORDER
    elif reduce and qty <= 0:
        reason = _R_BAD_QTY
    if reason != _R_NONE:
        return _reject(
            state, reports, w, order_id, np.int64(rec["account"]), np.int64(rec["instrument"]),
            np.int64(rec["side"]), reason, decision_ns,
        )  # fmt: skip
    orders = state.orders
    meta = orders[row, OR_META]
    slot = _slot(meta)
    side = meta & 1
    leaves = orders[row, OR_LEAVES]
    cum = orders[row, OR_CUM]
    p = _find_level(state, slot, side, orders[row, OR_PRICE])
    instrument = state.instrument_of[slot]
    if reduce and qty < leaves:
        orders[row, OR_LEAVES] = leaves - qty
        state.level_qty[slot, side, p] -= qty
        return _write(
            state.counters, reports, w, order_id, 0, _account(meta), instrument, side + 1,
            _working_status(cum), _R_REDUCED, 0, 0, leaves - qty, cum, decision_ns, _NONE,
        )  # fmt: skip
    _unlink(state, row, slot, side, p)
    _free(state, row)
    state.counters[G_CANCELLED] += 1
    return _write(
        state.counters, reports, w, order_id, 0, _account(meta), instrument, side + 1, _S_CANCELLED,
        _R_REDUCED if reduce else _R_NONE, 0, 0, 0, cum, decision_ns, _NONE,
    )  # fmt: skip


@hot_kernel_inline
def _replace(
    state: VenueState, rec: np.void, reports: np.ndarray, w: int
) -> tuple[int, int, int, int, int, int, int, int, bool, int, int, int, int]:
    old_id = np.int64(rec["orig_client_order_id"])
    new_id = np.int64(rec["client_order_id"])
    if new_id == 0:
        new_id = old_id
    qty = np.int64(rec["qty"])
    price = np.int64(rec["price"])
    decision_ns = np.int64(rec["decision_ns"])
    row = find_row(state, old_id)
    reason = _R_NONE
    if new_id < 0:
        reason = _R_BAD_ORDER_ID
    elif row == NO_ORDER:
        reason = _R_UNKNOWN_ORDER
    elif qty <= 0 or qty > MAX_QTY:
        reason = _R_BAD_QTY
    elif price <= 0:
        reason = _R_BAD_PRICE
    elif new_id != old_id and find_row(state, new_id) != NO_ORDER:
        reason = _R_DUPLICATE_ID
    if reason != _R_NONE:
        return _done(
            _reject(state, reports, w, new_id, np.int64(rec["account"]),
                    np.int64(rec["instrument"]), np.int64(rec["side"]), reason, decision_ns)
        )  # fmt: skip
    orders = state.orders
    state.counters[G_REPLACED] += 1
    meta = orders[row, OR_META]
    slot = _slot(meta)
    side = meta & 1
    account = _account(meta)
    instrument = state.instrument_of[slot]
    leaves = orders[row, OR_LEAVES]
    cum = orders[row, OR_CUM]
    old_price = orders[row, OR_PRICE]
    orders[row, OR_DECISION] = decision_ns
    if new_id != old_id:
        _id_remove(state, old_id)
        _id_insert(state, new_id, row)
        orders[row, OR_ID] = new_id
    p = _find_level(state, slot, side, old_price)
    if qty <= cum:
        _unlink(state, row, slot, side, p)
        _free(state, row)
        return _done(
            _write(state.counters, reports, w, new_id, 0, account, instrument, side + 1, _S_FILLED,
                   _R_REPLACED, 0, 0, 0, cum, decision_ns, _NONE)
        )  # fmt: skip
    new_leaves = qty - cum
    if price == old_price and new_leaves <= leaves:
        orders[row, OR_LEAVES] = new_leaves
        state.level_qty[slot, side, p] -= leaves - new_leaves
        return _done(
            _write(state.counters, reports, w, new_id, 0, account, instrument, side + 1,
                   _working_status(cum), _R_REPLACED, 0, 0, new_leaves, cum, decision_ns, _NONE)
        )  # fmt: skip
    _unlink(state, row, slot, side, p)
    w = _write(
        state.counters, reports, w, new_id, 0, account, instrument, side + 1, _working_status(cum),
        _R_REPLACED, 0, 0, new_leaves, cum, decision_ns, _NONE,
    )  # fmt: skip
    return (w, slot, instrument, side, new_id, account, decision_ns, price, False, np.int64(_GTC),
            new_leaves, cum, row)  # fmt: skip


@hot_kernel_inline
def handle(state: VenueState, rec: np.void, reports: np.ndarray, w: int) -> int:
    """Apply one request, writing its reports from ``reports[w]``; return the next free index.

    The caller guarantees room for :func:`report_bound` reports.
    """
    state.counters[G_REQUESTS] += 1
    action = np.int64(rec["action"])
    if action == _ACT_CANCEL:
        return _cancel(state, rec, reports, w, False)
    if action == ACTION_REDUCE:
        return _cancel(state, rec, reports, w, True)
    if action == _ACT_NEW:
        entry = _new(state, rec, reports, w)
    elif action == _ACT_REPLACE:
        entry = _replace(state, rec, reports, w)
    else:
        return reject(state, rec, _R_BAD_ACTION, reports, w)
    w, slot, instrument, side, order_id, account, decision_ns, price, market, tif = entry[:10]
    leaves, cum, row = entry[10:]
    if slot < 0:
        return w
    return _execute(
        state, reports, w, slot, instrument, side, order_id, account, decision_ns, price,
        market, tif, leaves, cum, row,
    )  # fmt: skip


@hot_kernel_inline
def report_bound(state: VenueState, rec: np.void) -> int:
    """Most reports request ``rec`` can produce now.

    One, or for an order that may match two per order resting in its book, plus its
    acknowledgement and its end.
    """
    action = np.int64(rec["action"])
    slot = -1
    if action == _ACT_NEW:
        instrument = np.int64(rec["instrument"])
        if 0 <= instrument < state.slot_of.shape[0]:
            slot = np.int64(state.slot_of[instrument])
    elif action == _ACT_REPLACE:
        row = find_row(state, np.int64(rec["orig_client_order_id"]))
        if row != NO_ORDER:
            slot = _slot(state.orders[row, OR_META])
    if slot < 0:
        return 1
    return 2 * (state.side_orders[slot, BID] + state.side_orders[slot, ASK]) + 3


@hot_kernel
def process(
    state: VenueState, requests: np.ndarray, start: int, stop: int, reports: np.ndarray
) -> tuple[int, int]:
    """Apply ``requests[start:stop]`` in order, writing reports from ``reports[0]``.

    Stops before a request whose reports might not fit. Returns the index of the first
    request not applied and the number of reports written.
    """
    capacity = reports.shape[0]
    w = 0
    i = start
    while i < stop:
        rec = requests[i]
        if w + report_bound(state, rec) > capacity:
            break
        w = handle(state, rec, reports, w)
        i += 1
    return i, w
