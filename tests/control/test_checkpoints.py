"""Snapshots of the engine, restart from the newest, replay from the oldest kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lowlat.control.checkpoints import PeriodicSnapshots, recover_engine
from lowlat.control.replay import SNAPSHOT_DIR, decision_streams, replay
from lowlat.control.session import RunConfig, build_pipeline
from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.execution.loop import EngineLoop
from lowlat.feeds.itch import iter_records
from lowlat.feeds.sim import SCENARIOS, write_scenario
from lowlat.journal import (
    Journal,
    JournalConfig,
    JournalError,
    JournalReader,
    RecordType,
    SnapshotStore,
)
from lowlat.risk.reasons import RejectReason
from lowlat.venue import InProcessGateway
from lowlat.venue.layout import F_REJECT
from lowlat.venue.records import Reason

#: A small path: a quoter on instrument 1 of two, deciding at most every 2 ms of event time.
RAW_CONFIG = {
    "session": {"instruments": 2, "block": 128, "quote_interval_ns": 2_000_000},
    "book": {"instruments": 4, "levels": 64, "orders": 1 << 14},
    "execution": {"orders": 1 << 12},
    "risk": {"limits": {"max_orders_per_second": 5_000}},
    "journal": {"segment_bytes": 1 << 18, "keep_snapshots": 2},
}
_STAMPS = ("decision_ns", "sent_ns", "last_ns")
MESSAGES = 12_000  # enough to fill and retire segments
SCENARIO_MESSAGES = 6_000

# Interpreted, the whole path runs as Python and each test takes minutes; the kernels they
# drive (capture, restore, the control cells, the marks) run interpreted in
# tests/execution/test_loop.py.
pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1",
    reason="whole-session journals: minutes per test interpreted (see tests/execution)",
)


def _events(tmp_path: Path, scenario: str = "normal", messages: int = MESSAGES) -> np.ndarray:
    path = tmp_path / f"{scenario}.itch"
    write_scenario(scenario, path, instruments=2, messages=messages)
    events = np.concatenate(list(iter_records(path)))
    events["recv_ns"] = events["exchange_ns"]
    return events


def _engine(raw: dict, journal: Journal | None) -> tuple[EngineLoop, Lifecycle]:
    """A session's path and venue, INIT like a session's at start (READY comes later)."""
    config = RunConfig.from_dict(raw)
    lifecycle = Lifecycle()
    loop = EngineLoop(
        build_pipeline(config, lifecycle),
        InProcessGateway(config.venue_config()),
        block=config.session.block,
        journal=journal,
    )
    return loop, lifecycle


def _trade(
    directory: Path,
    events: np.ndarray,
    parts: int,
    *,
    snapshots: bool,
    raw: dict = RAW_CONFIG,
    cancel_all_after: int = -1,
    between: Callable[[int, EngineLoop], None] | None = None,
) -> EngineLoop:
    """Journal a session over ``events`` in ``parts`` calls, snapshotting after each.

    After part ``cancel_all_after`` every working order is cancelled (the kill switch's);
    ``between(part, loop)`` is called after each part (the control plane's turn).
    """
    config = RunConfig.from_dict(raw)
    with Journal(directory, config.journal) as journal:
        loop, lifecycle = _engine(raw, journal)
        journal.append_json(RecordType.OPERATOR, {"action": "session-start", "config": raw})
        loop.journal_on()
        taker = PeriodicSnapshots(
            loop, journal, SnapshotStore(directory / SNAPSHOT_DIR), 60.0, lambda: {"config": raw}
        )
        lifecycle.transition(LifecycleState.WARMUP, "test")
        lifecycle.transition(LifecycleState.READY, "test")
        for number, part in enumerate(np.array_split(events, parts)):
            loop.process(part)
            if number == cancel_all_after:
                assert loop.cancel_all() > 0
            if between is not None:
                between(number, loop)
            if snapshots:
                journal.flush()
                taker.take()
        journal.sync()
    return loop


def _decided(loop: EngineLoop) -> np.ndarray:
    from lowlat.execution.layout import ORDER_FIELDS

    stamps = [ORDER_FIELDS.index(name) for name in _STAMPS]
    return np.delete(loop.pipeline.execution.state.orders, stamps, axis=1)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return _events(tmp_path_factory.mktemp("sim"))


def test_a_restart_loads_the_newest_snapshot_and_replays_only_the_tail(
    events: np.ndarray, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    live = _trade(directory, events, 6, snapshots=True)
    store = SnapshotStore(directory / SNAPSHOT_DIR)
    kept = store.snapshots()
    assert len(kept) == 2  # keep_snapshots
    newest = store.read(kept[0].path)
    config = RunConfig.from_dict(RAW_CONFIG)
    with Journal(directory, config.journal) as journal:
        assert journal.recovery.first_seq > 0  # segments before the oldest kept were retired
        restarted, _ = _engine(RAW_CONFIG, None)
        recovered = recover_engine(restarted, journal, store)
    assert recovered.snapshot == newest.path
    assert recovered.snapshot_events == newest.metadata["events"] == len(events)
    assert recovered.replayed_events == 0  # the last snapshot came after the last event
    assert recovered.last_event_seq == events["seq"][-1]
    assert np.array_equal(_decided(restarted), _decided(live))
    decided = ("events", "orders", "reports", "fills", "cancel_all_done", "cancels_sent")
    assert [restarted.counters()[k] for k in decided] == [live.counters()[k] for k in decided]
    assert restarted.pipeline.risk.positions() == live.pipeline.risk.positions()


def test_a_restart_after_a_crash_between_snapshots_replays_the_events_since_the_last(
    events: np.ndarray, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    head, tail = np.split(events, [len(events) * 2 // 3])
    _trade(directory, head, 4, snapshots=True)
    config = RunConfig.from_dict(RAW_CONFIG)
    with Journal(directory, config.journal) as journal:  # the engine traded on, then died
        loop, lifecycle = _engine(RAW_CONFIG, journal)
        recover_engine(loop, journal, SnapshotStore(directory / SNAPSHOT_DIR))
        loop.follow(lifecycle.reader)
        lifecycle.transition(LifecycleState.WARMUP, "test")
        lifecycle.transition(LifecycleState.READY, "test")
        loop.journal_on()
        loop.process(tail)
        journal.sync()
        restarted, _ = _engine(RAW_CONFIG, None)
        recovered = recover_engine(restarted, journal, SnapshotStore(directory / SNAPSHOT_DIR))
    assert recovered.snapshot_events == len(head)
    assert recovered.replayed_events == len(tail)
    assert np.array_equal(_decided(restarted), _decided(loop))
    reference = _trade(tmp_path / "straight", events, 1, snapshots=False)
    assert np.array_equal(_decided(restarted), _decided(reference))


def test_replay_of_a_retired_journal_starts_from_the_oldest_kept_snapshot(
    events: np.ndarray, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    _trade(directory, events, 6, snapshots=True)
    outcome = replay(directory)
    assert outcome.identical, outcome.first_difference
    oldest = SnapshotStore(directory / SNAPSHOT_DIR).snapshots()[-1]
    assert 0 < outcome.events == len(events) - oldest_events(oldest.path)
    assert outcome.counts["ORDER"] > 0


def oldest_events(path: str) -> int:
    return int(SnapshotStore(Path(path).parent).read(path).metadata["events"])


def test_retired_segments_without_a_covering_snapshot_are_an_error(
    events: np.ndarray, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    _trade(directory, events, 6, snapshots=True)
    for info in SnapshotStore(directory / SNAPSHOT_DIR).snapshots():
        Path(info.path).unlink()
    with pytest.raises(JournalError, match="retired"):
        replay(directory)
    with (
        Journal(directory, JournalConfig(segment_bytes=1 << 18)) as journal,
        pytest.raises(JournalError, match="retired"),
    ):
        recover_engine(_engine(RAW_CONFIG, None)[0], journal, SnapshotStore(directory / "none"))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_simulator_scenario_replays_to_identical_decisions(
    scenario: str, tmp_path: Path
) -> None:
    raw = {**RAW_CONFIG, "session": {**RAW_CONFIG["session"], "scenario": scenario}}
    events = _events(tmp_path, scenario, messages=SCENARIO_MESSAGES)
    _trade(tmp_path / "journal", events, 1, snapshots=False, raw=raw)
    outcome = replay(tmp_path / "journal")
    assert outcome.identical, outcome.first_difference
    assert outcome.events == len(events)
    assert outcome.counts["ORDER"] > 0
    assert outcome.recorded_digest == outcome.replayed_digest


def test_a_cancel_all_is_replayed_where_it_was_journaled(
    events: np.ndarray, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    live = _trade(directory, events, 4, snapshots=False, cancel_all_after=1)
    assert live.counters()["cancels_sent"] > 0
    outcome = replay(directory)
    assert outcome.identical, outcome.first_difference
    restarted, _ = _engine(RAW_CONFIG, None)
    with Journal(directory, RunConfig.from_dict(RAW_CONFIG).journal) as journal:
        recover_engine(restarted, journal, SnapshotStore(directory / SNAPSHOT_DIR))
    assert np.array_equal(_decided(restarted), _decided(live))
    decided = ("events", "orders", "reports", "fills", "cancel_all_done", "cancels_sent")
    assert [restarted.counters()[k] for k in decided] == [live.counters()[k] for k in decided]


def test_injected_venue_faults_and_the_kill_switch_are_replayed_where_they_took_effect(
    events: np.ndarray, tmp_path: Path
) -> None:
    def control_plane(part: int, loop: EngineLoop) -> None:
        faults = loop.venue.state.fparams  # the control plane's cells, as failures.py writes
        if part == 0:
            faults[F_REJECT] = 1.0  # venue-disconnect: every order refused
        elif part == 1:
            faults[F_REJECT] = 0.0
            loop.pipeline.risk.set_kill_flag()
        elif part == 2:
            loop.pipeline.risk.clear_kill_flag()

    directory = tmp_path / "journal"
    _trade(directory, events, 4, snapshots=False, between=control_plane)
    outcome = replay(directory)
    assert outcome.identical, outcome.first_difference
    acks = decision_streams(JournalReader(directory))[RecordType.ACK]
    reasons = set(acks["reason"].tolist())
    assert {RejectReason.KILL_SWITCH, Reason.VENUE_REJECT} <= reasons, reasons
