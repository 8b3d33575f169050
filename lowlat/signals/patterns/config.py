"""Pattern configuration: groups of instruments and the patterns evaluated on them, from TOML.

A :class:`PatternConfig` partitions instruments into named groups (each group runs on its
own thread) and lists patterns; every pattern's instruments must lie in one group. Configs
are frozen values validated on construction; :meth:`PatternConfig.from_toml` reads::

    clock = "exchange"          # or "receive": which timestamp the time windows use
    history = 1024              # window entries kept per (instrument, window)

    [[group]]
    name = "tech"
    instruments = [1, 2, 3, 4]
    cpu = 1                     # optional: pin the group's thread (-1, the default: any)

    [[pattern]]
    name = "a-leads-b"
    kind = "lead_lag"           # lead_lag | pair_zscore | breakout | predicate
    leader = 1
    follower = 2
    move_bps = 5.0
    window_us = 500

Every error names the group or pattern and the key at fault.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lowlat.core.sched import check_cpu

__all__ = [
    "DIRECTIONS",
    "MAX_INSTRUMENT_ID",
    "BreakoutPattern",
    "GroupConfig",
    "LeadLagPattern",
    "PairZScorePattern",
    "Pattern",
    "PatternConfig",
    "PatternConfigError",
    "PredicatePattern",
]

MAX_INSTRUMENT_ID = 1 << 20  # instrument ids index a dense slot table
MAX_HISTORY = 1 << 16
MAX_STATE_SIZE = 1024
DIRECTIONS = ("up", "down", "both")
CLOCKS = ("exchange", "receive")


class PatternConfigError(ValueError):
    """A pattern configuration is invalid; the message names the group or pattern and key."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


class _Checks:
    """Value checks that raise :class:`PatternConfigError` prefixed with ``where``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: str) -> PatternConfigError:
        return PatternConfigError(f"{self.where}: {message}")

    def name(self, value: object) -> None:
        if not isinstance(value, str) or not value:
            raise self.fail(f"name must be a non-empty string, got {value!r}")

    def instrument(self, key: str, value: object) -> None:
        if not _is_int(value) or not 0 <= value < MAX_INSTRUMENT_ID:
            raise self.fail(
                f"{key} must be an instrument id in 0..{MAX_INSTRUMENT_ID - 1}, got {value!r}"
            )

    def instruments(self, key: str, value: object, least: int) -> None:
        if not isinstance(value, tuple) or len(value) < least:
            raise self.fail(f"{key} must list at least {least} instrument(s), got {value!r}")
        for item in value:
            self.instrument(key, item)
        if len(set(value)) != len(value):
            raise self.fail(f"{key} lists an instrument twice: {list(value)}")

    def positive(self, key: str, value: object) -> None:
        if not _is_real(value) or value <= 0:
            raise self.fail(f"{key} must be a number > 0, got {value!r}")

    def direction(self, value: object) -> None:
        if value not in DIRECTIONS:
            raise self.fail(f"direction must be one of {', '.join(DIRECTIONS)}, got {value!r}")

    def window(self, window_us: object) -> None:
        self.positive("window_us", window_us)
        if round(window_us * 1_000) < 1:
            raise self.fail(f"window_us must be at least 1 ns, got {window_us!r}")


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class GroupConfig:
    """A named set of instruments whose patterns one thread evaluates together.

    ``cpu``: the CPU the group's thread is pinned to (``-1``: left to the OS); groups on
    separate cores evaluate in parallel without taking each other's.
    """

    name: str
    instruments: tuple[int, ...]
    cpu: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", _tuple(self.instruments))
        check = _Checks(f"group {self.name!r}")
        check.name(self.name)
        check.instruments("instruments", self.instruments, 1)
        if not _is_int(self.cpu):
            raise check.fail(f"cpu must be an integer (-1: any), got {self.cpu!r}")
        try:
            check_cpu(self.cpu)
        except ValueError as error:
            raise check.fail(f"cpu: {error}") from None


@dataclass(frozen=True)
class LeadLagPattern:
    """The leader moved ≥ ``move_bps`` within ``window_us`` while the follower has not.

    Evaluated at each leader observation. A move is the current price against the
    window's extreme (lowest for up, highest for down); the follower "has moved" once
    its move in the same direction reaches ``follower_bps`` (default ``move_bps``).
    Fires when the condition becomes true; re-arms at a leader observation where it is
    false. Value: the leader's move in bps (negative when down).
    """

    kind: ClassVar[str] = "lead_lag"
    name: str
    leader: int
    follower: int
    move_bps: float
    window_us: float
    follower_bps: float | None = None
    direction: str = "both"

    def __post_init__(self) -> None:
        check = _Checks(f"pattern {self.name!r}")
        check.name(self.name)
        check.instrument("leader", self.leader)
        check.instrument("follower", self.follower)
        if self.leader == self.follower:
            raise check.fail(f"leader and follower must differ, both are {self.leader}")
        check.positive("move_bps", self.move_bps)
        check.window(self.window_us)
        if self.follower_bps is not None:
            check.positive("follower_bps", self.follower_bps)
        check.direction(self.direction)

    @property
    def instruments(self) -> tuple[int, ...]:
        """Leader, follower."""
        return (self.leader, self.follower)


@dataclass(frozen=True)
class PairZScorePattern:
    """The spread ``ln a - hedge_ratio · ln b`` diverged ``z_threshold`` EWMA deviations.

    Each observation of either leg is one spread sample. The z-score of a sample uses the
    EWMA mean and variance of the samples before it; then the sample updates them with
    weight ``α = 1 - 2^(-1/half_life_events)`` or, in event time, ``1 - 2^(-Δt/half_life)``
    (``half_life_us``; give exactly one). It may fire once ``warmup`` samples preceded
    it, fires once per divergence, and re-arms when ``|z| <= rearm_z`` (default half
    the threshold). Value: the z-score.
    """

    kind: ClassVar[str] = "pair_zscore"
    name: str
    instruments: tuple[int, ...]
    z_threshold: float
    half_life_events: float | None = None
    half_life_us: float | None = None
    hedge_ratio: float = 1.0
    rearm_z: float | None = None
    warmup: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", _tuple(self.instruments))
        check = _Checks(f"pattern {self.name!r}")
        check.name(self.name)
        check.instruments("instruments", self.instruments, 2)
        if len(self.instruments) != 2:
            raise check.fail(f"instruments must name exactly two legs, got {self.instruments}")
        check.positive("z_threshold", self.z_threshold)
        if (self.half_life_events is None) == (self.half_life_us is None):
            raise check.fail("give exactly one of half_life_events and half_life_us")
        if self.half_life_events is not None:
            check.positive("half_life_events", self.half_life_events)
        if self.half_life_us is not None:
            check.positive("half_life_us", self.half_life_us)
        if not _is_real(self.hedge_ratio):
            raise check.fail(f"hedge_ratio must be a finite number, got {self.hedge_ratio!r}")
        if self.rearm_z is not None and (
            not _is_real(self.rearm_z) or not 0 <= self.rearm_z < self.z_threshold
        ):
            raise check.fail(f"rearm_z must be in [0, z_threshold), got {self.rearm_z!r}")
        if not _is_int(self.warmup) or self.warmup < 0:
            raise check.fail(f"warmup must be an integer >= 0, got {self.warmup!r}")

    @property
    def rearm_at(self) -> float:
        """``|z|`` at or below which a fired pattern re-arms."""
        return self.z_threshold / 2 if self.rearm_z is None else self.rearm_z


@dataclass(frozen=True)
class BreakoutPattern:
    """At least ``k`` of the instruments moved ≥ ``move_bps`` within ``window_us``.

    Evaluated at each observation of a member; a member's move is its current price
    against its window's extreme, as for lead-lag. Fires when the count of members up
    (or down) reaches ``k``; re-arms when it is below ``k`` again. Value: the count,
    negative for a down breakout.
    """

    kind: ClassVar[str] = "breakout"
    name: str
    instruments: tuple[int, ...]
    k: int
    move_bps: float
    window_us: float
    direction: str = "both"

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", _tuple(self.instruments))
        check = _Checks(f"pattern {self.name!r}")
        check.name(self.name)
        check.instruments("instruments", self.instruments, 2)
        if not _is_int(self.k) or not 1 <= self.k <= len(self.instruments):
            raise check.fail(f"k must be an integer in 1..{len(self.instruments)}, got {self.k!r}")
        check.positive("move_bps", self.move_bps)
        check.window(self.window_us)
        check.direction(self.direction)


@dataclass(frozen=True)
class PredicatePattern:
    """A user predicate, compiled, registered by name (``register_predicate``).

    Evaluated at each observation of its instruments; fires when the predicate's value
    turns non-zero and re-arms when it is zero (or NaN) again. ``params`` are passed to
    it unchanged; ``state_size`` float64 words of zeroed state are its own to keep.
    """

    kind: ClassVar[str] = "predicate"
    name: str
    predicate: str
    instruments: tuple[int, ...]
    params: tuple[float, ...] = ()
    state_size: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", _tuple(self.instruments))
        object.__setattr__(self, "params", _tuple(self.params))
        check = _Checks(f"pattern {self.name!r}")
        check.name(self.name)
        if not isinstance(self.predicate, str) or not self.predicate:
            raise check.fail(f"predicate must name a registered function, got {self.predicate!r}")
        check.instruments("instruments", self.instruments, 1)
        if not isinstance(self.params, tuple) or not all(_is_real(p) for p in self.params):
            raise check.fail(f"params must be a list of finite numbers, got {self.params!r}")
        if not _is_int(self.state_size) or not 0 <= self.state_size <= MAX_STATE_SIZE:
            raise check.fail(
                f"state_size must be an integer in 0..{MAX_STATE_SIZE}, got {self.state_size!r}"
            )


Pattern = LeadLagPattern | PairZScorePattern | BreakoutPattern | PredicatePattern
_KINDS: dict[str, type[Pattern]] = {
    cls.kind: cls for cls in (LeadLagPattern, PairZScorePattern, BreakoutPattern, PredicatePattern)
}


def _build(cls: type, data: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()) -> Any:
    """``cls(**data)`` with unknown and missing keys reported by name."""
    if not isinstance(data, Mapping):
        raise PatternConfigError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields and key not in skip:
            raise PatternConfigError(
                f"{where}: unknown key {key!r}; expected one of {', '.join(fields)}"
            )
    for name, spec in fields.items():
        required = spec.default is dataclasses.MISSING
        if required and name not in data:
            raise PatternConfigError(f"{where}: missing key {name!r}")
    return cls(**{key: value for key, value in data.items() if key not in skip})


@dataclass(frozen=True)
class PatternConfig:
    """Groups, the patterns on them, and the engine settings.

    Parameters
    ----------
    groups
        Disjoint groups of instruments; each runs on its own thread in ``PatternGroups``.
    patterns
        The patterns; the position of each is its id in pattern events.
    clock
        ``"exchange"`` (default: replays are deterministic) or ``"receive"``: which
        timestamp of a market event the time windows and half-lives use.
    history
        Entries per window tracker (power of two). More observations of one instrument
        than this within a window drop the oldest (counted as window overflows).
    """

    groups: tuple[GroupConfig, ...]
    patterns: tuple[Pattern, ...] = ()
    clock: str = "exchange"
    history: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", _tuple(self.groups))
        object.__setattr__(self, "patterns", _tuple(self.patterns))
        check = _Checks("pattern config")
        if self.clock not in CLOCKS:
            raise check.fail(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")
        if (
            not _is_int(self.history)
            or not 2 <= self.history <= MAX_HISTORY
            or self.history & (self.history - 1)
        ):
            raise check.fail(
                f"history must be a power of two in 2..{MAX_HISTORY}, got {self.history!r}"
            )
        if not self.groups:
            raise check.fail("at least one [[group]] is needed")
        owner: dict[int, str] = {}
        names: set[str] = set()
        for group in self.groups:
            if group.name in names:
                raise check.fail(f"group name {group.name!r} is used twice")
            names.add(group.name)
            for instrument in group.instruments:
                if instrument in owner:
                    raise _Checks(f"group {group.name!r}").fail(
                        f"instrument {instrument} is already in group {owner[instrument]!r}; "
                        "groups must not share instruments"
                    )
                owner[instrument] = group.name
        names = set()
        for pattern in self.patterns:
            where = _Checks(f"pattern {pattern.name!r}")
            if pattern.name in names:
                raise where.fail("pattern name is used twice")
            names.add(pattern.name)
            homes = []
            for instrument in pattern.instruments:
                if instrument not in owner:
                    raise where.fail(f"instrument {instrument} is in no group")
                homes.append(owner[instrument])
            if len(set(homes)) > 1:
                spans = ", ".join(sorted(set(homes)))
                raise where.fail(
                    f"instruments {list(pattern.instruments)} span groups {spans}; "
                    "every pattern's instruments must lie in one group"
                )

    def group_of(self, pattern: Pattern) -> int:
        """Index of the group holding ``pattern``'s instruments."""
        first = pattern.instruments[0]
        return next(i for i, g in enumerate(self.groups) if first in g.instruments)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatternConfig:
        """Build a config from plain data: ``group`` and ``pattern`` lists of tables.

        Raises
        ------
        PatternConfigError
            On an unknown or missing key, an unknown pattern kind or an invalid value.
        """
        settings = {k: v for k, v in data.items() if k not in ("group", "pattern")}
        for key in settings:
            if key not in ("clock", "history"):
                raise PatternConfigError(
                    f"pattern config: unknown key {key!r}; expected group, pattern, clock, history"
                )
        groups = data.get("group", [])
        patterns = data.get("pattern", [])
        for key, value in (("group", groups), ("pattern", patterns)):
            if not isinstance(value, list):
                raise PatternConfigError(f"pattern config: {key} must be a list of tables")
        built_groups = tuple(
            _build(GroupConfig, g, f"group #{i + 1}") for i, g in enumerate(groups)
        )
        built_patterns = []
        for i, table in enumerate(patterns):
            name = table.get("name") if isinstance(table, Mapping) else None
            where = f"pattern {name!r}" if isinstance(name, str) else f"pattern #{i + 1}"
            kind = table.get("kind") if isinstance(table, Mapping) else None
            if kind not in _KINDS:
                raise PatternConfigError(
                    f"{where}: kind must be one of {', '.join(_KINDS)}, got {kind!r}"
                )
            built_patterns.append(_build(_KINDS[kind], table, where, skip=("kind",)))
        return cls(groups=built_groups, patterns=tuple(built_patterns), **settings)

    @classmethod
    def from_toml(cls, text: str) -> PatternConfig:
        """Build a config from TOML text (see the module docstring)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PatternConfigError(f"pattern config is not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> PatternConfig:
        """Read a TOML config file."""
        return cls.from_toml(Path(path).read_text(encoding="utf-8"))
