"""LOBSTER files: streaming plain and gzip files, statistics, orderbook rows and initial book."""

import gzip
import json

import numpy as np
import pytest

from lowlat.core.records import EventKind, Side
from lowlat.feeds.lobster import (
    EMPTY_ASK_PRICE,
    EMPTY_BID_PRICE,
    LobsterDecoder,
    file_stats,
    initial_book_records,
    iter_records,
    read_orderbook_row,
)
from tests.feeds.lobster import message_bytes, parse, sample_messages, time_ns

SAMPLE = sample_messages(60)
DATA = message_bytes(SAMPLE)
# 3 levels; the bid side has only two, the ask side one (LOBSTER's placeholders fill the rest)
ROW = [
    2238200, 500, 2238100, 300,
    EMPTY_ASK_PRICE, 0, 2238000, 200,
    EMPTY_ASK_PRICE, 0, EMPTY_BID_PRICE, 0,
]  # fmt: skip
ROW_TEXT = ",".join(map(str, ROW))


@pytest.fixture
def files(tmp_path):
    plain = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_3.csv"
    plain.write_bytes(DATA)
    packed = tmp_path / "message.csv.gz"
    packed.write_bytes(gzip.compress(DATA))
    book = tmp_path / "orderbook.csv"
    second = ROW.copy()
    second[1] = 400
    rows = [ROW_TEXT, ",".join(map(str, second))] + [ROW_TEXT] * (len(SAMPLE) - 2)
    book.write_text("\n".join(rows) + "\n")
    book_gz = tmp_path / "orderbook.csv.gz"
    book_gz.write_bytes(gzip.compress(book.read_bytes()))
    return plain, packed, book, book_gz


def test_iter_records_plain_and_gzip_match_the_kernel(files):
    plain, packed, _, _ = files
    expected, _ = parse(DATA, instrument=9)
    for path in (plain, packed):
        for batch in (1, 7, 65_536):
            batches = list(iter_records(path, batch, instrument=9, chunk_size=64))
            assert all(len(b) == batch for b in batches[:-1])
            assert np.array_equal(np.concatenate(batches), expected)


def test_iter_records_with_a_decoder_keeps_its_counters(files):
    decoder = LobsterDecoder(3)
    records = np.concatenate(list(iter_records(files[1], decoder=decoder)))
    assert decoder.messages == decoder.lines == len(records) == len(SAMPLE)
    assert (records["instrument"] == 3).all()


def test_file_stats(files):
    plain, packed, book, book_gz = files
    stats = file_stats(plain, orderbook=book)
    assert json.loads(json.dumps(stats)) == stats
    assert stats["format"] == "lobster"
    assert stats["compressed"] is False
    assert stats["bytes"] == len(DATA) == stats["bytes_decoded"]
    assert stats["messages"] == stats["lines"] == len(SAMPLE)
    assert sum(stats["counts"].values()) == len(SAMPLE)
    assert set(stats["counts"]) == {
        "submission", "cancellation", "deletion", "execution_visible", "execution_hidden",
        "cross_trade", "trading_halt",
    }  # fmt: skip
    assert stats["errors"] == {"counts": {}, "samples": {}}
    assert stats["bytes_left"] == stats["bytes_quarantined"] == 0
    assert stats["first_ns"] == time_ns(SAMPLE[0].time)
    assert stats["last_ns"] == time_ns(SAMPLE[-1].time)
    assert stats["first_time"] == "34200.000000000"
    assert stats["last_time"] == f"{34200 + len(SAMPLE) - 1}.{SAMPLE[-1].time.split('.')[1]:0<9}"
    assert stats["orderbook"] == {
        "rows": len(SAMPLE),
        "levels": 3,
        "rows_match": True,
        "initial_book": {"bids": [[2238100, 300], [2238000, 200]], "asks": [[2238200, 500]]},
    }
    packed_stats = file_stats(packed, orderbook=book_gz)
    assert packed_stats["compressed"] is True
    assert {k: v for k, v in packed_stats.items() if k != "compressed"} == {
        k: v for k, v in stats.items() if k != "compressed"
    }


def test_file_stats_reports_bad_lines(tmp_path):
    path = tmp_path / "m.csv"
    cut = DATA.index(b"\n", 200) + 1
    path.write_bytes(DATA[:cut] + b"garbage\n34200.5,9,1,1,1,1\n" + DATA[cut:])
    stats = file_stats(path)
    assert stats["errors"]["counts"] == {"bad_field": 1, "unknown_type": 1}
    assert stats["bytes_left"] == stats["bytes_quarantined"] == len(b"garbage\n34200.5,9,1,1,1,1\n")
    assert stats["messages"] + 2 == stats["lines"]


def test_file_stats_of_an_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    book = tmp_path / "book.csv"
    book.write_text(ROW_TEXT)  # no final newline
    stats = file_stats(path, orderbook=book)
    assert stats["messages"] == stats["lines"] == 0
    assert stats["first_ns"] is stats["first_time"] is stats["last_time"] is None
    assert stats["orderbook"]["rows"] == 1 and stats["orderbook"]["rows_match"] is False


def test_missing_files_are_named(tmp_path, files):
    missing = tmp_path / "nope_message_10.csv"
    with pytest.raises(FileNotFoundError, match="nope_message_10"):
        list(iter_records(missing))
    with pytest.raises(FileNotFoundError, match="nope_message_10"):
        file_stats(missing)
    with pytest.raises(FileNotFoundError, match="nope_message_10"):
        file_stats(files[0], orderbook=missing)
    with pytest.raises(FileNotFoundError, match="nope_message_10"):
        read_orderbook_row(missing)


def test_cut_off_gzip_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(DATA)[:-20])
    with pytest.raises(OSError, match=r"cut\.csv\.gz"):
        list(iter_records(path))
    with pytest.raises(OSError, match=r"cut\.csv\.gz"):
        read_orderbook_row(path, row=10**6)
    with pytest.raises(OSError, match=r"cut\.csv\.gz"):
        file_stats(path)
    ok = tmp_path / "ok.csv"
    ok.write_bytes(DATA)
    book = tmp_path / "cut_book.csv.gz"
    book.write_bytes(gzip.compress((ROW_TEXT + "\n").encode() * 500)[:-20])
    with pytest.raises(OSError, match=r"cut_book\.csv\.gz"):
        file_stats(ok, orderbook=book)


def test_read_orderbook_row(files):
    _, _, book, book_gz = files
    for path in (book, book_gz):
        assert read_orderbook_row(path) == tuple(ROW)
        assert read_orderbook_row(path, row=1)[1] == 400
    with pytest.raises(IndexError, match="no row 60"):
        read_orderbook_row(book, row=len(SAMPLE))
    with pytest.raises(IndexError):
        read_orderbook_row(book, row=-1)


@pytest.mark.parametrize(
    ("text", "message"), [("1,2,3", "not 4 per level"), ("1,2,x,4", "not integers")]
)
def test_read_orderbook_row_rejects_bad_rows(tmp_path, text, message):
    path = tmp_path / "book.csv"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message):
        read_orderbook_row(path)


def test_initial_book_from_a_row_with_empty_levels():
    for row in (ROW, ROW_TEXT, ROW_TEXT + "\r\n", tuple(ROW)):
        book = initial_book_records(row, 3, instrument=5, exchange_ns=34_200_000_000_000)
        assert book["side"].tolist() == [Side.BUY, Side.BUY, Side.SELL]
        assert book["price"].tolist() == [2238100, 2238000, 2238200]
        assert book["qty"].tolist() == [300, 200, 500]
        assert book["aux"].tolist() == [1, 2, 1]
        assert (book["kind"] == EventKind.SNAPSHOT).all()
        assert (book["instrument"] == 5).all()
        assert (book["exchange_ns"] == 34_200_000_000_000).all()
        assert (book["seq"] == 0).all() and (book["order_id"] == 0).all()
    empty = initial_book_records([EMPTY_ASK_PRICE, 0, EMPTY_BID_PRICE, 0], 1)
    assert len(empty) == 0


@pytest.mark.parametrize(
    ("row", "levels", "message"),
    [
        (ROW, 2, "columns"),
        (ROW[:-1], 3, "columns"),
        ("1,2,3,x", 1, "not a LOBSTER orderbook row"),
        ([1, -2, 3, 4], 1, "negative size"),
        ([], 0, "columns"),
    ],
)
def test_initial_book_rejects_bad_rows(row, levels, message):
    with pytest.raises(ValueError, match=message):
        initial_book_records(row, levels)
