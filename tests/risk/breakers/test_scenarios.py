"""The simulator's flash crash trips the breakers and they recover; a normal session does not.

The pipeline is the real one: ITCH 5.0 from the simulator, decoded, applied to the books,
and the TICK records of the micro-signals stage (mid changes) fed to the breakers.
"""

import dataclasses
import functools
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lowlat.book import BookConfig, OrderBooks
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import scenario, write_config
from lowlat.feeds.sim.scenarios import CRASH_SECONDS, CRASH_START_S
from lowlat.feeds.sim.writer import OPEN_NS
from lowlat.risk.breakers import (
    MARKET_WIDE,
    BreakerConfig,
    CircuitBreakers,
    InstrumentState,
    MarketLevel,
)
from lowlat.signals.micro import MicroSignals

S = 1_000_000_000
SMALL = os.environ.get("NUMBA_DISABLE_JIT") == "1"  # interpreted: fewer messages, same shape
MESSAGES = 60_000 if SMALL else 200_000
INSTRUMENTS = 8
SEED = 11

#: The simulator compresses a session into 120 s (the crash: 8 % in 5 s, back in 30 s), so
#: windows and timers shrink with it: a 10 s reference mean, 3 s limit state → 5 s pause,
#: 5 s rolling move, 1 s / 20 s volatility half-lives, 10 s market halts, 3 s cool-down.
SESSION = BreakerConfig(
    instruments=16,
    max_instrument_id=64,
    reference_window_ns=10 * S,
    reference_buckets=20,
    limit_ns=3 * S,
    pause_ns=5 * S,
    limit_exit_ns=S // 2,
    move_window_ns=5 * S,
    move_buckets=10,
    move_warn_bps=200.0,
    move_throttle_bps=350.0,
    move_halt_bps=600.0,
    vol_fast_half_life_ns=S,
    vol_slow_half_life_ns=20 * S,
    vol_warmup_ns=20 * S,
    vol_warn=2.0,
    vol_throttle=3.0,
    vol_halt=5.0,
    market_halt_ns=10 * S,
    cooldown_ns=3 * S,
)
#: The same with the move and volatility halts off, so that the bands alone answer the crash.
BANDS_ONLY = dataclasses.replace(SESSION, move_halt_bps=math.inf, vol_halt=math.inf)


@functools.cache
def ticks(name: str) -> np.ndarray:
    """The TICK records of the named scenario (generated once per test session)."""
    config = scenario(name, seed=SEED, instruments=INSTRUMENTS, messages=MESSAGES)
    signals = MicroSignals(None, OrderBooks(BookConfig(instruments=16, orders=1 << 16)))
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.itch"
        write_config(config, path)
        for batch in iter_records(path):
            out = np.zeros(len(batch), MARKET_EVENT_DTYPE)
            signals.process(batch, out)
            parts.append(out[: signals.ticks_written].copy())
    return np.concatenate(parts)


def session_seconds(records: np.ndarray) -> np.ndarray:
    return (records["exchange_ns"] - OPEN_NS) / S


@pytest.mark.parametrize("config", [SESSION, BANDS_ONLY], ids=["all detectors", "bands only"])
def test_flash_crash_trips_during_the_crash_and_everything_recovers(config: BreakerConfig) -> None:
    breakers = CircuitBreakers(config)
    records = breakers.on_events(ticks("flash-crash"))
    t = session_seconds(records)
    own = records["instrument"] != MARKET_WIDE
    crash = own & (t >= CRASH_START_S) & (t < CRASH_START_S + CRASH_SECONDS + 5)

    assert records["new_state"][own & (t < CRASH_START_S)].max(initial=0) <= InstrumentState.WARN
    for instrument in range(1, INSTRUMENTS + 1):
        worst = records["new_state"][crash & (records["instrument"] == instrument)].max(initial=0)
        if config is SESSION:
            assert worst == InstrumentState.HALTED, instrument
        else:
            assert worst >= InstrumentState.THROTTLE, instrument
        # recovery without flapping: a handful of changes per instrument in the session
        assert (records["instrument"] == instrument).sum() <= 12
    if config is BANDS_ONLY:
        assert (records["new_state"][crash] == InstrumentState.LIMIT).any()

    market = records[~own]
    assert market["new_state"].tolist() == [MarketLevel.LEVEL_1, MarketLevel.NONE]
    assert CRASH_START_S <= session_seconds(market)[0] < CRASH_START_S + CRASH_SECONDS + 2

    assert breakers.states() == dict.fromkeys(range(1, INSTRUMENTS + 1), InstrumentState.NORMAL)
    assert breakers.market_level is MarketLevel.NONE
    assert breakers.counters()["changes_dropped"] == 0


def test_flash_crash_replay_gives_byte_identical_changes() -> None:
    first = CircuitBreakers(SESSION).on_events(ticks("flash-crash"))
    again = CircuitBreakers(SESSION).on_events(ticks("flash-crash"))
    assert len(first) > 0
    assert again.tobytes() == first.tobytes()


def test_normal_session_does_not_trip_beyond_warn() -> None:
    breakers = CircuitBreakers(SESSION)
    records = breakers.on_events(ticks("normal"))
    assert records["new_state"].max(initial=0) <= InstrumentState.WARN
    assert (records["instrument"] != MARKET_WIDE).all()
    assert len(breakers.states()) == INSTRUMENTS
