"""Binance JSON market data to ``MARKET_EVENT_DTYPE`` records, many messages per call.

Three paths, fastest first, with identical results. The steady state of a depth stream,
canonical ``depthUpdate`` diffs, is decoded straight from the raw bytes by the compiled
scanner (:func:`~lowlat.feeds.depth.kernels.scan_depth`), which leaves every message it
is not sure about to the others. A batch of nothing but diffs is then parsed with one
orjson call, and its decimal strings (prices and quantities) are converted in one
compiled pass over the joined strings: exact, never through a float, with the scale
chosen per symbol. Anything else goes message by message with orjson, which decides
what to quarantine. Decoded kinds:

* ``depthUpdate`` diff events: one QUOTE per level change (bids BUY, asks SELL, qty 0 =
  level removed), ``seq`` = final update id ``u``, ``aux`` = first update id ``U``.
* REST depth snapshots (``lastUpdateId``, ``bids``, ``asks``): SNAPSHOT records, the first
  flagged :data:`FLAG_BOOK_START` (a snapshot with no level still yields one record, side
  NONE, so that the book reset is never lost), ``seq`` = ``lastUpdateId``.
* ``bookTicker``: two QUOTE records (best bid, best ask) flagged :data:`FLAG_TOP_OF_BOOK`.
* ``trade``: one TRADE, side = aggressor, ``seq`` = trade id.

Combined-stream envelopes ``{"stream": ..., "data": {...}}`` are unwrapped. Anything that
cannot be decoded lands in the decoder's :class:`~lowlat.feeds.quarantine.Quarantine`
(BAD_FIELD, or UNKNOWN_TYPE for valid JSON of no known kind) with a sample; nothing raises.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import chain
from operator import itemgetter

import numpy as np
import orjson

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.depth.kernels import parse_decimals, scan_depth, symbol_hash
from lowlat.feeds.quarantine import ErrorKind, Quarantine
from lowlat.feeds.quarantine_kernels import reject

__all__ = [
    "DEFAULT_PRICE_SCALE",
    "DEFAULT_QTY_SCALE",
    "FLAG_BOOK_START",
    "FLAG_TOP_OF_BOOK",
    "NO_ID",
    "Decoded",
    "DepthDecoder",
    "MessageKind",
    "SymbolSpec",
    "parse_decimals",
]

DEFAULT_PRICE_SCALE = 10**8  # ticks per currency unit: Binance quotes up to 8 decimals
DEFAULT_QTY_SCALE = 10**8  # lots per base-asset unit
FLAG_BOOK_START = 1  # first record of a snapshot: the consumer clears its book first
FLAG_TOP_OF_BOOK = 2  # a bookTicker best bid/offer, not a depth level
NO_ID = -1  # an update id the message does not carry (``pu`` on spot streams)
_MIN_LEVEL_BYTES = 9  # ["0","0"]: the scanner needs at most one record per 9 bytes
_DEPTH_FIELDS = itemgetter("e", "E", "s", "U", "u", "b", "a")
_DATA = itemgetter("data")


class MessageKind(IntEnum):
    """What one JSON message was (``Decoded.kind``); REJECTED went to the quarantine."""

    REJECTED = 0
    DEPTH = 1
    SNAPSHOT = 2
    BOOK_TICKER = 3
    TRADE = 4


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How one symbol maps to records: instrument id and power-of-ten scales."""

    instrument: int
    price_scale: int = DEFAULT_PRICE_SCALE
    qty_scale: int = DEFAULT_QTY_SCALE


@dataclass(slots=True)
class Decoded:
    """Records of a batch of messages with per-message metadata (rejected ones included).

    Attributes
    ----------
    records
        ``MARKET_EVENT_DTYPE`` records of all accepted messages, in message order.
    kind
        ``int8[n]``: :class:`MessageKind` of each input message.
    instrument
        ``int32[n]``: instrument id (0 if rejected).
    first_id, final_id, prev_id
        ``int64[n]``: ``U``, ``u`` and ``pu`` of depth diffs, ``lastUpdateId`` as
        ``final_id`` of snapshots, :data:`NO_ID` where absent.
    start, stop
        ``int64[n]``: message ``i`` produced ``records[start[i]:stop[i]]``.
    """

    records: np.ndarray
    kind: np.ndarray
    instrument: np.ndarray
    first_id: np.ndarray
    final_id: np.ndarray
    prev_id: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    def __len__(self) -> int:
        return int(self.kind.shape[0])


def _exponent(scale: int) -> int:
    exp = len(str(scale)) - 1
    if scale < 1 or 10**exp != scale:
        raise ValueError(f"scale must be a power of ten, not {scale}")
    return exp


class _Batch:
    """Per-message columns collected by the Python pass, converted together afterwards."""

    __slots__ = (
        "asks", "bids", "exchange_ms", "final", "first", "flags", "instrument", "kind", "pexp",
        "prev", "qexp", "raw", "record_kind", "recv", "where",
    )  # fmt: skip

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])


class _ScanTable:
    """The symbol table as arrays for :func:`scan_depth`, kept in step by ``add_symbol``.

    Rows are never removed. A symbol that no canonical message can name (not printable
    ASCII, or holding a quote or a backslash) is left out, so that its messages take the
    orjson path.
    """

    __slots__ = ("lengths", "names", "rows", "slots", "specs")

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.names = np.zeros((0, 0), np.uint8)
        self.lengths = np.zeros(0, np.int64)
        self.specs = np.zeros((0, 3), np.int64)
        self._resize(8, 16)  # the first rows: a Binance symbol has up to a dozen letters

    def set(self, name: str, instrument: int, price_exp: int, qty_exp: int) -> None:
        """Map ``name`` to ``(instrument, price_exp, qty_exp)`` for the scanner."""
        if not name.isascii() or not name.isprintable() or '"' in name or "\\" in name:
            return
        row = self.rows.get(name)
        if row is None:
            row = len(self.rows)
            self._resize(row + 1, len(name))
            self.names[row, : len(name)] = np.frombuffer(name.encode(), np.uint8)
            self.lengths[row] = len(name)
            self.rows[name] = row
            self._index(name, row)
        self.specs[row] = (instrument, price_exp, qty_exp)

    def _resize(self, rows: int, width: int) -> None:
        """Room for ``rows`` names of ``width`` bytes: each dimension doubles until it fits."""
        old = self.names
        new_rows, new_width = max(old.shape[0], 1), max(old.shape[1], 1)
        while new_rows < rows:
            new_rows *= 2
        while new_width < width:
            new_width *= 2
        if (new_rows, new_width) == old.shape:
            return
        self.names = np.zeros((new_rows, new_width), np.uint8)
        self.names[: old.shape[0], : old.shape[1]] = old
        grown = new_rows - old.shape[0]
        self.lengths = np.concatenate((self.lengths, np.full(grown, -1, np.int64)))
        self.specs = np.concatenate((self.specs, np.zeros((grown, 3), np.int64)))
        self.slots = np.full(2 * new_rows, -1, np.int64)  # a power of two, at most half full
        for name, row in self.rows.items():
            self._index(name, row)

    def _index(self, name: str, row: int) -> None:
        data = np.frombuffer(name.encode(), np.uint8)
        mask = self.slots.shape[0] - 1
        slot = symbol_hash(data, 0, data.shape[0]) & mask
        while self.slots[slot] >= 0:
            slot = (slot + 1) & mask
        self.slots[slot] = row


class DepthDecoder:
    """Decoding state for Binance spot/futures JSON: symbol table, scales, quarantine.

    Parameters
    ----------
    symbols
        Venue symbol (as in ``"s"``, e.g. ``"BTCUSDT"``) to instrument id or
        :class:`SymbolSpec`. Messages for other symbols are quarantined (BAD_FIELD).
        When None, every new symbol gets the next id (1, 2, …) and the default scales:
        handy to inspect a capture, not for production, where ids must be stable.
    price_scale, qty_scale
        Default ticks per unit and lots per unit (powers of ten) for symbols given as a
        bare instrument id.

    Attributes
    ----------
    quarantine
        Rejected messages by kind, with samples.
    messages
        ``int64[len(MessageKind)]``: decoded messages by kind (REJECTED counts rejects).
    """

    def __init__(
        self,
        symbols: Mapping[str, int | SymbolSpec] | None,
        *,
        price_scale: int = DEFAULT_PRICE_SCALE,
        qty_scale: int = DEFAULT_QTY_SCALE,
    ) -> None:
        self.specs: dict[str, SymbolSpec] = {}
        self._table: dict[str, tuple[int, int, int]] = {}
        self._scan_table = _ScanTable()
        self._scratch = np.empty(0, MARKET_EVENT_DTYPE)  # the scanner's records, reused
        self._auto = symbols is None
        self._defaults = (price_scale, qty_scale)
        _exponent(price_scale)
        _exponent(qty_scale)
        for name, entry in (symbols or {}).items():
            self.add_symbol(name, entry)
        self.quarantine = Quarantine.empty()
        self.messages = np.zeros(len(MessageKind), np.int64)
        self._offset = 0  # messages seen, the quarantine's "offset" of a sample

    def add_symbol(self, name: str, entry: int | SymbolSpec) -> SymbolSpec:
        """Map venue symbol ``name`` to an instrument id (default scales) or a spec."""
        spec = entry if isinstance(entry, SymbolSpec) else SymbolSpec(int(entry), *self._defaults)
        if not -(2**31) <= spec.instrument < 2**31:
            raise ValueError(f"instrument of {name!r} must fit an int32, not {spec.instrument}")
        self.specs[name] = spec
        self._table[name] = (
            spec.instrument,
            _exponent(spec.price_scale),
            _exponent(spec.qty_scale),
        )
        self._scan_table.set(name, *self._table[name])
        return spec

    def _lookup(self, name: object) -> tuple[int, int, int]:
        found = self._table.get(name)  # type: ignore[arg-type]
        if found is None:
            if not self._auto or type(name) is not str or not name:
                raise KeyError(name)
            self.add_symbol(name, len(self._table) + 1)
            found = self._table[name]
        return found

    def reject(self, raw: bytes | str, kind: ErrorKind = ErrorKind.BAD_FIELD) -> None:
        """Quarantine one message (or capture line) as ``kind``, keeping a sample."""
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        view = np.frombuffer(data, np.uint8) if data else np.zeros(1, np.uint8)
        counts, samples, meta = self.quarantine.arrays
        reject(counts, samples, meta, int(kind), view, 0, len(data), self._offset, -1)

    def symbol_of_stream(self, stream: str) -> str | None:
        """The table symbol a stream name such as ``"btcusdt@depth@100ms"`` is about."""
        wanted = stream.split("@", 1)[0].upper()
        return wanted if wanted in self._table or self._auto else None

    def decode(
        self,
        raws: Sequence[bytes | str],
        recv_ns: Sequence[int] | np.ndarray | int = 0,
        *,
        snapshot_symbol: str | None = None,
    ) -> Decoded:
        """Decode ``raws`` (one JSON message each) into records and per-message metadata.

        Parameters
        ----------
        raws
            Messages as received (combined-stream envelopes allowed).
        recv_ns
            Receive time of each message (or one for all), written to ``recv_ns``.
        snapshot_symbol
            Symbol of bare REST snapshot bodies, which do not name their symbol; when None
            the envelope's stream name says, or the table's only symbol.
        """
        with _gc_paused():
            return self._decode(raws, recv_ns, snapshot_symbol)

    def _decode(
        self,
        raws: Sequence[bytes | str],
        recv_ns: Sequence[int] | np.ndarray | int,
        snapshot_symbol: str | None,
    ) -> Decoded:
        """The scanner; if it left a message, the orjson batch path, then message by message.

        The batch path goes before the mix of scanned and one-by-one messages because it
        is what decides such a batch without the scanner, and it accepts a few diffs that
        the message path rejects (ids below -1): the scanner must not change the outcome.
        """
        count = len(raws)
        recv = np.empty(count, np.int64)
        recv[:] = recv_ns
        scanned = self._scan(raws, recv)
        if scanned is not None and scanned[1] == count:
            self._offset += count
            self.messages[MessageKind.DEPTH] += count
            return scanned[0]
        fast = self._all_depth(raws, recv)
        if fast is not None:
            return fast
        partial = scanned[0] if scanned is not None and scanned[1] else None
        return self._by_message(raws, recv, snapshot_symbol, partial)

    def _scan(self, raws: Sequence[bytes | str], recv: np.ndarray) -> tuple[Decoded, int] | None:
        """Decode the canonical diffs of the batch with the compiled scanner.

        Returns the scanner's output (messages it left have kind REJECTED, no record)
        and how many it decoded; None if the messages are not all bytes-like (``str``),
        which only the orjson paths read.
        """
        try:
            joined = b"".join(raws)  # type: ignore[arg-type]
        except TypeError:
            return None
        count = len(raws)
        ends = np.cumsum(np.fromiter(map(len, raws), np.int64, count))
        if not count or ends[-1] != len(joined):  # items whose length is not their size
            return None
        needed = len(joined) // _MIN_LEVEL_BYTES + 1
        if self._scratch.shape[0] < needed:
            self._scratch = np.empty(max(needed, 2 * self._scratch.shape[0]), MARKET_EVENT_DTYPE)
        accepted = np.empty(count, np.bool_)
        out = Decoded(
            records=self._scratch,
            kind=np.zeros(count, np.int8),
            instrument=np.empty(count, np.int32),
            first_id=np.empty(count, np.int64),
            final_id=np.empty(count, np.int64),
            prev_id=np.empty(count, np.int64),
            start=np.empty(count, np.int64),
            stop=np.empty(count, np.int64),
        )
        table = self._scan_table
        written, taken = scan_depth(
            np.frombuffer(joined, np.uint8), ends, recv, table.names, table.lengths,
            table.specs, table.slots, self._scratch, accepted, out.instrument, out.first_id,
            out.final_id, out.prev_id, out.start, out.stop,
        )  # fmt: skip
        # copied as int64 words: NumPy copies structured records field by field, 20x slower
        out.records = self._scratch[:written].view(np.int64).copy().view(MARKET_EVENT_DTYPE)
        out.kind[accepted] = MessageKind.DEPTH
        return out, int(taken)

    def _by_message(
        self,
        raws: Sequence[bytes | str],
        recv: np.ndarray,
        snapshot_symbol: str | None,
        scanned: Decoded | None,
    ) -> Decoded:
        """Decode message by message with orjson those the scanner left (all if None)."""
        count = len(raws)
        if scanned is None:
            kinds = np.zeros(count, np.int8)
            pending: Sequence[int] = range(count)
        else:
            kinds = scanned.kind.copy()
            pending = np.flatnonzero(kinds == MessageKind.REJECTED).tolist()
        batch = _Batch()
        default_symbol = snapshot_symbol
        if default_symbol is None and len(self._table) == 1:
            default_symbol = next(iter(self._table))
        base = self._offset
        for i in pending:
            self._offset = base + i + 1  # a sample's offset: its message's, in stream order
            raw = raws[i]
            kind = self._collect(batch, raw, default_symbol)
            if kind is None:
                continue
            kinds[i] = kind
            batch.raw.append(raw)
            batch.where.append(i)
            batch.recv.append(int(recv[i]))
        self._offset = base + count
        rest = self._finish(batch, kinds)
        return rest if scanned is None else _merge(scanned, rest, batch.where)

    def _all_depth(self, raws: Sequence[bytes | str], recv: np.ndarray) -> Decoded | None:
        """Decode a batch of nothing but well-formed diffs with C-level passes, else None.

        Anything unusual (another kind, a missing field, a symbol not in the table)
        returns None and the caller takes the message-by-message path, which decides what
        to quarantine.
        """
        if not raws:
            return None
        try:
            msgs = orjson.loads(b"[" + b",".join(raws) + b"]")  # type: ignore[arg-type]
            if len(msgs) != len(raws):  # a message that was really two
                return None
            if "data" in msgs[0]:
                msgs = list(map(_DATA, msgs))
            events, times, names, firsts, finals, bids, asks = zip(
                *map(_DEPTH_FIELDS, msgs), strict=True
            )
            prevs = [m.get("pu", NO_ID) for m in msgs]
            specs = {name: self._table[name] for name in set(names)}
        except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
            return None
        ids = (times, firsts, finals, prevs)
        if set(events) != {"depthUpdate"} or any(set(map(type, v)) != {int} for v in ids):
            return None
        if set(map(type, bids)) != {list} or set(map(type, asks)) != {list}:
            return None
        try:
            columns = [np.asarray(v, np.int64) for v in ids]
        except OverflowError:
            return None
        count = len(raws)
        b = _Batch()
        if len(specs) == 1:
            spec = specs[names[0]]
            b.instrument, b.pexp, b.qexp = (np.full(count, v, np.int64) for v in spec)
        else:
            b.instrument, b.pexp, b.qexp = (
                np.asarray(v, np.int64) for v in zip(*map(specs.__getitem__, names), strict=True)
            )
        b.exchange_ms, b.first, b.final, b.prev = columns
        b.bids, b.asks, b.raw = bids, asks, raws
        b.kind = np.full(count, MessageKind.DEPTH, np.int8)
        b.flags = np.zeros(count, np.uint8)
        b.record_kind = np.full(count, EventKind.QUOTE, np.uint8)
        b.where = np.arange(count)
        b.recv = recv
        self._offset += count
        return self._finish(b, b.kind.copy())

    def _collect(self, b: _Batch, raw: bytes | str, default_symbol: str | None) -> int | None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.reject(raw)
            return None
        stream = None
        if type(msg) is dict and "stream" in msg and type(msg.get("data")) is dict:
            stream = msg["stream"]
            msg = msg["data"]
        if type(msg) is not dict:
            self.reject(raw, ErrorKind.UNKNOWN_TYPE)
            return None
        try:
            event = msg.get("e")
            if event == "depthUpdate":
                kind = MessageKind.DEPTH
                spec = self._lookup(msg["s"])
                ids = (msg["U"], msg["u"], msg.get("pu", NO_ID), msg["E"])
                bids, asks = msg["b"], msg["a"]
                flags, record_kind = 0, EventKind.QUOTE
            elif event == "trade":
                kind = MessageKind.TRADE
                spec = self._lookup(msg["s"])
                seller_aggressed = msg["m"]
                if type(seller_aggressed) is not bool:
                    raise TypeError("m")
                level = [[msg["p"], msg["q"]]]
                # m: the buyer was the maker, so the seller hit the bid
                bids, asks = ([], level) if seller_aggressed else (level, [])
                ids = (NO_ID, msg["t"], NO_ID, msg["T"])
                flags, record_kind = 0, EventKind.TRADE
            elif event == "bookTicker" or (event is None and "B" in msg and "u" in msg):
                kind = MessageKind.BOOK_TICKER
                spec = self._lookup(msg["s"])
                bids, asks = [[msg["b"], msg["B"]]], [[msg["a"], msg["A"]]]
                ids = (NO_ID, msg["u"], NO_ID, msg.get("E", 0))
                flags, record_kind = FLAG_TOP_OF_BOOK, EventKind.QUOTE
            elif event is None and "lastUpdateId" in msg:
                kind = MessageKind.SNAPSHOT
                symbol = default_symbol if stream is None else self.symbol_of_stream(stream)
                spec = self._lookup(symbol)
                bids, asks = msg["bids"], msg["asks"]
                ids = (NO_ID, msg["lastUpdateId"], NO_ID, msg.get("E", 0))
                flags, record_kind = FLAG_BOOK_START, EventKind.SNAPSHOT
            else:
                self.reject(raw, ErrorKind.UNKNOWN_TYPE)
                return None
            if type(bids) is not list or type(asks) is not list:
                raise TypeError("levels")
            for value in ids:
                if type(value) is not int or not -1 <= value < 1 << 63:
                    raise TypeError("id")
        except (KeyError, TypeError):
            self.reject(raw)
            return None
        b.kind.append(kind)
        b.instrument.append(spec[0])
        b.pexp.append(spec[1])
        b.qexp.append(spec[2])
        b.first.append(ids[0])
        b.final.append(ids[1])
        b.prev.append(ids[2])
        b.exchange_ms.append(ids[3])
        b.bids.append(bids)
        b.asks.append(asks)
        b.flags.append(flags)
        b.record_kind.append(record_kind)
        return kind

    def _levels(self, b: _Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Decimal pairs of every kept message: ``(values[L, 2], bad[L], n_bids, n_asks)``."""
        n_bids = np.fromiter(map(len, b.bids), np.int64, len(b.bids))
        n_asks = np.fromiter(map(len, b.asks), np.int64, len(b.asks))
        per_message = np.empty(2 * len(b.bids), np.int64)
        per_message[0::2] = n_bids
        per_message[1::2] = n_asks
        levels = int(per_message.sum())
        exps = np.empty((levels, 2), np.int64)
        totals = n_bids + n_asks
        exps[:, 0] = np.repeat(np.asarray(b.pexp, np.int64), totals)
        exps[:, 1] = np.repeat(np.asarray(b.qexp, np.int64), totals)
        values = np.zeros((levels, 2), np.int64)
        bad = np.zeros((levels, 2), np.bool_)
        fields = list(chain.from_iterable(chain.from_iterable(zip(b.bids, b.asks, strict=True))))
        text = None
        if set(map(type, fields)) <= {list} and set(map(len, fields)) <= {2}:
            with contextlib.suppress(TypeError):  # a non-string inside
                text = " ".join(chain.from_iterable(fields)).encode()
        if text is None:  # odd shapes (3-element levels, non-strings): level by level
            text = " ".join(_pair_text(f) for f in fields).encode()
        if levels:
            found = parse_decimals(
                np.frombuffer(text, np.uint8), exps.reshape(-1), values.reshape(-1),
                bad.reshape(-1),
            )  # fmt: skip
            if found != 2 * levels:  # a separator smuggled inside a string
                bad[:] = np.asarray([_pair_text(f).count(" ") != 1 for f in fields])[:, None]
                for row in np.flatnonzero(~bad.any(axis=1)):
                    parse_decimals(
                        np.frombuffer(_pair_text(fields[row]).encode(), np.uint8),
                        exps[row], values[row], bad[row],
                    )  # fmt: skip
        return values, bad.any(axis=1), n_bids, n_asks

    def _finish(self, b: _Batch, kinds: np.ndarray) -> Decoded:
        count = kinds.shape[0]
        kept = len(b.kind)
        values, bad_level, n_bids, n_asks = self._levels(b)
        totals = n_bids + n_asks
        owner = np.repeat(np.arange(kept), totals)
        bad_message = np.bincount(owner[bad_level], minlength=kept) > 0
        for m in np.flatnonzero(bad_message):
            self.reject(b.raw[m])
            kinds[b.where[m]] = MessageKind.REJECTED
        # a snapshot without levels still emits its book-start marker
        record_kind = np.asarray(b.record_kind, np.uint8)
        empty_snapshot = (record_kind == EventKind.SNAPSHOT) & (totals == 0) & ~bad_message
        emitted = np.where(bad_message, 0, totals + empty_snapshot)
        level_keep = ~bad_message[owner]
        stop_kept = np.cumsum(emitted)
        start_kept = stop_kept - emitted
        records = np.zeros(int(stop_kept[-1]) if kept else 0, MARKET_EVENT_DTYPE)
        rec_owner = np.repeat(np.arange(kept), emitted)
        first_of = np.zeros(records.shape[0], np.bool_)
        first_of[start_kept[emitted > 0]] = True
        levels_at = np.ones(records.shape[0], np.bool_)
        levels_at[start_kept[empty_snapshot]] = False
        side_pattern = np.tile(np.array([Side.BUY, Side.SELL], np.uint8), kept)
        per_message = np.empty(2 * kept, np.int64)
        per_message[0::2] = n_bids
        per_message[1::2] = n_asks
        sides = np.repeat(side_pattern, per_message)
        if records.shape[0]:
            instrument = np.asarray(b.instrument, np.int32)
            final = np.asarray(b.final, np.int64)
            first = np.asarray(b.first, np.int64)
            records["seq"] = final[rec_owner]
            records["aux"] = np.where(first[rec_owner] == NO_ID, 0, first[rec_owner])
            records["recv_ns"] = np.asarray(b.recv, np.int64)[rec_owner]
            records["exchange_ns"] = np.asarray(b.exchange_ms, np.int64)[rec_owner] * 1_000_000
            records["instrument"] = instrument[rec_owner]
            records["kind"] = record_kind[rec_owner]
            flags = np.asarray(b.flags, np.uint8)[rec_owner]
            # only a snapshot's first record starts the book; top-of-book marks both
            records["flags"] = np.where(
                flags == FLAG_BOOK_START, np.where(first_of, FLAG_BOOK_START, 0), flags
            )
            records["price"][levels_at] = values[level_keep, 0]
            records["qty"][levels_at] = values[level_keep, 1]
            records["side"][levels_at] = sides[level_keep]
        out = Decoded(
            records=records,
            kind=kinds,
            instrument=np.zeros(count, np.int32),
            first_id=np.full(count, NO_ID, np.int64),
            final_id=np.full(count, NO_ID, np.int64),
            prev_id=np.full(count, NO_ID, np.int64),
            start=np.zeros(count, np.int64),
            stop=np.zeros(count, np.int64),
        )
        if kept:
            where = np.asarray(b.where, np.int64)
            out.instrument[where] = b.instrument
            out.first_id[where] = b.first
            out.final_id[where] = b.final
            out.prev_id[where] = b.prev
            out.start[where] = start_kept
            out.stop[where] = stop_kept
            rejected = kinds == MessageKind.REJECTED
            out.instrument[rejected] = 0
            for ids in (out.first_id, out.final_id, out.prev_id):
                ids[rejected] = NO_ID
        self.messages += np.bincount(kinds, minlength=len(MessageKind))
        return out


def _merge(scanned: Decoded, rest: Decoded, collected: Sequence[int]) -> Decoded:
    """One batch from the scanner's messages and those decoded one by one after it.

    ``rest`` has every message's final kind; ``collected`` are the messages that reached
    the level conversion (the others were rejected before: no record span, as when the
    whole batch goes message by message).
    """
    mine = scanned.kind == MessageKind.DEPTH
    sizes = np.where(mine, scanned.stop - scanned.start, rest.stop - rest.start)
    source = np.where(mine, scanned.start, rest.start + scanned.records.shape[0])
    stop = np.cumsum(sizes)
    start = stop - sizes
    pool = np.concatenate((scanned.records, rest.records))
    records = pool[np.repeat(source - start, sizes) + np.arange(stop[-1])]
    spanless = ~mine
    spanless[collected] = False
    start[spanless] = 0
    stop[spanless] = 0
    return Decoded(
        records=records,
        kind=rest.kind,
        instrument=np.where(mine, scanned.instrument, rest.instrument),
        first_id=np.where(mine, scanned.first_id, rest.first_id),
        final_id=np.where(mine, scanned.final_id, rest.final_id),
        prev_id=np.where(mine, scanned.prev_id, rest.prev_id),
        start=start,
        stop=stop,
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a batch's JSON objects are alive.

    Parsing allocates tens of thousands of acyclic lists and strings; with the collector
    on, its generation-0 passes rescan them over and over and cost more than the parse
    itself (measured 3x at 8192 messages per call). Reference counting frees them all.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _pair_text(level: object) -> str:
    """One level as ``"price qty"``, or an unparseable token if it is not two strings."""
    if isinstance(level, list) and len(level) >= 2:
        price, qty = level[0], level[1]
        if type(price) is str and type(qty) is str:
            return f"{price} {qty}"
    return "? ?"
