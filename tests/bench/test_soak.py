"""The soak's own measurements."""

from __future__ import annotations

from pathlib import Path

from bench.soak import _journal_bytes


def test_journal_bytes_sums_every_file_below_the_directory(tmp_path: Path) -> None:
    (tmp_path / "segments").mkdir()
    (tmp_path / "snapshots" / "old").mkdir(parents=True)
    sizes = {"segments/0001.seg": 4096, "segments/0002.seg": 17, "snapshots/old/s.npz": 300}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)

    assert _journal_bytes(str(tmp_path)) == sum(sizes.values())


def test_journal_bytes_of_a_directory_already_removed_is_zero(tmp_path: Path) -> None:
    assert _journal_bytes(str(tmp_path / "retired")) == 0
