"""The paced floor: the session's feed pacing into a ring, a consumer that does no work.

No timing assertions: every record arrives once, its latency is measured against its own
receive stamp, and the report rows are what the suites print.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from bench import ring as ring_module
from bench import ring_kernels as rk
from bench.harness import format_report, summarize
from bench.ring import floor_results, judged_on_quiet_floors, paced_floor, produce_paced
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import Policy, RingBus

_WORDS = MARKET_EVENT_DTYPE.itemsize // 8
_RECV_WORD = MARKET_EVENT_DTYPE.fields["recv_ns"][1] // 8


def _words(n: int) -> np.ndarray:
    records = np.zeros(n, MARKET_EVENT_DTYPE)
    records["seq"] = np.arange(n)
    return records.view(np.int64).reshape(n, _WORDS)


def test_produce_paced_stamps_each_record_on_its_schedule():
    ring = RingBus(1 << 12)
    consumer = ring.add_consumer(Policy.LOSSLESS)
    produce_paced(ring, _words(0), 0)  # compiled (or loaded) before the clock is read
    words = _words(200)
    before = time.monotonic_ns()
    assert produce_paced(ring, words, 1_000) == 0
    due = before + 1_000 * np.arange(200)
    assert np.all(words[:, _RECV_WORD] >= due)  # no row before its slot on the schedule
    out = np.zeros((256, _WORDS), np.int64)
    count, first, lost = rk.kernels.poll_batch(*ring.arrays, consumer, out, 256)
    assert (count, first, lost) == (200, 0, 0)
    assert np.array_equal(out[:200], words)  # published as stamped
    ring.close()


def test_paced_floor_times_every_record_once():
    n = 5_000
    latencies = paced_floor(_words(n), 200, 64)
    assert latencies.shape == (n,)
    assert np.all(latencies > 0)  # each off the ring after its own stamp


def test_hop_latencies_gives_up_after_its_timeout():
    ring = RingBus(64)
    consumer = ring.add_consumer(Policy.LOSSLESS)
    words = _words(3)
    produce_paced(ring, words, 0)
    latencies = np.full(5, -1, np.int64)
    received = rk.hop_latencies(*ring.arrays, consumer, 4, _RECV_WORD, latencies, 1_000_000)
    assert received == 3  # two never came: it returned instead of spinning for ever
    assert np.all(latencies[:3] >= 0) and np.all(latencies[3:] == -1)
    ring.close()


def test_floor_results_subtract_the_floor_per_round():
    floors = [{"p50": 100.0, "p99.9": 1_000.0, "count": 9}, {"p50": 200.0, "p99.9": 3_000.0}]
    rows = floor_results(floors, [1_500.0, 2_000.0], "path")
    by_name = {row["name"]: row for row in rows}
    above = by_name["path p99.9 − floor p99.9, per round"]
    assert above["runs"] == [500.0, -1_000.0]
    assert by_name["floor: ring hop, no work, p99.9, 1 M msg/s"]["runs"] == [1_000.0, 3_000.0]
    assert all(row["informational"] for row in rows)


def test_floor_results_need_one_path_figure_per_floor():
    with pytest.raises(ValueError):
        floor_results([{"p50": 1.0, "p99.9": 2.0, "count": 1}], [], "path")


def _p999_row(runs: list[float]) -> dict:
    return {"name": "path p99.9", "unit": "ns", "better": "lower", "target": 10_000.0,
            "note": "paced", **summarize(runs)}  # fmt: skip


def _floors(*p999: float) -> list[dict[str, float]]:
    return [{"p50": 100.0, "p99.9": value} for value in p999]


def test_the_target_is_judged_only_on_rounds_whose_floors_on_both_sides_met_it():
    row = _p999_row([7_000.0, 400_000.0, 30_000.0, 9_000.0])
    before = _floors(2_000.0, 300_000.0, 3_000.0, 8_000.0)
    after = _floors(4_000.0, 1_000.0, 250_000.0, 6_000.0)
    judged, every = judged_on_quiet_floors(row, before, after)
    assert judged["judged"] == [True, False, False, True]
    assert judged["median"] == 8_000.0 and judged["max"] == 9_000.0  # rounds 1 and 4 only
    assert "unjudged" not in judged and judged["target"] == 10_000.0
    assert every["name"] == "path p99.9, every round" and every["informational"]
    assert "target" not in every and every["runs"] == row["runs"]
    assert every["median"] == 19_500.0


def test_a_path_judged_on_quiet_rounds_still_misses_when_it_is_slow_there():
    row = _p999_row([25_000.0, 40_000.0])
    judged, _ = judged_on_quiet_floors(row, _floors(1_000.0, 2_000.0), _floors(1_500.0, 900.0))
    assert judged["judged"] == [True, True] and judged["median"] == 32_500.0
    table = format_report({"suite": "t", "machine": {}, "quick": True, "results": [judged]})
    row = next(line for line in table.splitlines() if line.startswith("path p99.9"))
    assert "MISSED" in row.split() and "unjudged" not in row


def test_with_no_quiet_round_the_target_is_unjudged_and_says_why():
    row = _p999_row([500_000.0, 6_000.0])
    judged, _ = judged_on_quiet_floors(row, _floors(400_000.0, 3_000.0), _floors(5_000.0, 60_000.0))
    assert judged["judged"] == [False, False]
    assert "platform's stalls alone exceed the target" in judged["unjudged"]
    assert judged["runs"] == [500_000.0, 6_000.0]


def test_judging_needs_two_floors_per_path_round():
    with pytest.raises(ValueError, match="floor runs"):
        judged_on_quiet_floors(_p999_row([1.0, 2.0]), _floors(1.0, 1.0), _floors(1.0))


def test_produce_paced_pins_the_caller_only_while_it_runs():
    allowed = os.sched_getaffinity(0)
    ring = RingBus(64)
    seen: list[set[int]] = []
    words = _words(4)
    original = ring_module.publish_paced

    def spy(*args):
        seen.append(os.sched_getaffinity(0))
        return original(*args)

    ring_module.publish_paced = spy
    try:
        produce_paced(ring, words, 0, cpu=max(allowed))
    finally:
        ring_module.publish_paced = original
        ring.close()
    assert seen == [{max(allowed)}]
    assert os.sched_getaffinity(0) == allowed
