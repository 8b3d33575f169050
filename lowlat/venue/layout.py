"""Memory of the matching engine and of its gateway, allocated once from a ``VenueConfig``.

Compiled kernels take a ``VenueState`` (or ``GatewayState``) named tuple of NumPy arrays
as one argument. Nothing grows: a full side or a full order table cancels the remainder
that would have rested, with a reason code.

Price levels
    Per book slot and side (0 = bids, 1 = asks) a sorted array of ``levels`` entries,
    worst first and best last, so that the touch — where matching takes and most orders
    arrive — is where inserts and removals shift the fewest entries, and a level emptied
    by matching is dropped by decrementing ``depth``. Prices are stored as keys: the price
    for bids, its negation for asks, so both sides sort ascending toward the touch. Each
    level holds its total size and the head and tail of its FIFO queue of orders.

Orders
    A pool of ``orders`` rows of eight int64 words (one cache line): id, price, leaves,
    cum, previous and next order of the same level (-1 at the ends), a packed word
    ``account << 32 | slot << 1 | side`` and the decision time echoed in reports. Free
    rows are kept on a stack.

Order ids
    Open addressing with linear probing from id → pool row, at most half full (twice as
    many entries as the pool, rounded up to a power of two). Clients number orders
    consecutively, so the home entry is the id itself with its high bits folded in:
    working orders sit close together and stay in cache. Removal shifts the following
    entries back, so probe chains never hold tombstones.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lowlat.venue.config import DISTRIBUTIONS, VenueConfig

__all__ = [
    "COUNTER_FIELDS",
    "GATEWAY_FIELDS",
    "GatewayState",
    "VenueState",
    "allocate",
    "allocate_gateway",
    "report_capacity",
    "seed_state",
]

BID = 0
ASK = 1
NO_ORDER = -1

# order pool columns: orders[row, OR_*]
OR_ID = 0
OR_PRICE = 1
OR_LEAVES = 2
OR_CUM = 3
OR_PREV = 4
OR_NEXT = 5
OR_META = 6  # account << 32 | slot << 1 | side
OR_DECISION = 7
ORDER_WORDS = 8

# id table columns: ids[entry, T_*]
T_ID = 0  # 0 marks a free entry (order ids are > 0)
T_ROW = 1

# engine counters: counters[G_*]
G_EXEC_ID = 0  # last report sequence issued
G_REQUESTS = 1
G_ACCEPTED = 2  # new orders accepted
G_REJECTED = 3  # requests rejected
G_TRADES = 4  # matches
G_VOLUME = 5  # quantity matched
G_LIVE = 6  # resting orders
G_FREE_TOP = 7  # free rows on the pool's free stack
G_SELF_TRADES = 8  # orders cancelled by self-trade prevention
G_EXPIRED = 9
G_CANCELLED = 10  # by request (cancel, reduce to zero)
G_BOOK_FULL = 11
G_TABLE_FULL = 12
G_REPLACED = 13
G_MAX_PROBE = 14
G_STP = 15  # the StpMode code
COUNTER_WORDS = 16
COUNTER_FIELDS = (
    "exec_id",
    "requests",
    "accepted",
    "rejected",
    "trades",
    "volume",
    "live_orders",
    "free_rows",
    "self_trades",
    "expired",
    "cancelled",
    "book_full",
    "table_full",
    "replaced",
    "max_probe",
)

# gateway integer parameters: iparams[P_*]
P_FIXED_NS = 0
P_DISTRIBUTION = 1
P_SCALE_NS = 2
P_SPIKE_NS = 3
P_DELAY_NS = 4
P_SERVICE_NS = 5
P_REALTIME = 6
IPARAM_WORDS = 8
# gateway float parameters: fparams[F_*]
F_SPIKE_P = 0
F_REJECT = 1
F_DROP = 2
F_DELAY = 3
FPARAM_WORDS = 4
# generator streams: rng[R_*]
R_LATENCY = 0
R_FAULTS = 1
# gateway counters: gw_counters[W_*]
W_ORDERS = 0
W_ACKS = 1
W_FILLS = 2
W_FAULT_REJECTS = 3
W_DROPPED = 4  # reports lost on the way back (ack and fill not delivered)
W_DELAYED = 5
W_SPIKES = 6
W_BUSY_UNTIL = 7  # when the venue is free again (slow venue queueing)
W_LAST_SEQ = 8  # report sequence of the last report produced, delivered or not
W_DUE_NS = 9  # latest completion time stamped so far
GATEWAY_WORDS = 16
GATEWAY_FIELDS = (
    "orders",
    "acks",
    "fills",
    "fault_rejects",
    "dropped_acks",
    "delayed",
    "spikes",
    "busy_until_ns",
    "last_seq",
    "due_ns",
)
DIST_NONE = DISTRIBUTIONS["none"]
DIST_UNIFORM = DISTRIBUTIONS["uniform"]
DIST_EXPONENTIAL = DISTRIBUTIONS["exponential"]


class VenueState(NamedTuple):
    """Every array of the matching engine; compiled kernels take the tuple as one argument."""

    slot_of: np.ndarray  # int32[max instrument id + 1]: instrument → slot, -1 not listed
    instrument_of: np.ndarray  # int64[slots]
    keys: np.ndarray  # int64[slots, 2, levels]: price (bids) or -price (asks)
    level_qty: np.ndarray  # int64[slots, 2, levels]
    level_head: np.ndarray  # int32[slots, 2, levels]: first order row of the level's queue
    level_tail: np.ndarray  # int32[slots, 2, levels]
    depth: np.ndarray  # int32[slots, 2]: levels in use per side
    side_orders: np.ndarray  # int64[slots, 2]: resting orders per side
    orders: np.ndarray  # int64[orders, ORDER_WORDS]
    free: np.ndarray  # int32[orders]: stack of free rows
    ids: np.ndarray  # int64[2^k ≥ 2·orders, 2]: id → row
    counters: np.ndarray  # int64[COUNTER_WORDS]


class GatewayState(NamedTuple):
    """The gateway's models, generators and counters, for its compiled kernel."""

    iparams: np.ndarray  # int64[IPARAM_WORDS]
    fparams: np.ndarray  # float64[FPARAM_WORDS]
    rng: np.ndarray  # int64[2]: xorshift32 states (latency, faults)
    counters: np.ndarray  # int64[GATEWAY_WORDS]
    volatile: np.ndarray  # int64[1]: the volatility flag, written by the control plane


def report_capacity(config: VenueConfig) -> int:
    """Reports one request can produce at most: NEW, two per resting order, and an end."""
    return 2 * config.orders + 3


def allocate(config: VenueConfig) -> VenueState:
    """Allocate and zero every array of an engine sized by ``config``."""
    slots = len(config.instruments)
    shape = (slots, 2, config.levels)
    table = 1 << max(4, (2 * config.orders - 1).bit_length())
    state = VenueState(
        slot_of=np.full(max(config.instruments) + 1, -1, np.int32),
        instrument_of=np.array(config.instruments, np.int64),
        keys=np.zeros(shape, np.int64),
        level_qty=np.zeros(shape, np.int64),
        level_head=np.full(shape, NO_ORDER, np.int32),
        level_tail=np.full(shape, NO_ORDER, np.int32),
        depth=np.zeros((slots, 2), np.int32),
        side_orders=np.zeros((slots, 2), np.int64),
        orders=np.zeros((config.orders, ORDER_WORDS), np.int64),
        free=np.arange(config.orders - 1, -1, -1, dtype=np.int32),
        ids=np.zeros((table, 2), np.int64),
        counters=np.zeros(COUNTER_WORDS, np.int64),
    )
    for slot, instrument in enumerate(config.instruments):
        state.slot_of[instrument] = slot
    state.counters[G_FREE_TOP] = config.orders
    state.counters[G_STP] = int(config.stp_mode)
    return state


def seed_state(seed: int) -> int:
    """A non-zero 32-bit xorshift state from any seed (the same seed, the same stream)."""
    return ((seed * 2_654_435_761 + 0x9E3779B9) & 0xFFFFFFFF) or 1


def allocate_gateway(config: VenueConfig, realtime: bool) -> GatewayState:
    """The gateway's arrays, with the latency and fault models of ``config`` loaded."""
    latency, faults = config.latency, config.faults
    iparams = np.zeros(IPARAM_WORDS, np.int64)
    iparams[P_FIXED_NS] = latency.fixed_ns
    iparams[P_DISTRIBUTION] = DISTRIBUTIONS[latency.distribution]
    iparams[P_SCALE_NS] = latency.scale_ns
    iparams[P_SPIKE_NS] = latency.spike_ns
    iparams[P_DELAY_NS] = faults.delay_ns
    iparams[P_SERVICE_NS] = faults.service_ns
    iparams[P_REALTIME] = int(realtime)
    fparams = np.zeros(FPARAM_WORDS, np.float64)
    fparams[F_SPIKE_P] = latency.spike_probability
    fparams[F_REJECT] = faults.reject_rate
    fparams[F_DROP] = faults.drop_ack_rate
    fparams[F_DELAY] = faults.delay_rate
    return GatewayState(
        iparams=iparams,
        fparams=fparams,
        rng=np.array([seed_state(latency.seed), seed_state(faults.seed)], np.int64),
        counters=np.zeros(GATEWAY_WORDS, np.int64),
        volatile=np.zeros(1, np.int64),
    )
