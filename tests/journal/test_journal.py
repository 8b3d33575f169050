"""The journal end to end: round trips, segment rolls, sequence continuity, the ring handoff,
fsync policies on the real file system, failures of the writer, retirement."""

import os
import threading
import time

import numpy as np
import pytest

from lowlat.core.records import ORDER_DTYPE
from lowlat.journal import (
    MAX_PAYLOAD,
    RECORD_DTYPES,
    DirectoryInUse,
    Journal,
    JournalConfig,
    JournalError,
    JournalReader,
    OsFiles,
    RecordType,
    kernels,
    record_dtype,
    record_words,
    recover,
    segment_name,
)
from lowlat.journal.kernels import INVALID_TYPE
from tests.journal._support import TEST_TYPE, check_batches, publish_seqs, scaled, segment_files
from tests.journal.conftest import small_config

RETRIES = 1 << 30


def publish_range(journal, first, count, producer=0):
    words = np.zeros(8, np.int64)
    assert publish_seqs(*journal.ring(producer), words, first, count, RETRIES) == count


def read_all(directory, **options):
    return list(JournalReader(directory, **options))


def random_records(dtype, count, seed):
    rng = np.random.default_rng(seed)
    records = np.zeros(count, dtype)
    records.view(np.uint8)[:] = rng.integers(0, 256, count * 64, dtype=np.uint8)
    return records


def test_every_record_type_round_trips(directory):
    fixed = {rtype: random_records(record_dtype(rtype), 5, rtype) for rtype in RECORD_DTYPES}
    events = {
        RecordType.LIFECYCLE: {"from": "WARMUP", "to": "READY", "reason": "warm"},
        RecordType.RISK: {"kill_switch": True, "cause": "drawdown"},
        RecordType.OPERATOR: {"command": "rearm", "operator": "ana"},
    }
    blobs = [bytes(range(n % 256)) * (n // 256 + 1) for n in (0, 1, 7, 8, 100)]
    blobs = [b[:n] for b, n in zip(blobs, (0, 1, 7, 8, 100), strict=True)]
    blobs.append(os.urandom(MAX_PAYLOAD))
    with Journal(directory, small_config()) as journal:
        for rtype, records in fixed.items():
            for record in records:
                assert journal.publish(rtype, record) >= 0
        for rtype, event in events.items():
            journal.append_json(rtype, event)
        for blob in blobs:
            journal.append(TEST_TYPE + 1, blob)
    batches = read_all(directory)
    assert len(batches) == 1
    (batch,) = batches
    assert len(batch) == 5 * len(fixed) + len(events) + len(blobs)
    for rtype, records in fixed.items():
        assert batch.records(rtype).tobytes() == records.tobytes()
    json_rows = np.flatnonzero((batch.types >= 16) & (batch.types < TEST_TYPE))
    assert [batch.json(i) for i in json_rows] == list(events.values())
    assert [batch.payload(i) for i in np.flatnonzero(batch.types == TEST_TYPE + 1)] == blobs


def test_records_of_a_type_can_be_read_with_any_64_byte_dtype(directory):
    orders = random_records(ORDER_DTYPE, 3, 1)
    with Journal(directory, small_config()) as journal:
        for order in orders:
            journal.publish(TEST_TYPE, order)
        journal.append(TEST_TYPE, b"short")
    (batch,) = read_all(directory)
    with pytest.raises(ValueError, match="not 64 bytes"):
        batch.records(TEST_TYPE, ORDER_DTYPE)
    with pytest.raises(ValueError, match="no 64-byte record dtype"):
        batch.records(TEST_TYPE)
    assert batch.records(RecordType.ORDER).shape == (0,)


def test_segments_roll_at_the_configured_size_and_are_named_by_first_sequence(directory):
    count = scaled(6_000, 3_000)
    with Journal(directory, small_config()) as journal:
        publish_range(journal, 0, count)
    names = segment_files(directory)
    assert len(names) >= 2
    firsts = []
    for batch in read_all(directory, batch_records=10**6):
        firsts.append(int(batch.seqs[0]))  # the reader yields at least one batch per segment
    assert names == [segment_name(first) for first in firsts]
    for name in names:
        assert os.path.getsize(os.path.join(directory, name)) <= 1 << 18
    assert check_batches(read_all(directory), 0) == count


def test_sequences_continue_after_reopening(directory):
    with Journal(directory, small_config()) as journal:
        assert journal.next_seq == 0
        publish_range(journal, 0, 100)
    with Journal(directory, small_config()) as journal:
        assert journal.next_seq == 100
        assert journal.recovery.records == 100
        publish_range(journal, 100, 50)
        assert journal.flush() == 149
    with Journal(directory, small_config(fsync="none")) as journal:
        assert journal.next_seq == 150
    assert check_batches(read_all(directory), 0) == 150


def test_the_writer_stamps_wall_time_from_its_own_anchor(directory):
    mono = time.monotonic_ns()
    before = time.time_ns()
    # One group commit in this thread: both records are stamped from the same anchor.
    with Journal(directory, small_config(), start=False) as journal:
        journal.publish(TEST_TYPE, np.zeros(1, ORDER_DTYPE), mono_ns=mono)
        journal.publish(TEST_TYPE, np.zeros(1, ORDER_DTYPE), mono_ns=mono + 1_000)
        journal.write_pending()
    (batch,) = read_all(directory)
    assert batch.mono_ns.tolist() == [mono, mono + 1_000]
    assert abs(int(batch.wall_ns[0]) - before) < 1_000_000_000
    assert int(batch.wall_ns[1] - batch.wall_ns[0]) == 1_000


def test_a_stalled_writer_back_pressures_the_hot_path_and_loses_nothing(directory):
    config = small_config()
    journal = Journal(directory, config, start=False)
    words = np.zeros(8, np.int64)
    ring = journal.ring()
    capacity = config.ring_capacity
    assert publish_seqs(*ring, words, 0, capacity, 0) == capacity
    assert publish_seqs(*ring, words, capacity, 1, 2) == 0  # refused three times, counted
    assert journal.stats().back_pressured == 3
    assert journal.stats().pending == capacity
    journal.start()
    assert journal.flush(timeout=30) == capacity - 1
    publish_range(journal, capacity, 10)
    journal.close()
    assert check_batches(read_all(directory), 0) == capacity + 10


class BlockingFiles(OsFiles):
    """Real files whose appends wait while ``gate`` is clear."""

    def __init__(self):
        self.gate = threading.Event()
        self.blocked = threading.Event()

    def append(self, path):
        return self._wrap(super().append(path))

    def create(self, path):
        return self._wrap(super().create(path))

    def _wrap(self, file):
        outer = self

        class Gated:
            def write(self, data):
                if not outer.gate.is_set():
                    outer.blocked.set()
                    outer.gate.wait()
                file.write(data)

            def sync(self):
                file.sync()

            def close(self):
                file.close()

        return Gated()


def test_back_pressure_is_counted_while_the_writer_is_stuck_in_a_write(directory):
    files = BlockingFiles()
    files.gate.set()
    journal = Journal(directory, small_config(), files=files)
    files.gate.clear()
    words = np.zeros(8, np.int64)
    published = publish_seqs(*journal.ring(), words, 0, 1, 0)
    assert files.blocked.wait(10)
    published += publish_seqs(*journal.ring(), words, published, 10_000, 100)
    assert published < 10_000  # the ring filled while the writer was stuck
    assert journal.stats().back_pressured >= 100
    files.gate.set()
    publish_range(journal, published, 500)
    journal.close()
    assert check_batches(read_all(directory), 0) == published + 500


def test_a_compiled_batch_publish_stops_at_the_first_refusal(directory):
    journal = Journal(directory, small_config(ring_capacity=8), start=False)
    orders = random_records(ORDER_DTYPE, 12, 3)
    rows = record_words(orders)
    assert kernels.publish_batch(*journal.ring(), RecordType.ORDER, 1, rows, 0, 12) == 8
    assert journal.stats().back_pressured == 1
    journal.close()
    (batch,) = read_all(directory)
    assert batch.records(RecordType.ORDER).tobytes() == orders[:8].tobytes()


def test_a_type_outside_16_bits_is_refused_without_journaling(directory):
    with Journal(directory, small_config()) as journal:
        words = np.zeros(8, np.int64)
        rows = np.zeros((1, 8), np.int64)
        assert kernels.publish(*journal.ring(), 0, 1, words) == INVALID_TYPE
        assert kernels.publish(*journal.ring(), 1 << 16, 1, words) == INVALID_TYPE
        assert kernels.publish_batch(*journal.ring(), -1, 1, rows, 0, 1) == INVALID_TYPE
        with pytest.raises(ValueError, match="record type"):
            journal.append(0, b"")
        with pytest.raises(ValueError, match="exceeds"):
            journal.append(TEST_TYPE, bytes(MAX_PAYLOAD + 1))
        assert journal.stats().pending == 0
    with pytest.raises(JournalError, match="closed"):
        journal.append(TEST_TYPE, b"late")


def test_record_words_needs_contiguous_64_byte_records():
    with pytest.raises(ValueError, match="64-byte"):
        record_words(np.zeros(4, np.int32))
    assert record_words(np.zeros(3, ORDER_DTYPE)).shape == (3, 8)


def test_each_producer_has_its_own_ring_and_all_are_drained(directory):
    with Journal(directory, small_config(producers=2)) as journal:
        journal.publish(TEST_TYPE, np.zeros(1, ORDER_DTYPE), producer=0)
        journal.publish(TEST_TYPE + 1, np.zeros(1, ORDER_DTYPE), producer=1)
    (batch,) = read_all(directory)
    assert sorted(batch.types.tolist()) == [TEST_TYPE, TEST_TYPE + 1]


def test_every_batch_makes_each_written_record_durable(directory):
    with Journal(directory, small_config(fsync="every_batch")) as journal:
        publish_range(journal, 0, 500)
        written = journal.flush()
        assert journal.durable_seq == written == 499
        stats = journal.stats()
        assert stats.fsyncs >= stats.batches >= 1


def test_interval_makes_written_records_durable_within_the_interval(directory):
    with Journal(directory, small_config(fsync="interval", fsync_interval_ms=5)) as journal:
        publish_range(journal, 0, 500)
        written = journal.flush()
        assert journal.wait_durable(written, timeout=10)
        assert not journal.wait_durable(written + 1, timeout=0.05)


def test_none_promises_nothing_until_sync_is_asked(directory):
    with Journal(directory, small_config(fsync="none")) as journal:
        publish_range(journal, 0, scaled(5_000, 3_000))  # rolls unsynced segments
        journal.flush()
        assert journal.durable_seq == -1
        assert journal.stats().fsyncs == 0
        assert journal.sync() == journal.written_seq


def test_flush_without_a_running_writer_is_an_error_and_close_drains(directory):
    journal = Journal(directory, small_config(), start=False)
    publish_range(journal, 0, 5)
    journal.append(TEST_TYPE, b"control")
    with pytest.raises(JournalError, match="not running"):
        journal.flush()
    journal.close()
    journal.close()
    assert sum(len(b) for b in read_all(directory)) == 6


class FailingFiles(OsFiles):
    def __init__(self):
        self.fail = False

    def append(self, path):
        file = super().append(path)
        outer = self

        class Failing:
            def write(self, data):
                if outer.fail:
                    raise OSError(28, "No space left on device")
                file.write(data)

            def sync(self):
                file.sync()

            def close(self):
                file.close()

        return Failing()


def test_a_writer_failure_is_kept_and_raised_to_every_waiter(directory):
    with Journal(directory, small_config()) as journal:
        publish_range(journal, 0, 3)
    files = FailingFiles()
    journal = Journal(directory, small_config(), files=files)
    files.fail = True
    publish_range(journal, 3, 1)
    with pytest.raises(JournalError, match="No space left"):
        journal.flush(timeout=10)
    assert isinstance(journal.error, OSError)
    assert not journal.stats().writer_running
    with pytest.raises(JournalError, match="No space left"):
        journal.close()


def test_flush_times_out_when_the_writer_cannot_keep_up(directory):
    files = BlockingFiles()
    files.gate.set()
    journal = Journal(directory, small_config(), files=files)
    files.gate.clear()
    publish_range(journal, 0, 1)
    with pytest.raises(JournalError, match="timed out"):
        journal.flush(timeout=0.05)
    files.gate.set()
    journal.close()


def test_retire_deletes_only_segments_wholly_covered(directory):
    with Journal(directory, small_config()) as journal:
        publish_range(journal, 0, scaled(8_000, 3_000))
        journal.flush()
        firsts = [int(n[8:28]) for n in segment_files(directory)]
        assert len(firsts) >= scaled(3, 2)
        assert journal.retire(firsts[1] - 2) == []
        removed = journal.retire(firsts[1] - 1)
        assert [os.path.basename(p) for p in removed] == [segment_name(firsts[0])]
        removed = journal.retire(10**12)  # everything, but never the active segment
        assert len(removed) == len(firsts) - 2
        assert segment_files(directory) == [segment_name(firsts[-1])]
        publish_range(journal, journal.written_seq + 1, 5)
    with Journal(directory, small_config()) as journal:
        assert journal.recovery.first_seq == firsts[-1]
        assert check_batches(journal.reader(), firsts[-1]) == journal.next_seq


def test_the_writer_thread_runs_on_the_cpu_it_is_pinned_to(directory):
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    with Journal(directory, JournalConfig(writer_cpu=cpu)) as journal:
        journal.append(RecordType.LIFECYCLE, b"pinned")
        journal.flush()
        assert os.sched_getaffinity(journal._writer._thread.native_id) == {cpu}
    assert os.sched_getaffinity(0) == allowed  # the opening thread is left as it was


def test_one_writer_per_directory(directory):
    journal = Journal(directory, small_config())
    with pytest.raises(DirectoryInUse, match="in use"):
        Journal(directory, small_config())
    with pytest.raises(DirectoryInUse):
        recover(directory)
    journal.close()
    with Journal(directory, small_config()) as again:
        assert again.next_seq == 0
    assert recover(directory).next_seq == 0
