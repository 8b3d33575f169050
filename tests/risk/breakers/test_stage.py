"""The compiled stage: which records are prices, event time only, counting, reads, records."""

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, EventKind
from lowlat.risk.breakers import (
    BREAKER_EVENT_DTYPE,
    BreakerCause,
    CircuitBreakers,
    InstrumentState,
    kernels,
)

from ._paths import DOLLAR, T0, S, config, judge, merge, path, seconds, steady, transitions

HUNDRED = 100 * DOLLAR


def random_market(seed: int = 7, instruments: int = 5, points: int = 2_000) -> np.ndarray:
    """Random walks with jumps: enough to trip and recover every kind of breaker."""
    rng = np.random.default_rng(seed)
    paths = []
    for instrument in range(1, instruments + 1):
        times = np.cumsum(rng.exponential(0.5, points))
        jumps = rng.choice([-0.045, 0.045], points) * (rng.random(points) < 0.01)
        steps = rng.normal(0, 0.001, points) + jumps
        prices = (HUNDRED * np.exp(np.cumsum(steps))).astype(np.int64)
        paths.append(path(zip(times.tolist(), prices.tolist(), strict=True), instrument))
    return merge(*paths)


COMPRESSED = {
    "limit_ns": S,
    "pause_ns": 20 * S,
    "cooldown_ns": 5 * S,
    "reference_window_ns": 30 * S,
    "market_halt_ns": 30 * S,
    "move_window_ns": 10 * S,
    "move_warn_bps": 300.0,
    "move_throttle_bps": 500.0,
    "move_halt_bps": 800.0,
}


def test_breaker_event_is_one_cache_line() -> None:
    assert BREAKER_EVENT_DTYPE.itemsize == 64


def test_same_records_give_byte_identical_changes_whatever_the_batching() -> None:
    events = random_market()
    whole = CircuitBreakers(config(**COMPRESSED)).on_events(events)
    assert {InstrumentState(s) for s in whole["new_state"]} >= {
        InstrumentState.LIMIT, InstrumentState.PAUSED, InstrumentState.HALTED
    }  # fmt: skip
    small = CircuitBreakers(config(**COMPRESSED), capacity=config().instruments + 3)
    batched = np.concatenate(
        [small.on_events(events[i : i + 97]) for i in range(0, len(events), 97)]
    )
    assert batched.tobytes() == whole.tobytes()
    assert (whole["reserved"] == 0).all()


def test_only_event_time_counts_not_receive_time() -> None:
    events = random_market()
    whole = CircuitBreakers(config(**COMPRESSED)).on_events(events)
    scrambled = events.copy()
    scrambled["recv_ns"] = np.random.default_rng(1).integers(0, 1 << 62, len(events))
    again = CircuitBreakers(config(**COMPRESSED)).on_events(scrambled)
    assert again.tobytes() == whole.tobytes()


def test_a_late_stamp_is_judged_at_the_latest_event_time() -> None:
    events = path([*steady(0, 60, HUNDRED), (60, 949_000), (50, HUNDRED)])
    _, changes = judge(events, limit_exit_ns=0)
    assert transitions(changes) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")]
    assert seconds(changes) == [60, 60]


def test_trades_and_priced_executions_are_prices_other_records_only_move_the_clock() -> None:
    history = path(steady(0, 60, HUNDRED))
    trade = path([(60, 949_000)], kind=EventKind.TRADE)
    unpriced = path([(61, 0)], kind=EventKind.EXECUTE)
    book = path([(62, 500_000)], kind=EventKind.ADD)  # not a price, however far off
    execute = path([(63, 999_000)], kind=EventKind.EXECUTE)
    status = path([(90, 0)], kind=EventKind.STATUS)
    breakers = CircuitBreakers(config())
    records = breakers.on_events(merge(history, trade, unpriced, book, execute, status))
    assert transitions(records) == [("NORMAL", "LIMIT"), ("LIMIT", "NORMAL")]
    assert seconds(records) == [60, 63]
    counters = breakers.counters()
    assert (counters["events"], counters["prices"]) == (65, 62)

    # a STATUS record 15 s into a limit state pauses the instrument
    limited = CircuitBreakers(config())
    limited.on_events(merge(history, trade))
    assert limited.on_events(status)["new_state"].tolist() == [InstrumentState.PAUSED]


def test_bad_and_overflowing_instruments_are_counted_and_ignored() -> None:
    events = merge(
        path([(0, HUNDRED)], instrument=-1),
        path([(0, HUNDRED)], instrument=65),
        path([(0, HUNDRED)], instrument=1),
        path([(0, HUNDRED)], instrument=2),
        path([(1, 500_000)], instrument=3),
    )
    breakers = CircuitBreakers(config(instruments=2))
    breakers.on_events(events)
    counters = breakers.counters()
    assert (counters["bad_instrument"], counters["instrument_overflow"]) == (2, 1)
    assert counters["slots"] == 2
    assert breakers.states() == {1: InstrumentState.NORMAL, 2: InstrumentState.NORMAL}
    for instrument in (-1, 3, 65, 1 << 20):
        assert kernels.instrument_state(breakers.state, instrument) == InstrumentState.NORMAL
    assert breakers.readings(3) == {}
    assert breakers.readings(-1) == {}


def test_changes_that_do_not_fit_still_happen_and_are_counted() -> None:
    breakers = CircuitBreakers(config())
    events = path([*steady(0, 60, HUNDRED), (60, 929_000)])
    written = kernels.on_events(
        breakers.state, events, len(events), np.zeros(0, BREAKER_EVENT_DTYPE)
    )
    assert written == 0
    assert kernels.instrument_state(breakers.state, 1) == InstrumentState.LIMIT
    assert kernels.market_level(breakers.state) == 1
    assert breakers.counters()["changes_dropped"] == 2
    assert breakers.counters()["changes"] == 2


def test_reads_for_the_gate_and_the_control_plane() -> None:
    breakers = CircuitBreakers(config())
    changes = breakers.on_events(path([*steady(0, 60, HUNDRED), (60, 949_000)]))
    assert changes["cause"].tolist() == [BreakerCause.BAND]
    assert breakers.state_of(1) is InstrumentState.LIMIT
    assert breakers.state_of(2) is InstrumentState.NORMAL
    assert breakers.states() == {1: InstrumentState.LIMIT}
    readings = breakers.readings(1)
    assert readings["reference"] == HUNDRED
    assert readings["band_bps"] == 500.0
    assert abs(readings["band_move_bps"] - 510.0) < 1e-6
    assert abs(readings["return"] + 0.051) < 1e-12
    assert breakers.market_decline_bps == pytest.approx(510.0)
    assert CircuitBreakers(config()).market_decline_bps == 0.0
    assert len(CircuitBreakers(config()).on_events(np.zeros(0, MARKET_EVENT_DTYPE))) == 0


def test_control_class_refuses_other_records_and_a_buffer_too_small() -> None:
    breakers = CircuitBreakers(config())
    with pytest.raises(TypeError, match="expected MARKET_EVENT_DTYPE"):
        breakers.on_events(np.zeros(1, BREAKER_EVENT_DTYPE))
    with pytest.raises(ValueError, match="capacity must be at least instruments \\+ 3 = 11"):
        CircuitBreakers(config(), capacity=10)


def test_first_change_holds_since_the_first_price() -> None:
    changes = CircuitBreakers(config()).on_events(path([*steady(30, 60, HUNDRED), (60, 929_000)]))
    assert changes["held_ns"].tolist() == [30 * S, 30 * S]  # LIMIT, and the market's level 1
    assert changes["exchange_ns"].tolist() == [T0 + 60 * S] * 2
