"""Circuit breakers: per instrument, market-wide, and the system breaker on the lifecycle.

Per instrument: LULD-style bands with limit state and pause, rolling-move and
volatility-spike detectors, warn → throttle → halt; market-wide: 7 / 13 / 20 % levels; the
system breaker degrades the engine under sustained overload.

``kernels`` holds the compiled stage and the gate's reads, :class:`CircuitBreakers` the
control-plane handle, :class:`SystemBreaker` the lifecycle-side breaker.
"""

from lowlat.risk.breakers import kernels
from lowlat.risk.breakers.breakers import CircuitBreakers
from lowlat.risk.breakers.config import BandTier, BreakerConfig, SystemBreakerConfig
from lowlat.risk.breakers.layout import BreakerState
from lowlat.risk.breakers.records import (
    BREAKER_EVENT_DTYPE,
    MARKET_WIDE,
    BreakerCause,
    InstrumentState,
    MarketLevel,
)
from lowlat.risk.breakers.system import SystemBreaker, SystemHealth

__all__ = [
    "BREAKER_EVENT_DTYPE",
    "MARKET_WIDE",
    "BandTier",
    "BreakerCause",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreakers",
    "InstrumentState",
    "MarketLevel",
    "SystemBreaker",
    "SystemBreakerConfig",
    "SystemHealth",
    "kernels",
]
