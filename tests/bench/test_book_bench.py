"""The book benchmark cases run on a tiny stream and verify their own output.

No timing assertions: only result fields, counts and the cases' own checks.
"""

from __future__ import annotations

import dataclasses
import sys

import pytest

from bench import book
from bench.harness import format_report

MESSAGES = 3_000


def _one(name: str) -> list[dict]:
    case, _, _ = book.CASES[name]
    return case(1, MESSAGES)


def _records() -> int:
    return book.stream(MESSAGES).records.shape[0]


def test_stream_is_the_simulated_session_decoded():
    source = book.stream(MESSAGES)
    assert _records() > MESSAGES  # order flow plus the session's system and directory messages
    assert source.data.dtype.itemsize == 1 and source.data.shape[0] > 20 * MESSAGES


@pytest.mark.parametrize("name", [book.DECODE_BOOK, book.BOOK_ONLY])
def test_lowlat_cases_verify_their_books(name):
    (result,) = _one(name)
    assert result["name"] == name and result["unit"] == "msg/s" and result["better"] == "higher"
    assert result["errors"] == 0 and result["median"] > 0
    assert result["events"] == _records()
    assert (result.get("target") == book.TARGET_RATE) == (name == book.DECODE_BOOK)


def test_signals_case_reports_rate_and_overhead_ratio():
    signals, ratio = _one(book.SIGNALS)
    assert signals["name"] == book.SIGNALS and signals["errors"] == 0
    assert signals["events"] == _records()
    assert ratio["name"] == book.SIGNALS_OVERHEAD and ratio["better"] == "lower"
    assert ratio["target"] == book.TARGET_SIGNALS_RATIO and ratio["errors"] == 0
    assert ratio["median"] > 0


def test_python_case_is_a_baseline_of_book_only():
    (result,) = _one(book.PYTHON)
    assert result["baseline_of"] == book.BOOK_ONLY and result["errors"] == 0
    assert result["events"] == min(book.PYTHON_MESSAGES, _records())


def test_nautilus_case_is_skipped_or_correct():
    (result,) = _one(book.NAUTILUS)
    assert result["name"] == book.NAUTILUS
    if result.get("skipped"):
        assert result["note"].startswith("skipped") and "baseline_of" not in result
    else:
        assert result["baseline_of"] == book.BOOK_ONLY and result["errors"] == 0
        assert result["events"] == min(book.NAUTILUS_MESSAGES, _records())


def test_nautilus_missing_gives_an_informational_skip(monkeypatch):
    monkeypatch.setitem(sys.modules, "nautilus_trader.model.book", None)  # import fails
    (result,) = _one(book.NAUTILUS)
    assert result["skipped"] and result["informational"] and "errors" not in result
    assert result["note"].startswith("skipped: NautilusTrader is not importable")
    assert "make bench" in format_report({"suite": "book", "results": [result]})


def test_a_wrong_book_is_an_error(monkeypatch):
    right = book._expected(MESSAGES, _records())
    instrument = min(right.levels)
    levels = dict(right.levels)
    levels[instrument] = [(1, 1, 1, 1)] * book.DEPTH
    wrong = dataclasses.replace(right, levels=levels)
    monkeypatch.setattr(book, "_expected", lambda messages, records: wrong)
    (result,) = _one(book.BOOK_ONLY)
    assert result["errors"] == 1


def test_run_reports_ratio_and_peer_verification():
    report = book.run(repeats=1, events=MESSAGES, only=[book.BOOK_ONLY, book.PYTHON])
    python = report["results"][1]
    assert python["note"].endswith("= lowlat's")
    table = book.format_table(report)
    assert "×" in table and book.PYTHON in table
