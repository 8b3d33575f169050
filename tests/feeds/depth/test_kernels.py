"""Compiled depthUpdate scanner: the orjson paths' results, or a fallback to them."""

import re

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.depth import DepthDecoder, MessageKind, SymbolSpec
from lowlat.feeds.depth.kernels import parse_decimals, scan_depth, symbol_hash
from lowlat.feeds.quarantine import META_OFFSET, ErrorKind
from tests.feeds.depth import Venue, diff, snapshot

SYMBOLS = {
    "BTCUSDT": SymbolSpec(1),
    "ETHUSDT": SymbolSpec(2, price_scale=100, qty_scale=1000),
    "BNBBTC": SymbolSpec(3, price_scale=1, qty_scale=10**18),
}
INT64_MAX = 2**63 - 1
MAX_TIME_MS = INT64_MAX // 1_000_000
GOOD = diff("BNBBTC", 1, 2, [["1", "2.5"]], [["3", "0.000000000000000004"]], time_ms=1)
FIELDS = ("records", "kind", "instrument", "first_id", "final_id", "prev_id", "start", "stop")


class Spy(DepthDecoder):
    """A decoder that keeps which messages of its last batch the scanner decoded."""

    scanned: np.ndarray | None = None

    def _scan(self, raws, recv):
        result = super()._scan(raws, recv)
        self.scanned = None if result is None else result[0].kind == MessageKind.DEPTH
        return result


class OrjsonOnly(DepthDecoder):
    """The decoder without the scanner: the orjson batch path, then message by message."""

    def _scan(self, raws, recv):
        return None


class Pair:
    """The same batches through a decoder with the scanner and one without, compared."""

    def __init__(self, symbols=SYMBOLS):
        self.spy = Spy(symbols)
        self.ref = OrjsonOnly(symbols)

    def decode(self, raws, recv=7, **kw):
        got = self.spy.decode(raws, recv, **kw)
        want = self.ref.decode(raws, recv, **kw)
        for name in FIELDS:
            mine, theirs = getattr(got, name), getattr(want, name)
            assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), name
        quarantines = (self.spy.quarantine.arrays, self.ref.quarantine.arrays)
        for mine, theirs in zip(*quarantines, strict=True):
            assert np.array_equal(mine, theirs)
        assert np.array_equal(self.spy.messages, self.ref.messages)
        assert self.spy.specs == self.ref.specs
        return got


def decimal_text(mantissa: int, decimals: int, zeros: int = 0) -> str:
    """``mantissa / 10**decimals`` written with exactly ``decimals`` decimals (+ zeros)."""
    text = str(mantissa).rjust(decimals + 1, "0")
    if decimals:
        text = text[:-decimals] + "." + text[-decimals:]
    return text + ("" if decimals or not zeros else ".") + "0" * zeros


@st.composite
def level_lists(draw, spec):
    """Levels that are whole ticks and lots at ``spec``'s scales, and fit an int64."""
    exps = (len(str(spec.price_scale)) - 1, len(str(spec.qty_scale)) - 1)
    levels = []
    for _ in range(draw(st.integers(0, 5))):
        level = []
        for exp in exps:
            decimals = draw(st.integers(0, exp))
            limit = INT64_MAX // 10 ** (exp - decimals)
            mantissa = draw(st.integers(0, limit) | st.integers(0, min(limit, 10**6)))
            level.append(decimal_text(mantissa, decimals, draw(st.integers(0, 2))))
        levels.append(level)
    return levels


@st.composite
def canonical_diffs(draw):
    """A canonical depthUpdate: any key order with s before b before a, any JSON spacing."""
    symbol = draw(st.sampled_from(list(SYMBOLS)))
    ids = st.integers(0, INT64_MAX)
    values = {
        "e": '"depthUpdate"',
        "E": str(draw(st.integers(0, MAX_TIME_MS))),
        "s": f'"{symbol}"',
        "U": str(draw(ids)),
        "u": str(draw(ids)),
    }
    for key in ("pu", "T"):
        if draw(st.booleans()):
            values[key] = str(draw(ids))
    gap = draw(st.sampled_from(["", " ", "\r\n\t "]))
    for key in ("b", "a"):
        levels = draw(level_lists(SYMBOLS[symbol]))
        pairs = (f'[{gap}"{p}"{gap},{gap}"{q}"{gap}]' for p, q in levels)
        values[key] = f"[{gap}{(gap + ',' + gap).join(pairs)}{gap}]"
    keys = draw(st.permutations(list(values)))
    constrained = ("s", "b", "a")
    ordered = iter(constrained)
    keys = [next(ordered) if k in constrained else k for k in keys]
    body = f"{gap}{{{gap}" + f"{gap},{gap}".join(f'"{k}"{gap}:{gap}{values[k]}' for k in keys)
    body += f"{gap}}}{gap}"
    if draw(st.booleans()):
        stream = f"{symbol.lower()}@depth@100ms"
        body = f'{gap}{{"stream"{gap}:{gap}"{stream}",{gap}"data":{body}}}{gap}'
    return body.encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(canonical_diffs(), min_size=1, max_size=8), st.integers(0, INT64_MAX))
def test_canonical_diffs_are_decoded_by_the_scanner_exactly_as_by_orjson(raws, recv):
    pair = Pair()
    out = pair.decode(raws, recv)
    assert pair.spy.scanned.all()
    assert (out.kind == MessageKind.DEPTH).all()


def test_venue_streams_spot_and_futures_go_through_the_scanner():
    btc, eth = Venue("BTCUSDT", seed=5), Venue("ETHUSDT", seed=6, futures=True)
    pair = Pair({"BTCUSDT": 1, "ETHUSDT": 2})
    for _ in range(3):
        raws = [btc.step() if k % 2 else eth.step() for k in range(64)]
        pair.decode(raws, np.arange(64))
        assert pair.spy.scanned.all()
    assert pair.spy.messages[MessageKind.DEPTH] == 192


CANONICAL = [  # unusual, but exactly what the scanner takes
    b' \n{ "e" : "depthUpdate" ,\t"E":1,"s":"BNBBTC","U":0,"u":0,"b":[ ],"a":[] } \r\n',
    b'{"u":2,"E":1,"U":1,"e":"depthUpdate","T":3,"pu":0,"s":"BNBBTC","b":[],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[["001.","00.50"]],"a":[]}',
    b'{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[[".5","1.0000"]],"a":[]}',
    b'{"e":"depthUpdate","E":9223372036854,"s":"BNBBTC","U":9223372036854775807,'
    b'"u":9223372036854775807,"b":[["9223372036854775807","9.223372036854775807"]],"a":[]}',
    b'{"stream":"","data":{"e":"depthUpdate","E":1,"s":"BNBBTC","U":1,"u":2,"b":[],"a":[]}}',
]


@pytest.mark.parametrize("raw", CANONICAL)
def test_unusual_canonical_messages_are_decoded_by_the_scanner(raw):
    pair = Pair()
    out = pair.decode([raw, GOOD])
    assert pair.spy.scanned.all() and (out.kind == MessageKind.DEPTH).all()


def _edit(old: bytes, new: bytes) -> bytes:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


REFUSED = [  # not canonical: the orjson paths decide, whether they accept or reject
    b"",
    b"not json",
    b"{}",
    b"[]",
    b"null",
    b"\xff\xfe{}",
    GOOD[:-1],
    GOOD + b"x",
    GOOD + b"," + GOOD,
    b"\xef\xbb\xbf" + GOOD,  # byte order mark
    b"\x0c" + GOOD,  # form feed is not JSON whitespace
    _edit(b'"s":"BNBBTC"', b'"s":"BNB\\u0042TC"'),  # escapes, valid once decoded
    _edit(b'"e"', b'"\\u0065"'),
    _edit(b'"1"', b'"1\\u002e5"'),
    _edit(b'"s":"BNBBTC"', b'"s":"BNBBTC\x01"'),
    _edit(b'"s":"BNBBTC"', '"s":"BNBBTCé"'.encode()),
    _edit(b'"s":"BNBBTC"', b'"s":"NOPE"'),  # unknown symbol
    _edit(b'"s":"BNBBTC"', b'"s":1'),
    _edit(b'"e":"depthUpdate"', b'"e":"depthUpdatex"'),
    _edit(b'"e":"depthUpdate"', b'"e":"trade"'),
    _edit(b'"e":"depthUpdate",', b""),  # missing keys
    _edit(b'"E":1,', b""),
    _edit(b',"a":[["3","0.000000000000000004"]]', b""),
    _edit(b'"u":2', b'"u":2,"u":3'),  # duplicate: orjson keeps the last
    _edit(b'"u":2', b'"u":2,"x":1'),  # extra key
    _edit(b'"u":2', b'"u":2,"pu":null'),
    _edit(b'"U":1', b'"U":-5'),  # negative ids: the batch path takes them, not the other
    _edit(b'"U":1', b'"U":-1'),
    _edit(b'"U":1', b'"U":-0'),
    _edit(b'"U":1', b'"U":01'),
    _edit(b'"U":1', b'"U":1.0'),
    _edit(b'"U":1', b'"U":1e3'),
    _edit(b'"U":1', b'"U":true'),
    _edit(b'"U":1', b'"U":"1"'),
    _edit(b'"U":1', b'"U":9223372036854775808'),  # huge numbers
    _edit(b'"U":1', b'"U":18446744073709551616'),
    _edit(b'"E":1', b'"E":9223372036855'),
    _edit(b'"E":1', b'"E":99999999999999999999'),
    _edit(b'["1","2.5"]', b'[1.5,"2.5"]'),  # floats instead of strings
    _edit(b'["1","2.5"]', b'["1",2.5]'),
    _edit(b'["1","2.5"]', b'["1","2.5",[]]'),  # the old three-element spot level
    _edit(b'["1","2.5"]', b'["1"]'),
    _edit(b'["1","2.5"]', b"[]"),
    _edit(b'["1","2.5"]', b'["1","2.5"],'),
    _edit(b'["1","2.5"]', b'{"p":"1"}'),
    _edit(b'[["1","2.5"]]', b"{}"),
    _edit(b'["1","2.5"]', b'["","2.5"]'),  # decimals
    _edit(b'["1","2.5"]', b'[".","2.5"]'),
    _edit(b'["1","2.5"]', b'["1.2.3","2.5"]'),
    _edit(b'["1","2.5"]', b'["-1","2.5"]'),
    _edit(b'["1","2.5"]', b'["+1","2.5"]'),
    _edit(b'["1","2.5"]', b'["1e3","2.5"]'),
    _edit(b'["1","2.5"]', b'[" 1","2.5"]'),
    _edit(b'["1","2.5"]', b'["1.5","2.5"]'),  # not a whole tick at scale 1
    _edit(b'["1","2.5"]', b'["9223372036854775808","2.5"]'),
    _edit(b'["1","2.5"]', b'["1","9.223372036854775808"]'),
    _edit(b'["1","2.5"]', b'["1","92233720368.54775807"]'),
    _edit(b'"b":[["1","2.5"]],"a":[["3","0.000000000000000004"]]', b'"a":[],"b":[]'),
    _edit(b'"s":"BNBBTC",', b""),
    _edit(b'"s":"BNBBTC",', b"").replace(b'"a"', b'"s":"BNBBTC","a"'),  # symbol after levels
    b'{"data":' + GOOD + b',"stream":"x"}',  # envelopes
    b'{"stream":"x","data":' + GOOD + b',"id":1}',
    b'{"stream":1,"data":' + GOOD + b"}",
    b'{"stream":"x","data":' + GOOD,
    b'{"stream":"\\","data":' + GOOD + b"}",  # a string reaching to after "data"
    b'{"data":' + GOOD + b"}",
]


@pytest.mark.parametrize("raw", REFUSED)
def test_messages_the_scanner_is_not_sure_about_get_the_orjson_verdict(raw):
    for raws in ([raw], [GOOD, raw, GOOD], [GOOD, raw, snapshot(5), raw]):
        pair = Pair()
        pair.decode(raws, snapshot_symbol="BNBBTC")
        assert not pair.spy.scanned[raws.index(raw)]


def test_the_rules_are_those_of_the_old_paths_even_where_they_differ():
    negative = _edit(b'"U":1', b'"U":-5')
    pair = Pair()
    out = pair.decode([GOOD, negative])  # the batch path: accepted, aux -5
    assert list(out.kind) == [MessageKind.DEPTH] * 2 and out.first_id[1] == -5
    out = pair.decode([GOOD, negative, snapshot(5)], snapshot_symbol="BNBBTC")
    assert list(out.kind) == [MessageKind.DEPTH, MessageKind.REJECTED, MessageKind.SNAPSHOT]


MUTATIONS = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, len(GOOD)), st.integers(0, len(GOOD))),
    st.tuples(st.just("put"), st.integers(0, len(GOOD)), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("set"), st.integers(0, len(GOOD) - 1), st.binary(min_size=1, max_size=1)),
)


def mutate(raw: bytes, mutation) -> bytes:
    how, at, what = mutation
    if how == "cut":
        return raw[: min(at, what)] + raw[max(at, what) :]
    if how == "put":
        return raw[:at] + what + raw[at:]
    return raw[:at] + what + raw[at + 1 :]


@settings(max_examples=150, deadline=None)
@given(st.lists(MUTATIONS, min_size=1, max_size=3))
def test_mutated_messages_never_give_a_record_that_orjson_would_not(mutations):
    raw = GOOD
    for mutation in mutations:
        raw = mutate(raw, mutation)
    Pair().decode([GOOD, raw, snapshot(5), raw, GOOD], snapshot_symbol="BNBBTC")
    Pair().decode([GOOD, raw, GOOD])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.sampled_from([GOOD, b'{"a":[]}']), max_size=6))
def test_garbage_never_crashes_and_matches_orjson(raws):
    Pair().decode(raws)


def test_mixed_batches_merge_scanned_and_one_by_one_messages_in_order():
    venue = Venue("BTCUSDT", seed=9)
    trade = b'{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"1","q":"1","T":1,"m":true}'
    bad_trade = trade.replace(b'"p":"1"', b'"p":"0.000000001"')  # rejected at conversion
    ticker = b'{"u":4,"s":"BTCUSDT","b":"25.35","B":"31","a":"25.36","A":"40"}'
    raws = [venue.step() for _ in range(12)]
    raws[1:1] = [trade]
    raws[4:4] = [b"garbage", snapshot(3, [["1", "1"]])]
    raws[8:8] = [bad_trade, ticker]
    raws.append(snapshot(9))
    pair = Pair({"BTCUSDT": 1})
    out = pair.decode(raws, np.arange(len(raws)) * 10)
    diffs = [k for k, raw in enumerate(raws) if b"depthUpdate" in raw]
    assert pair.spy.scanned[diffs].all() and pair.spy.scanned.sum() == len(diffs)
    garbage, bad = raws.index(b"garbage"), raws.index(bad_trade)
    assert list(np.flatnonzero(out.kind == MessageKind.REJECTED)) == [garbage, bad]
    assert (out.start[garbage], out.stop[garbage]) == (0, 0)  # rejected before conversion
    assert out.start[bad] == out.stop[bad] == out.stop[bad - 1] > 0  # rejected during it
    spans = [out.records[a:b] for a, b in zip(out.start, out.stop, strict=True)]
    assert np.array_equal(np.concatenate(spans), out.records)


def test_quarantine_samples_keep_the_offset_of_their_message_in_the_stream():
    trade = b'{"e":"trade","E":1,"s":"BNBBTC","t":7,"p":"1","q":"1","T":1,"m":true}'
    bad_decimal = _edit(b'["1","2.5"]', b'["1.5","2.5"]')
    pair = Pair()
    pair.decode([GOOD, b"garbage", bad_decimal, trade])
    pair.decode([b"x", GOOD])
    counts, _, meta = pair.spy.quarantine.arrays
    # one by one, a message is rejected as it is read; a bad level after the whole batch
    assert list(meta[ErrorKind.BAD_FIELD, : counts[ErrorKind.BAD_FIELD], META_OFFSET]) == [
        2, 4, 5,
    ]  # fmt: skip


def test_str_messages_leave_the_batch_to_the_orjson_paths():
    pair = Pair()
    pair.decode([GOOD, GOOD.decode()])
    assert pair.spy.scanned is None


def test_auto_symbols_are_scanned_once_the_message_path_has_numbered_them():
    pair = Pair(None)
    first = [diff("A", 1, 2, [["1", "1"]]), diff("B", 1, 2)]
    pair.decode(first)
    assert not pair.spy.scanned.any()
    out = pair.decode([diff("B", 3, 4), diff("C", 1, 2), diff("A", 3, 4)])
    assert list(pair.spy.scanned) == [True, False, True]
    assert list(out.instrument) == [2, 3, 1]


def test_a_table_of_many_long_symbols_grows_and_still_finds_them_all():
    names = [f"S{k}" + "X" * (k % 37) for k in range(70)]
    pair = Pair({name: k + 1 for k, name in enumerate(names)})
    raws = [diff(name, k, k + 1, [["1", "2"]]) for k, name in enumerate(reversed(names))]
    out = pair.decode(raws)
    assert pair.spy.scanned.all()
    assert list(out.instrument) == list(range(70, 0, -1))


def test_symbols_whose_hashes_collide_are_told_apart():
    names = ["AaAa", "BBBB", "AaBB", "BBAa"]  # "Aa" and "BB" hash alike
    assert len({symbol_hash(np.frombuffer(n.encode(), np.uint8), 0, 4) for n in names}) == 1
    pair = Pair({name: k + 1 for k, name in enumerate(names[:3])})
    out = pair.decode([diff(name, 1, 2) for name in names])
    assert list(pair.spy.scanned) == [True, True, True, False]
    assert list(out.instrument) == [1, 2, 3, 0]


def test_the_kernel_refuses_a_message_whose_levels_do_not_fit():
    name = np.frombuffer(b"BTCUSDT", np.uint8)
    slots = np.full(2, -1, np.int64)
    slots[symbol_hash(name, 0, 7) & 1] = 0
    raws = [diff("BTCUSDT", 1, 2, [["1", "1"]] * 2), diff("BTCUSDT", 3, 4, [["2", "1"]])]
    buf = np.frombuffer(b"".join(raws), np.uint8)
    ends = np.cumsum([len(raw) for raw in raws])
    out = np.zeros(1, MARKET_EVENT_DTYPE)
    accepted = np.zeros(2, np.bool_)
    ids = [np.zeros(2, np.int64) for _ in range(5)]
    table = (name[None, :].copy(), np.array([7]), np.array([[5, 8, 8]]), slots)
    found = scan_depth(
        buf, ends, np.zeros(2, np.int64), *table, out, accepted, np.zeros(2, np.int32), *ids
    )
    assert found == (1, 1) and list(accepted) == [False, True]
    assert (out["seq"][0], out["price"][0], out["instrument"][0]) == (4, 2 * 10**8, 5)


def test_remapping_a_symbol_reaches_the_scanner():
    pair = Pair()
    for decoder in (pair.spy, pair.ref):
        decoder.add_symbol("BTCUSDT", SymbolSpec(9, price_scale=10, qty_scale=1))
    out = pair.decode([diff("BTCUSDT", 1, 2, [["1.5", "2"]])])
    assert pair.spy.scanned.all()
    assert (out.instrument[0], out.records["price"][0], out.records["qty"][0]) == (9, 15, 2)


def test_symbols_no_canonical_message_can_name_take_the_orjson_path():
    pair = Pair({'A"B': 1, "ÄBC": 2, "A\\B": 3})
    raws = [
        orjson.dumps({"e": "depthUpdate", "E": 1, "s": name, "U": 1, "u": 2, "b": [], "a": []})
        for name in ('A"B', "ÄBC", "A\\B")
    ]
    out = pair.decode(raws)
    assert not pair.spy.scanned.any()
    assert list(out.instrument) == [1, 2, 3]


def test_instruments_must_fit_the_record():
    with pytest.raises(ValueError, match=r"'BIG'.*int32"):
        DepthDecoder({"BIG": 2**31})


def test_an_empty_batch_is_empty():
    out = Pair().decode([])
    assert len(out) == 0 and out.records.shape == (0,)


def reference_decimal(text: str, exp: int) -> int | None:
    """The decimal rules in plain Python: the value in units of ``10**-exp``, or None."""
    if not re.fullmatch(r"[0-9]*\.?[0-9]*", text) or text in ("", "."):
        return None
    whole, _, decimals = text.partition(".")
    if decimals[exp:].strip("0"):
        return None
    value = int((whole + decimals[:exp].ljust(exp, "0")) or "0")
    return value if value <= INT64_MAX else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text("0123456789.", max_size=24) | st.text("0123456789.e-+x", max_size=6),
            st.integers(0, 24),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_decimals_follow_the_plain_python_rules(fields):
    buf = np.frombuffer(" ".join(text for text, _ in fields).encode(), np.uint8)
    exps = np.array([exp for _, exp in fields], np.int64)
    out = np.full(len(fields), -7, np.int64)
    bad = np.zeros(len(fields), np.bool_)
    assert parse_decimals(buf, exps, out, bad) == len(fields)
    for k, (text, exp) in enumerate(fields):
        want = reference_decimal(text, exp)
        assert (bool(bad[k]), int(out[k])) == (want is None, want or 0), (text, exp)
