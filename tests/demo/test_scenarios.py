import re
import subprocess
import sys
from pathlib import Path

import pytest

from lowlat.core.records import AckFlag
from lowlat.demo import SCENARIOS, UnknownScenario, get_scenario, run_scenario
from lowlat.demo.simulator import PROVISIONAL_RECORD_NS, VENUE_ACK_NS

REPO_ROOT = Path(__file__).resolve().parents[2]


def output_of(name: str) -> list[str]:
    lines: list[str] = []
    run_scenario(name, lines.append)
    return lines


def readme_block(name: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    match = re.search(rf"```text demo:{re.escape(name)}\n(.*?)\n```", text, re.S)
    assert match, f"README has no expected-output block for {name}"
    return match.group(1).split("\n")


@pytest.mark.parametrize("name", SCENARIOS)
def test_output_is_identical_on_every_run(name):
    assert output_of(name) == output_of(name)


@pytest.mark.parametrize("name", SCENARIOS)
def test_readme_documents_the_exact_output(name):
    assert output_of(name) == readme_block(name)


def test_balanced_consumes_everything_and_loses_nothing():
    result = run_scenario("balanced", emit=None)
    assert result.published == result.consumed == 30
    assert result.lost == result.overruns == result.empty_polls == 0
    assert result.executed == 30 and result.provisional == 0


def test_producer_heavy_first_overrun_is_at_step_12_with_exact_losses():
    result = run_scenario("producer-heavy", emit=None)
    assert result.first_overrun_step == 12
    overruns = [line for line in result.lines if "OVERRUN" in line]
    assert overruns[0].startswith("step 12 ")
    assert "OVERRUN lost 4 (seq 36..39), resumed at seq 40" in overruns[0]
    assert "OVERRUN lost 5 (seq 43..47), resumed at seq 48" in overruns[1]
    assert result.lost == 9 and result.overruns == 2
    acked = set(result.acks["seq"].tolist())
    assert acked.isdisjoint(range(36, 40)) and acked.isdisjoint(range(43, 48))
    assert result.consumed + result.lost == 51  # every sequence up to the cursor is accounted


def test_producer_heavy_saturates_exactly_when_backlog_exceeds_capacity():
    s = get_scenario("producer-heavy")
    first_bad = next(
        step for step in range(s.steps) if (s.ingest - s.consume) * step + s.ingest > 64
    )
    assert first_bad == 12


def test_consumer_heavy_has_clean_empty_polls_and_no_overruns():
    result = run_scenario("consumer-heavy", emit=None)
    assert result.lost == 0 and result.first_overrun_step is None
    assert result.empty_polls == 5 * get_scenario("consumer-heavy").steps
    assert all(
        "5 empty polls returned at once" in line for line in result.lines if line.startswith("step")
    )


def test_failure_recovery_marks_acks_made_while_degraded_as_provisional():
    result = run_scenario("failure-recovery", emit=None)
    path = [t.target.name for t in result.lifecycle_history]
    assert path == ["WARMUP", "READY", "DEGRADED", "READY"]
    degraded_from = result.lifecycle_history[2].monotonic_ns
    recovered_at = result.lifecycle_history[3].monotonic_ns
    assert result.provisional > 0 and result.executed > 0
    for ack in result.acks:
        in_window = degraded_from <= ack["decision_ns"] < recovered_at
        if in_window:
            assert ack["flags"] == AckFlag.PROVISIONAL
            assert ack["completion_ns"] == ack["decision_ns"] + PROVISIONAL_RECORD_NS
        else:
            assert ack["flags"] == AckFlag.EXECUTED
            assert ack["completion_ns"] == ack["decision_ns"] + VENUE_ACK_NS


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_consumed_event_gets_one_ack_with_increasing_sequence(name):
    result = run_scenario(name, emit=None)
    assert len(result.acks) == result.consumed
    assert (result.acks["seq"][1:] > result.acks["seq"][:-1]).all()
    assert (result.acks["completion_ns"] > result.acks["decision_ns"]).all()


def test_unknown_scenario_names_the_valid_ones():
    with pytest.raises(
        UnknownScenario, match="unknown scenario 'sideways'; choose one of: balanced"
    ):
        get_scenario("sideways")


def test_python_dash_m_demo_runs_from_the_repository_root():
    done = subprocess.run(
        [sys.executable, "-m", "demo", "producer-heavy"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n").split("\n") == readme_block("producer-heavy")


def test_python_dash_m_demo_refuses_an_unknown_scenario():
    done = subprocess.run(
        [sys.executable, "-m", "demo", "sideways"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "unknown scenario 'sideways'" in done.stderr
    assert done.stdout == ""
