"""CRC32C: published check values, agreement with a bitwise reference, chaining."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowlat.journal import crc32c
from lowlat.journal.crc_kernels import _crc32c_range, crc32c_table, crc32c_update


def bitwise_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0x00000000),
        (b"a", 0xC1D04330),
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),  # RFC 3720 B.4: 32 bytes of zeros
        (b"\xff" * 32, 0x62A8AB43),  # 32 bytes of ones
        (bytes(range(32)), 0x46DD794E),  # incrementing
        (bytes(range(31, -1, -1)), 0x113FDB5C),  # decrementing
    ],
)
def test_crc32c_matches_published_check_values(data, expected):
    assert crc32c(data) == expected


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="counts compiled versions")
def test_bytes_and_writable_arrays_share_one_compiled_version():
    crc32c(b"abc")
    crc32c(np.arange(4, dtype=np.int64))
    crc32c(bytearray(b"abc"))
    assert len(_crc32c_range.signatures) == 1


@settings(deadline=None)  # the first example may compile
@given(st.binary(max_size=200))
def test_crc32c_matches_a_bitwise_reference(data):
    assert crc32c(data) == bitwise_crc32c(data)


@settings(deadline=None)  # the first example may compile
@given(st.binary(max_size=100), st.binary(max_size=100))
def test_crc32c_continues_across_chunks(first, second):
    assert crc32c(second, crc32c(first)) == crc32c(first + second)


def test_crc32c_update_covers_exactly_the_range_it_is_given():
    data = np.frombuffer(b"xx123456789yy", np.uint8)
    assert crc32c_update(0, data, 2, 11) == 0xE3069283


def test_crc32c_accepts_arrays_and_memoryviews():
    words = np.arange(4, dtype=np.int64)
    assert crc32c(words) == crc32c(words.tobytes()) == crc32c(memoryview(words.tobytes()))


@settings(deadline=None)  # the first example may compile
@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_the_instruction_and_the_tables_agree(data, crc):
    array = np.frombuffer(data, np.uint8)
    assert crc32c(data, crc) == crc32c_table(crc, array, 0, array.size)
