"""Control-plane configuration: frozen dataclasses, loadable from TOML, validated up front.

Every section is optional; unknown sections and keys, mistyped and out-of-range values
raise :class:`ControlConfigError` naming ``section.key`` and the value::

    [metrics]
    samples = 4096                # latency samples each stage's lossy ring holds (power of 2)
    breach_samples = 64           # over-budget samples kept per stage (power of 2)
    counters = ["feed_gaps"]      # hot-path counters besides the one per stage

    [budgets]                     # latency budget per stage, ns
    decode = 1000
    decision = 2000

    [sidecar]
    interval_ns = 5000000         # drain the sample rings every 5 ms
    window_ns = 10000000000       # length of the last-window latency view

    [readiness]                   # WARMUP → READY once latency is stable
    stages = ["decode", "book", "decision"]
    window_events = 1024          # a window is this many consecutive samples of a stage
    percentile = 99.0
    good_windows = 5              # consecutive windows under budget, for every stage

    [server]
    host = "127.0.0.1"
    port = 9464

    [system_breaker]              # lowlat.risk.breakers.SystemBreakerConfig
    breach_rate_per_s = 100.0
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lowlat.control.stages import Stage
from lowlat.risk.breakers import SystemBreakerConfig

__all__ = [
    "ControlConfig",
    "ControlConfigError",
    "MetricsConfig",
    "ReadinessConfig",
    "ServerConfig",
    "SidecarConfig",
    "StageBudgets",
]

_MS = 1_000_000
_SECOND = 1_000_000_000
_COUNTER_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class ControlConfigError(ValueError):
    """A control-plane setting is unknown, mistyped or out of range; the message names it."""


def _integer(where: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlConfigError(f"{where} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f"at least {low}"
        raise ControlConfigError(f"{where} must be {bound}, got {value}")


def _power_of_two(where: str, value: Any) -> None:
    _integer(where, value, 8)  # at least one cache line per stage
    if value & (value - 1):
        raise ControlConfigError(f"{where} must be a power of two, got {value}")


@dataclass(frozen=True)
class StageBudgets:
    """Latency budget of each stage, in nanoseconds (a sample above it is a breach)."""

    ingest: int = 5_000
    decode: int = 1_000
    book: int = 1_000
    signal: int = 2_000
    decision: int = 2_000
    risk: int = 1_000
    send: int = 5_000
    ack: int = 1_000_000

    def __post_init__(self) -> None:
        for stage in Stage:
            _integer(f"budgets.{stage.label}", getattr(self, stage.label), 1)

    def of(self, stage: Stage | str | int) -> int:
        """Budget of ``stage``, ns."""
        return getattr(self, Stage.parse(stage).label)

    def as_tuple(self) -> tuple[int, ...]:
        """Every budget, indexed by ``Stage``."""
        return tuple(getattr(self, stage.label) for stage in Stage)


@dataclass(frozen=True)
class MetricsConfig:
    """Sizes of the hot-path metrics memory and the names of its extra counters.

    Parameters
    ----------
    samples
        Entries of each stage's lossy latency-sample ring (a power of two, at least 8);
        the sidecar drains it every ``SidecarConfig.interval_ns``, so it must hold that
        long's samples (it keeps ``samples - 1``: see ``kernels.drain``).
    breach_samples
        Entries of each stage's ring of over-budget samples (a power of two, at least 8).
    counters
        Counters besides the one per stage (which take the stage's number and label).
    """

    samples: int = 4_096
    breach_samples: int = 64
    counters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _power_of_two("metrics.samples", self.samples)
        _power_of_two("metrics.breach_samples", self.breach_samples)
        if isinstance(self.counters, str) or not isinstance(self.counters, list | tuple):
            raise ControlConfigError(
                f"metrics.counters must be a list of names, got {self.counters!r}"
            )
        object.__setattr__(self, "counters", tuple(self.counters))
        taken = {stage.label for stage in Stage}
        for name in self.counters:
            if not isinstance(name, str) or not _COUNTER_NAME.match(name):
                raise ControlConfigError(
                    f"metrics.counters: {name!r} is not a name like 'feed_gaps' "
                    "(lower case, digits, underscores)"
                )
            if name in taken:
                raise ControlConfigError(
                    f"metrics.counters: {name!r} is listed twice or is a stage's counter"
                )
            taken.add(name)

    @property
    def counter_names(self) -> tuple[str, ...]:
        """Every counter by index: one per stage, then :attr:`counters`."""
        return tuple(stage.label for stage in Stage) + self.counters


@dataclass(frozen=True)
class SidecarConfig:
    """How often the sidecar drains the sample rings and how long its last window lasts."""

    interval_ns: int = 5 * _MS
    window_ns: int = 10 * _SECOND

    def __post_init__(self) -> None:
        _integer("sidecar.interval_ns", self.interval_ns, 1)
        _integer("sidecar.window_ns", self.window_ns, self.interval_ns)


@dataclass(frozen=True)
class ReadinessConfig:
    """When warm-up is over: the latency of the listed stages has been stable long enough.

    Parameters
    ----------
    stages
        Stages that must be stable (each must produce samples during warm-up).
    window_events
        A window is this many consecutive samples of one stage.
    percentile
        The percentile of a window compared with the stage's budget.
    good_windows
        Consecutive windows under budget each stage needs, most recent last.
    """

    stages: tuple[Stage, ...] = (Stage.DECODE, Stage.BOOK, Stage.DECISION)
    window_events: int = 1_024
    percentile: float = 99.0
    good_windows: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.stages, str) or not isinstance(self.stages, list | tuple):
            raise ControlConfigError(
                f"readiness.stages must be a list of stages, got {self.stages!r}"
            )
        try:
            stages = tuple(Stage.parse(s) for s in self.stages)
        except ValueError as exc:
            raise ControlConfigError(f"readiness.stages: {exc}") from None
        if not stages or len(set(stages)) != len(stages):
            raise ControlConfigError(
                f"readiness.stages must list at least one stage, each once, got {self.stages!r}"
            )
        object.__setattr__(self, "stages", stages)
        _integer("readiness.window_events", self.window_events, 1)
        _integer("readiness.good_windows", self.good_windows, 1)
        if (
            isinstance(self.percentile, bool)
            or not isinstance(self.percentile, int | float)
            or not 0.0 < self.percentile <= 100.0
        ):
            raise ControlConfigError(
                f"readiness.percentile must be a number in (0, 100], got {self.percentile!r}"
            )
        object.__setattr__(self, "percentile", float(self.percentile))


@dataclass(frozen=True)
class ServerConfig:
    """Where the HTTP control server listens (port 0: any free port)."""

    host: str = "127.0.0.1"
    port: int = 9_464

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ControlConfigError(f"server.host must be a host name, got {self.host!r}")
        _integer("server.port", self.port, 0, 65_535)


_SECTIONS: dict[str, type] = {
    "metrics": MetricsConfig,
    "budgets": StageBudgets,
    "sidecar": SidecarConfig,
    "readiness": ReadinessConfig,
    "server": ServerConfig,
}


@dataclass(frozen=True)
class ControlConfig:
    """Every control-plane setting, one section per component."""

    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    budgets: StageBudgets = field(default_factory=StageBudgets)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    readiness: ReadinessConfig = field(default_factory=ReadinessConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    system_breaker: SystemBreakerConfig = field(default_factory=SystemBreakerConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlConfig:
        """Build a config from plain data (the TOML layout), naming any bad section or key."""
        known = [*_SECTIONS, "system_breaker"]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ControlConfigError(f"unknown control config sections {unknown}; known: {known}")
        values: dict[str, Any] = {}
        for name, section in data.items():
            if not isinstance(section, Mapping):
                raise ControlConfigError(f"[{name}] must be a table, got {section!r}")
            if name == "system_breaker":
                try:
                    values[name] = SystemBreakerConfig.from_dict(section)
                except ValueError as exc:
                    raise ControlConfigError(f"[system_breaker] {exc}") from None
            else:
                values[name] = _section(name, _SECTIONS[name], section)
        return cls(**values)

    @classmethod
    def from_toml(cls, text: str) -> ControlConfig:
        """Build a config from TOML text (the layout in the module docstring)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ControlConfigError(f"not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> ControlConfig:
        """Read a TOML config file."""
        return cls.from_toml(Path(path).read_text(encoding="utf-8"))


def _section(name: str, kind: type, data: Mapping[str, Any]) -> Any:
    """``kind(**data)`` after checking that every key is one of its fields."""
    keys = [f.name for f in fields(kind)]
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ControlConfigError(
            f"unknown keys {[f'{name}.{key}' for key in unknown]}; known in [{name}]: {keys}"
        )
    return kind(**data)
