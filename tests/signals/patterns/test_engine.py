"""The in-process engine: event fields, determinism, clocks, counters, buffers."""

from __future__ import annotations

import numpy as np
import pytest

from lowlat.core.clock import monotonic_ns
from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.signals.patterns import (
    PATTERN_EVENT_DTYPE,
    PatternConfig,
    PatternEngine,
    PatternFlag,
    PatternKind,
    kernels,
)
from lowlat.signals.patterns.state import no_patterns_state
from tests.signals.patterns._support import (
    LEAD,
    P0,
    RECV_OFFSET_NS,
    TWO_GROUPS,
    engine,
    fired,
    random_stream,
    ticks,
    without_detect,
)


def test_event_carries_the_trigger_and_the_pattern() -> None:
    text = TWO_GROUPS + LEAD.format(name="1-2", leader=1, follower=2)
    text += LEAD.format(name="5-4", leader=5, follower=4)
    rows = [(4, 0, P0), (5, 0, P0), (5, 100, P0 + 600)]
    before = monotonic_ns()
    events = PatternEngine(PatternConfig.from_toml(text)).feed(ticks(rows, first_seq=41))
    after = monotonic_ns()
    assert len(events) == 1
    event = events[0]
    assert event["trigger_seq"] == 43
    assert event["trigger_exchange_ns"] == 100_000
    assert event["trigger_recv_ns"] == 100_000 + RECV_OFFSET_NS
    assert before <= event["detect_ns"] <= after
    assert (event["pattern"], event["group"]) == (1, 1)
    assert (event["instrument"], event["other"]) == (5, 4)
    assert event["kind"] == PatternKind.LEAD_LAG
    assert event["flags"] == PatternFlag.UP
    assert event["value"] == 6.0


def test_pattern_event_record_is_64_bytes() -> None:
    assert PATTERN_EVENT_DTYPE.itemsize == 64
    assert PATTERN_EVENT_DTYPE.fields["trigger_seq"][1] == 0
    assert PATTERN_EVENT_DTYPE.fields["reserved"][1] + 5 == 64  # no implicit padding


def test_same_input_gives_identical_events_except_detect_time() -> None:
    stream = random_stream(20_000, seed=3)
    first = engine().feed(stream)
    kinds = set(first["kind"].tolist())
    assert kinds == {int(k) for k in PatternKind}  # every kind fired on this stream
    again = engine().feed(stream)
    assert without_detect(first).tobytes() == without_detect(again).tobytes()
    chunked = engine()
    pieces = [chunked.feed(stream[i : i + 777]) for i in range(0, len(stream), 777)]
    assert without_detect(np.concatenate(pieces)).tobytes() == without_detect(first).tobytes()


def test_fired_counts_each_patterns_events_by_name_in_config_order() -> None:
    patterns = engine()
    events = patterns.feed(random_stream(20_000, seed=3))
    counts = patterns.fired()
    assert list(counts) == [pattern.name for pattern in patterns.config.patterns]
    assert list(counts.values()) == [
        int(np.count_nonzero(events["pattern"] == pattern_id)) for pattern_id in range(len(counts))
    ]
    assert sum(counts.values()) == patterns.stats().emitted > 0


def test_a_state_without_patterns_observes_nothing_and_fires_nothing() -> None:
    state = no_patterns_state()
    out = np.zeros(4, PATTERN_EVENT_DTYPE)
    stream = random_stream(1_000, seed=5)
    predicates = (kernels.never,)
    assert kernels.on_events(stream, len(stream), state, predicates, out) == 0
    counters = dict(zip(kernels.COUNTER_NAMES, state.counters.tolist(), strict=True))
    assert counters["foreign"] == len(stream) and counters["observations"] == 0


def test_receive_clock_uses_recv_ns() -> None:
    text = LEAD.format(name="1-2", leader=1, follower=2)
    records = ticks([(2, 0, P0), (1, 0, P0), (1, 100, P0 + 250), (1, 700, P0 + 500)])
    records["recv_ns"] = [0, 0, 650_000, 700_000]  # receive: the low is gone 50 µs before
    groups = '[[group]]\nname = "g"\ninstruments = [1, 2]\n'
    exchange = PatternEngine(PatternConfig.from_toml(groups + text)).feed(records)
    receive = PatternEngine(PatternConfig.from_toml('clock = "receive"\n' + groups + text))
    assert fired(exchange) == []  # exchange: P0 left the window [200, 700] at 100 µs
    assert fired(receive.feed(records)) == [(3, 5.0)]  # receive: P0 held until 650 > 200


def test_only_ticks_and_priced_trades_are_observations() -> None:
    text = '[[group]]\nname = "g"\ninstruments = [1, 2]\n'
    text += LEAD.format(name="1-2", leader=1, follower=2)
    records = ticks([(2, 0, P0), (1, 0, P0)] + [(1, t, P0 + 900) for t in range(1, 9)])
    records["kind"][2:] = [
        EventKind.ADD,
        EventKind.QUOTE,
        EventKind.DELETE,
        EventKind.TRADE,  # price 0 below: not an observation
        EventKind.EXECUTE,  # instrument 9 below: foreign
        EventKind.TICK,  # instrument -3 below: foreign
        EventKind.TRADE,  # fires
        EventKind.EXECUTE,
    ]
    records["price"][5] = 0
    records["instrument"][6] = 9
    records["instrument"][7] = -3
    found = PatternEngine(PatternConfig.from_toml(text))
    events = found.feed(records)
    assert fired(events) == [(8, 9.0)]
    assert events["trigger_kind"][0] == EventKind.TRADE
    stats = found.stats()
    assert (stats.observations, stats.ignored, stats.foreign) == (4, 4, 2)
    assert (stats.emitted, stats.dropped) == (1, 0)


def test_an_earlier_timestamp_is_clamped_to_its_groups_latest() -> None:
    text = TWO_GROUPS + LEAD.format(name="1-2", leader=1, follower=2)
    rows = [(2, 0, P0), (1, 1_000, P0), (4, 50, P0), (1, 400, P0 + 500)]
    found = PatternEngine(PatternConfig.from_toml(text))
    events = found.feed(ticks(rows))
    assert fired(events) == [(3, 5.0)]
    assert events["flags"][0] == PatternFlag.UP | PatternFlag.TIME_CLAMPED
    assert found.stats().time_regressions == 1  # instrument 4 is group b's first: no regression
    assert found.state.inst_time[0] == 1_000_000  # instrument 1 observed "at" 1000 µs


def test_a_full_window_drops_its_oldest_entry_and_counts_it() -> None:
    text = "history = 2\n" + '[[group]]\nname = "g"\ninstruments = [1, 2]\n'
    text += LEAD.format(name="1-2", leader=1, follower=2)
    rows = [(2, 0, P0)] + [(1, t, P0 + 100 * t) for t in range(6)]  # rising: min deque grows
    found = PatternEngine(PatternConfig.from_toml(text))
    found.feed(ticks(rows))
    assert found.stats().window_overflows == 4


def test_a_full_output_buffer_counts_drops_and_feed_never_overflows() -> None:
    text = TWO_GROUPS + LEAD.format(name="1-2", leader=1, follower=2)
    text += LEAD.format(name="1-3", leader=1, follower=3)
    records = ticks([(2, 0, P0), (3, 0, P0), (1, 0, P0), (1, 100, P0 + 500)])
    direct = PatternEngine(PatternConfig.from_toml(text))
    out = np.zeros(1, dtype=PATTERN_EVENT_DTYPE)
    assert kernels.on_events(records, len(records), direct.state, (kernels.never,), out) == 1
    assert (direct.stats().emitted, direct.stats().dropped) == (1, 1)
    small = PatternEngine(PatternConfig.from_toml(text), out_capacity=1)
    assert len(small.feed(records)) == 2
    assert small.stats().dropped == 0


def test_feed_needs_a_one_dimensional_market_event_array() -> None:
    found = engine()
    with pytest.raises(TypeError, match="MARKET_EVENT_DTYPE"):
        found.feed(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="1-d"):
        found.feed(np.zeros((2, 2), dtype=MARKET_EVENT_DTYPE))
    with pytest.raises(ValueError, match="out_capacity"):
        engine(out_capacity=0)
    assert len(found.feed(np.zeros(0, dtype=MARKET_EVENT_DTYPE))) == 0
