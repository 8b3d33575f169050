"""Lock-free single-producer, multi-consumer ring bus with per-consumer loss policy.

``RingBus`` (control code) creates rings and manages consumers; ``kernels`` holds the
compiled publish/poll functions the hot path calls on ``RingBus.arrays``.
"""

from lowlat.core.ring import kernels
from lowlat.core.ring.bus import ConsumerStats, RingArrays, RingBus, RingError, RingStats
from lowlat.core.ring.layout import (
    BACK_PRESSURED,
    EMPTY,
    ConsumerState,
    Policy,
    WaitStrategy,
)

__all__ = [
    "BACK_PRESSURED",
    "EMPTY",
    "ConsumerState",
    "ConsumerStats",
    "Policy",
    "RingArrays",
    "RingBus",
    "RingError",
    "RingStats",
    "WaitStrategy",
    "kernels",
]
