"""JSON → records: every message kind, scales, envelopes and quarantined bad input."""

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowlat.core.records import EventKind, Side
from lowlat.feeds.depth import (
    FLAG_BOOK_START,
    FLAG_TOP_OF_BOOK,
    NO_ID,
    DepthDecoder,
    MessageKind,
    SymbolSpec,
)
from lowlat.feeds.depth.decode import parse_decimals
from lowlat.feeds.quarantine import ErrorKind
from tests.feeds.depth import diff, snapshot

DIFF = (
    b'{"e":"depthUpdate","E":1700000000123,"s":"BNBBTC","U":157,"u":160,'
    b'"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0.00000000"]]}'
)


def decoder(**kw):
    return DepthDecoder({"BNBBTC": 3, "ETHUSDT": SymbolSpec(7, 100, 1000)}, **kw)


def test_depth_update_gives_one_quote_per_level():
    d = decoder()
    out = d.decode([DIFF], 42)
    r = out.records
    assert r.shape == (3,)
    assert list(r["kind"]) == [EventKind.QUOTE] * 3
    assert list(r["side"]) == [Side.BUY, Side.SELL, Side.SELL]
    assert list(r["price"]) == [240_000, 260_000, 270_000]
    assert list(r["qty"]) == [10 * 10**8, 100 * 10**8, 0]
    assert set(r["seq"]) == {160} and set(r["aux"]) == {157}
    assert set(r["exchange_ns"]) == {1_700_000_000_123_000_000}
    assert set(r["recv_ns"]) == {42} and set(r["instrument"]) == {3}
    assert not r["flags"].any()
    assert (out.kind[0], out.first_id[0], out.final_id[0], out.prev_id[0]) == (
        MessageKind.DEPTH, 157, 160, NO_ID,
    )  # fmt: skip
    assert (out.start[0], out.stop[0]) == (0, 3)


def test_futures_pu_and_envelope_and_per_symbol_scale():
    body = diff("ETHUSDT", 10, 12, [["1.50", "2.125"]], [], prev=9)
    wrapped = b'{"stream":"ethusdt@depth@100ms","data":' + body + b"}"
    out = decoder().decode([wrapped])
    assert out.prev_id[0] == 9
    assert (out.records["price"][0], out.records["qty"][0]) == (150, 2125)
    assert out.records["instrument"][0] == 7


def test_snapshot_first_record_starts_the_book():
    d = decoder()
    levels = ([["0.0024", "14.7"], ["0.0023", "1"]], [["0.0026", "3"]])
    out = d.decode([snapshot(160, *levels)], snapshot_symbol="BNBBTC")
    r = out.records
    assert list(r["kind"]) == [EventKind.SNAPSHOT] * 3
    assert list(r["flags"]) == [FLAG_BOOK_START, 0, 0]
    assert list(r["side"]) == [Side.BUY, Side.BUY, Side.SELL]
    assert set(r["seq"]) == {160} and out.kind[0] == MessageKind.SNAPSHOT
    assert out.final_id[0] == 160


def test_empty_snapshot_still_resets_the_book():
    out = decoder().decode([snapshot(5)], snapshot_symbol="BNBBTC")
    assert out.records.shape == (1,)
    r = out.records[0]
    assert (r["kind"], r["side"], r["flags"], r["qty"]) == (EventKind.SNAPSHOT, 0, 1, 0)


def test_bare_snapshot_symbol_needs_to_be_known():
    d = decoder()
    out = d.decode([snapshot(5)])  # two symbols in the table: ambiguous
    assert out.kind[0] == MessageKind.REJECTED
    assert d.quarantine.counts[ErrorKind.BAD_FIELD] == 1
    wrapped = b'{"stream":"bnbbtc@depthSnapshot","data":' + snapshot(5, [["1", "1"]]) + b"}"
    assert d.decode([wrapped]).instrument[0] == 3


def test_book_ticker_spot_and_futures():
    spot = b'{"u":400900217,"s":"BNBBTC","b":"25.3519","B":"31.21","a":"25.3652","A":"40.66"}'
    fut = (
        b'{"e":"bookTicker","u":4,"E":1568014460893,"T":1,"s":"BNBBTC",'
        b'"b":"25.35","B":"31","a":"25.36","A":"40"}'
    )
    out = decoder().decode([spot, fut])
    r = out.records
    assert list(out.kind) == [MessageKind.BOOK_TICKER] * 2
    assert list(r["side"]) == [Side.BUY, Side.SELL] * 2
    assert list(r["flags"]) == [FLAG_TOP_OF_BOOK] * 4
    assert list(r["price"][:2]) == [2_535_190_000, 2_536_520_000]
    assert r["seq"][0] == 400900217 and r["exchange_ns"][2] == 1568014460893 * 10**6


@pytest.mark.parametrize(("maker", "side"), [(b"true", Side.SELL), (b"false", Side.BUY)])
def test_trade_side_is_the_aggressor(maker, side):
    raw = (
        b'{"e":"trade","E":1,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",'
        b'"T":1672515782136,"m":' + maker + b',"M":true}'
    )
    r = decoder().decode([raw]).records
    assert r.shape == (1,)
    assert (r["kind"][0], r["side"][0], r["seq"][0]) == (EventKind.TRADE, side, 12345)
    assert (r["price"][0], r["qty"][0]) == (100_000, 100 * 10**8)
    assert r["exchange_ns"][0] == 1672515782136 * 10**6


BAD = [
    b"not json",
    b'{"e":"depthUpdate"',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[]}',  # no "a"
    b'{"e":"depthUpdate","E":1,"s":"NOPE","U":1,"u":2,"b":[],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":"1","u":2,"b":[],"a":[]}',
    b'{"e":"depthUpdate","E":1.5,"s":"BNBBTC","U":1,"u":2,"b":[],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":{},"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1e3","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["-1","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1 2","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[[1.5,"1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["0.000000001","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["99999999999","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[[".","1"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1.2.3","1"]],"a":[]}',
    b'{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":1}',
]


def test_bad_messages_are_quarantined_and_good_ones_kept():
    d = decoder()
    raws = [DIFF, *BAD, DIFF]
    out = d.decode(raws)
    assert list(out.kind) == [MessageKind.DEPTH] + [0] * len(BAD) + [MessageKind.DEPTH]
    assert out.records.shape == (6,)
    assert (out.start[-1], out.stop[-1]) == (3, 6)
    assert d.quarantine.counts[ErrorKind.BAD_FIELD] == len(BAD)
    assert d.messages[MessageKind.REJECTED] == len(BAD)
    samples = d.quarantine.to_dict()["samples"]["bad_field"]
    assert bytes.fromhex(samples[0]["hex"]) == b"not json"
    assert (out.final_id[1:-1] == NO_ID).all()


def test_unknown_types_are_quarantined_as_such():
    d = decoder()
    out = d.decode([b'{"result":null,"id":1}', b"[1,2]", b'{"e":"kline"}'])
    assert (out.kind == 0).all() and out.records.shape == (0,)
    assert d.quarantine.counts[ErrorKind.UNKNOWN_TYPE] == 3


def test_old_spot_levels_with_a_third_element_are_accepted():
    raw = b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["1.5","2",[]]],"a":[]}'
    out = decoder().decode([raw])
    assert out.kind[0] == MessageKind.DEPTH and out.records["price"][0] == 150_000_000


def test_scales_must_be_powers_of_ten():
    with pytest.raises(ValueError, match="power of ten"):
        DepthDecoder({"X": 1}, price_scale=3)
    with pytest.raises(ValueError, match="power of ten"):
        DepthDecoder({"X": SymbolSpec(1, 100, 0)})


def test_auto_symbols_number_in_order_of_appearance():
    d = DepthDecoder(None)
    out = d.decode([diff("B", 1, 2, [["1", "1"]]), diff("A", 1, 2, [["1", "1"]])])
    assert list(out.instrument) == [1, 2] and d.specs["A"].instrument == 2


def test_decimals_kernel_edge_cases():
    texts = ["0", "007.50", "1.", "0.00000001", "92233720368.54775807", "1.000000000000"]
    buf = np.frombuffer(" ".join(texts).encode(), np.uint8)
    exps = np.full(len(texts), 8, np.int64)
    out = np.zeros(len(texts), np.int64)
    bad = np.zeros(len(texts), np.bool_)
    assert parse_decimals(buf, exps, out, bad) == len(texts)
    assert not bad.any()
    assert list(out) == [0, 750_000_000, 10**8, 1, 9_223_372_036_854_775_807, 10**8]
    buf = np.frombuffer(b"92233720368.54775808 1.000000001", np.uint8)
    assert parse_decimals(buf, exps[:2], out[:2], bad[:2]) == 2
    assert bad[:2].all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**10 - 1), st.integers(0, 8), st.integers(0, 10**9)),
        min_size=1,
        max_size=12,
    )
)
def test_prices_convert_exactly(levels):
    bids = []
    expected = []
    for mantissa, decimals, qty in levels:
        text = str(mantissa).rjust(decimals + 1, "0")
        if decimals:
            text = text[:-decimals] + "." + text[-decimals:]
        bids.append([text, str(qty)])
        expected.append((mantissa * 10 ** (8 - decimals), qty * 10**8))
    out = decoder().decode([diff("BNBBTC", 1, 2, bids)]).records
    assert list(zip(out["price"].tolist(), out["qty"].tolist(), strict=True)) == expected


def test_never_raises_on_random_bytes():
    rng = np.random.default_rng(3)
    d = decoder()
    raws = [rng.bytes(int(rng.integers(0, 80))) for _ in range(200)]
    raws += [DIFF[: int(rng.integers(0, len(DIFF)))] for _ in range(100)]
    raws += ["ü", orjson.dumps({"e": "depthUpdate", "s": None})]
    out = d.decode(raws)
    assert len(out) == len(raws)
    assert d.quarantine.total == int((out.kind == 0).sum())


def test_batch_fast_path_matches_the_message_by_message_path():
    from tests.feeds.depth import Venue

    btc, eth = Venue("BNBBTC", seed=3), Venue("ETHUSDT", seed=4, futures=True)
    raws = [btc.step() if k % 3 else eth.step() for k in range(200)]
    raws[50] = raws[50].replace(b'"b":[[', b'"b":[["0.0000000001","1"],[')  # bad decimal
    trade = b'{"e":"trade","E":1,"s":"BNBBTC","t":1,"p":"1","q":"1","T":1,"m":true}'
    fast, slow = decoder(), decoder()
    a = fast.decode(raws, 9)
    b = slow.decode([*raws, trade], 9)  # a trade in the batch: the general path
    assert np.array_equal(a.records, b.records[:-1])
    for name in ("kind", "instrument", "first_id", "final_id", "prev_id", "start", "stop"):
        assert np.array_equal(getattr(a, name), getattr(b, name)[:-1]), name
    assert a.kind[50] == MessageKind.REJECTED
    assert np.array_equal(fast.quarantine.counts, slow.quarantine.counts)
    assert np.array_equal(fast.quarantine.samples, slow.quarantine.samples)
    wrapped = [b'{"stream":"x@depth","data":' + r + b"}" for r in raws]
    assert np.array_equal(decoder().decode(wrapped, 9).records, a.records)


def test_batch_join_cannot_be_fooled_by_a_message_holding_two():
    one = diff("BNBBTC", 1, 2, [["1", "1"]])
    d = decoder()
    out = d.decode([one + b"," + one, one])
    assert list(out.kind) == [0, MessageKind.DEPTH]
    assert d.quarantine.counts[ErrorKind.BAD_FIELD] == 1
