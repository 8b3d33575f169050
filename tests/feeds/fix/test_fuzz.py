from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowlat.feeds.fix.codec import MDEntry, heartbeat, incremental_refresh, snapshot_refresh
from tests.feeds.fix import INTERPRETED, accounted, decode_all

EXAMPLES = 100 if INTERPRETED else 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = b"".join(
    [
        snapshot_refresh(1, "ES", [MDEntry("0", "4500.25", "3"), MDEntry("1", "4500.5", "4")]),
        b"\n",
        incremental_refresh(2, [MDEntry("0", "1.5", "2", id="a1", symbol="ES")]),
        heartbeat(3),
        incremental_refresh(
            4,
            [
                MDEntry("1", "2", "1", action="1", id="7", symbol="NQ"),
                MDEntry(None, None, None, action="2", id="7"),
            ],
        ),
    ]
)


def check(data: bytes, chunk: int) -> None:
    whole, reference = decode_all(data)
    pieces, decoder = decode_all(data, chunk=chunk)
    assert accounted(reference) and accounted(decoder)
    assert (whole == pieces).all() and len(whole) == len(pieces)
    assert decoder.report() == reference.report()


@FUZZ
@given(st.binary(max_size=400), st.integers(1, 64))
def test_random_bytes_never_crash_and_every_byte_is_accounted(data, chunk):
    check(data, chunk)


@st.composite
def mutated(draw):
    data = bytearray(VALID * draw(st.integers(1, 2)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=12))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 20))]
        else:
            del data[where:]
    return bytes(data)


@FUZZ
@given(mutated(), st.integers(1, 97))
def test_mutated_streams_never_crash_and_chunking_does_not_change_the_result(data, chunk):
    check(data, chunk)


@FUZZ
@given(
    st.lists(
        st.sampled_from([b"8=FIX.4.4\x01", b"9=", b"10=", b"\x01", b"35=X", b"\n", b"1"]),
        max_size=40,
    )
)
def test_fragments_of_fix_syntax_never_crash(parts):
    check(b"".join(parts), 5)
