"""``lowlat book replay``: one row per consumed message, in each format's layout."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lowlat.book import ReferenceBooks
from lowlat.book.replay import replay_file
from lowlat.cli.main import main
from lowlat.feeds.depth.capture import CaptureWriter
from lowlat.feeds.fix.codec import MDEntry, incremental_refresh, snapshot_refresh
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import write_scenario
from tests.feeds.depth import Venue
from tests.feeds.itch import TEST_VECTOR

E = 9_999_999_999  # LOBSTER's empty-level placeholder price
LOBSTER_MESSAGES = """\
34200.000000001,1,1,100,1000000,1
34200.000000002,1,2,50,1010000,-1
34200.000000003,1,3,30,1000000,1
34200.000000004,2,1,40,1000000,1
34200.000000005,5,0,10,1005000,1
34200.000000006,4,2,50,1010000,-1
34200.000000007,7,0,0,-1,-1
34200.000000008,3,3,30,1000000,1
34200.000000009,3,99,20,990000,1
34200.000000010,1,4,7,1020000,-1
"""
# The book after each line, written out by hand: ask p/s, bid p/s for levels 1 and 2.
LOBSTER_ROWS = [
    [E, 0, 1000000, 100, E, 0, -E, 0],
    [1010000, 50, 1000000, 100, E, 0, -E, 0],
    [1010000, 50, 1000000, 130, E, 0, -E, 0],
    [1010000, 50, 1000000, 90, E, 0, -E, 0],
    [1010000, 50, 1000000, 90, E, 0, -E, 0],  # hidden execution: depth unchanged
    [E, 0, 1000000, 90, E, 0, -E, 0],
    [E, 0, 1000000, 90, E, 0, -E, 0],  # trading halt: a row all the same
    [E, 0, 1000000, 60, E, 0, -E, 0],
    [E, 0, 1000000, 60, E, 0, -E, 0],  # an order from before the file, at no level
    [1020000, 7, 1000000, 60, E, 0, -E, 0],
]


def _lines(path: Path) -> list[list[int]]:
    return [[int(v) for v in line.split(",")] for line in path.read_text().splitlines()]


def test_lobster_rows_match_lobsters_own_layout_line_for_line(tmp_path: Path) -> None:
    messages = tmp_path / "msg.csv"
    messages.write_text(LOBSTER_MESSAGES)
    out = tmp_path / "book.csv"
    assert (
        main(
            ["book", "replay", str(messages), "--format", "lobster", "--depth", "2", "-o", str(out)]
        )
        == 0
    )
    assert _lines(out) == LOBSTER_ROWS


def test_lobster_replay_from_an_orderbook_row_continues_the_book(tmp_path: Path) -> None:
    messages = tmp_path / "msg.csv"
    messages.write_text(LOBSTER_MESSAGES)
    orderbook = tmp_path / "ob.csv"
    orderbook.write_text("\n".join(",".join(map(str, row)) for row in LOBSTER_ROWS) + "\n")
    out = tmp_path / "book.csv"
    argv = ["book", "replay", str(messages), "--format", "lobster", "--depth", "2", "-o", str(out)]
    # Row 2 is the book after line 3, so the replay starts at line 4.
    assert main([*argv, "--initial-book", str(orderbook), "--initial-row", "2", "--skip", "3"]) == 0
    assert _lines(out) == LOBSTER_ROWS[3:]


def test_itch_rows_follow_the_reference_book_after_every_message(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = replay_file(TEST_VECTOR, "itch50", 3, out, instrument="BOB")
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:5] == ["seq", "ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1"]
    reference = ReferenceBooks()
    expected = []
    for batch in iter_records(TEST_VECTOR):
        for record in batch:
            if reference.apply(record) and record["instrument"] == summary.instrument:
                cells = [str(record["seq"])]
                for ask_p, ask_s, bid_p, bid_s in reference.snapshot(summary.instrument, 3):
                    cells += [f"{ask_p / 10_000:.4f}", str(ask_s)] if ask_s else ["", ""]
                    cells += [f"{bid_p / 10_000:.4f}", str(bid_s)] if bid_s else ["", ""]
                expected.append(cells)
    assert summary.symbol == "BOB"
    assert rows[1:] == expected
    assert summary.rows == len(expected) > 1_000


def test_simulated_session_replays_clean(tmp_path: Path) -> None:
    path = tmp_path / "sim.itch"
    write_scenario("normal", path, instruments=2, messages=20_000)
    out = io.StringIO()
    summary = replay_file(path, "itch50", 5, out, instrument="1")
    assert summary.integrity == dict.fromkeys(summary.integrity, 0)
    last = out.getvalue().splitlines()[-1].split(",")
    best_ask, best_bid = float(last[1]), float(last[3])
    assert best_bid < best_ask


def test_depth_stream_rows_carry_the_final_update_id(tmp_path: Path) -> None:
    venue = Venue(seed=5)
    path = tmp_path / "cap.jsonl"
    finals = []
    with CaptureWriter(path) as writer:
        writer.write_snapshot("BTCUSDT", venue.snapshot(), 1)
        finals.append(venue.last_id)
        for t in range(40):
            writer.write(venue.step(), 2 + t)
            finals.append(venue.last_id)
    out = io.StringIO()
    summary = replay_file(path, "binance-capture", 5, out, instrument="BTCUSDT")
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    assert [int(row[0]) for row in rows] == finals
    asks = sorted(venue.book["a"].items(), key=lambda kv: float(kv[0]))[:5]
    bids = sorted(venue.book["b"].items(), key=lambda kv: -float(kv[0]))[:5]
    for k, ((ask_p, ask_s), (bid_p, bid_s)) in enumerate(zip(asks, bids, strict=True)):
        cells = rows[-1][1 + 4 * k : 5 + 4 * k]
        assert [float(c) for c in cells] == [float(ask_p), float(ask_s), float(bid_p), float(bid_s)]
        assert cells[0].endswith(f".{round(float(ask_p) * 1e8) % 10**8:08d}")
    assert summary.integrity["crossed"] == 0


def test_fix_rows_follow_whole_messages(tmp_path: Path) -> None:
    messages = [
        snapshot_refresh(1, "EURUSD", [MDEntry("0", "1.1000", "5"), MDEntry("1", "1.1002", "7")]),
        incremental_refresh(
            2,
            [
                MDEntry("0", "1.1001", "3", action="0", symbol="EURUSD"),
                MDEntry("1", "1.1002", "0", action="2", symbol="EURUSD"),
            ],
        ),
        incremental_refresh(3, [MDEntry("0", "1.2000", "1", action="0", symbol="GBPUSD")]),
    ]
    path = tmp_path / "md.fix"
    path.write_bytes(b"".join(messages))
    out = io.StringIO()
    summary = replay_file(path, "fix", 2, out, instrument="EURUSD")
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    assert rows == [
        ["1", "1.1002", "7", "1.1000", "5", "", "", "", ""],
        ["2", "", "", "1.1001", "3", "", "", "1.1000", "5"],
    ]
    assert summary.symbol == "EURUSD"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "itch50", "--instrument", "NOSUCH"], "no records of instrument 'NOSUCH'"),
        (["--format", "itch50", "--depth", "0"], "depth must be at least 1"),
        (["--format", "itch50", "--initial-book", "x.csv"], "--initial-book applies to"),
    ],
)
def test_bad_requests_exit_2_naming_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["book", "replay", str(TEST_VECTOR), "-o", str(tmp_path / "o.csv"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_or_orderbook_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = str(tmp_path / "o.csv")
    assert (
        main(["book", "replay", str(tmp_path / "none.itch"), "--format", "itch50", "-o", out]) == 2
    )
    assert "none.itch" in capsys.readouterr().err
    messages = tmp_path / "msg.csv"
    messages.write_text(LOBSTER_MESSAGES)
    argv = ["book", "replay", str(messages), "--format", "lobster", "-o", out]
    assert main([*argv, "--initial-book", str(tmp_path / "ob.csv")]) == 2
    assert "ob.csv" in capsys.readouterr().err


def test_rows_do_not_depend_on_where_batches_split_messages(tmp_path: Path) -> None:
    venue = Venue(seed=9)
    path = tmp_path / "cap.jsonl"
    with CaptureWriter(path) as writer:
        writer.write_snapshot("BTCUSDT", venue.snapshot(), 1)
        for t in range(30):
            writer.write(venue.step(), 2 + t)
    whole, split = io.StringIO(), io.StringIO()
    replay_file(path, "binance-capture", 3, whole)
    replay_file(path, "binance-capture", 3, split, batch=3)  # diffs cut across batches
    assert split.getvalue() == whole.getvalue()
    assert len(whole.getvalue().splitlines()) == 32
