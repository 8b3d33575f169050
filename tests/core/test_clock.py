import time

import numpy as np
from numba import njit

from lowlat.core.clock import monotonic_ns
from lowlat.core.sched import sleep_ns, yield_thread


@njit(nogil=True)
def read_many(out):
    for i in range(out.shape[0]):
        out[i] = monotonic_ns()


def test_compiled_clock_agrees_with_time_monotonic_ns():
    for _ in range(100):
        before = time.monotonic_ns()
        reading = njit(lambda: monotonic_ns())()
        after = time.monotonic_ns()
        assert before <= reading <= after


def test_compiled_clock_never_goes_backwards():
    out = np.zeros(100_000, np.int64)
    read_many(out)
    assert np.all(np.diff(out) >= 0)
    assert out[-1] > out[0]


def test_sleep_ns_sleeps_at_least_that_long():
    before = time.monotonic_ns()
    njit(lambda: sleep_ns(2_000_000))()
    assert time.monotonic_ns() - before >= 2_000_000


def test_yield_thread_returns():
    njit(lambda: yield_thread())()
    yield_thread()
    sleep_ns(1_000)
