"""Atomics: semantics compiled and interpreted, the instructions they compile to, and their
atomicity and ordering between threads running nogil loops."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from lowlat.core import atomics
from lowlat.core.atomics import (
    compare_and_swap,
    cpu_relax,
    fence_acquire,
    fence_release,
    fence_seq_cst,
    fetch_add,
    load_acquire,
    load_relaxed,
    store_relaxed,
    store_release,
)
from lowlat.core.clock import monotonic_ns
from tests.core._ring_support import JIT, deadline_after, scaled

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


@njit
def _load_acquire(a, i):
    return load_acquire(a, i)


@njit
def _load_relaxed(a, i):
    return load_relaxed(a, i)


@njit
def _store_release(a, i, v):
    store_release(a, i, v)


@njit
def _store_relaxed(a, i, v):
    store_relaxed(a, i, v)


@njit
def _compare_and_swap(a, i, expected, desired):
    return compare_and_swap(a, i, expected, desired)


@njit
def _fetch_add(a, i, delta):
    return fetch_add(a, i, delta)


@njit
def _fences_and_relax():
    fence_acquire()
    fence_release()
    fence_seq_cst()
    cpu_relax()


COMPILED = {
    "load_acquire": _load_acquire,
    "load_relaxed": _load_relaxed,
    "store_release": _store_release,
    "store_relaxed": _store_relaxed,
    "compare_and_swap": _compare_and_swap,
    "fetch_add": _fetch_add,
}
INTERPRETED = {name: getattr(atomics, name) for name in COMPILED}


@pytest.fixture(params=["compiled", "interpreted"])
def ops(request):
    """The atomics, called from compiled code or as plain Python functions."""
    return COMPILED if request.param == "compiled" else INTERPRETED


@pytest.fixture
def words():
    return np.array([11, -22, 33, INT64_MAX, INT64_MIN], np.int64)


# --- single-threaded semantics ----------------------------------------------------------------


@pytest.mark.parametrize("load", ["load_acquire", "load_relaxed"])
def test_loads_return_the_element_as_an_int(ops, words, load):
    values = [ops[load](words, i) for i in range(len(words))]
    assert values == [11, -22, 33, INT64_MAX, INT64_MIN]
    assert all(isinstance(v, int) for v in values)


@pytest.mark.parametrize("store", ["store_release", "store_relaxed"])
def test_stores_set_only_their_element(ops, words, store):
    ops[store](words, 2, -7)
    ops[store](words, 0, INT64_MAX)
    assert words.tolist() == [INT64_MAX, -22, -7, INT64_MAX, INT64_MIN]


def test_compare_and_swap_sets_the_element_only_when_it_holds_the_expected_value(ops, words):
    assert ops["compare_and_swap"](words, 1, -22, 5) is True
    assert words.tolist() == [11, 5, 33, INT64_MAX, INT64_MIN]
    assert ops["compare_and_swap"](words, 1, -22, 6) is False
    assert ops["compare_and_swap"](words, 0, 12, 6) is False
    assert words.tolist() == [11, 5, 33, INT64_MAX, INT64_MIN]
    assert ops["compare_and_swap"](words, 4, INT64_MIN, 0) is True
    assert words[4] == 0


def test_fetch_add_returns_the_previous_value_and_adds(ops, words):
    assert ops["fetch_add"](words, 0, 5) == 11
    assert ops["fetch_add"](words, 0, -20) == 16
    assert ops["fetch_add"](words, 0, 0) == -4
    assert ops["fetch_add"](words, 2, 1) == 33
    assert words.tolist() == [-4, -22, 34, INT64_MAX, INT64_MIN]


def test_fences_and_cpu_relax_run_compiled_and_interpreted():
    _fences_and_relax()
    fence_acquire()
    fence_release()
    fence_seq_cst()
    cpu_relax()


@pytest.mark.skipif(not JIT, reason="checks the machine code the JIT emits")
@pytest.mark.parametrize(
    ("function", "args", "instruction"),
    [
        (_load_acquire, (0,), "load atomic i64"),
        (_load_relaxed, (0,), "monotonic"),
        (_store_release, (0, 1), "store atomic i64"),
        (_store_relaxed, (0, 1), "monotonic"),
        (_compare_and_swap, (0, 1, 2), "cmpxchg"),
        (_fetch_add, (0, 1), "atomicrmw add"),
    ],
)
def test_compiled_atomics_emit_atomic_instructions(function, args, instruction):
    function(np.zeros(2, np.int64), *args)
    ir = "\n".join(function.inspect_llvm().values())
    assert instruction in ir
    if function in (_load_acquire, _compare_and_swap):
        assert "acquire" in ir
    if function in (_store_release,):
        assert "release" in ir


@pytest.mark.skipif(not JIT, reason="type checks happen when compiling")
@pytest.mark.parametrize(
    "array", [np.zeros(2, np.int32), np.zeros(2, np.float64), np.zeros((2, 2), np.int64)]
)
def test_compiled_atomics_refuse_arrays_that_are_not_1d_int64(array):
    with pytest.raises((TypeError, TypingError), match="1-d int64 arrays"):
        njit(lambda a: load_acquire(a, 0))(array)


# --- threads ------------------------------------------------------------------------------------


@njit(nogil=True)
def _count_with_fetch_add(counter, seen):
    for i in range(seen.shape[0]):
        seen[i] = fetch_add(counter, 0, 1)


@njit(nogil=True)
def _count_with_cas(counter, seen):
    for i in range(seen.shape[0]):
        while True:
            old = load_relaxed(counter, 0)
            if compare_and_swap(counter, 0, old, old + 1):
                seen[i] = old
                break


def _run_in_threads(*calls):
    """Run each ``(function, args)`` in its own thread; wait for all of them."""
    threads = [threading.Thread(target=f, args=args, daemon=True) for f, args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.parametrize("increment", [_count_with_fetch_add, _count_with_cas])
def test_two_threads_incrementing_one_counter_never_lose_an_update(increment):
    n = scaled(1_000_000, 100_000)
    counter = np.zeros(8, np.int64)  # its own cache line
    seen = [np.full(n, -1, np.int64) for _ in range(2)]
    _run_in_threads((increment, (counter, seen[0])), (increment, (counter, seen[1])))
    assert counter[0] == 2 * n
    # Each increment saw a distinct previous value: together exactly 0 .. 2n-1.
    assert (np.sort(np.concatenate(seen)) == np.arange(2 * n)).all()
    # Each thread saw its own increments in increasing order.
    assert all((np.diff(s) > 0).all() for s in seen)


@njit(nogil=True)
def _writer(shared, rounds):
    """Write round r into the data words, then release-store r into the flag (word 0)."""
    for r in range(1, rounds + 1):
        for w in range(8, 16):
            shared[w] = r * 16 + w
        store_release(shared, 0, r)


@njit(nogil=True)
def _reader(shared, rounds, deadline_ns, report):
    """Acquire the flag; every data word must be from that round or a later one."""
    observed = 0
    stale = 0
    last = 0
    spins = 0
    while last < rounds:
        flag = load_acquire(shared, 0)
        if flag == last:
            cpu_relax()
            spins += 1
            if spins % 4096 == 0 and monotonic_ns() > deadline_ns:
                break
            continue
        for w in range(8, 16):
            if shared[w] < flag * 16 + w:
                stale += 1
        if flag < last:
            stale += 1
        observed += 1
        last = flag
    report[0] = observed
    report[1] = stale
    report[2] = last


def test_release_store_then_acquire_load_passes_the_data_written_before_the_flag():
    rounds = scaled(2_000_000, 100_000)
    shared = np.zeros(16, np.int64)  # flag in line 0, data in line 1
    report = np.zeros(3, np.int64)
    _run_in_threads(
        (_reader, (shared, rounds, deadline_after(60), report)),
        (_writer, (shared, rounds)),
    )
    observed, stale, last = report.tolist()
    assert last == rounds
    assert observed >= 1
    assert stale == 0, f"{stale} data words older than the flag that published them"
