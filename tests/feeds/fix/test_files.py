import gzip
import json

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.fix import file_stats, iter_records
from lowlat.feeds.fix.codec import MDEntry, heartbeat, incremental_refresh, snapshot_refresh
from tests.feeds.fix import accounted, decode_all


def stream() -> bytes:
    parts = [snapshot_refresh(1, "ES", [MDEntry("0", "4500", "1"), MDEntry("1", "4501", "2")])]
    for seq in range(2, 40):
        if seq % 7 == 0:
            parts.append(heartbeat(seq))
        else:
            entries = [MDEntry("0", f"4500.{seq:02d}", str(seq), symbol="ES")] * (seq % 3 + 1)
            parts.append(incremental_refresh(seq, entries))
        parts.append(b"\n")
    return b"".join(parts)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
def test_messages_split_across_chunks_decode_exactly_as_whole(chunk):
    data = stream() + b"junk" + incremental_refresh(99, [MDEntry("0", "1", "1", symbol="ES")])[:-5]
    whole, reference = decode_all(data)
    pieces, decoder = decode_all(data, chunk=chunk)
    assert np.array_equal(whole, pieces)
    assert decoder.report() == reference.report()
    assert accounted(decoder)


def test_file_stats_reports_counts_entries_and_errors(tmp_path):
    path = tmp_path / "md.fix"
    path.write_bytes(stream() + b"garbage\n")
    stats = file_stats(path)
    json.dumps(stats)
    assert stats["format"] == "fix" and stats["bytes"] == path.stat().st_size
    assert stats["counts"] == {"0": 5, "W": 1, "X": 33}
    assert stats["messages"] == 39 and stats["bytes_left"] == 0
    assert stats["entries"] == 2 + sum(s % 3 + 1 for s in range(2, 40) if s % 7)
    assert stats["errors"]["counts"] == {"bad_field": 1}


def test_gzip_and_pipe_delimited_files_give_the_same_stats(tmp_path):
    plain = tmp_path / "md.fix"
    plain.write_bytes(stream())
    zipped = tmp_path / "md.fix.gz"
    zipped.write_bytes(gzip.compress(stream()))
    piped = tmp_path / "md.log"
    piped.write_bytes(stream().replace(b"\x01", b"|"))
    expected = file_stats(plain)
    assert file_stats(zipped, chunk_bytes=100) == expected
    pipe_stats = file_stats(piped, chunk_bytes=33)
    assert pipe_stats.pop("delimiter") == "|" and expected.pop("delimiter") == "SOH"
    assert pipe_stats == expected


def test_iter_records_yields_batches_of_market_events(tmp_path):
    path = tmp_path / "md.fix.gz"
    path.write_bytes(gzip.compress(stream()))
    batches = list(iter_records(path, batch=8, chunk_bytes=50))
    assert all(b.dtype == MARKET_EVENT_DTYPE and 0 < len(b) <= 8 for b in batches)
    records = np.concatenate(batches)
    assert np.array_equal(records, decode_all(stream())[0])


def test_a_missing_file_raises_file_not_found_naming_it(tmp_path):
    missing = tmp_path / "nope.fix"
    with pytest.raises(FileNotFoundError, match=r"nope\.fix"):
        file_stats(missing)
    with pytest.raises(FileNotFoundError, match=r"nope\.fix"):
        next(iter_records(missing))
