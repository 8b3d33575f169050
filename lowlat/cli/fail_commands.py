"""Operator commands: failure injection (``lowlat fail``) and automation (``lowlat actions``).

Both talk to a running engine's control endpoint (``--url``, default
``http://127.0.0.1:9464``) and print its JSON reply::

    lowlat fail --list                          the scenarios, what each injects and expects
    lowlat fail --status                        GET /fail: running and past injections
    lowlat fail SCENARIO [--param K=V]...       POST /fail/SCENARIO
    lowlat fail SCENARIO --check                … wait, then judge it (exit 1 if not as expected)
    lowlat fail SCENARIO --clear                POST /fail/SCENARIO/clear (end it early)
    lowlat fail process-restart --journal DIR   the harness: run, SIGKILL, restart, check, replay

    lowlat actions                              GET /actions: pending and done, recent audit
    lowlat actions approve ID --approved-by NAME --reason TEXT
    lowlat actions reject ID --by NAME --reason TEXT
    lowlat actions prepare KIND --requested-by NAME --reason TEXT [--param K=V]...

An unknown scenario, or no engine at ``--url``, is an error (exit 2); a refusal by the
engine (bad parameter, approval without an approver, …) prints the reply and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lowlat.cli.operate import DEFAULT_URL, OperateError, request

__all__ = ["add_commands", "cmd_actions", "cmd_fail", "main"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``fail`` and ``actions``."""
    from lowlat.control.failures import SCENARIOS

    fail = commands.add_parser(
        "fail",
        help="inject a failure scenario into a running engine (or list them)",
        description="Inject a failure scenario into a running engine and print its reply. "
        f"Scenarios: {', '.join(SCENARIOS)}.",
    )
    fail.add_argument("scenario", nargs="?", help="the scenario (see --list)")
    fail.add_argument("--list", action="store_true", help="list the scenarios and exit")
    fail.add_argument("--status", action="store_true", help="the engine's injections (GET /fail)")
    fail.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="a scenario parameter (repeatable; values are JSON or strings)",
    )
    fail.add_argument("--clear", action="store_true", help="end the running injection early")
    fail.add_argument(
        "--check",
        action="store_true",
        help="wait until the expectations can be judged, print the verdict; exit 1 if not met",
    )
    fail.add_argument(
        "--settle", type=float, metavar="SECONDS", help="with --check: wait this long instead"
    )
    fail.add_argument(
        "--journal",
        type=Path,
        metavar="DIR",
        help="process-restart only: run the whole harness on this journal (no running engine)",
    )
    fail.add_argument(
        "--config", type=Path, help="process-restart --journal: the engine's TOML (lowlat run)"
    )
    fail.add_argument("--url", default=DEFAULT_URL, help=f"the engine (default {DEFAULT_URL})")

    actions = commands.add_parser(
        "actions", help="automation: list, approve, reject or prepare actions on a running engine"
    )
    verbs = actions.add_subparsers(dest="actions_command", metavar="ACTION")
    approve = verbs.add_parser("approve", help="carry out a pending action (recorded approval)")
    approve.add_argument("id", help="the action's id (lowlat actions)")
    approve.add_argument("--approved-by", required=True, help="the approving operator")
    approve.add_argument("--reason", required=True, help="why it is safe (recorded)")
    reject = verbs.add_parser("reject", help="drop a pending action (recorded)")
    reject.add_argument("id", help="the action's id")
    reject.add_argument("--by", required=True, help="the operator rejecting it")
    reject.add_argument("--reason", required=True, help="why (recorded)")
    prepare = verbs.add_parser("prepare", help="request a high-risk action for another's approval")
    prepare.add_argument("kind", help="killswitch-rearm, resume-instrument, restart, …")
    prepare.add_argument("--requested-by", required=True, help="who asks (recorded)")
    prepare.add_argument("--reason", required=True, help="why (recorded)")
    prepare.add_argument("--param", action="append", default=[], metavar="K=V")
    for parser in (actions, approve, reject, prepare):
        parser.add_argument(
            "--url", default=DEFAULT_URL, help=f"the engine (default {DEFAULT_URL})"
        )


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise OperateError(f"--param takes K=V, got {pair!r}")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


def _print(reply: Any) -> None:
    print(json.dumps(reply, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def _refused(command: str, status: int, reply: dict[str, Any]) -> int:
    _print(reply)
    if status >= 400 or reply.get("ok") is False:
        print(f"lowlat {command}: refused: {reply.get('error', status)}", file=sys.stderr)
        return 1
    return 0


def _listing() -> dict[str, Any]:
    from lowlat.control.failures import SCENARIOS

    return {name: scenario.to_dict() for name, scenario in SCENARIOS.items()}


def cmd_fail(args: argparse.Namespace) -> int:
    """``lowlat fail …`` (see the module docstring)."""
    from lowlat.control.failures import SCENARIOS

    if args.list:
        _print(_listing())
        return 0
    if args.status:
        status, reply = request(args.url, "/fail")
        return _refused("fail", status, reply)
    if not args.scenario:
        raise OperateError("name a scenario (lowlat fail --list shows them)")
    if args.scenario not in SCENARIOS:
        raise OperateError(
            f"unknown failure scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}"
        )
    params = _params(args.param)
    if args.journal is not None or args.config is not None:
        if args.scenario != "process-restart" or args.journal is None:
            raise OperateError("--journal (and --config) go with process-restart only")
        return _process_restart(args, params)
    if args.clear:
        status, reply = request(args.url, f"/fail/{args.scenario}/clear", params)
        return _refused("fail", status, reply)
    status, reply = request(args.url, f"/fail/{args.scenario}", params)
    code = _refused("fail", status, reply)
    if code or not args.check:
        return code
    wait = args.settle if args.settle is not None else float(reply.get("judge_after_s", 0.0))
    print(f"waiting {wait:.1f} s before judging …", file=sys.stderr)
    time.sleep(wait)
    status, judged = request(args.url, f"/fail/{args.scenario}")
    verdict = judged.get("verdict") or {}
    _print(verdict)
    if not verdict.get("ok"):
        print(f"lowlat fail {args.scenario}: NOT as expected", file=sys.stderr)
        return 1
    print(f"lowlat fail {args.scenario}: as expected", file=sys.stderr)
    return 0


def _process_restart(args: argparse.Namespace, params: dict[str, Any]) -> int:
    from lowlat.control.failures import SCENARIOS, process_restart

    scenario = SCENARIOS["process-restart"]
    try:
        values = scenario.parse_params(params)
    except ValueError as error:
        raise OperateError(str(error)) from None
    if args.config is not None and not args.config.is_file():
        raise OperateError(f"no config file {args.config}")
    try:
        report = process_restart(
            args.journal,
            config=args.config,
            kill_after_s=float(values["kill_after_s"]),
            duration_s=float(values["duration_s"]),
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except (RuntimeError, TimeoutError, ValueError, OSError) as error:
        raise OperateError(str(error)) from None
    _print(report)
    return 0 if report["ok"] else 1


def cmd_actions(args: argparse.Namespace) -> int:
    """``lowlat actions [approve|reject|prepare]``."""
    verb = args.actions_command
    if verb is None:
        status, reply = request(args.url, "/actions")
    elif verb == "approve":
        body = {"approved_by": args.approved_by, "reason": args.reason}
        status, reply = request(args.url, f"/actions/{args.id}/approve", body)
    elif verb == "reject":
        body = {"rejected_by": args.by, "reason": args.reason}
        status, reply = request(args.url, f"/actions/{args.id}/reject", body)
    else:
        body = {
            "kind": args.kind,
            "params": _params(args.param),
            "requested_by": args.requested_by,
            "reason": args.reason,
        }
        status, reply = request(args.url, "/actions", body)
    if status == 404 and verb in ("approve", "reject"):
        raise OperateError(f"no pending action {args.id!r} at {args.url} (lowlat actions)")
    return _refused("actions", status, reply)


def main(argv: Sequence[str] | None = None) -> int:
    """``fail`` and ``actions`` on their own (what ``lowlat`` runs once they are wired in)."""
    parser = argparse.ArgumentParser(prog="lowlat")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    handler = {"fail": cmd_fail, "actions": cmd_actions}[args.command]
    try:
        return handler(args)
    except OperateError as error:
        print(f"lowlat {args.command}: error: {error}", file=sys.stderr)
        return 2
