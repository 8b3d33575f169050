"""Hot-path metrics: counters, lossy per-stage sample rings, lap detection, budget breaches."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowlat.control import MetricsConfig, Stage, StageBudgets
from lowlat.control.metrics import Metrics, kernels
from lowlat.core.atomics import store_release

from ._support import drain_all, produce, produce_timed, produce_until

CAPACITY = 8

operations = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 3 * CAPACITY)),
        st.tuples(st.just("drain"), st.integers(1, 2 * CAPACITY)),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, stage=st.sampled_from(list(Stage)))
def test_lossy_ring_matches_a_plain_model_of_the_newest_samples(ops, stage):
    """Model: the ring holds the newest capacity - 1 samples; a drain returns, oldest first,
    the unread ones it still holds (up to the buffer's size) and counts the skipped ones."""
    metrics = Metrics(MetricsConfig(samples=CAPACITY))
    written: list[int] = []
    cursor = read = lost = 0
    for op, n in ops:
        if op == "write":
            values = np.arange(len(written), len(written) + n, dtype=np.int64) * 3 + 1
            produce(metrics.arrays, int(stage), values, int(stage))
            written += values.tolist()
            continue
        out = np.full(n, -1, np.int64)
        samples, first, skipped, cursor_after = drain_all(metrics, int(stage), cursor, out)
        held_from = max(cursor, len(written) - (CAPACITY - 1))
        expected = written[held_from : held_from + n]
        assert samples.tolist() == expected
        assert first == held_from
        assert skipped == held_from - cursor
        cursor = cursor_after
        read += len(samples)
        lost += skipped
        assert read + lost == cursor <= len(written)
    assert metrics.samples_written(stage) == len(written)
    assert metrics.counters()[stage.label] == len(written)


@settings(max_examples=60, deadline=None)
@given(writes=st.lists(st.integers(0, 40), max_size=12), budget=st.integers(1, 100))
def test_breaches_are_counted_exactly_and_their_ring_keeps_the_newest(writes, budget):
    metrics = Metrics(MetricsConfig(samples=16, breach_samples=8))
    metrics.set_budget(Stage.RISK, budget)
    over: list[int] = []
    rng = np.random.default_rng(len(writes) * 1000 + budget)
    for n in writes:
        values = rng.integers(0, 200, n).astype(np.int64)
        produce(metrics.arrays, int(Stage.RISK), values, int(Stage.RISK))
        over += values[values > budget].tolist()
    assert metrics.breaches(Stage.RISK) == len(over)
    assert metrics.total_breaches() == len(over)
    samples, first, lost, _ = drain_all(metrics, int(Stage.RISK), 0, np.zeros(8, np.int64), True)
    kept = over[max(len(over) - 7, 0) :]
    assert samples.tolist() == kept == metrics.recent_breaches("risk").tolist()
    assert lost == first == len(over) - len(kept)


@pytest.mark.parametrize("capacity", [8, 1024])
def test_a_lapping_writer_never_hands_the_reader_a_torn_or_misplaced_sample(capacity):
    """A compiled writer thread laps the ring while the reader drains it: every sample read
    is the one written at its index, and read + lost accounts for every sample written."""
    metrics = Metrics(MetricsConfig(samples=capacity))
    out = np.zeros(capacity, np.int64)
    stop = np.ones(1, np.int64)
    assert produce_until(metrics.arrays, int(Stage.BOOK), stop) == 0  # compiled before the race
    stop[0] = 0
    written = []
    writer = threading.Thread(
        target=lambda: written.append(produce_until(metrics.arrays, int(Stage.BOOK), stop)),
        daemon=True,
    )
    cursor = read = lost = 0
    writer.start()
    try:
        while metrics.samples_written(Stage.BOOK) == 0 and writer.is_alive():
            pass
        for _ in range(3_000):
            samples, first, skipped, cursor = drain_all(metrics, int(Stage.BOOK), cursor, out)
            np.testing.assert_array_equal(samples, np.arange(first, first + samples.size))
            read += samples.size
            lost += skipped
    finally:
        store_release(stop, 0, 1)
        writer.join()
    samples, first, skipped, cursor = drain_all(metrics, int(Stage.BOOK), cursor, out)
    np.testing.assert_array_equal(samples, np.arange(first, first + samples.size))
    read += samples.size
    lost += skipped
    assert read + lost == cursor == written[0] == metrics.samples_written(Stage.BOOK)
    assert read > 0
    assert lost > 0 or capacity > 8  # the writer laps a ring of 8 many times over


def test_the_stage_lines_and_counter_lines_do_not_share_cache_lines():
    metrics = Metrics(MetricsConfig(counters=("feed_gaps",)))
    for array in (metrics.arrays.counters, metrics.arrays.stages, metrics.arrays.samples):
        assert array.ctypes.data % 64 == 0
    kernels.count(metrics.arrays, metrics.counter("feed_gaps"), 5)
    kernels.count(metrics.arrays, int(Stage.SEND), 2)
    expected = {stage.label: 0 for stage in Stage} | {"send": 2, "feed_gaps": 5}
    assert metrics.counters() == expected
    assert np.count_nonzero(metrics.arrays.counters) == 2


def test_the_hot_path_cannot_write_the_budgets_and_a_new_budget_applies_to_the_next_sample():
    metrics = Metrics(budgets=StageBudgets(decode=1_000))
    assert not metrics.arrays.budgets.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        metrics.arrays.budgets[0] = 1
    kernels.sample(metrics.arrays, int(Stage.DECODE), 900)
    metrics.set_budget("decode", 800)
    kernels.sample(metrics.arrays, int(Stage.DECODE), 900)
    assert metrics.budget(Stage.DECODE) == 800
    assert metrics.breaches("decode") == 1
    with pytest.raises(ValueError, match="positive"):
        metrics.set_budget(Stage.DECODE, 0)


def test_sample_since_times_a_compiled_stage_with_the_monotonic_clock():
    metrics = Metrics()
    produce_timed(metrics.arrays, int(Stage.SIGNAL), int(Stage.SIGNAL), 100)
    samples, _, lost, _ = drain_all(metrics, int(Stage.SIGNAL), 0, np.zeros(4096, np.int64))
    assert metrics.counters()["signal"] == 100
    assert samples.size == 101 and lost == 0
    assert (samples[1:] >= 0).all()


def test_unknown_counters_and_stages_are_named():
    metrics = Metrics()
    with pytest.raises(KeyError, match="unknown counter 'nope'"):
        metrics.counter("nope")
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        metrics.breaches("nope")
    assert metrics.counter("ack") == Stage.ACK


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="compile options need the JIT")
def test_every_metrics_kernel_is_nogil_cached_and_compiled_without_the_runtime():
    dispatchers = [
        getattr(kernels, name)
        for name in kernels.__all__
        if isinstance(getattr(kernels, name), numba.core.registry.CPUDispatcher)
    ]
    assert len(dispatchers) == len(kernels.__all__)
    for dispatcher in dispatchers:
        assert dispatcher.targetoptions.get("nogil") is True
        assert dispatcher.targetoptions.get("_nrt") is False
        assert isinstance(dispatcher._cache, numba.core.caching.FunctionCache)
