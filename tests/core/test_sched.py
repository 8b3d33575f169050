"""Pinning a thread to a CPU: the thread alone moves, and a CPU not allowed is refused."""

from __future__ import annotations

import os
import threading

import pytest

from lowlat.core.sched import check_cpu, pin_thread


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
