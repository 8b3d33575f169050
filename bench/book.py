"""Order-book benchmarks: ITCH decode + L3 book, with signals, and the peers on the same stream.

``lowlat bench book``. Every case runs on one in-memory ITCH 5.0 stream from the simulator:
the ``normal`` scenario, 8 instruments, 2 M order-flow messages (200 k with ``--quick``),
with the session's system, directory and trading-action messages around them.

* ``itch_decode_book`` — bytes → compiled decoder, :data:`BATCH` records at a time into one
  reused array → :func:`lowlat.book.kernels.apply_batch`; one core, one thread.
* ``book_only`` — ``apply_batch`` over the pre-decoded records in one call: the book's share.
* ``itch_decode_book_signals`` — the same loop with :meth:`MicroSignals.process` (book, then
  that instrument's signals, per record) instead of ``apply_batch``. Each run also times a
  plain ``itch_decode_book`` run right before it, and ``signals_overhead`` is the ratio of
  the two times, so both sides of it share a round.
* ``python_book`` — :class:`ReferenceBooks` (plain Python, the engine's rules) on the first
  :data:`PYTHON_MESSAGES` records.
* ``nautilus_book`` — NautilusTrader's L3 ``OrderBook`` (``BookType.L3_MBO``), one per
  instrument, fed ``OrderBookDelta`` objects built from the first :data:`NAUTILUS_MESSAGES`
  records outside the timed loop (ADD → add; EXECUTE/CANCEL → update to the remaining size,
  or delete at zero; DELETE → delete; REPLACE → delete + add; trades have no delta). Skipped,
  with a note, when ``nautilus_trader`` is not installed (``make bench`` installs it).

Rates are ITCH messages (records) per second. Every case checks its books: the top
:data:`DEPTH` levels of every instrument must equal those of the compiled engine after one
whole-stream decode and ``apply_batch`` of the same records (a differing book is an error),
and the lowlat cases also check record counts, the decoder's quarantine, the book's
integrity counters and, with signals, the signal updates and the final mid, spread and
microprice. The peers are compared with ``book_only``: they are timed on decoded input too.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.harness import Case, format_report, run_suite, summarize
from lowlat.book import BookConfig, OrderBooks, ReferenceBooks
from lowlat.book.kernels import apply_batch
from lowlat.core.records import MARKET_EVENT_DTYPE, PRICE_SCALE, EventKind, Side
from lowlat.feeds.itch import LENGTH_PREFIXED, ItchDecoder
from lowlat.feeds.sim import Simulator, scenario
from lowlat.signals.micro import MicroSignals, SignalConfig

__all__ = [
    "BOOK_ONLY",
    "CASES",
    "DECODE_BOOK",
    "NAUTILUS",
    "PYTHON",
    "SIGNALS",
    "SIGNALS_OVERHEAD",
    "Stream",
    "format_table",
    "run",
    "stream",
]

DECODE_BOOK = "itch_decode_book"
BOOK_ONLY = "book_only"
SIGNALS = "itch_decode_book_signals"
SIGNALS_OVERHEAD = "signals_overhead"
PYTHON = "python_book"
NAUTILUS = "nautilus_book"

SCENARIO = "normal"
INSTRUMENTS = 8
SEED = 1
STREAM_MESSAGES = 2_000_000
QUICK_STREAM_MESSAGES = 200_000
PYTHON_MESSAGES = 100_000  # ReferenceBooks runs at ~0.1 M msg/s: a prefix of the stream
NAUTILUS_MESSAGES = 500_000  # its deltas are Python objects, built before timing: a prefix
BATCH = 16_384  # records per decode call (1 MiB): amortises the two kernel calls' dispatch
DEPTH = 5  # levels per side compared between books
TARGET_RATE = 10e6
TARGET_SIGNALS_RATIO = 1.30
CONFIG = BookConfig()  # the engine's defaults, as deployed: no sizing to the scenario
SIM_CHUNK_BYTES = 4 << 20
_MESSAGE_UNIT = "msg/s"


@dataclass(frozen=True)
class Stream:
    """The benchmark's input: ITCH bytes and the records they decode to."""

    data: np.ndarray  # uint8, length-prefixed ITCH 5.0
    records: np.ndarray  # MARKET_EVENT_DTYPE, one per message


@dataclass(frozen=True)
class Expected:
    """The compiled engine's books after the first ``records`` records of a stream."""

    records: int
    consumed: int
    levels: dict[int, list[tuple[int, int, int, int]]]  # instrument → snapshot(DEPTH)


@dataclass(frozen=True)
class Run:
    """One timed run: how long, how many messages, how many verification errors."""

    seconds: float
    messages: int
    errors: int

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


@functools.cache
def stream(messages: int) -> Stream:
    """The simulated session with ``messages`` order-flow messages, in memory and decoded.

    Raises
    ------
    RuntimeError
        If the decoder rejects any byte or its counts differ from what the simulator wrote.
    """
    sim = Simulator(scenario(SCENARIO, seed=SEED, instruments=INSTRUMENTS, messages=messages))
    parts = [np.frombuffer(sim.header(), np.uint8)]
    chunk = np.zeros(SIM_CHUNK_BYTES, np.uint8)
    while not sim.done:
        parts.append(chunk[: sim.fill(chunk)].copy())
    parts.append(np.frombuffer(sim.trailer(), np.uint8))
    data = np.concatenate(parts)
    decoder = ItchDecoder(LENGTH_PREFIXED)
    records = np.empty(data.shape[0] // 21 + 1, MARKET_EVENT_DTYPE)  # shortest message: 21
    pos, n = decoder.decode(data, records)
    got = decoder.counts
    if (
        pos != data.shape[0]
        or decoder.quarantine.total
        or any(got.get(letter, 0) != count for letter, count in sim.type_counts().items())
    ):
        raise RuntimeError(
            f"simulated stream does not decode cleanly: {got} vs {sim.type_counts()}"
        )
    return Stream(data, records[:n].copy())


@functools.cache
def _expected(messages: int, records: int) -> Expected:
    """The compiled engine's books after the first ``records`` records of ``stream(messages)``."""
    events = stream(messages).records[:records]
    books = OrderBooks(CONFIG)
    consumed = books.apply(events)
    books.finish()
    levels = {i: books.snapshot(i, DEPTH) for i in books.instruments}
    return Expected(records, consumed, levels)


def _level_errors(expected: Expected, levels: dict[int, list[tuple[int, int, int, int]]]) -> int:
    """Instruments whose top ``DEPTH`` levels differ from the expected ones (none: empty)."""
    empty = [(0, 0, 0, 0)] * DEPTH
    instruments = set(expected.levels) | set(levels)
    return sum(levels.get(i, empty) != expected.levels.get(i, empty) for i in instruments)


def _fresh_books() -> OrderBooks:
    """Empty books with every page of their arrays already written (no faults while timed)."""
    books = OrderBooks(CONFIG)
    for array in books.state:
        flat = array.reshape(-1)
        flat[:] = flat.copy()
    return books


def _book_errors(books: OrderBooks, expected: Expected) -> int:
    """Differing books plus every integrity problem the engine counted (a clean feed has none)."""
    books.finish()
    levels = {i: books.snapshot(i, DEPTH) for i in books.instruments}
    return _level_errors(expected, levels) + sum(books.integrity().values())


@functools.cache
def _warm_up() -> None:
    """Load (or compile) the decoder, book and signal kernels before anything is timed."""
    small = stream(1_000)
    _decode_book(small, _fresh_books(), None)
    books = _fresh_books()
    _decode_book(small, books, MicroSignals(SignalConfig(), books))


def _decode_book(
    source: Stream, books: OrderBooks, signals: MicroSignals | None
) -> tuple[float, int, int, ItchDecoder]:
    """Decode ``source`` in batches into one reused array, updating ``books`` after each.

    With ``signals`` each batch goes through :meth:`MicroSignals.process` instead of
    ``apply_batch``. Returns seconds, records decoded, records the books consumed, and
    the decoder.
    """
    decoder = ItchDecoder(LENGTH_PREFIXED)
    out = np.zeros(BATCH, MARKET_EVENT_DTYPE)
    data = source.data
    size = data.shape[0]
    state = books.state
    pos = records = consumed = 0
    start = time.perf_counter_ns()
    if signals is None:
        while pos < size:
            pos, n = decoder.decode(data, out, pos=pos)
            consumed += apply_batch(state, out, n)
            records += n
    else:
        while pos < size:
            pos, n = decoder.decode(data, out, pos=pos)
            consumed += signals.process(out[:n])
            records += n
    return (time.perf_counter_ns() - start) / 1e9, records, consumed, decoder


def _decode_book_once(messages: int) -> Run:
    source = stream(messages)
    expected = _expected(messages, source.records.shape[0])
    books = _fresh_books()
    seconds, records, consumed, decoder = _decode_book(source, books, None)
    errors = abs(records - expected.records) + abs(consumed - expected.consumed)
    errors += decoder.quarantine.total + _book_errors(books, expected)
    return Run(seconds, records, errors)


def _signal_errors(signals: MicroSignals, expected: Expected) -> int:
    """Signal errors: final mid, spread or microprice off the expected top, missed updates.

    Every record a book consumes must count one signal update of its instrument.
    """
    errors = 0
    updates = 0
    for instrument, levels in expected.levels.items():
        values = signals.values(instrument)
        updates += int(values.get("updates", 0))
        ask, ask_size, bid, bid_size = levels[0]
        if not (ask_size and bid_size):
            errors += values.get("two_sided", 0) != 0
            continue
        micro = (bid * ask_size + ask * bid_size) / (bid_size + ask_size)
        errors += values.get("mid") != (bid + ask) / 2 or values.get("spread") != ask - bid
        errors += not np.isclose(values.get("microprice", np.nan), micro, rtol=0, atol=1e-6)
    return errors + abs(updates - expected.consumed)


def _signals_pair_once(messages: int) -> tuple[Run, Run]:
    """A run without and one with signals, back to back: the overhead's two sides."""
    plain = _decode_book_once(messages)
    source = stream(messages)
    expected = _expected(messages, source.records.shape[0])
    books = _fresh_books()
    signals = MicroSignals(SignalConfig(), books)
    seconds, records, consumed, decoder = _decode_book(source, books, signals)
    errors = abs(records - expected.records) + abs(consumed - expected.consumed)
    errors += decoder.quarantine.total + _book_errors(books, expected)
    errors += _signal_errors(signals, expected)
    return plain, Run(seconds, records, errors)


def _book_only_once(messages: int) -> Run:
    records = stream(messages).records
    expected = _expected(messages, records.shape[0])
    books = _fresh_books()
    start = time.perf_counter_ns()
    consumed = apply_batch(books.state, records, records.shape[0])
    seconds = (time.perf_counter_ns() - start) / 1e9
    errors = abs(consumed - expected.consumed) + _book_errors(books, expected)
    return Run(seconds, records.shape[0], errors)


def _python_once(messages: int) -> Run:
    source = stream(messages)
    n = min(PYTHON_MESSAGES, source.records.shape[0])
    records = source.records[:n]
    expected = _expected(messages, n)
    books = ReferenceBooks()
    start = time.perf_counter_ns()
    consumed = books.apply_all(records)
    seconds = (time.perf_counter_ns() - start) / 1e9
    books.finish()
    levels = {i: books.snapshot(i, DEPTH) for i in books.books}
    problems = sum(sum(book.problems.values()) for book in books.books.values())
    errors = abs(consumed - expected.consumed) + _level_errors(expected, levels) + problems
    return Run(seconds, n, errors + books.bad_events)


# --- NautilusTrader ---------------------------------------------------------------------


def nautilus_missing() -> str | None:
    """Why NautilusTrader's L3 book cannot be measured here, or None when it can."""
    try:
        import nautilus_trader.model.book  # noqa: F401
    except ImportError as error:
        return (
            f"skipped: NautilusTrader is not importable ({error}); `make bench` installs "
            "the optional bench dependency group"
        )
    return None


@dataclass(frozen=True)
class NautilusInput:
    """Deltas built outside the timed loop, each with the instrument whose book takes it."""

    deltas: list[tuple[int, Any]]  # (instrument, OrderBookDelta), in stream order
    instrument_ids: dict[int, Any]  # instrument → InstrumentId
    untranslated: int  # records naming an order that is not resting (none in a clean feed)
    raw_per_tick: int  # Nautilus fixed-point units per price tick


@functools.cache
def _nautilus_input(messages: int, records: int) -> NautilusInput:
    """Deltas of the first ``records`` records of ``stream(messages)`` for Nautilus' books."""
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import FIXED_SCALAR, Price, Quantity

    scale = round(FIXED_SCALAR)
    raw_per_tick = scale // PRICE_SCALE
    sides = {Side.BUY: OrderSide.BUY, Side.SELL: OrderSide.SELL}
    last = int(RecordFlag.F_LAST)
    events = stream(messages).records[:records]
    ids: dict[int, Any] = {}
    live: dict[int, list[Any]] = {}  # order id → [instrument, side, price, remaining]
    deltas: list[tuple[int, Any]] = []
    untranslated = 0

    def order(side: Any, price: int, qty: int, order_id: int) -> Any:
        return BookOrder(
            side,
            Price.from_raw(price * raw_per_tick, 4),
            Quantity.from_raw(qty * scale, 0),
            order_id,
        )

    def emit(instrument: int, action: Any, book_order: Any, flags: int, seq: int, ts: int) -> None:
        delta = OrderBookDelta(ids[instrument], action, book_order, flags, seq, ts, ts)
        deltas.append((instrument, delta))

    fields = ("seq", "exchange_ns", "order_id", "price", "qty", "aux", "instrument", "kind", "side")
    for seq, ts, oid, price, qty, aux, instrument, kind, side in zip(
        *(events[f].tolist() for f in fields), strict=True
    ):
        if kind not in (
            EventKind.ADD, EventKind.EXECUTE, EventKind.CANCEL, EventKind.DELETE, EventKind.REPLACE
        ):  # fmt: skip
            continue
        if instrument not in ids:
            ids[instrument] = InstrumentId.from_str(f"LOCATE{instrument}.ITCH")
        if kind == EventKind.ADD:
            live[oid] = [instrument, sides[side], price, qty]
            emit(instrument, BookAction.ADD, order(sides[side], price, qty, oid), last, seq, ts)
            continue
        resting = live.get(oid)
        if resting is None or resting[0] != instrument:
            untranslated += 1
            continue
        _, book_side, at, remaining = resting
        left = remaining - qty if kind in (EventKind.EXECUTE, EventKind.CANCEL) else 0
        if left > 0:
            resting[3] = left
            emit(instrument, BookAction.UPDATE, order(book_side, at, left, oid), last, seq, ts)
            continue
        del live[oid]
        replace = kind == EventKind.REPLACE
        flags = 0 if replace else last
        emit(instrument, BookAction.DELETE, order(book_side, at, 0, oid), flags, seq, ts)
        if replace:
            live[aux] = [instrument, book_side, price, qty]
            emit(instrument, BookAction.ADD, order(book_side, price, qty, aux), last, seq, ts)
    return NautilusInput(deltas, ids, untranslated, raw_per_tick)


def _nautilus_levels(book: Any, raw_per_tick: int) -> list[tuple[int, int, int, int]]:
    """The top ``DEPTH`` levels of a Nautilus book in ``OrderBooks.snapshot``'s layout.

    Level sizes come from ``bids()``/``asks()``: in an L3 book ``best_bid_size`` is the
    size of the first order at the touch, not of the level.
    """

    def side(levels: list[Any]) -> list[tuple[int, int]]:
        top = [(lv.price.raw // raw_per_tick, round(lv.size())) for lv in levels[:DEPTH]]
        return top + [(0, 0)] * DEPTH

    asks, bids = side(book.asks()), side(book.bids())
    return [(*asks[k], *bids[k]) for k in range(DEPTH)]


def _nautilus_once(messages: int) -> Run:
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType

    source = stream(messages)
    n = min(NAUTILUS_MESSAGES, source.records.shape[0])
    expected = _expected(messages, n)
    feed = _nautilus_input(messages, n)
    books = {i: OrderBook(iid, BookType.L3_MBO) for i, iid in feed.instrument_ids.items()}
    calls = [(books[i].apply_delta, delta) for i, delta in feed.deltas]
    start = time.perf_counter_ns()
    for apply, delta in calls:
        apply(delta)
    seconds = (time.perf_counter_ns() - start) / 1e9
    levels = {i: _nautilus_levels(book, feed.raw_per_tick) for i, book in books.items()}
    return Run(seconds, n, _level_errors(expected, levels) + feed.untranslated)


# --- cases ------------------------------------------------------------------------------


def _result(name: str, runs: list[Run], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "unit": _MESSAGE_UNIT,
        "better": "higher",
        **summarize([r.rate for r in runs]),
        "events": runs[0].messages,
        "errors": sum(r.errors for r in runs),
        **extra,
    }


_STREAM_NOTE = f"{SCENARIO} scenario, {INSTRUMENTS} instruments, from memory, one core"


def _case_decode_book(repeats: int, events: int) -> list[dict[str, Any]]:
    _warm_up()
    runs = [_decode_book_once(events) for _ in range(repeats)]
    note = f"{_STREAM_NOTE}; decode {BATCH} records per call into a reused array, apply_batch"
    return [_result(DECODE_BOOK, runs, target=TARGET_RATE, note=note)]


def _case_book_only(repeats: int, events: int) -> list[dict[str, Any]]:
    _warm_up()
    runs = [_book_only_once(events) for _ in range(repeats)]
    note = "apply_batch over the pre-decoded records, one call"
    return [_result(BOOK_ONLY, runs, note=note)]


def _case_signals(repeats: int, events: int) -> list[dict[str, Any]]:
    _warm_up()
    pairs = [_signals_pair_once(events) for _ in range(repeats)]
    with_signals = [signals for _, signals in pairs]
    ratio = {
        "name": SIGNALS_OVERHEAD,
        "unit": "time ratio",
        "better": "lower",
        **summarize([signals.seconds / plain.seconds for plain, signals in pairs]),
        "target": TARGET_SIGNALS_RATIO,
        "errors": sum(plain.errors for plain, _ in pairs),
        "note": f"time of {SIGNALS} / {DECODE_BOOK}, run back to back",
    }
    note = "as itch_decode_book, MicroSignals.process per batch (book, then signals, per record)"
    return [_result(SIGNALS, with_signals, note=note), ratio]


def _case_python(repeats: int, events: int) -> list[dict[str, Any]]:
    runs = [_python_once(events) for _ in range(repeats)]
    note = f"ReferenceBooks.apply_all, first {runs[0].messages:,} decoded records"
    return [_result(PYTHON, runs, baseline_of=BOOK_ONLY, note=note)]


def _case_nautilus(repeats: int, events: int) -> list[dict[str, Any]]:
    missing = nautilus_missing()
    if missing is not None:
        return [
            {
                "name": NAUTILUS,
                "unit": _MESSAGE_UNIT,
                "better": "higher",
                **summarize([0.0] * repeats),
                "skipped": True,
                "informational": True,
                "note": missing,
            }
        ]
    import nautilus_trader

    runs = [_nautilus_once(events) for _ in range(repeats)]
    note = (
        f"nautilus_trader {nautilus_trader.__version__} OrderBook L3_MBO.apply_delta, first "
        f"{runs[0].messages:,} records as prebuilt deltas"
    )
    return [_result(NAUTILUS, runs, baseline_of=BOOK_ONLY, note=note)]


CASES: dict[str, Case] = {
    DECODE_BOOK: (_case_decode_book, STREAM_MESSAGES, QUICK_STREAM_MESSAGES),
    BOOK_ONLY: (_case_book_only, STREAM_MESSAGES, QUICK_STREAM_MESSAGES),
    SIGNALS: (_case_signals, STREAM_MESSAGES, QUICK_STREAM_MESSAGES),
    PYTHON: (_case_python, STREAM_MESSAGES, QUICK_STREAM_MESSAGES),
    NAUTILUS: (_case_nautilus, STREAM_MESSAGES, QUICK_STREAM_MESSAGES),
}
"""Every case takes the stream's order-flow message count; the peers time a prefix of it."""


def run(quick: bool = False, repeats: int | None = None, **options: Any) -> dict[str, Any]:
    """Run the book suite; ``options`` are ``events`` and ``only`` (see ``harness.run_suite``).

    The peers' verification is written into their notes: the report table leaves the
    check column of baselines blank.
    """
    report = run_suite("book", CASES, quick=quick, repeats=repeats, **options)
    for result in report["results"]:
        if result.get("baseline_of") and "errors" in result:
            errors = result["errors"]
            verdict = (
                f"top {DEPTH} levels of every book = lowlat's"
                if errors == 0
                else f"{errors} ERRORS against lowlat's books"
            )
            result["note"] = f"{result['note']}; {verdict}"
    return report


def format_table(report: dict[str, Any]) -> str:
    """The report as a table with targets and lowlat/peer ratios."""
    return format_report(report)
