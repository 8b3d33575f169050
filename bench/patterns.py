"""Pattern benchmarks: detection latency at a paced 1 M msg/s, and scaling from 1 to 2 groups.

``lowlat bench patterns``. The stream: 8 instruments, TICK records 1 µs apart in exchange
time, each a random-walk step of one instrument chosen at random. Each group of four
instruments ``a, b, c, d`` carries five patterns — lead-lag ``a → b`` and ``c → d``, pair
z-scores ``(a, b)`` and ``(c, d)``, a 3-of-4 breakout — and the same patterns are run as
one group of eight or as two groups of four (instruments split), so both detect the same
events.

``latency`` (one group) and ``latency_2g`` (two): the session's paced feed kernel (nogil,
in the calling thread) publishes the stream at 1 M msg/s, busy-waiting on the monotonic
clock and stamping ``recv_ns`` as it publishes; :class:`PatternGroups` threads detect;
latency = ``detect_ns - trigger recv_ns`` of every pattern event after the first 10 % of
the stream. With one group, the producer runs on the lowest CPU and the group (its TOML
``cpu``) on the highest, as a deployment would place them (:func:`~bench.ring.cpus`); two
groups and the producer are three threads on two cores, left to the scheduler. Each
one-group run sits between two floor runs (:func:`~bench.ring.paced_floor`: the same
producer and block, a consumer that does nothing): the tail no detector can beat here; its
target is judged on the rounds whose floors both met it.
``scaling``: the whole stream is in the ring before the groups start (the producer then
competes for no core), and the rate is records / time to drain it, with one group and with
two. ``engine``: :class:`PatternEngine` in this thread, timed in thread CPU time — the
per-core cost, whatever else the machine runs. ``platform``: the share of time a lone
thread is stalled, to read the others by (as in the ring suite). Every group run checks
its events against :class:`PatternEngine` on the same records: a missing, extra or
different event, a dropped or a lost one is an error.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from bench.harness import Case, format_report, percentiles_ns, run_suite, summarize
from bench.ring import (
    STALL_THRESHOLD_NS,
    case_platform,
    cpus,
    floor_results,
    judged_on_quiet_floors,
    paced_floor,
    produce_paced,
)
from bench.ring_kernels import stall_fraction
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.core.ring import RingBus, WaitStrategy
from lowlat.core.ring import kernels as ring_kernels
from lowlat.signals.patterns import PATTERN_EVENT_DTYPE, PatternConfig, PatternEngine, PatternGroups

__all__ = ["CASES", "format_table", "run"]

INSTRUMENTS = 8
P0 = 1_000_000  # 100.0000: 1 bps = 100 ticks
STEP_TICKS = 60  # standard deviation of one random-walk step
RATE = 1_000_000  # msg/s of the paced producer
INTERVAL_NS = 1_000_000_000 // RATE
WARMUP_SHARE = 0.1  # events triggered in the first 10 % of the stream are not timed
TARGET_P999_NS = 50_000
GROUP_BATCH = 64  # records a group thread takes off the ring at a time (its default)
LATENCY = "pattern detection latency {}, {}, 1 M msg/s"
SCALING = "pattern detection, {}, unpaced"
SCALING_RATIO = "pattern detection scaling, 2 groups / 1 group"
ENGINE = "pattern engine in-process, 1 thread, CPU time"
_WORDS = MARKET_EVENT_DTYPE.itemsize // 8
# With one group, producer and group thread have a core each; with two, three threads share
# two cores, and a spinning group would hold the core the producer needs.
_LATENCY_WAIT = {1: WaitStrategy.BUSY_SPIN, 2: WaitStrategy.YIELD}


def pattern_config(groups: int, cpu: int = -1) -> PatternConfig:
    """The benchmark's patterns over instruments 1..8, as one group or as two.

    ``cpu``: pin the one group's thread there (with two groups, ignored: three threads
    share two cores, and the scheduler places them).
    """
    ids = list(range(1, INSTRUMENTS + 1))
    split = [ids] if groups == 1 else [ids[:4], ids[4:]]
    pin = f"cpu = {cpu}\n" if groups == 1 else ""
    text = "".join(
        f'[[group]]\nname = "g{g}"\ninstruments = {part}\n{pin}' for g, part in enumerate(split)
    )
    for a, b, c, d in (ids[:4], ids[4:]):
        for leader, follower in ((a, b), (c, d)):
            text += (
                f'[[pattern]]\nname = "lead-{leader}-{follower}"\nkind = "lead_lag"\n'
                f"leader = {leader}\nfollower = {follower}\nmove_bps = 3.0\nwindow_us = 40\n"
            )
            text += (
                f'[[pattern]]\nname = "pair-{leader}-{follower}"\nkind = "pair_zscore"\n'
                f"instruments = [{leader}, {follower}]\nhalf_life_events = 50\n"
                "z_threshold = 3.0\nwarmup = 100\n"
            )
        text += (
            f'[[pattern]]\nname = "breakout-{a}"\nkind = "breakout"\n'
            f"instruments = [{a}, {b}, {c}, {d}]\nk = 3\nmove_bps = 2.0\nwindow_us = 40\n"
        )
    return PatternConfig.from_toml(text)


@functools.lru_cache(maxsize=2)
def stream(n: int, seed: int = 1) -> np.ndarray:
    """``n`` TICK records 1 µs apart, a random walk per instrument (shared: copy to modify)."""
    rng = np.random.default_rng(seed)
    records = np.zeros(n, dtype=MARKET_EVENT_DTYPE)
    records["seq"] = np.arange(n)
    records["exchange_ns"] = np.arange(n) * INTERVAL_NS
    records["recv_ns"] = records["exchange_ns"]
    records["kind"] = EventKind.TICK
    instruments = rng.integers(1, INSTRUMENTS + 1, n)
    records["instrument"] = instruments
    steps = np.rint(rng.normal(0, STEP_TICKS, n)).astype(np.int64)
    for instrument in range(1, INSTRUMENTS + 1):
        mine = instruments == instrument
        records["price"][mine] = P0 + np.cumsum(steps[mine])
    return records


def _errors(found: np.ndarray, expected: np.ndarray) -> int:
    """Events missing, extra or different (``detect_ns`` aside)."""
    keys = [name for name in PATTERN_EVENT_DTYPE.names if name not in ("detect_ns", "reserved")]
    found_rows = {tuple(row) for row in found[keys].tolist()}
    expected_rows = {tuple(row) for row in expected[keys].tolist()}
    return len(found_rows ^ expected_rows) + abs(len(found) - len(found_rows))


def _groups(n: int) -> str:
    return "1 group" if n == 1 else f"{n} groups"


def _capacity(n: int) -> int:
    return 1 << max(1, (n - 1).bit_length())


def latency_run(n: int, groups: int) -> tuple[np.ndarray, int, int]:
    """Latencies (ns) of one paced run, errors, and pattern events detected."""
    records = stream(n).copy()
    words = records.view(np.int64).reshape(n, _WORDS)
    ring = RingBus(1 << 14)
    feed_cpu, group_cpu = cpus() if groups == 1 else (-1, -1)
    detectors = PatternGroups(
        pattern_config(groups, group_cpu),
        ring,
        wait=_LATENCY_WAIT[groups],
        batch=GROUP_BATCH,
        output_capacity=_capacity(n // 4),
    )
    detectors.start()
    try:
        produce_paced(ring, words, INTERVAL_NS, feed_cpu)
    finally:
        detectors.stop()
    found = detectors.events()
    stats = detectors.stats()
    detectors.close()
    expected = PatternEngine(pattern_config(groups)).feed(records)
    errors = _errors(found, expected) + sum(s.dropped + s.lost for s in stats)
    timed = found[found["trigger_seq"] >= int(n * WARMUP_SHARE)]
    return timed["detect_ns"] - timed["trigger_recv_ns"], errors, len(found)


def floor_run(n: int) -> np.ndarray:
    """:func:`~bench.ring.paced_floor` with one group's stream, block and cores (warm-up cut)."""
    words = stream(n).copy().view(np.int64).reshape(n, _WORDS)
    feed_cpu, group_cpu = cpus()
    latencies = paced_floor(
        words, INTERVAL_NS, GROUP_BATCH, producer_cpu=feed_cpu, consumer_cpu=group_cpu
    )
    return latencies[int(n * WARMUP_SHARE) :]


def scaling_run(n: int, groups: int) -> tuple[float, int]:
    """Records per second two or one group(s) drain from a pre-filled ring, and errors."""
    records = stream(n)
    ring = RingBus(_capacity(n))
    detectors = PatternGroups(
        pattern_config(groups),
        ring,
        wait=WaitStrategy.YIELD,
        batch=256,
        output_capacity=_capacity(n // 4),
    )
    published = ring_kernels.publish_batch(
        *ring.arrays, records.view(np.int64).reshape(n, _WORDS), n
    )
    detectors.warm_up()
    start = time.perf_counter_ns()
    detectors.start()
    detectors.stop()
    seconds = (time.perf_counter_ns() - start) / 1e9
    found = detectors.events()
    detectors.close()
    expected = PatternEngine(pattern_config(groups)).feed(records)
    return n / seconds, _errors(found, expected) + n - published


def engine_run(n: int) -> tuple[float, int]:
    """Records per second of thread CPU time for ``PatternEngine.feed``, and events found."""
    records = stream(n)
    engine = PatternEngine(pattern_config(1))
    start = time.thread_time_ns()
    found = engine.feed(records)
    return n / ((time.thread_time_ns() - start) / 1e9), len(found)


def _latency_case(groups: int):
    def case(repeats: int, events: int) -> list[dict[str, Any]]:
        floors, runs, after = [], [], []
        for _ in range(repeats):
            if groups == 1:  # two groups and the producer are three threads on two cores
                floors.append(percentiles_ns(floor_run(events)))
            runs.append(latency_run(events, groups))
            if groups == 1:
                after.append(percentiles_ns(floor_run(events)))
        per_run = [percentiles_ns(latencies) for latencies, _, _ in runs]
        note = (
            f"{_groups(groups)} + producer, {INSTRUMENTS} instruments; "
            f"{runs[0][2]} events/run; wait = {_LATENCY_WAIT[groups].name.lower()}"
        )
        results = []
        for key in ("p50", "p99", "p99.9", "max"):
            result: dict[str, Any] = {
                "name": LATENCY.format(key, _groups(groups)),
                "unit": "ns",
                "better": "lower",
                **summarize([p[key] for p in per_run]),
                "samples": per_run[0]["count"],
                "errors": sum(errors for _, errors, _ in runs),
                "note": note,
            }
            if key == "p99.9":
                result["target"] = TARGET_P999_NS
                if floors:
                    results += judged_on_quiet_floors(result, floors, after)
                    continue
            if key == "max":
                result["informational"] = True  # one preemption decides it
            results.append(result)
        if floors:
            p999 = [p["p99.9"] for p in per_run]
            results += floor_results(floors, p999, "pattern detection latency")
        return results

    return case


def _case_scaling(repeats: int, events: int) -> list[dict[str, Any]]:
    one = [scaling_run(events, 1) for _ in range(repeats)]
    two = [scaling_run(events, 2) for _ in range(repeats)]
    results = []
    for groups, runs in ((1, one), (2, two)):
        results.append(
            {
                "name": SCALING.format(_groups(groups)),
                "unit": "msg/s",
                "better": "higher",
                **summarize([rate for rate, _ in runs]),
                "events": events,
                "errors": sum(errors for _, errors in runs),
                "note": "ring pre-filled; each group reads every record, evaluates its own",
            }
        )
    results.append(
        {
            "name": SCALING_RATIO,
            "unit": "×",
            "better": "higher",
            **summarize([b / a for (a, _), (b, _) in zip(one, two, strict=True)]),
            "informational": True,
            "note": "2 groups on 2 cores; 2.0 would be perfect",
        }
    )
    return results


def _case_engine(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [engine_run(events) for _ in range(repeats)]
    return [
        {
            "name": ENGINE,
            "unit": "msg/s",
            "better": "higher",
            **summarize([rate for rate, _ in runs]),
            "events": events,
            "errors": len({found for _, found in runs}) - 1,  # every run finds the same
            "note": "the per-core cost of the 10 patterns: time the thread ran, not wall time",
        }
    ]


def warm_up() -> None:
    """Compile (or load) the producer, the engine and the group loop before timing."""
    records = stream(64).copy()
    ring = RingBus(64)
    consumer = ring.add_consumer()
    produce_paced(ring, records.view(np.int64).reshape(64, _WORDS), 0)
    stall_fraction(1_000, STALL_THRESHOLD_NS)
    ring.remove_consumer(consumer)
    PatternEngine(pattern_config(1)).feed(records)
    detectors = PatternGroups(pattern_config(2), RingBus(64))
    detectors.warm_up()
    detectors.close()


# key: (case, events per run in full mode, in quick mode)
CASES: dict[str, Case] = {
    "platform": (case_platform, 500, 200),  # milliseconds, not events
    "latency": (_latency_case(1), 1_000_000, 300_000),
    "latency_2g": (_latency_case(2), 1_000_000, 300_000),
    "scaling": (_case_scaling, 1_000_000, 500_000),
    "engine": (_case_engine, 1_000_000, 500_000),
}


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the patterns suite; ``options`` are ``events`` and ``only`` (see ``run_suite``)."""
    return run_suite("patterns", CASES, quick=quick, repeats=repeats, warm_up=warm_up, **options)


def format_table(report: dict[str, Any]) -> str:
    """The report as a table."""
    return format_report(report)
