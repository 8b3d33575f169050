"""Synthetic Binance sessions for the depth tests: a venue book, its snapshots and diffs."""

from __future__ import annotations

import random

import numpy as np
import orjson

from lowlat.core.records import EventKind, Side
from lowlat.feeds.depth import FLAG_BOOK_START, FLAG_TOP_OF_BOOK

PRICE_SCALE = 10**8


def price_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def diff(symbol, first, final, bids=(), asks=(), *, prev=None, time_ms=1_700_000_000_000):
    body = {"e": "depthUpdate", "E": time_ms, "s": symbol, "U": first, "u": final}
    if prev is not None:
        body["pu"] = prev
    body["b"] = [list(level) for level in bids]
    body["a"] = [list(level) for level in asks]
    return orjson.dumps(body)


def snapshot(last_id, bids=(), asks=()):
    return orjson.dumps(
        {"lastUpdateId": last_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}
    )


class Venue:
    """One symbol's book on the venue side, moved by random diffs with contiguous ids."""

    def __init__(self, symbol="BTCUSDT", *, seed=1, futures=False, last_id=1_000):
        self.symbol = symbol
        self.rng = random.Random(seed)
        self.futures = futures
        self.last_id = last_id
        self.book = {"b": {}, "a": {}}
        for k in range(10):
            self.book["b"][price_text(10_000 - k)] = f"{self.rng.randint(1, 99)}.5"
            self.book["a"][price_text(10_001 + k)] = f"{self.rng.randint(1, 99)}.25"

    def snapshot(self):
        bids = sorted(self.book["b"].items(), key=lambda kv: -float(kv[0]))
        asks = sorted(self.book["a"].items(), key=lambda kv: float(kv[0]))
        return snapshot(self.last_id, bids, asks)

    def step(self):
        """One diff of 1–8 level changes; ids advance by 1–3 (several updates merged)."""
        levels = {"b": [], "a": []}
        for _ in range(self.rng.randint(1, 8)):
            side = self.rng.choice("ba")
            cents = (9_990 if side == "b" else 10_001) + self.rng.randint(0, 9)
            price = price_text(cents)
            qty = "0.00000000" if self.rng.random() < 0.25 else f"{self.rng.randint(1, 500)}.125"
            levels[side] = [lv for lv in levels[side] if lv[0] != price] + [[price, qty]]
            if qty.strip("0.") == "":
                self.book[side].pop(price, None)
            else:
                self.book[side][price] = qty
        first = self.last_id + 1
        final = self.last_id + self.rng.randint(1, 3)
        prev = self.last_id if self.futures else None
        self.last_id = final
        return diff(self.symbol, first, final, levels["b"], levels["a"], prev=prev)

    def ticks(self, instrument=1):
        """The book as ``{(instrument, side, price ticks): qty lots}``."""
        out = {}
        for key, side in (("b", Side.BUY), ("a", Side.SELL)):
            for price, qty in self.book[key].items():
                out[(instrument, int(side), to_units(price))] = to_units(qty)
        return out


def to_units(text: str, scale: int = PRICE_SCALE) -> int:
    whole, _, frac = text.partition(".")
    digits = len(str(scale)) - 1
    return int(whole) * scale + int((frac + "0" * digits)[:digits] or 0)


def apply_records(book: dict, records: np.ndarray) -> dict:
    """A dict book moved by depth records: snapshots reset their instrument's levels."""
    for r in records:
        if r["kind"] not in (EventKind.QUOTE, EventKind.SNAPSHOT) or r["flags"] & FLAG_TOP_OF_BOOK:
            continue
        instrument = int(r["instrument"])
        if r["flags"] & FLAG_BOOK_START:
            for key in [k for k in book if k[0] == instrument]:
                del book[key]
        if r["side"] == Side.NONE:
            continue
        key = (instrument, int(r["side"]), int(r["price"]))
        if r["qty"] == 0:
            book.pop(key, None)
        else:
            book[key] = int(r["qty"])
    return book
