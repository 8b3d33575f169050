import numpy as np
import pytest
import simplefix

from lowlat.core.records import EventKind, Side
from lowlat.feeds.fix import (
    FLAG_BOOK_START,
    FLAG_LAST_IN_MESSAGE,
    FixDecoder,
    SymbolTable,
)
from lowlat.feeds.fix import kernels as k
from lowlat.feeds.fix.codec import (
    MDEntry,
    encode,
    heartbeat,
    incremental_refresh,
    snapshot_refresh,
)
from tests.feeds.fix import accounted, decode_all

T0_NS = 1_704_205_800_123_000_000  # 2024-01-02 14:30:00.123 UTC


def fnv1a_reference(raw: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in raw:
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return h - (1 << 64) if h >= 1 << 63 else h


def test_snapshot_entries_become_snapshot_records_with_a_book_start_flag():
    msg = snapshot_refresh(
        7,
        "AAPL",
        [MDEntry("0", "101.25", "100", id="11"), MDEntry("1", "101.2501", "200")],
    )
    records, decoder = decode_all(msg)
    assert len(records) == 2
    first, second = records
    assert first["kind"] == EventKind.SNAPSHOT and second["kind"] == EventKind.SNAPSHOT
    assert (first["side"], second["side"]) == (Side.BUY, Side.SELL)
    assert (first["price"], second["price"]) == (1_012_500, 1_012_501)
    assert (first["qty"], second["qty"]) == (100, 200)
    assert (first["order_id"], second["order_id"]) == (11, 0)
    assert first["seq"] == 7 and first["exchange_ns"] == T0_NS
    assert first["flags"] == FLAG_BOOK_START and second["flags"] == FLAG_LAST_IN_MESSAGE
    assert decoder.symbols.name(int(first["instrument"])) == "AAPL"
    assert decoder.counts() == {"W": 1} and accounted(decoder)


def test_incremental_actions_map_to_add_replace_delete_and_trade():
    msg = incremental_refresh(
        3,
        [
            MDEntry("0", "10", "5", action="0", id="1", symbol="MSFT"),
            MDEntry("1", "10.5", "6", action="1", id="2", ref_id="1"),
            MDEntry(None, None, None, action="2", id="ord-9"),
            MDEntry("2", "-0.75", "7", action="0", symbol="IBM"),
            MDEntry("1", "11", "8", action="1", id="4"),
        ],
    )
    records, decoder = decode_all(msg)
    kinds = [EventKind(x) for x in records["kind"]]
    assert kinds == [
        EventKind.ADD,
        EventKind.REPLACE,
        EventKind.DELETE,
        EventKind.TRADE,
        EventKind.REPLACE,
    ]
    assert list(records["side"]) == [Side.BUY, Side.SELL, Side.NONE, Side.NONE, Side.SELL]
    assert list(records["price"]) == [100_000, 105_000, 0, -7_500, 110_000]
    assert list(records["qty"]) == [5, 6, 0, 7, 8]
    # REPLACE with MDEntryRefID: order_id is the old entry, aux the new one (ITCH style)
    assert (records["order_id"][1], records["aux"][1]) == (1, 2)
    assert (records["order_id"][4], records["aux"][4]) == (4, 4)
    assert records["order_id"][2] == fnv1a_reference(b"ord-9")
    names = [decoder.symbols.name(int(i)) for i in records["instrument"]]
    assert names == ["MSFT", "MSFT", "MSFT", "IBM", "IBM"]  # a symbol carries forward
    assert list(records["flags"]) == [0, 0, 0, 0, FLAG_LAST_IN_MESSAGE]
    assert set(records["seq"]) == {3}


def test_a_snapshot_then_increments_decode_end_to_end_with_session_messages_skipped():
    stream = b"".join(
        [
            encode("A", [(49, "VENUE"), (56, "CLIENT"), (34, 1), (98, 0), (108, 30)]),
            b"\r\n",
            snapshot_refresh(2, "ES", [MDEntry("0", "4500.25", "3"), MDEntry("1", "4500.5", "4")]),
            b"\n",
            heartbeat(3),
            incremental_refresh(4, [MDEntry("0", "4500.5", "1", action="0", symbol="ES")]),
            incremental_refresh(5, [MDEntry("1", "4500.75", "9", action="0", symbol="NQ")]),
        ]
    )
    records, decoder = decode_all(stream)
    assert list(records["seq"]) == [2, 2, 4, 5]
    assert list(records["kind"]) == [EventKind.SNAPSHOT] * 2 + [EventKind.ADD] * 2
    assert decoder.symbols.names() == ["ES", "NQ"]
    report = decoder.report()
    assert report["counts"] == {"A": 1, "0": 1, "W": 1, "X": 2}
    assert report["messages"] == 5 and report["entries"] == 4
    assert report["errors"]["counts"] == {}
    assert accounted(decoder)


def test_an_empty_snapshot_still_emits_a_book_clearing_marker():
    msg = snapshot_refresh(1, "AAPL", [MDEntry("2", "100", "5")])  # only a last-trade entry
    records, decoder = decode_all(msg)
    assert len(records) == 1
    assert records[0]["kind"] == EventKind.SNAPSHOT and records[0]["side"] == Side.NONE
    assert records[0]["flags"] == FLAG_BOOK_START | FLAG_LAST_IN_MESSAGE
    assert decoder.report()["entries_ignored"] == 1


def test_entry_types_without_book_meaning_are_skipped_and_counted():
    msg = incremental_refresh(
        1,
        [
            MDEntry("6", "99", "0", action="0", symbol="A"),
            MDEntry("0", "99", "1", action="0"),
        ],
    )
    records, decoder = decode_all(msg)
    assert len(records) == 1 and records[0]["side"] == Side.BUY
    assert decoder.report()["entries_ignored"] == 1


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("20240102-14:30:00", T0_NS - 123_000_000),
        ("20240102-14:30:00.123456", T0_NS + 456_000),
        ("20240102-14:30:00.123456789", T0_NS + 456_789),
        ("19700101-00:00:00", 0),
        ("20000229-23:59:59.999", 951_868_799_999_000_000),
    ],
)
def test_sending_time_is_parsed_to_utc_nanoseconds(text, ns):
    msg = incremental_refresh(1, [MDEntry("0", "1", "1", symbol="A")], sending_time=text)
    records, _ = decode_all(msg)
    assert records[0]["exchange_ns"] == ns


def test_entry_ids_are_numbers_when_numeric_and_fnv1a_hashes_otherwise():
    ids = ["0", "123456789012345678", "1234567890123456789", "abc", "X-1"]
    msg = incremental_refresh(1, [MDEntry("0", "1", "1", id=i, symbol="A") for i in ids])
    records, _ = decode_all(msg)
    expected = [0, 123456789012345678] + [fnv1a_reference(i.encode()) for i in ids[2:]]
    assert list(records["order_id"]) == expected


def test_a_preloaded_symbol_table_fixes_ids_and_refuses_unknown_symbols():
    table = SymbolTable(["MSFT", "AAPL"], learn=False)
    stream = incremental_refresh(1, [MDEntry("0", "1", "1", symbol="AAPL")]) + incremental_refresh(
        2, [MDEntry("0", "1", "1", symbol="TSLA")]
    )
    records, decoder = decode_all(stream, decoder=FixDecoder(symbols=table))
    assert list(records["instrument"]) == [1]
    assert decoder.report()["errors"]["counts"] == {"bad_field": 1}
    assert accounted(decoder)


def test_symbols_longer_than_the_table_allows_are_bad_fields():
    long_symbol = "S" * (k.SYMBOL_BYTES + 1)
    records, decoder = decode_all(
        incremental_refresh(1, [MDEntry("0", "1", "1", symbol=long_symbol)])
    )
    assert len(records) == 0
    assert decoder.report()["errors"]["counts"] == {"bad_field": 1}


def test_output_batches_smaller_than_the_stream_still_deliver_every_record():
    stream = b"".join(
        incremental_refresh(s, [MDEntry("0", str(s), "1", symbol="A")] * 3) for s in range(1, 21)
    )
    records, decoder = decode_all(stream, decoder=FixDecoder(batch=4))
    assert len(records) == 60
    assert list(records["price"][::3]) == [s * 10_000 for s in range(1, 21)]
    # a message with more entries than a whole batch cannot be delivered: quarantined
    big = incremental_refresh(21, [MDEntry("0", "1", "1", symbol="A")] * 5)
    records, decoder = decode_all(big, decoder=FixDecoder(batch=4))
    assert len(records) == 0 and decoder.report()["errors"]["counts"] == {"bad_field": 1}


def _random_entries(rng: np.random.Generator) -> list[MDEntry]:
    entries = []
    for _ in range(int(rng.integers(1, 5))):
        entries.append(
            MDEntry(
                type=str(rng.integers(0, 3)),
                px=f"{rng.integers(1, 100_000)}.{rng.integers(0, 10_000):04d}",
                size=str(rng.integers(1, 10_000)),
                action=str(rng.integers(0, 2)),
                id=str(rng.integers(1, 1 << 40)),
                symbol=["AAPL", "MSFT", "ES"][int(rng.integers(0, 3))],
            )
        )
    return entries


def test_fields_agree_with_simplefix_on_generated_messages():
    rng = np.random.default_rng(44)
    messages = [incremental_refresh(s, _random_entries(rng)) for s in range(1, 201)]
    records, decoder = decode_all(b"".join(messages))
    parser = simplefix.FixParser()
    parser.append_buffer(b"".join(messages))
    expected = []
    while (msg := parser.get_message()) is not None:
        seq = int(msg.get(34))
        for n in range(1, int(msg.get(268)) + 1):
            expected.append(
                (
                    seq,
                    int(msg.get(279, n)),
                    int(msg.get(269, n)),
                    int(msg.get(278, n)),
                    msg.get(55, n).decode(),
                    round(float(msg.get(270, n)) * 10_000),
                    int(msg.get(271, n)),
                )
            )
    ours = []
    for r in records:
        side = {Side.BUY: 0, Side.SELL: 1}.get(int(r["side"]), 2)
        action = {EventKind.ADD: 0, EventKind.REPLACE: 1}.get(int(r["kind"]), 0)
        ours.append(
            (
                int(r["seq"]),
                action,
                side,
                int(r["order_id"]),
                decoder.symbols.name(int(r["instrument"])),
                int(r["price"]),
                int(r["qty"]),
            )
        )
    # trades map to TRADE whatever the action: compare actions for book entries only
    for got, want in zip(ours, expected, strict=True):
        if want[2] == 2:
            want = (*want[:1], 0, *want[2:])
        assert got == want


def test_fnv1a_matches_the_reference_definition():
    for raw in [b"", b"a", b"abc", bytes(range(256)), b"\xff" * 40]:
        data = np.frombuffer(bytearray(raw), np.uint8) if raw else np.zeros(0, np.uint8)
        assert k.fnv1a(data, 0, len(raw)) == fnv1a_reference(raw)
