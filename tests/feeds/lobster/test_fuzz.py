"""Fuzzing: random bytes and mutated valid files never crash the parser, every line is
either a record or quarantined, and every record is what an independent reading says."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import config

from tests.feeds.lobster import as_tuple, message_bytes, parse, reference, sample_messages

FUZZ = 40 if config.DISABLE_JIT else 200
VALID = message_bytes(sample_messages(30))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_against_reference(data: bytes, chunk_size: int) -> None:
    """Records are exactly the lines the reference accepts, with the same fields."""
    records, decoder = parse(data, chunk_size=chunk_size)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    expected = [(seq, reference(line)) for seq, line in enumerate(lines, 1)]
    expected = [(seq, fields) for seq, fields in expected if fields is not None]
    got = [(int(r["seq"]), as_tuple(r)) for r in records]
    assert got == expected
    assert decoder.quarantine.total == len(lines) - len(expected)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=600), chunk_size=st.sampled_from([1, 7, 64, 4096]))
def test_random_bytes(data, chunk_size):
    check_against_reference(data, chunk_size)


ALPHABET = b"0123456789,.-\n\r x"


@FUZZ_SETTINGS
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(VALID) - 1),
            st.sampled_from(["replace", "insert", "delete"]),
            st.sampled_from(list(ALPHABET)),
        ),
        min_size=1,
        max_size=8,
    ),
    chunk_size=st.sampled_from([1, 7, 64, 4096]),
)
def test_mutated_valid_file(edits, chunk_size):
    data = bytearray(VALID)
    for where, how, byte in edits:
        where = min(where, len(data) - 1)
        if how == "replace":
            data[where] = byte
        elif how == "insert":
            data.insert(where, byte)
        else:
            del data[where]
    check_against_reference(bytes(data), chunk_size)


@FUZZ_SETTINGS
@given(
    lines=st.lists(
        st.tuples(
            st.integers(0, 999_999_999),
            st.integers(0, 999_999_999),
            st.integers(1, 9),
            st.integers(1, 7),
            st.integers(-(10**18) + 1, 10**18 - 1),
            st.integers(0, 10**18 - 1),
            st.integers(-1, 1),
            st.sampled_from([1, -1]),
        ),
        max_size=20,
    )
)
def test_generated_lines_parse_exactly(lines):
    text = []
    for seconds, fraction, decimals, kind, order_id, size, halt, direction in lines:
        digits = str(fraction).rjust(9, "0")[:decimals]
        price = halt if kind == 7 else order_id // 7
        text.append(f"{seconds}.{digits},{kind},{order_id},{size},{price},{direction}\n")
    data = "".join(text).encode()
    records, decoder = parse(data, chunk_size=64)
    assert decoder.quarantine.total == 0
    assert [as_tuple(r) for r in records] == [reference(t.encode()[:-1]) for t in text]
    assert records["exchange_ns"].tolist() == [
        seconds * 10**9 + int(str(fraction).rjust(9, "0")[:decimals].ljust(9, "0"))
        for seconds, fraction, decimals, *_ in lines
    ]
