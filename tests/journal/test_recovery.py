"""Recovery: a torn tail of the last segment is cut and reported; damage anywhere a crash
cannot have caused it is refused with the file and byte offset, changing nothing."""

import os
import random
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowlat.journal import CorruptJournal, Journal, JournalReader, recover, segment_name
from lowlat.journal.format import SEGMENT_HEAD
from tests.journal._support import (
    PowerLossFiles,
    check_batches,
    publish_seqs,
    scaled,
    segment_files,
    walk_frames,
)
from tests.journal.conftest import small_config

ROOT = "/journal"


def write_journal(directory, count, files=None, chunk=None, seed=0):
    """Test records 0 .. count-1, each chunk (of random size) one batch, fsynced."""
    rng = random.Random(seed)
    words = np.zeros(8, np.int64)
    config = small_config(batch_records=1024, ring_capacity=1024)
    with Journal(directory, config, files=files, start=False) as journal:
        done = 0
        while done < count:
            size = min(count - done, chunk or rng.randint(1, 200))
            assert publish_seqs(*journal.ring(), words, done, size, 0) == size
            assert journal.write_pending() == size
            done += size


def segments(directory):
    return [os.path.join(directory, name) for name in segment_files(directory)]


def damage(path, offset, data):
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)


def snapshot_dir(directory):
    return {p: open(p, "rb").read() for p in segments(directory)}


# --- torn tails -----------------------------------------------------------------------


def test_a_partial_last_frame_is_cut_and_reported(directory):
    write_journal(directory, 300)
    last = segments(directory)[-1]
    size = os.path.getsize(last)
    with open(last, "r+b") as file:
        file.truncate(size - 30)
    report = recover(directory)
    assert report.next_seq == 299
    assert (report.truncated_bytes, report.truncated_records) == (112 - 30, 1)
    assert "runs past the end" in report.torn_reason
    assert os.path.getsize(last) == size - 112
    with Journal(directory, small_config()) as journal:
        assert journal.next_seq == 299
        assert journal.recovery.truncated_bytes == 0


def test_a_zero_filled_tail_is_torn(directory):
    write_journal(directory, 300)
    last = segments(directory)[-1]
    size = os.path.getsize(last)
    damage(last, size - 5 * 112, bytes(5 * 112 + 1000))  # lost pages read back as zeros
    report = recover(directory)
    assert report.next_seq == 295
    assert report.truncated_bytes == 5 * 112 + 1000
    assert "malformed frame head" in report.torn_reason


def test_a_torn_segment_header_removes_the_segment_just_created(directory):
    write_journal(directory, 10)
    with open(os.path.join(directory, segment_name(10)), "wb") as file:
        file.write(b"LLJOURNL\x01")
    report = recover(directory)
    assert report.next_seq == 10
    assert report.truncated_bytes == 9
    assert "incomplete" in report.torn_reason
    assert segments(directory) == [os.path.join(directory, segment_name(0))]


def test_an_empty_directory_recovers_to_sequence_zero(tmp_path):
    (tmp_path / "notes.txt").write_text("not a segment")
    report = recover(tmp_path)
    assert (report.records, report.next_seq, report.segments) == (0, 0, ())


# --- corruption ------------------------------------------------------------------------


def test_damage_in_an_earlier_segment_is_refused_with_file_and_offset(directory):
    write_journal(directory, scaled(5_000, 3_000), chunk=500)
    first = segments(directory)[0]
    damage(first, SEGMENT_HEAD + 112 * 7 + 50, b"\x00\x01")
    before = snapshot_dir(directory)
    with pytest.raises(CorruptJournal) as caught:
        recover(directory)
    assert (caught.value.path, caught.value.offset) == (first, SEGMENT_HEAD + 112 * 7)
    assert "CRC32C mismatch" in str(caught.value)
    assert snapshot_dir(directory) == before  # nothing changed


def test_damage_vouched_for_by_a_later_durable_frame_is_refused(directory):
    write_journal(directory, 300, chunk=100)  # batches 0-99, 100-199, 200-299
    (only,) = segments(directory)
    offset = SEGMENT_HEAD + 112 * 50
    damage(only, offset, bytes(112 * 60))  # frames 50..109: frame 110 has durable ≥ 99
    with pytest.raises(CorruptJournal) as caught:
        recover(directory)
    assert (caught.value.path, caught.value.offset) == (only, offset)
    assert "after sequence 50 was fsynced" in caught.value.reason


def test_one_damaged_frame_no_later_frame_vouches_for_is_a_torn_tail(directory):
    write_journal(directory, 100, chunk=100)  # one batch: no later frame says it was durable
    (only,) = segments(directory)
    damage(only, SEGMENT_HEAD + 112 * 40 + 60, b"\xff")
    report = recover(directory)
    assert report.next_seq == 40
    assert report.truncated_records == 60  # the damaged frame and the 59 intact after it
    assert "CRC32C mismatch" in report.torn_reason


def test_damage_to_several_frames_of_the_last_unsynced_batch_is_a_torn_tail(directory):
    write_journal(directory, 100, chunk=100)
    (only,) = segments(directory)
    damage(only, SEGMENT_HEAD + 112 * 40, bytes(4096))  # a lost page in the last batch
    report = recover(directory)
    assert report.next_seq == 40
    assert report.truncated_records == 1 + (100 - 40 - 37)  # the damaged frame + intact after


def test_a_missing_directory_is_named_and_not_created(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"no journal directory at .*nowhere"):
        recover(missing)
    assert not missing.exists()


def test_a_missing_segment_is_refused(directory):
    write_journal(directory, scaled(7_000, 5_000), chunk=1000)
    paths = segments(directory)
    assert len(paths) >= 3
    os.remove(paths[1])
    with pytest.raises(CorruptJournal, match="expected") as caught:
        recover(directory)
    assert (caught.value.path, caught.value.offset) == (paths[2], 0)


def test_a_damaged_header_with_durable_frames_behind_it_is_refused(directory):
    write_journal(directory, 50, chunk=10)
    (only,) = segments(directory)
    damage(only, 20, b"\x07")
    with pytest.raises(CorruptJournal, match="header CRC32C") as caught:
        recover(directory)
    assert caught.value.offset == 0


def test_a_damaged_header_nothing_vouches_for_tears_the_whole_segment(directory):
    write_journal(directory, 50, chunk=50)
    (only,) = segments(directory)
    damage(only, 20, b"\x07")
    report = recover(directory)
    assert (report.next_seq, report.truncated_records) == (0, 50)
    assert segments(directory) == []


def test_a_reader_refuses_a_damaged_frame_instead_of_skipping_it(directory):
    write_journal(directory, 50)
    (only,) = segments(directory)
    damage(only, SEGMENT_HEAD + 112 * 10 + 60, b"\xff")
    reader = JournalReader(directory, batch_records=4)
    with pytest.raises(CorruptJournal) as caught:
        list(reader)
    assert caught.value.offset == SEGMENT_HEAD + 112 * 10
    with pytest.raises(CorruptJournal):
        list(JournalReader(directory, from_seq=20))
    damage(only, 0, b"X")
    with pytest.raises(CorruptJournal, match="header"):
        list(JournalReader(directory))


# --- random damage against an independent oracle -----------------------------------------


@pytest.fixture(scope="module")
def reference():
    """A journal of three segments or more, built in memory: ``{path: bytes}``."""
    files = PowerLossFiles()
    write_journal(ROOT, scaled(6_000, 5_000), files=files, seed=11)
    paths = sorted(files.live)
    assert len(paths) >= 3
    return {path: files.bytes_of(path) for path in paths}


def load(reference, upto=None):
    files = PowerLossFiles()
    for path in list(reference)[:upto]:
        files.put(path, reference[path])
    return files


def frames_before(reference, index):
    return sum(len(walk_frames(data)) for data in list(reference.values())[:index])


EXAMPLES = settings(
    max_examples=scaled(60, 8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@EXAMPLES
@given(st.data())
def test_a_crash_cut_anywhere_recovers_exactly_the_records_before_it(reference, data):
    paths = list(reference)
    index = data.draw(st.integers(0, len(paths) - 1))
    original = reference[paths[index]]
    cut = data.draw(st.integers(0, len(original)))
    files = load(reference, index + 1)
    files.put(paths[index], original[:cut])
    report = recover(ROOT, files=files)
    whole = [f for f in walk_frames(original) if f.offset + f.size <= cut]
    if cut < SEGMENT_HEAD:
        assert paths[index] not in files.live
        expected_records, valid = frames_before(reference, index), 0
    else:
        expected_records = frames_before(reference, index) + len(whole)
        valid = whole[-1].offset + whole[-1].size if whole else SEGMENT_HEAD
        assert len(files.bytes_of(paths[index])) == valid
    assert report.next_seq == expected_records
    assert report.truncated_bytes == cut - valid
    assert report.truncated_records == (1 if valid < cut and cut >= SEGMENT_HEAD else 0)


@EXAMPLES
@given(st.data())
def test_a_cut_in_an_earlier_segment_is_refused(reference, data):
    paths = list(reference)
    index = data.draw(st.integers(0, len(paths) - 2))
    original = reference[paths[index]]
    cut = data.draw(st.integers(0, len(original) - 1))
    files = load(reference)
    files.put(paths[index], original[:cut])
    with pytest.raises(CorruptJournal) as caught:
        recover(ROOT, files=files)
    starts = [f.offset for f in walk_frames(original)]
    if cut in starts:  # the segment ends early, cleanly: the next one does not follow on
        assert (caught.value.path, caught.value.offset) == (paths[index + 1], 0)
    else:
        inside = max([0] + [s for s in starts if s <= cut])
        assert (caught.value.path, caught.value.offset) == (paths[index], inside)


@EXAMPLES
@given(st.data())
def test_random_garbage_is_cut_as_a_torn_tail_or_refused_where_it_lies(reference, data):
    paths = list(reference)
    index = data.draw(st.integers(0, len(paths) - 1))
    original = reference[paths[index]]
    offset = data.draw(st.integers(0, len(original)))
    garbage = data.draw(st.binary(min_size=1, max_size=600))
    damaged = bytearray(original)
    damaged[offset : offset + len(garbage)] = garbage
    damaged = bytes(damaged)
    files = load(reference)
    files.put(paths[index], damaged)
    changed = [i for i in range(min(len(original), len(damaged))) if original[i] != damaged[i]]
    first = changed[0] if changed else len(original)
    last = changed[-1] if changed else len(damaged) - 1
    if damaged == original:
        assert recover(ROOT, files=files).records == frames_before(reference, len(paths))
        return
    frames = walk_frames(original)
    is_last = index == len(paths) - 1
    if first < SEGMENT_HEAD:
        vouched = any(f.offset > last and f.durable >= frames[0].seq for f in frames)
        if not is_last or vouched:
            with pytest.raises(CorruptJournal) as caught:
                recover(ROOT, files=files)
            assert (caught.value.path, caught.value.offset) == (paths[index], 0)
        else:
            assert recover(ROOT, files=files).next_seq == frames_before(reference, index)
        return
    hit = [f for f in frames if f.offset <= first < f.offset + f.size]
    bad_offset = hit[0].offset if hit else len(original)
    bad_seq = hit[0].seq if hit else frames[-1].seq + 1
    after = [f for f in frames if f.offset > last]
    vouched = any(f.durable >= bad_seq for f in after)
    if not is_last or vouched:
        with pytest.raises(CorruptJournal) as caught:
            recover(ROOT, files=files)
        assert (caught.value.path, caught.value.offset) == (paths[index], bad_offset)
        assert files.bytes_of(paths[index]) == damaged
    else:
        report = recover(ROOT, files=files)
        assert report.next_seq == bad_seq
        assert report.truncated_bytes == len(damaged) - bad_offset
        assert report.truncated_records == 1 + len([f for f in after if f.seq > bad_seq])
        assert files.bytes_of(paths[index]) == original[:bad_offset]


def test_after_a_cut_the_journal_continues_from_the_recovered_sequence(directory):
    write_journal(directory, 300)
    last = segments(directory)[-1]
    with open(last, "r+b") as file:
        file.truncate(os.path.getsize(last) - 200)
    words = np.zeros(8, np.int64)
    with Journal(directory, small_config()) as journal:
        assert journal.next_seq == 298
        publish_seqs(*journal.ring(), words, 298, 10, 1 << 30)
    assert check_batches(JournalReader(directory), 0) == 308
    shutil.rmtree(directory)
