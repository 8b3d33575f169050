"""Sizes of the book engine, fixed up front: every array is allocated once from these."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["BookConfig"]

_MAX_INSTRUMENT_ID_LIMIT = (1 << 31) - 1


@dataclass(frozen=True)
class BookConfig:
    """How many books, levels and orders the engine holds; nothing grows after start.

    Parameters
    ----------
    instruments
        Book slots. An instrument gets the next free slot the first time one of its
        events reaches the book; events of instruments beyond this are counted
        (``instrument_overflow``) and not applied.
    max_instrument_id
        Largest instrument id accepted (ITCH stock locates are 16-bit: 65,535). Ids map
        to slots through a table of this many ``int32`` entries.
    levels
        Price levels kept per side of each book. When a side is full, the level farthest
        from the touch is dropped and counted (``level_overflow``).
    orders
        Capacity of the order table (a power of two, shared by every book). Inserts stop
        at 3/4 full, so that probe chains stay short; refused orders are counted
        (``order_table_full``) and their depth still goes to the price level.
    own_orders
        Own orders whose queue position the engine tracks.
    """

    instruments: int = 64
    max_instrument_id: int = 65_535
    levels: int = 1_024
    orders: int = 1 << 20
    own_orders: int = 256

    def __post_init__(self) -> None:
        if self.instruments < 1:
            raise ValueError(f"book instruments must be at least 1, got {self.instruments}")
        if not 0 <= self.max_instrument_id <= _MAX_INSTRUMENT_ID_LIMIT:
            raise ValueError(
                f"book max_instrument_id must be in 0..{_MAX_INSTRUMENT_ID_LIMIT}, "
                f"got {self.max_instrument_id}"
            )
        if self.levels < 1:
            raise ValueError(f"book levels must be at least 1, got {self.levels}")
        if self.orders < 16 or self.orders & (self.orders - 1):
            raise ValueError(f"book orders must be a power of two >= 16, got {self.orders}")
        if self.own_orders < 1:
            raise ValueError(f"book own_orders must be at least 1, got {self.own_orders}")

    @property
    def order_limit(self) -> int:
        """Live orders the table accepts before refusing inserts (3/4 of its capacity)."""
        return self.orders - self.orders // 4

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BookConfig:
        """Build a config from plain data, naming any unknown key or non-integer value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown book config keys {unknown}; known: {sorted(known)}")
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"book config {key} must be an integer, got {value!r}")
        return cls(**data)

    @classmethod
    def from_toml(cls, text: str) -> BookConfig:
        """Build a config from TOML: the keys at top level or under a ``[book]`` table."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("book", data))

    def to_dict(self) -> dict[str, int]:
        """Plain-data form; ``from_dict(to_dict())`` gives an equal config."""
        return asdict(self)
