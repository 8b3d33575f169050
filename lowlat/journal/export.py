"""Compliance export: a journal's orders, acks, fills and control events as Parquet or CSV.

One table per kind of record — ``orders``, ``acks``, ``fills``, ``exec_reports``,
``breaker_events``, ``lifecycle``, ``risk_events``, ``operator_events`` and, on request,
``market_events`` — one row per journal record, in journal order. Every row starts with the
frame's ``journal_seq``, ``journal_mono_ns``, ``journal_wall_ns`` and ``journal_wall_time``
(ISO 8601, UTC, nanoseconds), then every field of the record as stored; each enum code
also gets a ``<field>_name`` column and each price in ticks a ``<field>_decimal`` column
(exact, four decimals). JSON records get one column per key (the keys every such event
carries, then any other key found, sorted) and ``payload``, the record's JSON text as
journaled.

Record tables are streamed (one Parquet row group per 65,536 rows), so an export's
memory does not grow with the journal; the JSON tables — control-plane events, few —
are held until the end. Files are written under a ``.partial`` name and renamed once
the whole journal has been read, so a failed export leaves no half-written table. The
same journal always gives byte-identical CSV.

The journal should be closed: a reader verifies every frame and does not repair, so the
tail of a journal still being written, or torn by a crash and not yet recovered, is
refused as :class:`~lowlat.journal.CorruptJournal` (naming the file and byte offset).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lowlat.core.records import (
    PRICE_SCALE,
    AckFlag,
    AckStatus,
    EventKind,
    OrderAction,
    OrderType,
    Side,
    TimeInForce,
)
from lowlat.journal.format import RecordType, parse_segment_name, record_dtype
from lowlat.journal.reader import JournalReader

__all__ = [
    "FORMATS",
    "MARKET_TABLE",
    "TABLES",
    "ExportError",
    "ExportSummary",
    "ExportedTable",
    "NotAJournal",
    "ack_reason_names",
    "export_journal",
    "export_tables",
    "iso_times",
    "journal_reader",
    "price_strings",
    "type_name",
]

FORMATS: tuple[str, ...] = ("parquet", "csv")
#: Tables every export writes (empty ones too), in this order.
TABLES: tuple[str, ...] = (
    "orders",
    "acks",
    "fills",
    "exec_reports",
    "breaker_events",
    "lifecycle",
    "risk_events",
    "operator_events",
)
#: The table of input market events, written only on request (it is most of a journal).
MARKET_TABLE = "market_events"

_ROW_GROUP = 65_536
_PARTIAL = ".partial"
_FRAME_COLUMNS = ("journal_seq", "journal_mono_ns", "journal_wall_ns", "journal_wall_time")
_PAYLOAD = "payload"

Column = tuple[str, pa.DataType, Sequence[Any]]


class NotAJournal(ValueError):
    """The directory does not exist or holds no journal segment file."""


class ExportError(ValueError):
    """The export cannot run as asked: unknown format, or an output directory in the way."""


@dataclass(frozen=True)
class ExportedTable:
    """One table written: its name, file and number of rows."""

    name: str
    path: Path
    rows: int


@dataclass(frozen=True)
class ExportSummary:
    """What an export read and wrote."""

    directory: Path
    out_dir: Path
    fmt: str
    records: int  # journal records read
    tables: tuple[ExportedTable, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    """Records of types no table holds, by type name (market events unless asked for)."""

    @property
    def paths(self) -> dict[str, Path]:
        """Table name → file, in table order."""
        return {table.name: table.path for table in self.tables}


# --- decoding helpers (shared with the HTML report) ----------------------------------------


def type_name(code: int) -> str:
    """Name of a journal record type code (``TYPE_<code>`` for an application's own)."""
    try:
        return RecordType(code).name
    except ValueError:
        return f"TYPE_{code}"


def iso_times(wall_ns: np.ndarray) -> list[str]:
    """ISO 8601 UTC times, to the nanosecond, of wall-clock nanoseconds since the epoch."""
    stamps = np.asarray(wall_ns, np.int64).astype("datetime64[ns]")
    return np.datetime_as_string(stamps, unit="ns", timezone="UTC").tolist()


def price_strings(ticks: np.ndarray, scale: int = PRICE_SCALE) -> list[str]:
    """Exact decimal strings of integer tick prices (``1012500`` → ``"101.2500"``)."""
    digits = len(str(scale)) - 1
    out = []
    for value in np.asarray(ticks).tolist():
        whole, part = divmod(abs(value), scale)
        out.append(f"{'-' if value < 0 else ''}{whole}.{part:0{digits}d}")
    return out


@cache
def _names(
    enums: tuple[type[IntEnum], ...], size: int, extra: tuple[tuple[int, str], ...] = ()
) -> np.ndarray:
    """Lookup table code → name for codes ``0 .. size - 1``; the first enum naming a code wins."""
    table = np.array([f"UNKNOWN({code})" for code in range(size)], dtype=object)
    for code, name in extra:
        table[code] = name
    for enum in reversed(enums):
        for member in enum:
            if 0 <= member.value < size:
                table[member.value] = member.name
    return table


def _codes(
    values: np.ndarray, enums: tuple[type[IntEnum], ...], extra: tuple[tuple[int, str], ...] = ()
) -> list[str]:
    size = 1 << (8 * values.dtype.itemsize)
    return _names(enums, size, extra)[values.astype(np.int64)].tolist()


@cache
def _flag_names() -> np.ndarray:
    table = np.empty(256, dtype=object)
    for value in range(256):
        parts = [flag.name for flag in AckFlag if value & flag]
        rest = value & ~sum(AckFlag)
        if rest:
            parts.append(f"0x{rest:02x}")
        table[value] = "|".join(parts) or "NONE"
    return table


def ack_reason_names(acks: np.ndarray) -> list[str]:
    """Names of the ``reason`` codes of ACK records.

    The field is shared: a venue report (flag EXECUTED) carries the venue's
    :class:`~lowlat.venue.records.Reason`; a decision that did not leave carries a
    pre-trade :class:`~lowlat.risk.RejectReason` (below 100) or the execution stage's
    :class:`~lowlat.execution.GateReason` (from 1000).
    """
    from lowlat.execution.layout import GateReason
    from lowlat.risk.reasons import RejectReason
    from lowlat.venue.records import Reason

    reasons = acks["reason"].astype(np.int64)
    executed = (acks["flags"] & AckFlag.EXECUTED) != 0
    venue = _names((Reason,), 1 << 16)[reasons]
    ours = _names((RejectReason, GateReason), 1 << 16)[reasons]
    return np.where(executed, venue, ours).tolist()


def _breaker_state_names(records: np.ndarray, name: str) -> list[str]:
    from lowlat.risk.breakers.records import MARKET_WIDE, InstrumentState, MarketLevel

    market = records["instrument"] == MARKET_WIDE
    states = records[name].astype(np.int64)
    per_instrument = _names((InstrumentState,), 256)[states]
    levels = _names((MarketLevel,), 256)[states]
    return np.where(market, levels, per_instrument).tolist()


def _enum(
    name: str, *enums: type[IntEnum], extra: tuple[tuple[int, str], ...] = ()
) -> Callable[[np.ndarray], list[str]]:
    return lambda records: _codes(records[name], enums, extra)


def _flags(records: np.ndarray) -> list[str]:
    return _flag_names()[records["flags"].astype(np.int64)].tolist()


# --- table specs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RecordTable:
    """A table of one 64-byte record type: fields as stored, plus names and decimal prices."""

    name: str
    rtype: RecordType
    names: Mapping[str, Callable[[np.ndarray], list[str]]]
    prices: tuple[str, ...] = ()

    def columns(
        self, seqs: np.ndarray, mono: np.ndarray, wall: np.ndarray, records: np.ndarray
    ) -> list[Column]:
        """Every column of these rows, in table order."""
        out: list[Column] = _frame_columns(seqs, mono, wall)
        for name in records.dtype.names:
            values = records[name]
            out.append((name, pa.from_numpy_dtype(values.dtype), values))
            if name in self.names:
                out.append((f"{name}_name", pa.string(), self.names[name](records)))
            if name in self.prices:
                out.append((f"{name}_decimal", pa.string(), price_strings(values)))
        return out


def _record_tables() -> list[_RecordTable]:
    """The record tables (imported on first use, as ``record_dtype`` does)."""
    from lowlat.risk.breakers.records import BreakerCause
    from lowlat.venue.records import ACTION_REDUCE, Liquidity, Reason

    return [
        _RecordTable(
            MARKET_TABLE,
            RecordType.MARKET_EVENT,
            {"kind": _enum("kind", EventKind), "side": _enum("side", Side)},
            ("price",),
        ),
        _RecordTable(
            "orders",
            RecordType.ORDER,
            {
                "action": _enum("action", OrderAction, extra=((ACTION_REDUCE, "REDUCE"),)),
                "side": _enum("side", Side),
                "order_type": _enum("order_type", OrderType),
                "tif": _enum("tif", TimeInForce),
            },
            ("price",),
        ),
        _RecordTable(
            "acks",
            RecordType.ACK,
            {
                "status": _enum("status", AckStatus),
                "flags": _flags,
                "reason": ack_reason_names,
            },
        ),
        _RecordTable(
            "fills",
            RecordType.FILL,
            {"side": _enum("side", Side), "liquidity": _enum("liquidity", Liquidity)},
            ("price",),
        ),
        _RecordTable(
            "exec_reports",
            RecordType.EXEC_REPORT,
            {
                "side": _enum("side", Side),
                "status": _enum("status", AckStatus),
                "reason": _enum("reason", Reason),
                "liquidity": _enum("liquidity", Liquidity),
            },
            ("last_px",),
        ),
        _RecordTable(
            "breaker_events",
            RecordType.BREAKER,
            {
                "old_state": lambda r: _breaker_state_names(r, "old_state"),
                "new_state": lambda r: _breaker_state_names(r, "new_state"),
                "cause": _enum("cause", BreakerCause),
            },
            ("price", "reference"),
        ),
    ]


#: JSON tables: record type → (table, the keys every such event carries, in column order).
_JSON_TABLES: dict[RecordType, tuple[str, tuple[str, ...]]] = {
    RecordType.LIFECYCLE: (
        "lifecycle",
        ("source", "target", "reason", "approved_by", "monotonic_ns"),
    ),
    RecordType.RISK: (
        "risk_events",
        ("action", "by", "reason", "lifecycle", "cancelled", "error", "monotonic_ns", "wall_time"),
    ),
    RecordType.OPERATOR: (
        "operator_events",
        ("action", "by", "approved_by", "status", "reason"),
    ),
}


def _frame_columns(seqs: np.ndarray, mono: np.ndarray, wall: np.ndarray) -> list[Column]:
    return [
        ("journal_seq", pa.int64(), seqs),
        ("journal_mono_ns", pa.int64(), mono),
        ("journal_wall_ns", pa.int64(), wall),
        ("journal_wall_time", pa.string(), iso_times(wall)),
    ]


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _json_column(values: list[Any]) -> tuple[pa.DataType, list[Any]]:
    """The narrowest type holding every value of a JSON key; lists and objects as JSON text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_(), values
    if present and all(
        isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]
        for v in present
    ):
        return pa.int64(), values
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64(), [None if v is None else float(v) for v in values]
    if all(isinstance(v, str) for v in present):
        return pa.string(), values
    text = [
        v
        if isinstance(v, str) or v is None
        else json.dumps(v, sort_keys=True, separators=(",", ":"))
        for v in values
    ]
    return pa.string(), text


def _json_columns(
    known: tuple[str, ...], rows: list[tuple[int, int, int, dict[str, Any], str]]
) -> list[Column]:
    seqs = np.array([r[0] for r in rows], np.int64)
    mono = np.array([r[1] for r in rows], np.int64)
    wall = np.array([r[2] for r in rows], np.int64)
    out = _frame_columns(seqs, mono, wall)
    found = sorted({key for r in rows for key in r[3]} - set(known))
    taken = {*_FRAME_COLUMNS, _PAYLOAD}
    for key in (*known, *found):
        kind, values = _json_column([r[3].get(key) for r in rows])
        out.append((f"event_{key}" if key in taken else key, kind, values))
    out.append((_PAYLOAD, pa.string(), [r[4] for r in rows]))
    return out


# --- writers -------------------------------------------------------------------------------


class _ParquetSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, columns: list[Column]) -> None:
        schema = pa.schema([(name, kind) for name, kind, _ in columns])
        arrays = [pa.array(values, kind) for _, kind, values in columns]
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, schema)
        self._writer.write_table(
            pa.Table.from_arrays(arrays, schema=schema), row_group_size=_ROW_GROUP
        )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _CsvSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def write(self, columns: list[Column]) -> None:
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow([name for name, _, _ in columns])
        cells = [_csv_cells(kind, values) for _, kind, values in columns]
        self._writer.writerows(zip(*cells, strict=True))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _csv_cells(kind: pa.DataType, values: Sequence[Any]) -> list[Any]:
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if kind == pa.bool_():
        return ["" if v is None else ("true" if v else "false") for v in values]
    return values


_SINKS = {"parquet": _ParquetSink, "csv": _CsvSink}


# --- the export ----------------------------------------------------------------------------


def journal_reader(directory: str | os.PathLike[str]) -> JournalReader:
    """A reader of the journal in ``directory``, after checking that it is one.

    Raises
    ------
    NotAJournal
        If the directory does not exist or holds no ``journal-*.seg`` file.
    """
    path = Path(directory)
    if not path.is_dir():
        raise NotAJournal(f"no journal directory {path}")
    if not any(parse_segment_name(name) is not None for name in os.listdir(path)):
        raise NotAJournal(f"{path} is not a journal directory (no journal-*.seg segment files)")
    return JournalReader(path)


def _check_output(directory: Path, out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out} exists and is not a directory")
    if out.resolve() == directory.resolve():
        raise ExportError(f"refusing to write the export into the journal directory {out}")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(
            f"output directory {out} is not empty; refusing to overwrite it without --force"
        )


def export_tables(
    directory: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    fmt: Literal["parquet", "csv"] = "parquet",
    *,
    market_events: bool = False,
    force: bool = False,
) -> ExportSummary:
    """Export the journal in ``directory`` to ``out_dir``, one file per table.

    Parameters
    ----------
    directory
        The journal directory (closed, or recovered after a crash).
    out_dir
        Where the tables go (created if missing): ``<table>.parquet`` or ``<table>.csv``.
    fmt
        ``"parquet"`` or ``"csv"``.
    market_events
        Also write ``market_events`` (every input event: usually most of the journal).
    force
        Write into a non-empty ``out_dir``: tables of a previous export (either format)
        are replaced or removed, any other file is left alone.

    Raises
    ------
    ExportError
        For an unknown format, or an ``out_dir`` that is a file, the journal directory
        itself, or not empty (without ``force``): nothing is read or written then. Also
        for a JSON record that is not a UTF-8 JSON object (naming its sequence).
    NotAJournal
        If ``directory`` is missing or holds no segment.
    CorruptJournal
        At the first frame that fails verification (naming the file and byte offset);
        no table is left behind.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    source, out = Path(directory), Path(out_dir)
    reader = journal_reader(source)
    _check_output(source, out, force)
    specs = [t for t in _record_tables() if market_events or t.name != MARKET_TABLE]
    order = ([MARKET_TABLE] if market_events else []) + list(TABLES)
    out.mkdir(parents=True, exist_ok=True)
    sinks = {name: _SINKS[fmt](out / f"{name}.{fmt}{_PARTIAL}") for name in order}
    try:
        summary = _export(reader, source, out, fmt, specs, sinks, order)
    except BaseException:
        for sink in sinks.values():
            with contextlib.suppress(OSError, pa.ArrowException):
                sink.close()
            sink.path.unlink(missing_ok=True)
        raise
    for table in summary.tables:
        os.replace(sinks[table.name].path, table.path)
    produced = {table.path.name for table in summary.tables}
    for name in (MARKET_TABLE, *TABLES):
        for ext in FORMATS:
            if f"{name}.{ext}" not in produced:
                (out / f"{name}.{ext}").unlink(missing_ok=True)
    return summary


def _export(
    reader: JournalReader,
    source: Path,
    out: Path,
    fmt: str,
    specs: list[_RecordTable],
    sinks: dict[str, _ParquetSink | _CsvSink],
    order: list[str],
) -> ExportSummary:
    rows = dict.fromkeys(order, 0)
    pending: dict[str, list[tuple[np.ndarray, ...]]] = {t.name: [] for t in specs}
    waiting = dict.fromkeys(pending, 0)
    json_rows: dict[RecordType, list[tuple[int, int, int, dict[str, Any], str]]] = {
        rtype: [] for rtype in _JSON_TABLES
    }
    counts: dict[int, int] = {}
    records = 0

    def flush(spec: _RecordTable) -> None:
        chunks = pending[spec.name]
        if chunks:
            parts = [np.concatenate(column) for column in zip(*chunks, strict=True)]
            sinks[spec.name].write(spec.columns(*parts))
            rows[spec.name] += len(parts[0])
        pending[spec.name], waiting[spec.name] = [], 0

    for batch in reader:
        records += len(batch)
        for code, count in zip(*np.unique(batch.types, return_counts=True), strict=True):
            counts[int(code)] = counts.get(int(code), 0) + int(count)
        for spec in specs:
            at = np.flatnonzero(batch.types == spec.rtype)
            if at.size:
                rec = batch.records(spec.rtype)
                pending[spec.name].append(
                    (batch.seqs[at], batch.mono_ns[at], batch.wall_ns[at], rec)
                )
                waiting[spec.name] += at.size
                if waiting[spec.name] >= _ROW_GROUP:
                    flush(spec)
        for rtype, kept in json_rows.items():
            for row in np.flatnonzero(batch.types == rtype).tolist():
                kept.append(_json_row(source, batch, row, rtype))
    for spec in specs:
        flush(spec)
        if not rows[spec.name]:  # an empty table still gets its columns
            empty = np.zeros(0, np.int64)
            sinks[spec.name].write(
                spec.columns(empty, empty, empty, np.zeros(0, record_dtype(spec.rtype)))
            )
    for rtype, (name, known) in _JSON_TABLES.items():
        sinks[name].write(_json_columns(known, json_rows[rtype]))
        rows[name] = len(json_rows[rtype])
    for sink in sinks.values():
        sink.close()
    exported = {t.rtype for t in specs} | set(_JSON_TABLES)
    skipped = {type_name(c): n for c, n in sorted(counts.items()) if c not in exported}
    tables = tuple(ExportedTable(name, out / f"{name}.{fmt}", rows[name]) for name in order)
    return ExportSummary(source, out, fmt, records, tables, skipped)


def _json_row(
    source: Path, batch: Any, row: int, rtype: RecordType
) -> tuple[int, int, int, dict[str, Any], str]:
    seq = int(batch.seqs[row])
    raw = batch.payload(row)
    try:
        text = raw.decode("utf-8")
        event = json.loads(text)
    except ValueError as error:
        raise ExportError(
            f"{source}: record {seq} ({rtype.name}) is not valid UTF-8 JSON: {error}"
        ) from None
    if not isinstance(event, dict):
        raise ExportError(f"{source}: record {seq} ({rtype.name}) is not a JSON object")
    return seq, int(batch.mono_ns[row]), int(batch.wall_ns[row]), event, text


def export_journal(
    directory: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    fmt: Literal["parquet", "csv"] = "parquet",
    *,
    market_events: bool = False,
    force: bool = False,
) -> dict[str, Path]:
    """Export a journal; return table name → file written (see :func:`export_tables`)."""
    return export_tables(directory, out_dir, fmt, market_events=market_events, force=force).paths
