"""Fixtures shared by every test package: shared-memory names and ring buses that clean up,
and a bystander process for the CPU isolation tests.

Also the suite-wide Hypothesis profile, and how pytest-xdist groups tests (see below).
"""

from __future__ import annotations

import _posixshmem
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from multiprocessing import shared_memory
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from lowlat.core.ring import RingBus

# Examples are generated while Numba compiles on the other core (make test runs three
# processes on two cores): time-based health checks would fail on the machine's load,
# not on the code. What each test asserts is unchanged.
settings.register_profile("lowlat", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lowlat")

#: Test files that build the whole decision path with a strategy. Its kernels take
#: minutes to compile cold (then load from the per-machine cache, see
#: ``lowlat.execution.specialize``), so make test keeps these files on one pytest-xdist
#: worker rather than have both compile the same kernels at once; every other file is a
#: group of its own (``--dist loadgroup``).
ENGINE_TEST_FILES = {
    "tests/cli/test_main.py",
    "tests/cli/test_market.py",
    "tests/control/test_automation.py",
    "tests/control/test_checkpoints.py",
    "tests/control/test_failures.py",
    "tests/control/test_session.py",
    "tests/execution/test_loop.py",
    "tests/execution/test_pipeline.py",
    "tests/execution/test_round_trip.py",
}


# tryfirst: pytest-xdist's own hook turns the marks into the ``@group`` suffix that
# ``--dist loadgroup`` schedules by; marks added after it are ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test in its file's xdist group, the engine files in one shared group."""
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        group = "engine" if path in ENGINE_TEST_FILES else path
        item.add_marker(pytest.mark.xdist_group(group))


def unlink_shared_memory(name: str) -> None:
    """Remove the shared-memory block ``name`` if it still exists."""
    try:
        block = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        return
    except ValueError:  # an empty block: its creator failed before sizing it
        _posixshmem.shm_unlink(f"/{name}")
        return
    block.close()
    block.unlink()


@pytest.fixture
def shm_name() -> Iterator[str]:
    """A shared-memory name no other test or process uses; unlinked after the test."""
    name = f"llt{os.getpid()}_{uuid.uuid4().hex[:12]}"
    yield name
    unlink_shared_memory(name)


class RingFactory:
    """Creates and attaches ``RingBus`` objects and closes them all when the test ends."""

    def __init__(self) -> None:
        self._owned: list[RingBus] = []
        self._attached: list[RingBus] = []
        self._names: list[str] = []

    def __call__(self, capacity: int = 64, *args: object, **kwargs: object) -> RingBus:
        """``RingBus(capacity, ...)``, closed (and its shared block unlinked) at teardown."""
        name = kwargs.get("shared_name")
        if isinstance(name, str):
            self._names.append(name)
        bus = RingBus(capacity, *args, **kwargs)
        self._owned.append(bus)
        return bus

    def attach(self, name: str, *args: object, **kwargs: object) -> RingBus:
        """``RingBus.attach(name, ...)``, closed at teardown before the creators."""
        bus = RingBus.attach(name, *args, **kwargs)
        self._attached.append(bus)
        return bus

    def close_all(self) -> None:
        try:
            for bus in [*self._attached, *self._owned]:
                bus.close()
        finally:
            for name in self._names:
                unlink_shared_memory(name)


@pytest.fixture
def ring_factory(shm_name: str) -> Iterator[RingFactory]:
    """Make rings with ``ring_factory(capacity, ...)``; every one is closed after the test.

    It depends on ``shm_name`` so that the rings close before that name is cleaned up.
    """
    factory = RingFactory()
    yield factory
    factory.close_all()


@pytest.fixture
def bystander(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A sleeping process named ``lowlat-bystander``, allowed on every CPU of this one."""
    program = tmp_path / "lowlat-bystander"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    process = subprocess.Popen([str(program), "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def isolation_scan_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Let a machine-wide CPU isolation see one process (call with its pid).

    An isolation moves every process's tasks off its CPU; tests running beside this one
    read and set their own threads' masks, so the scan is narrowed to a bystander.
    """
    from lowlat.control import isolation

    scan = isolation._tasks

    def only(pid: int) -> None:
        monkeypatch.setattr(isolation, "_tasks", lambda pids: scan([pid] if pids is None else pids))

    return only
