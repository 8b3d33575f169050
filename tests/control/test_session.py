"""The main job end to end: a short session trades, serves its endpoints, journals, replays."""

from __future__ import annotations

import gc
import json
import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from lowlat.cli.operate import status_table
from lowlat.control import isolation
from lowlat.control.replay import replay
from lowlat.control.session import DEFAULT_CONFIG, RunConfig, Session
from lowlat.core.records import OrderAction
from lowlat.journal import JournalReader, RecordType
from tests.control._support import get, post

pytestmark = pytest.mark.slow


def _config(seconds: float, **session) -> RunConfig:
    config = RunConfig.load()
    options = {"duration_s": seconds, "http_port": 0, "rate": 20_000, "warmup_messages": 2_000}
    return replace(config, session=replace(config.session, **(options | session)))


def _types(journal: Path) -> list[int]:
    return [int(t) for batch in JournalReader(journal) for t in batch.types]


def test_a_session_serves_metrics_journals_everything_and_replays_identically(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    session = Session(_config(2.5), journal)
    seen: dict[str, object] = {}

    def probe(status: dict) -> None:
        if "metrics" not in seen:
            base = f"http://127.0.0.1:{session.server.port}"
            seen["metrics"] = get(base + "/metrics")[1]
            seen["status"] = json.loads(get(base + "/status")[1])

    result = session.run(on_status=probe)
    counters = result.status["counters"]
    assert counters["events"] == result.status["feed"]["published"] > 1_000
    assert session.frozen_objects > 0 and gc.get_freeze_count() == 0  # frozen while trading
    assert counters["lost"] == counters["journal_refused"] == counters["stalled_routes"] == 0
    assert "lowlat_lifecycle_state" in seen["metrics"]
    assert "lowlat_stage_latency_microseconds_bucket" in seen["metrics"]
    assert 'lowlat_pattern_events_total{kind="pair_zscore",pattern="pair-1-2"' in seen["metrics"]
    assert seen["status"]["lifecycle"] in ("WARMUP", "READY", "DEGRADED")
    engine = result.status["engine_time"]  # the engine's own share of each decision
    assert engine["count"] > 0 and 0 <= engine["p50_ns"] <= engine["p99_ns"] <= engine["p99.9_ns"]
    rendered = Console(width=200, record=True)
    rendered.print(status_table(result.status))
    assert "engine's own time p50 / p99 / p99.9 µs" in rendered.export_text()
    assert [t for _, t, _ in result.lifecycle][-1] == "STOPPED"
    types = _types(journal)
    assert types.count(RecordType.MARKET_EVENT) == counters["events"]
    assert types.count(RecordType.LIFECYCLE) == len(result.lifecycle)
    outcome = replay(journal)
    assert outcome.events == counters["events"]
    assert outcome.identical, outcome.first_difference
    assert outcome.counts["ACK"] > 0


def _thread_masks() -> dict[int, set[int]]:
    """Every thread of this process and the CPUs it may run on."""
    masks = {}
    for name in os.listdir("/proc/self/task"):
        try:
            masks[int(name)] = os.sched_getaffinity(int(name))
        except OSError:  # ended meanwhile
            continue
    return masks


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_engine_has_its_cpu_to_itself_while_the_session_runs(tmp_path: Path) -> None:
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    session = Session(_config(1.0, engine_cpu=cpu), tmp_path / "journal")
    seen: dict[str, object] = {}

    def probe(status: dict) -> None:
        if "masks" not in seen and session.feed is not None:
            seen["engine"] = session.loop.thread_id
            seen["masks"] = _thread_masks()

    result = session.run(on_status=probe)
    boot = isolation.boot_isolation(Path("/proc/cmdline").read_text())
    isolated_at_boot = all(
        cpu in boot.get(key, set()) for key in ("isolcpus", "nohz_full", "rcu_nocbs")
    )
    assert ("boot" in result.status["engine"]["cpu_noise"]) is not isolated_at_boot
    rendered = Console(width=200, record=True)
    rendered.print(status_table(result.status))
    assert f"{cpu}, other threads kept off; " in rendered.export_text()
    masks = seen["masks"]
    assert masks.pop(seen["engine"]) == {cpu}
    assert len(masks) > 3  # this one, the feed, the journal writer, the HTTP server, …
    assert all(mask == allowed - {cpu} for mask in masks.values())
    assert os.sched_getaffinity(0) == allowed  # given back when the session ended


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 or os.geteuid() != 0, reason="needs two CPUs and root"
)
def test_a_machine_isolated_session_keeps_other_processes_off_its_cpu_and_gives_it_back(
    tmp_path: Path, bystander, isolation_scan_only
) -> None:
    isolation_scan_only(bystander.pid)
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    state = tmp_path / "isolation.json"
    config = _config(1.0, engine_cpu=cpu, isolate="machine", isolation_state=str(state))
    session = Session(config, tmp_path / "journal")
    seen: dict[str, object] = {}

    def probe(status: dict) -> None:
        if "mask" not in seen and session.feed is not None:
            seen["mask"] = os.sched_getaffinity(bystander.pid)
            seen["saved"] = state.exists()
            seen["isolation"] = status["engine"]["isolation"]

    result = session.run(on_status=probe)
    assert "tasks" not in result.status["engine"]["cpu_noise"]  # the bystander was moved
    assert seen["mask"] == allowed - {cpu} and seen["saved"]
    assert seen["isolation"]["cpu"] == cpu and seen["isolation"]["tasks_moved"] == 1
    assert os.sched_getaffinity(bystander.pid) == allowed  # given back at the end
    assert not state.exists() and session.isolation_problems == []


def test_a_pairs_session_decides_on_the_patterns_it_fires_and_replays_them_identically(
    tmp_path: Path,
) -> None:
    raw = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["session"] |= {"strategy": "pairs-trader", "duration_s": 2.5, "http_port": 0}
    raw["session"] |= {"rate": 20_000, "warmup_messages": 2_000}
    raw["patterns"]["pattern"][0] |= {"z_threshold": 1.5, "half_life_events": 50}
    journal = tmp_path / "journal"
    result = Session(RunConfig.from_dict(raw), journal).run()
    fired = result.status["patterns"]["fired"]
    assert fired["pair-1-2"] > 0
    assert result.status["counters"]["patterns"] == sum(fired.values())
    assert _types(journal).count(RecordType.PATTERN) == sum(fired.values())
    # The pairs trader decides only when its pattern fires.
    assert result.status["execution"]["decisions"] >= 2
    outcome = replay(journal)
    assert outcome.identical, outcome.first_difference
    assert outcome.counts["PATTERN"] == sum(fired.values())


def test_the_kill_switch_over_http_halts_cancels_and_rearms_only_with_approval(
    tmp_path: Path,
) -> None:
    session = Session(_config(4.0), tmp_path / "journal")
    replies: dict[str, tuple[int, dict]] = {}

    def operate(status: dict) -> None:
        base = f"http://127.0.0.1:{session.server.port}/killswitch"
        if "engage" not in replies and status["uptime_s"] > 1.0:
            replies["engage"] = post(base + "/engage", {"by": "test", "reason": "drill"})
        elif "engage" in replies and "refused" not in replies:
            replies["refused"] = post(base + "/rearm", {"reason": "no approver"})
        elif "refused" in replies and "rearm" not in replies and status["uptime_s"] > 2.5:
            replies["rearm"] = post(base + "/rearm", {"approved_by": "ops", "reason": "drill done"})

    result = session.run(on_status=operate)
    assert replies["engage"][0] == 200 and replies["engage"][1]["status"]["lifecycle"] == "HALTED"
    assert replies["refused"][0] == 409 and "approv" in replies["refused"][1]["error"]
    assert replies["rearm"][0] == 200
    targets = [t for _, t, _ in result.lifecycle]
    assert "HALTED" in targets and targets[targets.index("HALTED") + 1] == "READY"
    rearmed = next(t for t in session.lifecycle.history if t.source.name == "HALTED")
    assert rearmed.approved_by == "ops"
    assert result.status["counters"]["cancel_all_done"] == 1
    assert _types(tmp_path / "journal").count(RecordType.RISK) == 3  # engage, refused, rearm


def test_a_restart_on_the_same_journal_recovers_the_state_and_continues(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    # Interpreted, the engine thread is Python and too slow to journal enough for segments
    # to retire in a second; the restart then replays the whole journal, snapshot-free.
    snapshots = os.environ.get("NUMBA_DISABLE_JIT") != "1"
    config = _config(3.0, snapshot_interval_s=0.3 if snapshots else 0.0)
    config = replace(config, journal=replace(config.journal, segment_bytes=1 << 18))
    crashed = Session(config, journal)
    first = crashed.run(
        on_status=lambda status: crashed.stop() if status["uptime_s"] > 1.2 else None
    )
    events = first.status["feed"]["published"]
    assert 0 < events < config.session.rate * 3  # stopped early: the feed had more to send
    second = Session(config, journal).run()
    recovered = second.recovered
    assert recovered is not None
    assert recovered.snapshot_events + recovered.replayed_events == events
    recorded = [
        int(e["seq"]) for b in JournalReader(journal) for e in b.records(RecordType.MARKET_EVENT)
    ]
    assert recorded == list(range(recorded[0], recorded[-1] + 1))  # the feed, continued
    assert recorded[-1] == events + second.status["feed"]["published"]
    if snapshots:
        assert first.status["snapshots"]["taken"] >= 2
        assert first.status["snapshots"]["failures"] == 0
        assert recovered.snapshot is not None
        assert recovered.replayed_events < events  # only the tail after the newest snapshot
        assert recorded[0] > 1  # segments before the oldest kept snapshot were retired
    else:
        assert recovered.snapshot is None and recorded[0] == 1
    outcome = replay(journal)  # from the oldest kept snapshot, if segments were retired
    assert outcome.identical, outcome.first_difference


def test_a_kill_switch_engaged_before_a_restart_stays_engaged_after_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    config = _config(3.0)
    session = Session(config, journal)

    def operate(status: dict) -> None:
        if status["uptime_s"] > 0.8 and not session.kill_switch.engaged:
            post(
                f"http://127.0.0.1:{session.server.port}/killswitch/engage",
                {"by": "test", "reason": "drill"},
            )
        elif session.kill_switch.engaged and status["uptime_s"] > 1.5:
            session.stop()

    first = session.run(on_status=operate)
    assert first.status["counters"]["cancel_all_done"] == 1
    restarted = Session(_config(1.0), journal)
    second = restarted.run()
    recovered_seq = second.recovered.last_event_seq
    targets = [t for _, t, _ in second.lifecycle]
    assert targets == ["WARMUP", "HALTED", "STOPPED"]  # never READY: nobody re-armed it
    assert "engaged before the restart: drill" in second.lifecycle[1][2]
    assert second.status["kill_switch"]["engaged"]
    new_orders_after_restart = [
        o
        for b in JournalReader(journal)
        for o in b.records(RecordType.ORDER)
        if o["trigger_seq"] > recovered_seq and o["action"] == OrderAction.NEW
    ]
    assert new_orders_after_restart == []  # cancels may leave; nothing that adds risk
    outcome = replay(journal)  # the cancel-alls are replayed where they happened
    assert outcome.identical, outcome.first_difference


def test_the_killswitch_command_engages_and_rearms_a_running_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lowlat.cli.main import main

    session = Session(_config(3.0), tmp_path / "journal")
    exits: dict[str, int] = {}

    def operate(status: dict) -> None:
        url = ["--url", f"http://127.0.0.1:{session.server.port}"]
        if "engage" not in exits and status["uptime_s"] > 0.5:
            exits["engage"] = main(["killswitch", "engage", "--by", "cli", "--reason", "t", *url])
            exits["unapproved"] = main(
                ["killswitch", "rearm", "--approved-by", " ", "--reason", "t", *url]
            )
            exits["rearm"] = main(
                ["killswitch", "rearm", "--approved-by", "ops", "--reason", "t", *url]
            )
            exits["status"] = main(["killswitch", "status", *url])

    session.run(on_status=operate)
    assert exits == {"engage": 0, "unapproved": 1, "rearm": 0, "status": 0}
    assert "refused" in capsys.readouterr().err
    targets = [t.target.name for t in session.lifecycle.history]
    assert targets[targets.index("HALTED") + 1] == "READY"


def test_the_killswitch_command_says_when_no_engine_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lowlat.cli.main import main

    assert main(["killswitch", "status", "--url", "http://127.0.0.1:9"]) == 2
    assert "no engine answers" in capsys.readouterr().err


def test_metrics_carry_the_feed_gaps_time_sync_and_automation(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    session = Session(_config(1.0), tmp_path / "journal")
    scraped: dict[str, str] = {}

    def scrape(status: dict) -> None:
        scraped["text"] = get(f"http://127.0.0.1:{session.server.port}/metrics")[1]

    session.run(on_status=scrape)
    names = {family.name for family in text_string_to_metric_families(scraped["text"])}
    for family in (
        "lowlat_feed_sequence_gaps",
        "lowlat_timesync_steps",
        "lowlat_timesync_flagged",
        "lowlat_automation_pending_actions",
        "lowlat_engine_records",
    ):
        assert family in names, family
    assert 'lowlat_ring_back_pressured_total{ring="journal"} 0.0' in scraped["text"]
    assert 'lowlat_engine_records_total{counter="journal_held",engine="session"}' in scraped["text"]
