import numpy as np

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.itch import ItchDecoder
from lowlat.feeds.kernels import write_event
from tests.feeds.itch import TEST_VECTOR


def garbage(n: int) -> np.ndarray:
    out = np.empty(n, MARKET_EVENT_DTYPE)
    out.view(np.uint8)[:] = 0xAB
    return out


def test_write_event_sets_every_field_of_a_reused_record():
    out = garbage(2)
    write_event(out, 1, 7, 11, 13, 17, 19, 23, 29, 31, 1, 2, 3)
    got = out[1]
    assert [got[name] for name in MARKET_EVENT_DTYPE.names] == [
        7,
        11,
        13,
        17,
        19,
        23,
        29,
        31,
        1,
        2,
        3,
        0,
    ]


def test_itch_records_leave_nothing_of_a_reused_array_behind():
    data = np.frombuffer(TEST_VECTOR.read_bytes(), np.uint8)
    decoder = ItchDecoder("type-framed")
    out = garbage(20_000)
    _, n = decoder.decode(data, out)
    assert n == 12_012
    assert (out["lane"][:n] == 0).all() and (out["recv_ns"][:n] == 0).all()
