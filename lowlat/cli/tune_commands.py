"""Host tuning for the engine's CPU: ``lowlat tune``.

::

    lowlat tune check [--cpu N] [--json]    what may run on or interrupt the CPU, and the fix
    lowlat tune restore [--state PATH]      put back what a session's isolation changed

``check`` changes nothing; it exits 0 when the CPU is quiet and 1 when something may run on
or interrupt it (``--cpu`` defaults to the CPU a session gives its engine). ``restore``
undoes an isolation (``isolate = "machine"``) that a session could not undo itself: one
killed before its shutdown leaves its state file behind. No state file, or a CPU that is
not online, is an error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

__all__ = ["add_commands", "cmd_tune"]


class TuneError(Exception):
    """An operator error of ``lowlat tune`` (exit 2)."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``tune`` with ``check`` and ``restore``."""
    tune = commands.add_parser("tune", help="check and restore the host tuning of the engine's CPU")
    actions = tune.add_subparsers(dest="tune_command", metavar="TUNE_COMMAND", required=True)
    check = actions.add_parser(
        "check", help="what may run on or interrupt a CPU (exit 1 if anything)"
    )
    check.add_argument(
        "--cpu", type=int, help="the CPU (default: the engine's, this process's highest)"
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    restore = actions.add_parser(
        "restore", help="undo a CPU isolation a session left in place (after a crash)"
    )
    restore.add_argument(
        "--state",
        type=Path,
        help="the isolation's state file (default: the sessions' isolation_state default, "
        "/run/lowlat/isolation.json)",
    )


def cmd_tune(args: argparse.Namespace) -> int:
    """Run ``lowlat tune check`` or ``lowlat tune restore``."""
    # Imported here: lowlat.control loads Numba, which the CLI's start-up does without.
    from lowlat.control.isolation import IsolationError

    try:
        if args.tune_command == "check":
            return _check(args.cpu, args.json)
        return _restore(args.state)
    except IsolationError as error:
        raise TuneError(str(error)) from None


def _check(cpu: int | None, as_json: bool) -> int:
    from lowlat.control import isolation

    if cpu is None:
        usable = os.sched_getaffinity(0)
        if len(usable) < 2:
            raise TuneError("this process may run on one CPU only: name one with --cpu")
        cpu = max(usable)
    findings = isolation.survey(cpu, spare=[os.getpid()])
    if as_json:
        print(json.dumps({"cpu": cpu, "findings": [vars(f) for f in findings]}, indent=2))
    else:
        print(f"CPU {cpu}:")
        width = max(len(f.topic) for f in findings)
        for finding in findings:
            mark = "quiet" if finding.quiet else "NOISY"
            print(f"  {finding.topic:<{width}}  {mark}  {finding.detail}")
            if finding.fix:
                print(f"  {'':<{width}}         fix: {finding.fix}")
    return 0 if all(f.quiet for f in findings) else 1


def _restore(state: Path | None) -> int:
    from lowlat.control import isolation

    restored, problems = isolation.restore_saved(state or isolation.DEFAULT_STATE)
    print(
        f"CPU {restored.cpu}: restored {len(restored.tasks)} task masks, "
        f"{len(restored.irqs)} interrupts"
        + (", the work queues' mask" if restored.workqueue_mask is not None else "")
    )
    for problem in problems:
        print(f"  not restored: {problem}")
    return 1 if problems else 0
