"""Circuit-breaker parameters, fixed at start and loadable from TOML.

The market breakers' durations are nanoseconds of *event time* (the records'
``exchange_ns``), never wall time, so a replay trips and recovers exactly as the live
session did; the system breaker's are the monotonic times its controller observes at.
Prices are integer ticks (1/10,000), moves in basis points.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["BandTier", "BreakerConfig", "SystemBreakerConfig"]

_SECOND = 1_000_000_000
_MAX_INSTRUMENT_ID_LIMIT = (1 << 31) - 1


@dataclass(frozen=True)
class BandTier:
    """One price tier of the LULD-style bands.

    Parameters
    ----------
    min_price
        Lowest reference price of the tier, in ticks (30,000 = $3.00).
    band_bps
        Half-width of the band around the reference price, in basis points (500 = 5 %).
    """

    min_price: int
    band_bps: float


_DEFAULT_TIERS = (BandTier(30_000, 500.0), BandTier(7_500, 1_000.0), BandTier(0, 2_000.0))


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds, windows and timers of the per-instrument and market-wide breakers.

    Parameters
    ----------
    instruments
        Instrument slots; an instrument takes the next one at its first price. Prices of
        instruments beyond this are counted (``instrument_overflow``) and not judged.
    max_instrument_id
        Largest instrument id accepted; ids map to slots through a table of this size.
    band_tiers
        LULD-style bands, highest ``min_price`` first; the last tier must start at 0 so
        that every price has a band. Defaults: 5 % from $3.00, 10 % from $0.75, 20 % below
        (a tick is a larger move on a cheap instrument).
    reference_window_ns, reference_buckets
        The reference price is, as in LULD, the mean of the instrument's prices over the
        last ``reference_window_ns`` of event time (LULD: 5 minutes), kept in
        ``reference_buckets`` time buckets — so the window spans between ``(buckets - 1) /
        buckets`` of that and all of it. A price is judged against the mean of the prices
        *before* it; with no price in the window the last reference stays.
    band_warn, band_throttle
        Fractions of the band at which a move from the reference means WARN and THROTTLE;
        the band itself (fraction 1) means LIMIT.
    limit_ns, pause_ns
        An instrument still at the band ``limit_ns`` after entering the limit state (LULD:
        15 s) is paused for ``pause_ns`` (LULD: 5 minutes), then reopens with its last
        price as the reference.
    limit_exit_ns
        The limit state ends once the price has stayed back inside the band, by the
        hysteresis margin, for this long (0: at once, as LULD). A mid bouncing between a
        swept level and a stale one would otherwise enter and leave it on every update.
    move_window_ns, move_buckets
        Rolling-move detector: the price range ``(high - low) / low`` over the last
        ``move_window_ns``, kept in ``move_buckets`` time buckets.
    move_warn_bps, move_throttle_bps, move_halt_bps
        Ranges, in basis points, that mean WARN, THROTTLE and HALTED. Thresholds of a
        detector never decrease; equal ones skip a level, ``inf`` switches one off.
    vol_fast_half_life_ns, vol_slow_half_life_ns
        Volatility-spike detector: two event-time EWMAs of squared returns; the detector
        reads the fast volatility as a multiple of the slow one.
    vol_warmup_ns
        Event time after an instrument's first price before the detector judges (the slow
        average needs history).
    vol_warn, vol_throttle, vol_halt
        Fast/slow volatility ratios that mean WARN, THROTTLE and HALTED (above 1).
    market_level1_bps, market_level2_bps, market_level3_bps
        Market-wide breakers (7 / 13 / 20 %), on the decline of the reference index: the
        equal-weighted mean return of every instrument since its first price of the
        session (above 10,000 bps — a 100 % decline — a level never triggers).
    market_halt_ns
        Length of a level 1 or level 2 market halt (15 minutes); level 3 halts for the rest
        of the session. Each level triggers at most once per session.
    hysteresis
        A level is left only when its conditions fall below ``(1 - hysteresis)`` times the
        thresholds that raised it (the limit state: back inside the band by that margin).
    cooldown_ns
        WARN, THROTTLE and HALTED step down only once their conditions have stayed below
        the recovery thresholds for this long.
    """

    instruments: int = 64
    max_instrument_id: int = 65_535
    band_tiers: tuple[BandTier, ...] = _DEFAULT_TIERS
    reference_window_ns: int = 300 * _SECOND
    reference_buckets: int = 30
    band_warn: float = 0.5
    band_throttle: float = 0.75
    limit_ns: int = 15 * _SECOND
    pause_ns: int = 300 * _SECOND
    limit_exit_ns: int = _SECOND
    move_window_ns: int = 30 * _SECOND
    move_buckets: int = 10
    move_warn_bps: float = 150.0
    move_throttle_bps: float = 300.0
    move_halt_bps: float = 600.0
    vol_fast_half_life_ns: int = 5 * _SECOND
    vol_slow_half_life_ns: int = 600 * _SECOND
    vol_warmup_ns: int = 600 * _SECOND
    vol_warn: float = 3.0
    vol_throttle: float = 5.0
    vol_halt: float = 10.0
    market_level1_bps: float = 700.0
    market_level2_bps: float = 1_300.0
    market_level3_bps: float = 2_000.0
    market_halt_ns: int = 900 * _SECOND
    hysteresis: float = 0.2
    cooldown_ns: int = 30 * _SECOND

    def __post_init__(self) -> None:
        object.__setattr__(self, "band_tiers", tuple(self.band_tiers))
        _at_least("instruments", self.instruments, 1)
        _at_least("max_instrument_id", self.max_instrument_id, 0)
        if self.max_instrument_id > _MAX_INSTRUMENT_ID_LIMIT:
            raise ValueError(
                f"breaker max_instrument_id must be at most {_MAX_INSTRUMENT_ID_LIMIT}, "
                f"got {self.max_instrument_id}"
            )
        self._check_tiers()
        for name in ("reference_buckets", "move_buckets"):
            _at_least(name, getattr(self, name), 1)
        for name in (
            "reference_window_ns",
            "limit_ns",
            "pause_ns",
            "move_window_ns",
            "vol_fast_half_life_ns",
            "vol_slow_half_life_ns",
            "market_halt_ns",
        ):
            _at_least(name, getattr(self, name), 1)
        _at_least("vol_warmup_ns", self.vol_warmup_ns, 0)
        _at_least("limit_exit_ns", self.limit_exit_ns, 0)
        _at_least("cooldown_ns", self.cooldown_ns, 0)
        for window, buckets in (
            ("reference_window_ns", "reference_buckets"),
            ("move_window_ns", "move_buckets"),
        ):
            if getattr(self, window) < getattr(self, buckets):
                raise ValueError(
                    f"breaker {window} ({getattr(self, window)}) must be at least "
                    f"{buckets} ({getattr(self, buckets)}) ns"
                )
        if self.vol_fast_half_life_ns >= self.vol_slow_half_life_ns:
            raise ValueError(
                f"breaker vol_fast_half_life_ns ({self.vol_fast_half_life_ns}) must be "
                f"shorter than vol_slow_half_life_ns ({self.vol_slow_half_life_ns})"
            )
        _ordered(("band_warn", "band_throttle"), self, upper=1.0)
        _ordered(("move_warn_bps", "move_throttle_bps", "move_halt_bps"), self)
        _ordered(("vol_warn", "vol_throttle", "vol_halt"), self)
        if not self.vol_warn > 1.0:
            raise ValueError(f"breaker vol_warn must be above 1, got {self.vol_warn!r}")
        _ordered(("market_level1_bps", "market_level2_bps", "market_level3_bps"), self)
        if not 0.0 <= self.hysteresis < 1.0:
            raise ValueError(f"breaker hysteresis must be in [0, 1), got {self.hysteresis!r}")

    def _check_tiers(self) -> None:
        if not self.band_tiers:
            raise ValueError("breaker band_tiers must list at least one tier")
        previous = None
        for i, tier in enumerate(self.band_tiers):
            if not isinstance(tier, BandTier):
                raise ValueError(f"breaker band_tiers[{i}] must be a BandTier, got {tier!r}")
            if isinstance(tier.min_price, bool) or not isinstance(tier.min_price, int):
                raise ValueError(
                    f"breaker band_tiers[{i}].min_price must be an integer number of ticks, "
                    f"got {tier.min_price!r}"
                )
            if previous is not None and not tier.min_price < previous:
                raise ValueError(
                    f"breaker band_tiers must be ordered by min_price, highest first; "
                    f"band_tiers[{i}].min_price is {tier.min_price} after {previous}"
                )
            if not 0.0 < tier.band_bps <= 10_000.0:
                raise ValueError(
                    f"breaker band_tiers[{i}].band_bps must be in (0, 10000], got {tier.band_bps!r}"
                )
            previous = tier.min_price
        if self.band_tiers[-1].min_price != 0:
            raise ValueError(
                "breaker band_tiers: the last tier must have min_price 0 so that every "
                f"price has a band, got {self.band_tiers[-1].min_price}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerConfig:
        """Build a config from plain data, naming any unknown key or mistyped value.

        ``band_tiers`` is a list of mappings with ``min_price`` (ticks) and ``band_bps``.
        """
        values = _typed(cls, data, "breaker")
        if "band_tiers" in values:
            tiers = values["band_tiers"]
            if not isinstance(tiers, list | tuple):
                raise ValueError(f"breaker band_tiers must be a list of tables, got {tiers!r}")
            values["band_tiers"] = tuple(_tier(i, t) for i, t in enumerate(tiers))
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> BreakerConfig:
        """Build a config from TOML: the keys at top level or under a ``[breakers]`` table."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("breakers", data))


@dataclass(frozen=True)
class SystemBreakerConfig:
    """When the system breaker degrades the engine and when it lets it recover.

    Parameters
    ----------
    breach_rate_per_s
        Latency-budget breaches per second (the growth of the breach counter between two
        observations) at or above which the engine is unhealthy.
    max_lag
        Ring lag (events a consumer is behind) at or above which the engine is unhealthy.
    healthy_fraction
        The engine is healthy again only with both measures below this fraction of their
        limits; in between it is neither, and both clocks restart.
    degrade_after_ns
        How long the engine must stay unhealthy before READY → DEGRADED.
    recover_after_ns
        How long it must then stay healthy before DEGRADED → READY.
    """

    breach_rate_per_s: float = 100.0
    max_lag: int = 4_096
    healthy_fraction: float = 0.5
    degrade_after_ns: int = _SECOND
    recover_after_ns: int = 5 * _SECOND

    def __post_init__(self) -> None:
        if not 0.0 < self.breach_rate_per_s < math.inf:
            raise ValueError(
                f"system breaker breach_rate_per_s must be a positive number, "
                f"got {self.breach_rate_per_s!r}"
            )
        _at_least("max_lag", self.max_lag, 1, "system breaker")
        if not 0.0 < self.healthy_fraction <= 1.0:
            raise ValueError(
                f"system breaker healthy_fraction must be in (0, 1], got {self.healthy_fraction!r}"
            )
        _at_least("degrade_after_ns", self.degrade_after_ns, 0, "system breaker")
        _at_least("recover_after_ns", self.recover_after_ns, 0, "system breaker")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SystemBreakerConfig:
        """Build a config from plain data, naming any unknown key or mistyped value."""
        return cls(**_typed(cls, data, "system breaker"))

    @classmethod
    def from_toml(cls, text: str) -> SystemBreakerConfig:
        """Build a config from TOML: the keys at top level or under ``[system_breaker]``."""
        data = tomllib.loads(text)
        return cls.from_dict(data.get("system_breaker", data))


def _at_least(name: str, value: int, low: int, what: str = "breaker") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} {name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{what} {name} must be at least {low}, got {value}")


def _ordered(names: tuple[str, ...], config: BreakerConfig, upper: float = math.inf) -> None:
    """Check that thresholds are positive, not above ``upper`` and never decrease."""
    values = [getattr(config, name) for name in names]
    for name, value in zip(names, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"breaker {name} must be a positive number, got {value!r}")
        if value > upper:
            raise ValueError(f"breaker {name} must be at most {upper}, got {value!r}")
    for (low_name, low), (high_name, high) in itertools.pairwise(zip(names, values, strict=True)):
        if high < low:
            raise ValueError(
                f"breaker thresholds must not decrease: {low_name} = {low!r} is above "
                f"{high_name} = {high!r}"
            )


def _typed(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``data`` checked against ``cls``'s fields: known keys, ints as ints, numbers as floats."""
    kinds = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ValueError(f"unknown {what} config keys {unknown}; known: {sorted(kinds)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = kinds[key]
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{what} config {key} must be an integer, got {value!r}")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{what} config {key} must be a number, got {value!r}")
            value = float(value)
        values[key] = value
    return values


def _tier(index: int, data: Any) -> BandTier:
    if not isinstance(data, Mapping):
        raise ValueError(
            f"breaker band_tiers[{index}] must be a table with min_price and band_bps, got {data!r}"
        )
    missing = sorted({"min_price", "band_bps"} - set(data))
    unknown = sorted(set(data) - {"min_price", "band_bps"})
    if missing or unknown:
        raise ValueError(
            f"breaker band_tiers[{index}] needs exactly min_price and band_bps; "
            f"missing {missing}, unknown {unknown}"
        )
    band = data["band_bps"]
    if isinstance(band, bool) or not isinstance(band, int | float):
        raise ValueError(f"breaker band_tiers[{index}].band_bps must be a number, got {band!r}")
    return BandTier(data["min_price"], float(band))
