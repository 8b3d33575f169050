"""FIX 4.4 market-data decode benchmark: lowlat's compiled decoder against ``simplefix``.

Both parse the same in-memory incremental refreshes (35=X, 2–4 entries each) and extract
the same fields (MsgSeqNum, per entry action, type, id, symbol, price, size); lowlat
turns them into ``MARKET_EVENT_DTYPE`` records, simplefix into Python values. Every run
checks the message and entry counts (and lowlat's price sum): ``errors`` counts mismatches.
Rates are messages per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import simplefix

from bench.harness import Case, summarize
from lowlat.feeds.fix import FixDecoder
from lowlat.feeds.fix.codec import MDEntry, incremental_refresh

__all__ = ["CASES", "FIX_PARSE", "FIX_SIMPLEFIX", "make_stream"]

FIX_PARSE = "fix parse X (2–4 entries)"
FIX_SIMPLEFIX = "simplefix parse X (2–4 entries)"
TARGET_MSGS = 1e6
_SYMBOLS = ["AAPL", "MSFT", "ES", "NQ", "EURUSD"]
_TEMPLATES = 512  # distinct messages; the stream repeats them with fresh MsgSeqNums

_streams: dict[int, tuple[list[bytes], int, int]] = {}


def make_stream(messages: int) -> tuple[list[bytes], int, int]:
    """``messages`` incremental refreshes: ``(messages, entries, price sum in ticks)``."""
    if messages in _streams:
        return _streams[messages]
    rng = np.random.default_rng(4)
    templates = []
    for _ in range(_TEMPLATES):
        entries = []
        for _ in range(int(rng.integers(2, 5))):
            entries.append(
                MDEntry(
                    type=str(rng.integers(0, 2)),
                    px=f"{rng.integers(1, 5000)}.{rng.integers(0, 10_000):04d}",
                    size=str(rng.integers(1, 1000)),
                    action=str(rng.integers(0, 2)),
                    id=str(rng.integers(1, 1 << 40)),
                    symbol=_SYMBOLS[int(rng.integers(0, len(_SYMBOLS)))],
                )
            )
        templates.append(entries)
    parts = []
    entries_total = 0
    price_sum = 0
    for seq in range(1, messages + 1):
        entries = templates[seq % _TEMPLATES]
        entries_total += len(entries)
        price_sum += sum(round(float(e.px) * 10_000) for e in entries)
        parts.append(incremental_refresh(seq, entries, sending_time="20240102-14:30:00.123456"))
    _streams.clear()  # keep one stream in memory at a time
    _streams[messages] = (parts, entries_total, price_sum)
    return _streams[messages]


def _lowlat_once(
    data: np.ndarray, messages: int, entries: int, price_sum: int
) -> tuple[float, int]:
    decoder = FixDecoder(batch=65_536)
    decoder.out.fill(0)  # fault the output pages in before the clock starts
    got = 0
    prices = 0
    start = time.perf_counter()
    for batch in decoder.feed(data, copy=False):
        got += batch.shape[0]
        prices += int(batch["price"].sum())
    for batch in decoder.finish(copy=False):
        got += batch.shape[0]
    seconds = time.perf_counter() - start
    report = decoder.stats
    errors = int(got != entries) + int(prices != price_sum)
    errors += int(decoder.quarantine.total != 0) + int(report[1] != messages)
    return messages / seconds, errors


def _case_fix_parse(repeats: int, events: int) -> list[dict[str, Any]]:
    parts, entries, price_sum = make_stream(events)
    raw = b"".join(parts)
    data = np.frombuffer(bytearray(raw), np.uint8)
    _lowlat_once(data[: min(len(data), 10_000)], 0, 0, 0)  # compile / load outside timing
    runs = [_lowlat_once(data, events, entries, price_sum) for _ in range(repeats)]
    return [
        {
            "name": FIX_PARSE,
            "unit": "msg/s",
            "better": "higher",
            **summarize([rate for rate, _ in runs]),
            "events": events,
            "bytes": len(raw),
            "errors": sum(e for _, e in runs),
            "target": TARGET_MSGS,
            "note": "from memory, checksum + body length verified, records out",
        }
    ]


def _simplefix_once(parts: list[bytes], messages: int, entries: int) -> tuple[float, int]:
    parser = simplefix.FixParser()
    got_messages = 0
    got_entries = 0
    start = time.perf_counter()
    for part in parts:  # one message per append: its buffer handling is quadratic in size
        parser.append_buffer(part)
        msg = parser.get_message()
        if msg is None:
            continue
        got_messages += 1
        int(msg.get(34))
        for n in range(1, int(msg.get(268)) + 1):
            (
                msg.get(279, n),
                msg.get(269, n),
                int(msg.get(278, n)),
                msg.get(55, n),
                round(float(msg.get(270, n)) * 10_000),
                int(msg.get(271, n)),
            )
            got_entries += 1
    seconds = time.perf_counter() - start
    return messages / seconds, int(got_messages != messages) + int(got_entries != entries)


def _case_fix_simplefix(repeats: int, events: int) -> list[dict[str, Any]]:
    parts, entries, _ = make_stream(events)
    runs = [_simplefix_once(parts, events, entries) for _ in range(repeats)]
    return [
        {
            "name": FIX_SIMPLEFIX,
            "unit": "msg/s",
            "better": "higher",
            **summarize([rate for rate, _ in runs]),
            "events": events,
            "errors": sum(e for _, e in runs),
            "baseline_of": FIX_PARSE,
            "note": "same messages, same fields; simplefix does not verify the checksum",
        }
    ]


CASES: dict[str, Case] = {
    "fix_parse": (_case_fix_parse, 2_000_000, 200_000),
    "fix_simplefix": (_case_fix_simplefix, 100_000, 20_000),
}
