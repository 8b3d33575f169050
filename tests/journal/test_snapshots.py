"""Snapshots: exact round trip, atomic replacement, damaged ones skipped, retention and segment
retirement, and restart from snapshot + tail equal to a replay of the whole journal."""

import os
import random

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, ORDER_DTYPE
from lowlat.journal import (
    Journal,
    JournalError,
    JournalReader,
    RecordType,
    SnapshotStore,
    checkpoint,
    restore,
)
from lowlat.journal.files import OsFiles
from tests.journal._support import TEST_TYPE, PowerLossFiles, publish_seqs, scaled, segment_files
from tests.journal.conftest import small_config

ROOT = "/snapshots"


def state_arrays(seed):
    rng = np.random.default_rng(seed)
    orders = np.zeros(3, ORDER_DTYPE)
    orders.view(np.uint8)[:] = rng.integers(0, 256, orders.nbytes, dtype=np.uint8)
    return {
        "counters": rng.integers(-(2**62), 2**62, (4, 5)),
        "orders": orders,
        "events": np.zeros(0, MARKET_EVENT_DTYPE),
        "prices": rng.random(7),
        "flags": rng.random(9) < 0.5,
        "scalar": np.array(42, np.int32),
        "strided": np.arange(20, dtype=np.int16)[::3],
    }


def assert_same(loaded, arrays):
    assert loaded.keys() == arrays.keys()
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == np.ascontiguousarray(array).tobytes(), name


def test_a_snapshot_round_trips_arrays_of_any_dtype_and_metadata(tmp_path):
    store = SnapshotStore(tmp_path)
    arrays = state_arrays(1)
    info = store.save(17, arrays, {"component": "book", "version": [1, 2]})
    assert info.path.endswith("snapshot-00000000000000000017.snap")
    assert os.path.getsize(info.path) == info.size
    snapshot, skipped = store.latest()
    assert skipped == []
    assert (snapshot.seq, snapshot.metadata) == (17, {"component": "book", "version": [1, 2]})
    assert_same(snapshot.arrays, arrays)
    assert snapshot.arrays["orders"].dtype.isalignedstruct


def test_a_negative_sequence_is_refused(tmp_path):
    with pytest.raises(ValueError, match="≥ 0"):
        SnapshotStore(tmp_path).save(-1, {})


def test_the_newest_valid_snapshot_wins_and_damaged_ones_are_reported(tmp_path):
    store = SnapshotStore(tmp_path)
    for seq in (10, 20, 30, 40):
        store.save(seq, {"x": np.full(100, seq)})
    flip = store.path_of(40)
    with open(flip, "r+b") as file:
        file.seek(200)
        byte = file.read(1)[0]
        file.seek(200)
        file.write(bytes([byte ^ 1]))
    with open(store.path_of(30), "r+b") as file:
        file.truncate(100)
    with open(store.path_of(50), "wb") as file:
        file.write(b"not a snapshot at all")
    snapshot, skipped = store.latest()
    assert snapshot.seq == 20
    assert int(snapshot.arrays["x"][0]) == 20
    reasons = dict(skipped)
    assert list(reasons) == [store.path_of(s) for s in (50, 40, 30)]
    assert "CRC32C mismatch" in reasons[store.path_of(40)]
    assert all(reason.startswith("damaged") for reason in reasons.values())


def _damage(store, kind):
    """Damage the newest snapshot the way ``kind`` says; return its path."""
    path = store.path_of(max(info.seq for info in store.snapshots()))
    with open(path, "r+b") as file:
        if kind == "flipped byte":
            file.seek(os.path.getsize(path) // 2)
            byte = file.read(1)[0]
            file.seek(-1, os.SEEK_CUR)
            file.write(bytes([byte ^ 0x40]))
        elif kind == "truncated":
            file.truncate(os.path.getsize(path) - 1)
        else:
            file.write(b"NOTSNAPS")
    return path


@pytest.mark.parametrize("kind", ["flipped byte", "truncated", "bad magic"])
def test_verify_refuses_what_read_refuses(tmp_path, monkeypatch, kind):
    monkeypatch.setattr("lowlat.journal.snapshots.VERIFY_WINDOW", 4096)  # several windows
    store = SnapshotStore(tmp_path)
    store.save(3, {"x": np.arange(5000), "y": np.ones((7, 3))})
    store.verify(store.path_of(3))
    store.save(4, {"x": np.arange(5000), "y": np.ones((7, 3))})
    path = _damage(store, kind)
    with pytest.raises(ValueError) as from_read:
        store.read(path)
    with pytest.raises(ValueError) as from_verify:
        store.verify(path)
    assert str(from_verify.value) == str(from_read.value)


def test_a_crc_computed_window_by_window_is_the_whole_files(tmp_path, monkeypatch):
    store = SnapshotStore(tmp_path)
    arrays = {"x": np.random.default_rng(5).integers(0, 2**40, 20_000)}
    store.save(1, arrays)
    for window in (4096, 8192 * 3, 1 << 30):
        monkeypatch.setattr("lowlat.journal.snapshots.VERIFY_WINDOW", window)
        store.verify(store.path_of(1))
        assert_same(store.read(store.path_of(1)).arrays, arrays)


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_dropping_a_mapped_window_gives_its_pages_back(tmp_path):
    path = tmp_path / "big"
    size = 64 << 20
    path.write_bytes(np.ones(size, np.uint8).tobytes())
    with OsFiles().map(str(path)) as mapped:
        before = _rss_bytes()
        assert int(mapped.bytes.sum()) == size  # every page read: resident
        read = _rss_bytes()
        mapped.drop(0, size)
        dropped = _rss_bytes()
        assert int(mapped.bytes[: 1 << 20].sum()) == 1 << 20  # still readable after
    assert read - before > size // 2
    assert dropped - before < size // 8


def test_prune_checks_the_kept_snapshots_without_loading_them(tmp_path, monkeypatch):
    store = SnapshotStore(tmp_path)
    for seq in range(1, 5):
        store.save(seq, {"x": np.arange(1000)})

    def no_loading(path):
        raise AssertionError(f"prune loaded {path}")

    monkeypatch.setattr(store, "read", no_loading)
    assert [info.seq for info in store.prune(2)] == [4, 3]


def test_snapshots_beyond_a_sequence_are_passed_over(tmp_path):
    store = SnapshotStore(tmp_path)
    store.save(5, {})
    store.save(9, {})
    snapshot, skipped = store.latest(max_seq=8)
    assert snapshot.seq == 5
    assert "beyond sequence 8" in skipped[0][1]
    snapshot, skipped = store.latest(max_seq=4)
    assert snapshot is None
    assert [path for path, _ in skipped] == [store.path_of(9), store.path_of(5)]


@pytest.mark.parametrize("crash_at", ["create", "write", "sync", "replace", "sync_dir"])
def test_a_crash_while_saving_leaves_the_previous_snapshot(crash_at):
    files = PowerLossFiles()
    store = SnapshotStore(ROOT, files=files)
    store.save(1, {"x": np.arange(3)})
    files.fail_at = crash_at
    with pytest.raises(OSError, match="injected"):
        store.save(2, {"x": np.arange(4)})
    files.power_failure()  # whatever the crash left unsynced is gone too
    snapshot, skipped = SnapshotStore(ROOT, files=files).latest()
    assert (snapshot.seq, skipped) == (1, [])
    store.save(3, {"x": np.arange(5)})  # a stale temp file does not get in the way
    assert store.latest()[0].seq == 3
    assert [n for n in files.list_dir(ROOT) if n.endswith(".tmp")] == []


def test_a_rename_that_reached_the_directory_is_the_new_snapshot():
    files = PowerLossFiles()
    store = SnapshotStore(ROOT, files=files)
    store.save(1, {"x": np.arange(3)})
    store.save(2, {"x": np.arange(4)})
    files.power_failure()
    assert store.latest()[0].seq == 2


def test_prune_keeps_the_newest_valid_and_deletes_older_and_stale_temp_files(tmp_path):
    store = SnapshotStore(tmp_path)
    for seq in range(1, 7):
        store.save(seq, {"x": np.arange(seq)})
    with open(store.path_of(6), "r+b") as file:
        file.truncate(10)
    with open(store.path_of(9) + ".tmp", "wb") as file:
        file.write(b"partial")
    kept = store.prune(2)
    assert [info.seq for info in kept] == [5, 4]
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(store.path_of(s)) for s in (4, 5, 6)]
    with pytest.raises(ValueError, match="at least 1"):
        store.prune(0)


# --- checkpoint, retirement and restart -------------------------------------------------


WORDS = np.dtype((np.int64, 8))


def fold(state, words):
    """A toy component: counts test records and sums their words (int64, wrapping)."""
    state[0] += len(words)
    state[1:] += words.sum(axis=0)


def replay(reader, state):
    for batch in reader:
        fold(state, batch.records(TEST_TYPE, WORDS))
    return state


def session(journal, store, steps, seed, every):
    """Publish random chunks, folding them into a live state, checkpointing every ``every``."""
    rng = random.Random(seed)
    state = np.zeros(9, np.int64)
    words = np.zeros(8, np.int64)
    seq = 0  # test-record numbering (journal sequences also count SNAPSHOT records)
    for step in range(steps):
        count = rng.randint(1, 400)
        assert publish_seqs(*journal.ring(), words, seq, count, 1 << 30) == count
        fold(state, (np.arange(seq, seq + count)[:, None] ^ (np.arange(8) * 0x5DEECE66D)))
        seq += count
        if step % every == every - 1:
            checkpoint(journal, store, {"state": state}, {"step": step})
    return state


def test_restart_from_snapshot_and_tail_equals_replaying_the_whole_journal(tmp_path):
    steps = scaled(60, 20)
    config = small_config(keep_snapshots=2)
    with Journal(tmp_path / "a", config) as journal:
        live = session(journal, SnapshotStore(tmp_path / "a"), steps, seed=5, every=scaled(7, 5))
    with Journal(tmp_path / "b", config) as journal:  # the same records, never retired
        session(journal, SnapshotStore(tmp_path / "b"), steps, seed=5, every=10**9)
    with Journal(tmp_path / "a", config, start=False) as journal:
        assert journal.recovery.first_seq > 0  # segments were retired
        restart = restore(journal, SnapshotStore(tmp_path / "a"))
        assert restart.snapshot is not None and restart.skipped == ()
        assert restart.from_seq == restart.snapshot.seq + 1
        restored = replay(restart.reader, restart.snapshot.arrays["state"].copy())
    with Journal(tmp_path / "b", config, start=False) as journal:
        restart = restore(journal, SnapshotStore(tmp_path / "b"))
        assert restart.snapshot is None and restart.from_seq == 0
        full = replay(restart.reader, np.zeros(9, np.int64))
    assert np.array_equal(restored, live)
    assert np.array_equal(full, live)


def test_checkpoint_journals_a_marker_and_retires_only_covered_segments(tmp_path):
    config = small_config(keep_snapshots=2)
    store = SnapshotStore(tmp_path / "snaps")
    with Journal(tmp_path / "j", config) as journal:
        session(journal, store, scaled(40, 20), seed=9, every=5)
        kept = store.snapshots()
        assert len(kept) == 2
        oldest = kept[-1].seq
        firsts = [int(n[8:28]) for n in segment_files(tmp_path / "j")]
        # the first kept segment holds a record after the oldest snapshot ...
        assert len(firsts) == 1 or firsts[1] - 1 > oldest
        # ... and every record after the oldest snapshot is still there
        assert firsts[0] <= oldest + 1
        last = journal.flush()
    markers = [
        batch.json(row)
        for batch in JournalReader(tmp_path / "j")
        for row in np.flatnonzero(batch.types == RecordType.SNAPSHOT)
    ]
    assert markers[-1]["covers"] == kept[0].seq <= last
    assert markers[-1]["file"] == os.path.basename(kept[0].path)


def test_restore_skips_a_snapshot_the_journal_has_no_records_after(tmp_path):
    config = small_config()
    store = SnapshotStore(tmp_path / "snaps")
    with Journal(tmp_path / "j", config) as journal:
        publish_seqs(*journal.ring(), np.zeros(8, np.int64), 0, 10, 1 << 30)
        checkpoint(journal, store, {"state": np.zeros(1)})
    store.save(500, {"state": np.ones(1)})  # covers records the journal lost
    with Journal(tmp_path / "j", config, start=False) as journal:
        restart = restore(journal, store)
    assert restart.snapshot.seq == 9
    assert "beyond sequence 10" in restart.skipped[0][1]


def test_restore_refuses_when_retired_records_have_no_usable_snapshot(tmp_path):
    config = small_config(keep_snapshots=1)
    store = SnapshotStore(tmp_path / "snaps")
    with Journal(tmp_path / "j", config) as journal:
        session(journal, store, scaled(40, 20), seed=3, every=10)
    for info in store.snapshots():
        os.remove(info.path)
    store.save(0, {"state": np.zeros(1)})  # too old: the records after it were retired
    with Journal(tmp_path / "j", config, start=False) as journal:
        assert journal.recovery.first_seq > 1
        with pytest.raises(JournalError, match="retired"):
            restore(journal, store)
