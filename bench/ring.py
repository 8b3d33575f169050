"""Ring-bus benchmark suite: throughput, fan-out, cross-process and latency, with baselines.

Every lowlat measurement runs whole in compiled ``nogil`` loops (:mod:`bench.ring_kernels`)
on threads or in a consumer process, and every event is checked for order, completeness
and integrity; the Python baselines (``collections.deque``, ``queue.Queue``,
``multiprocessing.Queue``, moving one Python int per event) check order too and run in
the same run on the same machine. Each case repeats; the report keeps every run and the
median, min and max. Run it with ``lowlat bench ring [--quick] [--json OUT]``.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import queue
import resource
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import ring_kernels as rk
from bench.harness import apply_judged, format_report, percentiles_ns, run_suite, summarize
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import Policy, RingBus
from lowlat.core.sched import pin_thread
from lowlat.feeds.sim.pacing_kernels import publish_paced

__all__ = [
    "CASES",
    "CrossProcessRing",
    "LatencyRun",
    "Run",
    "deque_threads",
    "format_table",
    "mp_queue_processes",
    "queue_latency",
    "queue_threads",
    "ring_latency",
    "ring_threads",
    "run",
]

CAPACITY = 1 << 14  # slots (1 MiB of records)
BATCH = 64  # producer batch in batch mode
POLL_BATCH = 256  # most records a consumer takes per poll in batch mode
LATENCY_INTERVAL_NS = 1_500  # producer pacing in the latency case
_CHILD_TIMEOUT_S = 120.0  # child start (imports, JIT cache load) or one run, at most

TARGET_THREADS = 20e6
TARGET_PROCESSES = 5e6
TARGET_P999_NS = 5_000.0


@dataclass(frozen=True, slots=True)
class LatencyRun:
    """One repetition of the latency case."""

    latencies: np.ndarray  # ns, warm-up excluded
    errors: int
    preemptions: int


@dataclass(frozen=True, slots=True)
class Run:
    """One repetition of a throughput case."""

    events: int
    seconds: float
    errors: int = 0
    first_bad_seq: int = -1
    preemptions: int | None = None  # involuntary context switches of the threads, if counted

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


# --- lowlat measurements ----------------------------------------------------------------


def _preemptions() -> int:
    """Involuntary context switches of the calling thread so far (0 where unsupported).

    On a shared machine they explain outliers: every one is a thread that wanted the CPU
    and lost it, typically for milliseconds.
    """
    who = getattr(resource, "RUSAGE_THREAD", None)
    return 0 if who is None else resource.getrusage(who).ru_nivcsw


_NO_STOP = np.zeros(1, np.int64)
_RECV_WORD = MARKET_EVENT_DTYPE.fields["recv_ns"][1] // 8


def cpus() -> tuple[int, int]:
    """``(feed side, consumer)`` CPUs for a paced run: the consumer gets a core of its own.

    The paced producer (the feed handler) — and, where there is one, the journal writer —
    take the lowest CPU, the consumer (engine, pattern group, floor) the highest, as a
    latency-sensitive deployment would place them; ``(-1, -1)`` on one CPU.
    """
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[-1]) if len(allowed) > 1 else (-1, -1)


def produce_paced(ring: RingBus, words: np.ndarray, interval_ns: int, cpu: int = -1) -> int:
    """Publish market records (``words``, a row each) one every ``interval_ns`` from now.

    The session's own feed pacing, :func:`~lowlat.feeds.sim.pacing_kernels.publish_paced`:
    an absolute schedule, so a stalled producer catches up in a burst as a feed does, and
    each row stamped with its receive time as it is published. The calling thread runs on
    ``cpu`` meanwhile (``-1``: where it may), and gets its own CPUs back after. Returns how
    many publishes a full ring refused (each retried at once). The schedule starts before
    the kernel is called: warm it up first (an empty ``words``), or the first rows wait for
    its compile.
    """
    allowed = os.sched_getaffinity(0)
    try:
        pin_thread(cpu)
        _, refused = publish_paced(
            *ring.arrays, words, words.shape[0], time.monotonic_ns(), 0, interval_ns, _NO_STOP
        )
    finally:
        os.sched_setaffinity(0, allowed)
    return int(refused)


def paced_floor(
    words: np.ndarray,
    interval_ns: int,
    block: int,
    *,
    producer_cpu: int = -1,
    consumer_cpu: int = -1,
) -> np.ndarray:
    """Receive → off-the-ring latency (ns) of every row of ``words``, paced, with no work.

    :func:`produce_paced` in the calling thread (on ``producer_cpu``) and a consumer
    thread (on ``consumer_cpu``) that takes blocks of up to ``block`` records off the ring
    and does nothing else (:func:`~bench.ring_kernels.hop_latencies`). A paced benchmark
    runs it with its own rate, block and cores: no consumer can have a shorter tail there.
    """
    ring = RingBus(1 << 16)
    consumer = ring.add_consumer(Policy.LOSSLESS)
    latencies = np.zeros(words.shape[0], np.int64)
    received: list[int] = []

    def floor_consumer() -> None:
        pin_thread(consumer_cpu)
        received.append(
            rk.hop_latencies(
                *ring.arrays, consumer, block, _RECV_WORD, latencies, rk.DEFAULT_TIMEOUT_NS
            )
        )

    thread = threading.Thread(target=floor_consumer, name="bench-floor", daemon=True)
    thread.start()
    try:
        produce_paced(ring, words, interval_ns, producer_cpu)
    finally:
        thread.join()
        ring.close()
    if received != [words.shape[0]]:
        raise RuntimeError(f"the floor's consumer took {received} of {words.shape[0]} records")
    return latencies


def floor_results(
    floors: list[dict[str, float]], path_p999: list[float], path: str
) -> list[dict[str, Any]]:
    """Report rows for :func:`paced_floor` runs made right before each of a path's runs.

    ``floors`` are the floor runs' :func:`~bench.harness.percentiles_ns`; ``path_p999`` the
    path's p99.9 in the same rounds, in the same order; ``path`` names the path's figure.
    """
    rows: list[dict[str, Any]] = [
        {
            "name": f"floor: ring hop, no work, {key}, 1 M msg/s",
            "unit": "ns",
            "better": "lower",
            **summarize([f[key] for f in floors]),
            "samples": floors[0]["count"],
            "informational": True,
            "note": "the same producer, rate, ring block and cores, right before each path run; "
            "the consumer only takes the records off the ring: no path can beat it here",
        }
        for key in ("p50", "p99.9")
    ]
    rows.append(
        {
            "name": f"{path} p99.9 − floor p99.9, per round",
            "unit": "ns",
            "better": "lower",
            **summarize([p - f["p99.9"] for p, f in zip(path_p999, floors, strict=True)]),
            "informational": True,
            "note": "what the path adds to the platform's tail: its work per record, and the "
            "slower drain of the burst a stall leaves",
        }
    )
    return rows


def judged_on_quiet_floors(
    result: dict[str, Any], before: list[dict[str, float]], after: list[dict[str, float]]
) -> list[dict[str, Any]]:
    """A path's p99.9 row judged on the rounds quiet enough to tell, and its every round.

    ``result`` is the row (its ``runs`` one per round, its ``target`` in ns); ``before``
    and ``after`` the :func:`paced_floor` percentiles of the floor runs right before and
    right after each path run, in order. A round in which a consumer doing no work at all
    missed the target says nothing of the path: the platform's stalls decided it. So the
    target row's verdict and median come from the rounds whose floors on both sides met
    the target (``unjudged`` with none); a second, informational row keeps the p99.9 of
    every round.
    """
    target = result["target"]
    if not len(before) == len(after) == len(result["runs"]):
        raise ValueError(
            f"{len(before)} and {len(after)} floor runs for {len(result['runs'])} path runs"
        )
    every = {k: v for k, v in result.items() if k != "target"}
    every.update(name=f"{result['name']}, every round", informational=True)
    judged = apply_judged(
        {
            **result,
            "judged": [
                max(b["p99.9"], a["p99.9"]) <= target for b, a in zip(before, after, strict=True)
            ],
            "unjudged_reason": f"no round's floor p99.9 met {target / 1000:g} µs: the platform's "
            "stalls alone exceed the target (every round in the next row)",
            "note": f"{result['note']}; judged on the rounds whose floor p99.9 met the target "
            "right before and right after the path's run",
        }
    )
    return [judged, every]


def _new_ring(consumers: int, shared_name: str | None = None) -> tuple[RingBus, list[int]]:
    """A ring with ``consumers`` lossless consumers and its pages already touched."""
    bus = RingBus(CAPACITY, max_consumers=max(consumers, 1), shared_name=shared_name)
    bus.arrays.slots.fill(0)  # fault the pages in now, not during the measurement
    return bus, [bus.add_consumer(Policy.LOSSLESS) for _ in range(consumers)]


def _worst(results: list[tuple[int, ...]]) -> tuple[int, int]:
    """Total errors and the first bad sequence over several consumers' results."""
    errors = sum(r[1] for r in results)
    bad = [r[2] for r in results if r[2] >= 0]
    return errors, min(bad) if bad else -1


def ring_threads(
    events: int,
    *,
    consumers: int = 1,
    batch: int = BATCH,
    poll_batch: int = POLL_BATCH,
    strategy: int = rk.BUSY_SPIN,
) -> Run:
    """One producer thread publishing ``events`` to ``consumers`` consumer threads.

    Time runs from the producer's first publish to the last consumer's last event;
    thread start-up is excluded (the producer starts once every consumer is running).
    """
    bus, indices = _new_ring(consumers)
    no_latencies = np.empty(0, dtype=np.int64)
    produced: list[tuple[int, int, int]] = []
    consumed: list[tuple[int, int, int, int]] = []
    switches: list[int] = []
    started = [threading.Event() for _ in indices]

    def consumer_main(index: int, ready: threading.Event) -> None:
        before = _preemptions()
        ready.set()
        consumed.append(
            rk.consume(
                *bus.arrays,
                index,
                events,
                poll_batch,
                strategy,
                rk.DEFAULT_TIMEOUT_NS,
                no_latencies,
            )
        )
        switches.append(_preemptions() - before)

    def producer_main() -> None:
        before = _preemptions()
        produced.append(rk.produce(*bus.arrays, events, batch, 0, strategy, rk.DEFAULT_TIMEOUT_NS))
        switches.append(_preemptions() - before)

    threads = [
        threading.Thread(target=consumer_main, args=(i, r), daemon=True)
        for i, r in zip(indices, started, strict=True)
    ]
    for thread in threads:
        thread.start()
    for ready in started:
        ready.wait()
    producer = threading.Thread(target=producer_main, daemon=True)
    producer.start()
    for thread in (producer, *threads):
        thread.join()
    _, start_ns, _ = produced[0]
    end_ns = max(r[3] for r in consumed)
    errors, first_bad = _worst(consumed)
    return Run(events, (end_ns - start_ns) / 1e9, errors, first_bad, sum(switches))


class CrossProcessRing:
    """A shared-memory ring with one consumer in a 'spawn'-ed child process.

    The child attaches by name and compiles (loads) its loop before it reports ready,
    and acknowledges each run just before it starts polling, so neither process start
    nor JIT loading is measured. Use as a context manager; call the instance to measure::

        with CrossProcessRing() as measure:
            run = measure(1_000_000, batch=64)
    """

    def __init__(self) -> None:
        name = f"lowlat-bench-{os.getpid()}-{secrets.token_hex(4)}"
        self.bus, (consumer,) = _new_ring(1, shared_name=name)
        context = mp.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._child = context.Process(
            target=rk.consumer_process, args=(name, consumer, child_conn), daemon=True
        )
        self._child.start()
        child_conn.close()
        try:
            self._expect("ready")
        except BaseException:
            self.close()
            raise

    def _receive(self) -> Any:
        if not self._conn.poll(_CHILD_TIMEOUT_S):
            raise RuntimeError(f"ring consumer process silent for {_CHILD_TIMEOUT_S:.0f} s")
        try:
            return self._conn.recv()
        except EOFError:
            raise RuntimeError(
                f"ring consumer process died (exit code {self._child.exitcode})"
            ) from None

    def _expect(self, message: str) -> None:
        reply = self._receive()
        if reply != message:
            raise RuntimeError(f"ring consumer process said {reply!r}, expected {message!r}")

    def __call__(self, events: int, *, batch: int = BATCH, poll_batch: int = POLL_BATCH) -> Run:
        """Publish ``events`` in batches of ``batch``; the child polls up to ``poll_batch``."""
        self._conn.send((events, poll_batch))
        self._expect("go")
        _, start_ns, _ = rk.produce(
            *self.bus.arrays, events, batch, 0, rk.BUSY_SPIN, rk.DEFAULT_TIMEOUT_NS
        )
        _, errors, first_bad, end_ns = self._receive()
        return Run(events, (end_ns - start_ns) / 1e9, errors, first_bad)

    def close(self) -> None:
        """Stop the child (politely, then by force) and unlink the ring."""
        self.bus.request_stop()
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._child.join(10)
        if self._child.is_alive():
            self._child.terminate()
            self._child.join()
        self._conn.close()
        self.bus.close()

    def __enter__(self) -> CrossProcessRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ring_latency(
    samples: int, *, warmup: int, interval_ns: int = LATENCY_INTERVAL_NS
) -> LatencyRun:
    """Publish→poll latency (ns) of ``samples`` paced events across two threads.

    The producer publishes one event every ``interval_ns`` (spinning on the clock); the
    consumer busy-spins. The first ``warmup`` events are measured but discarded.
    """
    total = warmup + samples
    bus, (index,) = _new_ring(1)
    latencies = np.zeros(total, dtype=np.int64)
    consumed: list[tuple[int, int, int, int]] = []
    switches: list[int] = []
    ready = threading.Event()

    def consumer_main() -> None:
        before = _preemptions()
        ready.set()
        consumed.append(
            rk.consume(
                *bus.arrays, index, total, 16, rk.BUSY_SPIN, rk.DEFAULT_TIMEOUT_NS, latencies
            )
        )
        switches.append(_preemptions() - before)

    def producer_main() -> None:
        before = _preemptions()
        rk.produce(*bus.arrays, total, 1, interval_ns, rk.BUSY_SPIN, rk.DEFAULT_TIMEOUT_NS)
        switches.append(_preemptions() - before)

    consumer = threading.Thread(target=consumer_main, daemon=True)
    consumer.start()
    ready.wait()
    producer = threading.Thread(target=producer_main, daemon=True)
    producer.start()
    producer.join()
    consumer.join()
    return LatencyRun(latencies[warmup:], consumed[0][1], sum(switches))


# --- baselines --------------------------------------------------------------------------


def deque_threads(events: int) -> Run:
    """``collections.deque``: producer thread appends ints, consumer thread spins popleft."""
    items: collections.deque[int] = collections.deque()
    ready = threading.Event()
    times: dict[str, int] = {}
    errors = [0]

    def consumer_main() -> None:
        popleft = items.popleft
        ready.set()
        expected = 0
        bad = 0
        while expected < events:
            try:
                value = popleft()
            except IndexError:
                continue
            bad += value != expected
            expected += 1
        times["end"] = time.monotonic_ns()
        errors[0] = bad

    def producer_main() -> None:
        append = items.append
        times["start"] = time.monotonic_ns()
        for i in range(events):
            append(i)

    return _python_threads(consumer_main, producer_main, ready, times, events, errors)


def queue_threads(events: int) -> Run:
    """``queue.Queue`` (unbounded): producer thread puts ints, consumer thread blocks in get."""
    items: queue.Queue[int] = queue.Queue()
    ready = threading.Event()
    times: dict[str, int] = {}
    errors = [0]

    def consumer_main() -> None:
        get = items.get
        ready.set()
        bad = 0
        for expected in range(events):
            bad += get() != expected
        times["end"] = time.monotonic_ns()
        errors[0] = bad

    def producer_main() -> None:
        put = items.put
        times["start"] = time.monotonic_ns()
        for i in range(events):
            put(i)

    return _python_threads(consumer_main, producer_main, ready, times, events, errors)


def _python_threads(
    consumer_main: Callable[[], None],
    producer_main: Callable[[], None],
    ready: threading.Event,
    times: dict[str, int],
    events: int,
    errors: list[int],
) -> Run:
    """Run a Python baseline's two threads; time from first put to last get."""
    consumer = threading.Thread(target=consumer_main, daemon=True)
    consumer.start()
    ready.wait()
    producer = threading.Thread(target=producer_main, daemon=True)
    producer.start()
    producer.join()
    consumer.join()
    return Run(events, (times["end"] - times["start"]) / 1e9, errors[0])


def _mp_queue_consumer(items: Any, ready: Any, events: int, results: Any) -> None:
    """Child of :func:`mp_queue_processes`: get ``events`` ints, report end time and errors."""
    ready.set()
    bad = 0
    for expected in range(events):
        bad += items.get() != expected
    results.put((time.monotonic_ns(), bad))


def mp_queue_processes(events: int) -> Run:
    """``multiprocessing.Queue``: the parent puts ints, a 'spawn'-ed child gets them."""
    context = mp.get_context("spawn")
    items = context.Queue()
    results = context.Queue()
    ready = context.Event()
    child = context.Process(
        target=_mp_queue_consumer, args=(items, ready, events, results), daemon=True
    )
    child.start()
    try:
        if not ready.wait(_CHILD_TIMEOUT_S):
            raise RuntimeError("multiprocessing.Queue consumer did not start")
        start = time.monotonic_ns()
        for i in range(events):
            items.put(i)
        end, errors = results.get(timeout=_CHILD_TIMEOUT_S)
        child.join(_CHILD_TIMEOUT_S)
    finally:
        if child.is_alive():
            child.terminate()
            child.join()
    return Run(events, (end - start) / 1e9, errors)


def queue_latency(samples: int, *, warmup: int, interval_s: float = 20e-6) -> np.ndarray:
    """put→get latency (ns) of ``queue.Queue`` across two threads, consumer blocking in get.

    The producer sleeps ``interval_s`` between events (busy-waiting would hold the GIL
    the consumer needs); the first ``warmup`` samples are discarded.
    """
    total = warmup + samples
    items: queue.Queue[int] = queue.Queue()
    latencies = np.zeros(total, dtype=np.int64)
    ready = threading.Event()

    def consumer_main() -> None:
        ready.set()
        for k in range(total):
            stamp = items.get()
            latencies[k] = time.monotonic_ns() - stamp

    consumer = threading.Thread(target=consumer_main, daemon=True)
    consumer.start()
    ready.wait()
    for _ in range(total):
        items.put(time.monotonic_ns())
        time.sleep(interval_s)
    consumer.join()
    return latencies[warmup:]


# --- the suite --------------------------------------------------------------------------

THREADS_BATCH = "ring 1P→1C threads, batch 64"
THREADS_SINGLE = "ring 1P→1C threads, single event"
FANOUT = "ring 1P→3C threads, batch 64, yield"
PROCESSES_BATCH = "ring 1P→1C processes, batch 64"
PROCESSES_SINGLE = "ring 1P→1C processes, single event"
LATENCY = "ring latency {}, threads"
PLATFORM_STALLS = "platform: time a lone thread stalls > 5 µs"
STALL_THRESHOLD_NS = 5_000
QUEUE_LATENCY = "queue.Queue latency {}, threads"


def _throughput(
    name: str,
    runs: list[Run],
    *,
    target: float | None = None,
    baseline_of: str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """A throughput result (events/s, higher is better) from repeated runs."""
    result: dict[str, Any] = {
        "name": name,
        "unit": "events/s",
        "better": "higher",
        **summarize([r.rate for r in runs]),
        "events": runs[0].events,
        "errors": sum(r.errors for r in runs),
        "first_bad_seq": next((r.first_bad_seq for r in runs if r.first_bad_seq >= 0), -1),
    }
    if all(r.preemptions is not None for r in runs):
        result["preemptions"] = [r.preemptions for r in runs]
    if target is not None:
        result["target"] = target
    if baseline_of is not None:
        result["baseline_of"] = baseline_of
    if note:
        result["note"] = note
    return result


def _latency(
    template: str,
    per_run: list[dict[str, float]],
    errors: int,
    preemptions: list[int] | None,
    keys: tuple[str, ...],
    *,
    targets: dict[str, float] | None = None,
    baseline_of: str | None = None,
    note: str = "",
) -> list[dict[str, Any]]:
    """Latency results (ns, lower is better), one per percentile in ``keys``."""
    results = []
    for key in keys:
        result: dict[str, Any] = {
            "name": template.format(key),
            "unit": "ns",
            "better": "lower",
            **summarize([p[key] for p in per_run]),
            "samples": per_run[0]["count"],
            "errors": errors,
        }
        if preemptions is not None:
            result["preemptions"] = preemptions
        if targets and key in targets:
            result["target"] = targets[key]
        if key == "max":
            result["informational"] = True  # one preemption decides it: never a gate
        if baseline_of is not None:
            result["baseline_of"] = baseline_of.format(key)
        if note:
            result["note"] = note
        results.append(result)
    return results


def _case_threads(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [ring_threads(events) for _ in range(repeats)]
    return [_throughput(THREADS_BATCH, runs, target=TARGET_THREADS, note="busy-spin")]


def _case_threads_single(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [ring_threads(events, batch=1, poll_batch=1) for _ in range(repeats)]
    return [_throughput(THREADS_SINGLE, runs, note="publish/poll one event per call")]


def _case_fanout(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [ring_threads(events, consumers=3, strategy=rk.YIELD) for _ in range(repeats)]
    note = "4 busy threads on 2 cores: idle = sched_yield; each event to 3"
    return [_throughput(FANOUT, runs, note=note)]


def _case_processes(repeats: int, events: int) -> list[dict[str, Any]]:
    with CrossProcessRing() as measure:
        batched = [measure(events) for _ in range(repeats)]
        single = [measure(events // 4, batch=1, poll_batch=1) for _ in range(repeats)]
    note = "shared memory, 'spawn' child"
    return [
        _throughput(PROCESSES_BATCH, batched, target=TARGET_PROCESSES, note=note),
        _throughput(PROCESSES_SINGLE, single, note=note),
    ]


def _case_latency(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [ring_latency(events, warmup=max(events // 10, 1)) for _ in range(repeats)]
    note = f"1 event / {LATENCY_INTERVAL_NS} ns, consumer busy-spins"
    return _latency(
        LATENCY,
        [percentiles_ns(r.latencies) for r in runs],
        sum(r.errors for r in runs),
        [r.preemptions for r in runs],
        ("p50", "p99", "p99.9", "max"),
        targets={"p99.9": TARGET_P999_NS},
        note=note,
    )


def case_platform(repeats: int, events: int) -> list[dict[str, Any]]:
    """The machine's own jitter, measured the same way every run (``events`` = ms)."""
    runs = [rk.stall_fraction(events * 1_000_000, STALL_THRESHOLD_NS) for _ in range(repeats)]
    result: dict[str, Any] = {
        "name": PLATFORM_STALLS,
        "unit": "%",
        "better": "lower",
        **summarize([100.0 * fraction for fraction, _ in runs]),
        "stalls": [stalls for _, stalls in runs],
        "informational": True,
        "note": "reads the clock in a loop, nothing else runs; p99.9 ≤ 5 µs needs < 0.1 %",
    }
    return [result]


def _case_deque(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [deque_threads(events) for _ in range(repeats)]
    note = "int per event, consumer spins on popleft"
    return [_throughput("deque 1P→1C threads", runs, baseline_of=THREADS_SINGLE, note=note)]


def _case_queue(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [queue_threads(events) for _ in range(repeats)]
    note = "int per event, consumer blocks in get"
    return [_throughput("queue.Queue 1P→1C threads", runs, baseline_of=THREADS_SINGLE, note=note)]


def _case_mp_queue(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [mp_queue_processes(events) for _ in range(repeats)]
    name = "multiprocessing.Queue 1P→1C processes"
    return [_throughput(name, runs, baseline_of=PROCESSES_SINGLE, note="int per event")]


def _case_queue_latency(repeats: int, events: int) -> list[dict[str, Any]]:
    per_run = [
        percentiles_ns(queue_latency(events, warmup=max(events // 10, 1))) for _ in range(repeats)
    ]
    note = "1 event / ~20 µs sleep, consumer blocks in get"
    return _latency(QUEUE_LATENCY, per_run, 0, None, ("p50", "p99"), baseline_of=LATENCY, note=note)


# key: (case, events per run in full mode, in quick mode)
CASES: dict[str, tuple[Callable[[int, int], list[dict[str, Any]]], int, int]] = {
    "platform": (case_platform, 2_000, 500),  # milliseconds, not events
    "threads": (_case_threads, 20_000_000, 2_000_000),
    "threads_single": (_case_threads_single, 5_000_000, 500_000),
    "fanout": (_case_fanout, 5_000_000, 500_000),
    "processes": (_case_processes, 20_000_000, 2_000_000),
    "latency": (_case_latency, 200_000, 30_000),
    "deque": (_case_deque, 1_000_000, 200_000),
    "queue": (_case_queue, 200_000, 50_000),
    "mp_queue": (_case_mp_queue, 200_000, 50_000),
    "queue_latency": (_case_queue_latency, 10_000, 2_000),
}


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the ring suite; ``options`` are ``events`` and ``only`` (see ``harness.run_suite``)."""
    return run_suite("ring", CASES, quick=quick, repeats=repeats, warm_up=rk.warm_up, **options)


def format_table(report: dict[str, Any]) -> str:
    """The report as a table, ratios against the baselines labelled "ring ×"."""
    return format_report(report)
