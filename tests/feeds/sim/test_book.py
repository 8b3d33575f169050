"""Replay the generated records into a plain-Python book: consistency and scenario shapes."""

import functools
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lowlat.core.records import EventKind, Side
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import scenario, write_config
from lowlat.feeds.sim.scenarios import (
    AUCTION_SHARE,
    CRASH_DEPTH,
    CRASH_START_S,
    NEWS_SECONDS,
    NEWS_SECTOR,
    NEWS_START_S,
)
from lowlat.feeds.sim.writer import OPEN_NS

SMALL = os.environ.get("NUMBA_DISABLE_JIT") == "1"
MESSAGES = 20_000 if SMALL else 200_000
INSTRUMENTS = 8
SECTORS = 4  # the scenarios' default


class Replay:
    """The book implied by a file, with the checks a consumer relies on.

    ``violations`` lists every E/X/D/U naming an order that is not resting (or with more
    shares than it has), every reused order reference and every add or replace that
    crosses the book (a buy at or above the best sell, or a sell at or below the best buy).
    ``mids[b, i]`` is instrument ``i``'s (best bid + best ask) / 2 at the end of second
    ``b`` after the open (NaN while a side is empty), ``per_second[b]`` its message count.
    """

    def __init__(self, path: Path, seconds: int) -> None:
        self.orders: dict[int, list[int]] = {}  # ref -> [instrument, side, price, qty]
        self.books: list[dict[int, list[int]]] = [{} for _ in range(INSTRUMENTS + 1)]
        self.used: set[int] = set()
        self.violations: list[str] = []
        self.mids = np.full((seconds, INSTRUMENTS), np.nan)
        self.per_second = np.zeros(seconds, np.int64)
        bucket = 0
        for batch in iter_records(path):
            for seq, ts, ref, price, qty, aux, inst, kind in zip(
                *(batch[f].tolist() for f in (
                    "seq", "exchange_ns", "order_id", "price", "qty", "aux", "instrument", "kind"
                )),
                strict=True,
            ):  # fmt: skip
                if ts < OPEN_NS or kind == EventKind.STATUS:
                    continue
                second = (ts - OPEN_NS) // 10**9
                while bucket < min(second, seconds):
                    self._snapshot(bucket)
                    bucket += 1
                if second < seconds:
                    self.per_second[second] += 1
                side = int(batch["side"][seq - batch["seq"][0]])
                self._apply(seq, kind, ref, price, qty, aux, inst, side)
        while bucket < seconds:
            self._snapshot(bucket)
            bucket += 1

    def _apply(self, seq: int, kind: int, ref: int, price: int, qty: int, aux: int,
               inst: int, side: int) -> None:  # fmt: skip
        if kind == EventKind.ADD:
            self._add(seq, ref, inst, side, price, qty)
            return
        if kind not in (EventKind.EXECUTE, EventKind.CANCEL, EventKind.DELETE, EventKind.REPLACE):
            return
        order = self.orders.get(ref)
        if order is None or order[0] != inst:
            self.violations.append(f"#{seq}: order {ref} is not resting on {inst}")
            return
        if kind in (EventKind.EXECUTE, EventKind.CANCEL):
            if not 0 < qty <= order[3]:
                self.violations.append(f"#{seq}: {qty} shares of order {ref} holding {order[3]}")
            order[3] -= qty
            if order[3] <= 0:
                self._drop(ref)
        elif kind == EventKind.DELETE:
            self._drop(ref)
        else:
            self._drop(ref)
            self._add(seq, aux, inst, order[1], price, qty)

    def _add(self, seq: int, ref: int, inst: int, side: int, price: int, qty: int) -> None:
        if ref in self.used:
            self.violations.append(f"#{seq}: order reference {ref} reused")
        self.used.add(ref)
        book = self.books[inst]
        if side == Side.BUY:
            crossed = any(o[1] == Side.SELL and o[2] <= price for o in book.values())
        else:
            crossed = any(o[1] == Side.BUY and o[2] >= price for o in book.values())
        if crossed:
            self.violations.append(f"#{seq}: order {ref} at {price} crosses the book of {inst}")
        order = [inst, side, price, qty]
        self.orders[ref] = book[ref] = order

    def _drop(self, ref: int) -> None:
        order = self.orders.pop(ref)
        del self.books[order[0]][ref]

    def _snapshot(self, bucket: int) -> None:
        for inst in range(1, INSTRUMENTS + 1):
            orders = self.books[inst].values()
            bids = [o[2] for o in orders if o[1] == Side.BUY]
            asks = [o[2] for o in orders if o[1] == Side.SELL]
            if bids and asks:
                self.mids[bucket, inst - 1] = (max(bids) + min(asks)) / 2


@functools.cache
def replay(name: str, seconds: int, seed: int = 11) -> Replay:
    """Generate the scenario once per test session (into a fresh temporary file)."""
    config = scenario(name, seed=seed, instruments=INSTRUMENTS, messages=MESSAGES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.itch"
        write_config(config, path)
        return Replay(path, seconds)


def log_returns(mids: np.ndarray) -> np.ndarray:
    """Per-second log returns, a second without a two-sided book taking the last mid."""
    filled = mids.copy()
    for b in range(1, len(filled)):
        gap = np.isnan(filled[b])
        filled[b, gap] = filled[b - 1, gap]
    return np.diff(np.log(filled), axis=0)


@pytest.mark.parametrize(
    ("name", "seconds"),
    [("normal", 60), ("flash-crash", 120), ("news-spike", 120), ("open-close", 120),
     ("correlated", 60)],
)  # fmt: skip
def test_book_is_consistent_and_never_crossed(name: str, seconds: int) -> None:
    book = replay(name, seconds)
    assert book.violations == []
    assert book.per_second.sum() > 0.95 * MESSAGES
    # both sides stay populated, but a fast move (the crash, or a thin small-size flow) can
    # sweep one side for a moment before the instrument's next message refills it
    assert np.isnan(book.mids[5:]).mean() < 0.05


def test_flash_crash_drops_then_recovers() -> None:
    returns = log_returns(replay("flash-crash", 120).mids)
    market = np.concatenate([[0.0], np.nancumsum(returns.mean(axis=1))])  # equal-weight log index
    start = int(CRASH_START_S)
    before = market[start - 1]
    trough = market[start : start + 10].min()
    after = market[start + 40 : start + 60].mean()
    assert trough - before < math.log(1 - 0.7 * CRASH_DEPTH)  # at least a 5.6 % drop
    assert abs(after - before) < 0.03  # back within 3 %
    assert np.ptp(market[5 : start - 1]) < 0.03  # quiet before


def test_news_spike_raises_volatility_in_its_sector_only() -> None:
    returns = log_returns(replay("news-spike", 120).mids)
    start = int(NEWS_START_S) + 1
    during = returns[start : start + int(NEWS_SECONDS) - 1].std(axis=0)
    quiet = returns[5 : start - 2].std(axis=0)
    ratio = during / quiet
    in_sector = np.arange(INSTRUMENTS) % SECTORS == NEWS_SECTOR
    assert ratio[in_sector].min() > 2.5
    assert ratio[~in_sector].max() < 2.0


def test_open_close_has_more_messages_near_open_and_close() -> None:
    per_second = replay("open-close", 120).per_second
    edge = int(AUCTION_SHARE * 120)
    middle = per_second[edge + 1 : -edge - 1].mean()
    assert per_second[:edge].mean() > 3 * middle
    assert per_second[-edge:].mean() > 3 * middle


def mean_correlation(name: str) -> float:
    returns = log_returns(replay(name, 60).mids[2:])
    corr = np.corrcoef(returns.T)
    return float(corr[np.triu_indices(INSTRUMENTS, 1)].mean())


def test_correlated_moves_together_and_normal_less_so() -> None:
    assert mean_correlation("correlated") > 0.6
    assert mean_correlation("normal") < 0.35
