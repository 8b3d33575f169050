"""The compiled line parser: every field of every event type, exact times, chunking, bad lines."""

import numpy as np
import pytest

from lowlat.core.records import EventKind, Side
from lowlat.feeds import ErrorKind
from lowlat.feeds.lobster import FLAG_CROSS, FLAG_HIDDEN, HALT, QUOTE_RESUME, TRADING_RESUME
from lowlat.feeds.lobster.kernels import MAX_LINE
from tests.feeds.lobster import (
    Msg,
    as_tuple,
    message_bytes,
    parse,
    reference,
    sample_messages,
    time_ns,
)

SAMPLE = sample_messages(140)
DATA = message_bytes(SAMPLE)


def only_error(decoder) -> dict:
    report = decoder.quarantine.to_dict()
    assert len(report["counts"]) == 1, report
    return report


def test_every_field_of_every_type():
    records, decoder = parse(DATA, instrument=42)
    assert len(records) == len(SAMPLE) == decoder.lines
    assert decoder.quarantine.total == 0
    assert np.array_equal(records["seq"], np.arange(1, len(SAMPLE) + 1))
    kinds = {1: EventKind.ADD, 2: EventKind.CANCEL, 3: EventKind.DELETE, 4: EventKind.EXECUTE,
             5: EventKind.TRADE, 6: EventKind.TRADE, 7: EventKind.STATUS}  # fmt: skip
    for msg, rec in zip(SAMPLE, records, strict=True):
        assert rec["exchange_ns"] == time_ns(msg.time)
        assert rec["kind"] == kinds[msg.type]
        assert rec["order_id"] == msg.order_id
        assert rec["qty"] == msg.size
        assert rec["price"] == msg.price
        assert rec["side"] == (Side.BUY if msg.direction == 1 else Side.SELL)
        assert rec["flags"] == {5: FLAG_HIDDEN, 6: FLAG_CROSS}.get(msg.type, 0)
        assert rec["instrument"] == 42
        assert rec["lane"] == 0
    assert decoder.counts == {
        "submission": 20, "cancellation": 20, "deletion": 20, "execution_visible": 20,
        "execution_hidden": 20, "cross_trade": 20, "trading_halt": 20,
    }  # fmt: skip


def test_halt_codes_are_kept_in_price():
    data = message_bytes(
        [
            Msg("36000.5", 7, 0, 0, -1, -1),
            Msg("36001", 7, 0, 0, 0, -1),
            Msg("36002", 7, 0, 0, 1, -1),
        ]
    )
    records, _ = parse(data)
    assert records["price"].tolist() == [HALT, QUOTE_RESUME, TRADING_RESUME]
    assert (records["kind"] == EventKind.STATUS).all()


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0.000000001", 1),
        ("34200.000000001", 34_200_000_000_001),
        ("34200.1", 34_200_100_000_000),
        ("34200.12", 34_200_120_000_000),
        ("34713.685155243", 34_713_685_155_243),
        ("57599.999999999", 57_599_999_999_999),
        ("86399.999999999", 86_399_999_999_999),
        ("34200.123456789000", 34_200_123_456_789),  # zeros past 1 ns are exact
        ("999999999.999999999", 999_999_999_999_999_999),
    ],
)
def test_times_are_exact_to_the_nanosecond(text, ns):
    records, decoder = parse(f"{text},1,5,100,1000000,1\n".encode())
    assert decoder.quarantine.total == 0
    assert int(records["exchange_ns"][0]) == ns == time_ns(text)


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
@pytest.mark.parametrize("batch", [1, 5, 1000])
def test_chunk_boundaries_do_not_change_the_records(chunk_size, batch):
    expected, _ = parse(DATA)
    records, _ = parse(DATA, chunk_size=chunk_size, batch=batch)
    assert np.array_equal(records, expected)


def test_crlf_and_missing_final_newline():
    crlf = message_bytes(SAMPLE[:20], "\r\n")
    expected, _ = parse(message_bytes(SAMPLE[:20]))
    for data in (crlf, crlf[:-2], message_bytes(SAMPLE[:20])[:-1]):
        for chunk_size in (1, 7, 64):
            records, decoder = parse(data, chunk_size=chunk_size)
            assert decoder.quarantine.total == 0
            assert np.array_equal(records, expected)


BAD_LINES = [
    (b"34200.1,1,5,100,1000000", ErrorKind.BAD_FIELD),  # five columns
    (b"34200.1,1,5,100,1000000,1,7", ErrorKind.BAD_FIELD),  # seven columns
    (b"", ErrorKind.BAD_FIELD),  # blank line
    (b"Time,Type,OrderID,Size,Price,Direction", ErrorKind.BAD_FIELD),  # a header
    (b"34200.1,1,5,1e2,1000000,1", ErrorKind.BAD_FIELD),
    (b"34200.1,1,abc,100,1000000,1", ErrorKind.BAD_FIELD),
    (b"34200.1,1,5,100,100.5,1", ErrorKind.BAD_FIELD),  # price not in ticks
    (b"34200.1,1,5,-100,1000000,1", ErrorKind.BAD_FIELD),  # negative size
    (b"34200.1,1,5,100,1000000,0", ErrorKind.BAD_FIELD),  # direction
    (b"34200.1,1,5,100,1000000,2", ErrorKind.BAD_FIELD),
    (b"34200.1,1,5,100,1000000,", ErrorKind.BAD_FIELD),
    (b"34200.,1,5,100,1000000,1", ErrorKind.BAD_FIELD),  # no decimals after the point
    (b".5,1,5,100,1000000,1", ErrorKind.BAD_FIELD),
    (b"-34200.1,1,5,100,1000000,1", ErrorKind.BAD_FIELD),
    (b"34200.1234567891,1,5,100,1000000,1", ErrorKind.BAD_FIELD),  # finer than 1 ns
    (b"1234567890.5,1,5,100,1000000,1", ErrorKind.BAD_FIELD),  # too many seconds
    (b"34200.1,1,5,1234567890123456789,1000000,1", ErrorKind.BAD_FIELD),  # 19 digits
    (b" 34200.1,1,5,100,1000000,1", ErrorKind.BAD_FIELD),
    (b"34200.1,7,0,0,2,-1", ErrorKind.BAD_FIELD),  # no such halt code
    (b"34200.1,x,5,100,1000000,1", ErrorKind.BAD_FIELD),
    (b"34200.1,0,5,100,1000000,1", ErrorKind.UNKNOWN_TYPE),
    (b"34200.1,8,5,100,1000000,1", ErrorKind.UNKNOWN_TYPE),
    (b"34200.1,12,5,100,1000000,1", ErrorKind.UNKNOWN_TYPE),
]


@pytest.mark.parametrize(("line", "kind"), BAD_LINES)
def test_bad_line_is_quarantined_and_the_rest_parsed(line, kind):
    good = message_bytes(SAMPLE[:6])
    data = good[: good.index(b"\n", 60) + 1]  # two whole lines first
    head = data.count(b"\n")
    data += line + b"\n" + good
    for chunk_size in (1, 7, 64):
        records, decoder = parse(data, chunk_size=chunk_size)
        report = only_error(decoder)
        assert report["counts"] == {kind.name.lower(): 1}
        sample = report["samples"][kind.name.lower()][0]
        assert sample["sequence"] == head + 1
        assert sample["offset"] == len(data) - len(good) - len(line) - 1
        assert bytes.fromhex(sample["hex"]) == line[:64]
        assert sample["length"] == len(line)
        assert len(records) == head + 6
        assert reference(line) is None
        assert records["seq"].tolist() == [*range(1, head + 1), *range(head + 2, head + 8)]


def test_overlong_line_is_quarantined_once_and_skipped():
    long = b"34200.1,1,5,100,1000000,1" + b"9" * (3 * MAX_LINE)
    data = message_bytes(SAMPLE[:3]) + long + b"\n" + message_bytes(SAMPLE[3:6])
    for chunk_size in (1, 7, 64, 1 << 16):
        records, decoder = parse(data, chunk_size=chunk_size)
        report = only_error(decoder)
        assert report["counts"] == {"bad_length": 1}
        assert report["samples"]["bad_length"][0]["sequence"] == 4
        assert records["seq"].tolist() == [1, 2, 3, 5, 6, 7]
    records, decoder = parse(message_bytes(SAMPLE[:3]) + long)  # at the very end
    assert len(records) == 3 and decoder.quarantine.to_dict()["counts"] == {"bad_length": 1}


def test_line_of_max_length_is_parsed():
    line = b"034200.1" + b"0" * (MAX_LINE - 26) + b",1,5,100,1000000,1"
    assert len(line) == MAX_LINE
    for data in (line, line + b"\n", line[1:] + b"\r\n"):  # a CR counts
        for chunk_size in (1, 7, 64):
            records, decoder = parse(data, chunk_size=chunk_size)
            assert decoder.quarantine.total == 0
            assert records["exchange_ns"].tolist() == [34_200_100_000_000]
    _, decoder = parse(b"0" + line + b"\n")  # one byte more
    assert decoder.quarantine.to_dict()["counts"] == {"bad_length": 1}


def test_empty_input():
    records, decoder = parse(b"")
    assert len(records) == 0 and decoder.lines == 0


def test_reference_agrees_with_the_sample():
    records, _ = parse(DATA)
    lines = DATA.split(b"\n")[:-1]
    assert [as_tuple(r) for r in records] == [reference(line) for line in lines]


def test_decode_rejects_bad_sizes():
    import io

    from lowlat.feeds.lobster import LobsterDecoder, iter_stream

    with pytest.raises(ValueError, match="at least 1"):
        next(iter_stream(io.BytesIO(DATA), LobsterDecoder(), batch=0))
