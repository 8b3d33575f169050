import pytest

from lowlat.core.records import EventKind
from lowlat.feeds.fix import FLAG_LATE
from lowlat.feeds.fix.codec import (
    MDEntry,
    encode,
    heartbeat,
    incremental_refresh,
    sequence_reset,
)
from tests.feeds.fix import accounted, decode_all


def add(seq: int, px: str = "1", size: str = "1", **kw) -> bytes:
    return incremental_refresh(seq, [MDEntry("0", px, size, symbol="A")], **kw)


def errors(decoder) -> dict[str, int]:
    return decoder.report()["errors"]["counts"]


def test_a_wrong_body_length_is_quarantined_and_the_next_message_still_parses():
    good = add(1)
    body_length = int(good.split(b"\x019=")[1].split(b"\x01")[0])
    for wrong in (body_length - 1, body_length + 3, 9_999_999):
        bad = incremental_refresh(1, [MDEntry("0", "1", "1", symbol="A")]).replace(
            b"9=%d" % body_length, b"9=%d" % wrong
        )
        records, decoder = decode_all(bad + add(2, "2"))
        assert list(records["price"]) == [20_000], wrong
        assert errors(decoder) == {"bad_body_length": 1}  # seq 2 opens the session: no gap
        assert decoder.quarantine.meta[5, 0, 1] == len(bad)  # the whole bad message
        assert accounted(decoder)


def test_a_non_numeric_body_length_is_bad_body_length():
    bad = add(1).replace(b"9=", b"9=x", 1)
    records, decoder = decode_all(bad + add(2))
    assert len(records) == 1 and errors(decoder)["bad_body_length"] == 1


def test_a_wrong_checksum_is_quarantined_and_the_next_message_still_parses():
    bad = encode("X", [(34, 1), (268, 1), (279, 0), (269, 0), (55, "A"), (270, 1)], check=0)
    if bad == encode("X", [(34, 1), (268, 1), (279, 0), (269, 0), (55, "A"), (270, 1)]):
        bad = encode("X", [(34, 1), (268, 1), (279, 0), (269, 0), (55, "A"), (270, 1)], check=1)
    garbled = encode("X", [(34, 2)], check="1x3")
    records, decoder = decode_all(bad + garbled + add(3, "3"))
    assert list(records["price"]) == [30_000]
    assert errors(decoder) == {"bad_checksum": 2}
    assert accounted(decoder)


def test_a_quarantined_message_leaves_a_counted_gap():
    records, decoder = decode_all(add(1) + add(2, "x") + add(3))
    assert list(records["seq"]) == [1, 3]
    assert errors(decoder) == {"bad_field": 1, "sequence_gap": 1}


def test_a_truncated_tail_is_quarantined_as_truncated():
    stream = add(1) + add(2)[:-9]
    records, decoder = decode_all(stream)
    assert len(records) == 1
    assert errors(decoder) == {"truncated": 1}
    assert decoder.report()["bytes_quarantined"] == len(add(2)) - 9
    assert accounted(decoder)


def test_a_message_cut_short_by_the_next_header_is_truncated():
    records, decoder = decode_all(add(1)[:40] + add(2))
    assert list(records["seq"]) == [2]
    assert errors(decoder) == {"truncated": 1}
    assert accounted(decoder)


@pytest.mark.parametrize(
    ("px", "size"),
    [
        ("1.00001", "1"),
        ("abc", "1"),
        ("1.2.3", "1"),
        ("", "1"),
        ("-", "1"),
        ("1", "1.5"),
        ("1", "x"),
        ("1", "-3"),
        ("123456789012345", "1"),
    ],
)
def test_prices_and_sizes_that_are_not_exact_numbers_are_bad_fields(px, size):
    records, decoder = decode_all(add(1, px, size) + add(2))
    assert list(records["seq"]) == [2]
    assert errors(decoder) == {"bad_field": 1}
    assert accounted(decoder)


@pytest.mark.parametrize(
    ("px", "ticks"),
    [("1.23450", 12_345), ("0.0001", 1), (".5", 5_000), ("7.", 70_000), ("-2.5", -25_000)],
)
def test_prices_with_at_most_tick_precision_are_exact(px, ticks):
    records, _ = decode_all(add(1, px, "10.000"))
    assert records[0]["price"] == ticks and records[0]["qty"] == 10


@pytest.mark.parametrize(
    "fields",
    [
        [(34, 1), (268, 2), (279, 0), (269, 0), (55, "A"), (270, 1)],  # fewer entries than said
        [(34, 1), (268, 1), (279, 7), (269, 0), (55, "A"), (270, 1)],  # bad MDUpdateAction
        [(34, 1), (268, 1), (279, 0), (269, "Z"), (55, "A"), (270, 1)],  # bad MDEntryType
        [(34, 1), (268, 1), (279, 0), (269, 0), (55, "A")],  # an ADD without a price
        [(34, 1), (268, 1), (279, 0), (269, 0), (270, 1)],  # no symbol
        [(34, 1), (279, 0), (269, 0), (55, "A"), (270, 1)],  # no NoMDEntries
        [(268, 1), (279, 0), (269, 0), (55, "A"), (270, 1)],  # no MsgSeqNum
        [(34, 1), (52, "2024-01-02 14:30"), (268, 0)],  # bad SendingTime
    ],
)
def test_malformed_market_data_is_bad_field(fields):
    records, decoder = decode_all(encode("X", fields) + add(2))
    assert list(records["seq"]) == [2]
    assert errors(decoder) == {"bad_field": 1}


def test_msg_type_must_come_first_and_long_types_are_unknown():
    not_first = b"8=FIX.4.4\x019=10\x0134=1\x0135=X\x01"
    not_first += b"10=%03d\x01" % (sum(not_first) % 256)
    records, decoder = decode_all(not_first + encode("XYZ", [(34, 2)]) + add(3))
    assert list(records["seq"]) == [3]
    assert errors(decoder) == {"bad_field": 1, "unknown_type": 1}


def test_garbage_between_messages_is_one_quarantined_run():
    records, decoder = decode_all(b"hello world" + add(1) + b"\x00\xff junk" + add(2))
    assert list(records["seq"]) == [1, 2]
    assert errors(decoder) == {"bad_field": 2}
    assert decoder.report()["bytes_quarantined"] == 11 + 7
    assert accounted(decoder)


def test_sequence_gaps_duplicates_and_late_messages_are_counted():
    stream = b"".join(
        [add(1), add(2), add(5), add(5, "9"), add(3, "3"), add(3, "8"), heartbeat(6), add(7)]
    )
    records, decoder = decode_all(stream)
    assert list(records["seq"]) == [1, 2, 5, 3, 7]
    assert records[3]["price"] == 30_000 and records[3]["flags"] & FLAG_LATE
    assert errors(decoder) == {"sequence_gap": 2, "duplicate": 2, "out_of_order": 1}
    assert decoder.report()["messages"] == 8  # duplicates are counted, not decoded
    assert accounted(decoder)


def test_sessions_are_tracked_separately():
    stream = add(1, sender="A") + add(1, sender="B") + add(2, sender="A") + add(2, sender="B")
    records, decoder = decode_all(stream)
    assert len(records) == 4 and errors(decoder) == {}
    assert decoder.report()["sessions"] == 2


def test_a_gap_fill_sequence_reset_moves_the_expected_number_without_a_gap():
    stream = add(1) + sequence_reset(2, 10) + add(10) + sequence_reset(99, 20, gap_fill=False)
    stream += add(20)
    records, decoder = decode_all(stream)
    assert list(records["seq"]) == [1, 10, 20] and errors(decoder) == {}
    assert decoder.counts() == {"4": 2, "X": 3}


def test_logon_with_reset_seq_num_flag_restarts_the_session():
    logon = encode("A", [(49, "VENUE"), (56, "CLIENT"), (34, 1), (141, "Y")])
    records, decoder = decode_all(add(1) + add(2) + logon + add(2))
    assert list(records["seq"]) == [1, 2, 2] and errors(decoder) == {}
    assert [EventKind(k) for k in records["kind"]] == [EventKind.ADD] * 3
