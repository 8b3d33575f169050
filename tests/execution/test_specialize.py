"""Per-strategy entry points: a cacheable module if importable by name, else the generic path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lowlat.core.jit import hot_kernel
from lowlat.execution import specialize
from lowlat.execution.examples.kernels import imbalance_quoter


@pytest.fixture
def kernel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LOWLAT_KERNEL_DIR", str(tmp_path / "kernels"))
    specialize._entry_points.cache_clear()
    yield tmp_path / "kernels"
    specialize._entry_points.cache_clear()


def test_an_importable_strategy_gets_a_generated_module_named_by_a_source_digest(
    kernel_dir: Path,
) -> None:
    points = specialize.entry_points(imbalance_quoter)
    assert points.cached
    path = Path(points.source)
    assert path.parent == kernel_dir
    assert path.name.startswith("lowlat_execution_examples_kernels__imbalance_quoter__")
    text = path.read_text(encoding="utf-8")
    assert "from lowlat.execution.examples.kernels import imbalance_quoter as _strategy" in text
    for name in ("tick_to_order", "run_from_ring"):
        assert f"def {name}(" in text
    # Asked again (another pipeline, or another process): the same file, untouched.
    stamp = path.stat().st_mtime_ns
    specialize._entry_points.cache_clear()
    again = specialize.entry_points(imbalance_quoter)
    assert again.source == points.source and path.stat().st_mtime_ns == stamp


def test_a_strategy_that_cannot_be_imported_by_name_gets_the_generic_kernels(
    kernel_dir: Path,
) -> None:
    @hot_kernel
    def local_strategy(book, signals, ex, slot, events, i, patterns, n, params, memory, intents):
        return 0

    points = specialize.entry_points(local_strategy)
    assert not points.cached and points.source is None
    assert not kernel_dir.exists() or not list(kernel_dir.glob("*.py"))


def test_the_wrappers_take_every_argument_but_the_strategy(kernel_dir: Path) -> None:
    points = specialize.entry_points(imbalance_quoter)
    for name, (_, generic) in specialize._KERNELS.items():
        wrapper = specialize._parameters(getattr(points, name))
        assert wrapper == [p for p in specialize._parameters(generic) if p != "strategy"]
