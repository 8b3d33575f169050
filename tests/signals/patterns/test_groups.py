"""Groups on threads: consume a ring, detect what the in-process engine detects."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from numba import config as numba_config

from lowlat.core.clock import monotonic_ns
from lowlat.core.ring import RingError
from lowlat.core.ring import kernels as ring_kernels
from lowlat.signals.patterns import (
    PATTERN_EVENT_DTYPE,
    PatternConfig,
    PatternConfigError,
    PatternGroups,
    predicate,
)
from tests.signals.patterns._support import (
    ALL_KINDS,
    P0,
    above,
    engine,
    random_stream,
    ticks,
    without_detect,
)

EVENTS = 4_000 if numba_config.DISABLE_JIT else 20_000
CONFIG = PatternConfig.from_toml(ALL_KINDS)
PREDICATES = {"above": above}


def publish_all(bus, records: np.ndarray) -> None:
    """Publish every record, retrying while a lossless consumer holds the producer back."""
    words = records.view(np.int64).reshape(len(records), -1)
    done = 0
    deadline = time.monotonic() + 60
    while done < len(records):
        sent = ring_kernels.publish_batch(*bus.arrays, words[done:], len(records) - done)
        done += sent
        if sent == 0:
            assert time.monotonic() < deadline, "groups stopped consuming"
            time.sleep(0)


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_groups_on_threads_detect_what_the_engine_detects(ring_factory) -> None:
    stream = random_stream(EVENTS, seed=5)
    reference = engine()
    expected = reference.feed(stream)
    bus = ring_factory(1024)
    groups = PatternGroups(CONFIG, bus, predicates=PREDICATES).start()
    try:
        publish_all(bus, stream)
    finally:
        groups.stop()
    events = groups.events()
    assert len(expected) > 100
    assert without_detect(events).tobytes() == without_detect(expected).tobytes()
    a, b = groups.stats()
    assert (a.group, b.group) == ("a", "b")
    in_a = np.isin(stream["instrument"], [1, 2, 3]).sum()
    assert (a.observations, a.foreign) == (in_a, EVENTS - in_a)
    assert (b.observations, b.foreign) == (EVENTS - in_a, in_a)
    assert a.emitted + b.emitted == len(events) == reference.stats().emitted
    assert a.dropped == b.dropped == a.lost == b.lost == 0


def test_a_group_with_a_cpu_runs_pinned_to_it(ring_factory) -> None:
    cpu = max(os.sched_getaffinity(0))
    text = ALL_KINDS.replace('name = "b"', f'name = "b"\ncpu = {cpu}')
    config = PatternConfig.from_toml(text)
    assert [g.cpu for g in config.groups] == [-1, cpu]
    groups = PatternGroups(config, ring_factory(1024), predicates=PREDICATES).start()
    threads = {t.name: t.native_id for t in threading.enumerate()}
    try:
        # Each thread pins itself as it begins: wait for it, rather than race it.
        wait_for(lambda: os.sched_getaffinity(threads["patterns-b"]) == {cpu})
        assert os.sched_getaffinity(threads["patterns-a"]) == os.sched_getaffinity(0)
    finally:
        groups.stop()


def test_events_can_be_read_while_the_groups_run(ring_factory) -> None:
    stream = random_stream(EVENTS, seed=6)
    half = EVENTS // 2
    first_half = engine().feed(stream[:half])
    bus = ring_factory(1024)
    with PatternGroups(CONFIG, bus, predicates=PREDICATES) as groups:
        publish_all(bus, stream[:half])
        seen = []

        def caught_up() -> bool:
            seen.append(groups.events())
            return sum(map(len, seen)) >= len(first_half)

        wait_for(caught_up)
        assert groups.running
        publish_all(bus, stream[half:])
    assert not groups.running
    assert bus.consumers() == [] and groups.outputs == ()
    early = np.sort(np.concatenate(seen), order=["trigger_seq", "pattern"])
    assert without_detect(early).tobytes() == without_detect(first_half).tobytes()


def test_a_full_output_ring_drops_and_counts_never_waits(ring_factory) -> None:
    stream = random_stream(EVENTS, seed=7)
    detected = len(engine().feed(stream))
    bus = ring_factory(1024)
    groups = PatternGroups(CONFIG, bus, predicates=PREDICATES, output_capacity=2).start()
    publish_all(bus, stream)
    groups.stop()
    stats = groups.stats()
    assert [s.emitted for s in stats] == [2, 2]  # nobody read: each output ring filled up
    assert sum(s.emitted + s.dropped for s in stats) == detected
    assert len(groups.events()) == 4


def test_overwrite_input_policy_counts_what_it_lost(ring_factory) -> None:
    text = '[[group]]\nname = "g"\ninstruments = [1, 2]\n'
    bus = ring_factory(4)
    groups = PatternGroups(PatternConfig.from_toml(text), bus, policy="overwrite")
    publish_all(bus, ticks([(1, t, P0) for t in range(10)]))  # laps the group's consumer
    groups.start()
    groups.stop()
    (stats,) = groups.stats()
    assert (stats.lost, stats.observations) == (6, 4)


def test_the_input_ring_stop_flag_stops_the_groups(ring_factory) -> None:
    bus = ring_factory(64)
    groups = PatternGroups(CONFIG, bus, predicates=PREDICATES).start()
    publish_all(bus, random_stream(50, seed=1))
    bus.request_stop()
    wait_for(lambda: not groups.running)
    groups.stop()
    assert sum(s.observations for s in groups.stats()) == 50


def test_misuse_is_refused(ring_factory) -> None:
    with pytest.raises(RingError, match="MARKET_EVENT_DTYPE"):
        PatternGroups(CONFIG, ring_factory(64, PATTERN_EVENT_DTYPE))
    bus = ring_factory(64)
    with pytest.raises(ValueError, match="batch"):
        PatternGroups(CONFIG, bus, batch=0)
    unregistered = PatternGroups(CONFIG, bus)
    with pytest.raises(PatternConfigError, match="predicate 'above' is not registered"):
        unregistered.start()
    unregistered.close()
    groups = PatternGroups(CONFIG, bus, collect=False)
    groups.register_predicate("above", above)
    groups.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            groups.start()
        with pytest.raises(RuntimeError, match="before start"):
            groups.register_predicate("above", above)
        with pytest.raises(RuntimeError, match="collect=False"):
            groups.events()
    finally:
        groups.close()
    assert bus.consumers() == []


@pytest.mark.skipif(not numba_config.DISABLE_JIT, reason="compiled kernels cannot raise")
def test_a_failing_group_is_reported_by_stop(ring_factory) -> None:
    def broken(prices, times, slots, params, state, trigger, now):
        raise ZeroDivisionError("predicate bug")

    bus = ring_factory(64)
    groups = PatternGroups(CONFIG, bus, predicates={"above": broken}).start()
    publish_all(bus, ticks([(6, 0, P0), (5, 1, P0)]))
    with pytest.raises(RuntimeError, match="a pattern group failed"):
        groups.stop()


def test_records_published_before_the_groups_exist_are_not_theirs(ring_factory) -> None:
    bus = ring_factory(64)
    publish_all(bus, ticks([(1, 0, P0)]))
    groups = PatternGroups(CONFIG, bus, predicates=PREDICATES).start()
    groups.stop()
    assert sum(s.observations + s.foreign for s in groups.stats()) == 0


@predicate
def slow_once(prices, times, slots, params, state, trigger, now):
    if state[0] == 0.0:
        state[0] = 1.0
        until = monotonic_ns() + 300_000_000
        while monotonic_ns() < until:
            pass
    return 0.0


def test_stop_reports_a_group_that_does_not_stop_in_time(ring_factory) -> None:
    bus = ring_factory(64)
    groups = PatternGroups(CONFIG, bus, predicates={"above": slow_once}).start()
    publish_all(bus, ticks([(6, 0, P0)]))
    wait_for(lambda: groups.stats()[1].observations == 1)
    with pytest.raises(RuntimeError, match=r"did not stop within 0\.01 s: \['patterns-b'\]"):
        groups.stop(timeout=0.01)
    groups.stop()
    assert not groups.running


def test_a_failed_construction_releases_what_it_took(ring_factory) -> None:
    bus = ring_factory(64, max_consumers=1)
    with pytest.raises(RingError, match="consumer slots are in use"):
        PatternGroups(CONFIG, bus, predicates=PREDICATES)
    assert bus.consumers() == []
