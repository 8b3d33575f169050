"""Matching-engine benchmarks: the compiled engine and the plain-Python reference on one stream.

``lowlat bench venue``. Both cases run on one seeded, in-memory stream of ``ORDER_DTYPE``
requests for :data:`INSTRUMENTS` instruments (see :func:`stream`): new orders arriving
around a random-walking mid — mostly passive GTC limits, some marketable limits, IOC,
FOK and market orders, from 64 accounts (so self-trade prevention fires) — and, for most
GTC orders, a cancel, replace or reduce after an exponentially distributed lifetime.
Rates are requests per second; every request produces at least one report.

* ``venue_match`` — :func:`lowlat.venue.kernels.process` over the whole stream, into one
  reused report array, one core, one thread; the target is 5 M requests/s.
* ``python_match`` — :class:`ReferenceVenue` (plain Python, the same rules) on the first
  :data:`PYTHON_ORDERS` requests; the ratio column compares it with ``venue_match``.

Both cases check their output: the compiled engine's report count and final books must
equal those of an untimed run of the same stream, and the Python engine's reports must
equal, field by field, the compiled engine's on the same prefix.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.harness import Case, format_report, run_suite, summarize
from lowlat.core.records import ORDER_DTYPE, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue import MatchingEngine, ReferenceVenue, VenueConfig, kernels
from lowlat.venue.records import ACTION_REDUCE

__all__ = ["CASES", "PYTHON", "VENUE", "format_table", "run", "stream"]

VENUE = "venue_match"
PYTHON = "python_match"

INSTRUMENTS = 8
ACCOUNTS = 64
SEED = 7
STREAM_ORDERS = 2_000_000
QUICK_STREAM_ORDERS = 200_000
PYTHON_ORDERS = 100_000  # the reference runs at well under 1 M requests/s: a prefix
TARGET_RATE = 5e6
MID = 1_000_000  # ticks: 100.0000
CONFIG = VenueConfig(instruments=tuple(range(1, INSTRUMENTS + 1)), orders=1 << 18)
_UNIT = "orders/s"

# What a new order is, and what later happens to a resting (GTC) one.
_P_MARKETABLE = 0.10  # GTC limit priced through the mid
_P_IOC, _P_FOK, _P_MARKET = 0.06, 0.02, 0.03
_P_CANCEL, _P_REPLACE, _P_REDUCE = 0.80, 0.12, 0.05  # of GTC orders; the rest trade or stay
_MEAN_LIFE = 400.0  # new orders until a cancel/replace/reduce arrives
_P_MID_STEP = 0.04  # chance that an instrument's mid moves one tick at one of its orders
_OFFSET_P = 0.35  # geometric distance from the mid, in ticks


@functools.cache
def stream(orders: int, seed: int = SEED) -> np.ndarray:
    """A stream of exactly ``orders`` requests, ordered by arrival (cached per size).

    New orders arrive one per time unit; a GTC order gets one follow-up — a cancel (80 %),
    a replace to a new price and size (12 %) or a reduction (5 %) — at its arrival time
    plus an exponential lifetime; follow-ups of orders that already traded away are
    rejected (``UNKNOWN_ORDER``), as late cancels are at a real venue.
    """
    rng = np.random.default_rng(seed)
    n_new = orders
    instrument = rng.integers(1, INSTRUMENTS + 1, n_new)
    steps = np.where(rng.random(n_new) < _P_MID_STEP, rng.choice([-1, 1], n_new), 0)
    mid = np.empty(n_new, np.int64)
    for i in range(1, INSTRUMENTS + 1):
        mask = instrument == i
        mid[mask] = MID + np.cumsum(steps[mask])
    buy = rng.random(n_new) < 0.5
    offset = rng.geometric(_OFFSET_P, n_new)  # 1, 2, …
    kind = rng.random(n_new)
    ioc = kind < _P_IOC
    fok = (kind >= _P_IOC) & (kind < _P_IOC + _P_FOK)
    market = (kind >= _P_IOC + _P_FOK) & (kind < _P_IOC + _P_FOK + _P_MARKET)
    gtc = ~(ioc | fok | market)
    aggressive = ioc | fok | (gtc & (rng.random(n_new) < _P_MARKETABLE))
    through = np.where(
        aggressive, offset - 1, -offset
    )  # ticks beyond the mid, toward the other side
    price = np.where(buy, mid + through, mid - through)

    new = np.zeros(n_new, ORDER_DTYPE)
    new["action"] = OrderAction.NEW
    new["client_order_id"] = np.arange(1, n_new + 1)
    new["instrument"] = instrument
    new["account"] = rng.integers(1, ACCOUNTS + 1, n_new)
    new["side"] = np.where(buy, Side.BUY, Side.SELL)
    new["order_type"] = np.where(market, OrderType.MARKET, OrderType.LIMIT)
    new["tif"] = np.select([ioc, fok], [TimeInForce.IOC, TimeInForce.FOK], TimeInForce.GTC)
    new["price"] = np.where(market, 0, price)
    new["qty"] = 100 * rng.integers(1, 11, n_new)

    follow = rng.random(n_new)
    has_follow = gtc & (follow < _P_CANCEL + _P_REPLACE + _P_REDUCE)
    origin = np.flatnonzero(has_follow)
    later = new[origin].copy()
    later["orig_client_order_id"] = later["client_order_id"]
    later["client_order_id"] = 0
    choice = follow[origin]
    is_replace = (choice >= _P_CANCEL) & (choice < _P_CANCEL + _P_REPLACE)
    is_reduce = choice >= _P_CANCEL + _P_REPLACE
    later["action"] = np.select(
        [is_replace, is_reduce], [OrderAction.REPLACE, ACTION_REDUCE], OrderAction.CANCEL
    )
    moved = rng.integers(-2, 3, origin.size)
    later["price"] = np.where(is_replace, later["price"] + moved, 0)
    later["qty"] = np.select(
        [is_replace, is_reduce], [100 * rng.integers(1, 11, origin.size), 100], 0
    )
    at = np.concatenate(
        [np.arange(n_new, dtype=np.float64), origin + rng.exponential(_MEAN_LIFE, origin.size)]
    )
    merged = np.concatenate([new, later])[np.argsort(at, kind="stable")][:orders]
    merged["decision_ns"] = np.arange(merged.size, dtype=np.int64) * 200
    return merged


@dataclass(frozen=True)
class Run:
    """One timed run and its verification."""

    seconds: float
    orders: int
    errors: int

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.orders / self.seconds


@dataclass(frozen=True)
class Expected:
    """An untimed compiled run of a stream: report count, final books, engine counters."""

    reports: int
    books: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]]
    counters: dict[str, int]


def _books(engine: MatchingEngine) -> dict[int, tuple[list[tuple[int, int]], ...]]:
    return {i: (engine.book(i).bids, engine.book(i).asks) for i in CONFIG.instruments}


@functools.cache
def _expected(orders: int) -> Expected:
    engine = MatchingEngine(CONFIG)
    reports = engine.process(stream(orders))
    return Expected(len(reports), _books(engine), engine.counters())


def _fresh_engine() -> MatchingEngine:
    """An empty engine with every page of its arrays already written (no faults while timed)."""
    engine = MatchingEngine(CONFIG)
    for array in (*engine.state, engine.reports):
        flat = array.reshape(-1)
        flat[:] = flat.copy()
    return engine


def _match(engine: MatchingEngine, requests: np.ndarray) -> tuple[float, int]:
    """Run ``requests`` through the kernel in as few calls as the report array allows."""
    state, reports = engine.state, engine.reports
    start, stop, written = 0, requests.shape[0], 0
    began = time.perf_counter_ns()
    while start < stop:
        start, n = kernels.process(state, requests, start, stop, reports)
        written += n
    return (time.perf_counter_ns() - began) / 1e9, written


@functools.cache
def _warm_up() -> None:
    """Load (or compile) the kernel before anything is timed."""
    _match(_fresh_engine(), stream(1_000))


def _venue_once(orders: int) -> Run:
    requests = stream(orders)
    expected = _expected(orders)
    engine = _fresh_engine()
    seconds, written = _match(engine, requests)
    errors = abs(written - expected.reports)
    books = _books(engine)
    errors += sum(books[i] != expected.books[i] for i in CONFIG.instruments)
    return Run(seconds, orders, errors)


@functools.cache
def _compiled_prefix(orders: int) -> list[tuple]:
    n = min(PYTHON_ORDERS, orders)
    return [tuple(r) for r in MatchingEngine(CONFIG).process(stream(orders)[:n]).tolist()]


def _python_once(orders: int) -> Run:
    n = min(PYTHON_ORDERS, orders)
    requests = stream(orders)[:n]
    venue = ReferenceVenue(CONFIG)
    began = time.perf_counter_ns()
    reports = venue.process(requests)
    seconds = (time.perf_counter_ns() - began) / 1e9
    compiled = _compiled_prefix(orders)
    errors = abs(len(reports) - len(compiled)) + sum(
        a != b for a, b in zip(reports, compiled, strict=False)
    )
    return Run(seconds, n, errors)


def _result(name: str, runs: list[Run], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "unit": _UNIT,
        "better": "higher",
        **summarize([r.rate for r in runs]),
        "events": runs[0].orders,
        "errors": sum(r.errors for r in runs),
        **extra,
    }


def _stream_note(orders: int) -> str:
    expected = _expected(orders)
    return (
        f"{INSTRUMENTS} instruments, {expected.reports / orders:.2f} reports/order, "
        f"{expected.counters['trades'] / orders:.2f} matches/order, "
        f"{expected.counters['live_orders']:,} orders resting at the end"
    )


def _case_venue(repeats: int, orders: int) -> list[dict[str, Any]]:
    _warm_up()
    runs = [_venue_once(orders) for _ in range(repeats)]
    note = f"kernels.process into a reused report array, one core; {_stream_note(orders)}"
    return [_result(VENUE, runs, target=TARGET_RATE, note=note)]


def _case_python(repeats: int, orders: int) -> list[dict[str, Any]]:
    runs = [_python_once(orders) for _ in range(repeats)]
    errors = sum(r.errors for r in runs)
    check = "reports = venue_match's" if errors == 0 else f"{errors} ERRORS against venue_match"
    note = f"ReferenceVenue.process, first {runs[0].orders:,} requests; {check}"
    return [_result(PYTHON, runs, baseline_of=VENUE, note=note)]


CASES: dict[str, Case] = {
    VENUE: (_case_venue, STREAM_ORDERS, QUICK_STREAM_ORDERS),
    PYTHON: (_case_python, STREAM_ORDERS, QUICK_STREAM_ORDERS),
}
"""Both cases take the stream's request count; the Python engine times a prefix of it."""


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the venue suite; ``options`` are ``events`` and ``only`` (see ``harness.run_suite``)."""
    return run_suite("venue", CASES, quick=quick, repeats=repeats, **options)


def format_table(report: dict[str, Any]) -> str:
    """The report as a table with the target and the compiled/Python ratio."""
    return format_report(report)
