"""The tick-to-order latency and journal cases on a short stream: their rows, every record on disk.

No timing assertions: the runs verify themselves (every record processed and journaled,
none lost or refused) and the rows are the ones the suite prints.
"""

from __future__ import annotations

import numpy as np

from bench import tick_to_order

EVENTS = 3_000


def test_the_journal_case_runs_plain_journaled_and_writer_held_rounds():
    rows = tick_to_order.CASES["journal"][0](1, EVENTS)
    by_name = {row["name"]: row for row in rows}
    assert list(by_name) == [
        "tick-to-order p99.9, journaled, 1 M msg/s",
        "journaling's cost on tick-to-order p99.9",
        "journaling's cost on the engine time p99.9",
        "journal hand-offs' cost on tick-to-order p99.9, writer held",
        "journal hand-offs' cost on the engine time p99.9, writer held",
    ]
    assert by_name["tick-to-order p99.9, journaled, 1 M msg/s"]["errors"] == 0
    assert by_name["journaling's cost on tick-to-order p99.9"]["target"] == 1_000
    assert all(len(row["runs"]) == 1 for row in rows)


def test_the_latency_case_judges_its_target_between_two_floors_and_keeps_every_round():
    rows = tick_to_order.CASES["latency"][0](1, EVENTS)
    by_name = {row["name"]: row for row in rows}
    judged = by_name["tick-to-order p99.9, 1 M msg/s"]
    every = by_name["tick-to-order p99.9, 1 M msg/s, every round"]
    assert judged["target"] == 10_000 and judged["errors"] == 0
    assert len(judged["judged"]) == 1 and every["runs"] == judged["runs"]
    assert "target" not in every and every["informational"]
    assert "floor: ring hop, no work, p99.9, 1 M msg/s" in by_name


def test_the_unpaced_run_makes_the_paced_runs_decisions_and_sends_every_one(monkeypatch):
    limits = tick_to_order.RiskLimits

    def small_burst(**kwargs):  # the throttle refuses the 21st order unless time moves on
        return limits(**{**kwargs, "throttle_burst": 20})

    monkeypatch.setattr(tick_to_order, "RiskLimits", small_burst)
    rate, errors = tick_to_order.throughput_run(EVENTS)
    assert rate > 0 and errors == 0  # stamped one per µs: the bucket refills between orders


def test_a_writer_held_run_journals_every_record_once_started():
    run = tick_to_order._journaled_run(EVENTS, writer_held=True)
    assert run.errors == 0  # every record the loop handed over was written after the run
    assert run.decisions > 0 and len(run.latencies) > 0


def _run(p999_ns: int) -> tick_to_order.LatencyRun:
    """A run whose latencies have the given p99.9 (a flat sample)."""
    latencies = np.full(1_000, p999_ns, np.int64)
    return tick_to_order.LatencyRun(latencies, 0, 1_000, latencies)


def test_journaling_is_judged_only_on_rounds_quiet_enough_to_show_a_microsecond():
    plain = [_run(5_000), _run(400_000)]
    journaled = [_run(5_600), _run(100_000)]
    row = tick_to_order._journal_cost_row(plain, journaled)
    assert row["runs"] == [600.0, -300_000.0] and row["judged"] == [True, False]
    assert row["median"] == 600.0  # the noisy round's −300 µs does not count
    assert "unjudged" not in row
    noisy = tick_to_order._journal_cost_row([_run(400_000)], [_run(100_000)])
    assert noisy["median"] == -300_000.0 and "platform stalls" in noisy["unjudged"]
