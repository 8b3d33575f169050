from __future__ import annotations

from pathlib import Path

import pytest

from lowlat.cli.main import main
from lowlat.cli.market import DEFAULT_CONFIG, run_market

SMALL = """
[market]
scenario = "news-spike"
instruments = 4
messages = 20_000

[book]
instruments = 4
levels = 64
orders = 4096

[[patterns.group]]
name = "all"
instruments = [1, 2, 3, 4]

[[patterns.pattern]]
name = "1-leads-2"
kind = "lead_lag"
leader = 1
follower = 2
move_bps = 1.0
window_us = 1_000_000
"""


def test_a_session_goes_through_lanes_books_signals_and_patterns(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(SMALL)
    run = run_market(config)
    books, lanes, patterns = run.tables
    assert run.messages > 20_000
    for symbol in ("SIM0001", "SIM0002", "SIM0003", "SIM0004"):
        assert symbol in books
    normal = next(line for line in lanes.splitlines() if line.startswith("normal"))
    assert normal.split()[1] == normal.split()[2]  # all drained
    assert "1-leads-2" in patterns and "lead_lag" in patterns


def test_the_default_config_loads() -> None:
    assert DEFAULT_CONFIG.is_file()
    assert "[[patterns.pattern]]" in DEFAULT_CONFIG.read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[market]\nsymbols = 3\n", "unknown [market] keys ['symbols']"),
        ("[market]\nscenario = 'calm'\n", "unknown scenario 'calm'"),
        ("[book]\nlevels = 0\n", "levels must be at least 1"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_run_configs_exit_2_naming_the_problem(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(text)
    assert main(["run", "--market-config", str(config)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_run_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--market-config", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sesion]\nrate = 1\n", "unknown tables ['sesion']"),
        ("[session]\nrat = 1\n", "unknown [session] keys ['rat']"),
        ("[session]\nrate = 0\n", "session.rate must be an integer ≥ 1"),
        ("[session]\nscenario = 'calm'\n", "session.scenario 'calm'"),
        ("[journal]\nfsync = 'sometimes'\n", "[journal]"),
    ],
)
def test_bad_session_configs_exit_2_naming_the_key(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "session.toml"
    config.write_text(text)
    assert main(["run", "--config", str(config)]) == 2
    assert message in capsys.readouterr().err
