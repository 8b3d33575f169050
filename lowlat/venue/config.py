"""Configuration of the simulated venue: sizes, self-trade prevention, latency and faults.

Frozen dataclasses loadable from TOML (``[venue]``, ``[venue.latency]``,
``[venue.faults]``); unknown keys and values of the wrong type are errors naming the key,
so a typo never falls back to a default silently. Every random choice is drawn from a
seeded generator: equal configs and equal input give equal output.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lowlat.venue.records import StpMode

__all__ = ["DISTRIBUTIONS", "STP_MODES", "FaultModel", "LatencyModel", "VenueConfig"]

#: Latency jitter distributions, by name → the code the gateway kernel reads.
DISTRIBUTIONS = {"none": 0, "uniform": 1, "exponential": 2}
#: Self-trade prevention modes, by name.
STP_MODES = {mode.name.lower(): mode for mode in StpMode}
_MAX_INSTRUMENT_ID = 1 << 20


def _check_int(owner: str, name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner} {name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f"at least {low}"
        raise ValueError(f"{owner} {name} must be {bound}, got {value}")


def _check_rate(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{owner} {name} must be a number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner} {name} must be a probability in [0, 1], got {value}")


def _build(cls: type, owner: str, data: Mapping[str, Any]) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{owner} must be a table, got {data!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {owner} keys {unknown}; known: {sorted(known)}")
    return cls(**data)


@dataclass(frozen=True)
class LatencyModel:
    """Time from an order's arrival at the venue to its reports, in nanoseconds.

    ``latency = fixed_ns + jitter (+ spike_ns)``, where the jitter is drawn per order from
    ``distribution`` — ``"none"``, ``"uniform"`` on ``0..scale_ns`` or ``"exponential"``
    with mean ``scale_ns`` — and ``spike_ns`` is added with probability
    ``spike_probability`` while the gateway's volatility flag is raised.

    Parameters
    ----------
    fixed_ns
        The constant part.
    distribution
        Name of the jitter distribution (:data:`DISTRIBUTIONS`).
    scale_ns
        The jitter's scale (upper bound for uniform, mean for exponential).
    spike_ns
        Extra latency of an order hit by a spike.
    spike_probability
        Chance that an order arriving while volatility is raised is hit by a spike.
    seed
        Seed of the latency generator (separate from the faults', so that changing a
        fault rate does not change latencies).
    """

    fixed_ns: int = 0
    distribution: str = "none"
    scale_ns: int = 0
    spike_ns: int = 0
    spike_probability: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fixed_ns", "scale_ns", "spike_ns", "seed"):
            _check_int("venue latency", name, getattr(self, name), 0)
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"venue latency distribution must be one of {sorted(DISTRIBUTIONS)}, "
                f"got {self.distribution!r}"
            )
        _check_rate("venue latency", "spike_probability", self.spike_probability)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyModel:
        """Build from plain data, naming any unknown key."""
        return _build(cls, "venue latency", data)


@dataclass(frozen=True)
class FaultModel:
    """Faults the gateway injects; each is off at its default.

    Parameters
    ----------
    reject_rate
        Chance that an order is rejected by the venue (``Reason.VENUE_REJECT``) before it
        reaches the book.
    drop_ack_rate
        Chance that an execution report is lost on the way back: neither its ack nor its
        fill is delivered, and the receiver sees a gap in the ack sequence.
    delay_rate, delay_ns
        Chance that an order's reports are held ``delay_ns`` longer.
    disconnect_after
        Orders a connection carries before the venue drops it (0: never). The drop
        happens after the replies to the batch that reaches the count.
    service_ns
        Slow venue: time the venue spends on each order. Orders queue behind each other,
        so a burst builds a backlog and its latency grows.
    seed
        Seed of the fault generator.
    """

    reject_rate: float = 0.0
    drop_ack_rate: float = 0.0
    delay_rate: float = 0.0
    delay_ns: int = 0
    disconnect_after: int = 0
    service_ns: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("reject_rate", "drop_ack_rate", "delay_rate"):
            _check_rate("venue faults", name, getattr(self, name))
        for name in ("delay_ns", "disconnect_after", "service_ns", "seed"):
            _check_int("venue faults", name, getattr(self, name), 0)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultModel:
        """Build from plain data, naming any unknown key."""
        return _build(cls, "venue faults", data)


@dataclass(frozen=True)
class VenueConfig:
    """The venue's instruments, memory sizes, self-trade prevention and gateway models.

    Parameters
    ----------
    instruments
        Instrument ids the venue lists, one book each; orders for others are rejected
        (``UNKNOWN_INSTRUMENT``).
    levels
        Price levels per side of each book. An order that would rest at a new price on a
        full side has its remainder cancelled (``BOOK_FULL``).
    orders
        Resting orders the venue holds at once; beyond it a remainder that would rest is
        cancelled (``ORDER_TABLE_FULL``).
    stp
        Self-trade prevention between orders of the same account (not account 0):
        ``"none"``, ``"cancel_resting"`` or ``"cancel_incoming"``.
    latency, faults
        The gateway's latency and fault models.
    """

    instruments: tuple[int, ...] = (1,)
    levels: int = 1_024
    orders: int = 1 << 16
    stp: str = "cancel_resting"
    latency: LatencyModel = field(default_factory=LatencyModel)
    faults: FaultModel = field(default_factory=FaultModel)

    def __post_init__(self) -> None:
        instruments = self.instruments
        if isinstance(instruments, list):
            instruments = tuple(instruments)
            object.__setattr__(self, "instruments", instruments)
        if not isinstance(instruments, tuple) or not instruments:
            raise ValueError(f"venue instruments must be a non-empty list, got {instruments!r}")
        for instrument in instruments:
            _check_int("venue", "instruments entry", instrument, 0, _MAX_INSTRUMENT_ID)
        if len(set(instruments)) != len(instruments):
            raise ValueError(f"venue instruments must be distinct, got {list(instruments)}")
        _check_int("venue", "levels", self.levels, 1)
        _check_int("venue", "orders", self.orders, 1, 1 << 30)
        if self.stp not in STP_MODES:
            raise ValueError(f"venue stp must be one of {sorted(STP_MODES)}, got {self.stp!r}")
        if not isinstance(self.latency, LatencyModel):
            raise ValueError(f"venue latency must be a LatencyModel, got {self.latency!r}")
        if not isinstance(self.faults, FaultModel):
            raise ValueError(f"venue faults must be a FaultModel, got {self.faults!r}")

    @property
    def stp_mode(self) -> StpMode:
        """The self-trade prevention mode as a code."""
        return STP_MODES[self.stp]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VenueConfig:
        """Build from plain data (``latency`` and ``faults`` as nested tables)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"venue config must be a table, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown venue config keys {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "latency" in values:
            values["latency"] = LatencyModel.from_dict(values["latency"])
        if "faults" in values:
            values["faults"] = FaultModel.from_dict(values["faults"])
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> VenueConfig:
        """Build from TOML: the keys at top level or under a ``[venue]`` table."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("venue", data))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict())`` gives an equal config."""
        return {
            "instruments": list(self.instruments),
            "levels": self.levels,
            "orders": self.orders,
            "stp": self.stp,
            "latency": {f.name: getattr(self.latency, f.name) for f in fields(LatencyModel)},
            "faults": {f.name: getattr(self.faults, f.name) for f in fields(FaultModel)},
        }
