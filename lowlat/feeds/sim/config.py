"""Scenario configuration of the market simulator: frozen dataclasses, loadable from TOML.

A :class:`ScenarioConfig` fixes everything the generator needs — seed, instruments,
message count, session length, the factor model, the order mix — plus a tuple of
:class:`Regime` windows that scale volatility and message rate, or add a drift, for a
stretch of the session and for one sector or the whole market. Configs are values: equal
configs generate byte-identical files, and :meth:`ScenarioConfig.from_dict` /
:meth:`ScenarioConfig.from_toml` rebuild one from plain data (unknown keys are errors, so a
typo never silently falls back to a default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OrderMix", "Regime", "ScenarioConfig"]

MAX_INSTRUMENTS = 9_999  # symbols are SIM0001 … SIM9999


@dataclass(frozen=True)
class Regime:
    """A window of the session in which one sector (or all) trades differently.

    Overlapping regimes combine: multipliers multiply, drifts add.

    Parameters
    ----------
    start_s, end_s
        The window, in seconds after the open (``start_s <= t < end_s``).
    sector
        Sector the regime applies to, or -1 for every instrument.
    rate_mult
        Factor on the message rate of the affected instruments (volume).
    vol_mult
        Factor on their return volatility.
    drift_per_s
        Deterministic log-return per second added to their mids (a crash is negative).
    """

    start_s: float
    end_s: float
    sector: int = -1
    rate_mult: float = 1.0
    vol_mult: float = 1.0
    drift_per_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s >= 0:
            raise ValueError(f"regime needs 0 <= start_s < end_s, got {self}")
        if self.rate_mult <= 0 or self.vol_mult < 0:
            raise ValueError(f"regime needs rate_mult > 0 and vol_mult >= 0, got {self}")


@dataclass(frozen=True)
class OrderMix:
    """Probabilities of each order-flow action when an instrument is picked.

    They must sum to 1. Whatever the draw, an instrument with fewer than ``min_live``
    resting orders on a side adds one there, and one whose order pool is full never adds.

    Parameters
    ----------
    add
        New order: ``A``, or ``F`` (with attribution) for a share ``attributed`` of them.
    execute
        Execution (``E``) of the best order on a random side, in full or in part.
    cancel
        Partial cancel (``X``) of a random order (a ``D`` when it holds a single lot).
    delete
        Delete (``D``) of a random order.
    replace
        Replace (``U``) of a random order by a new one on the same side.
    trade
        Non-displayed trade (``P``) at the mid.
    attributed
        Share of adds sent as ``F``.
    """

    add: float = 0.46
    execute: float = 0.08
    cancel: float = 0.06
    delete: float = 0.26
    replace: float = 0.12
    trade: float = 0.02
    attributed: float = 0.1

    def __post_init__(self) -> None:
        parts = (self.add, self.execute, self.cancel, self.delete, self.replace, self.trade)
        if min(parts) < 0 or abs(sum(parts) - 1.0) > 1e-9:
            raise ValueError(f"order mix probabilities must be >= 0 and sum to 1, got {self}")
        if not 0 <= self.attributed <= 1:
            raise ValueError("attributed must be in [0, 1]")


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything that determines a generated ITCH 5.0 session.

    Mids follow a random walk in log-price, updated every ``step_ms`` for all instruments
    with a one-factor-per-level model: return = ``σ √dt (√w_m z_market + √w_s
    z_sector + √(1 - w_m - w_s) z_own)``, so the correlation of two instruments is ``w_m``
    across sectors and ``w_m + w_s`` within one. Messages arrive as a Poisson stream whose
    rate follows the regimes, scaled so that about ``messages`` arrive in ``duration_s``;
    the generator always writes exactly ``messages`` order-flow messages.

    Parameters
    ----------
    name
        Scenario name (informational).
    seed
        PRNG seed; the output is a pure function of the config.
    instruments
        Number of instruments (locates 1…n, symbols ``SIM0001``…), sector ``i % sectors``.
    messages
        Order-flow messages to write (A, F, E, X, D, U, P); system, directory and trading
        action messages come on top.
    duration_s
        Simulated session length in seconds (the session is compressed: open at 09:30).
    sectors
        Number of sectors.
    volatility
        Log-return standard deviation per √second of every mid (regime multiplier 1).
    market_weight, sector_weight
        Variance shares of the market and sector factors (their sum at most 1).
    step_ms
        Mid update interval in simulated milliseconds.
    price_min, price_max
        Initial mids are drawn uniformly in this range (currency units).
    tick
        Price increment in ticks of 1/10,000 (100 = one cent).
    mean_level
        Mean distance of new orders from the touch, in increments (exponential).
    lot, max_lots
        Order sizes are 1…``max_lots`` lots of ``lot`` shares.
    pool
        Resting orders per instrument the generator tracks (its preallocated order pool).
    min_live
        Below this many resting orders on a side an instrument adds to that side (so both
        sides stay populated); ``2 * min_live < pool``.
    mix
        The order-flow action probabilities.
    regimes
        Volatility, volume and drift windows.
    """

    name: str = "custom"
    seed: int = 1
    instruments: int = 8
    messages: int = 1_000_000
    duration_s: float = 60.0
    sectors: int = 4
    volatility: float = 5e-4
    market_weight: float = 0.1
    sector_weight: float = 0.1
    step_ms: float = 10.0
    price_min: float = 50.0
    price_max: float = 250.0
    tick: int = 100
    mean_level: float = 2.0
    lot: int = 100
    max_lots: int = 10
    pool: int = 64
    min_live: int = 8
    mix: OrderMix = field(default_factory=OrderMix)
    regimes: tuple[Regime, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.instruments <= MAX_INSTRUMENTS:
            raise ValueError(f"instruments must be in 1..{MAX_INSTRUMENTS}")
        if self.messages < 0 or self.duration_s <= 0 or self.step_ms <= 0:
            raise ValueError("messages must be >= 0, duration_s and step_ms > 0")
        if self.sectors < 1:
            raise ValueError("sectors must be at least 1")
        weights = (self.market_weight, self.sector_weight)
        if self.volatility < 0 or min(weights) < 0 or sum(weights) > 1:
            raise ValueError("volatility >= 0 and factor weights >= 0 summing to at most 1")
        if not 0 < self.price_min <= self.price_max or self.price_max * 10_000 >= 2**31:
            raise ValueError("need 0 < price_min <= price_max < 214748 (Price(4) range)")
        if self.tick < 1 or self.lot < 1 or self.max_lots < 1 or self.mean_level < 0:
            raise ValueError("tick, lot and max_lots must be >= 1, mean_level >= 0")
        if self.min_live < 1 or 2 * self.min_live >= self.pool:
            raise ValueError("need 1 <= min_live and 2 * min_live < pool")
        for regime in self.regimes:
            if regime.sector >= self.sectors:
                raise ValueError(f"regime sector {regime.sector} >= sectors {self.sectors}")

    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioConfig:
        """Build a config from plain data: ``mix`` a mapping, ``regimes`` a list of them.

        Raises
        ------
        TypeError
            On an unknown key (the message names it).
        ValueError
            On an invalid value.
        """
        values = dict(data)
        if "mix" in values:
            values["mix"] = OrderMix(**values["mix"])
        if "regimes" in values:
            values["regimes"] = tuple(Regime(**r) for r in values["regimes"])
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> ScenarioConfig:
        """Build a config from TOML text: top-level keys, ``[mix]`` and ``[[regimes]]``."""
        return cls.from_dict(tomllib.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form; ``from_dict(to_dict())`` gives an equal config."""
        data = dataclasses.asdict(self)
        data["regimes"] = [dict(r) for r in data["regimes"]]
        return data
