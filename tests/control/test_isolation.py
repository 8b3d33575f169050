"""Keeping a CPU from the machine's other work: CPU lists, the survey, isolate and restore.

The isolation tests move real processes (a bystander each test starts) and route the
machine's real interrupts and kernel work queues, then put them back; they scan only the
bystander's tasks, so that the masks of tests running beside them stay as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lowlat.control import isolation
from lowlat.control.isolation import (
    Isolation,
    IsolationError,
    boot_isolation,
    format_cpus,
    isolate,
    isolated,
    parse_cpus,
    restore,
    restore_saved,
    survey,
)

TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="moving other processes needs root")
CPU = max(os.sched_getaffinity(0))
_NOBODY = 65_534


@given(st.sets(st.integers(0, 300)))
def test_a_cpu_list_reads_back_as_the_cpus_it_was_made_of(cpus):
    assert parse_cpus(format_cpus(cpus)) == cpus


def test_cpu_lists_collapse_ranges_and_read_the_kernels_forms():
    assert format_cpus({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert parse_cpus("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert parse_cpus("") == set()


def _grouped(cpus: set[int]) -> str:
    """A CPU mask as the kernel prints it: hex, 32-bit groups separated by commas."""
    digits = format(sum(1 << cpu for cpu in cpus), "x")
    digits = digits.rjust(-(-len(digits) // 8) * 8, "0")
    return ",".join(digits[i : i + 8] for i in range(0, len(digits), 8))


@given(st.sets(st.integers(0, 200)))
def test_a_hex_mask_reads_back_and_the_kernels_comma_groups_read_the_same(cpus):
    assert isolation._mask_cpus(isolation._mask_text(cpus)) == cpus
    assert isolation._mask_cpus(_grouped(cpus)) == cpus


@TWO_CPUS
def test_the_survey_counts_a_process_that_may_run_on_the_cpu(bystander):
    findings = {finding.topic: finding for finding in survey(CPU)}
    assert not findings["tasks"].quiet and "lowlat-bystande" in findings["tasks"].items
    assert {"boot", "bound tasks", "interrupts", "clock", "steal"} <= set(findings)
    os.sched_setaffinity(bystander.pid, os.sched_getaffinity(0) - {CPU})
    findings = {finding.topic: finding for finding in survey(CPU)}
    assert "lowlat-bystande" not in findings["tasks"].items


def test_a_cpu_that_is_not_online_is_refused_naming_it():
    with pytest.raises(IsolationError, match="CPU 4096 is not online here"):
        survey(4096)
    with pytest.raises(IsolationError, match="CPU 4096 is not online here"):
        isolate(4096, state_path=None)


@ROOT
@TWO_CPUS
def test_isolating_moves_a_process_interrupts_and_work_queues_off_the_cpu_and_back(
    bystander, tmp_path, isolation_scan_only
):
    isolation_scan_only(bystander.pid)
    state = tmp_path / "run" / "isolation.json"
    before = os.sched_getaffinity(bystander.pid)
    workqueues = isolation._WORKQUEUE_MASK.read_text() if isolation._WORKQUEUE_MASK.exists() else ""
    done = isolate(CPU, state_path=state)
    try:
        assert os.sched_getaffinity(bystander.pid) == before - {CPU}
        saved = json.loads(state.read_text())
        start, _ = done.tasks[bystander.pid]
        assert saved["tasks"] == {str(bystander.pid): [start, sorted(before)]}
        for number in done.irqs:
            path = Path(f"/proc/irq/{number}/smp_affinity_list")
            assert CPU not in parse_cpus(path.read_text())
        if done.workqueue_mask is not None:
            assert CPU not in isolation._mask_cpus(isolation._WORKQUEUE_MASK.read_text())
        assert done.summary()["tasks_moved"] == 1
    finally:
        problems = restore(done)
    assert problems == []
    assert os.sched_getaffinity(bystander.pid) == before
    for number, affinity in done.irqs.items():
        assert Path(f"/proc/irq/{number}/smp_affinity_list").read_text().strip() == affinity
    if workqueues:
        assert isolation._WORKQUEUE_MASK.read_text() == workqueues
    assert not state.exists()  # nothing left to undo


@ROOT
@TWO_CPUS
def test_a_second_isolation_is_refused_while_one_is_in_place(
    bystander, tmp_path, isolation_scan_only
):
    isolation_scan_only(bystander.pid)
    with isolated(CPU, state_path=tmp_path / "first.json"):
        # Another state file, the same machine: each puts back what it found, so one at a time.
        with pytest.raises(IsolationError, match="keeps a CPU of this machine isolated"):
            isolate(CPU, state_path=tmp_path / "second.json", wait_s=0.1)
        with pytest.raises(IsolationError, match="keeps a CPU of this machine isolated"):
            restore_saved(tmp_path / "first.json")  # its maker still runs: not behind its back
        assert CPU not in os.sched_getaffinity(bystander.pid)
    assert CPU in os.sched_getaffinity(bystander.pid)
    second = isolate(CPU, state_path=tmp_path / "second.json")  # the first one ended
    assert restore(second) == []


def _crash(done: Isolation) -> None:
    """What the kernel does to an isolation whose process ends: lets go of its lock."""
    assert done.lock_fd is not None
    os.close(done.lock_fd)


@ROOT
@TWO_CPUS
def test_a_state_file_left_by_a_crash_is_refused_until_restored(
    bystander, tmp_path, isolation_scan_only
):
    isolation_scan_only(bystander.pid)
    state = tmp_path / "isolation.json"
    _crash(isolate(CPU, state_path=state))
    for path in (state, tmp_path / "another.json"):  # pending for the machine, whatever path
        with pytest.raises(IsolationError, match=f"lowlat tune restore --state .*{state.name}"):
            isolate(CPU, state_path=path, wait_s=0.1)
    _, problems = restore_saved(state)
    assert problems == [] and CPU in os.sched_getaffinity(bystander.pid)
    assert restore(isolate(CPU, state_path=tmp_path / "another.json")) == []


@ROOT
@TWO_CPUS
def test_restore_after_a_crash_puts_back_what_the_state_file_recorded(
    bystander, tmp_path, isolation_scan_only
):
    isolation_scan_only(bystander.pid)
    state = tmp_path / "isolation.json"
    before = os.sched_getaffinity(bystander.pid)
    _crash(isolate(CPU, state_path=state))  # and never restored: the session died
    result = subprocess.run(
        [sys.executable, "-m", "lowlat", "tune", "restore", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"CPU {CPU}: restored 1 task masks" in result.stdout
    assert os.sched_getaffinity(bystander.pid) == before and not state.exists()


@ROOT
@TWO_CPUS
def test_a_task_id_reused_by_another_task_is_not_given_the_old_mask(
    bystander, tmp_path, isolation_scan_only
):
    isolation_scan_only(bystander.pid)
    done = isolate(CPU, state_path=None)
    start, mask = done.tasks[bystander.pid]
    done.tasks[bystander.pid] = (start + 1, mask)  # as if the id now named a newer task
    restore(done)
    assert CPU not in os.sched_getaffinity(bystander.pid)


def test_a_damaged_or_missing_state_file_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(IsolationError, match=r"none\.json does not exist"):
        restore_saved(missing)
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"version": 1, "cpu": 1}')
    with pytest.raises(IsolationError, match=r"damaged\.json is damaged"):
        restore_saved(damaged)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(IsolationError, match="not an isolation state file"):
        restore_saved(other)
    torn = tmp_path / "torn.json"
    torn.write_text('{"version": 1, "cpu"')
    with pytest.raises(IsolationError, match=r"torn\.json is not an isolation state file: "):
        restore_saved(torn)


@TWO_CPUS
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_isolating_as_another_user_than_root_is_refused_before_anything_moves(tmp_path):
    state = tmp_path / "isolation.json"
    code = (  # imported as root (the interpreter lies under /root), then run as nobody
        "import os\nfrom pathlib import Path\n"
        "from lowlat.control.isolation import IsolationError, isolate\n"
        f"os.seteuid({_NOBODY})\n"
        f"try:\n    isolate({CPU}, state_path=Path({str(state)!r}))\n"
        "except IsolationError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=os.getcwd()
    )
    assert "needs root" in result.stdout, result.stderr
    assert not state.exists()


def test_tune_check_prints_the_findings_and_exits_by_them():
    cpu = max(os.sched_getaffinity(0))
    result = subprocess.run(
        [sys.executable, "-m", "lowlat", "tune", "check", "--cpu", str(cpu), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    quiet = all(finding["quiet"] for finding in report["findings"])
    assert report["cpu"] == cpu and result.returncode == (0 if quiet else 1)
    assert {finding["topic"] for finding in report["findings"]} >= {"boot", "tasks", "clock"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--cpu", "4096"], "CPU 4096 is not online here"),
        (["restore", "--state", "/nonexistent/isolation.json"], "no CPU isolation to restore"),
    ],
)
def test_tune_errors_name_the_problem_and_exit_2(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "lowlat", "tune", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and message in result.stderr


def test_the_boot_parameters_read_their_cpu_lists_past_isolcpus_flags():
    cmdline = "quiet isolcpus=domain,managed_irq,2-3 nohz_full=2,3 rcu_nocbs=1-3 panic=1"
    assert boot_isolation(cmdline) == {
        "isolcpus": {2, 3},
        "nohz_full": {2, 3},
        "rcu_nocbs": {1, 2, 3},
    }
    assert boot_isolation("console=ttyS0") == {}


@TWO_CPUS
def test_the_survey_does_not_count_a_spared_process(bystander):
    findings = {finding.topic: finding for finding in survey(CPU, spare=[bystander.pid])}
    assert "lowlat-bystande" not in findings["tasks"].items


def _kernel_thread(match) -> int | None:
    """The pid of a kernel thread whose name and mask ``match`` accepts, if there is one."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
                if match(name, os.sched_getaffinity(int(entry.name))):
                    return int(entry.name)
            except OSError:
                continue
    return None


@ROOT
@TWO_CPUS
def test_what_may_not_move_is_left_and_said_and_a_spared_process_stays(bystander, monkeypatch):
    bound = _kernel_thread(lambda name, mask: mask == {CPU} and name.startswith("ksoftirqd"))
    rescuer = _kernel_thread(lambda name, mask: name.startswith("kworker/R-") and CPU in mask)
    if bound is None or rescuer is None:
        pytest.skip("no per-CPU ksoftirqd or workqueue rescuer thread here")
    scan = isolation._tasks
    monkeypatch.setattr(isolation, "_tasks", lambda pids: scan([bound, rescuer, bystander.pid]))
    done = isolate(CPU, spare=[bystander.pid], state_path=None)
    try:
        assert done.tasks == {}  # the kernel threads stay, the spared process is not touched
        assert CPU in os.sched_getaffinity(bystander.pid)
        assert any(
            line.startswith(f"1 tasks bound to CPU {CPU} alone: ksoftirqd") for line in done.left
        )
        assert any("kernel threads that may not move: kworker/R-" in line for line in done.left)
    finally:
        restore(done)


@ROOT
@TWO_CPUS
def test_a_process_that_ended_meanwhile_is_skipped_on_restore(bystander, isolation_scan_only):
    isolation_scan_only(bystander.pid)
    done = isolate(CPU, state_path=None)
    bystander.kill()
    bystander.wait()
    assert restore(done) == []


@ROOT
@TWO_CPUS
def test_what_cannot_be_put_back_is_reported_by_name(bystander):
    start = isolation._task_stat(bystander.pid, bystander.pid)[2]
    impossible = Isolation(
        CPU,
        tasks={bystander.pid: (start, [4096])},  # a CPU that is not there
        irqs={1 << 30: "0"},  # an interrupt that is not there
    )
    problems = restore(impossible)
    assert any(p.startswith(f"task {bystander.pid} (lowlat-bystande): ") for p in problems)
    assert any(p.startswith(f"interrupt {1 << 30}: ") for p in problems)


@ROOT
@TWO_CPUS
def test_restore_saved_puts_back_in_this_process_too(bystander, tmp_path, isolation_scan_only):
    isolation_scan_only(bystander.pid)
    state = tmp_path / "isolation.json"
    before = os.sched_getaffinity(bystander.pid)
    _crash(isolate(CPU, state_path=state))
    restored, problems = restore_saved(state)
    assert problems == [] and restored.cpu == CPU and list(restored.tasks) == [bystander.pid]
    assert os.sched_getaffinity(bystander.pid) == before and not state.exists()


@ROOT
@TWO_CPUS
def test_an_isolation_that_fails_halfway_puts_back_what_it_moved(
    bystander, tmp_path, isolation_scan_only, monkeypatch
):
    isolation_scan_only(bystander.pid)
    before = os.sched_getaffinity(bystander.pid)

    def fail(isolation, routes):
        assert CPU not in os.sched_getaffinity(bystander.pid)  # the tasks moved already
        raise OSError("interrupts unavailable")

    move_interrupts = isolation._move_interrupts
    monkeypatch.setattr(isolation, "_move_interrupts", fail)
    state = tmp_path / "isolation.json"
    with pytest.raises(OSError, match="interrupts unavailable"):
        isolate(CPU, state_path=state)
    assert os.sched_getaffinity(bystander.pid) == before and not state.exists()
    monkeypatch.setattr(isolation, "_move_interrupts", move_interrupts)  # the scan stays narrow
    assert restore(isolate(CPU, state_path=state, wait_s=0)) == []  # the lock was let go
