"""Operator commands: the trading session, its live view, the kill switch, ``top``, replay.

``lowlat run`` runs a :class:`~lowlat.control.session.Session` and shows its status live
(rich, when the output is a terminal; a line every few seconds otherwise), then a summary
table. ``lowlat top`` shows the same view of a running engine, read from its ``/status``.
``lowlat killswitch engage|rearm|status`` talks to a running engine's HTTP endpoint.
``lowlat replay DIR`` re-runs a journal and proves its decisions byte-identical.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:9464"

__all__ = ["DEFAULT_URL", "add_commands", "run_session", "status_table"]


class OperateError(Exception):
    """An operator command failed: the message says why."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``killswitch``, ``top`` and ``replay``."""
    kill = commands.add_parser(
        "killswitch", help="engage, re-arm or inspect a running engine's kill switch"
    )
    actions = kill.add_subparsers(dest="kill_command", metavar="ACTION", required=True)
    engage = actions.add_parser("engage", help="cancel every working order, HALT, refuse new risk")
    engage.add_argument("--by", required=True, help="who engages it (recorded)")
    engage.add_argument("--reason", required=True, help="why (recorded)")
    rearm = actions.add_parser("rearm", help="leave HALTED with an operator's recorded approval")
    rearm.add_argument("--approved-by", required=True, help="the approving operator (recorded)")
    rearm.add_argument("--reason", required=True, help="why it is safe (recorded)")
    rearm.add_argument("--target", default="READY", choices=("READY", "WARMUP"))
    actions.add_parser("status", help="the switch's state and history")
    for parser in (engage, rearm, actions.choices["status"]):
        parser.add_argument(
            "--url", default=DEFAULT_URL, help=f"the engine (default {DEFAULT_URL})"
        )

    top = commands.add_parser("top", help="attach to a running engine: live status view")
    top.add_argument("--url", default=DEFAULT_URL, help=f"the engine (default {DEFAULT_URL})")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    top.add_argument("--once", action="store_true", help="print one view and exit")

    replay = commands.add_parser(
        "replay", help="re-run a journal and prove its decisions identical"
    )
    replay.add_argument("journal", type=Path, help="the session's journal directory")


# --- HTTP -----------------------------------------------------------------------------------


def request(url: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """GET (no body) or POST JSON to a running engine; return ``(status, JSON reply)``.

    Raises
    ------
    OperateError
        If nothing answers at ``url`` or the reply is not JSON.
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url.rstrip("/") + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OperateError(f"no engine answers at {url}: {reason}") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        raise OperateError(f"{url}{path} answered {status} with non-JSON") from None


def cmd_killswitch(args: argparse.Namespace) -> int:
    """``lowlat killswitch …``: print the engine's JSON reply; exit 1 if it refused."""
    if args.kill_command == "engage":
        status, reply = request(
            args.url, "/killswitch/engage", {"by": args.by, "reason": args.reason}
        )
    elif args.kill_command == "rearm":
        body = {"approved_by": args.approved_by, "reason": args.reason, "target": args.target}
        status, reply = request(args.url, "/killswitch/rearm", body)
    else:
        status, reply = request(args.url, "/killswitch")
    print(json.dumps(reply, indent=2, sort_keys=True))
    if status >= 400 or reply.get("ok") is False:
        print(
            f"lowlat killswitch {args.kill_command}: refused: {reply.get('error', status)}",
            file=sys.stderr,
        )
        return 1
    return 0


# --- the live view --------------------------------------------------------------------------


def _us(ns: int | float) -> str:
    return f"{ns / 1000:.1f}"


def _patterns(patterns: dict[str, Any] | None) -> str:
    if patterns is None:
        return "none configured"
    return ", ".join(f"{name} {count:,}" for name, count in patterns["fired"].items())


def _engine_cpu(engine: dict[str, Any]) -> str:
    """The engine's CPU, whose work was kept off it, and what may still run there."""
    if engine.get("cpu", -1) < 0:
        return "not pinned"
    whose = "the machine's other work" if engine.get("isolate") == "machine" else "other threads"
    noise = engine.get("cpu_noise") or []
    found = f"still: {', '.join(noise)} (lowlat tune check)" if noise else "quiet"
    return f"{engine['cpu']}, {whose} kept off; {found}"


def status_table(status: dict[str, Any], title: str = "lowlat") -> Table:
    """The operator's view of one ``Session.status()``."""
    counters = status["counters"]
    feed = status["feed"]
    breakers = status["breakers"]
    table = Table(title=f"{title} — {status['lifecycle']}  uptime {status['uptime_s']:.1f} s")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("throughput", f"{status['events_per_s']:,.0f} msg/s"),
        ("events processed", f"{counters['events']:,}"),
        ("orders sent / fills", f"{counters['orders']:,} / {counters['fills']:,}"),
        (
            "decisions (provisional, refused)",
            "{decisions:,} ({provisional:,}, {refused:,})".format(**status["execution"]),
        ),
        ("feed lag / lost / refused", f"{feed['lag']:,} / {feed['lost']:,} / {feed['refused']:,}"),
        (
            "journaled / refused / held",
            f"{counters['journaled']:,} / {counters['journal_refused']:,}"
            f" / {counters['journal_held']:,}",
        ),
        (
            "breakers",
            f"market {breakers['market_level']}; "
            f"{len(breakers['instruments'])} instruments not NORMAL",
        ),
        ("patterns fired", _patterns(status.get("patterns"))),
        ("kill switch", "ENGAGED" if status["kill_switch"]["engaged"] else "armed"),
        ("engine CPU", _engine_cpu(status["engine"])),
        ("sidecar", status["sidecar"].get("state", "?")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    for stage, p in status["stages"].items():
        table.add_row(
            f"{stage} p50 / p99 / p99.9 µs",
            f"{_us(p['p50_ns'])} / {_us(p['p99_ns'])} / {_us(p['p99.9_ns'])}  "
            f"(n={p['count']:,}, breaches {p['breaches']:,})",
        )
    engine = status.get("engine_time")
    if engine:
        table.add_row(
            "engine's own time p50 / p99 / p99.9 µs",
            f"{_us(engine['p50_ns'])} / {_us(engine['p99_ns'])} / {_us(engine['p99.9_ns'])}  "
            f"(last {engine['count']:,} decisions)",
        )
    return table


def run_session(
    config_path: Path | None,
    journal: Path | None,
    duration: float | None,
    port: int | None,
    rate: int | None,
    scenario: str | None,
) -> tuple[int, Any]:
    """Run the main job; return ``(exit status, SessionResult)``."""
    from dataclasses import replace

    from lowlat.control.session import DEFAULT_CONFIG, RunConfig, Session

    config = RunConfig.load(config_path or DEFAULT_CONFIG)
    overrides = {
        key: value
        for key, value in (
            ("duration_s", duration),
            ("http_port", port),
            ("rate", rate),
            ("scenario", scenario),
        )
        if value is not None
    }
    if overrides:
        try:
            config = replace(config, session=replace(config.session, **overrides))
        except ValueError as error:
            raise OperateError(str(error)) from None
    try:
        session = Session(config, journal)
    except (ValueError, OSError) as error:
        raise OperateError(f"cannot start the session: {error}") from None
    console = Console()

    def announce(session: Session) -> None:
        print(
            f"lowlat run: {config.session.scenario} at {config.session.rate:,} msg/s "
            f"for {config.session.duration_s:g} s; "
            f"http://127.0.0.1:{session.server.port}/metrics while it runs",
            flush=True,
        )

    try:
        if console.is_terminal:
            with Live(console=console, refresh_per_second=4) as live:
                result = session.run(
                    on_status=lambda status: live.update(status_table(status)), on_start=announce
                )
        else:
            last = [0.0]

            def line(status: dict[str, Any]) -> None:
                if time.monotonic() - last[0] >= 5.0:
                    last[0] = time.monotonic()
                    print(
                        f"  {status['uptime_s']:5.1f} s  {status['lifecycle']:<8} "
                        f"{status['events_per_s']:>12,.0f} msg/s  "
                        f"orders {status['counters']['orders']:,}",
                        flush=True,
                    )

            result = session.run(on_status=line, on_start=announce)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        session.journal.close()
        raise OperateError(
            f"port {config.session.http_port} is in use: pass --http-port (0 picks a free one)"
        ) from None
    console.print(status_table(result.status, title="lowlat run: session summary"))
    path = (
        " → ".join([result.lifecycle[0][0], *(target for _, target, _ in result.lifecycle)])
        if result.lifecycle
        else "-"
    )
    print(f"lifecycle: {path}")
    recovered = result.recovered
    if recovered is not None and (recovered.snapshot or recovered.replayed_events):
        start = f"snapshot {recovered.snapshot} ({recovered.snapshot_events:,} events) + "
        print(
            f"recovered: {start if recovered.snapshot else ''}"
            f"{recovered.replayed_events:,} market events replayed from {result.journal_dir}"
        )
    snapshots = result.status.get("snapshots")
    if snapshots and snapshots["taken"]:
        print(
            f"snapshots: {snapshots['taken']} taken, {snapshots['failures']} failed; "
            f"engine paused {snapshots['last_pause_us']:,.0f} µs for the last copy "
            f"(longest {snapshots['max_pause_us']:,.0f} µs); written in "
            f"{snapshots['last_write_ms']:,.1f} ms, {snapshots['last_bytes'] / 1e6:,.1f} MB"
        )
    if result.journal_dir is not None:
        print(
            f"journal: {result.journal_dir} "
            f"(`lowlat replay {result.journal_dir}` proves its decisions)"
        )
    counters = result.status["counters"]
    problems = counters["lost"] + counters["journal_refused"] + counters["stalled_routes"]
    return (1 if problems else 0), result


def cmd_top(args: argparse.Namespace) -> int:
    """``lowlat top``: poll ``/status`` and show it."""
    console = Console()
    _, status = request(args.url, "/status")
    if args.once or not console.is_terminal:
        console.print(status_table(status, title=f"lowlat top {args.url}"))
        return 0
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            live.update(status_table(status, title=f"lowlat top {args.url}"))
            time.sleep(args.interval)
            try:
                _, status = request(args.url, "/status")
            except OperateError:
                live.update(Table(title=f"{args.url}: the engine is gone"))
                return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``lowlat replay DIR``: digests of the recorded and replayed decisions; 1 if they differ."""
    from lowlat.control.replay import replay
    from lowlat.journal import CorruptJournal

    if not args.journal.is_dir():
        raise OperateError(f"{args.journal} is not a journal directory")
    try:
        result = replay(args.journal)
    except (ValueError, CorruptJournal) as error:
        raise OperateError(str(error)) from None
    print(f"replayed {result.events:,} market events from {args.journal}")
    print("recorded: " + ", ".join(f"{n:,} {name.lower()}" for name, n in result.counts.items()))
    print(f"recorded digest  {result.recorded_digest}")
    print(f"replayed digest  {result.replayed_digest}")
    if result.identical:
        print("decisions byte-identical")
        return 0
    print("DIFFERENT: first differing record:")
    print(json.dumps(result.first_difference, indent=2, sort_keys=True, default=str))
    return 1
