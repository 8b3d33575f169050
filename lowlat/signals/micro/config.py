"""Parameters of the microstructure signals, fixed at start and loadable from TOML."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["SignalConfig"]


@dataclass(frozen=True)
class SignalConfig:
    """How the signals are computed.

    Parameters
    ----------
    levels
        Levels per side in the N-level imbalance and the depth-distance (liquidity
        migration) signals.
    flow_half_life_ns
        Half-life of the aggressor-flow volumes, in event time (exchange timestamps).
    migration_half_life
        Half-life, in book updates, of the EWMA of depth-distance changes.
    volatility_half_life
        Half-life, in mid-price changes, of the EWMA of squared mid returns.
    trade_side_is_aggressor
        Whether a TRADE record's side is the aggressor's (Binance trades) rather than the
        resting order's (ITCH P, LOBSTER hidden executions). EXECUTE records always name
        the resting order, so their aggressor is the other side.
    """

    levels: int = 5
    flow_half_life_ns: int = 1_000_000_000
    migration_half_life: float = 50.0
    volatility_half_life: float = 100.0
    trade_side_is_aggressor: bool = False

    def __post_init__(self) -> None:
        if self.levels < 1:
            raise ValueError(f"signal levels must be at least 1, got {self.levels}")
        if self.flow_half_life_ns < 1:
            raise ValueError(
                f"signal flow_half_life_ns must be at least 1, got {self.flow_half_life_ns}"
            )
        for name in ("migration_half_life", "volatility_half_life"):
            value = getattr(self, name)
            if not value > 0 or math.isinf(value):
                raise ValueError(f"signal {name} must be a positive number, got {value!r}")

    @staticmethod
    def decay(half_life: float) -> float:
        """EWMA weight kept per step for a half-life in steps: ``0.5 ** (1 / half_life)``."""
        return 0.5 ** (1.0 / half_life)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalConfig:
        """Build a config from plain data, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown signal config keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, text: str) -> SignalConfig:
        """Build a config from TOML: the keys at top level or under a ``[signals]`` table."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("signals", data))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict())`` gives an equal config."""
        return asdict(self)
