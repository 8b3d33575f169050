"""Capture files: write, read back (plain and gzip), stats, and bad lines quarantined."""

import gzip

import numpy as np
import pytest

from lowlat.core.records import EventKind
from lowlat.feeds.depth.capture import CaptureWriter, file_stats, iter_lines, iter_records
from lowlat.feeds.depth.decode import DepthDecoder
from tests.feeds.depth import Venue, apply_records

TRADE = b'{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"100.5","q":"0.25","T":2,"m":true}'


def session(path, *, gap=True, bad_lines=()):
    venue = Venue(seed=11)
    t = 1_700_000_000_000_000_000
    with CaptureWriter(path) as w:
        for _ in range(4):
            w.write(venue.step(), t)
        w.write_snapshot("BTCUSDT", venue.snapshot().replace(b",", b",\n"), t + 1)
        for _ in range(60):
            w.write(venue.step(), t + 2)
        w.write(TRADE, t + 3)
        if gap:
            venue.step()  # lost
            w.write(venue.step(), t + 4)
            w.write_snapshot("BTCUSDT", venue.snapshot(), t + 5)
        for _ in range(30):
            w.write(venue.step(), t + 6)
    if bad_lines:
        with open(path, "ab") as f:
            f.write(b"".join(line + b"\n" for line in bad_lines))
    return venue


@pytest.mark.parametrize("name", ["cap.jsonl", "cap.jsonl.gz"])
def test_replay_matches_the_venue_book(tmp_path, name):
    path = tmp_path / name
    venue = session(path)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    records = list(iter_records(path, symbols={"BTCUSDT": 1}))
    assert apply_records({}, np.concatenate(records)) == venue.ticks()
    trades = np.concatenate(records)
    assert (trades["kind"] == EventKind.TRADE).sum() == 1
    stats = file_stats(path)
    assert stats["format"] == "binance-capture"
    assert stats["compressed"] == name.endswith(".gz")
    assert stats["lines"] == 4 + 1 + 60 + 1 + 1 + 1 + 30
    assert stats["messages"] == {
        "rejected": 0, "depth": 4 + 60 + 1 + 30, "snapshot": 2, "book_ticker": 0, "trade": 1,
    }  # fmt: skip
    assert stats["records"] == sum(len(r) for r in records)
    assert (stats["resyncs"], stats["gaps"], stats["stale"], stats["duplicates"]) == (1, 1, 5, 0)
    assert stats["symbols"] == {"BTCUSDT": 1} and stats["buffered"] == 0
    assert stats["first_ns"] == 1_700_000_000_000_000_001
    assert stats["last_ns"] == 1_700_000_000_000_000_006


def test_batches_have_the_requested_size(tmp_path):
    path = tmp_path / "c.jsonl"
    session(path, gap=False)
    whole = np.concatenate(list(iter_records(path)))
    for batch in (1, 7, 100):
        parts = list(iter_records(path, batch, chunk_lines=5))
        assert all(len(p) == batch for p in parts[:-1]) and 0 < len(parts[-1]) <= batch
        assert np.array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError):
        list(iter_records(path, 0))


def test_bad_lines_are_quarantined(tmp_path):
    path = tmp_path / "c.jsonl"
    bad = [b"", b"12345", b"abc {}", b"-5 {}", b"1_0 {}", b"1 not json", b"1 " + b"{" * 3]
    venue = session(path, bad_lines=bad)
    stats = file_stats(path)
    assert stats["errors"]["counts"] == {"bad_field": len(bad), "sequence_gap": 1, "stale": 5}
    assert stats["lines"] == 98 + 2
    records = np.concatenate(list(iter_records(path)))
    assert apply_records({}, records) == venue.ticks()


def test_bare_snapshot_bodies_and_crlf(tmp_path):
    venue = Venue(seed=2)
    path = tmp_path / "c.jsonl"
    lines = [b"5 " + venue.snapshot()] + [b"6 " + venue.step() for _ in range(10)]
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    records = np.concatenate(list(iter_records(path, snapshot_symbol="BTCUSDT")))
    assert apply_records({}, records) == venue.ticks()
    assert set(records["recv_ns"]) == {5, 6}


def test_iter_lines_and_missing_or_corrupt_files(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"10 {}\nbad\n")
    decoder = DepthDecoder(None)
    assert list(iter_lines(path, decoder)) == [(10, b"{}")]
    assert decoder.quarantine.total == 1
    with pytest.raises(FileNotFoundError, match="Binance capture"):
        file_stats(tmp_path / "missing")
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(b"1 {}\n" * 1000)[:40])
    with pytest.raises(OSError, match="cannot read"):
        list(iter_records(cut))
