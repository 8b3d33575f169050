import gzip
import io
import json

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.feeds.itch import (
    LENGTH_PREFIXED,
    TYPE_FRAMED,
    ItchDecoder,
    detect_framing,
    file_stats,
    iter_records,
    iter_stream,
)
from tests.feeds.itch import TEST_VECTOR, prefixed, vector_messages, zero_prefixed

VECTOR_COUNTS = {
    "S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745, "U": 12, "P": 5000,
}  # fmt: skip
VECTOR_ORDERS = {"ALC": 950, "BOB": 2482, "CHAR": 1568}


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    return vector_messages()


@pytest.fixture(scope="module")
def prefixed_file(tmp_path_factory, messages):
    path = tmp_path_factory.mktemp("itch") / "vector.itch"
    path.write_bytes(b"".join(prefixed(m) for m in messages))
    return path


@pytest.fixture(scope="module")
def gzip_file(tmp_path_factory, messages):
    path = tmp_path_factory.mktemp("itch") / "vector.itch.gz"
    path.write_bytes(gzip.compress(b"".join(prefixed(m) for m in messages)))
    return path


def check_vector_stats(stats, framing, compressed):
    assert stats["format"] == "itch50"
    assert stats["framing"] == framing and stats["compressed"] is compressed
    assert stats["bytes"] == TEST_VECTOR.stat().st_size == 465_048
    assert stats["messages"] == 12_012
    assert stats["counts"] == VECTOR_COUNTS
    assert {k: v["orders"] for k, v in stats["instruments"].items()} == VECTOR_ORDERS
    assert stats["errors"] == {"counts": {}, "samples": {}}
    assert stats["bytes_left"] == 0 and stats["bytes_quarantined"] == 0
    json.dumps(stats)


def test_test_vector_decodes_completely_with_detected_type_framing():
    check_vector_stats(file_stats(TEST_VECTOR), TYPE_FRAMED, False)


def test_length_prefixed_copy_of_the_vector_decodes_identically(prefixed_file):
    check_vector_stats(file_stats(prefixed_file), LENGTH_PREFIXED, False)


def test_gzip_copy_is_detected_by_magic_and_decodes_identically(gzip_file):
    check_vector_stats(file_stats(gzip_file), LENGTH_PREFIXED, True)


def test_vector_records_are_in_order_and_match_per_type_counts():
    batches = list(iter_records(TEST_VECTOR, batch=5_000))
    assert [len(b) for b in batches] == [5_000, 5_000, 2_012]
    records = np.concatenate(batches)
    assert records.dtype == MARKET_EVENT_DTYPE
    assert np.array_equal(records["seq"], np.arange(1, 12_013))
    assert np.all(np.diff(records["exchange_ns"]) >= 0)
    assert (records["kind"] == EventKind.ADD).sum() == 5_000
    assert set(np.unique(records["instrument"])) == {0, 1, 2, 3}


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 4093])
@pytest.mark.parametrize("framing", [LENGTH_PREFIXED, TYPE_FRAMED])
def test_messages_split_across_chunks_decode_like_one_buffer(messages, chunk_size, framing):
    subset = messages[:300] if chunk_size < 50 else messages
    wrap = prefixed if framing == LENGTH_PREFIXED else zero_prefixed
    data = b"".join(wrap(m) for m in subset)
    whole = ItchDecoder(framing)
    out = np.zeros(len(subset), MARKET_EVENT_DTYPE)
    whole.decode(np.frombuffer(data, np.uint8), out)
    streamed = ItchDecoder(framing)
    got = np.concatenate(
        list(iter_stream(io.BytesIO(data), streamed, chunk_size=chunk_size, batch=64))
    )
    assert got.tobytes() == out.tobytes()
    assert streamed.bytes_read == streamed.bytes_decoded == len(data)
    assert streamed.quarantine.total == 0


def test_gzip_stream_with_tiny_chunks_decodes_everything(gzip_file, messages):
    decoder = ItchDecoder(LENGTH_PREFIXED)
    total = sum(len(b) for b in iter_records(gzip_file, decoder=decoder, chunk_size=997))
    assert total == len(messages) == decoder.messages
    assert decoder.counts == VECTOR_COUNTS


def test_reused_batches_cover_the_same_records():
    decoder = ItchDecoder(TYPE_FRAMED)
    with open(TEST_VECTOR, "rb") as stream:
        sizes = [len(b) for b in iter_stream(stream, decoder, batch=1000, reuse=True)]
    assert sum(sizes) == 12_012


def test_framing_is_detected_from_the_first_prefixes(messages):
    assert detect_framing(b"".join(prefixed(m) for m in messages[:20])) == LENGTH_PREFIXED
    assert detect_framing(b"".join(zero_prefixed(m) for m in messages[:20])) == TYPE_FRAMED
    assert detect_framing(b"") == LENGTH_PREFIXED
    assert detect_framing(prefixed(messages[0])[:5]) == LENGTH_PREFIXED


def test_forced_framing_overrides_detection(prefixed_file):
    stats = file_stats(prefixed_file, framing=TYPE_FRAMED)
    # the prefixes are ignored but the messages are still found by their types
    assert stats["framing"] == TYPE_FRAMED and stats["messages"] == 12_012
    with pytest.raises(ValueError, match="framing"):
        file_stats(prefixed_file, framing="soup")


def test_missing_file_raises_with_its_path(tmp_path):
    missing = tmp_path / "nope.itch"
    with pytest.raises(FileNotFoundError, match=r"nope\.itch"):
        file_stats(missing)
    with pytest.raises(FileNotFoundError, match=r"nope\.itch"):
        next(iter_records(missing, framing=LENGTH_PREFIXED))


def test_corrupt_gzip_raises_oserror_with_its_path(tmp_path, messages):
    path = tmp_path / "cut.itch.gz"
    path.write_bytes(gzip.compress(b"".join(prefixed(m) for m in messages))[:2000])
    with pytest.raises(OSError, match=r"cut\.itch\.gz"):
        file_stats(path, framing=LENGTH_PREFIXED)


def test_empty_file_has_no_messages(tmp_path):
    path = tmp_path / "empty.itch"
    path.write_bytes(b"")
    stats = file_stats(path)
    assert stats["messages"] == 0 and stats["bytes"] == 0 and stats["counts"] == {}
