"""Soak: a simulated 8-hour session in market time through the whole path, as fast as it goes.

``lowlat bench soak``. The simulator's ``normal`` model over 8 hours of market time (4
instruments), 1 billion messages (10 million with ``--quick``), with three bursts — open,
midday, close, 60 s of market time each — at about 1 M msg/s of market time. A feed
thread generates, decodes and publishes to a lossless feed ring (a publish refused by
back-pressure is retried after 50 µs: counted, never dropped); the engine thread runs
:class:`~lowlat.execution.loop.EngineLoop` with the example quoter, risk, breakers and the
in-process venue, handing every input and output to the journal (fsync every 10 ms);
the engine polls only while the journal ring has room for a block's records (when the
writer falls behind it holds, and the feed's back-pressure follows); the metrics sidecar
drains the stage samples meanwhile, and the engine's state is
snapshotted every 30 s of wall time (2 s in a quick soak), as in a session, which retires
the journal segments each snapshot covers: the journal on disk stays bounded (a full
soak writes ~80 GB).

Once the first chunk has gone through (every kernel the feed calls is loaded) the heap is
collected once and frozen (``gc.freeze``), as a session does once warm
(:mod:`lowlat.control.heap`); RSS and GC pauses are measured from there.

Reported: messages and the rate (msg/s of wall time); RSS at start (every component
allocated, the snapshot buffers included, once warm as above), peak and end (read
from ``/proc/self/statm`` every 0.5 s); Python GC pauses (``gc.callbacks``: count of
pauses ≥ 1 ms and the longest); losses on the critical consumers — the engine's feed
consumer (lost records) and the journal (refused hand-offs) — which must be zero.
Snapshots: how many, and the longest the engine stood still for one. The journal's
largest size on disk (sampled with RSS) shows that retiring segments keeps it bounded.
``sidecar``: the tick-to-order suite's paced run with the sidecar draining and without,
side by side in each round: the p99.9 difference is the sidecar's overhead.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Case, format_report, percentiles_ns, run_suite, summarize
from bench.tick_to_order import engine_loop, latency_run
from lowlat.control import Metrics, MetricsSidecar
from lowlat.control.checkpoints import PeriodicSnapshots
from lowlat.control.config import MetricsConfig, StageBudgets
from lowlat.control.heap import freeze_heap, thaw_heap
from lowlat.control.replay import SNAPSHOT_DIR
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import RingBus
from lowlat.core.ring import kernels as ring_kernels
from lowlat.feeds.itch import LENGTH_PREFIXED, ItchDecoder
from lowlat.feeds.sim import Simulator
from lowlat.feeds.sim.config import Regime, ScenarioConfig
from lowlat.journal import Journal, JournalConfig, SnapshotStore

__all__ = ["CASES", "format_table", "run"]

MARKET_SECONDS = 8 * 3600
BURST_SECONDS = 60.0
CHUNK_BYTES = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
GC_PAUSE_NS = 1_000_000
SNAPSHOT_INTERVAL_S = 30.0  # as a session; a quick soak (seconds long) snapshots every 2 s
QUICK_SNAPSHOT_INTERVAL_S = 2.0
FEED_BACKOFF_S = 50e-6  # a refused feed publish retries after this (a whole ring is ~50 ms of work)


def session_config(messages: int) -> ScenarioConfig:
    """Eight hours of the normal model, three 60 s bursts at ~1 M msg/s (full size)."""
    base_rate = messages / MARKET_SECONDS
    burst = max(1.0, 1_000_000 / base_rate) if messages >= 100_000_000 else 20.0
    bursts = tuple(
        Regime(start, start + BURST_SECONDS, rate_mult=burst, vol_mult=2.0)
        for start in (0.0, MARKET_SECONDS / 2, MARKET_SECONDS - BURST_SECONDS)
    )
    return ScenarioConfig(
        name="soak", seed=11, instruments=4, messages=messages,
        duration_s=float(MARKET_SECONDS), regimes=bursts,
    )  # fmt: skip


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class _GcPauses:
    """Python GC pauses over the run, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[int] = []
        self._start = 0

    def __call__(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.pauses.append(time.perf_counter_ns() - self._start)


def _journal_bytes(directory: str) -> int:
    """Bytes of the journal's files (segments and snapshots) now.

    ``os.scandir``, one directory at a time: ``Path.rglob`` holds a few hundred paths and
    lists at once, enough young objects to set off a GC collection in this (measuring)
    thread — which the soak would then count against the engine's session.
    """
    total = 0
    pending = [directory]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:  # retired while we looked
                        continue
        except FileNotFoundError:
            continue
    return total


def soak_run(messages: int) -> dict[str, Any]:
    """One soak; every figure the case reports."""
    directory = Path(tempfile.mkdtemp(prefix="lowlat-soak-"))
    pauses = _GcPauses()
    rss: list[int] = []
    disk: list[int] = []
    stop_sampling = threading.Event()

    def sample_rss() -> None:
        while not stop_sampling.wait(0.5):
            rss.append(_rss_bytes())
            disk.append(_journal_bytes(str(directory)))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    try:
        journal = Journal(directory, JournalConfig(fsync="interval", ring_capacity=1 << 20))
        loop = engine_loop(journal)
        sidecar = MetricsSidecar(loop.metrics)
        snapshots = PeriodicSnapshots(
            loop,
            journal,
            SnapshotStore(directory / SNAPSHOT_DIR),
            SNAPSHOT_INTERVAL_S if messages >= 100_000_000 else QUICK_SNAPSHOT_INTERVAL_S,
        )
        ring = RingBus(1 << 16)
        consumer = ring.add_consumer(policy="lossless")
        sim = Simulator(session_config(messages))
        decoder = ItchDecoder(LENGTH_PREFIXED)
        chunk = np.zeros(CHUNK_BYTES, np.uint8)
        records = np.zeros(CHUNK_BYTES // 21 + 64, MARKET_EVENT_DTYPE)
        words = records.view(np.int64).reshape(len(records), 8)
        sidecar.start()
        loop.start(ring, consumer)
        snapshots.start()  # allocates the snapshot buffers
        started = time.perf_counter()
        published = retries = 0
        first_ns = last_ns = 0
        warm = simulated = False
        pending = np.frombuffer(sim.header(), np.uint8).copy()  # writable, as every chunk
        while pending is not None or not sim.done:
            if pending is None:
                pending = chunk[: sim.fill(chunk)]
                simulated = True
            used, n = decoder.decode(pending, records)
            pending = None if used >= len(pending) else pending[used:]
            if n == 0:
                continue
            if first_ns == 0:
                first_ns = int(records["exchange_ns"][0])
            last_ns = int(records["exchange_ns"][n - 1])
            records["recv_ns"][:n] = time.monotonic_ns()
            done = 0
            while done < n:
                step = ring_kernels.publish_batch(*ring.arrays, words[done:n], n - done)
                if step == 0:  # the engine is a ring behind: let it (and the writer) run
                    retries += 1
                    time.sleep(FEED_BACKOFF_S)
                done += step
            published += n
            if simulated and not warm:  # a chunk went through every kernel the feed calls
                warm = True
                freeze_heap()  # as a session does once warm
                gc.callbacks.append(pauses)
                rss.append(_rss_bytes())  # everything allocated: the rest must stay flat
                sampler.start()
        snapshots.stop()
        loop.stop()
        seconds = time.perf_counter() - started
        sidecar.stop()
        journal.flush()
        counters = loop.counters()
        journal_stats = journal.stats()
        journal.close()
        ring.close()
    finally:
        stop_sampling.set()
        if pauses in gc.callbacks:
            gc.callbacks.remove(pauses)
        thaw_heap()
        shutil.rmtree(directory, ignore_errors=True)
    rss.append(_rss_bytes())
    return {
        "messages": published,
        "seconds": seconds,
        "market_hours": (last_ns - first_ns) / 3.6e12,
        "rss_start_mb": rss[0] / 2**20,
        "rss_peak_mb": max(rss) / 2**20,
        "rss_end_mb": rss[-1] / 2**20,
        "gc_pauses_over_1ms": sum(p >= GC_PAUSE_NS for p in pauses.pauses),
        "gc_longest_ms": max(pauses.pauses, default=0) / 1e6,
        "critical_lost": counters["lost"] + counters["journal_refused"],
        "feed_back_pressure_retries": retries,
        "journal_refused": counters["journal_refused"],
        "journal_held": counters["journal_held"],
        "journal_records": journal_stats.records,
        "orders": counters["orders"],
        "snapshots": snapshots.taken,
        "snapshot_max_pause_ms": snapshots.max_pause_ns / 1e6,
        "journal_peak_gb": max(disk, default=0) / 1e9,
        "errors": abs(counters["events"] - published)
        + counters["lost"]
        + counters["journal_refused"]
        + counters["stalled_routes"]
        + snapshots.failures,
    }


def _case_soak(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [soak_run(events) for _ in range(repeats)]
    first = runs[0]
    note = (
        f"{first['messages']:,} messages over {first['market_hours']:.1f} h of market time; "
        f"{first['orders']:,} orders; {first['journal_records']:,} journal records; "
        f"{first['feed_back_pressure_retries']:,} back-pressured publishes retried; "
        f"the engine held {first['journal_held']:,} polls for the journal writer; "
        f"{first['snapshots']} snapshots, longest pause {first['snapshot_max_pause_ms']:.1f} ms; "
        f"journal on disk at most {first['journal_peak_gb']:.2f} GB"
    )
    errors = sum(run["errors"] for run in runs)

    def row(name: str, key: str, unit: str, better: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name, "unit": unit, "better": better,
            **summarize([run[key] for run in runs]), "errors": errors, "note": note, **extra,
        }  # fmt: skip

    return [
        row("soak rate", "messages", "msg", "higher", informational=True)
        | {**summarize([run["messages"] / run["seconds"] for run in runs]), "unit": "msg/s"},
        row("soak RSS at start", "rss_start_mb", "MiB", "lower", informational=True),
        row("soak RSS peak", "rss_peak_mb", "MiB", "lower", informational=True),
        row("soak RSS at end", "rss_end_mb", "MiB", "lower", informational=True),
        row("soak journal on disk, peak", "journal_peak_gb", "GB", "lower", informational=True),
        row(
            "soak longest snapshot pause",
            "snapshot_max_pause_ms",
            "ms",
            "lower",
            informational=True,
        ),
        row("soak GC pauses ≥ 1 ms", "gc_pauses_over_1ms", "count", "lower", target=0),
        row("soak longest GC pause", "gc_longest_ms", "ms", "lower", informational=True),
        row(
            "soak records lost by critical consumers (engine feed + journal)",
            "critical_lost",
            "records",
            "lower",
            target=0,
        ),
    ]


def _case_sidecar(repeats: int, events: int) -> list[dict[str, Any]]:
    """Tick-to-order p99.9 with the sidecar draining and without, per round."""
    plain, watched = [], []
    for _ in range(repeats):
        plain.append(percentiles_ns(latency_run(events).latencies)["p99.9"])
        metrics = Metrics(MetricsConfig(), StageBudgets())
        sidecar = MetricsSidecar(metrics)
        sidecar.start()
        try:
            watched.append(percentiles_ns(latency_run(events, metrics=metrics).latencies)["p99.9"])
        finally:
            sidecar.stop()
    diffs = [w - p for p, w in zip(plain, watched, strict=True)]
    return [
        {
            "name": "sidecar's cost on tick-to-order p99.9",
            "unit": "ns",
            "better": "lower",
            **summarize(diffs),
            "informational": True,
            "note": "with the sidecar draining − without, per round, 1 M msg/s paced",
        }
    ]


def warm_up() -> None:
    """Compile the path and the feed before timing."""
    soak_run(20_000)


# key: (case, events per run in full mode, in quick mode)
CASES: dict[str, Case] = {
    "soak": (_case_soak, 1_000_000_000, 10_000_000),
    "sidecar": (_case_sidecar, 1_000_000, 300_000),
}


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the soak suite (one round unless asked: a full soak is minutes)."""
    return run_suite("soak", CASES, quick=quick, repeats=repeats or 1, warm_up=warm_up, **options)


def format_table(report: dict[str, Any]) -> str:
    """The report as a table."""
    return format_report(report)
