"""Compliance export: every journaled record appears once, decoded, in Parquet and CSV."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from lowlat.core.records import (
    ACK_DTYPE,
    FILL_DTYPE,
    MARKET_EVENT_DTYPE,
    ORDER_DTYPE,
    AckFlag,
    AckStatus,
    EventKind,
    OrderAction,
    Side,
)
from lowlat.execution import GateReason
from lowlat.journal import CorruptJournal, Journal, JournalConfig, JournalReader, RecordType
from lowlat.journal.export import (
    MARKET_TABLE,
    TABLES,
    ExportError,
    NotAJournal,
    export_journal,
    export_tables,
    price_strings,
)
from lowlat.risk import RejectReason
from lowlat.risk.breakers.records import (
    BREAKER_EVENT_DTYPE,
    MARKET_WIDE,
    BreakerCause,
    InstrumentState,
    MarketLevel,
)
from lowlat.venue.records import ACTION_REDUCE, EXEC_REPORT_DTYPE, Reason

USER_TYPE = 1024
MS = 1_000_000


@dataclass
class Published:
    """What :func:`build_session_journal` journaled, per record type, in order."""

    records: dict[int, np.ndarray] = field(default_factory=dict)
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    decision_latencies_ns: np.ndarray | None = None  # tick-to-order, per order
    execution_latencies_ns: np.ndarray | None = None  # first venue ack, per acked order
    rejects: dict[str, int] = field(default_factory=dict)

    def count(self, rtype: int) -> int:
        if rtype in self.records:
            return len(self.records[rtype])
        return len(self.events.get(rtype, []))


def _publish(journal: Journal, rtype: int, records: np.ndarray) -> None:
    for record in records:
        assert journal.publish(rtype, record) >= 0


def build_session_journal(directory: Path) -> Published:
    """A journal with what a trading session writes: every record kind, known latencies.

    1,000 market events and one order each, decided ``(i + 1)`` µs after the trigger's
    receive time (tick-to-order 1 … 1,000 µs). The first 200 orders get a venue NEW ack
    ``(i + 1)`` µs after the decision, then a FILLED ack 10 ms later (not the first ack,
    so not an execution-latency sample). Provisional and rejected decisions, fills, venue
    reports, breaker changes, lifecycle transitions, kill-switch and operator events
    follow, plus a SNAPSHOT and an application record no table holds.
    """
    out = Published()
    n = 1_000
    market = np.zeros(n, MARKET_EVENT_DTYPE)
    market["seq"] = np.arange(1, n + 1)
    market["recv_ns"] = 10**12 + np.arange(n) * MS
    market["exchange_ns"] = market["recv_ns"] - 5_000
    market["order_id"] = np.arange(n) + 500
    market["price"] = 1_012_500 + np.arange(n)
    market["qty"] = 100
    market["instrument"] = 7
    market["kind"] = np.where(np.arange(n) % 2, EventKind.EXECUTE, EventKind.ADD)
    market["side"] = np.where(np.arange(n) % 3, Side.BUY, Side.SELL)
    market["lane"] = 2

    orders = np.zeros(n, ORDER_DTYPE)
    orders["client_order_id"] = np.arange(1, n + 1)
    orders["trigger_seq"] = market["seq"]
    orders["decision_ns"] = market["recv_ns"] + (np.arange(n) + 1) * 1_000
    orders["price"] = 1_012_500 - np.arange(n)
    orders["price"][3] = 5
    orders["qty"] = 10
    orders["instrument"] = 7
    orders["account"] = 3
    orders["action"] = OrderAction.NEW
    orders["action"][10] = OrderAction.CANCEL
    orders["action"][11] = ACTION_REDUCE
    orders["side"] = Side.BUY
    orders["order_type"] = 1
    orders["tif"] = 1

    acked = 200
    venue = np.zeros(2 * acked, ACK_DTYPE)
    for i in range(acked):
        for k, (status, delay) in enumerate(
            ((AckStatus.NEW, (i + 1) * 1_000), (AckStatus.FILLED, 10 * MS))
        ):
            row = venue[2 * i + k]
            row["seq"] = row["client_order_id"] = i + 1
            row["decision_ns"] = orders["decision_ns"][i]
            row["completion_ns"] = orders["decision_ns"][i] + delay
            row["venue_order_id"] = 9_000 + i
            row["leaves_qty"] = 10 if k == 0 else 0
            row["cum_qty"] = 0 if k == 0 else 10
            row["instrument"] = 7
            row["status"] = status
            row["flags"] = AckFlag.EXECUTED
    others = np.zeros(9, ACK_DTYPE)
    others["client_order_id"] = np.arange(2_001, 2_010)
    others["seq"] = others["client_order_id"]
    others["decision_ns"] = 10**12
    others["completion_ns"] = 10**12 + 700
    others["status"][:3] = AckStatus.DECIDED
    others["flags"][:3] = AckFlag.PROVISIONAL
    rejects = [  # refused before leaving: no flag; refused by the venue: EXECUTED
        (0, RejectReason.MAX_POSITION),
        (0, RejectReason.MAX_POSITION),
        (0, RejectReason.MAX_POSITION),
        (0, GateReason.BREAKER),
        (0, GateReason.BREAKER),
        (AckFlag.EXECUTED, Reason.BAD_PRICE),
    ]
    for row, (flag, reason) in zip(others[3:], rejects, strict=True):
        row["status"], row["flags"], row["reason"] = AckStatus.REJECTED, flag, reason
    acks = np.concatenate([venue, others])

    fills = np.zeros(50, FILL_DTYPE)
    fills["client_order_id"] = np.arange(1, 51)
    fills["venue_order_id"] = 9_000 + np.arange(50)
    fills["exec_id"] = np.arange(1, 51)
    fills["price"] = 1_012_500 + np.arange(50)
    fills["qty"] = 10
    fills["exchange_ns"] = 10**12
    fills["recv_ns"] = 10**12 + np.arange(50)
    fills["instrument"] = 7
    fills["side"] = Side.SELL
    fills["liquidity"] = 1 + np.arange(50) % 2

    reports = np.zeros(2, EXEC_REPORT_DTYPE)
    reports["exec_id"] = [1, 2]
    reports["order_id"] = [1, 2]
    reports["last_px"] = [1_012_500, 0]
    reports["status"] = [AckStatus.FILLED, AckStatus.REJECTED]
    reports["reason"] = [Reason.NONE, Reason.BAD_QTY]
    reports["side"] = Side.BUY
    reports["liquidity"] = [2, 0]

    breakers = np.zeros(3, BREAKER_EVENT_DTYPE)
    breakers["trigger_seq"] = [100, 200, 300]
    breakers["price"] = [1_012_600, 900_000, 0]
    breakers["reference"] = [1_012_500, 1_012_500, 0]
    breakers["value"] = [12.5, 1_100.25, 720.0]
    breakers["threshold"] = [10.0, 1_000.0, 700.0]
    breakers["instrument"] = [7, 7, MARKET_WIDE]
    breakers["old_state"] = [InstrumentState.NORMAL, InstrumentState.WARN, MarketLevel.NONE]
    breakers["new_state"] = [InstrumentState.WARN, InstrumentState.PAUSED, MarketLevel.LEVEL_1]
    breakers["cause"] = [BreakerCause.BAND, BreakerCause.MOVE, BreakerCause.MARKET]

    lifecycle = [
        ("INIT", "WARMUP", "started", None),
        ("WARMUP", "READY", "latency stable", None),
        ("READY", "DEGRADED", "sustained budget breaches", None),
        ("DEGRADED", "READY", "healthy again", None),
        ("READY", "HALTED", "kill switch: operator", None),
        ("HALTED", "READY", "kill switch re-armed: checked", "alice"),
    ]
    lifecycle_events = [
        {"source": s, "target": t, "reason": r, "approved_by": a, "monotonic_ns": 10**12 + i}
        for i, (s, t, r, a) in enumerate(lifecycle)
    ]
    risk_events = [
        {"action": "engage", "by": "bob", "reason": "operator", "lifecycle": "HALTED",
         "cancelled": [1, 2, 3], "error": None, "monotonic_ns": 5,
         "wall_time": "2026-01-02T03:04:05+00:00"},
        {"action": "rearm refused", "by": "", "reason": "", "lifecycle": "HALTED",
         "cancelled": [], "error": "re-arming the kill switch needs an operator approval",
         "monotonic_ns": 6, "wall_time": "2026-01-02T03:04:06+00:00"},
        {"action": "rearm", "by": "alice", "reason": "checked", "lifecycle": "READY",
         "cancelled": [], "error": None, "monotonic_ns": 7,
         "wall_time": "2026-01-02T03:04:07+00:00"},
    ]  # fmt: skip
    operator_events = [
        {"action": "killswitch engage", "by": "bob", "approved_by": None, "status": "done",
         "attempts": 1},
        {"action": "detach consumer", "by": "automation", "approved_by": "alice",
         "status": "approved", "consumer": "analytics", "ratio": 0.5, "flag": True},
    ]  # fmt: skip

    with Journal(directory, JournalConfig(fsync="none", ring_capacity=1 << 13)) as journal:
        journal.append_json(RecordType.LIFECYCLE, lifecycle_events[0])
        journal.append_json(RecordType.LIFECYCLE, lifecycle_events[1])
        journal.flush()
        half = n // 2
        for part in (slice(0, half), slice(half, n)):
            for i in range(part.start, part.stop):
                assert journal.publish(RecordType.MARKET_EVENT, market[i]) >= 0
                assert journal.publish(RecordType.ORDER, orders[i]) >= 0
            journal.flush()
            if part.start == 0:
                journal.append_json(RecordType.LIFECYCLE, lifecycle_events[2])
                _publish(journal, RecordType.BREAKER, breakers[:2])
                journal.flush()
                journal.append_json(RecordType.LIFECYCLE, lifecycle_events[3])
                journal.flush()
        _publish(journal, RecordType.ACK, acks)
        _publish(journal, RecordType.FILL, fills)
        _publish(journal, RecordType.EXEC_REPORT, reports)
        _publish(journal, RecordType.BREAKER, breakers[2:])
        journal.flush()
        journal.append_json(RecordType.LIFECYCLE, lifecycle_events[4])
        journal.append_json(RecordType.RISK, risk_events[0])
        journal.append_json(RecordType.OPERATOR, operator_events[0])
        journal.flush()
        journal.append_json(RecordType.RISK, risk_events[1])
        journal.append_json(RecordType.RISK, risk_events[2])
        journal.append_json(RecordType.LIFECYCLE, lifecycle_events[5])
        journal.append_json(RecordType.OPERATOR, operator_events[1])
        journal.append_json(RecordType.SNAPSHOT, {"covers": 10})
        assert journal.publish(USER_TYPE, np.zeros(1, ORDER_DTYPE)[0]) >= 0
        journal.flush()  # close() alone can race the writer thread and drop the tail
    out.records = {
        RecordType.MARKET_EVENT: market,
        RecordType.ORDER: orders,
        RecordType.ACK: acks,
        RecordType.FILL: fills,
        RecordType.EXEC_REPORT: reports,
        RecordType.BREAKER: breakers,
    }
    out.events = {
        RecordType.LIFECYCLE: lifecycle_events,
        RecordType.RISK: risk_events,
        RecordType.OPERATOR: operator_events,
    }
    out.decision_latencies_ns = (np.arange(n) + 1) * 1_000
    out.execution_latencies_ns = (np.arange(acked) + 1) * 1_000
    out.rejects = {"MAX_POSITION": 3, "BREAKER": 2, "BAD_PRICE": 1}
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[Path, Published]:
    directory = tmp_path_factory.mktemp("session") / "journal"
    return directory, build_session_journal(directory)


@pytest.fixture(scope="module")
def frames(session) -> dict[str, np.ndarray]:
    """Type, seq, mono and wall of every record, as the reader returns them."""
    directory, _ = session
    batches = list(JournalReader(directory))
    return {
        name: np.concatenate([getattr(b, name) for b in batches])
        for name in ("types", "seqs", "mono_ns", "wall_ns")
    }


@pytest.fixture(scope="module")
def csv_export(session, tmp_path_factory):
    directory, _ = session
    out = tmp_path_factory.mktemp("csv") / "out"
    return export_tables(directory, out, "csv", market_events=True)


@pytest.fixture(scope="module")
def parquet_export(session, tmp_path_factory):
    directory, _ = session
    out = tmp_path_factory.mktemp("parquet") / "out"
    return export_tables(directory, out, "parquet", market_events=True)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


TABLE_TYPES = {
    MARKET_TABLE: RecordType.MARKET_EVENT,
    "orders": RecordType.ORDER,
    "acks": RecordType.ACK,
    "fills": RecordType.FILL,
    "exec_reports": RecordType.EXEC_REPORT,
    "breaker_events": RecordType.BREAKER,
    "lifecycle": RecordType.LIFECYCLE,
    "risk_events": RecordType.RISK,
    "operator_events": RecordType.OPERATOR,
}


# --- round trip ----------------------------------------------------------------------------


def test_every_table_is_written_with_one_row_per_record(session, frames, csv_export):
    _, published = session
    assert [t.name for t in csv_export.tables] == [MARKET_TABLE, *TABLES]
    assert csv_export.records == len(frames["seqs"])
    for table in csv_export.tables:
        rtype = TABLE_TYPES[table.name]
        rows = read_csv(table.path)
        assert table.rows == len(rows) == published.count(rtype), table.name
        seqs = [int(row["journal_seq"]) for row in rows]
        expected = frames["seqs"][frames["types"] == rtype]
        assert seqs == expected.tolist(), table.name  # each record once, in journal order
    assert csv_export.skipped == {"SNAPSHOT": 1, "TYPE_1024": 1}
    assert not list(csv_export.out_dir.glob("*.partial"))


def test_frame_columns_carry_both_clocks_and_an_iso_utc_time(frames, csv_export):
    rows = read_csv(csv_export.paths["orders"])
    at = {int(s): i for i, s in enumerate(frames["seqs"].tolist())}
    for row in rows[:50]:
        i = at[int(row["journal_seq"])]
        assert int(row["journal_mono_ns"]) == frames["mono_ns"][i]
        wall = int(frames["wall_ns"][i])
        assert int(row["journal_wall_ns"]) == wall
        stamp = row["journal_wall_time"]
        assert stamp.endswith("Z") and len(stamp) == len("2026-01-02T03:04:05.123456789Z")
        assert int(stamp[-10:-1]) == wall % 1_000_000_000  # nanoseconds kept
        seconds = np.datetime64(stamp[:19], "s").astype(np.int64)
        assert seconds == wall // 1_000_000_000


def _check_record_fields(rows: list[dict[str, str]], records: np.ndarray) -> None:
    assert len(rows) == len(records)
    for name in records.dtype.names:
        column = [row[name] for row in rows]
        if records.dtype[name].kind == "f":
            assert [float(v) for v in column] == records[name].tolist(), name
        else:
            assert [int(v) for v in column] == records[name].tolist(), name


def test_record_fields_round_trip_with_names_and_decimal_prices(session, csv_export):
    _, published = session
    for table, rtype in TABLE_TYPES.items():
        if rtype in published.records:
            rows = read_csv(csv_export.paths[table])
            _check_record_fields(rows, published.records[rtype])
    orders = read_csv(csv_export.paths["orders"])
    assert orders[0]["action_name"] == "NEW" and orders[0]["side_name"] == "BUY"
    assert orders[10]["action_name"] == "CANCEL" and orders[11]["action_name"] == "REDUCE"
    assert orders[0]["order_type_name"] == "LIMIT" and orders[0]["tif_name"] == "GTC"
    assert orders[0]["price_decimal"] == "101.2500"
    assert orders[3]["price_decimal"] == "0.0005"
    market = read_csv(csv_export.paths[MARKET_TABLE])
    assert [r["kind_name"] for r in market[:2]] == ["ADD", "EXECUTE"]
    assert market[1]["price_decimal"] == "101.2501"
    fills = read_csv(csv_export.paths["fills"])
    assert [r["liquidity_name"] for r in fills[:2]] == ["ADDED", "REMOVED"]
    assert fills[0]["side_name"] == "SELL"
    reports = read_csv(csv_export.paths["exec_reports"])
    assert [r["reason_name"] for r in reports] == ["NONE", "BAD_QTY"]
    assert reports[0]["last_px_decimal"] == "101.2500"


def test_ack_status_flags_and_reason_are_named_by_who_set_them(csv_export):
    acks = read_csv(csv_export.paths["acks"])
    assert acks[0]["status_name"] == "NEW" and acks[0]["flags_name"] == "EXECUTED"
    assert acks[1]["status_name"] == "FILLED"
    tail = acks[-9:]
    assert [r["status_name"] for r in tail[:3]] == ["DECIDED"] * 3
    assert [r["flags_name"] for r in tail[:3]] == ["PROVISIONAL"] * 3
    reasons = [r["reason_name"] for r in tail[3:]]
    assert reasons == ["MAX_POSITION"] * 3 + ["BREAKER"] * 2 + ["BAD_PRICE"]
    assert tail[0]["reason_name"] == "NONE"
    assert [r["flags_name"] for r in tail[3:]] == ["NONE"] * 5 + ["EXECUTED"]


def test_breaker_states_are_named_per_instrument_or_market_wide(csv_export):
    rows = read_csv(csv_export.paths["breaker_events"])
    assert [(r["old_state_name"], r["new_state_name"], r["cause_name"]) for r in rows] == [
        ("NORMAL", "WARN", "BAND"),
        ("WARN", "PAUSED", "MOVE"),
        ("NONE", "LEVEL_1", "MARKET"),
    ]
    assert [r["price_decimal"] for r in rows] == ["101.2600", "90.0000", "0.0000"]
    assert [r["reference_decimal"] for r in rows] == ["101.2500", "101.2500", "0.0000"]


def test_json_tables_have_a_column_per_key_and_the_payload_as_journaled(session, csv_export):
    _, published = session
    for table, rtype in (("lifecycle", RecordType.LIFECYCLE), ("risk_events", RecordType.RISK),
                         ("operator_events", RecordType.OPERATOR)):  # fmt: skip
        rows = read_csv(csv_export.paths[table])
        for row, event in zip(rows, published.events[rtype], strict=True):
            assert json.loads(row["payload"]) == event
            text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            assert row["payload"] == text
    lifecycle = read_csv(csv_export.paths["lifecycle"])
    assert list(lifecycle[0])[4:] == [
        "source", "target", "reason", "approved_by", "monotonic_ns", "payload"
    ]  # fmt: skip
    assert lifecycle[5]["approved_by"] == "alice" and lifecycle[0]["approved_by"] == ""
    risk = read_csv(csv_export.paths["risk_events"])
    assert risk[0]["cancelled"] == "[1,2,3]"
    assert risk[0]["wall_time"] == "2026-01-02T03:04:05+00:00"  # the event's own key
    operator = read_csv(csv_export.paths["operator_events"])
    assert list(operator[0])[4:] == [
        "action", "by", "approved_by", "status", "reason", "attempts", "consumer", "flag",
        "ratio", "payload",
    ]  # fmt: skip
    assert operator[1]["flag"] == "true" and operator[0]["flag"] == ""
    assert operator[1]["ratio"] == "0.5"


def test_parquet_holds_the_same_rows_with_native_types(session, csv_export, parquet_export):
    _, published = session
    assert parquet_export.paths.keys() == csv_export.paths.keys()
    for name, path in parquet_export.paths.items():
        table = pq.read_table(path)
        rows = read_csv(csv_export.paths[name])
        assert table.num_rows == len(rows), name
        assert table.column_names == list(rows[0]), name
        assert table.column("journal_seq").to_pylist() == [int(r["journal_seq"]) for r in rows]
        assert table.column("journal_wall_time").to_pylist() == [
            r["journal_wall_time"] for r in rows
        ]
    orders = pq.read_table(parquet_export.paths["orders"])
    assert str(orders.schema.field("price").type) == "int64"
    assert str(orders.schema.field("action").type) == "uint8"
    assert (
        orders.column("price").to_pylist() == published.records[RecordType.ORDER]["price"].tolist()
    )
    assert orders.column("price_decimal").to_pylist()[3] == "0.0005"
    breakers = pq.read_table(parquet_export.paths["breaker_events"])
    assert breakers.column("value").to_pylist() == [12.5, 1_100.25, 720.0]
    operator = pq.read_table(parquet_export.paths["operator_events"]).to_pylist()
    assert operator[1]["flag"] is True and operator[0]["flag"] is None
    assert operator[0]["attempts"] == 1 and operator[1]["ratio"] == 0.5
    risk = pq.read_table(parquet_export.paths["risk_events"]).to_pylist()
    assert risk[0]["monotonic_ns"] == 5 and risk[0]["error"] is None


def test_csv_export_is_byte_identical_on_every_run(session, csv_export, tmp_path):
    directory, _ = session
    again = export_tables(directory, tmp_path / "again", "csv", market_events=True)
    for name, path in csv_export.paths.items():
        assert again.paths[name].read_bytes() == path.read_bytes(), name


def test_market_events_are_left_out_unless_asked_for(session, tmp_path):
    directory, published = session
    paths = export_journal(directory, tmp_path / "out", "csv")
    assert list(paths) == list(TABLES)
    assert not (tmp_path / "out" / f"{MARKET_TABLE}.csv").exists()
    summary = export_tables(directory, tmp_path / "out2", "csv")
    assert summary.skipped["MARKET_EVENT"] == published.count(RecordType.MARKET_EVENT)


def test_price_strings_are_exact():
    ticks = np.array([0, 1, -1, 1_012_500, -1_012_500, 10**15 + 7], np.int64)
    assert price_strings(ticks) == [
        "0.0000", "0.0001", "-0.0001", "101.2500", "-101.2500", "100000000000.0007"
    ]  # fmt: skip


def test_empty_journal_exports_empty_tables_with_their_columns(tmp_path):
    Journal(tmp_path / "empty", JournalConfig(fsync="none")).close()
    summary = export_tables(tmp_path / "empty", tmp_path / "out", "csv")
    assert summary.records == 0
    for table in summary.tables:
        assert table.rows == 0
        header = table.path.read_text(encoding="utf-8").splitlines()
        assert len(header) == 1 and header[0].startswith("journal_seq,")
    parquet = export_tables(tmp_path / "empty", tmp_path / "pq", "parquet")
    orders = pq.read_table(parquet.paths["orders"])
    assert orders.num_rows == 0 and "price_decimal" in orders.column_names


def test_record_tables_are_written_in_row_groups(session, tmp_path, monkeypatch):
    from lowlat.journal import export

    directory, published = session
    monkeypatch.setattr(export, "_ROW_GROUP", 300)
    paths = export_journal(directory, tmp_path / "out", "parquet", market_events=True)
    orders = pq.ParquetFile(paths["orders"])
    assert orders.metadata.num_row_groups > 1
    prices = orders.read().column("price").to_pylist()
    assert prices == published.records[RecordType.ORDER]["price"].tolist()


# --- errors --------------------------------------------------------------------------------


def test_unknown_format_is_refused_before_anything_is_written(session, tmp_path):
    directory, _ = session
    with pytest.raises(ExportError, match="unknown export format 'xlsx'; use one of: parquet, csv"):
        export_journal(directory, tmp_path / "out", "xlsx")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_missing_directory_and_a_directory_without_segments_are_not_journals(tmp_path):
    with pytest.raises(NotAJournal, match=r"no journal directory .*nowhere"):
        export_journal(tmp_path / "nowhere", tmp_path / "out", "csv")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hello")
    with pytest.raises(NotAJournal, match=r"plain is not a journal directory"):
        export_journal(tmp_path / "plain", tmp_path / "out", "csv")


def test_a_non_empty_output_directory_is_refused_unless_forced(session, tmp_path):
    directory, _ = session
    out = tmp_path / "out"
    export_journal(directory, out, "csv", market_events=True)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(
        ExportError, match=r"is not empty; refusing to overwrite it without --force"
    ):
        export_journal(directory, out, "parquet")
    paths = export_journal(directory, out, "parquet", force=True)
    names = sorted(p.name for p in out.iterdir())
    # the previous export's tables are replaced; other files are left alone
    assert names == sorted([*(p.name for p in paths.values()), "keep.txt"])
    with pytest.raises(ExportError, match="not a directory"):
        export_journal(directory, out / "keep.txt", "csv")
    with pytest.raises(ExportError, match="into the journal directory"):
        export_journal(directory, directory, "csv", force=True)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [(b"not json", "is not valid UTF-8 JSON"), (b"\xff", "is not valid UTF-8 JSON"),
     (b"[1, 2]", "is not a JSON object")],
)  # fmt: skip
def test_a_json_record_that_is_not_an_object_is_named(tmp_path, payload, problem):
    with Journal(tmp_path / "j", JournalConfig(fsync="none")) as journal:
        journal.append_json(RecordType.RISK, {"action": "engage"})
        journal.append(RecordType.LIFECYCLE, payload)
        journal.flush()
    with pytest.raises(ExportError, match=rf"record 1 \(LIFECYCLE\) {problem}"):
        export_tables(tmp_path / "j", tmp_path / "out", "csv")
    assert list((tmp_path / "out").iterdir()) == []


def test_corrupt_journal_names_file_and_offset_and_leaves_no_table(tmp_path):
    directory = tmp_path / "journal"
    with Journal(directory, JournalConfig(fsync="none")) as journal:
        for i in range(20):
            event = np.zeros(1, MARKET_EVENT_DTYPE)
            event["seq"] = i
            assert journal.publish(RecordType.MARKET_EVENT, event[0]) >= 0
        journal.flush()
    (segment,) = sorted(directory.glob("journal-*.seg"))
    data = bytearray(segment.read_bytes())
    frame = 64 + 112 * 10  # the 11th frame (48-byte head + 64-byte record each)
    data[frame + 60] ^= 0xFF
    segment.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(CorruptJournal) as error:
        export_tables(directory, out, "parquet", market_events=True)
    assert error.value.path == str(segment) and error.value.offset == frame
    assert f"corrupt journal segment {segment} at byte {frame}" in str(error.value)
    assert list(out.iterdir()) == []


# --- the command ---------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    from lowlat.cli import journal_commands

    parser = argparse.ArgumentParser(prog="lowlat")
    journal_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    return journal_commands.run(parser.parse_args(argv))


def test_export_command_prints_each_table_with_its_rows(session, tmp_path, capsys):
    directory, _ = session
    out = tmp_path / "out"
    assert run_cli(["export", str(directory), "--to", "csv", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"journal {directory}: 2,477 records read; csv tables written to {out}" in printed
    orders_line = next(line for line in printed.splitlines() if line.startswith("orders"))
    assert "1,000" in orders_line and str(out / "orders.csv") in orders_line
    assert "not exported: MARKET_EVENT 1,000" in printed and "--market-events" in printed
    assert run_cli(["export", str(directory), "--to", "csv", "-o", str(out),
                    "--market-events", "--force"]) == 0  # fmt: skip
    assert (out / f"{MARKET_TABLE}.csv").exists()


def test_export_command_defaults_to_a_directory_next_to_the_journal(session, tmp_path, capsys):
    directory = tmp_path / "copy"
    source, _ = session
    directory.mkdir()
    for segment in source.glob("journal-*.seg"):
        (directory / segment.name).write_bytes(segment.read_bytes())
    assert run_cli(["export", str(directory), "--to", "parquet"]) == 0
    assert (tmp_path / "copy-parquet" / "orders.parquet").exists()


def test_export_command_errors_name_what_was_wrong(session, tmp_path, capsys):
    from lowlat.cli.main import CommandError

    directory, _ = session
    with pytest.raises(CommandError, match="no journal directory"):
        run_cli(["export", str(tmp_path / "missing"), "--to", "csv"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        run_cli(["export", str(directory), "--to", "csv", "-o", str(tmp_path / "full")])
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["export", str(directory), "--to", "xlsx"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'xlsx'" in capsys.readouterr().err
