"""Journal configuration: sizes and the fsync policy, fixed when the journal opens."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from lowlat.core.sched import check_cpu

__all__ = ["FsyncPolicy", "JournalConfig"]


class FsyncPolicy(Enum):
    """When the writer calls ``fsync`` (what each loses on power failure: see the README)."""

    NONE = "none"  # never: the operating system writes back when it chooses
    INTERVAL = "interval"  # at most every ``fsync_interval_ms`` while there are new bytes
    EVERY_BATCH = "every_batch"  # after every group-commit write, before the next batch


_LIMITS: dict[str, tuple[int, int]] = {
    "segment_bytes": (1 << 18, 1 << 40),  # at least 64 frames of MAX_FRAME
    "batch_records": (1, 1 << 20),
    "ring_capacity": (2, 1 << 26),
    "fsync_interval_ms": (1, 3_600_000),
    "producers": (1, 64),
    "keep_snapshots": (1, 1_000),
    "writer_cpu": (-1, 1 << 20),
}


@dataclass(frozen=True)
class JournalConfig:
    """Sizes and durability of a journal.

    Parameters
    ----------
    segment_bytes
        A segment is rolled (closed, a new file begun) before a frame would take it past
        this size.
    batch_records
        Most records the writer takes from each ring per group commit. A batch holds
        whatever accumulated since the last one, so under load it grows — while the
        previous write and fsync ran — up to this; an idle journal writes small batches.
    ring_capacity
        Slots of each journal ring (a power of two): how far the writer may fall behind
        before the hot path gets BACK_PRESSURED.
    fsync
        :class:`FsyncPolicy` or its name: ``"none"``, ``"interval"``, ``"every_batch"``.
    fsync_interval_ms
        Period of the ``interval`` policy.
    producers
        Journal rings, one per hot-path thread that journals (a ring has one producer).
    keep_snapshots
        Snapshots a :class:`~lowlat.journal.SnapshotStore` made by :func:`checkpoint` keeps;
        segments wholly covered by the oldest kept one are retired.
    writer_cpu
        CPU to pin the writer thread to; -1 leaves it to the OS. On a host where the engine
        thread has a core of its own, put the writer elsewhere (with the feed), so that its
        bursts of framing, ``write`` and ``fsync`` never take the engine's core.
    """

    segment_bytes: int = 64 << 20
    batch_records: int = 1 << 16
    ring_capacity: int = 1 << 16
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_ms: int = 10
    producers: int = 1
    keep_snapshots: int = 3
    writer_cpu: int = -1

    def __post_init__(self) -> None:
        for name, (low, high) in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"journal config {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"journal config {name} must be in {low}..{high}, got {value}")
        if self.ring_capacity & (self.ring_capacity - 1):
            raise ValueError(
                f"journal config ring_capacity must be a power of two, got {self.ring_capacity}"
            )
        try:
            check_cpu(self.writer_cpu)
        except ValueError as error:
            raise ValueError(f"journal config writer_cpu: {error}") from None
        object.__setattr__(self, "fsync", _policy(self.fsync))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JournalConfig:
        """Build a config from plain data, naming any unknown key."""
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown journal config key(s) {unknown}; known: {known}")
        return cls(**data)

    @classmethod
    def from_toml(cls, text: str) -> JournalConfig:
        """Build a config from TOML: the keys under a ``[journal]`` table, or at top level."""
        data = tomllib.loads(text)
        table = data.get("journal", data)
        if not isinstance(table, dict):
            raise ValueError(f"journal config must be a table, got {table!r}")
        return cls.from_dict(table)

    def to_dict(self) -> dict[str, int | str]:
        """Plain-data form (the policy by name); ``from_dict(to_dict())`` is equal."""
        data: dict[str, int | str] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["fsync"] = self.fsync.value
        return data


def _policy(value: object) -> FsyncPolicy:
    if isinstance(value, FsyncPolicy):
        return value
    names = ", ".join(p.value for p in FsyncPolicy)
    if isinstance(value, str):
        try:
            return FsyncPolicy(value.lower())
        except ValueError:
            pass
    raise ValueError(f"journal config fsync must be one of {names}, got {value!r}")
