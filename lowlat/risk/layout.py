"""Memory of the risk engine: every array, allocated once from a :class:`RiskConfig`.

The state is a ``RiskState`` named tuple of NumPy arrays that compiled kernels take as one
argument. One thread (the hot path) writes it; the control plane reads counters and the
open-order table, and writes only the words of ``control`` (the kill-switch flag and the
high-water-mark reset epoch), with release stores.

Slots
    Account and instrument ids map to slots through ``*_slot_of`` tables (-1: none yet).
    ``pairs`` has one row per (account slot, instrument slot) — position, PnL and working
    orders of that account in that instrument — at ``account_slot * instruments + slot``.

Limits
    Rows of ``LIMIT_WORDS``: ``default_limits``, one per account slot and one per
    instrument slot. An override row holds :data:`UNSET` where it sets nothing, so a
    limit is ``min(account row, instrument row)``, or the default when that is UNSET (see
    :class:`lowlat.risk.config.RiskConfig`). Restriction is stored as ``L_ALLOWED`` (1
    allowed, 0 restricted) so that the smaller value is the tighter one here too.

Open-order table
    Open addressing with linear probing on the client order id, one 64-byte entry of
    ``ENTRY_WORDS`` per order, flat (``open[e * ENTRY_WORDS + E_*]``) so that the id can be
    published with a release store. Entries are orders (``KIND_ORDER``: working or awaiting
    their acknowledgement) and cancel and replace requests awaiting theirs, linked to the
    order they name. ``E_OPEN`` is the quantity an entry adds to its pair's working
    quantity on its side: an order's leaves, the increase a replace request asks for.
    Removal shifts the following entries back (no tombstones) inside a seqlock on
    ``counters[G_TABLE_VERSION]``, so that a reader on another thread can take a
    consistent snapshot (odd: a removal is in progress).

Duplicate table
    Direct-mapped fingerprints of recently passed new orders: ``D_KEY`` = pair × 4 + side
    (0 = empty), price, quantity, time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowlat.core.lifecycle import LifecycleState
from lowlat.core.records import PRICE_SCALE
from lowlat.risk.config import LimitOverride, RiskConfig, RiskLimits
from lowlat.risk.reasons import REASON_SLOTS

__all__ = [
    "COUNTER_FIELDS",
    "UNSET",
    "RiskState",
    "allocate",
    "limit_row",
]

UNSET = np.iinfo(np.int64).max
NS_PER_TOKEN = 1_000_000_000  # token bucket levels are in nano-tokens: rate × elapsed ns

# limit rows: *_limits[..., L_*]
L_MAX_ORDER_QTY = 0
L_MAX_NOTIONAL = 1  # ticks × qty
L_COLLAR_BPS = 2
L_MAX_OPEN_ORDERS = 3
L_MAX_POSITION = 4
L_DUPLICATE_WINDOW_NS = 5
L_ALLOWED = 6
L_THROTTLE_RATE = 7  # orders per second
L_THROTTLE_CAPACITY = 8  # burst × NS_PER_TOKEN
L_THROTTLE_FILL_NS = 9  # ns for an empty bucket to fill up
L_MAX_DRAWDOWN = 10  # ticks × qty
LIMIT_WORDS = 16

# accounts[slot, A_*]
A_ID = 0
A_TOKENS = 1  # nano-tokens in the bucket at A_LAST_NS
A_LAST_NS = 2
A_REALIZED = 3  # ticks × qty, summed over the account's instruments
A_UNREALIZED = 4
A_HIGH_WATER = 5  # highest equity (realized + unrealized) since start or the last reset
A_DRAWDOWN = 6  # high water − equity, now
A_WORST_DRAWDOWN = 7
A_EPOCH = 8  # C_HWM_EPOCH when the high-water mark was last reset
ACCOUNT_WORDS = 16

# instruments[slot, I_*]
I_ID = 0
I_MARK = 1  # mark price in ticks, 0 = none yet (the first fill sets it)
INSTRUMENT_WORDS = 8

# pairs[account_slot * instruments + instrument_slot, P_*]
P_ACCOUNT = 0  # account slot (fixed at allocation)
P_INSTRUMENT = 1  # instrument slot (fixed at allocation)
P_POSITION = 2  # signed quantity
P_BASIS = 3  # signed cost of the position: Σ signed qty × price, ticks × qty
P_REALIZED = 4
P_UNREALIZED = 5  # position × mark − basis at the last fill or mark
P_OPEN_ORDERS = 6
P_OPEN_BUY = 7  # working buy quantity (leaves plus requested increases)
P_OPEN_SELL = 8
P_BOUGHT = 9
P_SOLD = 10
P_FILLS = 11
PAIR_WORDS = 16

# open[e * ENTRY_WORDS + E_*]
E_ID = 0  # client order id; 0 = free entry
E_KIND = 1
E_SIDE = 2  # Side
E_PAIR = 3
E_PRICE = 4
E_QTY = 5  # order quantity (of the replacement, for a replace request)
E_OPEN = 6
E_LINK = 7  # the order a cancel or replace request names
ENTRY_WORDS = 8
KIND_ORDER = 1
KIND_CANCEL = 2
KIND_REPLACE = 3

# duplicates[slot, D_*]
D_KEY = 0
D_PRICE = 1
D_QTY = 2
D_NS = 3
DUPLICATE_WORDS = 4

# control[C_*]: written by the control plane (and the flag by a drawdown breach)
C_KILL_SWITCH = 0  # 1 = engaged
C_KILL_CAUSE = 1  # KillCause
C_KILL_ACCOUNT = 2  # account id whose drawdown engaged it
C_HWM_EPOCH = 3  # bumped to reset every high-water mark to the current equity
CONTROL_WORDS = 8
CAUSE_OPERATOR = 1
CAUSE_DRAWDOWN = 2

# counters[G_*]
G_CHECKS = 0
G_PASSES = 1
G_REJECTS = 2
G_CANCELS = 3  # cancels checked (they always pass)
G_UNTRACKED_CANCELS = 4  # cancels whose acknowledgement cannot be matched (table full, bad id)
G_ACKS = 5
G_UNKNOWN_ACKS = 6
G_FILLS = 7
G_UNKNOWN_FILLS = 8  # fills of no known order: not in any position
G_MARKS = 9
G_ACCOUNTS = 10  # slots in use
G_INSTRUMENTS = 11
G_ENTRIES = 12  # open-order table entries in use
G_KILL_REQUESTS = 13  # kill-switch engagements by a drawdown breach
G_TABLE_VERSION = 14  # seqlock of removals from the open-order table
COUNTER_WORDS = 16
COUNTER_FIELDS = (
    "checks",
    "passes",
    "rejects",
    "cancels",
    "untracked_cancels",
    "acks",
    "unknown_acks",
    "fills",
    "unknown_fills",
    "marks",
    "accounts",
    "instruments",
    "open_entries",
    "kill_requests",
)


class RiskState(NamedTuple):
    """Every array of the risk engine; compiled kernels take the tuple as one argument."""

    account_slot_of: np.ndarray  # int32[max_account_id + 1]
    instrument_slot_of: np.ndarray  # int32[max_instrument_id + 1]
    default_limits: np.ndarray  # int64[LIMIT_WORDS]
    account_limits: np.ndarray  # int64[accounts, LIMIT_WORDS]
    instrument_limits: np.ndarray  # int64[instruments, LIMIT_WORDS]
    accounts: np.ndarray  # int64[accounts, ACCOUNT_WORDS]
    instruments: np.ndarray  # int64[instruments, INSTRUMENT_WORDS]
    pairs: np.ndarray  # int64[accounts * instruments, PAIR_WORDS]
    open: np.ndarray  # int64[open_orders * ENTRY_WORDS]
    duplicates: np.ndarray  # int64[duplicate_slots, DUPLICATE_WORDS]
    control: np.ndarray  # int64[CONTROL_WORDS]
    counters: np.ndarray  # int64[COUNTER_WORDS]
    rejects: np.ndarray  # int64[REASON_SLOTS]: rejects by RejectReason
    lifecycle: np.ndarray  # int64[1], read-only: the lifecycle state cell


def limit_row(limits: RiskLimits | LimitOverride) -> np.ndarray:
    """The ``LIMIT_WORDS`` row of a full set of limits or of an override (UNSET where unset)."""
    row = np.full(LIMIT_WORDS, UNSET, np.int64)
    scaled = {"max_notional": PRICE_SCALE, "max_drawdown": PRICE_SCALE}
    words = {
        "max_order_qty": L_MAX_ORDER_QTY,
        "max_notional": L_MAX_NOTIONAL,
        "price_collar_bps": L_COLLAR_BPS,
        "max_open_orders": L_MAX_OPEN_ORDERS,
        "max_position": L_MAX_POSITION,
        "duplicate_window_ns": L_DUPLICATE_WINDOW_NS,
        "max_drawdown": L_MAX_DRAWDOWN,
    }
    for name, word in words.items():
        value = getattr(limits, name)
        if value is not None:
            row[word] = value * scaled.get(name, 1)
    if limits.restricted is not None:
        row[L_ALLOWED] = 0 if limits.restricted else 1
    return row


def _throttle_words(row: np.ndarray, rate: int, burst: int) -> None:
    capacity = burst * NS_PER_TOKEN
    row[L_THROTTLE_RATE] = rate
    row[L_THROTTLE_CAPACITY] = capacity
    row[L_THROTTLE_FILL_NS] = -(-capacity // rate)


def allocate(config: RiskConfig, lifecycle_cell: np.ndarray | None = None) -> RiskState:
    """Allocate and initialise every array of a risk engine sized by ``config``.

    Accounts and instruments with overrides get their slots and limit rows here.
    ``lifecycle_cell`` is the lifecycle's read-only state cell; without one, a private
    cell that says READY.
    """
    if lifecycle_cell is None:
        lifecycle_cell = np.array([int(LifecycleState.READY)], np.int64)
    cell = lifecycle_cell.view()
    cell.flags.writeable = False
    state = RiskState(
        account_slot_of=np.full(config.max_account_id + 1, -1, np.int32),
        instrument_slot_of=np.full(config.max_instrument_id + 1, -1, np.int32),
        default_limits=limit_row(config.limits),
        account_limits=np.full((config.accounts, LIMIT_WORDS), UNSET, np.int64),
        instrument_limits=np.full((config.instruments, LIMIT_WORDS), UNSET, np.int64),
        accounts=np.zeros((config.accounts, ACCOUNT_WORDS), np.int64),
        instruments=np.zeros((config.instruments, INSTRUMENT_WORDS), np.int64),
        pairs=np.zeros((config.accounts * config.instruments, PAIR_WORDS), np.int64),
        open=np.zeros(config.open_orders * ENTRY_WORDS, np.int64),
        duplicates=np.zeros((config.duplicate_slots, DUPLICATE_WORDS), np.int64),
        control=np.zeros(CONTROL_WORDS, np.int64),
        counters=np.zeros(COUNTER_WORDS, np.int64),
        rejects=np.zeros(REASON_SLOTS, np.int64),
        lifecycle=cell,
    )
    defaults = config.limits
    _throttle_words(state.default_limits, defaults.max_orders_per_second, defaults.throttle_burst)
    pair = np.arange(config.accounts * config.instruments)
    state.pairs[:, P_ACCOUNT] = pair // config.instruments
    state.pairs[:, P_INSTRUMENT] = pair % config.instruments
    for slot, (ident, override) in enumerate(sorted(config.instrument_limits.items())):
        state.instrument_slot_of[ident] = slot
        state.instruments[slot, I_ID] = ident
        state.instrument_limits[slot] = limit_row(override)
    state.counters[G_INSTRUMENTS] = len(config.instrument_limits)
    for slot, (ident, override) in enumerate(sorted(config.account_limits.items())):
        state.account_slot_of[ident] = slot
        state.accounts[slot, A_ID] = ident
        row = state.account_limits[slot]
        row[:] = limit_row(override)
        if override.max_orders_per_second is not None or override.throttle_burst is not None:
            _throttle_words(
                row,
                override.max_orders_per_second or defaults.max_orders_per_second,
                override.throttle_burst or defaults.throttle_burst,
            )
        bucket = row if row[L_THROTTLE_CAPACITY] != UNSET else state.default_limits
        state.accounts[slot, A_TOKENS] = bucket[L_THROTTLE_CAPACITY]  # starts full
    state.counters[G_ACCOUNTS] = len(config.account_limits)
    return state
