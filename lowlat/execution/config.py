"""Sizes of the execution stage, fixed at start and loadable from TOML."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["ExecutionConfig"]


@dataclass(frozen=True)
class ExecutionConfig:
    """How many orders the execution stage tracks and how many latency samples it keeps.

    Parameters
    ----------
    orders
        Order-table entries (a power of two). Client order ids are consecutive, so an id
        maps to entry ``id & (orders - 1)``; a decision whose entry still holds a live
        order is refused and counted (``table_full``) rather than overwrite it.
    samples
        Entries of each lossy latency-sample ring (a power of two): decision latency
        (trigger received → decision) and execution latency (sent → venue report).
    first_client_order_id
        The first id handed out. A restart continues from the journal's last id + 1, so
        that no id is used twice and a venue refuses a duplicate.
    """

    orders: int = 1 << 16
    samples: int = 1 << 16
    first_client_order_id: int = 1

    def __post_init__(self) -> None:
        for name in ("orders", "samples"):
            value = getattr(self, name)
            if value < 2 or value & (value - 1):
                raise ValueError(f"execution {name} must be a power of two >= 2, got {value}")
        if self.first_client_order_id < 1:
            raise ValueError(
                f"execution first_client_order_id must be >= 1, got {self.first_client_order_id}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionConfig:
        """Build a config from plain data, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown execution config keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, text: str) -> ExecutionConfig:
        """Build a config from TOML: the keys at top level or under ``[execution]``."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("execution", data))

    def to_dict(self) -> dict[str, int]:
        """Plain-data form; ``from_dict(to_dict())`` gives an equal config."""
        return asdict(self)
