"""Memory of the execution stage: the order table, counters and latency-sample rings.

Client order ids are consecutive, so order ``id`` lives in entry ``id & (orders - 1)``: no
hashing, and the newest orders are always the ones in cache. One row per order, every
transition stamped (monotonic ns) in the row.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np

from lowlat.execution.config import ExecutionConfig

__all__ = ["COUNTER_FIELDS", "ORDER_FIELDS", "ExecState", "GateReason", "allocate"]


class GateReason(IntEnum):
    """Why the execution stage itself refused a decision (``ACK_DTYPE.reason``).

    Codes from 1000 up, so that they never collide with risk or breaker reason codes,
    which pass through unchanged.
    """

    LIFECYCLE = 1000  # the lifecycle state allows no order to leave (INIT, HALTED, STOPPED)
    TABLE_FULL = 1001  # the order's table entry still holds a live order
    NOT_WORKING = 1002  # cancel/replace of an order not resting, or with a request pending
    OUTBOUND_FULL = 1003  # the outbound buffer had no room: not sent
    BREAKER = 1004  # the instrument's circuit breaker is in LIMIT, PAUSED or HALTED
    MARKET_HALT = 1005  # a market-wide circuit-breaker level is in force


# orders[entry, O_*]
O_ID = 0
O_STATE = 1  # OrderState
O_PREVIOUS_STATE = 2  # state before a pending cancel/replace, restored if it is rejected
O_INSTRUMENT = 3
O_ACCOUNT = 4
O_SIDE = 5
O_PRICE = 6
O_QTY = 7
O_CUM = 8
O_LEAVES = 9
O_TRIGGER_SEQ = 10
O_TRIGGER_RECV_NS = 11
O_DECISION_NS = 12
O_SENT_NS = 13
O_LAST_NS = 14  # time of the last transition
O_VENUE_ID = 15
O_REASON = 16
O_TRANSITIONS = 17
O_ACTION = 18  # OrderAction of the decision
O_TARGET = 19  # a cancel/replace request: the client order id of the order it targets
ORDER_WORDS = 24
ORDER_FIELDS = (
    "client_order_id",
    "state",
    "previous_state",
    "instrument",
    "account",
    "side",
    "price",
    "qty",
    "cum_qty",
    "leaves_qty",
    "trigger_seq",
    "trigger_recv_ns",
    "decision_ns",
    "sent_ns",
    "last_ns",
    "venue_order_id",
    "reason",
    "transitions",
    "action",
    "orig_client_order_id",
)

# counters[C_*]
C_NEXT_ID = 0
C_DECISIONS = 1
C_SENT = 2
C_PROVISIONAL = 3
C_REFUSED = 4  # by risk or breakers (reason passed in)
C_REFUSED_LIFECYCLE = 5
C_TABLE_FULL = 6
C_NOT_WORKING = 7
C_OUTBOUND_FULL = 8
C_REPORTS = 9
C_UNKNOWN_REPORTS = 10
C_DUPLICATE_REPORTS = 11
C_OUT_OF_ORDER_REPORTS = 12
C_DECISION_SAMPLES = 13  # samples written to the decision-latency ring (all time)
C_EXECUTION_SAMPLES = 14
C_ACKS = 15  # ack records written for the strategy and the journal
C_ENGINE_SAMPLES = 16  # samples written to the engine-time ring (all time)
C_ENGINE_MARK_NS = 17  # engine's last mark: block taken, decision made or round done
COUNTER_WORDS = 24
COUNTER_FIELDS = (
    "next_client_order_id",
    "decisions",
    "sent",
    "provisional",
    "refused",
    "refused_lifecycle",
    "table_full",
    "not_working",
    "outbound_full",
    "reports",
    "unknown_reports",
    "duplicate_reports",
    "out_of_order_reports",
    "decision_samples",
    "execution_samples",
    "acks",
    "engine_samples",
)  # C_ENGINE_MARK_NS is a time stamp, not a counter: not reported


class ExecState(NamedTuple):
    """Every array of the execution stage; kernels take the tuple as one argument."""

    orders: np.ndarray  # int64[orders, ORDER_WORDS]
    counters: np.ndarray  # int64[COUNTER_WORDS]
    decision_latency: np.ndarray  # int64[samples]: trigger receive → decision, ns
    execution_latency: np.ndarray  # int64[samples]: sent → venue report, ns
    engine_latency: np.ndarray  # int64[samples]: the engine's own time on a decision, ns


def allocate(config: ExecutionConfig) -> ExecState:
    """Allocate the arrays of an execution stage sized by ``config``."""
    state = ExecState(
        orders=np.zeros((config.orders, ORDER_WORDS), np.int64),
        counters=np.zeros(COUNTER_WORDS, np.int64),
        decision_latency=np.zeros(config.samples, np.int64),
        execution_latency=np.zeros(config.samples, np.int64),
        engine_latency=np.zeros(config.samples, np.int64),
    )
    state.counters[C_NEXT_ID] = config.first_client_order_id
    return state
