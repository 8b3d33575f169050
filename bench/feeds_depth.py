"""Binance depth-diff decode benchmark: lowlat's ``DepthDecoder`` against stdlib ``json``.

Both decode the same in-memory ``depthUpdate`` messages (5–10 levels each, 8-decimal
strings as Binance sends them) into ``MARKET_EVENT_DTYPE`` records with exact integer
prices and quantities. lowlat takes ``DECODE_CALL`` messages per call, which its compiled
scanner reads straight from the raw bytes (canonical diffs, the steady state of a
stream); the baseline parses each message with ``json.loads`` and converts each level in
Python. Every run checks the record count and the price and quantity sums: ``errors``
counts mismatches and quarantined messages. Rates are messages per second.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import orjson

from bench.harness import Case, summarize
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind, Side
from lowlat.feeds.depth import DepthDecoder

__all__ = ["CASES", "DECODE", "DECODE_CALL", "STDLIB", "make_stream"]

DECODE = "depth_decode"
STDLIB = "depth_json_stdlib"
TARGET_MSGS = 5e5
DECODE_CALL = 1_024  # messages per DepthDecoder.decode call
_SYMBOL = "BTCUSDT"
_TEMPLATES = 512  # distinct level sets; the stream repeats them with fresh update ids
_EXP = 8

_streams: dict[int, tuple[list[bytes], int, int, int]] = {}


def _decimal(rng: np.random.Generator, whole: int) -> str:
    return f"{int(rng.integers(0, whole))}.{int(rng.integers(0, 10**8)):08d}"


def make_stream(messages: int) -> tuple[list[bytes], int, int, int]:
    """``messages`` diffs: ``(messages, levels, price sum, qty sum)``, sums in 1e-8 units."""
    if messages in _streams:
        return _streams[messages]
    rng = np.random.default_rng(7)
    templates = []
    for _ in range(_TEMPLATES):
        n = int(rng.integers(5, 11))
        levels = [[_decimal(rng, 70_000), _decimal(rng, 100)] for _ in range(n)]
        cut = int(rng.integers(0, n + 1))
        templates.append((levels[:cut], levels[cut:]))
    parts = []
    levels_total = price_sum = qty_sum = 0
    for k in range(messages):
        bids, asks = templates[k % _TEMPLATES]
        body = {"e": "depthUpdate", "E": 1_700_000_000_000 + k, "s": _SYMBOL}
        body |= {"U": 3 * k + 1, "u": 3 * k + 3, "b": bids, "a": asks}
        parts.append(orjson.dumps(body))
        for price, qty in bids + asks:
            levels_total += 1
            price_sum += int(price.replace(".", ""))
            qty_sum += int(qty.replace(".", ""))
    _streams.clear()  # keep one stream in memory at a time
    _streams[messages] = (parts, levels_total, price_sum, qty_sum)
    return _streams[messages]


def _lowlat_once(parts: list[bytes], levels: int, prices: int, qtys: int) -> tuple[float, int]:
    decoder = DepthDecoder({_SYMBOL: 1})
    got = got_prices = got_qtys = 0
    start = time.perf_counter()
    for i in range(0, len(parts), DECODE_CALL):
        records = decoder.decode(parts[i : i + DECODE_CALL]).records
        got += records.shape[0]
        got_prices += int(records["price"].sum())
        got_qtys += int(records["qty"].sum())
    seconds = time.perf_counter() - start
    errors = int(got != levels) + int(got_prices != prices) + int(got_qtys != qtys)
    return len(parts) / seconds, errors + decoder.quarantine.total


def _case_decode(repeats: int, events: int) -> list[dict[str, Any]]:
    parts, levels, prices, qtys = make_stream(events)
    _lowlat_once(parts[:DECODE_CALL], 0, 0, 0)  # compile / load outside timing
    runs = [_lowlat_once(parts, levels, prices, qtys) for _ in range(repeats)]
    return [
        {
            "name": DECODE,
            "unit": "msg/s",
            "better": "higher",
            **summarize([rate for rate, _ in runs]),
            "events": events,
            "levels": levels,
            "errors": sum(e for _, e in runs),
            "target": TARGET_MSGS,
            "note": f"compiled scanner over raw bytes, {DECODE_CALL} msgs per call",
        }
    ]


def _units(text: str) -> int:
    whole, _, frac = text.partition(".")
    if len(frac) > _EXP:
        raise ValueError(text)
    return int(whole or "0") * 10**_EXP + int(frac.ljust(_EXP, "0"))


def _stdlib_once(parts: list[bytes], levels: int, prices: int, qtys: int) -> tuple[float, int]:
    got = got_prices = got_qtys = 0
    start = time.perf_counter()
    for raw in parts:
        msg = json.loads(raw)
        head = (msg["u"], 0, msg["E"] * 1_000_000, 0)
        rows = [
            (*head, _units(p), _units(q), msg["U"], 1, EventKind.QUOTE, side, 0, 0)
            for side, key in ((Side.BUY, "b"), (Side.SELL, "a"))
            for p, q in msg[key]
        ]
        records = np.array(rows, MARKET_EVENT_DTYPE)
        got += records.shape[0]
        got_prices += int(records["price"].sum())
        got_qtys += int(records["qty"].sum())
    seconds = time.perf_counter() - start
    errors = int(got != levels) + int(got_prices != prices) + int(got_qtys != qtys)
    return len(parts) / seconds, errors


def _case_stdlib(repeats: int, events: int) -> list[dict[str, Any]]:
    parts, levels, prices, qtys = make_stream(events)
    runs = [_stdlib_once(parts, levels, prices, qtys) for _ in range(repeats)]
    return [
        {
            "name": STDLIB,
            "unit": "msg/s",
            "better": "higher",
            **summarize([rate for rate, _ in runs]),
            "events": events,
            "errors": sum(e for _, e in runs),
            "baseline_of": DECODE,
            "note": "json.loads per message, exact per-level conversion in Python",
        }
    ]


CASES: dict[str, Case] = {
    DECODE: (_case_decode, 1_000_000, 100_000),
    STDLIB: (_case_stdlib, 200_000, 20_000),
}
