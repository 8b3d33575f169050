import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from lowlat.feeds.itch import file_stats
from lowlat.feeds.sim import Simulator, scenario, write_config, write_scenario
from lowlat.feeds.sim.kernels import MAX_FLOW_BYTES

SMALL = os.environ.get("NUMBA_DISABLE_JIT") == "1"
MESSAGES = 5_000 if SMALL else 50_000


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.itch" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        write_scenario("normal", path, seed=seed, messages=MESSAGES)
    first, again, other = (p.read_bytes() for p in paths)
    assert first == again
    assert first != other


def test_output_decodes_without_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.itch"
    summary = write_scenario("flash-crash", path, seed=2, instruments=12, messages=MESSAGES)
    stats = file_stats(path)
    assert stats["framing"] == "length-prefixed"
    assert stats["errors"]["counts"] == {}
    assert stats["bytes_left"] == 0
    assert stats["messages"] == summary["messages"] == MESSAGES + 6 + 2 * 12
    assert stats["counts"] == summary["counts"]
    assert set(stats["counts"]) == set("SRHAFEXDUP")
    assert stats["bytes"] == summary["bytes"] == summary["file_bytes"]
    assert sorted(stats["instruments"]) == [f"SIM{i:04d}" for i in range(1, 13)]


def test_gzip_output_is_deterministic_and_decodes(tmp_path: Path) -> None:
    plain, packed, again = tmp_path / "a.itch", tmp_path / "b.itch.gz", tmp_path / "c.itch.gz"
    write_scenario("normal", plain, messages=2_000)
    summary = write_scenario("normal", packed, messages=2_000, gzip=True)
    write_scenario("normal", again, messages=2_000, gzip=True)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert packed.read_bytes() == again.read_bytes()
    assert summary["gzip"] and summary["file_bytes"] < summary["bytes"]
    stats = file_stats(packed)
    assert stats["compressed"] and stats["errors"]["counts"] == {}


def test_output_does_not_depend_on_the_chunk_size(tmp_path: Path) -> None:
    config = scenario("news-spike", messages=3_000)
    write_config(config, tmp_path / "big.itch")
    write_config(config, tmp_path / "small.itch", chunk_bytes=MAX_FLOW_BYTES + 7)
    assert (tmp_path / "big.itch").read_bytes() == (tmp_path / "small.itch").read_bytes()
    with pytest.raises(ValueError, match="chunk_bytes"):
        write_config(config, tmp_path / "x.itch", chunk_bytes=10)


def test_timestamps_strictly_increase_and_fill_stops_when_done() -> None:
    sim = Simulator(scenario("open-close", messages=2_000))
    buf = np.empty(1 << 20, np.uint8)
    used = sim.fill(buf)
    assert sim.done and sim.fill(buf) == 0
    stream = buf[:used].tobytes()
    stamps, pos = [], 0
    while pos < len(stream):
        length = int.from_bytes(stream[pos : pos + 2], "big")
        stamps.append(int.from_bytes(stream[pos + 7 : pos + 13], "big"))
        pos += 2 + length
    assert len(stamps) == 2_000
    assert np.all(np.diff(stamps) > 0)
    assert stamps[-1] < sim.end_ns - 2
    assert sum(sim.type_counts().values()) == 2_000


def test_zero_messages_gives_only_the_session_frame(tmp_path: Path) -> None:
    summary = write_scenario("normal", tmp_path / "e.itch", instruments=2, messages=0)
    assert summary["counts"] == {"H": 2, "R": 2, "S": 6}


def test_benchmark_case_reports_a_verified_rate() -> None:
    from bench.sim import CASES, GENERATE

    measure, full, quick = CASES[GENERATE]
    assert full > quick
    (result,) = measure(1, 2_000 if SMALL else 100_000)
    assert result["name"] == GENERATE and result["errors"] == 0
    assert result["events"] == (2_000 if SMALL else 100_000) and result["median"] > 0
