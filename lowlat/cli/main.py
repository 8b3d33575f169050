"""``lowlat`` — one command for the operator: run, demo, bench, feed, book, venue, sim, tune."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lowlat import __version__
from lowlat.cli import fail_commands, feed_transport, journal_commands, operate, tune_commands
from lowlat.cli.tables import format_table

BENCH_SUITES = (
    "ring",
    "feeds",
    "book",
    "patterns",
    "risk",
    "venue",
    "tick-to-order",
    "journal",
    "soak",
)
FEED_FORMATS = {
    "itch50": "lowlat.feeds.itch",
    "fix": "lowlat.feeds.fix",
    "lobster": "lowlat.feeds.lobster",
    "binance-capture": "lowlat.feeds.depth.capture",
}
DEFAULT_RESULTS_DIR = Path("bench") / "results"


class CommandError(Exception):
    """An operator error: printed as ``lowlat <command>: error: …`` with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    from lowlat.demo import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="lowlat", description="Low-latency trading infrastructure runtime."
    )
    parser.add_argument("--version", action="version", version=f"lowlat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", help="run every capability and print a summary table (the main job)"
    )
    run.add_argument(
        "--config",
        type=Path,
        help="the session's TOML (default: lowlat/control/session.toml, every key documented)",
    )
    run.add_argument("--duration", type=float, metavar="SECONDS", help="how long the feed runs")
    run.add_argument("--rate", type=int, metavar="MSG_PER_S", help="the feed's message rate")
    run.add_argument("--scenario", help="the simulator scenario (`lowlat sim --help`)")
    run.add_argument("--http-port", type=int, help="/metrics and the probes (default 9464)")
    run.add_argument(
        "--journal",
        type=Path,
        metavar="DIR",
        help="journal here (an existing session is recovered)",
    )
    run.add_argument(
        "--market-config",
        type=Path,
        help="TOML for the lanes/patterns market run (default: lowlat/cli/run.toml)",
    )
    run.add_argument("--bench", action="store_true", help="also run every benchmark suite, quick")

    demo = commands.add_parser("demo", help="run a deterministic demo scenario")
    demo.add_argument("scenario", help=f"one of: {', '.join(SCENARIOS)}")

    feed = commands.add_parser("feed", help="inspect market-data files")
    feed_commands = feed.add_subparsers(dest="feed_command", metavar="FEED_COMMAND", required=True)
    stats = feed_commands.add_parser(
        "stats", help="count messages by type and errors by kind; print JSON"
    )
    stats.add_argument("file", type=Path, help="the file (plain or gzip)")
    stats.add_argument(
        "--format", required=True, choices=sorted(FEED_FORMATS), help="the file's protocol"
    )
    stats.add_argument(
        "--framing",
        choices=("length-prefixed", "type-framed"),
        help="itch50 only: force the framing instead of detecting it",
    )
    stats.add_argument(
        "--orderbook", type=Path, help="lobster only: the orderbook file that came with FILE"
    )

    feed_transport.add_commands(feed_commands)

    _add_book_commands(commands)

    from lowlat.venue import script as venue_script

    venue_script.add_commands(commands)
    operate.add_commands(commands)
    journal_commands.add_commands(commands)
    fail_commands.add_commands(commands)
    tune_commands.add_commands(commands)

    from lowlat.feeds.sim import SCENARIOS as SIM_SCENARIOS

    sim = commands.add_parser("sim", help="simulate order-level market data, written as ITCH 5.0")
    sim.add_argument("scenario", help=f"one of: {', '.join(SIM_SCENARIOS)}")
    sim.add_argument("-o", "--output", type=Path, required=True, help="the ITCH file to write")
    sim.add_argument("--seed", type=int, default=1, help="same seed, byte-identical file")
    sim.add_argument("--instruments", type=int, default=8)
    sim.add_argument("--messages", type=int, default=1_000_000, help="order-flow messages")
    sim.add_argument("--gzip", action="store_true", help="compress the output")

    bench = commands.add_parser(
        "bench", help="run benchmarks, save them as JSON, compare with a baseline"
    )
    bench.add_argument(
        "suite",
        nargs="?",
        help=f"suite to run: {', '.join(BENCH_SUITES)} (default: all, or "
        "the suite of --compare's baseline)",
    )
    bench.add_argument("--quick", action="store_true", help="fewer repeats and events")
    bench.add_argument("--repeats", type=int, help="runs per measurement (median is reported)")
    bench.add_argument("--events", type=int, help="events per run, instead of the suite's default")
    bench.add_argument(
        "--only", metavar="CASE", action="append", help="run only this case (repeatable)"
    )
    bench.add_argument(
        "--json", type=Path, help="where to save the report (default bench/results/)"
    )
    bench.add_argument(
        "--compare", type=Path, metavar="BASELINE", help="flag regressions against this report"
    )
    bench.add_argument(
        "--isolate",
        action="store_true",
        help="keep the consumer's CPU (this process's highest) from the machine's other "
        'work while the suites run, as isolate = "machine" does for a session (root)',
    )
    return parser


def _add_book_commands(commands: argparse._SubParsersAction) -> None:
    from lowlat.book.replay import FORMATS

    book = commands.add_parser("book", help="order books built from market-data files")
    book_commands = book.add_subparsers(dest="book_command", metavar="BOOK_COMMAND", required=True)
    replay = book_commands.add_parser(
        "replay",
        help="replay a file through the book engine; write one instrument's levels per message",
    )
    replay.add_argument("file", type=Path, help="the market-data file (plain or gzip)")
    replay.add_argument("--format", required=True, choices=FORMATS, help="the file's protocol")
    replay.add_argument("--depth", type=int, default=10, help="levels per side in each row")
    replay.add_argument(
        "-o", "--output", required=True, help="the CSV to write ('-' for standard output)"
    )
    replay.add_argument(
        "--instrument",
        help="symbol or numeric id of the book to write (default: the first one with orders)",
    )
    replay.add_argument(
        "--initial-book",
        type=Path,
        metavar="ROWFILE",
        help="lobster only: an orderbook file whose row seeds the book before the messages",
    )
    replay.add_argument(
        "--initial-row",
        type=int,
        default=0,
        metavar="K",
        help="the row of ROWFILE to seed from (0-based; default 0)",
    )
    replay.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help="skip the first N messages, whose effect the initial book holds (LOBSTER's "
        "orderbook row K is the book after message K+1: use --initial-row K --skip K+1)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lowlat`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler = {
        "run": _cmd_run,
        "demo": _cmd_demo,
        "bench": _cmd_bench,
        "feed": _cmd_feed,
        "book": _cmd_book,
        "venue": _cmd_venue,
        "sim": _cmd_sim,
        "killswitch": operate.cmd_killswitch,
        "top": operate.cmd_top,
        "replay": operate.cmd_replay,
        "export": journal_commands.run,
        "report": journal_commands.run,
        "fail": fail_commands.cmd_fail,
        "actions": fail_commands.cmd_actions,
        "tune": tune_commands.cmd_tune,
    }[args.command]
    try:
        return handler(args)
    except (CommandError, operate.OperateError, tune_commands.TuneError) as error:
        print(f"lowlat {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _cmd_demo(args: argparse.Namespace) -> int:
    from lowlat.demo import UnknownScenario, run_scenario

    try:
        run_scenario(args.scenario, print)
    except UnknownScenario as error:
        raise CommandError(str(error)) from None
    return 0


def _cmd_feed(args: argparse.Namespace) -> int:
    import importlib
    import json

    if args.feed_command in ("serve", "listen", "replay"):
        run = getattr(feed_transport, args.feed_command)
        try:
            return run(args)
        except (ValueError, OSError) as error:
            raise CommandError(str(error)) from None

    options = {}
    if args.framing is not None:
        if args.format != "itch50":
            raise CommandError("--framing applies to --format itch50 only")
        options["framing"] = args.framing
    if args.orderbook is not None:
        if args.format != "lobster":
            raise CommandError("--orderbook applies to --format lobster only")
        options["orderbook"] = args.orderbook
    module = importlib.import_module(FEED_FORMATS[args.format])
    try:
        stats = module.file_stats(args.file, **options)
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror or error}") from None
    print(json.dumps(stats, indent=2))
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    import contextlib
    import json

    from lowlat.book.replay import replay_file

    initial = None
    if args.initial_book is not None:
        if args.format != "lobster":
            raise CommandError("--initial-book applies to --format lobster only")
        from lowlat.feeds.lobster import initial_book_records, read_orderbook_row

        try:
            row = read_orderbook_row(args.initial_book, args.initial_row)
            initial = initial_book_records(row, len(row) // 4)
        except (OSError, IndexError, ValueError) as error:
            raise CommandError(str(error)) from None
    with contextlib.ExitStack() as stack:
        if args.output == "-":
            out = sys.stdout
        else:
            try:
                out = stack.enter_context(open(args.output, "w", encoding="ascii", newline=""))
            except OSError as error:
                raise CommandError(f"cannot write {args.output}: {error.strerror}") from None
        try:
            summary = replay_file(
                args.file,
                args.format,
                args.depth,
                out,
                instrument=args.instrument,
                initial_book=initial,
                skip=args.skip,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"cannot read {args.file}: {error.strerror or error}") from None
    report = {
        "instrument": summary.instrument,
        "symbol": summary.symbol,
        "records": summary.records,
        "rows": summary.rows,
        "integrity": summary.integrity,
        "counters": summary.counters,
    }
    print(json.dumps(report), file=sys.stderr)
    return 0


def _cmd_venue(args: argparse.Namespace) -> int:
    from lowlat.venue import script as venue_script

    return venue_script.run(args)


def _cmd_sim(args: argparse.Namespace) -> int:
    import json

    from lowlat.feeds.sim import SCENARIOS, write_scenario

    if args.scenario not in SCENARIOS:
        raise CommandError(
            f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}"
        )
    for option in ("instruments", "messages"):
        if getattr(args, option) < 1:
            raise CommandError(f"--{option} must be at least 1, got {getattr(args, option)}")
    try:
        summary = write_scenario(
            args.scenario,
            args.output,
            seed=args.seed,
            instruments=args.instruments,
            messages=args.messages,
            gzip=args.gzip,
        )
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(json.dumps(summary, indent=2))
    return 0


def _load_bench(suite: str | None = None):
    """The benchmark harness and, if named, one suite module, from the checkout's bench/."""
    import importlib

    try:
        harness = importlib.import_module("bench.harness")
        module = None
        if (
            suite is not None
        ):  # a suite's module is its name in Python: tick-to-order → tick_to_order
            module = importlib.import_module(f"bench.{suite.replace('-', '_')}")
    except ModuleNotFoundError as missing:
        raise CommandError(
            "benchmarks live in the source checkout's bench/ directory; run lowlat from a "
            f"checkout installed with `make install` ({missing})"
        ) from None
    return harness, module


def _cmd_bench(args: argparse.Namespace) -> int:
    harness, _ = _load_bench()
    for option in ("repeats", "events"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise CommandError(f"--{option} must be at least 1, got {value}")
    baseline = None
    if args.compare is not None:
        try:
            baseline = harness.load_report(args.compare)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
    wanted = args.suite or (baseline["suite"] if baseline else None)
    if wanted is not None and wanted not in BENCH_SUITES:
        raise CommandError(f"unknown suite {wanted!r}; choose one of: {', '.join(BENCH_SUITES)}")
    exit_status = 0
    for name in [wanted] if wanted else list(BENCH_SUITES):
        _, suite = _load_bench(name)
        try:
            with _bench_isolation(args.isolate) as isolation:
                report = suite.run(
                    quick=args.quick, repeats=args.repeats, events=args.events, only=args.only
                )
            if isolation is not None:
                report["isolation"] = isolation.summary()
        except ValueError as error:
            raise CommandError(str(error)) from None
        print(suite.format_table(report))
        path = args.json or DEFAULT_RESULTS_DIR / (
            f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        )
        harness.save_report(report, path)
        print(f"\nsaved {path}")
        if baseline is not None:
            rows = harness.compare(report, baseline)
            print()
            print(harness.format_comparison(rows))
            if any(row["regression"] for row in rows):
                exit_status = 1
    return exit_status


@contextlib.contextmanager
def _bench_isolation(wanted: bool) -> Iterator[Any]:
    """The consumers' CPU kept from the machine's other work for a suite (``--isolate``)."""
    from lowlat.control.isolation import IsolationError, isolated

    if not wanted:
        yield None
        return
    usable = os.sched_getaffinity(0)
    if len(usable) < 2:
        raise CommandError("--isolate needs two CPUs: this process may run on one")
    cpu = max(usable)
    try:
        with isolated(cpu, spare=[os.getpid()]) as isolation:
            yield isolation
    except IsolationError as error:
        raise CommandError(str(error)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from lowlat.demo import SCENARIOS, run_scenario
    from lowlat.demo.simulator import lifecycle_path

    started = time.perf_counter()
    rows = []
    for name in SCENARIOS:
        result = run_scenario(name, emit=None)
        rows.append(
            [
                name,
                result.published,
                result.consumed,
                result.lost,
                "-" if result.first_overrun_step is None else result.first_overrun_step,
                result.empty_polls,
                result.executed,
                result.provisional,
                lifecycle_path(result.lifecycle_history),
            ]
        )
    print(
        format_table(
            [
                "scenario",
                "published",
                "consumed",
                "lost",
                "1st overrun",
                "empty polls",
                "executed",
                "provisional",
                "lifecycle",
            ],
            rows,
            title="Step simulator (ring capacity 64; `lowlat demo <scenario>` for every step)",
        )
    )
    from lowlat.cli.market import DEFAULT_CONFIG, run_market

    try:
        market = run_market(args.market_config or DEFAULT_CONFIG)
    except ValueError as error:
        raise CommandError(str(error)) from None
    for table in market.tables:
        print()
        print(table)
    print()
    try:
        status, _ = operate.run_session(
            args.config, args.journal, args.duration, args.http_port, args.rate, args.scenario
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    if args.bench:
        print()
        status |= _cmd_bench(
            argparse.Namespace(
                suite=None,
                quick=True,
                repeats=None,
                events=None,
                only=None,
                json=None,
                compare=None,
            )
        )
    print(f"\nlowlat run finished in {time.perf_counter() - started:.1f} s")
    return status
