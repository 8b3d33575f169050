"""Benchmark plumbing shared by the suites: machine facts, statistics, reports, comparison.

A report is a JSON object ``{"suite", "machine", "created", "quick", "results": [...]}``;
each result has ``name``, ``unit``, ``better`` (``"higher"`` or ``"lower"``), ``median``,
``min``, ``max``, ``spread`` and ``runs``, and may carry ``target``, ``judged`` (one flag
per run: whether that run can tell the target's verdict; see :func:`apply_judged`),
``baseline_of``, ``informational`` and ``note``. Results with ``baseline_of`` measure a reference
implementation (for example ``queue.Queue``), and ``informational`` ones (a maximum
latency) are too noisy to gate on: :func:`compare` never flags either as a regression.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np

import lowlat
from lowlat.cli.tables import format_table

__all__ = [
    "DEFAULT_NOISE_FLOOR",
    "Case",
    "ReportError",
    "apply_judged",
    "compare",
    "fmt_number",
    "format_comparison",
    "format_report",
    "load_report",
    "machine_info",
    "percentiles_ns",
    "run_suite",
    "save_report",
    "summarize",
]

DEFAULT_NOISE_FLOOR = 0.10  # never call a change below 10 % a regression
_BETTER = ("higher", "lower")
_REQUIRED = {"name": str, "unit": str, "better": str}
_NUMBERS = ("median", "min", "max")


class ReportError(ValueError):
    """A report file is missing, is not JSON, or does not have the report schema."""


def machine_info() -> dict[str, Any]:
    """Facts that decide whether two reports are comparable (no host name: it identifies)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "lowlat": lowlat.__version__,
    }


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median, extremes and relative spread of repeated measurements.

    ``spread`` is the half-range relative to the median, ``(max - min) / 2 / median``:
    how far one run may stray from the typical one, which :func:`compare` uses as noise.
    """
    if not samples:
        raise ValueError("summarize needs at least one sample")
    values = [float(v) for v in samples]
    median = statistics.median(values)
    low, high = min(values), max(values)
    spread = (high - low) / 2 / abs(median) if median else 0.0
    return {"median": median, "min": low, "max": high, "spread": spread, "runs": values}


def percentiles_ns(latencies: np.ndarray) -> dict[str, float]:
    """p50, p99, p99.9, max and mean of a latency sample, in its own unit (ns here)."""
    values = np.asarray(latencies, dtype=np.float64)
    if values.size == 0:
        raise ValueError("percentiles_ns needs at least one sample")
    p50, p99, p999 = np.percentile(values, [50.0, 99.0, 99.9])
    return {
        "p50": float(p50),
        "p99": float(p99),
        "p99.9": float(p999),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "count": int(values.size),
    }


def save_report(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``report`` as indented JSON, creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`save_report`, checking its schema.

    Raises
    ------
    ReportError
        Naming the file, if it is missing, unreadable, not JSON or not a report.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"benchmark report {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ReportError(f"cannot read benchmark report {str(path)!r}: {exc}") from exc
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"benchmark report {str(path)!r} is not valid JSON: {exc}") from exc
    problem = _schema_problem(report)
    if problem:
        raise ReportError(f"benchmark report {str(path)!r} is not a report: {problem}")
    return report


def _schema_problem(report: object) -> str | None:
    """What is wrong with ``report`` as a report, or None."""
    if not isinstance(report, dict):
        return "top level is not an object"
    if not isinstance(report.get("suite"), str):
        return "missing 'suite'"
    results = report.get("results")
    if not isinstance(results, list):
        return "missing 'results' list"
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            return f"results[{index}] is not an object"
        for key, kind in _REQUIRED.items():
            if not isinstance(result.get(key), kind):
                return f"results[{index}] lacks {key!r}"
        if result["better"] not in _BETTER:
            return f"results[{index}] 'better' must be 'higher' or 'lower'"
        for key in _NUMBERS:
            value = result.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"results[{index}] ({result['name']}) lacks number {key!r}"
    return None


def _spread(result: dict[str, Any]) -> float:
    """Relative half-range of a result (recomputed if an older report lacks ``spread``)."""
    if isinstance(result.get("spread"), int | float):
        return float(result["spread"])
    median = float(result["median"])
    return (float(result["max"]) - float(result["min"])) / 2 / abs(median) if median else 0.0


def compare(
    current: dict[str, Any], baseline: dict[str, Any], tolerance: float | None = None
) -> list[dict[str, Any]]:
    """Compare each result of ``current`` with the same-named result of ``baseline``.

    A result regressed when its median is worse than the baseline's — lower for
    ``better == "higher"``, higher for ``"lower"`` — by more than the threshold: the larger
    relative spread of the two, but at least ``DEFAULT_NOISE_FLOOR``; or exactly
    ``tolerance`` when given. Reference results (``baseline_of``) only report their change,
    as status ``"reference"``: they measure the machine, not lowlat; ``informational``
    ones get status ``"info"``.

    Returns
    -------
    list of dict
        One row per result name in either report: ``name``, ``unit``, ``better``,
        ``baseline``, ``current``, ``change`` (relative, signed: > 0 means the number went
        up), ``threshold``, ``status`` (``"regression"``, ``"improvement"``, ``"ok"``,
        ``"reference"``, ``"info"``, ``"new"`` or ``"missing"``) and ``regression`` (bool).
    """
    old = {r["name"]: r for r in baseline["results"]}
    rows = []
    for result in current["results"]:
        row = {
            "name": result["name"],
            "unit": result["unit"],
            "better": result["better"],
            "baseline": None,
            "current": result["median"],
            "change": None,
            "threshold": None,
            "status": "new",
            "regression": False,
        }
        rows.append(row)
        before = old.pop(result["name"], None)
        if before is None:
            continue
        threshold = (
            max(DEFAULT_NOISE_FLOOR, _spread(result), _spread(before))
            if tolerance is None
            else tolerance
        )
        base = float(before["median"])
        change = (float(result["median"]) - base) / abs(base) if base else math.inf
        worse = -change if result["better"] == "higher" else change
        if result.get("baseline_of"):
            status = "reference"
        elif result.get("informational"):
            status = "info"
        elif worse > threshold:
            status = "regression"
        elif -worse > threshold:
            status = "improvement"
        else:
            status = "ok"
        row.update(
            baseline=before["median"],
            change=change,
            threshold=threshold,
            status=status,
            regression=status == "regression",
        )
    for before in old.values():
        rows.append(
            {
                "name": before["name"],
                "unit": before["unit"],
                "better": before["better"],
                "baseline": before["median"],
                "current": None,
                "change": None,
                "threshold": None,
                "status": "missing",
                "regression": False,
            }
        )
    return rows


def fmt_number(value: float | None) -> str:
    """Compact human number: 12.3M, 456k, 789, 1.25."""
    if value is None:
        return "-"
    magnitude = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def format_comparison(rows: Sequence[dict[str, Any]]) -> str:
    """Table of :func:`compare` rows with a verdict line at the end."""
    body = []
    for row in rows:
        change = "-" if row["change"] is None else f"{row['change']:+.1%}"
        threshold = "-" if row["threshold"] is None else f"±{row['threshold']:.0%}"
        status = row["status"].upper() if row["regression"] else row["status"]
        body.append(
            [
                row["name"],
                row["unit"],
                fmt_number(row["baseline"]),
                fmt_number(row["current"]),
                change,
                threshold,
                f"{row['better']} is better",
                status,
            ]
        )
    table = format_table(
        ["result", "unit", "baseline", "current", "change", "noise", "direction", "status"],
        body,
    )
    regressions = [row["name"] for row in rows if row["regression"]]
    verdict = (
        f"{len(regressions)} regression(s): {', '.join(regressions)}"
        if regressions
        else "no regressions"
    )
    return f"{table}\n{verdict}"


Case = tuple[Callable[[int, int], list[dict[str, Any]]], int, int]
"""A suite case: ``(measure(repeats, events) -> results, events when full, events when quick)``."""


DEFAULT_REPEATS = 5
QUICK_REPEATS = 3


def run_suite(
    suite: str,
    cases: dict[str, Case],
    *,
    quick: bool = False,
    repeats: int | None = None,
    events: int | None = None,
    only: Collection[str] | None = None,
    warm_up: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run ``cases`` round-robin ``repeats`` times and return the JSON-able report.

    One run of every case per round, so that a noisy spell on a shared machine lands on
    all cases alike instead of sinking one case's every run; each result is the median
    over the rounds (5, or 3 when ``quick``, unless ``repeats`` says). ``events``
    overrides every case's event count; ``only`` picks cases.
    """
    repeats = repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    keys = list(cases) if only is None else list(only)
    unknown = [key for key in keys if key not in cases]
    if unknown:
        raise ValueError(f"unknown {suite} cases {unknown}; choose from {list(cases)}")
    began = time.monotonic()
    load_start = os.getloadavg()[0]
    if warm_up is not None:
        warm_up()
    rounds = []
    for _ in range(repeats):
        one_round: list[dict[str, Any]] = []
        for key in keys:
            case, full, small = cases[key]
            one_round.extend(case(1, events or (small if quick else full)))
        rounds.append(one_round)
    return {
        "suite": suite,
        "machine": machine_info(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "repeats": repeats,
        "seconds": round(time.monotonic() - began, 1),
        "load_average": [load_start, os.getloadavg()[0]],  # 1-min, at start and end: noise
        "results": [_merge_runs([r[i] for r in rounds]) for i in range(len(rounds[0]))],
    }


def apply_judged(result: dict[str, Any]) -> dict[str, Any]:
    """Summarise a result with ``judged`` flags over the runs that can tell its verdict.

    A run is judged when it could show the target at all (a 1 µs difference needs a run
    quiet enough to hold one). The median, extremes and verdict come from the judged runs;
    with none, from every run, and the result says ``unjudged`` (with ``unjudged_reason``)
    instead of a verdict. ``runs`` keeps every run. Returns ``result``, updated.
    """
    runs = list(result["runs"])
    values = [value for value, judged in zip(runs, result["judged"], strict=True) if judged]
    result.update(summarize(values or runs))
    result["runs"] = runs
    result.pop("unjudged", None)
    if not values:
        result["unjudged"] = result.get("unjudged_reason", "no run could tell")
    return result


def _merge_runs(per_round: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the single-run results of the same case over several rounds."""
    merged = dict(per_round[0])
    merged.update(summarize([value for r in per_round for value in r["runs"]]))
    if "errors" in merged:
        merged["errors"] = sum(r["errors"] for r in per_round)
    for key in ("preemptions", "stalls", "judged"):
        if key in merged:
            merged[key] = [value for r in per_round for value in r[key]]
    if "judged" in merged:
        apply_judged(merged)
    if "first_bad_seq" in merged:
        bad = [r["first_bad_seq"] for r in per_round if r["first_bad_seq"] >= 0]
        merged["first_bad_seq"] = min(bad) if bad else -1
    return merged


def _target_cell(result: dict[str, Any]) -> tuple[str, str]:
    """Target text and verdict of a result, or blanks."""
    target = result.get("target")
    if target is None:
        return "", ""
    higher = result["better"] == "higher"
    text = f"{'≥' if higher else '≤'} {fmt_number(target)}"
    if result.get("unjudged"):
        return text, "unjudged"
    met = result["median"] >= target if higher else result["median"] <= target
    return text, "met" if met else "MISSED"


def _note(result: dict[str, Any]) -> str:
    """A result's note, plus which runs judged it and how often its threads were preempted."""
    parts = [result["note"]] if result.get("note") else []
    if "judged" in result:
        parts.append(f"judged on {sum(result['judged'])} of {len(result['judged'])} runs")
    if result.get("unjudged"):
        parts.append(f"unjudged: {result['unjudged']}")
    if "preemptions" in result:
        parts.append(f"{statistics.median(result['preemptions']):g} preemptions/run")
    return "; ".join(parts)


def format_report(report: dict[str, Any]) -> str:
    """Aligned plain-text table of a report: medians, ranges, targets, baseline ratios."""
    medians = {r["name"]: r["median"] for r in report["results"]}
    rows = []
    for result in report["results"]:
        target, verdict = _target_cell(result)
        ratio = ""
        ours = medians.get(result.get("baseline_of", ""))
        if ours:
            better = result["better"] == "higher"
            ratio = f"{(ours / result['median'] if better else result['median'] / ours):.3g}×"
        errors = result.get("errors")
        check = (
            ""
            if errors is None or result.get("baseline_of")
            else ("ok" if errors == 0 else f"{errors} ERRORS")
        )
        rows.append(
            [
                result["name"],
                fmt_number(result["median"]),
                f"{fmt_number(result['min'])}–{fmt_number(result['max'])}",
                result["unit"],
                target,
                verdict,
                ratio,
                check,
                _note(result),
            ]
        )
    table = format_table(
        ["case", "median", "min–max", "unit", "target", "met?", "lowlat ×", "check", "note"], rows
    )
    machine = report.get("machine", {})
    load = report.get("load_average", [math.nan, math.nan])
    head = (
        f"{report.get('suite', '?')} suite, {report.get('created', '')}, "
        f"{report.get('repeats', '?')} runs per case"
        f"{' (quick)' if report.get('quick') else ''}; {machine.get('cpu', '?')}, "
        f"{machine.get('usable_cores', '?')} cores, Python {machine.get('python', '?')}, "
        f"numba {machine.get('numba', '?')}; load {load[0]:.2f} → {load[1]:.2f}"
    )
    isolation = report.get("isolation")
    if isolation:
        head += (
            f"; CPU {isolation['cpu']} isolated ({isolation['tasks_moved']} tasks, "
            f"{isolation['irqs_moved']} interrupts moved off it)"
        )
    foot = (
        "lowlat ×: how many times better lowlat is than this baseline, against the lowlat case "
        "of the same shape (higher-is-better: lowlat / baseline; lower-is-better: baseline / "
        "lowlat). check: the case verified its output (what it checks is in the case's note)."
    )
    return f"{head}\n{table}\n{foot}"
