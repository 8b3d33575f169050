"""The main job's TOML: the embedded default loads, and a bad value is refused naming its key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lowlat.control.session import ENGINE_WAITS, RunConfig, SessionConfig
from lowlat.core.ring import WaitStrategy


def test_the_embedded_default_busy_spins_on_a_cpu_of_its_own_and_holds_for_the_journal() -> None:
    session = RunConfig.load().session
    allowed = os.sched_getaffinity(0)
    # "auto": the highest CPU this process may use, when it may use two or more.
    expected = max(allowed) if len(allowed) > 1 else -1
    assert (session.engine_wait, session.engine_cpu, session.feed_cpu) == (
        "busy-spin",
        expected,
        -1,
    )
    assert session.hold_for_journal is True
    assert session.isolate == "process"  # the machine's other work is left where it is
    assert ENGINE_WAITS[session.engine_wait] is WaitStrategy.BUSY_SPIN


@pytest.mark.parametrize("wait", sorted(ENGINE_WAITS))
def test_every_wait_strategy_and_an_allowed_cpu_load_from_toml(tmp_path: Path, wait: str) -> None:
    cpu = min(os.sched_getaffinity(0))
    path = tmp_path / "run.toml"
    path.write_text(f'[session]\nengine_wait = "{wait}"\nengine_cpu = {cpu}\nfeed_cpu = -1\n')
    session = RunConfig.load(path).session
    assert (session.engine_wait, session.engine_cpu, session.feed_cpu) == (wait, cpu, -1)


def test_the_engines_cpu_is_refused_to_the_feed_and_the_journal_writer() -> None:
    cpu = min(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=rf"session\.feed_cpu: CPU {cpu} is the engine's"):
        RunConfig.from_dict({"session": {"engine_cpu": cpu, "feed_cpu": cpu}})
    with pytest.raises(ValueError, match=rf"\[journal\]: writer_cpu {cpu} is the engine's"):
        RunConfig.from_dict({"session": {"engine_cpu": cpu}, "journal": {"writer_cpu": cpu}})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"engine_wait": "spin"}, r"session\.engine_wait 'spin' is not one of busy-spin, "),
        ({"engine_cpu": 4096}, r"session\.engine_cpu: CPU 4096 is not one this process"),
        ({"feed_cpu": -2}, r"session\.feed_cpu must be an integer ≥ -1, got -2"),
        ({"engine_cpu": "0"}, r'session\.engine_cpu must be "auto" or an integer ≥ -1'),
        ({"feed_ring": 1000}, r"session\.feed_ring must be a power of two"),
        ({"snapshot_interval_s": -1}, r"session\.snapshot_interval_s must be ≥ 0"),
        ({"hold_for_journal": "yes"}, r"session\.hold_for_journal must be true or false"),
        ({"scenario": "calm"}, r"session\.scenario 'calm' is not one of"),
        ({"engine_waits": "yield"}, r"unknown \[session\] keys \['engine_waits'\]"),
        ({"strategy": "pairs-trader"}, r"strategy 'pairs-trader' needs a pair_zscore pattern"),
        ({"isolate": "core"}, r"session\.isolate 'core' is not one of process, machine"),
        ({"isolate": "machine", "engine_cpu": -1}, r'session\.isolate = "machine" keeps .* needs'),
    ],
)
def test_a_bad_session_value_is_refused_naming_its_key(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=r"\[session\]: " + message):
        RunConfig.from_dict({"session": table})


def test_a_bad_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read config .*missing\.toml"):
        RunConfig.load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[session\n")
    with pytest.raises(ValueError, match=r"config .*broken\.toml is not valid TOML"):
        RunConfig.load(broken)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ValueError, match=r"session\.engine_wait"):
        SessionConfig(engine_wait="sleep")
    with pytest.raises(ValueError, match="needs a pair_zscore pattern"):
        RunConfig(session=SessionConfig(strategy="pairs-trader"))


@pytest.mark.skipif(
    os.geteuid() != 0 or len(os.sched_getaffinity(0)) < 2, reason="needs root and two CPUs"
)
def test_isolating_the_machine_as_another_user_is_refused_naming_root() -> None:
    code = (  # imported as root (the interpreter lies under /root), then run as nobody
        "import os\nfrom lowlat.control.session import RunConfig\n"
        "os.seteuid(65534)\n"
        "try:\n    RunConfig.from_dict({'session': {'isolate': 'machine', 'engine_cpu': 'auto'}})\n"
        "except ValueError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert 'isolate = "machine" moves other processes' in result.stdout, result.stderr
    assert "needs root" in result.stdout
