"""Benchmark harness: statistics, report files, regression comparison, and a ring smoke run.

No test here asserts anything about speed: timings on a shared machine are noise.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from bench import harness, ring
from bench.harness import ReportError


def _result(name: str, median: float, *, better: str = "higher", spread: float = 0.02, **extra):
    return {
        "name": name,
        "unit": "events/s" if better == "higher" else "ns",
        "better": better,
        "median": median,
        "min": median * (1 - spread),
        "max": median * (1 + spread),
        "spread": spread,
        "runs": [median],
        **extra,
    }


def _report(*results: dict[str, Any]) -> dict[str, Any]:
    return {"suite": "ring", "machine": {}, "created": "", "quick": False, "results": list(results)}


def _status(current: dict[str, Any], baseline: dict[str, Any], **kwargs) -> dict[str, str]:
    return {row["name"]: row["status"] for row in harness.compare(current, baseline, **kwargs)}


# --- summarize / percentiles ---------------------------------------------------------------


def test_summarize_median_extremes_and_relative_half_range():
    summary = harness.summarize([10.0, 12.0, 8.0, 11.0, 9.0])
    assert summary["median"] == 10.0
    assert (summary["min"], summary["max"]) == (8.0, 12.0)
    assert summary["spread"] == pytest.approx(0.2)
    assert summary["runs"] == [10.0, 12.0, 8.0, 11.0, 9.0]


def test_summarize_single_sample_has_no_spread_and_empty_is_refused():
    assert harness.summarize([5])["spread"] == 0.0
    with pytest.raises(ValueError):
        harness.summarize([])


def test_percentiles_ns():
    values = np.arange(1, 1001, dtype=np.int64)  # 1..1000
    p = harness.percentiles_ns(values)
    assert p["p50"] == pytest.approx(500.5)
    assert p["p99"] == pytest.approx(990.01)
    assert p["p99.9"] == pytest.approx(999.001)
    assert p["max"] == 1000.0
    assert p["count"] == 1000
    with pytest.raises(ValueError):
        harness.percentiles_ns(np.empty(0, dtype=np.int64))


# --- compare ---------------------------------------------------------------------------------


def test_throughput_drop_beyond_noise_is_a_regression():
    rows = harness.compare(_report(_result("t", 70.0)), _report(_result("t", 100.0)))
    assert rows[0]["status"] == "regression"
    assert rows[0]["regression"] is True
    assert rows[0]["change"] == pytest.approx(-0.3)
    assert rows[0]["threshold"] == pytest.approx(harness.DEFAULT_NOISE_FLOOR)


def test_throughput_gain_is_an_improvement_not_a_regression():
    rows = harness.compare(_report(_result("t", 150.0)), _report(_result("t", 100.0)))
    assert rows[0]["status"] == "improvement"
    assert rows[0]["regression"] is False


def test_change_within_the_noise_floor_is_ok():
    assert _status(_report(_result("t", 95.0)), _report(_result("t", 100.0))) == {"t": "ok"}


def test_noisy_runs_widen_the_threshold():
    noisy = _result("t", 75.0, spread=0.3)
    assert _status(_report(noisy), _report(_result("t", 100.0))) == {"t": "ok"}
    noisy_baseline = _result("t", 100.0, spread=0.3)
    assert _status(_report(_result("t", 75.0)), _report(noisy_baseline)) == {"t": "ok"}
    assert _status(_report(_result("t", 60.0)), _report(noisy_baseline)) == {"t": "regression"}


def test_latency_direction_higher_is_worse():
    slower = _report(_result("lat", 400.0, better="lower"))
    faster = _report(_result("lat", 200.0, better="lower"))
    base = _report(_result("lat", 300.0, better="lower"))
    assert _status(slower, base) == {"lat": "regression"}
    assert _status(faster, base) == {"lat": "improvement"}


def test_explicit_tolerance_replaces_the_noise_estimate():
    current, base = _report(_result("t", 95.0)), _report(_result("t", 100.0))
    assert _status(current, base, tolerance=0.01) == {"t": "regression"}
    assert _status(_report(_result("t", 70.0)), base, tolerance=0.5) == {"t": "ok"}


def test_baselines_are_references_new_and_missing_results_are_not_regressions():
    current = _report(_result("deque", 10.0, baseline_of="ring"), _result("fresh", 1.0))
    base = _report(_result("deque", 100.0, baseline_of="ring"), _result("gone", 1.0))
    rows = harness.compare(current, base)
    assert {r["name"]: r["status"] for r in rows} == {
        "deque": "reference",
        "fresh": "new",
        "gone": "missing",
    }
    assert not any(r["regression"] for r in rows)


def test_informational_results_never_gate():
    current = _report(_result("max", 9e6, better="lower", informational=True))
    base = _report(_result("max", 1e4, better="lower", informational=True))
    assert _status(current, base) == {"max": "info"}


def test_format_comparison_names_regressions():
    rows = harness.compare(
        _report(_result("a", 50.0), _result("b", 100.0)),
        _report(_result("a", 100.0), _result("b", 100.0)),
    )
    text = harness.format_comparison(rows)
    assert "REGRESSION" in text
    assert text.splitlines()[-1] == "1 regression(s): a"
    ok = harness.format_comparison(harness.compare(_report(_result("b", 1.0)), _report()))
    assert ok.splitlines()[-1] == "no regressions"


# --- report files ----------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    report = _report(_result("t", 1.5e7, target=2e7))
    path = tmp_path / "sub" / "report.json"
    harness.save_report(report, path)
    assert harness.load_report(path) == report


def test_load_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ReportError, match=r"nope\.json"):
        harness.load_report(path)


def test_load_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match=r"broken\.json.*not valid JSON"):
        harness.load_report(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([], "not an object"),
        ({"results": []}, "suite"),
        ({"suite": "ring"}, "results"),
        ({"suite": "ring", "results": [{"name": "x"}]}, "unit"),
        ({"suite": "ring", "results": [{**_result("x", 1.0), "better": "up"}]}, "better"),
        ({"suite": "ring", "results": [{**_result("x", 1.0), "median": "fast"}]}, "median"),
    ],
)
def test_load_wrong_schema_names_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ReportError, match=r"odd\.json") as info:
        harness.load_report(path)
    assert problem in str(info.value)


def test_machine_info_is_json_able():
    info = harness.machine_info()
    json.dumps(info)
    assert {"cpu", "cores", "python", "numpy", "numba"} <= info.keys()


# --- ring suite smoke run --------------------------------------------------------------------


def test_ring_suite_smoke_run_checks_every_event(tmp_path):
    report = ring.run(repeats=1, events=10_000, only=["threads", "threads_single", "deque"])
    path = tmp_path / "ring.json"
    harness.save_report(report, path)
    loaded = harness.load_report(path)
    assert loaded["suite"] == "ring"
    by_name = {r["name"]: r for r in loaded["results"]}
    batch = by_name[ring.THREADS_BATCH]
    assert batch["errors"] == 0
    assert batch["first_bad_seq"] == -1
    assert batch["events"] == 10_000
    assert batch["better"] == "higher"
    assert batch["target"] == ring.TARGET_THREADS
    assert len(batch["runs"]) == 1
    assert batch["min"] <= batch["median"] <= batch["max"]
    assert by_name[ring.THREADS_SINGLE]["errors"] == 0
    assert by_name["deque 1P→1C threads"]["baseline_of"] == ring.THREADS_SINGLE
    table = ring.format_table(loaded)
    assert ring.THREADS_BATCH in table
    assert "×" in table
    statuses = {row["name"]: row["status"] for row in harness.compare(loaded, loaded)}
    assert statuses.pop("deque 1P→1C threads") == "reference"
    assert set(statuses.values()) == {"ok"}


def test_ring_latency_smoke_run_counts_every_sample():
    run = ring.ring_latency(2_000, warmup=100)
    assert run.errors == 0
    assert run.latencies.shape == (2_000,)
    assert (run.latencies >= 0).all()
    assert run.preemptions >= 0


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="unknown ring cases"):
        ring.run(only=["warp_drive"])


def test_platform_probe_reports_a_stall_share_that_never_gates_a_comparison():
    report = ring.run(repeats=2, events=20, only=["platform"])  # 20 ms per run
    (result,) = report["results"]
    assert result["name"] == ring.PLATFORM_STALLS
    assert result["unit"] == "%" and result["better"] == "lower"
    assert 0.0 <= result["min"] <= result["median"] <= result["max"] <= 100.0
    assert len(result["stalls"]) == 2
    worse = {**report, "results": [{**result, "median": result["median"] * 10 + 50}]}
    (row,) = harness.compare(worse, report)
    assert not row["regression"]


def test_a_target_the_runs_cannot_judge_says_why_instead_of_a_verdict():
    judged = _result("a", -5.0, better="lower", target=1.0)
    unjudged = _result("b", -5.0, better="lower", target=1.0, unjudged="platform stalls")
    table = harness.format_report(_report(judged, unjudged))
    line_a, line_b = (line for line in table.splitlines() if line.startswith(("a ", "b ")))
    assert "met" in line_a.split() and "unjudged" not in line_a
    assert "met" not in line_b.split() and "unjudged" in line_b.split()
    assert "unjudged: platform stalls" in line_b


def test_rounds_merge_their_judged_flags_and_the_verdict_uses_the_judged_runs():
    def round_(value: float, judged: bool) -> dict[str, Any]:
        result = _result("j", value, better="lower", target=1.0, judged=[judged])
        return harness.apply_judged(result | {"unjudged_reason": "too noisy"})

    merged = harness._merge_runs([round_(-50.0, False), round_(0.5, True), round_(0.7, True)])
    assert merged["runs"] == [-50.0, 0.5, 0.7] and merged["judged"] == [False, True, True]
    assert merged["median"] == 0.6 and "unjudged" not in merged
    table = harness.format_report(_report(merged))
    (line,) = (row for row in table.splitlines() if row.startswith("j "))
    assert "met" in line.split() and line.endswith("judged on 2 of 3 runs")
    assert "; judged" not in line  # no separator before the first part of the note
    noisy = harness._merge_runs([round_(-50.0, False), round_(-40.0, False)])
    assert noisy["unjudged"] == "too noisy" and noisy["median"] == -45.0


def test_the_header_says_when_the_consumers_cpu_was_isolated():
    report = _report(_result("a", 1.0))
    assert "isolated" not in harness.format_report(report).splitlines()[0]
    report["isolation"] = {"cpu": 1, "tasks_moved": 40, "irqs_moved": 7, "left": []}
    head = harness.format_report(report).splitlines()[0]
    assert head.endswith("; CPU 1 isolated (40 tasks, 7 interrupts moved off it)")
