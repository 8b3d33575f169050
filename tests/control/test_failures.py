"""Failure scenarios: described as data, injected into real short sessions, judged as expected.

Every in-engine scenario runs in its own short session (20k msg/s, compiled) and is judged
by its own :class:`~lowlat.control.failures.Expected` — the same verdict ``GET
/fail/<scenario>`` and ``lowlat fail --check`` give — plus checks of its own. The
sessions use generous stage budgets (a shared 2-core machine must not degrade on its own)
and a short system-breaker hysteresis, so that each scenario takes a few seconds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lowlat.cli import fail_commands
from lowlat.control.config import ReadinessConfig
from lowlat.control.failures import (
    SCENARIOS,
    Effect,
    Expected,
    launch_forked,
    process_restart,
)
from lowlat.control.replay import replay
from lowlat.control.session import RunConfig, Session, _Feed
from lowlat.control.stages import Stage
from lowlat.journal import JournalReader, RecordType
from lowlat.risk.breakers.config import SystemBreakerConfig
from tests.control._support import get, post

INTERPRETED = os.environ.get("NUMBA_DISABLE_JIT") == "1"
COMPILED_ONLY = pytest.mark.skipif(
    INTERPRETED,
    reason="needs compiled speed: interpreted, the feed decodes and publishes in bursts seconds "
    "apart (it shares the GIL with the busy-polling engine), so the steady rated flow the "
    "scenario departs from and returns to never exists",
)
_MS = 1_000_000


def _config(seconds: float = 30.0, **session) -> RunConfig:
    config = RunConfig.load()
    options = {"duration_s": seconds, "http_port": 0, "rate": 20_000, "warmup_messages": 2_000}
    if INTERPRETED:
        options |= {"rate": 4_000, "warmup_messages": 500}
    budget = 50 * _MS  # every stage but ACK (1 ms): only the injections breach
    budgets = replace(
        config.control.budgets, ingest=budget, decode=budget, decision=budget, send=budget
    )
    control = replace(
        config.control,
        budgets=budgets,
        readiness=ReadinessConfig(stages=(Stage.INGEST,), window_events=256, good_windows=2),
        system_breaker=SystemBreakerConfig(degrade_after_ns=300 * _MS, recover_after_ns=600 * _MS),
    )
    raw = {**config.raw, "control": {**config.raw.get("control", {}), "readiness": {}}}
    return replace(
        config, session=replace(config.session, **(options | session)), control=control, raw=raw
    )


class Running:
    """A session running in a thread; ``wait_for`` a lifecycle state; stopped on exit."""

    def __init__(self, config: RunConfig, journal: Path | None = None) -> None:
        self.session = Session(config, journal)
        self.result = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.session.run()
        except BaseException as error:
            self.error = error

    def __enter__(self) -> Running:
        self._thread.start()
        return self

    def wait_trading(self, timeout: float = 900.0) -> None:
        """Until READY (compiled) or, interpreted, until the feed's first chunk is flowing.

        The first session of a process compiles the engine's strategy kernels during its
        warm-up: minutes on a cold cache beside two other test processes.
        """
        deadline = time.monotonic() + timeout
        while not self._trading():
            assert self._thread.is_alive(), f"the session ended early: {self.error!r}"
            assert time.monotonic() < deadline, f"not trading within {timeout} s"
            time.sleep(0.02)

    def _trading(self) -> bool:
        if not INTERPRETED:
            return self.session.lifecycle.state.name == "READY"
        return self.session.loop.counters()["events"] > 1_000

    @property
    def url(self) -> str:
        return self.session.server.url

    def __exit__(self, *exc: object) -> None:
        self.session.stop()
        self._thread.join(60)
        if self.error is not None and exc[0] is None:
            raise self.error


def _json_records(journal: Path, rtype: RecordType) -> list[dict]:
    return [
        batch.json(row)
        for batch in JournalReader(journal)
        for row in range(len(batch))
        if batch.types[row] == rtype
    ]


# --- the registry, as data ------------------------------------------------------------------


def test_every_scenario_says_what_it_injects_and_what_to_expect() -> None:
    assert list(SCENARIOS) == [
        "slow-consumer", "execution-backlog", "md-burst", "observability-loss",
        "process-restart", "feed-gap", "venue-disconnect", "clock-jump",
    ]  # fmt: skip
    for name, scenario in SCENARIOS.items():
        described = scenario.to_dict()
        assert described["injects"] and described["expected"]["summary"], name
        assert described["expected"]["effects"], name
        assert (Path(__file__).parents[2] / scenario.runbook).is_file(), name
        json.dumps(described)
    assert SCENARIOS["execution-backlog"].expected.transitions == (
        "READY→DEGRADED",
        "DEGRADED→READY",
    )
    assert SCENARIOS["clock-jump"].expected.allowed == ()  # the lifecycle is untouched


def test_parameters_take_their_defaults_types_and_bounds() -> None:
    burst = SCENARIOS["md-burst"]
    assert burst.parse_params({}) == {"multiplier": 10.0, "seconds": 3.0}
    assert burst.parse_params({"multiplier": "4", "seconds": 1}) == {
        "multiplier": 4.0,
        "seconds": 1.0,
    }
    with pytest.raises(ValueError, match="unknown parameter"):
        burst.parse_params({"multiplyer": 2})
    with pytest.raises(ValueError, match="multiplier must be in"):
        burst.parse_params({"multiplier": 0.5})
    gap = SCENARIOS["feed-gap"]
    with pytest.raises(ValueError, match="must be an integer"):
        gap.parse_params({"messages": 2.5})
    restart = SCENARIOS["process-restart"]
    assert restart.parse_params({"confirm": "true"})["confirm"] is True
    with pytest.raises(ValueError, match="true or false"):
        restart.parse_params({"confirm": "maybe"})


def test_expectations_judge_transition_order_others_allowed_and_effects() -> None:
    expected = Expected(
        "x",
        transitions=("READY→DEGRADED", "DEGRADED→READY"),
        allowed=(),
        effects=(
            Effect("feed.gaps", "rises_by_at_least", "$n"),
            Effect("lifecycle", "unchanged"),
            Effect("sidecar.up", "false"),
            Effect("rate", "at_least", "$n", 0.5),
        ),
    )
    before = {"feed": {"gaps": 1}, "lifecycle": "READY", "sidecar": {"up": True}, "rate": 0}
    after = {"feed": {"gaps": 4}, "lifecycle": "READY", "sidecar": {"up": False}, "rate": 2}
    both = ["READY→DEGRADED", "DEGRADED→READY", "READY→STOPPED"]
    assert expected.check(before, after, both, {"n": 3})["ok"]
    verdict = expected.check(before, after, ["DEGRADED→READY", "READY→DEGRADED"], {"n": 3})
    assert verdict["missing_transitions"] == ["DEGRADED→READY"] and not verdict["ok"]
    verdict = expected.check(before, after, [*both, "READY→HALTED"], {"n": 3})
    assert verdict["unexpected_transitions"] == ["READY→HALTED"]
    verdict = expected.check(before, after, both, {"n": 5})
    assert [e["ok"] for e in verdict["effects"]] == [False, True, True, False]


def test_the_feed_counts_every_sequence_hole_and_drops_what_it_is_asked_to() -> None:
    feed = _Feed.__new__(_Feed)
    feed.dropped = feed.gaps = feed.gap_messages = 0
    feed._drops = deque()
    feed._next_seq = None
    feed._check_sequence(np.arange(1, 11))
    assert (feed.gaps, feed.gap_messages, feed._next_seq) == (0, 0, 11)
    feed._check_sequence(np.array([14, 15, 19, 20]))  # 11..13 and 16..18 missing
    assert (feed.gaps, feed.gap_messages, feed._next_seq) == (2, 6, 21)
    feed.drop(5)
    rows = np.arange(21, 24).reshape(3, 1)
    assert len(feed._take_drops(rows)) == 0 and feed.dropped == 3
    kept = feed._take_drops(np.arange(24, 30).reshape(6, 1))
    assert kept[:, 0].tolist() == [26, 27, 28, 29] and feed.dropped == 5
    feed._check_sequence(kept[:, 0])
    assert (feed.gaps, feed.gap_messages) == (3, 11)


def test_the_cli_lists_scenarios_and_refuses_unknown_ones(capsys: pytest.CaptureFixture) -> None:
    assert fail_commands.main(["fail", "--list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed) == set(SCENARIOS)
    assert listed["venue-disconnect"]["expected"]["transitions"] == [
        "READY→DEGRADED",
        "DEGRADED→READY",
    ]
    assert fail_commands.main(["fail", "meteor-strike"]) == 2
    error = capsys.readouterr().err
    assert "unknown failure scenario 'meteor-strike'" in error and "clock-jump" in error
    assert fail_commands.main(["fail", "clock-jump", "--url", "http://127.0.0.1:9"]) == 2
    assert "no engine answers" in capsys.readouterr().err
    assert fail_commands.main(["fail", "md-burst", "--param", "oops"]) == 2
    assert fail_commands.main(["fail", "md-burst", "--journal", "x"]) == 2


# --- injected into real sessions ---------------------------------------------------------------


def _slow_consumer(run: Running, injection, verdict, journal: Path) -> None:
    details = injection.details
    assert details["lag"] >= details["lag_limit"] and details["read"] > 0
    records = _json_records(journal, RecordType.OPERATOR)
    isolated = [r for r in records if r["action"] == "isolate-consumer"]
    assert [r["status"] for r in isolated] == ["executed"]
    assert isolated[0]["params"]["consumer"] == details["consumer"]
    assert isolated[0]["risk"] == "low" and isolated[0]["wall_time"]


def _execution_backlog(run: Running, injection, verdict, journal: Path) -> None:
    degraded = [t for t in run.result.lifecycle if t[1] == "DEGRADED"]
    assert "latency-budget breaches" in degraded[0][2]
    ack = run.result.status["stages"]["ack"]
    assert ack["p99.9_ns"] > 1_000_000  # the ACK budget
    outcome = replay(journal)  # the slow venue was journaled where the engine took it in
    assert outcome.identical, outcome.first_difference


def _md_burst(run: Running, injection, verdict, journal: Path) -> None:
    status = run.result.status
    assert status["counters"]["events"] == status["feed"]["published"]  # lossless: all of it
    assert status["counters"]["lost"] == status["counters"]["journal_refused"] == 0
    assert injection.details["burst_published"] > 2 * 2 * 20_000  # ≥ 2× the rate for 2 s


def _observability_loss(run: Running, injection, verdict, journal: Path) -> None:
    pass  # /livez and /metrics are read while it runs (see _while_running)


def _feed_gap(run: Running, injection, verdict, journal: Path) -> None:
    assert any(a.kind == "feed-gap" for a in run.session.automation.alerts)
    events = [
        int(s) for b in JournalReader(journal) for s in b.records(RecordType.MARKET_EVENT)["seq"]
    ]
    holes = np.diff(events) - 1
    assert holes[holes > 0].tolist() == [injection.params["messages"]]


def _venue_disconnect(run: Running, injection, verdict, journal: Path) -> None:
    reasons = [t[2] for t in run.result.lifecycle]
    assert any(r.startswith("venue session down") for r in reasons)
    assert "venue session restored" in reasons
    outcome = replay(journal)  # the refusals are replayed where they began and ended
    assert outcome.identical, outcome.first_difference


def _clock_jump(run: Running, injection, verdict, journal: Path) -> None:
    (step,) = [r for r in _json_records(journal, RecordType.RISK) if r["action"] == "clock-step"]
    assert step["by"] == "timesync" and step["delta_ns"] == pytest.approx(120e9, rel=1e-3)
    assert any(a.kind == "clock-step" for a in run.session.automation.alerts)


def _while_running(name: str, run: Running) -> None:
    if name == "observability-loss":
        status, body = get(run.url + "/livez")
        assert status == 200 and json.loads(body)["sidecar"]["state"] == "dead"
        _, metrics = get(run.url + "/metrics")
        assert "lowlat_sidecar_up 0.0" in metrics


CASES = {
    "slow-consumer": ({}, _slow_consumer),
    "execution-backlog": ({"seconds": 1.5}, _execution_backlog),
    "md-burst": ({"multiplier": 5.0, "seconds": 2.0}, _md_burst),
    "observability-loss": ({}, _observability_loss),
    "feed-gap": ({}, _feed_gap),
    "venue-disconnect": ({"seconds": 1.5}, _venue_disconnect),
    "clock-jump": ({}, _clock_jump),
}
#: Runs interpreted too: neither needs the engine near its rated load.
INTERPRETED_OK = {"observability-loss", "clock-jump"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_an_injected_scenario_behaves_as_its_expectation_says(name: str, tmp_path: Path) -> None:
    if INTERPRETED and name not in INTERPRETED_OK:
        pytest.skip(COMPILED_ONLY.kwargs["reason"])
    params, check = CASES[name]
    journal = tmp_path / "journal"
    with Running(_config(feed_headroom=2.0), journal) as run:
        run.wait_trading()
        time.sleep(0.3)
        injection = run.session.failures.inject(name, params, by="test")
        time.sleep((params.get("seconds") or 0) + run.session.failures.settle_s(injection.scenario))
        _while_running(name, run)
        verdict = run.session.failures.verdict(name)
    assert verdict["ok"], json.dumps(verdict, indent=1, default=str)
    assert injection.state in ("done", "cleared")
    operator = _json_records(journal, RecordType.OPERATOR)
    ours = [r for r in operator if r["action"] == f"fail:{name}"]
    assert ours[0]["status"] == "started" and ours[0]["by"] == "test"
    check(run, injection, verdict, journal)


@pytest.mark.slow
def test_operators_drive_failures_and_approvals_over_http_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    journal = tmp_path / "journal"
    with Running(_config(), journal) as run:
        run.wait_trading()
        url = run.url
        listing = json.loads(get(url + "/fail")[1])
        assert set(listing["scenarios"]) == set(SCENARIOS) and listing["running"] == {}
        assert post(url + "/fail/md-burst", {"multiplier": 0})[0] == 400
        assert post(url + "/fail/process-restart", {})[0] == 400  # needs confirm=true
        assert get(url + "/fail/meteor-strike")[0] == 404
        assert fail_commands.main(["fail", "slow-consumer", "--url", url]) == 0
        assert json.loads(capsys.readouterr().out)["injection"]["state"] == "running"
        assert post(url + "/fail/slow-consumer", {})[0] == 409  # already running
        assert fail_commands.main(["fail", "slow-consumer", "--clear", "--url", url]) == 0
        assert json.loads(capsys.readouterr().out)["injection"]["state"] == "cleared"
        code = fail_commands.main(
            ["fail", "clock-jump", "--param", "offset_s=-30", "--check", "--url", url]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        # the kill switch: automation prepares the re-arm; it needs a named approver
        engaged = post(url + "/killswitch/engage", {"by": "test", "reason": "drill"})
        assert engaged[0] == 200
        deadline = time.monotonic() + 10
        while not run.session.automation.pending():
            assert time.monotonic() < deadline, "no re-arm prepared"
            time.sleep(0.02)
        assert fail_commands.main(["actions", "--url", url]) == 0
        (pending,) = json.loads(capsys.readouterr().out)["pending"]
        assert pending["kind"] == "killswitch-rearm"
        refused = post(f"{url}/actions/{pending['id']}/approve", {"reason": "no name"})
        assert refused[0] == 409 and run.session.lifecycle.state.name == "HALTED"
        approve = ["actions", "approve", str(pending["id"]), "--url", url]
        code = fail_commands.main([*approve, "--approved-by", "ops", "--reason", "drill done"])
        assert code == 0, capsys.readouterr()
        (rearmed,) = [t for t in run.session.lifecycle.history if t.source.name == "HALTED"]
        assert rearmed.target.name == "READY" and rearmed.approved_by == "ops"
        unknown = ["actions", "approve", "99", "--approved-by", "ops", "--reason", "x"]
        assert fail_commands.main([*unknown, "--url", url]) == 2
    records = _json_records(journal, RecordType.OPERATOR)
    rearm = [(r["status"], r["by"]) for r in records if r["action"] == "killswitch-rearm"]
    assert rearm == [
        ("prepared", "automation"),
        ("refused", ""),
        ("approved", "ops"),
        ("executed", "ops"),
    ]
    assert [r["status"] for r in records if r["action"] == "fail:slow-consumer"] == [
        "started",
        "cleared",
    ]
    steps = [r for r in _json_records(journal, RecordType.RISK) if r["action"] == "clock-step"]
    assert len(steps) == 1 and steps[0]["delta_ns"] < 0


@pytest.mark.slow
@COMPILED_ONLY
def test_a_killed_engine_process_restarts_on_its_journal_and_replays_identically(
    tmp_path: Path,
) -> None:
    # A forked `lowlat run` starts with this process's compiled kernels: a fresh interpreter
    # would spend ~30 s compiling the engine loop (its cache never hits across processes).
    Session(_config(0.2)).run()  # compile here, in case this test runs alone
    config = tmp_path / "run.toml"
    config.write_text(
        """
[session]
rate = 20_000
warmup_messages = 2_000
[risk.limits]
max_orders_per_second = 1_000
[control.budgets]
ingest = 50_000_000
decode = 50_000_000
decision = 50_000_000
send = 50_000_000
""",
        encoding="utf-8",
    )
    report = process_restart(
        tmp_path / "journal",
        config=config,
        kill_after_s=1.0,
        duration_s=2.5,
        launcher=launch_forked,
        timeout_s=120,
    )
    assert report["ok"], json.dumps(report, indent=1, default=str)
    assert report["killed"]["returncode"] == -9
    assert 0 < report["killed"]["journaled_events"] <= report["restarted"]["recovered_events"]
    assert report["journal"]["duplicates"] == 0 and report["replay"]["identical"]
