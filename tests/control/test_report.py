"""The HTML journal report: sections, hand-checked percentiles, empty journals, no assets."""

from __future__ import annotations

import argparse
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from lowlat.control.report import (
    PERCENTILES,
    cdf_points,
    latency_stats,
    percentile,
    render_report,
    write_report,
)
from lowlat.core.records import ACK_DTYPE, MARKET_EVENT_DTYPE, ORDER_DTYPE, AckStatus
from lowlat.journal import Journal, JournalConfig, RecordType
from tests.journal.test_export import build_session_journal


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report") / "journal"
    published = build_session_journal(directory)
    return directory, published, render_report(directory)


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert match, name
    return match.group(1)


def div(page: str, name: str) -> str:
    match = re.search(rf'<div id="{name}">(.*?)</div>', page, re.S)
    assert match, name
    return match.group(1)


class TagBalance(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta", "br", "hr", "img", "input", "link", "rect", "line", "circle", "path", "polygon"
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def assert_well_formed(page: str) -> None:
    checker = TagBalance()
    checker.feed(page)
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)


def assert_self_contained(page: str) -> None:
    lowered = page.lower()
    for needle in (
        "http://",
        "https://",
        "//cdn",
        "src=",
        "<script",
        "<link",
        "url(",
        "@import",
        "<iframe",
        "<img",
    ):
        assert needle not in lowered, needle  # fmt: skip


# --- statistics ----------------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = np.array([5, 1, 4, 2, 3])
    assert [percentile(values, p) for p in (0, 20, 21, 50, 99, 100)] == [1, 1, 2, 3, 5, 5]
    thousand = np.arange(1, 1_001)
    assert percentile(thousand, 50) == 500
    assert percentile(thousand, 99) == 990
    assert percentile(thousand, 99.9) == 999  # 0.999 * 1000 is 999, not 999.0000001
    with pytest.raises(ValueError, match="no samples"):
        percentile(np.array([], np.int64), 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile(values, 101)


def test_cdf_points_are_the_empirical_cdf():
    xs, fs = cdf_points(np.array([30, 10, 20, 20]))
    assert xs.tolist() == [10, 20, 20, 30]
    assert fs.tolist() == [0.25, 0.5, 0.75, 1.0]
    values = np.random.default_rng(7).integers(1, 10**6, 100_000)
    xs, fs = cdf_points(values, max_points=500)
    ordered = np.sort(values)
    assert len(xs) <= 500
    assert xs[0] == ordered[0] and xs[-1] == ordered[-1] and fs[-1] == 1.0
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(fs) > 0)
    ranks = np.rint(fs * len(values)).astype(np.int64) - 1
    assert np.array_equal(ordered[ranks], xs)  # every point is (sample, its rank / n)
    assert np.count_nonzero(fs > 0.999) >= 50  # the tail keeps its detail


def test_latency_stats():
    stats = latency_stats(np.arange(1, 201) * 1_000)
    assert (stats.count, stats.minimum, stats.maximum) == (200, 1_000, 200_000)
    assert stats.percentiles == {50.0: 100_000, 99.0: 198_000, 99.9: 200_000}
    assert tuple(stats.percentiles) == PERCENTILES


# --- the session journal -------------------------------------------------------------------


def test_report_has_every_section_and_is_one_self_contained_page(session):
    directory, _, page = session
    assert page.startswith("<!DOCTYPE html>")
    for name in ("summary", "latency", "throughput", "lifecycle", "events"):
        section(page, name)
    assert page.count("<svg") == 5  # two CDFs, two rates, the timeline
    assert "xmlns" not in page
    assert_self_contained(page)
    assert_well_formed(page)
    assert f"journal directory {directory}" in page


def test_tick_to_order_cdf_is_annotated_with_hand_computed_percentiles(session):
    _, published, page = session
    part = div(page, "latency-tick-to-order")
    # decisions (i + 1) µs after their trigger, i = 0 … 999
    assert "p50 = 500 µs" in part and "p99 = 990 µs" in part and "p99.9 = 999 µs" in part
    for label, value in (
        ("p50", "500.000"),
        ("p99", "990.000"),
        ("p99.9", "999.000"),
        ("min", "1.000"),
        ("max", "1,000.000"),
    ):
        assert f"<td>{label}</td><td class=\"n\">{value} µs</td>" in part, label  # fmt: skip
    assert "1,000 samples" in part
    assert "no journaled trigger" not in part
    assert np.array_equal(np.sort(published.decision_latencies_ns), np.arange(1, 1_001) * 1_000)


def test_execution_cdf_uses_the_first_venue_ack_of_each_order(session):
    _, _, page = session
    part = div(page, "latency-execution")
    # NEW acks (i + 1) µs after the decision, i = 0 … 199, and the venue's reject 700 ns
    # after its decision; the FILLED acks 10 ms later and the decisions that did not leave
    # are not samples. Ranks of 201: p50 → 101st, p99 → 199th, p99.9 → 201st.
    assert "p50 = 100 µs" in part and "p99 = 198 µs" in part and "p99.9 = 200 µs" in part
    assert '<td>min</td><td class="n">0.700 µs</td>' in part
    assert '<td>max</td><td class="n">200.000 µs</td>' in part
    assert "201 samples" in part


def test_summary_counts_records_orders_fills_and_rejects_by_reason(session):
    _, published, page = session
    part = section(page, "summary")
    for rtype in (RecordType.MARKET_EVENT, RecordType.ORDER, RecordType.ACK, RecordType.FILL):
        count = f"{published.count(rtype):,}"
        assert f'<td>{rtype.name}</td><td class="n">{count}</td>' in part
    assert '<td>TYPE_1024</td><td class="n">1</td>' in part
    assert '<td>orders sent</td><td class="n">1,000</td>' in part
    assert '<td>fills</td><td class="n">50</td>' in part
    assert '<td>provisional decisions (not sent)</td><td class="n">3</td>' in part
    assert '<td>rejects</td><td class="n">6</td>' in part
    rows = re.findall(r'<tr><td>(\w+)</td><td class="n">(\d+)</td></tr>',
                      part.split("Rejects by reason")[1])  # fmt: skip
    assert {name: int(n) for name, n in rows} == published.rejects
    assert "wall-clock span" in part


def test_throughput_plots_market_events_and_orders_per_second(session):
    _, _, page = session
    part = section(page, "throughput")
    assert "market events per second" in part and "orders per second" in part
    assert part.count("<polygon") == 2
    assert "UTC" in part


def test_lifecycle_timeline_has_state_bands_and_event_markers(session):
    _, _, page = session
    part = section(page, "lifecycle")
    bands = re.findall(r"<title>(\w+): [^<]*</title></rect>", part)
    assert sorted(bands) == sorted(["WARMUP", "READY", "DEGRADED", "READY", "HALTED", "READY"])
    assert "HALTED → READY: kill switch re-armed: checked (approved by alice)" in part
    assert part.count("<circle") == 3 + 2  # risk and operator events
    assert len(re.findall(r"<path d=\"M[^\"]*l5,10h-10z\"", part)) == 3  # breaker changes
    assert "market-wide: NONE → LEVEL_1 (MARKET)" in part


def test_event_tables_list_breaker_risk_and_operator_events(session):
    _, _, page = session
    part = section(page, "events")
    assert "<td>instrument 7</td><td>WARN</td><td>PAUSED</td><td>MOVE</td>" in part
    assert "<td>market-wide</td><td>NONE</td><td>LEVEL_1</td><td>MARKET</td>" in part
    assert "<td>engage</td><td>bob</td><td>operator</td><td>HALTED</td><td>1, 2, 3</td>" in part
    assert "<td>rearm refused</td>" in part and "needs an operator approval" in part
    assert "<td>detach consumer</td><td>automation</td><td>alice</td><td>approved</td>" in part
    assert "consumer=analytics" in part


# --- edge cases ----------------------------------------------------------------------------


def test_empty_journal_says_so_in_every_section(tmp_path):
    Journal(tmp_path / "empty", JournalConfig(fsync="none")).close()
    page = render_report(tmp_path / "empty")
    for text in (
        "no records in this journal",
        "no orders in this journal",
        "no venue acknowledgements in this journal",
        "no market events or orders in this journal",
        "no lifecycle transitions in this journal",
        "no breaker events in this journal",
        "no risk events in this journal",
        "no operator events in this journal",
    ):
        assert text in page, text  # fmt: skip
    assert "<svg" not in page
    assert_well_formed(page)
    assert_self_contained(page)


def test_triggers_join_on_the_latest_event_before_the_order(tmp_path):
    """Feed sequences can repeat (another feed, a replay): the order's trigger is the
    latest event with its seq journaled before it; an unknown trigger is counted apart."""
    market = np.zeros(4, MARKET_EVENT_DTYPE)
    market["seq"] = [1, 2, 2, 2]
    market["recv_ns"] = [1_000, 2_000, 3_000, 9_000]
    orders = np.zeros(4, ORDER_DTYPE)
    orders["trigger_seq"] = [2, 1, 99, 1]
    orders["decision_ns"] = [3_500, 1_700, 5_000, 900]  # the last one "before" its trigger
    with Journal(tmp_path / "j", JournalConfig(fsync="none")) as journal:
        for i in range(3):
            journal.publish(RecordType.MARKET_EVENT, market[i])
        for order in orders:
            journal.publish(RecordType.ORDER, order)
        journal.publish(RecordType.MARKET_EVENT, market[3])  # seq 2 again, after the orders
        journal.append_json(RecordType.RISK, {"action": "engage", "reason": "<b>x</b> & y"})
        ack = np.zeros(1, ACK_DTYPE)
        ack["status"], ack["reason"] = AckStatus.REJECTED, 77
        journal.publish(RecordType.ACK, ack[0])
        journal.flush()  # close() alone can race the writer thread and drop the tail
    page = render_report(tmp_path / "j")
    part = div(page, "latency-tick-to-order")
    # order 0: 3,500 − 3,000 (the second seq-2 event); order 1: 1,700 − 1,000; order 3: −100
    assert '<td>min</td><td class="n">-0.100 µs</td>' in part
    assert '<td>p50</td><td class="n">0.500 µs</td>' in part
    assert '<td>max</td><td class="n">0.700 µs</td>' in part
    assert "samples ≤ 0 ns are drawn at 1 ns" in part
    assert "1 order(s) had no journaled trigger event" in part
    assert "no venue acknowledgements in this journal" in page
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in page and "<b>x</b>" not in page
    assert '<td>UNKNOWN(77)</td><td class="n">1</td>' in page
    assert "no lifecycle transitions in this journal" in section(page, "lifecycle")
    assert section(page, "lifecycle").count("<circle") == 1  # the timeline still shows events


def test_long_tables_are_capped_and_bad_json_is_shown_not_fatal(tmp_path, monkeypatch):
    from lowlat.control import report
    from lowlat.risk.breakers.records import BREAKER_EVENT_DTYPE

    monkeypatch.setattr(report, "_MAX_TABLE_ROWS", 10)
    breakers = np.zeros(12, BREAKER_EVENT_DTYPE)
    breakers["instrument"] = np.arange(12)
    with Journal(tmp_path / "j", JournalConfig(fsync="none")) as journal:
        for record in breakers:
            journal.publish(RecordType.BREAKER, record)
        journal.append(RecordType.OPERATOR, b"not json")
        journal.append(RecordType.OPERATOR, b"[1]")
        journal.flush()
    page = render_report(tmp_path / "j")
    part = section(page, "events")
    assert part.count("<td>instrument ") == 10
    assert "… and 2 more breaker events: `lowlat export` lists every one." in part
    assert "payload=not json" in part and "payload=[1]" in part
    assert_well_formed(page)


def test_durations_are_short_and_exact_enough():
    from lowlat.control.report import _duration

    cases = {0: "0 ns", 850: "850 ns", 999.6: "1 µs", 12_345: "12.3 µs", 999_999: "1 ms",
             4.5e6: "4.5 ms", 2e9: "2 s", 999.4e9: "999 s", 3_600e9: "3,600 s",
             -1_500: "-1.5 µs"}  # fmt: skip
    assert {value: _duration(value) for value in cases} == cases


def test_orders_without_any_trigger_say_so(tmp_path):
    with Journal(tmp_path / "j", JournalConfig(fsync="none")) as journal:
        journal.publish(RecordType.ORDER, np.zeros(1, ORDER_DTYPE)[0])
        journal.flush()
    part = div(render_report(tmp_path / "j"), "latency-tick-to-order")
    assert "no trigger market event of any order is in this journal" in part


def test_write_report_and_the_command(session, tmp_path, capsys):
    from lowlat.cli import journal_commands
    from lowlat.cli.main import CommandError

    directory, _, page = session
    assert write_report(directory, tmp_path / "r.html").read_text(encoding="utf-8") == page

    parser = argparse.ArgumentParser(prog="lowlat")
    journal_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "report.html"
    args = parser.parse_args(["report", str(directory), "-o", str(out)])
    assert journal_commands.run(args) == 0
    assert out.read_text(encoding="utf-8") == page
    assert f"wrote {out} (" in capsys.readouterr().out
    args = parser.parse_args(["report", str(tmp_path / "missing")])
    with pytest.raises(CommandError, match=r"no journal directory .*missing"):
        journal_commands.run(args)
    args = parser.parse_args(["report", str(directory), "-o", str(tmp_path / "no" / "x.html")])
    with pytest.raises(CommandError, match="No such file or directory"):
        journal_commands.run(args)


def test_report_command_defaults_to_a_file_next_to_the_journal(tmp_path, capsys):
    from lowlat.cli import journal_commands

    Journal(tmp_path / "j", JournalConfig(fsync="none")).close()
    parser = argparse.ArgumentParser(prog="lowlat")
    journal_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    assert journal_commands.run(parser.parse_args(["report", str(tmp_path / "j")])) == 0
    assert (tmp_path / "j-report.html").is_file()
    assert Path(tmp_path / "j-report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")
