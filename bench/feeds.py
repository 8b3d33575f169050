"""Feed benchmarks: ITCH 5.0, FIX 4.4, depth-diff JSON, the simulator; with Python baselines.

``lowlat bench feeds``: every case decodes from memory and verifies its counts; the
baselines (a ``struct`` ITCH decoder, ``simplefix``) run on the same input in the same run.
"""

from __future__ import annotations

from typing import Any

from bench import feeds_depth, feeds_fix, feeds_itch, sim
from bench.harness import format_report, run_suite

__all__ = ["CASES", "format_table", "run"]

CASES = {**feeds_itch.CASES, **feeds_fix.CASES, **feeds_depth.CASES, **sim.CASES}


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the feeds suite; ``options`` are ``events`` and ``only`` (see ``harness.run_suite``)."""
    return run_suite("feeds", CASES, quick=quick, repeats=repeats, **options)


def format_table(report: dict[str, Any]) -> str:
    """The report as a table with lowlat/baseline ratios."""
    return format_report(report)
