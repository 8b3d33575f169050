import json
import subprocess
import sys

import pytest

from lowlat import __version__
from lowlat.cli.main import main
from lowlat.cli.tables import format_table
from lowlat.demo import SCENARIOS
from tests.feeds.itch import TEST_VECTOR


def test_demo_prints_the_scenario(capsys):
    assert main(["demo", "consumer-heavy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lowlat demo: consumer-heavy")
    assert "summary: published 12" in out


def test_demo_with_unknown_scenario_exits_2_naming_it(capsys):
    assert main(["demo", "sideways"]) == 2
    captured = capsys.readouterr()
    assert "lowlat demo: error: unknown scenario 'sideways'" in captured.err
    assert captured.out == ""


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_run_summarizes_every_scenario_and_a_short_session(capsys):
    argv = ["run", "--duration", "1", "--rate", "10000", "--http-port", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "session summary" in out
    assert "lifecycle: INIT → WARMUP" in out
    for name in SCENARIOS:
        assert name in out
    producer_heavy = next(line for line in out.splitlines() if line.startswith("producer-heavy"))
    assert producer_heavy.split()[1:5] == ["112", "42", "9", "12"]


def test_python_dash_m_lowlat_is_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "lowlat", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"lowlat {__version__}"


def test_table_right_aligns_numbers_and_left_aligns_text():
    text = format_table(["name", "rate"], [["a", 1_500_000], ["long name", 2.5]], title="T")
    lines = text.splitlines()
    assert lines[0] == "T"
    assert lines[1].split() == ["name", "rate"]
    assert lines[3] == "a          1,500,000"
    assert lines[4] == "long name       2.50"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--repeats", "0"], "--repeats must be at least 1, got 0"),
        (["bench", "--events", "-5"], "--events must be at least 1, got -5"),
        (["bench", "nosuch"], "unknown suite 'nosuch'; choose one of: ring, feeds"),
        (["bench", "ring", "--only", "warp"], "unknown ring cases ['warp']"),
        (["bench", "--compare", "no/such/baseline.json"], "no/such/baseline.json"),
    ],
)
def test_bench_refuses_bad_arguments_with_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowlat bench: error: ")
    assert message in err


def test_bench_compare_exits_1_on_a_regression_and_0_without(tmp_path, capsys):
    first = tmp_path / "first.json"
    argv = ["bench", "ring", "--only", "threads", "--events", "20000", "--repeats", "2"]
    assert main([*argv, "--json", str(first)]) == 0
    report = json.loads(first.read_text())
    assert report["suite"] == "ring" and report["results"][0]["errors"] == 0

    inflated = json.loads(first.read_text())
    for result in inflated["results"]:
        for key in ("median", "min", "max"):
            result[key] *= 100  # a baseline 100× faster than anything this machine does
    baseline = tmp_path / "fast.json"
    baseline.write_text(json.dumps(inflated))
    second = tmp_path / "second.json"
    assert main([*argv, "--json", str(second), "--compare", str(baseline)]) == 1
    assert "REGRESSION" in capsys.readouterr().out

    deflated = json.loads(first.read_text())
    for result in deflated["results"]:
        for key in ("median", "min", "max"):
            result[key] /= 100
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(deflated))
    assert main([*argv, "--json", str(second), "--compare", str(slow)]) == 0


def test_feed_stats_prints_the_itch_test_vector_counts_as_json(capsys):
    assert main(["feed", "stats", str(TEST_VECTOR), "--format", "itch50"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["messages"] == 12_012 and stats["bytes_left"] == 0
    assert stats["counts"] == {
        "S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745, "U": 12, "P": 5000
    }  # fmt: skip
    assert stats["errors"]["counts"] == {}


def test_feed_stats_on_a_missing_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.itch"
    assert main(["feed", "stats", str(missing), "--format", "itch50"]) == 2
    assert f"lowlat feed: error: cannot read {missing}" in capsys.readouterr().err


def test_feed_stats_refuses_framing_for_fix(tmp_path, capsys):
    path = tmp_path / "x.fix"
    path.write_bytes(b"")
    assert main(["feed", "stats", str(path), "--format", "fix", "--framing", "type-framed"]) == 2
    assert "--framing applies to --format itch50 only" in capsys.readouterr().err


def test_feed_stats_reads_lobster_and_quarantines_a_bad_line(tmp_path, capsys):
    path = tmp_path / "messages.csv"
    path.write_text(
        "34200.004241176,1,16113575,18,5853300,1\n34200.005,3,16113575,18,5853300,1\nbad,line\n"
    )
    assert main(["feed", "stats", str(path), "--format", "lobster"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["messages"] == 2
    assert stats["counts"] == {"submission": 1, "deletion": 1}
    assert stats["errors"]["counts"] == {"bad_field": 1}
    assert bytes.fromhex(stats["errors"]["samples"]["bad_field"][0]["hex"]) == b"bad,line"


def test_feed_stats_refuses_an_orderbook_for_itch(capsys):
    argv = ["feed", "stats", str(TEST_VECTOR), "--format", "itch50", "--orderbook", "x.csv"]
    assert main(argv) == 2
    assert "--orderbook applies to --format lobster only" in capsys.readouterr().err


def test_sim_writes_an_itch_file_that_decodes_cleanly_and_is_reproducible(tmp_path, capsys):
    first, second = tmp_path / "a.itch", tmp_path / "b.itch"
    argv = ["sim", "news-spike", "--messages", "5000", "--instruments", "3", "--seed", "7"]
    assert main([*argv, "-o", str(first)]) == 0
    assert main([*argv, "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    capsys.readouterr()
    assert main(["feed", "stats", str(first), "--format", "itch50"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["errors"]["counts"] == {} and stats["bytes_left"] == 0
    assert stats["messages"] >= 5000 and len(stats["instruments"]) == 3


def test_sim_refuses_unknown_scenarios_and_empty_sizes(tmp_path, capsys):
    assert main(["sim", "sideways", "-o", str(tmp_path / "x")]) == 2
    assert "unknown scenario 'sideways'; choose one of: normal" in capsys.readouterr().err
    assert main(["sim", "normal", "--messages", "0", "-o", str(tmp_path / "x")]) == 2
    assert "--messages must be at least 1, got 0" in capsys.readouterr().err


def test_feed_stats_replays_a_depth_capture_through_the_sequencing_rules(tmp_path, capsys):
    from lowlat.feeds.depth.capture import CaptureWriter

    path = tmp_path / "capture.txt"
    with CaptureWriter(path) as capture:
        capture.write(b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":99,"u":100,"b":[],"a":[]}', 1)
        capture.write_snapshot(
            "BTCUSDT", b'{"lastUpdateId":101,"bids":[["100.5","2"]],"asks":[["101","1"]]}', 2
        )
        capture.write(
            b'{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":102,"u":103,"b":[["100.5","0"]],"a":[]}', 3
        )
        capture.write(b"not json at all", 4)
    assert main(["feed", "stats", str(path), "--format", "binance-capture"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["format"] == "binance-capture"
    assert stats["stale"] == 1  # u=100 is older than the snapshot's lastUpdateId 101
    assert stats["errors"]["counts"].get("bad_field") == 1


def test_run_exits_2_naming_the_port_when_it_is_taken(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["run", "--duration", "1", "--http-port", str(port), "--journal", str(tmp_path)]
        assert main(argv) == 2
    assert f"port {port} is in use" in capsys.readouterr().err
