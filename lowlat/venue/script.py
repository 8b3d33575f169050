"""``lowlat venue script FILE``: drive one matching engine from a text script.

One command per line, fields separated by whitespace, ``#`` starts a comment, keywords in
any case; prices are integer ticks and every request goes to the first listed instrument:

- ``NEW <order_id> <account> <BUY|SELL> <LIMIT|MARKET> <price> <qty> <GTC|IOC|FOK>``
  (``price`` is any token for MARKET: it is ignored)
- ``CANCEL <order_id>`` · ``REDUCE <order_id> <qty>`` ·
  ``REPLACE <order_id> <new_price> <new_qty>`` (``new_qty`` is the new total quantity,
  filled quantity included, as FIX OrderQty on a replace)
- ``BOOK`` prints ``{"book": {"bids": [[price, qty], …], "asks": [[price, qty], …]}}``,
  best first.

Every execution report is printed as one JSON object per line: ``order_id``, ``status``
(NEW, PARTIAL, FILLED, CANCELLED, REJECTED, EXPIRED), ``last_px`` and
``counterparty_order_id`` (null unless a match — or, for a self-trade cancel, the other
order), ``last_qty``, ``leaves_qty``, ``cum_qty`` and ``reason`` (null, or the
:class:`Reason` name). The whole script is parsed before anything runs; a bad line is a
:class:`ScriptError` naming its line number and what is wrong. Requests the venue refuses
(a zero quantity, an unknown order) are not script errors: they print REJECTED reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lowlat.core.records import AckStatus, OrderAction, OrderType, Side, TimeInForce
from lowlat.venue.config import STP_MODES, VenueConfig
from lowlat.venue.engine import MatchingEngine, order_record
from lowlat.venue.records import ACTION_REDUCE, Reason

__all__ = [
    "Command",
    "ScriptError",
    "add_commands",
    "book_json",
    "parse",
    "report_json",
    "run",
    "run_script",
]

_INT64 = (1 << 63) - 1
_INT32 = (1 << 31) - 1
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
_TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_FIELDS = {
    "NEW": ("order_id", "account", "side", "type", "price", "qty", "tif"),
    "CANCEL": ("order_id",),
    "REDUCE": ("order_id", "qty"),
    "REPLACE": ("order_id", "new_price", "new_qty"),
    "BOOK": (),
}


class ScriptError(ValueError):
    """A script line that cannot be parsed; the message names the line and the problem."""

    def __init__(self, line: int, problem: str, text: str) -> None:
        super().__init__(f"line {line}: {problem}: {text.strip()!r}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Command:
    """One parsed script line: a request for the engine, or None for ``BOOK``."""

    line: int
    request: np.void | None


def _integer(fields: dict[str, str], name: str, low: int, high: int) -> int:
    text = fields[name]
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _choice(fields: dict[str, str], name: str, choices: dict[str, Any]) -> Any:
    word = fields[name].upper()
    if word not in choices:
        raise ValueError(f"{name} must be one of {'|'.join(choices)}, got {fields[name]!r}")
    return choices[word]


def _request(command: str, fields: dict[str, str], instrument: int) -> np.void | None:
    if command == "BOOK":
        return None
    order_id = _integer(fields, "order_id", 1, _INT64)
    if command == "CANCEL":
        return order_record(
            OrderAction.CANCEL, orig_client_order_id=order_id, instrument=instrument
        )
    if command == "REDUCE":
        qty = _integer(fields, "qty", -_INT64, _INT64)
        return order_record(
            ACTION_REDUCE, orig_client_order_id=order_id, qty=qty, instrument=instrument
        )
    if command == "REPLACE":
        price = _integer(fields, "new_price", -_INT64, _INT64)
        qty = _integer(fields, "new_qty", -_INT64, _INT64)
        return order_record(
            OrderAction.REPLACE, orig_client_order_id=order_id, price=price, qty=qty,
            instrument=instrument,
        )  # fmt: skip
    account = _integer(fields, "account", -_INT32 - 1, _INT32)
    side = _choice(fields, "side", _SIDES)
    order_type = _choice(fields, "type", _TYPES)
    price = 0 if order_type == OrderType.MARKET else _integer(fields, "price", -_INT64, _INT64)
    qty = _integer(fields, "qty", -_INT64, _INT64)
    tif = _choice(fields, "tif", _TIFS)
    return order_record(
        OrderAction.NEW, order_id, side=side, order_type=order_type, tif=tif, price=price,
        qty=qty, account=account, instrument=instrument,
    )  # fmt: skip


def parse(text: str, instrument: int = 1) -> list[Command]:
    """Parse a whole script into commands for ``instrument``.

    Raises
    ------
    ScriptError
        At the first bad line: unknown command, wrong number of fields, a value that is
        not an integer (or out of range), or an unknown side, type or time in force.
    """
    commands = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        command = words[0].upper()
        names = _FIELDS.get(command)
        if names is None:
            raise ScriptError(
                number, f"unknown command {words[0]!r}; use {', '.join(_FIELDS)}", raw
            )
        if len(words) - 1 != len(names):
            usage = " ".join(f"<{n}>" for n in names) or "no fields"
            raise ScriptError(
                number,
                f"{command} takes {len(names)} field(s) ({usage}), got {len(words) - 1}",
                raw,
            )
        try:
            request = _request(command, dict(zip(names, words[1:], strict=True)), instrument)
        except ValueError as error:
            raise ScriptError(number, str(error), raw) from None
        commands.append(Command(number, request))
    return commands


def report_json(report: np.void) -> dict[str, Any]:
    """An ``EXEC_REPORT_DTYPE`` record as the script prints it."""
    traded = int(report["last_qty"]) > 0
    counterparty = int(report["counterparty_order_id"])
    reason = int(report["reason"])
    return {
        "order_id": int(report["order_id"]),
        "status": AckStatus(int(report["status"])).name,
        "last_px": int(report["last_px"]) if traded else None,
        "last_qty": int(report["last_qty"]),
        "leaves_qty": int(report["leaves_qty"]),
        "cum_qty": int(report["cum_qty"]),
        "counterparty_order_id": counterparty or None,
        "reason": Reason(reason).name if reason else None,
    }


def book_json(engine: MatchingEngine) -> dict[str, Any]:
    """The first instrument's book as the script's ``BOOK`` prints it."""
    book = engine.book()
    return {
        "book": {
            "bids": [[price, qty] for price, qty in book.bids],
            "asks": [[price, qty] for price, qty in book.asks],
        }
    }


def run_script(text: str, config: VenueConfig | None = None) -> list[str]:
    """Parse ``text`` and run it on a fresh engine; return the JSON lines it prints."""
    engine = MatchingEngine(config)
    out = []
    for command in parse(text, engine.config.instruments[0]):
        if command.request is None:
            out.append(json.dumps(book_json(engine)))
            continue
        out.extend(json.dumps(report_json(r)) for r in engine.submit(command.request))
    return out


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``lowlat venue`` and its ``script`` subcommand."""
    venue = commands.add_parser("venue", help="the simulated exchange")
    venue_commands = venue.add_subparsers(
        dest="venue_command", metavar="VENUE_COMMAND", required=True
    )
    script = venue_commands.add_parser(
        "script", help="run a matching-engine script; print every report and book as JSON lines"
    )
    script.add_argument("file", type=Path, help="the script (NEW, CANCEL, REDUCE, REPLACE, BOOK)")
    script.add_argument("--config", type=Path, help="TOML with a [venue] table")
    script.add_argument(
        "--stp", choices=sorted(STP_MODES), help="self-trade prevention (overrides --config)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``lowlat venue script``; errors go to stderr with exit status 2."""
    try:
        config = (
            VenueConfig()
            if args.config is None
            else VenueConfig.from_toml(args.config.read_text(encoding="utf-8"))
        )
        if args.stp is not None:
            config = VenueConfig.from_dict({**config.to_dict(), "stp": args.stp})
        text = args.file.read_text(encoding="utf-8")
        lines = run_script(text, config)
    except ScriptError as error:
        print(f"lowlat venue {args.venue_command}: error: {args.file}: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"lowlat venue {args.venue_command}: error: {error}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0
