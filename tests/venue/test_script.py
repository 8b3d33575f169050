"""``lowlat venue script``: parsing, errors with line numbers, output line by line, the CLI."""

from __future__ import annotations

import argparse
import json

import pytest

from lowlat.venue import VenueConfig
from lowlat.venue.script import ScriptError, add_commands, parse, run, run_script

EXAMPLE = """\
# two bids at 100, an offer at 101
NEW 1 7 BUY LIMIT 100 10 GTC
NEW 2 8 buy limit 100 5 gtc     # keywords in any case
NEW 3 9 SELL LIMIT 101 4 GTC
BOOK

NEW 4 9 SELL LIMIT 100 12 IOC   # sweeps 1, takes 2 from 2, nothing left to expire
REPLACE 2 100 2                 # total 2 = already filled: done
REDUCE 3 1
NEW 5 8 SELL MARKET - 50 GTC    # nothing to sell to: expires
NEW 6 7 BUY LIMIT 101 3 FOK
NEW 7 7 SELL LIMIT 0 1 GTC      # the venue refuses a zero price
BOOK
CANCEL 9
"""


def report(order_id, status, leaves, cum, px=None, qty=0, counterparty=None, reason=None):
    return {
        "order_id": order_id,
        "status": status,
        "last_px": px,
        "last_qty": qty,
        "leaves_qty": leaves,
        "cum_qty": cum,
        "counterparty_order_id": counterparty,
        "reason": reason,
    }


EXPECTED = [
    report(1, "NEW", 10, 0),
    report(2, "NEW", 5, 0),
    report(3, "NEW", 4, 0),
    {"book": {"bids": [[100, 15]], "asks": [[101, 4]]}},
    report(4, "NEW", 12, 0),
    report(4, "PARTIAL", 2, 10, px=100, qty=10, counterparty=1),
    report(1, "FILLED", 0, 10, px=100, qty=10, counterparty=4),
    report(4, "FILLED", 0, 12, px=100, qty=2, counterparty=2),
    report(2, "PARTIAL", 3, 2, px=100, qty=2, counterparty=4),
    report(2, "FILLED", 0, 2, reason="REPLACED"),
    report(3, "NEW", 3, 0, reason="REDUCED"),
    report(5, "NEW", 50, 0),
    report(5, "EXPIRED", 0, 0, reason="NO_LIQUIDITY"),
    report(6, "NEW", 3, 0),
    report(6, "FILLED", 0, 3, px=101, qty=3, counterparty=3),
    report(3, "FILLED", 0, 3, px=101, qty=3, counterparty=6),
    report(7, "REJECTED", 0, 0, reason="BAD_PRICE"),
    {"book": {"bids": [], "asks": []}},
    report(9, "REJECTED", 0, 0, reason="UNKNOWN_ORDER"),
]


def test_the_example_prints_every_report_and_book_line_by_line():
    lines = run_script(EXAMPLE)
    assert len(lines) == len(EXPECTED)
    for number, (line, expected) in enumerate(zip(lines, EXPECTED, strict=True), start=1):
        assert json.loads(line) == expected, f"output line {number}"
    assert lines[3] == '{"book": {"bids": [[100, 15]], "asks": [[101, 4]]}}'


def test_each_report_line_has_the_documented_keys_in_order():
    first = json.loads(run_script("NEW 1 1 BUY LIMIT 5 1 GTC")[0])
    assert list(first) == [
        "order_id",
        "status",
        "last_px",
        "last_qty",
        "leaves_qty",
        "cum_qty",
        "counterparty_order_id",
        "reason",
    ]


def test_self_trade_prevention_follows_the_config():
    text = "NEW 1 5 SELL LIMIT 10 1 GTC\nNEW 2 5 BUY LIMIT 10 1 GTC\n"
    resting = [json.loads(line) for line in run_script(text)]
    assert resting[2] == report(1, "CANCELLED", 0, 0, counterparty=2, reason="SELF_TRADE")
    allowed = [json.loads(line) for line in run_script(text, VenueConfig(stp="none"))]
    assert allowed[3]["status"] == "FILLED"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("FROB 1", 1, "unknown command 'FROB'"),
        ("BOOK\nNEW 1 7 BUY LIMIT 100 10", 2, "NEW takes 7 field(s)"),
        ("CANCEL", 1, "CANCEL takes 1 field(s) (<order_id>), got 0"),
        ("BOOK now", 1, "BOOK takes 0 field(s) (no fields), got 1"),
        ("\n\n# c\nNEW x 7 BUY LIMIT 100 10 GTC", 4, "order_id must be an integer, got 'x'"),
        ("NEW 0 7 BUY LIMIT 100 10 GTC", 1, "order_id must be in 1.."),
        ("NEW 1 7 HOLD LIMIT 100 10 GTC", 1, "side must be one of BUY|SELL, got 'HOLD'"),
        ("NEW 1 7 BUY STOP 100 10 GTC", 1, "type must be one of LIMIT|MARKET"),
        ("NEW 1 7 BUY LIMIT 100 10 DAY", 1, "tif must be one of GTC|IOC|FOK, got 'DAY'"),
        ("NEW 1 7 BUY LIMIT 100.5 10 GTC", 1, "price must be an integer, got '100.5'"),
        ("NEW 1 99999999999 BUY LIMIT 100 10 GTC", 1, "account must be in"),
        ("REDUCE 1 some", 1, "qty must be an integer"),
        ("REPLACE 1 100", 1, "REPLACE takes 3 field(s) (<order_id> <new_price> <new_qty>)"),
        ("REPLACE 1 x 5", 1, "new_price must be an integer"),
    ],
)
def test_a_bad_line_is_an_error_naming_its_number_and_the_problem(text, line, problem):
    with pytest.raises(ScriptError) as caught:
        parse(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert problem in str(caught.value)


def test_comments_blank_lines_and_market_prices_are_ignored():
    commands = parse("# only a comment\n\n   \nNEW 1 1 SELL MARKET anything 3 IOC # tail\nBOOK")
    assert [c.line for c in commands] == [4, 5]
    assert commands[0].request["price"] == 0
    assert commands[1].request is None


def _cli(tmp_path, text: str, *options: str) -> int:
    script = tmp_path / "session.txt"
    script.write_text(text, encoding="utf-8")
    parser = argparse.ArgumentParser(prog="lowlat")
    add_commands(parser.add_subparsers(dest="command"))
    return run(parser.parse_args(["venue", "script", str(script), *options]))


def test_the_command_prints_json_lines(tmp_path, capsys):
    assert _cli(tmp_path, EXAMPLE) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed] == EXPECTED


def test_the_command_takes_stp_and_a_toml_config(tmp_path, capsys):
    text = "NEW 1 5 SELL LIMIT 10 1 GTC\nNEW 2 5 BUY LIMIT 10 1 GTC\n"
    assert _cli(tmp_path, text, "--stp", "none") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "FILLED"
    config = tmp_path / "venue.toml"
    config.write_text('[venue]\nstp = "cancel_incoming"\n', encoding="utf-8")
    assert _cli(tmp_path, text, "--config", str(config)) == 0
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (last["order_id"], last["reason"]) == (2, "SELF_TRADE")


def test_a_bad_script_prints_nothing_but_the_error(tmp_path, capsys):
    assert _cli(tmp_path, "NEW 1 1 BUY LIMIT 10 1 GTC\nNEW 2 1 BUY\n") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "lowlat venue script: error:" in err
    assert "session.txt: line 2: NEW takes 7 field(s)" in err


def test_a_missing_file_or_bad_config_is_an_error(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="lowlat")
    add_commands(parser.add_subparsers(dest="command"))
    assert run(parser.parse_args(["venue", "script", str(tmp_path / "nope.txt")])) == 2
    assert "nope.txt" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[venue]\nlevel = 3\n", encoding="utf-8")
    assert _cli(tmp_path, "BOOK", "--config", str(bad)) == 2
    assert "unknown venue config keys ['level']" in capsys.readouterr().err
