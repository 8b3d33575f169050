"""One-file HTML report of a journal: latency CDFs, throughput, lifecycle, breaker and risk events.

Control code, run after a session (``lowlat report DIR -o report.html``). The page is
self-contained — inline CSS and inline SVG drawn here, no scripts, no external assets — so
it can be mailed, archived with the journal, or opened on an air-gapped host.

What the journal lets us measure:

* **tick-to-order** (decision latency, what we control): an ORDER's ``decision_ns`` minus
  the ``recv_ns`` of the market event whose ``seq`` is its ``trigger_seq`` (the latest
  such event journaled before the order);
* **execution** (what the venue adds): the first venue acknowledgement (flag EXECUTED) of
  each client order id, ``completion_ns`` minus ``decision_ns``.

Percentiles are nearest-rank: ``pP`` is the smallest sample with at least P % of the
samples at or below it — a value that was actually measured, as HDR histograms report.
Throughput, the lifecycle timeline and the event markers use the frames' wall-clock time.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from lowlat.core.records import AckFlag, AckStatus, OrderAction
from lowlat.journal.export import (
    ack_reason_names,
    iso_times,
    journal_reader,
    price_strings,
    type_name,
)
from lowlat.journal.format import RecordType, record_dtype

__all__ = [
    "PERCENTILES",
    "LatencyStats",
    "cdf_points",
    "latency_stats",
    "percentile",
    "render_report",
    "write_report",
]

#: Percentiles annotated on every latency CDF.
PERCENTILES: tuple[float, ...] = (50.0, 99.0, 99.9)
_MAX_TABLE_ROWS = 1_000
_MAX_BINS = 600
_TIME_STEPS_NS = tuple(
    int(s * 1e6)
    for s in (1, 2, 5, 10, 20, 50, 100, 200, 500)  # ms
) + tuple(
    int(s * 1e9)
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
)
_STATE_COLOURS = {
    "INIT": "#9e9e9e",
    "WARMUP": "#64b5f6",
    "READY": "#43a047",
    "DEGRADED": "#fb8c00",
    "HALTED": "#e53935",
    "STOPPED": "#424242",
}
_RISK_COLOURS = {"engage": "#e53935", "rearm": "#43a047"}
_BREAKER_COLOURS = ("#43a047", "#fdd835", "#fb8c00", "#f4511e", "#e53935", "#b71c1c")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;
max-width:1000px;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ddd;
padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#777;font-style:italic}.meta{color:#555}
svg{display:block;margin:.5em 0;font:11px sans-serif}
.legend span{display:inline-block;margin-right:1em}
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}
"""


# --- statistics ----------------------------------------------------------------------------


def percentile(values: np.ndarray, p: float) -> int:
    """Nearest-rank percentile: the smallest sample with at least ``p`` % of samples ≤ it.

    Raises
    ------
    ValueError
        If ``values`` is empty or ``p`` is outside 0..100.
    """
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be in 0..100, got {p}")
    ordered = np.sort(np.asarray(values, np.int64))
    if ordered.size == 0:
        raise ValueError("no samples")
    rank = max(math.ceil(round(p / 100.0 * ordered.size, 9)), 1)
    return int(ordered[rank - 1])


def cdf_points(values: np.ndarray, max_points: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, F)`` of the empirical CDF: ``F = i / n`` at the ``i``-th smallest sample.

    Beyond ``max_points`` samples, half the points are spread evenly over the ranks and
    half geometrically towards the largest, so the tail keeps its shape on a plot.
    """
    ordered = np.sort(np.asarray(values, np.int64))
    n = ordered.size
    if n <= max_points:
        ranks = np.arange(n)
    else:
        even = np.linspace(0, n - 1, max_points // 2)
        tail = n - np.geomspace(1, n, max_points - max_points // 2)
        ranks = np.unique(np.concatenate([even, tail]).round().astype(np.int64).clip(0, n - 1))
    return ordered[ranks], (ranks + 1) / n


@dataclass(frozen=True)
class LatencyStats:
    """Count, extremes and the :data:`PERCENTILES` of a set of latencies (ns)."""

    count: int
    minimum: int
    maximum: int
    percentiles: dict[float, int]


def latency_stats(values: np.ndarray) -> LatencyStats:
    """:class:`LatencyStats` of ``values`` (at least one sample)."""
    values = np.asarray(values, np.int64)
    return LatencyStats(
        count=int(values.size),
        minimum=int(values.min()),
        maximum=int(values.max()),
        percentiles={p: percentile(values, p) for p in PERCENTILES},
    )


# --- reading the journal -------------------------------------------------------------------


@dataclass
class _Events:
    """Rows of one record type: frame columns plus the records (or JSON objects)."""

    seqs: list[np.ndarray] = field(default_factory=list)
    wall: list[np.ndarray] = field(default_factory=list)
    records: list[np.ndarray] = field(default_factory=list)
    json: list[dict[str, Any]] = field(default_factory=list)

    def add(self, batch: Any, rtype: int, rows: np.ndarray, *, as_json: bool = False) -> None:
        self.seqs.append(batch.seqs[rows])
        self.wall.append(batch.wall_ns[rows])
        if as_json:
            self.json.extend(_json_object(batch, row) for row in rows.tolist())
        else:
            self.records.append(batch.records(rtype))

    def done(self, rtype: int | None = None) -> _Table:
        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)

        dtype = record_dtype(rtype) if rtype is not None else None
        records = np.concatenate(self.records) if self.records else np.zeros(0, dtype or "i8")
        return _Table(cat(self.seqs), cat(self.wall), records, self.json)


@dataclass(frozen=True)
class _Table:
    seqs: np.ndarray
    wall: np.ndarray
    records: np.ndarray
    json: list[dict[str, Any]]

    def __len__(self) -> int:
        return int(self.seqs.size)


def _json_object(batch: Any, row: int) -> dict[str, Any]:
    try:
        event = batch.json(row)
    except ValueError:
        event = None
    if isinstance(event, dict):
        return event
    return {"payload": batch.payload(row).decode("utf-8", "replace")}


@dataclass(frozen=True)
class _Journal:
    directory: str
    counts: dict[int, int]
    first_seq: int
    last_seq: int
    wall_min: int
    wall_max: int
    market: _Table  # records: int64 [seq, recv_ns] pairs (the full events are not kept)
    orders: _Table
    acks: _Table
    fills: _Table
    breakers: _Table
    lifecycle: _Table
    risk: _Table
    operator: _Table

    @property
    def records(self) -> int:
        return sum(self.counts.values())


_KEPT = (
    RecordType.ORDER,
    RecordType.ACK,
    RecordType.FILL,
    RecordType.BREAKER,
)
_JSON = (RecordType.LIFECYCLE, RecordType.RISK, RecordType.OPERATOR)


def _load(directory: str | os.PathLike[str]) -> _Journal:
    events = {rtype: _Events() for rtype in (*_KEPT, *_JSON)}
    market_seq: list[np.ndarray] = []
    market_wall: list[np.ndarray] = []
    market_ids: list[np.ndarray] = []
    counts: Counter[int] = Counter()
    first_seq = last_seq = -1
    wall_min, wall_max = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for batch in journal_reader(directory):
        if first_seq < 0:
            first_seq = int(batch.seqs[0])
        last_seq = int(batch.seqs[-1])
        wall_min = min(wall_min, int(batch.wall_ns.min()))
        wall_max = max(wall_max, int(batch.wall_ns.max()))
        counts.update(batch.types.tolist())
        rows = np.flatnonzero(batch.types == RecordType.MARKET_EVENT)
        if rows.size:
            market = batch.records(RecordType.MARKET_EVENT)
            market_seq.append(batch.seqs[rows])
            market_wall.append(batch.wall_ns[rows])
            market_ids.append(np.stack([market["seq"], market["recv_ns"]], axis=1))
        for rtype, kept in events.items():
            rows = np.flatnonzero(batch.types == rtype)
            if rows.size:
                kept.add(batch, rtype, rows, as_json=rtype in _JSON)
    market_table = _Table(
        np.concatenate(market_seq) if market_seq else np.zeros(0, np.int64),
        np.concatenate(market_wall) if market_wall else np.zeros(0, np.int64),
        np.concatenate(market_ids) if market_ids else np.zeros((0, 2), np.int64),
        [],
    )
    if first_seq < 0:
        wall_min = wall_max = 0
    return _Journal(
        directory=os.fspath(directory),
        counts=dict(sorted(counts.items())),
        first_seq=first_seq,
        last_seq=last_seq,
        wall_min=wall_min,
        wall_max=wall_max,
        market=market_table,
        orders=events[RecordType.ORDER].done(RecordType.ORDER),
        acks=events[RecordType.ACK].done(RecordType.ACK),
        fills=events[RecordType.FILL].done(RecordType.FILL),
        breakers=events[RecordType.BREAKER].done(RecordType.BREAKER),
        lifecycle=events[RecordType.LIFECYCLE].done(),
        risk=events[RecordType.RISK].done(),
        operator=events[RecordType.OPERATOR].done(),
    )


def _decision_latencies(journal: _Journal) -> tuple[np.ndarray, int]:
    """Tick-to-order latencies, and how many orders had no journaled trigger."""
    orders, market = journal.orders, journal.market
    if not len(orders):
        return np.zeros(0, np.int64), 0
    ids = market.records
    order = np.lexsort((market.seqs, ids[:, 0]))  # by event seq, then journal seq
    event_seq, journal_seq, recv = ids[order, 0], market.seqs[order], ids[order, 1]
    trigger = orders.records["trigger_seq"].astype(np.int64)
    lo = np.searchsorted(event_seq, trigger, "left")
    hi = np.searchsorted(event_seq, trigger, "right")
    # the latest event with that seq journaled before the order: usually the last one
    at = hi - 1
    found = hi > lo
    found[found] = journal_seq[at[found]] < orders.seqs[found]
    for i in np.flatnonzero(~found & (hi - lo > 1)).tolist():  # a feed seq seen again later
        k = lo[i] + int(np.searchsorted(journal_seq[lo[i] : hi[i]], orders.seqs[i])) - 1
        if k >= lo[i]:
            at[i], found[i] = k, True
    latencies = orders.records["decision_ns"][found].astype(np.int64) - recv[at[found]]
    return latencies, int(np.count_nonzero(~found))


def _execution_latencies(journal: _Journal) -> np.ndarray:
    """``completion_ns - decision_ns`` of the first venue ack of each client order id."""
    acks = journal.acks.records
    if not len(acks):
        return np.zeros(0, np.int64)
    venue = acks[(acks["flags"] & AckFlag.EXECUTED) != 0]
    _, first = np.unique(venue["client_order_id"], return_index=True)
    first = np.sort(first)
    return (venue["completion_ns"][first] - venue["decision_ns"][first]).astype(np.int64)


# --- formatting ----------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _duration(ns: float) -> str:
    """A short duration: ``850 ns``, ``12.3 µs``, ``4.5 ms``, ``2 s``, ``3,600 s``."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    for scale, unit in ((1.0, "ns"), (1e3, "µs"), (1e6, "ms")):
        text = f"{ns / scale:.3g}"
        if ns < scale * 1e3 and "e" not in text:
            return f"{sign}{text} {unit}"
    seconds = ns / 1e9
    return f"{sign}{seconds:.3g} s" if seconds < 999.5 else f"{sign}{seconds:,.0f} s"


def _us(ns: int) -> str:
    return f"{ns / 1e3:,.3f} µs"


def _time_label(ns: int, step_ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    text = moment.strftime("%H:%M:%S")
    if step_ns < 1_000_000_000:
        text += f".{ns % 1_000_000_000 // 1_000_000:03d}"
    return text


def _cell(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _e(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_cell(v)}</td>' if i in numeric else f"<td>{_cell(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


def _capped(rows: list[list[object]], what: str) -> tuple[list[list[object]], str]:
    if len(rows) <= _MAX_TABLE_ROWS:
        return rows, ""
    more = len(rows) - _MAX_TABLE_ROWS
    note = f"… and {more:,} more {what}: `lowlat export` lists every one."
    return rows[:_MAX_TABLE_ROWS], f'<p class="meta">{_e(note)}</p>'


# --- SVG -----------------------------------------------------------------------------------


def _svg(width: int, height: int, label: str, parts: Iterable[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(label)}">{body}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{_e(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _cdf_svg(values: np.ndarray, stats: LatencyStats, title: str) -> str:
    width, height = 760, 300
    left, right, top, bottom = 60, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    positive = np.maximum(values, 1)
    low = math.floor(math.log10(int(positive.min())))
    high = max(math.ceil(math.log10(int(positive.max()))), low + 1)

    def x(ns: float) -> float:
        return left + (math.log10(max(ns, 1)) - low) / (high - low) * plot_w

    def y(fraction: float) -> float:
        return top + (1.0 - fraction) * plot_h

    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa"/>']
    for decade in range(low, high + 1):
        px = x(10.0**decade)
        parts.append(_line(px, top, px, top + plot_h, 'stroke="#e0e0e0"'))
        parts.append(_text(px, top + plot_h + 15, _duration(10.0**decade)))
    for fraction in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        py = y(fraction)
        parts.append(_line(left, py, left + plot_w, py, 'stroke="#e0e0e0"'))
        parts.append(_text(left - 6, py + 4, f"{fraction:g}", "end"))
    xs, fs = cdf_points(positive)
    path = [f"M{x(xs[0]):.1f},{y(0):.1f}"]
    for value, fraction in zip(xs.tolist(), fs.tolist(), strict=True):
        path.append(f"H{x(value):.1f}V{y(fraction):.1f}")
    parts.append(f'<path d="{"".join(path)}" fill="none" stroke="#1565c0" stroke-width="1.6"/>')
    colours = ("#2e7d32", "#ef6c00", "#c62828")
    for row, (p, colour) in enumerate(zip(PERCENTILES, colours, strict=True)):
        value = stats.percentiles[p]
        px = x(value)
        parts.append(
            _line(px, y(p / 100), px, top + plot_h, f'stroke="{colour}" stroke-dasharray="4 3"')
        )
        parts.append(f'<circle cx="{px:.1f}" cy="{y(p / 100):.1f}" r="3" fill="{colour}"/>')
        label = f"p{p:g} = {_duration(value)}"
        parts.append(_text(left + 160 * row, 16, label, "start", f' fill="{colour}"'))
    parts.append(_text(left + plot_w, 16, f"{stats.count:,} samples", "end"))
    parts.append(_text(left + plot_w / 2, height - 6, f"{title} (log scale)"))
    parts.append(
        _text(
            14,
            top + plot_h / 2,
            "fraction ≤ x",
            extra=f' transform="rotate(-90 14 {top + plot_h / 2})"',
        )
    )
    return _svg(width, height, f"CDF of {title}", parts)


def _time_axis(t0: int, t1: int) -> tuple[int, int, int]:
    """Bin width and the aligned start and end of a wall-time axis covering ``t0 .. t1``."""
    span = max(t1 - t0, 1)
    step = next((s for s in _TIME_STEPS_NS if span / s <= _MAX_BINS), _TIME_STEPS_NS[-1])
    start = t0 // step * step
    end = max((t1 // step + 1) * step, start + step)
    return step, start, end


def _time_ticks(start: int, end: int, left: float, plot_w: float, y: float) -> list[str]:
    span = end - start
    step = next((s for s in _TIME_STEPS_NS if span / s <= 8), _TIME_STEPS_NS[-1])
    parts = []
    tick = -(-start // step) * step
    while tick <= end:
        px = left + (tick - start) / span * plot_w
        parts.append(_line(px, y - 4, px, y, 'stroke="#999"'))
        parts.append(_text(px, y + 12, _time_label(tick, step)))
        tick += step
    return parts


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _rate_svg(wall: np.ndarray, start: int, end: int, step: int, what: str, colour: str) -> str:
    width, height = 760, 200
    left, right, top, bottom = 70, 20, 15, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    bins = (end - start) // step
    counts = np.bincount(((wall - start) // step).astype(np.int64), minlength=bins)[:bins]
    rates = counts / (step / 1e9)
    peak = _nice_ceiling(float(rates.max()))
    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa"/>']
    for fraction in (0.0, 0.5, 1.0):
        py = top + (1 - fraction) * plot_h
        parts.append(_line(left, py, left + plot_w, py, 'stroke="#e0e0e0"'))
        parts.append(_text(left - 6, py + 4, f"{peak * fraction:,.4g}", "end"))
    bar = plot_w / bins
    points = [f"{left:.1f},{top + plot_h:.1f}"]
    for i, rate in enumerate(rates.tolist()):
        py = top + (1 - rate / peak) * plot_h
        points.append(f"{left + i * bar:.1f},{py:.1f} {left + (i + 1) * bar:.1f},{py:.1f}")
    points.append(f"{left + plot_w:.1f},{top + plot_h:.1f}")
    parts.append(
        f'<polygon points="{" ".join(points)}" fill="{colour}" fill-opacity=".35" '
        f'stroke="{colour}" stroke-width="1"/>'
    )
    parts.extend(_time_ticks(start, end, left, plot_w, top + plot_h + 4))
    bin_text = _duration(step)
    parts.append(_text(left + plot_w / 2, height - 4, f"{what} per second ({bin_text} bins, UTC)"))
    return _svg(width, height, f"{what} per second over time", parts)


# --- sections ------------------------------------------------------------------------------


def _summary(journal: _Journal) -> str:
    out = ['<section id="summary"><h2>Summary</h2>']
    if not journal.records:
        out.append(_empty("no records in this journal"))
        return "".join(out) + "</section>"
    first, last = iso_times(np.array([journal.wall_min, journal.wall_max]))
    span = journal.wall_max - journal.wall_min
    out.append(
        _table(
            ("", ""),
            [
                ("records", f"{journal.records:,}"),
                ("sequences", f"{journal.first_seq:,} – {journal.last_seq:,}"),
                ("first record (UTC)", first),
                ("last record (UTC)", last),
                ("wall-clock span", _duration(span)),
            ],
            set(),
        )
    )
    out.append("<h3>Records by type</h3>")
    rows = [(type_name(code), count) for code, count in journal.counts.items()]
    out.append(_table(("type", "records"), rows, {1}))
    out.append(_outcomes(journal))
    return "".join(out) + "</section>"


def _outcomes(journal: _Journal) -> str:
    orders, acks, fills = journal.orders.records, journal.acks.records, journal.fills.records
    actions = Counter(orders["action"].tolist()) if len(orders) else Counter()
    executed = int(np.count_nonzero(acks["flags"] & AckFlag.EXECUTED)) if len(acks) else 0
    provisional = int(np.count_nonzero(acks["flags"] & AckFlag.PROVISIONAL)) if len(acks) else 0
    rejected = acks[acks["status"] == AckStatus.REJECTED] if len(acks) else acks
    rows: list[tuple[str, object]] = [("orders sent", len(orders))]
    for code, count in sorted(actions.items()):
        rows.append((f"  {_enum_name(OrderAction, code)}", count))
    rows += [
        ("venue acks (EXECUTED)", executed),
        ("provisional decisions (not sent)", provisional),
        ("rejects", len(rejected)),
        ("fills", len(fills)),
        ("filled quantity", int(fills["qty"].sum()) if len(fills) else 0),
    ]
    out = ["<h3>Orders and outcomes</h3>", _table(("", "count"), rows, {1})]
    out.append("<h3>Rejects by reason</h3>")
    if len(rejected):
        by_reason = Counter(ack_reason_names(rejected))
        reasons = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
        out.append(_table(("reason", "rejects"), reasons, {1}))
    else:
        out.append(_empty("no rejects in this journal"))
    return "".join(out)


def _latency_section(journal: _Journal) -> str:
    out = ['<section id="latency"><h2>Latency</h2>']
    decision, missing = _decision_latencies(journal)
    stages = (
        (
            "tick-to-order",
            "Tick-to-order (decision): ORDER decision_ns − trigger market event recv_ns",
            decision,
            "no orders in this journal" if not len(journal.orders) else
            "no trigger market event of any order is in this journal",
        ),
        (
            "execution",
            "Execution: first venue ack completion_ns − decision_ns, per client order",
            _execution_latencies(journal),
            "no venue acknowledgements in this journal",
        ),
    )  # fmt: skip
    for key, title, values, nothing in stages:
        out.append(f'<div id="latency-{key}"><h3>{_e(title)}</h3>')
        if key == "tick-to-order" and missing:
            out.append(
                f'<p class="meta">{missing:,} order(s) had no journaled trigger event '
                "(trigger_seq not found before the order) and are not counted.</p>"
            )
        if not values.size:
            out.append(_empty(nothing) + "</div>")
            continue
        stats = latency_stats(values)
        out.append(_cdf_svg(values, stats, key))
        rows = [("samples", f"{stats.count:,}"), ("min", _us(stats.minimum))]
        rows += [(f"p{p:g}", _us(v)) for p, v in stats.percentiles.items()]
        rows.append(("max", _us(stats.maximum)))
        if stats.minimum <= 0:
            rows.append(("note", "samples ≤ 0 ns are drawn at 1 ns"))
        out.append(_table(("", "latency"), rows, {1}) + "</div>")
    return "".join(out) + "</section>"


def _throughput_section(journal: _Journal) -> str:
    out = ['<section id="throughput"><h2>Throughput</h2>']
    series = (
        ("market events", journal.market.wall, "#1565c0"),
        ("orders", journal.orders.wall, "#6a1b9a"),
    )
    if not any(wall.size for _, wall, _ in series):
        return "".join(out) + _empty("no market events or orders in this journal") + "</section>"
    step, start, end = _time_axis(journal.wall_min, journal.wall_max)
    for what, wall, colour in series:
        out.append(f"<h3>{_e(what.capitalize())} per second</h3>")
        if wall.size:
            out.append(_rate_svg(wall, start, end, step, what, colour))
        else:
            out.append(_empty(f"no {what} in this journal"))
    return "".join(out) + "</section>"


def _lifecycle_section(journal: _Journal) -> str:
    out = ['<section id="lifecycle"><h2>Lifecycle timeline</h2>']
    rows = (
        ("breakers", journal.breakers, 78),
        ("risk", journal.risk, 102),
        ("operator", journal.operator, 126),
    )
    if not len(journal.lifecycle) and not any(len(table) for _, table, _ in rows):
        return "".join(out) + _empty("no lifecycle transitions in this journal") + "</section>"
    width, height, left, right = 760, 170, 80, 20
    plot_w = width - left - right
    _, start, end = _time_axis(journal.wall_min, journal.wall_max)

    def x(ns: int) -> float:
        return left + (ns - start) / (end - start) * plot_w

    parts = [_text(left - 6, 41, "state", "end")]
    if len(journal.lifecycle):
        parts.extend(_state_bands(journal, x))
    else:
        parts.append(_text(left + 6, 41, "no lifecycle transitions in this journal", "start"))
    for label, table, row_y in rows:
        parts.append(_text(left - 6, row_y + 4, label, "end"))
        parts.append(_line(left, row_y, left + plot_w, row_y, 'stroke="#eee"'))
        if label == "breakers":
            parts.extend(_breaker_markers(table, x, row_y))
        else:
            parts.extend(_json_markers(table, x, row_y, label == "risk"))
    parts.extend(_time_ticks(start, end, left, plot_w, 146))
    out.append(_svg(width, height, "lifecycle states over time, with events", parts))
    legend = "".join(
        f'<span><i class="swatch" style="background:{c}"></i>{_e(s)}</span>'
        for s, c in _STATE_COLOURS.items()
    )
    out.append(f'<p class="legend">{legend}</p>')
    return "".join(out) + "</section>"


def _state_bands(journal: _Journal, x: Callable[[int], float]) -> list[str]:
    """One band per lifecycle state held, and a tick per transition."""
    events = journal.lifecycle
    bands = []
    begin, state = journal.wall_min, str(events.json[0].get("source", "?"))
    for wall, event in zip(events.wall.tolist(), events.json, strict=True):
        bands.append((begin, wall, state))
        begin, state = wall, str(event.get("target", "?"))
    bands.append((begin, journal.wall_max, state))
    parts = []
    held = [band for band in bands[:-1] if band[1] > band[0]] + bands[-1:]
    # widest first, so that a brief state (seconds in a session) is drawn on top, visible
    for begin, stop, state in sorted(held, key=lambda band: band[0] - band[1]):
        colour = _STATE_COLOURS.get(state, "#bdbdbd")
        x0, x1 = x(begin), max(x(stop), x(begin) + 3)
        parts.append(
            f'<rect x="{x0:.1f}" y="22" width="{x1 - x0:.1f}" height="30" fill="{colour}">'
            f"<title>{_e(state)}: {_e(_duration(stop - begin))}</title></rect>"
        )
        if x1 - x0 > 8 * len(state):
            parts.append(_text((x0 + x1) / 2, 41, state, extra=' fill="#fff"'))
    for wall, event in zip(events.wall.tolist(), events.json, strict=True):
        tip = f"{event.get('source')} → {event.get('target')}: {event.get('reason')}"
        if event.get("approved_by"):
            tip += f" (approved by {event['approved_by']})"
        parts.append(
            f'<line x1="{x(wall):.1f}" y1="18" x2="{x(wall):.1f}" y2="56" stroke="#000">'
            f"<title>{_e(tip)}</title></line>"
        )
    return parts


def _breaker_markers(table: _Table, x: Callable[[int], float], row_y: float) -> list[str]:
    parts = []
    for i, wall in enumerate(table.wall.tolist()):
        where, old, new, cause = _breaker_change(table.records[i])
        severity = min(int(table.records["new_state"][i]), len(_BREAKER_COLOURS) - 1)
        parts.append(
            f'<path d="M{x(wall):.1f},{row_y - 6:.1f}l5,10h-10z" '
            f'fill="{_BREAKER_COLOURS[severity]}">'
            f"<title>{_e(f'{where}: {old} → {new} ({cause})')}</title></path>"
        )
    return parts


def _json_markers(table: _Table, x: Callable[[int], float], row_y: float, risk: bool) -> list[str]:
    parts = []
    for wall, event in zip(table.wall.tolist(), table.json, strict=True):
        action = str(event.get("action", "?"))
        colour = _RISK_COLOURS.get(action, "#757575") if risk else "#5e35b1"
        tip = ", ".join(f"{k}={v}" for k, v in sorted(event.items()) if k != "cancelled")
        parts.append(
            f'<circle cx="{x(wall):.1f}" cy="{row_y:.1f}" r="5" fill="{colour}">'
            f"<title>{_e(tip)}</title></circle>"
        )
    return parts


def _enum_name(enum: type[IntEnum], code: int) -> str:
    return enum(code).name if code in enum._value2member_map_ else f"UNKNOWN({code})"


def _breaker_change(record: np.void) -> tuple[str, str, str, str]:
    """Where (instrument or market-wide), old and new state, and cause of a breaker record."""
    from lowlat.risk.breakers.records import (
        MARKET_WIDE,
        BreakerCause,
        InstrumentState,
        MarketLevel,
    )

    instrument = int(record["instrument"])
    states = MarketLevel if instrument == MARKET_WIDE else InstrumentState
    return (
        "market-wide" if instrument == MARKET_WIDE else f"instrument {instrument}",
        _enum_name(states, int(record["old_state"])),
        _enum_name(states, int(record["new_state"])),
        _enum_name(BreakerCause, int(record["cause"])),
    )


def _events_section(journal: _Journal) -> str:
    out = ['<section id="events"><h2>Breaker, risk and operator events</h2>']
    out.append('<h3 id="breaker-events">Circuit-breaker changes</h3>')
    breakers = journal.breakers
    if len(breakers):
        r = breakers.records
        times, prices = iso_times(breakers.wall), price_strings(r["price"])
        rows = []
        for i in range(len(breakers)):
            where, old, new, cause = _breaker_change(r[i])
            rows.append([
                times[i], int(breakers.seqs[i]), where, old, new, cause,
                f"{float(r['value'][i]):.6g}", f"{float(r['threshold'][i]):.6g}",
                prices[i], int(r["trigger_seq"][i]),
            ])  # fmt: skip
        rows, note = _capped(rows, "breaker events")
        headers = ("time (UTC)", "seq", "where", "from", "to", "cause", "value",
                   "threshold", "price", "trigger seq")  # fmt: skip
        out.append(_table(headers, rows, {1, 6, 7, 8, 9}) + note)
    else:
        out.append(_empty("no breaker events in this journal"))
    out.append('<h3 id="risk-events">Risk and kill-switch events</h3>')
    out.append(
        _json_table(
            journal.risk,
            ("action", "by", "reason", "lifecycle", "cancelled", "error"),
            "no risk events in this journal",
        )
    )
    out.append('<h3 id="operator-events">Operator and automation actions</h3>')
    out.append(
        _json_table(
            journal.operator,
            ("action", "by", "approved_by", "status"),
            "no operator events in this journal",
        )
    )
    return "".join(out) + "</section>"


def _json_table(table: _Table, keys: tuple[str, ...], nothing: str) -> str:
    if not len(table):
        return _empty(nothing)
    times = iso_times(table.wall)
    rows = []
    for i, event in enumerate(table.json):
        cells: list[object] = [times[i], int(table.seqs[i])]
        for key in keys:
            value = event.get(key)
            cells.append(", ".join(map(str, value)) if isinstance(value, list) else value)
        rest = {k: v for k, v in sorted(event.items()) if k not in keys}
        cells.append(", ".join(f"{k}={v}" for k, v in rest.items()))
        rows.append(cells)
    rows, note = _capped(rows, "events")
    return _table(("time (UTC)", "seq", *keys, "other"), rows, {1}) + note


# --- the page ------------------------------------------------------------------------------


def render_report(directory: str | os.PathLike[str]) -> str:
    """The HTML report of the journal in ``directory``, as one self-contained page.

    Raises
    ------
    NotAJournal
        If the directory is missing or holds no segment.
    CorruptJournal
        At the first frame that fails verification (naming the file and byte offset).
    """
    journal = _load(directory)
    title = f"lowlat journal report — {Path(journal.directory).name or journal.directory}"
    sections = (
        _summary(journal),
        _latency_section(journal),
        _throughput_section(journal),
        _lifecycle_section(journal),
        _events_section(journal),
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">journal directory {_e(journal.directory)}</p>'
        f"{''.join(sections)}</body></html>\n"
    )


def write_report(directory: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Render the report of ``directory`` and write it to ``path`` (UTF-8); return the path."""
    text = render_report(directory)
    out = Path(path)
    out.write_text(text, encoding="utf-8")
    return out
