"""Journal benchmark suite: group-commit append throughput, recovery time, hot-path publish cost.

* ``append_every_batch``, ``append_none`` — records/s from the first publish until the last
  record is written (and, for ``every_batch``, fsynced): a compiled producer publishes
  64-byte ORDER records into the journal ring as fast as the ring takes them (yielding the
  CPU when back-pressured); the writer thread frames each batch in one compiled call and
  appends it with one write, fsyncing per policy. Each run writes a fresh journal under a
  temporary directory; recovery then checks it holds exactly the records published (no
  torn tail) — ``errors`` counts runs where it does not — and the journal is deleted.
  Target ≥ 1 M records/s.
* ``recover_10m`` — seconds to open a journal of 10 M records: recovery verifies every
  frame's head, CRC32C and sequence with the compiled scanner over the mmapped segments.
  The journal is written once per suite run (untimed) and its files are in the page cache,
  so this times verification, not the disk. Quick mode measures 1 M records and scales
  ×10 (one linear pass over the bytes); the note says so. Target ≤ 10 s.
* ``publish_ns`` — ns per record of ``kernels.publish`` (the hot path's handoff: claim a
  slot, write type, time and the 8 record words, commit) into a journal ring with room,
  timed in compiled code around each ring-full of publishes; the ring is drained, untimed,
  between them. The caller passes the timestamp it already has.

Benchmark data lives under one temporary directory, deleted when :func:`run` returns;
the suite refuses to start without room for it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from typing import Any

import numpy as np
from numba import njit

from bench.harness import Case, format_report, run_suite, summarize
from lowlat.core.clock import monotonic_ns
from lowlat.core.records import ORDER_DTYPE
from lowlat.core.ring import Policy, RingBus
from lowlat.core.ring.kernels import poll_batch
from lowlat.core.sched import yield_thread
from lowlat.journal import ENTRY_DTYPE, Journal, JournalConfig, RecordType, record_words, recover
from lowlat.journal.format import RECORD_FRAME
from lowlat.journal.kernels import publish

__all__ = ["CASES", "format_table", "run"]

APPEND_RECORDS = 5_000_000
QUICK_APPEND_RECORDS = 1_000_000
RECOVER_RECORDS = 10_000_000
QUICK_RECOVER_RECORDS = 1_000_000
PUBLISH_RECORDS = 10_000_000
QUICK_PUBLISH_RECORDS = 1_000_000
TARGET_APPEND = 1e6  # records/s
TARGET_RECOVER_S = 10.0
SPACE_MARGIN = 1 << 30  # bytes left free beyond the largest journal
CONFIG = JournalConfig()  # the defaults, as deployed
ROWS = 1_024  # distinct records the producer cycles through

_jit = njit(nogil=True, cache=True)
_ORDER = int(RecordType.ORDER)
_workdir: list[str] = []  # the suite's temporary directory, while it exists
_recover_journals: dict[int, str] = {}


@_jit
def produce(header, stamps, slots, rows, count):
    """Publish ``count`` records cycling through ``rows``; return the refused attempts."""
    refused = 0
    done = 0
    while done < count:
        if publish(header, stamps, slots, _ORDER, done, rows[done % rows.shape[0]]) >= 0:
            done += 1
        else:
            refused += 1
            yield_thread()  # let the writer have the core
    return refused


@_jit
def time_publishes(header, stamps, slots, consumer, drain, rows, count):
    """Time (ns) spent publishing ``count`` records a ring-full at a time, and refusals."""
    capacity = drain.shape[0]
    elapsed = 0
    refused = 0
    done = 0
    while done < count:
        chunk = min(capacity, count - done)
        began = monotonic_ns()
        for i in range(chunk):
            if publish(header, stamps, slots, _ORDER, i, rows[i % rows.shape[0]]) < 0:
                refused += 1
        elapsed += monotonic_ns() - began
        poll_batch(header, stamps, slots, consumer, drain, chunk)
        done += chunk
    return elapsed, refused


def _root() -> str:
    """The suite's temporary directory (made on first use, removed at exit at the latest)."""
    if not _workdir:
        _workdir.append(tempfile.mkdtemp(prefix="lowlat-bench-journal-"))
        atexit.register(_cleanup)
    return _workdir[0]


def _cleanup() -> None:
    while _workdir:
        shutil.rmtree(_workdir.pop(), ignore_errors=True)
    _recover_journals.clear()


def _need_space(records: int) -> None:
    need = records * RECORD_FRAME + SPACE_MARGIN
    free = shutil.disk_usage(_root()).free
    if free < need:
        raise RuntimeError(
            f"the journal benchmark needs {need / 1e9:.1f} GB free under {_root()}, "
            f"there are {free / 1e9:.1f} GB"
        )


def _rows() -> np.ndarray:
    orders = np.zeros(ROWS, ORDER_DTYPE)
    orders["client_order_id"] = np.arange(1, ROWS + 1)
    orders["qty"] = 100
    orders["price"] = 1_000_000
    return record_words(orders)


def _write_journal(
    directory: str, config: JournalConfig, records: int, *, settle: bool = False
) -> tuple[float, Journal]:
    """Publish ``records`` and wait until the policy has them; (seconds, closed journal).

    ``settle`` fsyncs everything afterwards (untimed), so that no write-back of this
    journal competes with the cases that follow.
    """
    rows = _rows()
    journal = Journal(directory, config)
    began = time.perf_counter()
    produce(*journal.ring(), rows, records)
    last = journal.flush()
    if config.fsync.value != "none":
        journal.wait_durable(last)
    elapsed = time.perf_counter() - began
    if settle:
        journal.sync()
    journal.close()
    return elapsed, journal


def _append_case(policy: str) -> Case:
    name = f"append_{policy}"
    config = JournalConfig(fsync=policy)

    def measure(repeats: int, events: int) -> list[dict[str, Any]]:
        _need_space(events)
        rates, errors, notes = [], 0, []
        for _ in range(repeats):
            directory = tempfile.mkdtemp(dir=_root())
            elapsed, journal = _write_journal(directory, config, events)
            stats = journal.stats()
            report = recover(directory)
            errors += report.records != events or report.truncated_bytes != 0
            shutil.rmtree(directory)
            rates.append(events / elapsed)
            notes.append((stats.records / max(stats.batches, 1), stats.fsyncs))
        per_batch = np.median([n[0] for n in notes])
        fsyncs = int(np.median([n[1] for n in notes]))
        return [
            {
                "name": name,
                "unit": "records/s",
                "better": "higher",
                **summarize(rates),
                "target": TARGET_APPEND,
                "events": events,
                "errors": errors,
                "note": (
                    f"fsync {policy}; ring → writer → file, {RECORD_FRAME}-byte frames; "
                    f"{per_batch:,.0f} records per write, {fsyncs} fsyncs per run; "
                    "checked by recovery"
                ),
            }
        ]

    return measure, APPEND_RECORDS, QUICK_APPEND_RECORDS


def _recover_journal(records: int) -> str:
    """A journal of ``records`` records, written once per suite run."""
    if records not in _recover_journals:
        _need_space(records)
        directory = tempfile.mkdtemp(dir=_root())
        _write_journal(directory, JournalConfig(fsync="none"), records, settle=True)
        _recover_journals[records] = directory
    return _recover_journals[records]


def _case_recover(repeats: int, events: int) -> list[dict[str, Any]]:
    directory = _recover_journal(events)
    config = JournalConfig(fsync="none")
    seconds, errors = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        journal = Journal(directory, config, start=False)
        seconds.append(time.perf_counter() - began)
        errors += journal.recovery.records != events or journal.recovery.truncated_bytes != 0
        journal.close()
    scale = RECOVER_RECORDS / events
    gigabytes = events * RECORD_FRAME / 1e9
    note = f"open + verify {events:,} records ({gigabytes:.2f} GB, page cache)"
    if scale != 1:
        note += f"; measured on {events:,} records and scaled ×{scale:g} (linear in bytes)"
    return [
        {
            "name": "recover_10m",
            "unit": "s",
            "better": "lower",
            **summarize([s * scale for s in seconds]),
            "target": TARGET_RECOVER_S,
            "events": events,
            "errors": errors,
            "note": note,
        }
    ]


def _case_publish(repeats: int, events: int) -> list[dict[str, Any]]:
    rows = _rows()
    results, errors = [], 0
    for _ in range(repeats):
        ring = RingBus(CONFIG.ring_capacity, ENTRY_DTYPE, max_consumers=1)
        consumer = ring.add_consumer(Policy.LOSSLESS)
        drain = np.zeros((ring.capacity, ENTRY_DTYPE.itemsize // 8), np.int64)
        elapsed, refused = time_publishes(*ring.arrays, consumer, drain, rows, events)
        errors += int(refused) + (ring.stats().published != events)
        results.append(elapsed / events)
    return [
        {
            "name": "publish_ns",
            "unit": "ns/record",
            "better": "lower",
            **summarize(results),
            "events": events,
            "errors": errors,
            "note": (
                f"kernels.publish of a 64-byte record into a {CONFIG.ring_capacity:,}-slot "
                "journal ring with room (drained untimed between ring-fulls); timestamp given"
            ),
        }
    ]


CASES: dict[str, Case] = {
    "append_every_batch": _append_case("every_batch"),
    "append_none": _append_case("none"),
    "recover_10m": (_case_recover, RECOVER_RECORDS, QUICK_RECOVER_RECORDS),
    "publish_ns": (_case_publish, PUBLISH_RECORDS, QUICK_PUBLISH_RECORDS),
}
"""Each case: ``(measure, records when full, records when quick)``."""


def warm_up() -> None:
    """Compile (or load) every kernel the cases run, on a tiny journal."""
    directory = tempfile.mkdtemp(dir=_root())
    _write_journal(directory, JournalConfig(fsync="every_batch"), 10_000)
    recover(directory)
    shutil.rmtree(directory)
    _case_publish(1, 10_000)


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the journal suite; ``options`` are ``events`` and ``only`` (see ``run_suite``).

    Everything written goes under one temporary directory, deleted before returning.
    """
    try:
        return run_suite("journal", CASES, quick=quick, repeats=repeats, warm_up=warm_up, **options)
    finally:
        _cleanup()


def format_table(report: dict[str, Any]) -> str:
    """The report as a table with the targets."""
    return format_report(report)
