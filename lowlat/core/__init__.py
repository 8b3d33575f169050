"""Hot-path core: records, monotonic clock, atomics, the ring bus and the lifecycle.

Everything compiled here runs under ``numba.njit(nogil=True)`` and also, unchanged, under
``NUMBA_DISABLE_JIT=1`` for debugging and coverage.
"""

from lowlat.core.clock import monotonic_ns
from lowlat.core.lifecycle import (
    ExecutionMode,
    IllegalTransition,
    Lifecycle,
    LifecycleState,
)
from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    MARKET_EVENT_DTYPE,
    ORDER_DTYPE,
    AckFlag,
    AckStatus,
    EventKind,
    Side,
    price_to_ticks,
    ticks_to_price,
)
from lowlat.core.ring import (
    BACK_PRESSURED,
    EMPTY,
    ConsumerState,
    Policy,
    RingBus,
    RingError,
    WaitStrategy,
)

__all__ = [
    "ACK_DTYPE",
    "BACK_PRESSURED",
    "EMPTY",
    "FILL_DTYPE",
    "MARKET_EVENT_DTYPE",
    "ORDER_DTYPE",
    "AckFlag",
    "AckStatus",
    "ConsumerState",
    "EventKind",
    "ExecutionMode",
    "IllegalTransition",
    "Lifecycle",
    "LifecycleState",
    "Policy",
    "RingBus",
    "RingError",
    "Side",
    "WaitStrategy",
    "monotonic_ns",
    "price_to_ticks",
    "ticks_to_price",
]
