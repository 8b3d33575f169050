import io
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds import ErrorKind
from lowlat.feeds.itch import LENGTH_PREFIXED, TYPE_FRAMED, ItchDecoder, iter_stream
from tests.feeds.itch import message, prefixed, vector_messages, zero_prefixed

ADD = message("A", 11, b"B", 100, b"ALC     ", 1_000)
DELETE = message("D", 11)
JIT_OFF = os.environ.get("NUMBA_DISABLE_JIT") == "1"
FUZZ = 40 if JIT_OFF else 300
SOURCE = vector_messages(60)


def run(data: bytes, framing: str, chunk_size: int = 1 << 16):
    decoder = ItchDecoder(framing)
    batches = list(iter_stream(io.BytesIO(data), decoder, chunk_size=chunk_size, batch=32))
    records = np.concatenate(batches) if batches else np.zeros(0, MARKET_EVENT_DTYPE)
    # every byte is either in a record or in the quarantine
    assert decoder.bytes_read == len(data)
    assert decoder.bytes_decoded + decoder.bytes_quarantined == len(data)
    assert len(records) == decoder.messages
    if len(records):
        assert np.array_equal(records["seq"], np.arange(1, len(records) + 1))
    return records, decoder


def only_error(decoder: ItchDecoder) -> dict:
    report = decoder.quarantine.to_dict()
    assert len(report["counts"]) == 1, report
    return report


def test_truncated_last_message_is_quarantined_with_its_bytes():
    data = prefixed(ADD) + prefixed(DELETE)[:9]
    records, decoder = run(data, LENGTH_PREFIXED, chunk_size=5)
    report = only_error(decoder)
    assert len(records) == 1 and report["counts"] == {"truncated": 1}
    sample = report["samples"]["truncated"][0]
    assert sample["offset"] == len(prefixed(ADD)) and sample["length"] == 9
    assert bytes.fromhex(sample["hex"]) == prefixed(DELETE)[:9]
    assert sample["sequence"] == 2


def test_truncated_tail_in_type_framed_mode_is_quarantined():
    records, decoder = run(zero_prefixed(ADD) + zero_prefixed(DELETE)[:-1], TYPE_FRAMED)
    assert len(records) == 1 and only_error(decoder)["counts"] == {"truncated": 1}
    assert decoder.bytes_quarantined == len(DELETE) + 1


def test_unknown_type_with_a_prefix_is_skipped_by_the_prefix():
    bogus = b"Z" + bytes(20)
    records, decoder = run(prefixed(ADD) + prefixed(bogus) + prefixed(DELETE), LENGTH_PREFIXED)
    report = only_error(decoder)
    assert list(records["flags"]) == [ord("A"), ord("D")]
    assert report["counts"] == {"unknown_type": 1}
    assert bytes.fromhex(report["samples"]["unknown_type"][0]["hex"]) == prefixed(bogus)


def test_prefix_disagreeing_with_the_type_length_is_bad_length_and_skipped():
    lying = b"\x00\x14" + ADD[:20]  # an A message cannot be 20 bytes
    records, decoder = run(prefixed(DELETE) + lying + prefixed(DELETE), LENGTH_PREFIXED)
    assert len(records) == 2 and only_error(decoder)["counts"] == {"bad_length": 1}
    assert decoder.bytes_quarantined == 22


def test_zero_length_prefix_in_length_prefixed_mode_is_bad_length():
    records, decoder = run(b"\x00\x00" + prefixed(DELETE), LENGTH_PREFIXED)
    assert len(records) == 1 and only_error(decoder)["counts"] == {"bad_length": 1}


def test_impossible_side_is_a_bad_field_and_no_record():
    bad = message("A", 11, b"Q", 100, b"ALC     ", 1_000)
    trade = message("P", 0, b"x", 1, b"ALC     ", 1, 1)
    data = b"".join(prefixed(m) for m in (bad, DELETE, trade))
    records, decoder = run(data, LENGTH_PREFIXED)
    assert len(records) == 1 and only_error(decoder)["counts"] == {"bad_field": 2}
    sample = decoder.quarantine.to_dict()["samples"]["bad_field"][0]
    assert bytes.fromhex(sample["hex"]) == prefixed(bad)


def test_type_framed_garbage_is_quarantined_and_decoding_resyncs():
    garbage = b"\xff\x01\x02garbage!"
    data = zero_prefixed(ADD) + garbage + zero_prefixed(DELETE) + zero_prefixed(ADD)
    records, decoder = run(data, TYPE_FRAMED, chunk_size=4)
    assert list(records["flags"]) == [ord("A"), ord("D"), ord("A")]
    assert decoder.quarantine.counts[ErrorKind.UNKNOWN_TYPE] >= 1
    assert decoder.bytes_quarantined == len(garbage)
    sample = decoder.quarantine.to_dict()["samples"]["unknown_type"][0]
    assert sample["offset"] == len(zero_prefixed(ADD))


def test_type_framed_garbage_to_the_end_is_all_quarantined():
    records, decoder = run(zero_prefixed(DELETE) + b"\x01" * 1000, TYPE_FRAMED, chunk_size=64)
    assert len(records) == 1 and decoder.bytes_quarantined == 1000
    assert set(decoder.quarantine.to_dict()["counts"]) == {"unknown_type"}


stream_parts = st.lists(st.sampled_from(SOURCE), min_size=0, max_size=25)


def mutate(data: bytes, draw) -> bytes:
    """Truncate, flip bytes or insert garbage somewhere in ``data``."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "insert", "truncate", "delete"]))
        at = draw(st.integers(0, len(buf)))
        if action == "flip" and at < len(buf):
            buf[at] = draw(st.integers(0, 255))
        elif action == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=30))
        elif action == "truncate":
            del buf[at:]
        elif action == "delete":
            del buf[at : at + draw(st.integers(1, 10))]
    return bytes(buf)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), framing=st.sampled_from([LENGTH_PREFIXED, TYPE_FRAMED]),
       chunk=st.integers(1, 64))  # fmt: skip
def test_random_bytes_never_crash_and_every_byte_is_accounted_for(data, framing, chunk):
    run(data, framing, chunk_size=chunk)


@settings(max_examples=FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=stream_parts, framing=st.sampled_from([LENGTH_PREFIXED, TYPE_FRAMED]),
       chunk=st.integers(1, 200), draw=st.data())  # fmt: skip
def test_mutated_valid_streams_never_crash_and_every_byte_is_accounted_for(
    parts, framing, chunk, draw
):
    wrap = prefixed if framing == LENGTH_PREFIXED else zero_prefixed
    clean = b"".join(wrap(m) for m in parts)
    records, decoder = run(mutate(clean, draw.draw), framing, chunk_size=chunk)
    assert len(records) <= len(parts) + 30  # garbage may happen to frame as a message
    assert decoder.quarantine.counts.min() >= 0


@settings(max_examples=FUZZ // 2, deadline=None)
@given(parts=stream_parts, framing=st.sampled_from([LENGTH_PREFIXED, TYPE_FRAMED]),
       chunk=st.integers(1, 200))  # fmt: skip
def test_clean_streams_decode_fully_whatever_the_chunking(parts, framing, chunk):
    wrap = prefixed if framing == LENGTH_PREFIXED else zero_prefixed
    records, decoder = run(b"".join(wrap(m) for m in parts), framing, chunk_size=chunk)
    assert len(records) == len(parts) and decoder.quarantine.total == 0
    assert [chr(f) for f in records["flags"] & 0x7F] == [chr(m[0]) for m in parts]
