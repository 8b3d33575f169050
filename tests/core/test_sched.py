"""Pinning a thread to a CPU (the thread alone moves, a CPU not allowed is refused), and
reserving one for a thread (every other thread moves off it until released)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from lowlat.core.sched import auto_cpu, check_cpu, pin_thread, release_cpu, reserve_cpu


def _affinity_in_thread(cpu: int) -> set[int]:
    seen: list[set[int]] = []

    def body() -> None:
        pin_thread(cpu)
        seen.append(os.sched_getaffinity(0))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen[0]


def test_pinning_moves_the_calling_thread_only():
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    assert _affinity_in_thread(cpu) == {cpu}
    assert os.sched_getaffinity(0) == allowed  # the process (this thread) is unchanged


def test_minus_one_leaves_the_thread_to_the_os():
    assert _affinity_in_thread(-1) == os.sched_getaffinity(0)


@pytest.mark.parametrize("cpu", [4096, -2])
def test_a_cpu_the_process_may_not_run_on_is_refused_naming_it(cpu):
    with pytest.raises(ValueError, match=f"CPU {cpu} is not one this process may run on"):
        check_cpu(cpu)


def test_pinning_to_a_cpu_not_allowed_leaves_the_thread_as_it_was():
    before = os.sched_getaffinity(0)
    with pytest.raises(ValueError, match="CPU 4096"):
        pin_thread(4096)
    assert os.sched_getaffinity(0) == before


def test_auto_picks_the_highest_cpu_when_there_is_another():
    allowed = os.sched_getaffinity(0)
    assert auto_cpu() == (max(allowed) if len(allowed) > 1 else -1)


def test_auto_pins_nothing_on_a_single_cpu():
    allowed = os.sched_getaffinity(0)
    seen: list[int] = []

    def body() -> None:
        os.sched_setaffinity(0, {min(allowed)})
        seen.append(auto_cpu())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [-1]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_reserved_cpu_is_left_to_its_owner_until_released():
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    ready, done = threading.Event(), threading.Event()
    tids: dict[str, int] = {}

    def owner() -> None:
        pin_thread(cpu)
        tids["owner"] = threading.get_native_id()
        ready.set()
        done.wait()

    def bystander() -> None:
        tids["bystander"] = threading.get_native_id()
        done.wait()

    threads = [threading.Thread(target=owner), threading.Thread(target=bystander)]
    for thread in threads:
        thread.start()
    ready.wait()
    while "bystander" not in tids:
        time.sleep(0.001)
    previous = reserve_cpu(cpu, tids["owner"])
    try:
        assert os.sched_getaffinity(tids["owner"]) == {cpu}
        assert os.sched_getaffinity(tids["bystander"]) == allowed - {cpu}
        assert os.sched_getaffinity(0) == allowed - {cpu}  # so its next threads inherit it
        check_cpu(cpu)  # still one this process may run on: a config naming it stays valid
        later: list[set[int]] = []
        started = threading.Thread(target=lambda: later.append(os.sched_getaffinity(0)))
        started.start()
        started.join()
        assert later == [allowed - {cpu}]
    finally:
        release_cpu(previous)
        done.set()
        for thread in threads:
            thread.join()
    assert os.sched_getaffinity(0) == allowed
    assert set(previous) >= {threading.get_native_id(), tids["bystander"]}


def test_a_thread_pinned_to_the_reserved_cpu_alone_keeps_it():
    cpu = max(os.sched_getaffinity(0))
    done = threading.Event()
    tid: list[int] = []

    def pinned() -> None:
        pin_thread(cpu)
        tid.append(threading.get_native_id())
        done.wait()

    thread = threading.Thread(target=pinned)
    thread.start()
    while not tid:
        time.sleep(0.001)
    previous = reserve_cpu(cpu, owner=-1)
    try:
        assert os.sched_getaffinity(tid[0]) == {cpu}
        assert tid[0] not in previous
    finally:
        release_cpu(previous)
        done.set()
        thread.join()


def test_release_skips_threads_that_ended():
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    release_cpu({ended.native_id: os.sched_getaffinity(0)})  # nothing to restore, no error
