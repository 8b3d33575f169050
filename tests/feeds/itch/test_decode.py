import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.itch import FLAG_PRINTABLE, MESSAGE_LENGTHS, TYPE_MASK, ItchDecoder, spec
from lowlat.feeds.itch.spec import pack_alpha, unpack_alpha
from tests.feeds.itch import BODY_FORMATS, message, prefixed

TS = 0x0A30_478F_8F96  # 6-byte timestamp, ns after midnight
MATCH = 0x0102_0304_0506_0708
ORDER = 0x7000_0000_0000_0001

# letter: (body values, expected record fields other than seq/exchange_ns/instrument/flags)
CASES = {
    "S": ((b"O",), {"kind": EventKind.STATUS, "aux": ord("O")}),
    "R": (
        (b"ALC     ", b"N", b"D", 100, b"N", b"C", b"Z ", b"P", b"N", b"Y", b"1", b"N", 3, b"Y"),
        {
            "kind": EventKind.REFERENCE,
            "aux": pack_alpha("ALC     "),
            "qty": 100,
            "order_id": pack_alpha("ND" + "NCZ " + "PN"),
        },
    ),
    "H": (
        (b"BOB     ", b"H", b" ", b"LUDP"),
        {"kind": EventKind.STATUS, "aux": ord("H"), "order_id": pack_alpha("LUDP")},
    ),
    "Y": ((b"BOB     ", b"1"), {"kind": EventKind.STATUS, "aux": ord("1")}),
    "L": (
        (b"GSCO", b"BOB     ", b"Y", b"N", b"A"),
        {"kind": EventKind.REFERENCE, "aux": pack_alpha("GSCO"), "order_id": pack_alpha("YNA")},
    ),
    "V": (
        (1_234_567_800_000_000, 2_000_000_000_000, 3_000_000_012_345),
        {
            "kind": EventKind.STATUS,
            "price": 123_456_780_000,
            "qty": 200_000_000,
            "aux": 300_000_001,
        },
    ),
    "W": ((b"2",), {"kind": EventKind.STATUS, "aux": ord("2")}),
    "K": (
        (b"CHAR    ", 36_000, b"A", 215_000),
        {"kind": EventKind.REFERENCE, "aux": 36_000, "order_id": ord("A"), "price": 215_000},
    ),
    "J": (
        (b"CHAR    ", 100_000, 110_000, 90_000, 2),
        {
            "kind": EventKind.REFERENCE,
            "price": 100_000,
            "order_id": 110_000,
            "aux": 90_000,
            "qty": 2,
        },
    ),
    "h": (
        (b"CHAR    ", b"Q", b"H"),
        {"kind": EventKind.STATUS, "aux": ord("H"), "order_id": ord("Q")},
    ),
    "A": (
        (ORDER, b"B", 300, b"ALC     ", 1_234_500),
        {
            "kind": EventKind.ADD,
            "order_id": ORDER,
            "side": Side.BUY,
            "qty": 300,
            "price": 1_234_500,
            "aux": 0,
        },
    ),
    "F": (
        (ORDER, b"S", 5, b"ALC     ", 99, b"NSDQ"),
        {
            "kind": EventKind.ADD,
            "order_id": ORDER,
            "side": Side.SELL,
            "qty": 5,
            "price": 99,
            "aux": pack_alpha("NSDQ"),
        },
    ),
    "E": (
        (ORDER, 40, MATCH),
        {"kind": EventKind.EXECUTE, "order_id": ORDER, "qty": 40, "aux": MATCH, "price": 0},
    ),
    "C": (
        (ORDER, 40, MATCH, b"Y", 1_000_100),
        {"kind": EventKind.EXECUTE, "order_id": ORDER, "qty": 40, "aux": MATCH, "price": 1_000_100},
    ),
    "X": ((ORDER, 17), {"kind": EventKind.CANCEL, "order_id": ORDER, "qty": 17}),
    "D": ((ORDER,), {"kind": EventKind.DELETE, "order_id": ORDER, "qty": 0}),
    "U": (
        (ORDER, ORDER + 9, 250, 4_321),
        {
            "kind": EventKind.REPLACE,
            "order_id": ORDER,
            "aux": ORDER + 9,
            "qty": 250,
            "price": 4_321,
        },
    ),
    "P": (
        (0, b"S", 700, b"BOB     ", 555_500, MATCH),
        {
            "kind": EventKind.TRADE,
            "order_id": 0,
            "side": Side.SELL,
            "qty": 700,
            "price": 555_500,
            "aux": MATCH,
        },
    ),
    "Q": (
        (5_000_000_000, b"BOB     ", 777_700, MATCH, b"O"),
        {
            "kind": EventKind.TRADE,
            "qty": 5_000_000_000,
            "price": 777_700,
            "aux": MATCH,
            "order_id": ord("O"),
            "side": Side.NONE,
        },
    ),
    "B": ((MATCH,), {"kind": EventKind.BROKEN_TRADE, "aux": MATCH}),
    "I": (
        (6_000_000_000, 1_500, b"S", b"BOB     ", 100, 200, 300, b"C", b"L"),
        {
            "kind": EventKind.IMBALANCE,
            "order_id": 6_000_000_000,
            "qty": 1_500,
            "side": Side.SELL,
            "price": 300,
            "aux": 200,
        },
    ),
    "N": ((b"BOB     ", b"B"), {"kind": EventKind.IMBALANCE, "aux": ord("B")}),
    "O": (
        (b"CHAR    ", b"Y", 1, 2, 303_000, 34_200_000_000_000, 4, 5),
        {
            "kind": EventKind.REFERENCE,
            "order_id": ord("Y"),
            "price": 303_000,
            "aux": 34_200_000_000_000,
        },
    ),
}


def decode(data: bytes, framing: str = "length-prefixed") -> tuple[np.ndarray, ItchDecoder]:
    decoder = ItchDecoder(framing)
    out = np.zeros(64, MARKET_EVENT_DTYPE)
    _, n = decoder.decode(np.frombuffer(data, np.uint8), out)
    return out[:n], decoder


def test_every_message_type_has_a_case_and_the_spec_length():
    assert set(CASES) == set(MESSAGE_LENGTHS) == set(BODY_FORMATS)
    assert len(MESSAGE_LENGTHS) == 23


@pytest.mark.parametrize("letter", list(CASES))
def test_each_message_type_decodes_to_its_documented_record_fields(letter):
    body, expected = CASES[letter]
    records, decoder = decode(prefixed(message(letter, *body, locate=42, ts=TS)))
    assert len(records) == 1 and decoder.quarantine.total == 0
    rec = records[0]
    assert rec["seq"] == 1 and rec["recv_ns"] == 0 and rec["lane"] == 0
    assert rec["exchange_ns"] == TS and rec["instrument"] == 42
    assert rec["flags"] & TYPE_MASK == ord(letter)
    assert rec["kind"] == spec.KIND_OF[letter]
    for field, value in expected.items():
        assert rec[field] == value, (letter, field)
    assert decoder.counts == {letter: 1}


def test_printable_flag_is_set_only_on_printable_executions_with_price():
    body = list(CASES["C"][0])
    printable, _ = decode(prefixed(message("C", *body)))
    body[3] = b"N"
    silent, _ = decode(prefixed(message("C", *body)))
    assert printable[0]["flags"] == ord("C") | FLAG_PRINTABLE
    assert silent[0]["flags"] == ord("C")


def test_stock_directory_fills_the_symbol_table_by_locate():
    body = CASES["R"][0]
    _, decoder = decode(prefixed(message("R", *body, locate=513)))
    assert decoder.symbol(513) == "ALC"
    assert decoder.symbol(514) == ""
    assert bytes(decoder.symbols[513]) == b"ALC     "


def test_imbalance_without_a_side_maps_to_no_side():
    body = list(CASES["I"][0])
    body[2] = b"N"
    records, _ = decode(prefixed(message("I", *body)))
    assert records[0]["side"] == Side.NONE


def test_sequence_numbers_count_decoded_messages_from_one():
    data = b"".join(prefixed(message(k, *CASES[k][0])) for k in "SADXE")
    records, decoder = decode(data)
    assert list(records["seq"]) == [1, 2, 3, 4, 5]
    assert decoder.messages == 5


def test_largest_unsigned_fields_keep_their_bit_pattern():
    records, _ = decode(prefixed(message("E", 2**64 - 1, 2**32 - 1, 2**63)))
    assert records[0]["order_id"] == -1
    assert records[0]["qty"] == 2**32 - 1
    assert records[0]["aux"] == -(2**63)


def test_alpha_packing_round_trips():
    assert unpack_alpha(pack_alpha("ALC     "), 8) == "ALC"
    assert pack_alpha(b"NSDQ") == 0x4E53_4451
