"""The reader: batches from any sequence, across segments, bounded by a sequence, while the
journal is being written."""

import numpy as np
import pytest

from lowlat.journal import Journal, JournalReader
from tests.journal._support import check_batches, publish_seqs, scaled
from tests.journal.conftest import small_config

COUNT = scaled(6_000, 3_000)  # three segments


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("reader") / "journal")
    with Journal(directory, small_config()) as journal:
        assert publish_seqs(*journal.ring(), np.zeros(8, np.int64), 0, COUNT, 1 << 30) == COUNT
    return directory


@pytest.mark.parametrize("from_seq", [0, 1, 2339, 2340, 2341, COUNT - 1, COUNT, COUNT + 5])
def test_reading_starts_at_any_sequence(written, from_seq):
    reader = JournalReader(written, from_seq=from_seq, batch_records=1000)
    assert check_batches(reader, min(from_seq, COUNT)) == COUNT


def test_batches_hold_at_most_batch_records_and_never_span_segments(written):
    sizes = [len(batch) for batch in JournalReader(written, batch_records=1000)]
    assert max(sizes) == 1000
    assert sum(sizes) == COUNT
    assert len(sizes) > COUNT // 1000  # a segment end cuts a batch short


@pytest.mark.parametrize("until_seq", [-1, 0, 999, 2340, COUNT - 1, COUNT + 10])
def test_reading_stops_after_until_seq(written, until_seq):
    reader = JournalReader(written, from_seq=0, until_seq=until_seq, batch_records=700)
    assert check_batches(reader, 0) == min(until_seq + 1, COUNT)


def test_an_empty_directory_reads_as_nothing(tmp_path):
    assert list(JournalReader(tmp_path)) == []


def test_batch_records_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        JournalReader(tmp_path, batch_records=0)


def test_a_reader_of_a_live_journal_sees_only_written_records(directory):
    with Journal(directory, small_config()) as journal:
        words = np.zeros(8, np.int64)
        publish_seqs(*journal.ring(), words, 0, 500, 1 << 30)
        journal.flush()
        reader = journal.reader()
        publish_seqs(*journal.ring(), words, 500, 500, 1 << 30)  # written meanwhile
        assert check_batches(reader, 0) == 500
        journal.flush()
        assert check_batches(journal.reader(from_seq=700), 700) == 1000
