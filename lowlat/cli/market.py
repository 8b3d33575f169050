"""The market-data part of ``lowlat run``: a simulated session through every stage so far.

Control code. A simulator session is written as ITCH 5.0, decoded in batches, classified
into priority lanes and drained critical-first, applied to the order books with the
signals updated after each event, and the mid changes fed to the pattern engine. Each
component reads its own table of one TOML file (``lowlat/cli/run.toml`` by default).
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lowlat.book import BookConfig, OrderBooks
from lowlat.cli.tables import format_table
from lowlat.core.records import MARKET_EVENT_DTYPE, PRICE_SCALE
from lowlat.feeds.itch import ItchDecoder, iter_records
from lowlat.feeds.sim import write_scenario
from lowlat.signals.lanes import LaneConfig, PriorityLanes
from lowlat.signals.micro import MicroSignals, SignalConfig
from lowlat.signals.patterns import PatternConfig, PatternEngine

__all__ = ["DEFAULT_CONFIG", "MarketRun", "run_market"]

DEFAULT_CONFIG = Path(__file__).with_name("run.toml")
_BATCH = 4_096  # records pushed into the lanes, then drained, per step
_MARKET_KEYS = {"scenario", "instruments", "messages"}


@dataclass(frozen=True)
class MarketRun:
    """What the session did: counts, per-stage tables and the time it took."""

    messages: int
    seconds: float
    tables: list[str]


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read run config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"run config {path} is not valid TOML: {error}") from None


def _price(ticks: float) -> str:
    return f"{ticks / PRICE_SCALE:.4f}"


def run_market(config_path: Path = DEFAULT_CONFIG) -> MarketRun:
    """Run the configured simulated session through lanes, books, signals and patterns.

    Raises
    ------
    ValueError
        If the config file is missing, not TOML, or has an invalid value (the message
        names the table and key).
    """
    data = _load(config_path)
    market = dict(data.get("market", {}))
    unknown = sorted(set(market) - _MARKET_KEYS)
    if unknown:
        raise ValueError(f"unknown [market] keys {unknown}; known: {sorted(_MARKET_KEYS)}")
    books = OrderBooks(BookConfig.from_dict(data.get("book", {})))
    signals = MicroSignals(SignalConfig.from_dict(data.get("signals", {})), books)
    lanes = PriorityLanes(LaneConfig.from_dict(data.get("lanes", {})))
    patterns = (
        PatternEngine(PatternConfig.from_dict(data["patterns"])) if "patterns" in data else None
    )
    drained = np.zeros(_BATCH, MARKET_EVENT_DTYPE)
    ticks = np.zeros(_BATCH, MARKET_EVENT_DTYPE)
    found = []
    decoder = ItchDecoder()
    with tempfile.TemporaryDirectory(prefix="lowlat-run-") as tmp:
        path = Path(tmp) / "session.itch"
        try:
            write_scenario(
                market.get("scenario", "flash-crash"),
                path,
                instruments=market.get("instruments", 8),
                messages=market.get("messages", 300_000),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"[market]: {error}") from None
        started = time.perf_counter()
        for batch in iter_records(path, _BATCH, decoder=decoder):
            lanes.push(batch)
            while (count := lanes.drain(drained)) > 0:
                signals.process(drained[:count], ticks)
                if patterns is not None:
                    found.append(patterns.feed(ticks[: signals.ticks_written]))
    books.finish()
    seconds = time.perf_counter() - started
    events = np.concatenate(found) if found else np.zeros(0)
    return MarketRun(
        messages=decoder.messages,
        seconds=seconds,
        tables=[
            _books_table(books, signals, decoder, decoder.messages, seconds),
            _lanes_table(lanes),
            _patterns_table(patterns, events),
        ],
    )


def _books_table(
    books: OrderBooks, signals: MicroSignals, decoder: ItchDecoder, messages: int, seconds: float
) -> str:
    rows = []
    for instrument in sorted(books.instruments):
        top = books.top(instrument)
        v = signals.values(instrument)
        problems = books.book_counters(instrument)
        rows.append(
            [
                decoder.symbol(instrument) or instrument,
                f"{top.bid_size}@{_price(top.bid_price)}",
                f"{top.ask_size}@{_price(top.ask_price)}",
                f"{v['microprice'] / PRICE_SCALE:.4f}",
                f"{v['imbalance_top']:+.2f}",
                f"{v['imbalance_n']:+.2f}",
                f"{v['flow']:+.2f}",
                f"{v['volatility']:.2f}",
                f"{v['migration']:+.3f}",
                problems["crossed"] + problems["unknown_order"] + problems["negative_size"],
            ]
        )
    totals = books.counters()
    return format_table(
        [
            "symbol",
            "bid",
            "ask",
            "microprice",
            "imb top",
            "imb N",
            "flow",
            "vol bps",
            "migration",
            "problems",
        ],
        rows,
        title=(
            f"Books and signals after {messages:,} ITCH messages "
            f"({messages / seconds / 1e6:.2f} M msg/s from the file through every stage; "
            f"{totals['live_orders']:,} live orders, "
            f"{books.memory_bytes / 2**20:.0f} MiB preallocated)"
        ),
    )


def _lanes_table(lanes: PriorityLanes) -> str:
    stats = lanes.stats()
    rows = [
        [s.name, s.enqueued, s.drained, s.dropped + s.evicted, s.max_delay_events]
        for s in stats.lanes
    ]
    return format_table(
        ["lane", "enqueued", "drained", "shed", "max delay (events)"],
        rows,
        title="Priority lanes (drained critical-first, starvation-bounded)",
    )


def _patterns_table(patterns: PatternEngine | None, events: np.ndarray) -> str:
    if patterns is None:
        return "Patterns: none configured (a [patterns] table in the run config)"
    rows = []
    for index, pattern in enumerate(patterns.config.patterns):
        fired = events[events["pattern"] == index] if len(events) else events
        first = int(fired["trigger_seq"][0]) if len(fired) else "-"
        rows.append([pattern.name, pattern.kind, len(fired), first])
    stats = patterns.stats()
    return format_table(
        ["pattern", "kind", "fired", "first trigger seq"],
        rows,
        title=f"Patterns over {stats.observations:,} mid changes and trades",
    )
