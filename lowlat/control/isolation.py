"""Keep a CPU for the engine at run time: move the machine's other work off it, and back.

A trading host keeps the engine's core for the engine. What the kernel can be told at boot
(``isolcpus``, ``nohz_full``, ``rcu_nocbs``) it is told there; at run time every task that
may run elsewhere, every interrupt that can be routed elsewhere, and the unbound kernel
work queues are moved off the core — tuned's ``cpu-partitioning`` profile does the same.
:func:`isolate` does the run-time part and records every mask it changed in a state file
first, so that :func:`restore` (or ``lowlat tune restore`` after a crash) puts them back;
:func:`survey` says, without changing anything, what may still run on or interrupt a CPU.

Control plane, ordinary Python. Changing other processes' masks and interrupt routing
needs root (CAP_SYS_NICE and write access to ``/proc/irq``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_STATE",
    "LOCK",
    "Finding",
    "Isolation",
    "IsolationError",
    "boot_isolation",
    "format_cpus",
    "isolate",
    "isolated",
    "parse_cpus",
    "restore",
    "restore_saved",
    "survey",
]

DEFAULT_STATE = Path("/run/lowlat/isolation.json")
#: Held (flock) while an isolation is in place, by the process that made it: the kernel
#: lets go of it when that process ends, however it ends.
LOCK = Path("/run/lowlat/isolation.lock")
_LOCK_POLL_S = 0.05
_STATE_VERSION = 1
_PF_KTHREAD = 0x00200000  # task flag: a kernel thread
_PROC = Path("/proc")
_WORKQUEUE_MASK = Path("/sys/devices/virtual/workqueue/cpumask")
_DEFAULT_IRQ_MASK = _PROC / "irq" / "default_smp_affinity"
_CLOCKSOURCE = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")
_THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
_BOOT_PARAMS = ("isolcpus", "nohz_full", "rcu_nocbs")


class IsolationError(RuntimeError):
    """The CPU cannot be isolated as asked: no such CPU, no root, or an isolation in place."""


@dataclass(frozen=True)
class Finding:
    """One thing :func:`survey` checked: whether it leaves the CPU quiet, and how to fix it."""

    topic: str
    quiet: bool
    detail: str
    fix: str = ""
    items: tuple[str, ...] = ()  # everything the detail counts, by name


@dataclass
class Isolation:
    """What :func:`isolate` changed (to put back) and what it had to leave on the CPU."""

    cpu: int
    tasks: dict[int, tuple[int, list[int]]] = field(default_factory=dict)  # tid: (start, mask)
    irqs: dict[int, str] = field(default_factory=dict)  # irq: smp_affinity_list before
    workqueue_mask: str | None = None  # unbound work queues' cpumask before (hex)
    default_irq_mask: str | None = None  # new interrupts' default affinity before (hex)
    left: list[str] = field(default_factory=list)  # what still runs there, and why
    state_path: str | None = None
    lock_fd: int | None = field(default=None, repr=False)  # LOCK, held until restored

    def summary(self) -> dict[str, object]:
        """JSON-able: the CPU, how many tasks and interrupts moved, what was left there."""
        return {
            "cpu": self.cpu,
            "tasks_moved": len(self.tasks),
            "irqs_moved": len(self.irqs),
            "workqueues_moved": self.workqueue_mask is not None,
            "left": list(self.left),
        }


def parse_cpus(text: str) -> set[int]:
    """CPUs of a kernel CPU list (``"0-3,8,10-11"``); an empty text is no CPU."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def format_cpus(cpus: Collection[int]) -> str:
    """A kernel CPU list for ``cpus``, ranges collapsed (``{0, 1, 2, 5}`` → ``"0-2,5"``)."""
    parts, ordered = [], sorted(cpus)
    start = prev = None
    for cpu in [*ordered, None]:
        if cpu is not None and prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(parts)


def _mask_cpus(text: str) -> set[int]:
    """CPUs of a hex CPU mask as the kernel prints it (32-bit groups, comma separated)."""
    value = int(text.strip().replace(",", "") or "0", 16)
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def _mask_text(cpus: Collection[int]) -> str:
    """A hex CPU mask the kernel accepts for ``cpus``."""
    return format(sum(1 << cpu for cpu in cpus), "x")


def _online() -> set[int]:
    path = Path("/sys/devices/system/cpu/online")
    return parse_cpus(path.read_text()) if path.exists() else set(range(os.cpu_count() or 1))


def _task_stat(pid: int, tid: int) -> tuple[str, int, int] | None:
    """A task's name, flags and start time (clock ticks after boot), or None once it ended."""
    try:
        raw = (_PROC / str(pid) / "task" / str(tid) / "stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return name, int(rest[6]), int(rest[19])  # fields 9 (flags) and 22 (starttime)


def _tasks(pids: Collection[int] | None) -> Iterator[tuple[int, int]]:
    """(pid, tid) of every task of ``pids`` (None: of every process)."""
    chosen = pids if pids is not None else [int(p) for p in os.listdir(_PROC) if p.isdigit()]
    for pid in chosen:
        with contextlib.suppress(OSError):  # the process ended meanwhile
            for tid in os.listdir(_PROC / str(pid) / "task"):
                yield pid, int(tid)


def _irqs() -> Iterator[tuple[int, str, Path]]:
    """(number, name, directory) of every interrupt with an affinity to set."""
    for entry in sorted(_PROC.joinpath("irq").iterdir(), key=lambda p: p.name.zfill(8)):
        if entry.name.isdigit() and (entry / "smp_affinity_list").exists():
            actions = [p.name for p in entry.iterdir() if p.is_dir()]
            yield int(entry.name), ",".join(actions) or "unused", entry


def _irq_cpus(directory: Path) -> set[int]:
    """The CPUs an interrupt is delivered to (its effective affinity where the kernel says)."""
    effective = directory / "effective_affinity_list"
    return parse_cpus(
        (effective if effective.exists() else directory / "smp_affinity_list").read_text()
    )


def _check_cpu(cpu: int) -> None:
    online = _online()
    if cpu not in online:
        raise IsolationError(f"CPU {cpu} is not online here: {format_cpus(online)}")
    if len(online) < 2:
        raise IsolationError(f"CPU {cpu} is the only CPU online: nothing else could run")


def _take_lock(wait_s: float, restoring: Path | None = None) -> int:
    """Hold :data:`LOCK` with no isolation pending; wait up to ``wait_s``; return its fd.

    The lock file names the state file of the isolation in place. Held, the lock means
    its maker runs; free while the named file exists, that a maker ended without putting
    the machine back — pending until restored (``restoring`` is that file).
    """
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        pending = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            named = os.pread(fd, 4096, 0).decode()
            if not named or not Path(named).exists() or Path(named) == restoring:
                return fd
            pending = named
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            os.close(fd)
            if pending is not None:
                raise IsolationError(
                    f"a CPU isolation was left in place ({pending}) by a process that ended "
                    f"without putting the machine back — `lowlat tune restore --state {pending}`"
                )
            raise IsolationError(
                f"another process keeps a CPU of this machine isolated (it holds {LOCK}); "
                "it puts the machine back when it ends"
            )
        time.sleep(_LOCK_POLL_S)


def _name_pending(fd: int, state_path: Path | None) -> None:
    """Record in the held lock file which state file undoes the isolation (or none)."""
    os.ftruncate(fd, 0)
    if state_path is not None:
        os.pwrite(fd, str(state_path.resolve()).encode(), 0)


def _write_state(isolation: Isolation, path: Path) -> None:
    """Write the state atomically: a crash leaves the old file or the new one, never half."""
    data = {"version": _STATE_VERSION, **asdict(isolation)}
    del data["lock_fd"]  # this process's, not the machine's
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1))
    os.replace(partial, path)


def isolate(
    cpu: int,
    *,
    spare: Collection[int] = (),
    state_path: Path | None = DEFAULT_STATE,
    wait_s: float = 5.0,
) -> Isolation:
    """Move every task, interrupt and unbound work queue that may run elsewhere off ``cpu``.

    Parameters
    ----------
    cpu
        The CPU to keep for the engine.
    spare
        Processes left alone (the caller's own: its engine thread runs there, and it keeps
        its other threads off the CPU itself, :func:`~lowlat.core.sched.reserve_cpu`).
    state_path
        Where the changed masks are recorded before they change (None: nowhere). An
        existing file means an isolation is in place, or was left by a crash: refused.
    wait_s
        How long to wait for another process's isolation of this machine to end (one
        at a time: each puts back what it found, so two at once would undo each other).

    Returns
    -------
    Isolation
        What changed, for :func:`restore`, and what had to stay: tasks bound to the CPU
        alone (per-CPU kernel threads), interrupts whose driver manages their affinity.

    Raises
    ------
    IsolationError
        If ``cpu`` is not online or the only one, if the caller is not root, if another
        process's isolation did not end within ``wait_s``, or if ``state_path`` exists.
    """
    _check_cpu(cpu)
    if os.geteuid() != 0:
        raise IsolationError(
            f"isolating CPU {cpu} from the machine's other work needs root (to set other "
            "processes' CPU masks and route interrupts); run as root, or keep the CPU from "
            "this process's own threads only"
        )
    lock_fd = _take_lock(wait_s)
    if state_path is not None and state_path.exists():
        os.close(lock_fd)
        raise IsolationError(
            f"a CPU isolation was left in place ({state_path}) by a process that ended "
            f"without putting the machine back — `lowlat tune restore --state {state_path}`"
        )
    _name_pending(lock_fd, state_path)
    isolation = Isolation(cpu, state_path=str(state_path) if state_path else None)
    isolation.lock_fd = lock_fd
    try:
        _isolate(isolation, set(spare), state_path)
    except BaseException:
        restore(isolation)  # whatever moved goes back; the lock is let go
        raise
    return isolation


def _isolate(isolation: Isolation, spared: set[int], state_path: Path | None) -> None:
    """Plan every change, record the plan in ``state_path``, then make the changes."""
    cpu = isolation.cpu
    plan: list[tuple[int, set[int]]] = []
    bound: Counter[str] = Counter()
    for pid, tid in _tasks(None):
        if pid in spared:
            continue
        stat = _task_stat(pid, tid)
        with contextlib.suppress(OSError):
            mask = os.sched_getaffinity(tid)
            if stat is not None and cpu in mask:
                if len(mask) == 1:
                    bound[stat[0]] += 1
                else:
                    isolation.tasks[tid] = (stat[2], sorted(mask))
                    plan.append((tid, mask - {cpu}))
    routes: list[tuple[int, str, Path]] = []
    for number, name, directory in _irqs():
        if cpu in _irq_cpus(directory):
            isolation.irqs[number] = (directory / "smp_affinity_list").read_text().strip()
            routes.append((number, name, directory))
    if _WORKQUEUE_MASK.exists():
        isolation.workqueue_mask = _WORKQUEUE_MASK.read_text().strip()
    if _DEFAULT_IRQ_MASK.exists():
        isolation.default_irq_mask = _DEFAULT_IRQ_MASK.read_text().strip()
    if state_path is not None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        _write_state(isolation, state_path)  # before anything changes: a crash can undo
    unmovable: Counter[str] = Counter()
    for tid, mask in plan:
        try:
            os.sched_setaffinity(tid, mask)
        except OSError as error:
            del isolation.tasks[tid]
            if error.errno != errno.ESRCH:  # not ended: a kernel thread that may not move
                stat = _task_stat(tid, tid) or ("?", 0, 0)
                unmovable[stat[0]] += 1
    _move_interrupts(isolation, routes)
    if bound:
        isolation.left.append(f"{bound.total()} tasks bound to CPU {cpu} alone: {_top(bound)}")
    if unmovable:
        isolation.left.append(
            f"{unmovable.total()} kernel threads that may not move: {_top(unmovable)}"
        )
    if state_path is not None:
        _write_state(isolation, state_path)


def _move_interrupts(isolation: Isolation, routes: list[tuple[int, str, Path]]) -> None:
    """Route interrupts, new interrupts' default and unbound work queues off the CPU."""
    cpu = isolation.cpu
    for number, name, directory in routes:
        others = parse_cpus(isolation.irqs[number]) - {cpu} or _online() - {cpu}
        try:
            (directory / "smp_affinity_list").write_text(format_cpus(others))
        except OSError:
            del isolation.irqs[number]
            isolation.left.append(f"interrupt {number} ({name}): its driver manages it")
    if isolation.default_irq_mask is not None:
        others = _mask_cpus(isolation.default_irq_mask) - {cpu}
        if others:
            _DEFAULT_IRQ_MASK.write_text(_mask_text(others))
    if isolation.workqueue_mask is not None:
        others = _mask_cpus(isolation.workqueue_mask) - {cpu}
        try:
            if others:
                _WORKQUEUE_MASK.write_text(_mask_text(others))
        except OSError:
            isolation.left.append("unbound work queues: their mask may not change")
            isolation.workqueue_mask = None


def restore(isolation: Isolation) -> list[str]:
    """Put back every mask :func:`isolate` changed; returns what could not be put back.

    A task that ended is skipped, and so is a thread id now used by another task (its start
    time differs). The state file, if any, is removed once everything was tried.
    """
    problems = []
    for tid, (start, mask) in isolation.tasks.items():
        stat = _task_stat(tid, tid)  # /proc/<tid> resolves any thread, leader or not
        if stat is None or stat[2] != start:
            continue  # ended, or its id reused
        try:
            os.sched_setaffinity(tid, set(mask))
        except OSError as error:
            if error.errno != errno.ESRCH:
                problems.append(f"task {tid} ({stat[0]}): {error.strerror}")
    for number, before in isolation.irqs.items():
        path = _PROC / "irq" / str(number) / "smp_affinity_list"
        try:
            path.write_text(before)
        except OSError as error:
            problems.append(f"interrupt {number}: {error.strerror}")
    for path, before in (
        (_DEFAULT_IRQ_MASK, isolation.default_irq_mask),
        (_WORKQUEUE_MASK, isolation.workqueue_mask),
    ):
        if before is not None:
            try:
                path.write_text(before)
            except OSError as error:
                problems.append(f"{path}: {error.strerror}")
    if isolation.state_path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(isolation.state_path)
    if isolation.lock_fd is not None:
        _name_pending(isolation.lock_fd, None)  # nothing pending: the machine is back
        os.close(isolation.lock_fd)  # lets go of the lock: the next isolation may begin
        isolation.lock_fd = None
    return problems


def restore_saved(state_path: Path = DEFAULT_STATE) -> tuple[Isolation, list[str]]:
    """Restore from a state file :func:`isolate` wrote (after a crash); remove the file.

    Raises
    ------
    IsolationError
        If there is no such file, or it is not a state file of this version, or the
        process that made it still runs (it puts the machine back itself).
    """
    try:
        data = json.loads(state_path.read_text())
    except FileNotFoundError:
        raise IsolationError(f"no CPU isolation to restore: {state_path} does not exist") from None
    except (OSError, ValueError) as error:
        raise IsolationError(f"{state_path} is not an isolation state file: {error}") from None
    if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
        raise IsolationError(f"{state_path} is not an isolation state file of version 1")
    try:
        isolation = Isolation(
            cpu=int(data["cpu"]),
            tasks={int(t): (int(s), [int(c) for c in m]) for t, (s, m) in data["tasks"].items()},
            irqs={int(n): str(v) for n, v in data["irqs"].items()},
            workqueue_mask=data["workqueue_mask"],
            default_irq_mask=data["default_irq_mask"],
            left=list(data["left"]),
            state_path=str(state_path),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise IsolationError(f"{state_path} is damaged: {error!r}") from None
    # Not while the process that made it runs, nor over another one still pending.
    isolation.lock_fd = _take_lock(0.0, restoring=state_path.resolve())
    return isolation, restore(isolation)


@contextlib.contextmanager
def isolated(
    cpu: int, *, spare: Collection[int] = (), state_path: Path | None = DEFAULT_STATE
) -> Iterator[Isolation]:
    """:func:`isolate` for the ``with`` block, :func:`restore` after it, whatever happens."""
    isolation = isolate(cpu, spare=spare, state_path=state_path)
    try:
        yield isolation
    finally:
        restore(isolation)


def survey(cpu: int, *, spare: Collection[int] = ()) -> list[Finding]:
    """What may run on or interrupt ``cpu`` now, and what would quiet it. Changes nothing.

    ``spare``: processes not to count (the caller's own).
    """
    _check_cpu(cpu)
    findings = [_boot_finding(cpu)]
    movable: Counter[str] = Counter()
    bound: Counter[str] = Counter()
    spared = set(spare)
    for pid, tid in _tasks(None):
        stat = _task_stat(pid, tid)
        if pid in spared or stat is None:
            continue
        with contextlib.suppress(OSError):
            mask = os.sched_getaffinity(tid)
            if cpu in mask:
                (bound if len(mask) == 1 else movable)[stat[0]] += 1
    findings.append(
        Finding(
            "tasks",
            not movable,
            f"{sum(movable.values())} tasks may run on CPU {cpu} and elsewhere"
            + (f": {_top(movable)}" if movable else ""),
            'move them off it (lowlat isolates it for a session with isolate = "machine")'
            if movable
            else "",
            tuple(sorted(movable)),
        )
    )
    findings.append(
        Finding(
            "bound tasks",
            not bound,
            f"{sum(bound.values())} tasks are bound to CPU {cpu} alone"
            + (f": {_top(bound)}" if bound else ""),
            "per-CPU kernel threads; boot-time isolation (isolcpus, nohz_full, rcu_nocbs) "
            "gives them less to do"
            if bound
            else "",
            tuple(sorted(bound)),
        )
    )
    findings.append(_irq_finding(cpu))
    if _WORKQUEUE_MASK.exists():
        quiet = cpu not in _mask_cpus(_WORKQUEUE_MASK.read_text())
        findings.append(
            Finding(
                "work queues",
                quiet,
                f"unbound kernel work queues {'avoid' if quiet else 'may run on'} CPU {cpu} "
                f"(mask {_WORKQUEUE_MASK.read_text().strip()})",
                "" if quiet else f"clear CPU {cpu} from {_WORKQUEUE_MASK}",
            )
        )
    findings += [_clock_finding(), _frequency_finding(cpu), _steal_finding(cpu)]
    if _THP.exists():
        findings.append(
            Finding("huge pages", True, f"transparent huge pages: {_THP.read_text().strip()}")
        )
    return findings


def _top(names: Counter[str], n: int = 6) -> str:
    shown = ", ".join(
        f"{name} ×{count}" if count > 1 else name for name, count in names.most_common(n)
    )
    return shown + (", …" if len(names) > n else "")


def boot_isolation(cmdline: str) -> dict[str, set[int]]:
    """The CPUs a kernel command line isolates, by parameter (``isolcpus``, ``nohz_full``, …)."""
    params = {}
    for word in cmdline.split():
        key, _, value = word.partition("=")
        if key in _BOOT_PARAMS:
            # isolcpus may start with flags ("domain,managed_irq,2-3"): keep the CPU list
            params[key] = parse_cpus(",".join(p for p in value.split(",") if p[:1].isdigit()))
    return params


def _boot_finding(cpu: int) -> Finding:
    params = boot_isolation((_PROC / "cmdline").read_text())
    missing = [key for key in _BOOT_PARAMS if cpu not in params.get(key, set())]
    return Finding(
        "boot",
        not missing,
        f"CPU {cpu} is isolated at boot"
        if not missing
        else f"CPU {cpu} is not in the kernel's {', '.join(missing)}: the scheduler tick "
        "and RCU callbacks still run there",
        "" if not missing else f"boot with isolcpus={cpu} nohz_full={cpu} rcu_nocbs={cpu}",
    )


def _irq_finding(cpu: int) -> Finding:
    counts = _interrupt_counts(cpu)
    routed = [
        f"{number} {name} ({counts.get(str(number), 0)})"
        for number, name, directory in _irqs()
        if cpu in _irq_cpus(directory) and counts.get(str(number), 0) > 0
    ]
    return Finding(
        "interrupts",
        not routed,
        f"{len(routed)} device interrupts are delivered to CPU {cpu}"
        + (f" (count so far): {', '.join(routed[:6])}" if routed else ""),
        "route them elsewhere (/proc/irq/N/smp_affinity_list)" if routed else "",
        tuple(routed),
    )


def _interrupt_counts(cpu: int) -> dict[str, int]:
    """Interrupts taken on ``cpu`` so far, by interrupt number (``/proc/interrupts``)."""
    lines = (_PROC / "interrupts").read_text().splitlines()
    column = lines[0].split().index(f"CPU{cpu}") + 1 if f"CPU{cpu}" in lines[0] else None
    counts = {}
    for line in lines[1:]:
        parts = line.split()
        if column is not None and len(parts) > column and parts[column].isdigit():
            counts[parts[0].rstrip(":")] = int(parts[column])
    return counts


def _clock_finding() -> Finding:
    source = _CLOCKSOURCE.read_text().strip() if _CLOCKSOURCE.exists() else "unknown"
    quiet = source in ("tsc", "arch_sys_counter")
    return Finding(
        "clock",
        quiet,
        f"clock source {source}: "
        + ("read in user space (vDSO)" if quiet else "reading the clock may enter the kernel"),
        "" if quiet else "a TSC-backed clock source (check the kernel log for why tsc was not)",
    )


def _frequency_finding(cpu: int) -> Finding:
    governor = Path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
    if not governor.exists():
        return Finding("frequency", True, "no frequency scaling here (a VM: the host sets it)")
    name = governor.read_text().strip()
    return Finding(
        "frequency",
        name == "performance",
        f"governor {name}",
        "" if name == "performance" else f"echo performance > {governor}",
    )


def _steal_finding(cpu: int) -> Finding:
    line = next(x for x in (_PROC / "stat").read_text().splitlines() if x.startswith(f"cpu{cpu} "))
    values = [int(v) for v in line.split()[1:9]]  # user … steal, in clock ticks
    share = values[7] / max(sum(values), 1)
    return Finding(
        "steal",
        share < 0.01,
        f"the hypervisor took {share:.2%} of CPU {cpu}'s time since boot",
        "" if share < 0.01 else "a host that does not overcommit its CPUs",
    )
