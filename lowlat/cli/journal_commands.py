"""``lowlat export`` and ``lowlat report``: what an operator or compliance reads from a journal.

``lowlat export DIR --to parquet|csv [-o OUT_DIR] [--market-events] [--force]`` writes one
table per kind of record (:mod:`lowlat.journal.export`); ``lowlat report DIR [-o FILE]``
writes the one-file HTML report (:mod:`lowlat.control.report`). Each parser's ``func``
default is the command: ``args.func(args)`` runs it and returns the exit status. A bad
journal, format or output raises :class:`~lowlat.cli.main.CommandError`, which ``lowlat``
prints as ``lowlat <command>: error: …`` with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_commands", "export_command", "report_command", "run"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``export`` and ``report`` on the ``lowlat`` subcommand parsers."""
    from lowlat.journal.export import FORMATS

    export = commands.add_parser(
        "export", help="export a journal's orders, acks, fills and events as Parquet or CSV"
    )
    export.add_argument("directory", type=Path, metavar="DIR", help="the journal directory")
    export.add_argument("--to", required=True, choices=FORMATS, help="the table format")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT_DIR",
        help="where the tables go (default: DIR-<format> next to DIR)",
    )
    export.add_argument(
        "--market-events",
        action="store_true",
        help="also export every input market event (usually most of the journal)",
    )
    export.add_argument(
        "--force", action="store_true", help="write into OUT_DIR even if it is not empty"
    )
    export.set_defaults(func=export_command)

    report = commands.add_parser(
        "report", help="write a one-file HTML report: latency CDFs, throughput, lifecycle, events"
    )
    report.add_argument("directory", type=Path, metavar="DIR", help="the journal directory")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="the HTML file to write (default: DIR-report.html next to DIR)",
    )
    report.set_defaults(func=report_command)


def run(args: argparse.Namespace) -> int:
    """Run the command the parsed ``args`` name (``args.func``); return the exit status."""
    return args.func(args)


def _sibling(directory: Path, suffix: str) -> Path:
    name = directory.resolve().name or "journal"
    return directory.resolve().parent / f"{name}{suffix}"


def export_command(args: argparse.Namespace) -> int:
    """``lowlat export``: write the tables, print each file with its row count."""
    from lowlat.cli.main import CommandError
    from lowlat.cli.tables import format_table
    from lowlat.journal.export import export_tables

    out = args.output or _sibling(args.directory, f"-{args.to}")
    try:
        summary = export_tables(
            args.directory, out, args.to, market_events=args.market_events, force=args.force
        )
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from None
    rows = [(table.name, table.rows, str(table.path)) for table in summary.tables]
    title = (
        f"journal {summary.directory}: {summary.records:,} records read; "
        f"{summary.fmt} tables written to {summary.out_dir}"
    )
    print(format_table(("table", "rows", "file"), rows, title=title))
    if summary.skipped:
        kinds = ", ".join(f"{name} {count:,}" for name, count in summary.skipped.items())
        hint = " (--market-events exports them)" if "MARKET_EVENT" in summary.skipped else ""
        print(f"not exported: {kinds}{hint}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """``lowlat report``: render the HTML report, print where it went."""
    from lowlat.cli.main import CommandError
    from lowlat.control.report import write_report

    out = args.output or _sibling(args.directory, "-report.html")
    try:
        path = write_report(args.directory, out)
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from None
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0
