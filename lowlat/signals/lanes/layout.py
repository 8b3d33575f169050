"""Memory layout of the priority lanes: rule slots, lane table columns, state words.

Every array has one writer. The control plane writes the rule slots and the rule tables
(``rules``, ``type_lane``, ``watch_lane``, ``news_flag``) with single int64 release
stores; the hot path reads them with acquire loads on every event and owns everything else
(``last_price``, the lane table, ``state``, the slots and their stamps).

Lanes are numbered from 0, the most urgent. ``NO_LANE`` in a rule table means "this rule
has no opinion"; an event no rule speaks for goes to the default lane.

A threshold rule (trade size, price move) is one packed word, ``threshold << 8 | lane``,
0 when the rule is off, so that changing it at run time is a single atomic store and an
event never sees a new threshold with the old lane.
"""

from __future__ import annotations

from lowlat.core.records import EventKind

MAX_LANES = 8
NO_LANE = 255
N_KINDS = 16  # EventKind values are below this; the type table has one row per kind
N_TYPE_CODES = 128  # ``flags & TYPE_MASK``: the ITCH type letter's ASCII code
TYPE_MASK = 0x7F
RULE_LANE_BITS = 8
RULE_LANE_MASK = (1 << RULE_LANE_BITS) - 1
MAX_THRESHOLD = (1 << 55) - 1  # largest threshold a packed rule word holds
BPS = 10_000  # basis points per unit
MAX_MOVE_BPS = 65_535
#: Prices at or above this many ticks take no part in the price-move rule, which keeps
#: ``|Δ| * 10_000`` and ``bps * last`` inside int64 (2^46 ≈ 7·10^13 ticks: 700 000 units at
#: 10^8 ticks per unit).
MOVE_PRICE_LIMIT = 1 << 46

# rules: config slots, written by the control plane
R_N_LANES = 0
R_DEFAULT_LANE = 1
R_STARVATION_BOUND = 2  # K: after K services that passed a waiting lower lane, serve it
R_BUDGET = 3  # most events held in all lanes together
R_TRADE_SIZE = 4  # packed: min qty << 8 | lane
R_TRADE_SIZE_KINDS = 5  # bit k set: the trade-size rule applies to EventKind k
R_PRICE_MOVE = 6  # packed: min bps << 8 | lane
R_PRICE_MOVE_KINDS = 7  # bit k set: EventKind k is checked and sets the last price
R_NEWS_LANE = 8
N_RULES = 16

# lane table: LANE_STRIDE int64 words per lane, written by the hot path
L_BASE = 0  # first slot of the lane's ring in ``slots`` (fixed)
L_MASK = 1  # capacity - 1 (fixed)
L_HEAD = 2  # events drained from the lane so far (eviction takes from the tail)
L_TAIL = 3  # events put into the lane so far, minus those evicted from its back
L_ENQUEUED = 4  # events accepted into the lane
L_DROPPED = 5  # events refused on arrival (lane ring full, or no room to make)
L_EVICTED = 6  # queued events shed to make room for a more urgent one
L_DRAINED = 7
L_MAX_DELAY_EVENTS = 8  # most events drained between an event's enqueue and its drain
L_MAX_DELAY_NS = 9
L_STARVATION = 10  # events served by the starvation bound rather than by priority
LANE_STRIDE = 16  # two cache lines per lane

# state: hot-path words
S_HELD = 0  # events in all lanes
S_CLOCK = 1  # events drained so far: the event clock queueing delays are measured in
S_SEQ = 2  # events accepted so far: orders events across lanes (oldest waiting)
S_STREAK = 3  # services in a row that passed a non-empty less urgent lane
N_STATE = 8

# stamps: one row per slot
T_NS = 0  # enqueue time, ns
T_CLOCK = 1  # S_CLOCK at enqueue
T_SEQ = 2  # S_SEQ at enqueue
N_STAMPS = 3

# what enqueue did with an event
ENQUEUED = 0
EVICTED = 1  # enqueued after evicting the newest event of a less urgent lane
DROPPED = 2  # refused, counted on its lane

if max(EventKind) >= N_KINDS:
    raise AssertionError("EventKind outgrew the lane type table")
