"""Fixtures for the journal tests: a journal directory, small configs, a power-loss file layer."""

from __future__ import annotations

import pytest

from lowlat.journal import JournalConfig
from tests.journal._support import PowerLossFiles

#: Small enough that a few thousand records roll segments and fill the ring.
SMALL = {"segment_bytes": 1 << 18, "batch_records": 64, "ring_capacity": 256}


def small_config(**overrides: object) -> JournalConfig:
    """A config with tiny segments, batches and ring; ``overrides`` win."""
    return JournalConfig(**{**SMALL, "fsync": "every_batch", **overrides})


@pytest.fixture
def directory(tmp_path) -> str:
    return str(tmp_path / "journal")


@pytest.fixture
def fake_files() -> PowerLossFiles:
    return PowerLossFiles()
