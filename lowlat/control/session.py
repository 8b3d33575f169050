"""``Session``: the main job — the whole pipeline on a simulated feed, watched and journaled.

Control code. One session wires every component together and runs them for a bounded
time::

    feed thread    simulator → ITCH 5.0 bytes → decoder → paced publish (stamps recv_ns)
                       │ feed ring (lossless consumer: the engine)
    engine thread  EngineLoop: book → signals → strategy → breakers → risk → gate →
                   in-process venue → reports → lifecycle/risk; samples stage latencies;
                   hands every input and output to the journal ring
                       │ journal ring
    journal writer group commit to the segmented journal
    sidecar        drains samples into HDR histograms; warm-up readiness; degradation;
                   journals lifecycle and kill-switch events; time-sync monitor; automation
    HTTP server    /metrics /livez /readyz /status /killswitch[/engage|/rearm]
                   /fail[/<scenario>] (failure injection) /actions[/<id>/approve|reject]

Lifecycle: INIT → WARMUP (kernels compiled or loaded from cache, then a warm-up replay of
simulated data through a throwaway copy of the whole path) → READY once the watched
stages' p99 is under budget for enough consecutive windows (never after a fixed time) ⇄
DEGRADED on sustained budget breaches or ring lag → HALTED by the kill switch → STOPPED.

Restart: given a journal directory that already holds a session, the new session (same
config: the simulated feed is a function of it) recovers the journal (cutting a torn
tail), replays its market events through the path — rebuilding books, signals, orders,
positions, risk counters, breakers and the simulated venue exactly, as the path is
deterministic — and continues the same feed after the last journaled event. Nothing is
sent twice: the replay does not journal, and client order ids continue from the rebuilt
order table.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lowlat.book import BookConfig, OrderBooks
from lowlat.control import automation
from lowlat.control.checkpoints import PeriodicSnapshots, Recovered, recover_engine
from lowlat.control.config import ControlConfig, ReadinessConfig
from lowlat.control.degradation import DegradationController, ring_lag
from lowlat.control.exporter import MetricsExporter
from lowlat.control.failures import FailureInjector
from lowlat.control.heap import freeze_heap, thaw_heap
from lowlat.control.isolation import DEFAULT_STATE as DEFAULT_ISOLATION_STATE
from lowlat.control.isolation import Isolation, isolate, restore, survey
from lowlat.control.metrics import Metrics
from lowlat.control.metrics import kernels as metric_kernels
from lowlat.control.probes import Probes
from lowlat.control.replay import SNAPSHOT_DIR
from lowlat.control.server import ControlServer, RouteError
from lowlat.control.sidecar import MetricsSidecar
from lowlat.control.stages import Stage
from lowlat.control.timesync import TimeSyncMonitor, WallClock
from lowlat.control.warmup import WarmupController
from lowlat.core.lifecycle import Lifecycle, LifecycleState
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import RingBus, WaitStrategy
from lowlat.core.sched import auto_cpu, check_cpu, pin_thread, release_cpu, reserve_cpu
from lowlat.execution import ExecutionConfig, ExecutionEngine
from lowlat.execution.examples import imbalance_quoter_strategy, pairs_trader_strategy
from lowlat.execution.loop import EngineLoop
from lowlat.execution.pipeline import TradingPipeline
from lowlat.feeds.itch import LENGTH_PREFIXED, ItchDecoder
from lowlat.feeds.sim import SCENARIOS, Simulator, scenario
from lowlat.feeds.sim.pacing_kernels import publish_paced
from lowlat.journal import Journal, JournalConfig, RecordType, SnapshotStore
from lowlat.risk import KillSwitch, PreTradeRisk, RiskConfig
from lowlat.risk.breakers import BreakerConfig, CircuitBreakers, SystemBreaker
from lowlat.risk.killswitch import (
    ENGAGE,
    REARM,
    operator_engage,
    operator_rearm,
    operator_status,
)
from lowlat.signals.micro import MicroSignals, SignalConfig
from lowlat.signals.patterns import PairZScorePattern, PatternConfig, PatternEngine
from lowlat.venue import InProcessGateway, VenueConfig

__all__ = [
    "DEFAULT_CONFIG",
    "RunConfig",
    "Session",
    "SessionConfig",
    "SessionResult",
    "build_pipeline",
]

DEFAULT_CONFIG = Path(__file__).with_name("session.toml")
_CHUNK_BYTES = 1 << 18  # simulator output decoded and published per feed step
_SESSION_START = "session-start"
_QUANTILES = (50.0, 99.0, 99.9)
#: The system breaker judges the breach rate over at least this long: over one 5 ms sidecar
#: tick a steady trickle of breaches (an ACK budget at 1,000 orders/s) reads as bursts and
#: empty ticks, and every empty tick would count as healthy and restart the degrade clock.
_DEGRADATION_EVERY_NS = 100_000_000


#: ``[session] engine_wait``: how the engine thread idles on an empty feed ring.
ENGINE_WAITS = {
    "busy-spin": WaitStrategy.BUSY_SPIN,  # lowest latency; the thread takes a whole core
    "yield": WaitStrategy.YIELD,  # sched_yield: shares the core with runnable threads
    "sleep-backoff": WaitStrategy.SLEEP_BACKOFF,  # nanosleep 1 µs → 1 ms: near-idle CPU
}

#: ``[session] isolate``: whose work is kept off ``engine_cpu`` while the session runs.
ISOLATE_SCOPES = {
    "process": "this process's other threads (reserve_cpu)",
    "machine": "also every other process, interrupt and kernel work queue that may move "
    "(lowlat.control.isolation; root)",
}

#: ``[session] strategy``: the example strategies the main job can run.
STRATEGIES = {
    "imbalance-quoter": "quotes quote_instrument, skewed by the book's imbalance",
    "pairs-trader": "trades both legs when the first pair_zscore of [patterns] fires",
}


@dataclass(frozen=True)
class SessionConfig:
    """The ``[session]`` table: what is simulated, how fast, for how long, on which CPUs."""

    scenario: str = "normal"  # a simulator scenario (`lowlat sim --help`)
    instruments: int = 4
    seed: int = 1
    rate: int = 100_000  # messages per second the feed publishes
    duration_s: float = 60.0
    quote_instrument: int = 1  # the example quoter's instrument
    quote_interval_ns: int = 1_000_000  # the quoter decides at most this often (event time)
    block: int = 256  # records the engine polls at once
    feed_ring: int = 1 << 16  # feed ring capacity (a power of two)
    warmup_messages: int = 20_000  # simulated messages replayed through the path in WARMUP
    engine_cpu: int = -1  # the engine thread's CPU, kept for it alone; -1: not pinned
    engine_wait: str = "busy-spin"  # how the engine idles on an empty ring (ENGINE_WAITS)
    isolate: str = "process"  # keep engine_cpu from this process's threads, or the machine's
    isolation_state: str = str(DEFAULT_ISOLATION_STATE)  # isolate = "machine": its undo file
    strategy: str = "imbalance-quoter"  # one of STRATEGIES
    feed_cpu: int = -1  # CPU to pin the feed thread to; -1: not pinned
    http_port: int = 9_464  # 0: any free port
    status_interval_s: float = 0.5
    feed_headroom: float = 1.0  # simulated messages = rate × duration × this (md-burst room)
    snapshot_interval_s: float = 30.0  # a state snapshot this often; 0: none
    hold_for_journal: bool = True  # the engine polls only while the journal has room

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"session.scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}"
            )
        for name, low in (
            ("instruments", 1), ("rate", 1), ("block", 1), ("warmup_messages", 0),
            ("quote_instrument", 1), ("quote_interval_ns", 0), ("http_port", 0),
            ("engine_cpu", -1), ("feed_cpu", -1), ("seed", 0),
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                what = '"auto" or an integer' if name == "engine_cpu" else "an integer"
                raise ValueError(f"session.{name} must be {what} ≥ {low}, got {value!r}")
        for name in ("engine_cpu", "feed_cpu"):
            try:
                check_cpu(getattr(self, name))
            except ValueError as error:
                raise ValueError(f"session.{name}: {error}") from None
        if self.feed_cpu >= 0 and self.feed_cpu == self.engine_cpu:
            raise ValueError(
                f"session.feed_cpu: CPU {self.feed_cpu} is the engine's (engine_cpu), which "
                "keeps it for itself"
            )
        if self.isolate not in ISOLATE_SCOPES:
            raise ValueError(
                f"session.isolate {self.isolate!r} is not one of {', '.join(ISOLATE_SCOPES)}"
            )
        if self.isolate == "machine" and self.engine_cpu < 0:
            raise ValueError(
                'session.isolate = "machine" keeps the engine\'s CPU for it: it needs an '
                "engine_cpu (this process may run on one CPU only, or engine_cpu is -1)"
            )
        if self.isolate == "machine" and os.geteuid() != 0:
            raise ValueError(
                'session.isolate = "machine" moves other processes and interrupts off the '
                'engine\'s CPU, which needs root; run as root or use isolate = "process"'
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"session.strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}"
            )
        if self.engine_wait not in ENGINE_WAITS:
            raise ValueError(
                f"session.engine_wait {self.engine_wait!r} is not one of {', '.join(ENGINE_WAITS)}"
            )
        if self.quote_instrument > self.instruments:
            raise ValueError(
                f"session.quote_instrument {self.quote_instrument} is not one of the "
                f"{self.instruments} simulated instruments"
            )
        if self.feed_ring < 2 or self.feed_ring & (self.feed_ring - 1):
            raise ValueError(f"session.feed_ring must be a power of two, got {self.feed_ring}")
        if not isinstance(self.duration_s, int | float) or self.duration_s <= 0:
            raise ValueError(f"session.duration_s must be > 0, got {self.duration_s!r}")
        if self.http_port > 65_535:
            raise ValueError(f"session.http_port must be at most 65535, got {self.http_port}")
        if not isinstance(self.feed_headroom, int | float) or not self.feed_headroom >= 1:
            raise ValueError(f"session.feed_headroom must be ≥ 1, got {self.feed_headroom!r}")
        if not isinstance(self.hold_for_journal, bool):
            raise ValueError(
                f"session.hold_for_journal must be true or false, got {self.hold_for_journal!r}"
            )
        interval = self.snapshot_interval_s
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise ValueError(f"session.snapshot_interval_s must be ≥ 0, got {interval!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        """Build from a ``[session]`` table; an unknown key is an error naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown [session] keys {unknown}; known: {sorted(known)}")
        if data.get("engine_cpu") == "auto":
            data = {**data, "engine_cpu": auto_cpu()}
        return cls(**data)


@dataclass(frozen=True)
class RunConfig:
    """Every table of the session's TOML file, each read by its component's config class."""

    session: SessionConfig = field(default_factory=SessionConfig)
    book: BookConfig = field(default_factory=BookConfig)
    signals: SignalConfig = field(default_factory=SignalConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    breakers: BreakerConfig = field(default_factory=BreakerConfig)
    venue: VenueConfig | None = None  # None: the simulated instruments, default models
    patterns: PatternConfig | None = None  # None: no cross-instrument patterns
    journal: JournalConfig = field(default_factory=JournalConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the tables as read

    _READERS: ClassVar[dict[str, Any]] = {
        "session": SessionConfig.from_dict,
        "book": BookConfig.from_dict,
        "signals": SignalConfig.from_dict,
        "execution": ExecutionConfig.from_dict,
        "risk": RiskConfig.from_dict,
        "breakers": BreakerConfig.from_dict,
        "venue": VenueConfig.from_dict,
        "patterns": PatternConfig.from_dict,
        "journal": JournalConfig.from_dict,
        "control": ControlConfig.from_dict,
    }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from parsed TOML; errors name the table (and the component names the key)."""
        unknown = sorted(set(data) - set(cls._READERS))
        if unknown:
            raise ValueError(f"unknown tables {unknown}; known: {sorted(cls._READERS)}")
        parts: dict[str, Any] = {}
        for name, reader in cls._READERS.items():
            if name not in data:
                continue
            if not isinstance(data[name], dict):
                raise ValueError(f"[{name}] must be a table")
            try:
                parts[name] = reader(data[name])
            except (TypeError, ValueError) as error:
                raise ValueError(f"[{name}]: {error}") from None
        return cls(**parts, raw=data)

    def __post_init__(self) -> None:
        engine_cpu = self.session.engine_cpu
        if engine_cpu >= 0 and self.journal.writer_cpu == engine_cpu:
            raise ValueError(
                f"[journal]: writer_cpu {engine_cpu} is the engine's ([session] engine_cpu), "
                "which keeps it for itself"
            )
        if self.session.strategy == "pairs-trader" and self.pair_pattern() is None:
            raise ValueError(
                "[session]: strategy 'pairs-trader' needs a pair_zscore pattern in [patterns]"
            )

    def pair_pattern(self) -> tuple[int, PairZScorePattern] | None:
        """The first pair z-score pattern of ``[patterns]`` and its id, if there is one."""
        for index, pattern in enumerate(self.patterns.patterns if self.patterns else ()):
            if isinstance(pattern, PairZScorePattern):
                return index, pattern
        return None

    @classmethod
    def load(cls, path: str | os.PathLike[str] = DEFAULT_CONFIG) -> RunConfig:
        """Read a TOML file; a missing file, bad TOML or bad value is a ``ValueError``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"cannot read config {path}: {error.strerror}") from None
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"config {path} is not valid TOML: {error}") from None

    def venue_config(self) -> VenueConfig:
        """The venue's config: as given, or the simulated instruments with default models."""
        if self.venue is not None:
            return self.venue
        return VenueConfig(instruments=tuple(range(1, self.session.instruments + 1)))


@dataclass(frozen=True)
class SessionResult:
    """What a session did, for the summary table."""

    seconds: float
    status: dict[str, Any]  # the last status (see ``Session.status``)
    lifecycle: list[tuple[str, str, str]]  # (source, target, reason) in order
    recovered_events: int  # market events replayed from an existing journal
    journal_dir: Path | None
    recovered: Recovered | None = None  # how the state was rebuilt (None: a new journal)


def build_pipeline(config: RunConfig, lifecycle: Lifecycle) -> TradingPipeline:
    """The session's decision path as ``config`` says, gated by ``lifecycle``.

    Books, signals, the patterns, the example strategy, execution, risk and breakers.
    """
    books = OrderBooks(config.book)
    s = config.session
    pair = config.pair_pattern()
    if s.strategy == "pairs-trader" and pair is not None:  # RunConfig requires the pattern
        index, pattern = pair
        strategy = pairs_trader_strategy(index, entry_z=pattern.z_threshold)
    else:
        strategy = imbalance_quoter_strategy(
            s.quote_instrument, min_interval_ns=s.quote_interval_ns
        )
    return TradingPipeline(
        strategy,
        patterns=PatternEngine(config.patterns) if config.patterns else None,
        books=books,
        signals=MicroSignals(config.signals, books),
        execution=ExecutionEngine(config.execution, lifecycle),
        risk=PreTradeRisk(config.risk, lifecycle=lifecycle),
        breakers=CircuitBreakers(config.breakers),
        capacity=config.session.block,
    )


def _simulated(config: SessionConfig, seed: int, messages: int) -> Simulator:
    return Simulator(
        scenario(config.scenario, seed=seed, instruments=config.instruments, messages=messages)
    )


class _Feed:
    """The feed thread: simulate, decode and publish at the configured rate.

    Failure-injection hooks (:mod:`lowlat.control.failures`), read between publish slices
    of at most ~50 ms: ``rate_multiplier`` scales the publish rate (md-burst) from the next
    slice on; :meth:`drop` discards the next N decoded messages before they are published
    (feed-gap). Before publishing, the feed checks that sequences follow on from the last
    one published and counts every hole (``gaps``, ``gap_messages``), however it arose.
    """

    def __init__(self, config: SessionConfig, ring: RingBus, metrics: Metrics, skip: int):
        self.config = config
        self.ring = ring
        self.metrics = metrics
        self.skip = skip  # market-event sequences already journaled (a restart)
        self.stop_flag = np.zeros(1, np.int64)
        self.published = 0
        self.refused = 0
        self.decoded = 0
        self.quarantined = 0
        self.rate_multiplier = 1.0
        self.dropped = 0  # messages discarded by drop()
        self.gaps = 0  # sequence gaps seen before publishing
        self.gap_messages = 0  # sequences missing in them
        self._drops: deque[int] = deque()
        self._next_seq = skip + 1 if skip >= 0 else None
        self.done = threading.Event()
        self.error: BaseException | None = None
        messages = int(config.rate * config.duration_s * config.feed_headroom) + 1
        self._sim = _simulated(config, config.seed, messages)
        self._decoder = ItchDecoder(LENGTH_PREFIXED)
        self._thread = threading.Thread(target=self._run, name="lowlat-feed", daemon=True)

    def start(self, t0: int) -> None:
        self._t0 = t0
        self._thread.start()

    def stop(self) -> None:
        self.stop_flag[0] = 1
        self._thread.join(30)

    def drop(self, messages: int) -> None:
        """Discard the next ``messages`` decoded messages instead of publishing them."""
        self._drops.append(int(messages))

    def _take_drops(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` less the messages :meth:`drop` asked to discard (from its front)."""
        while self._drops and len(rows):
            take = min(self._drops[0], len(rows))
            rows = rows[take:]
            self.dropped += take
            if take == self._drops[0]:
                self._drops.popleft()
            else:
                self._drops[0] -= take
        return rows

    def _check_sequence(self, seqs: np.ndarray) -> None:
        """Count the holes between the last sequence published and ``seqs`` (ascending)."""
        expected = int(seqs[0]) if self._next_seq is None else self._next_seq
        if int(seqs[0]) != expected or int(seqs[-1]) - int(seqs[0]) != len(seqs) - 1:
            steps = np.diff(seqs, prepend=expected - 1) - 1
            holes = steps[steps > 0]
            self.gaps += len(holes)
            self.gap_messages += int(holes.sum())
        self._next_seq = int(seqs[-1]) + 1

    def _run(self) -> None:
        try:
            pin_thread(self.config.feed_cpu)
            self._loop()
        except BaseException as error:
            self.error = error
        finally:
            self.done.set()

    def _loop(self) -> None:
        chunk = np.zeros(_CHUNK_BYTES, np.uint8)
        records = np.zeros(_CHUNK_BYTES // 21 + 64, MARKET_EVENT_DTYPE)
        words = records.view(np.int64).reshape(len(records), 8)
        multiplier = 1.0
        interval = max(1, 1_000_000_000 // self.config.rate)
        base_t0, base_count = self._t0, 0  # the pacing schedule since the last rate change
        deadline = self._t0 + int(self.config.duration_s * 1e9)
        # A writable copy: the decoder is compiled (in warm-up) for writable buffers, and a
        # read-only one would be compiled anew here, on the clock, on a cold cache.
        pending = np.frombuffer(self._sim.header(), np.uint8).copy()
        while not self.stop_flag[0] and time.monotonic_ns() < deadline:
            if pending is None:
                if self._sim.done:
                    break
                pending = chunk[: self._sim.fill(chunk)]
            begin = time.monotonic_ns()
            used, n = self._decoder.decode(pending, records)
            if n:
                metric_kernels.sample(
                    self.metrics.arrays, Stage.DECODE, (time.monotonic_ns() - begin) // n
                )
            pending = None if used >= len(pending) else pending[used:]
            self.decoded += n
            first = int(np.searchsorted(records["seq"][:n], self.skip, side="right"))
            rows = np.ascontiguousarray(words[first:n])
            start = 0
            while start < len(rows) and not self.stop_flag[0]:
                if self.rate_multiplier != multiplier:  # re-base: the next row stays due
                    base_t0 += (self.published - base_count) * interval
                    base_count = self.published
                    multiplier = float(self.rate_multiplier)
                    interval = max(1, int(1e9 / (self.config.rate * multiplier)))
                size = min(len(rows) - start, max(64, int(self.config.rate * multiplier) // 20))
                part = self._take_drops(rows[start : start + size])
                start += size
                if not len(part):
                    continue
                self._check_sequence(part[:, 0])  # word 0 of a market event: its seq
                published, refused = publish_paced(
                    *self.ring.arrays, part, len(part), base_t0, self.published - base_count,
                    interval, self.stop_flag,
                )  # fmt: skip
                self.published += int(published)
                self.refused += int(refused)
        self.quarantined = self._decoder.quarantine.total


class Session:
    """One trading session on a simulated feed (see the module docstring).

    Parameters
    ----------
    config
        Every component's settings.
    journal_dir
        Where to journal; an existing session there is recovered and continued. None: a
        temporary directory, removed when the session ends.
    """

    def __init__(self, config: RunConfig, journal_dir: str | os.PathLike[str] | None = None):
        self.config = config
        s = config.session
        self._temporary = journal_dir is None
        self.journal_dir = (
            Path(tempfile.mkdtemp(prefix="lowlat-journal-"))
            if journal_dir is None
            else Path(journal_dir)
        )
        self.lifecycle = Lifecycle()
        self.metrics = Metrics(config.control.metrics, config.control.budgets)
        self.pipeline = self._pipeline(self.lifecycle)
        self.venue = InProcessGateway(config.venue_config())
        self.journal = Journal(self.journal_dir, config.journal)
        self.loop = EngineLoop(
            self.pipeline,
            self.venue,
            block=s.block,
            metrics=self.metrics,
            journal=self.journal,
            hold_for_journal=s.hold_for_journal,
        )
        self.feed_ring = RingBus(s.feed_ring)
        self.consumer = self.feed_ring.add_consumer(policy="lossless")
        self.wall_clock = WallClock()  # the control plane's wall clock (clock-jump steps it)
        self.kill_switch = KillSwitch(
            self.lifecycle,
            self.pipeline.risk,
            lambda _orders: self.loop.request_cancel_all(),
            wall_clock=self.wall_clock,
        )
        self.sidecar = MetricsSidecar(self.metrics, self.lifecycle, config.control.sidecar)
        readiness = config.control.readiness
        if "readiness" not in config.raw.get("control", {}):
            # The engine samples INGEST on every block; DECISION only when orders leave.
            readiness = ReadinessConfig(stages=(Stage.INGEST,))
        self.warmup = WarmupController(self.lifecycle, self.metrics, readiness)
        self.degradation = DegradationController(
            self.metrics,
            SystemBreaker(self.lifecycle, config.control.system_breaker),
            lag=ring_lag(self.feed_ring, [self.consumer]),
        )
        self.exporter = MetricsExporter()
        self.exporter.add_metrics(self.metrics)
        self.exporter.add_sidecar(self.sidecar)
        self.exporter.add_lifecycle(self.lifecycle)
        self.exporter.add_ring("feed", self.feed_ring, {self.consumer: "engine"})
        self.exporter.add_ring("journal", self.journal.ring_bus(), {0: "writer"})
        self.exporter.add_engine("session", self.loop)
        self.exporter.add_breakers("instruments", self.pipeline.breakers)
        self.exporter.add_risk("pretrade", self.pipeline.risk)
        if self.pipeline.patterns is not None:
            self.exporter.add_patterns("session", self.pipeline.patterns)
        self.exporter.add_degradation(self.degradation)
        self.exporter.add_warmup(self.warmup)
        self.server = ControlServer(
            config.control.server.host,
            s.http_port,
            exporter=self.exporter,
            probes=Probes(self.lifecycle, sidecar=self.sidecar, warmup=self.warmup),
        )
        self._routes()
        self.feed: _Feed | None = None
        self.timesync = TimeSyncMonitor(
            self.wall_clock, journal=lambda event: self._journal_event(RecordType.RISK, event)
        )
        self.automation = automation.for_session(self)  # GET /actions, POST /actions/…
        self.exporter.add_timesync(self.timesync)
        self.exporter.add_automation(self.automation)
        self.exporter.add_feed(
            "sim", lambda: (0, 0) if self.feed is None else (self.feed.gaps, self.feed.gap_messages)
        )
        self.failures = FailureInjector(self)  # GET /fail, POST /fail/<scenario>
        self.snapshots = (
            PeriodicSnapshots(
                self.loop,
                self.journal,
                SnapshotStore(self.journal_dir / SNAPSHOT_DIR),
                s.snapshot_interval_s,
                metadata=self._snapshot_metadata,
            )
            if s.snapshot_interval_s > 0
            else None
        )
        if self.snapshots is not None:
            self.exporter.add_snapshots(self.snapshots)
        self.recovered: Recovered | None = None
        self._journaled_transitions = 0
        self._journaled_kill_events = 0
        self._degradation_ns = 0
        self._started_ns = 0
        self._last_status: tuple[int, dict[str, int]] | None = None
        self.recovered_events = 0
        self.frozen_objects = 0  # objects the GC no longer visits (see lowlat.control.heap)
        self._stopping = False
        self._reserved: dict[int, set[int]] = {}  # thread masks moved off the engine's CPU
        self._isolation: Isolation | None = None  # isolate = "machine": what moved off it
        self.isolation_problems: list[str] = []  # what the machine's restore could not undo
        self.cpu_noise: list[str] = []  # what may still run on the engine's CPU (survey topics)

    def _pipeline(self, lifecycle: Lifecycle) -> TradingPipeline:
        return build_pipeline(self.config, lifecycle)

    # --- control routes ------------------------------------------------------------------

    def _routes(self) -> None:
        def need(body: dict[str, Any], key: str) -> str:
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                raise RouteError(400, f"the JSON body needs a non-empty string {key!r}")
            return value

        def engage(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            return 200, operator_engage(
                self.kill_switch, by=need(body, "by"), reason=need(body, "reason")
            )

        def rearm(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            result = operator_rearm(
                self.kill_switch,
                approved_by=body.get("approved_by") or "",
                reason=body.get("reason") or "",
                target=str(body.get("target", "READY")),
            )
            return (200 if result["ok"] else 409), result

        self.server.add_route("GET", "/status", lambda _body: (200, self.status()))
        self.server.add_route(
            "GET", "/killswitch", lambda _b: (200, operator_status(self.kill_switch))
        )
        self.server.add_route("POST", "/killswitch/engage", engage)
        self.server.add_route("POST", "/killswitch/rearm", rearm)

    # --- running ---------------------------------------------------------------------------

    def run(
        self, *, on_status=None, on_start=None, duration_s: float | None = None
    ) -> SessionResult:
        """Warm up, trade for the configured duration, stop; return the summary.

        ``on_start`` is called with the session once its HTTP server listens;
        ``on_status`` with :meth:`status` every ``status_interval_s``.
        """
        s = self.config.session
        started = time.perf_counter()
        self.server.start()
        if on_start is not None:
            on_start(self)
        try:
            self.lifecycle.transition(LifecycleState.WARMUP, "session start: warming up")
            self._journal_event(
                RecordType.OPERATOR, {"action": _SESSION_START, "config": self.config.raw}
            )
            self._warm_up()
            self.recovered = self._recover()
            self.recovered_events = self.recovered.replayed_events
            halted = self._kill_switch_before_restart(self.recovered)
            if halted is not None:
                self.kill_switch.engage(f"engaged before the restart: {halted}", "recovery")
            self.loop.journal_on()
            if self.snapshots is not None:
                self.snapshots.start()
            self.sidecar.add_listener(self.warmup.observe)
            self.sidecar.add_task(self.warmup.poll)
            self.sidecar.add_task(self._observe_degradation)
            self.sidecar.add_task(self._journal_control_events)
            self.sidecar.add_task(lambda _now: self.kill_switch.poll())
            self.sidecar.add_task(self.timesync.poll)
            self.sidecar.add_task(self.automation.poll)
            self.sidecar.start()
            self.frozen_objects = freeze_heap()
            self.loop.start(
                self.feed_ring,
                self.consumer,
                wait=ENGINE_WAITS[s.engine_wait],
                cpu=s.engine_cpu,
            )
            if s.engine_cpu >= 0 and self.loop.thread_id is not None:
                # The engine's CPU is its own: every other thread here, and every one
                # started from now on (the feed's), runs on the rest.
                self._reserved = reserve_cpu(s.engine_cpu, self.loop.thread_id)
                if s.isolate == "machine":
                    # And the machine's: other processes, interrupts, kernel work queues.
                    self._isolation = isolate(
                        s.engine_cpu, spare=[os.getpid()], state_path=Path(s.isolation_state)
                    )
                # What may still run on it or interrupt it, for the operator's view.
                self.cpu_noise = [
                    f.topic for f in survey(s.engine_cpu, spare=[os.getpid()]) if not f.quiet
                ]
            self.feed = _Feed(
                replace(s, duration_s=duration_s or s.duration_s),
                self.feed_ring,
                self.metrics,
                self.recovered.last_event_seq,
            )
            self._started_ns = time.monotonic_ns()
            if self._stopping:
                self.feed.stop_flag[0] = 1
            self.feed.start(self._started_ns)
            while not self.feed.done.wait(s.status_interval_s):
                if on_status is not None:
                    on_status(self.status())
            if self.feed.error is not None:
                raise RuntimeError("the feed thread failed") from self.feed.error
        finally:
            status = self._shutdown()
        transitions = [(t.source.name, t.target.name, t.reason) for t in self.lifecycle.history[1:]]
        return SessionResult(
            time.perf_counter() - started,
            status,
            transitions,
            self.recovered_events,
            None if self._temporary else self.journal_dir,
            self.recovered,
        )

    def stop(self) -> None:
        """End the session early (the feed stops; the engine drains what was published)."""
        self._stopping = True
        if self.feed is not None:
            self.feed.stop_flag[0] = 1

    def _warm_up(self) -> None:
        """Compile (or load) every kernel and fault in the path on simulated data."""
        s = self.config.session
        life = Lifecycle()
        life.transition(LifecycleState.WARMUP, "warm-up copy")
        life.transition(LifecycleState.READY, "warm-up copy")
        sim = _simulated(s, s.seed + 1_000_003, max(s.warmup_messages, 1))
        data = np.concatenate(
            [np.frombuffer(sim.header(), np.uint8)]
            + [_fill(sim) for _ in iter(lambda: sim.done, True)]
        )
        records = np.zeros(len(data) // 21 + 64, MARKET_EVENT_DTYPE)
        _, n = ItchDecoder(LENGTH_PREFIXED).decode(data, records)
        records["recv_ns"][:n] = time.monotonic_ns()
        # What the feed thread calls from Python, with its argument types, on scratch arrays.
        metric_kernels.sample(Metrics().arrays, Stage.DECODE, 1)
        copy = EngineLoop(
            self._pipeline(life), InProcessGateway(self.config.venue_config()), block=s.block
        )
        copy.process(records[:n])
        ring = RingBus(64)
        copy.start(ring, ring.add_consumer(policy="lossless"))
        stop = np.zeros(1, np.int64)
        publish_paced(
            *ring.arrays,
            records[:32].view(np.int64).reshape(-1, 8).copy(),
            min(n, 32),
            0,
            0,
            0,
            stop,
        )
        copy.stop()
        ring.close()

    def _recover(self) -> Recovered:
        """Rebuild the path from the newest snapshot and the journal after it (journal off)."""
        store = (
            self.snapshots.store
            if self.snapshots is not None
            else SnapshotStore(self.journal_dir / SNAPSHOT_DIR)
        )
        recovered = recover_engine(self.loop, self.journal, store)
        self.loop.follow(self.lifecycle.reader)
        return recovered

    def _snapshot_metadata(self) -> dict[str, Any]:
        """Stored with each snapshot: the config, and the kill switch (a restart keeps it)."""
        engagements = [e for e in self.kill_switch.history if e.action == ENGAGE]
        return {
            "config": self.config.raw,
            "kill_switch": {
                "engaged": self.kill_switch.engaged,
                "reason": engagements[-1].reason if engagements else "",
            },
        }

    def _kill_switch_before_restart(self, recovered: Recovered) -> str | None:
        """The reason the kill switch was engaged when the journaled session ended, or None.

        The snapshot's record of it, then every kill-switch event journaled after the
        snapshot's covered sequence: the last one decides.
        """
        state = recovered.metadata.get("kill_switch", {})
        reason = state.get("reason", "") if state.get("engaged") else None
        for batch in self.journal.reader(recovered.tail_from):
            for k in np.flatnonzero(batch.types == RecordType.RISK):
                event = batch.json(int(k))
                if event.get("action") == ENGAGE:
                    reason = event.get("reason", "")
                elif event.get("action") == REARM:
                    reason = None
        return reason

    def _observe_degradation(self, now: int) -> None:
        if now - self._degradation_ns >= _DEGRADATION_EVERY_NS:
            self._degradation_ns = now
            self.degradation.observe(now)

    def _journal_event(self, rtype: RecordType, event: dict[str, Any]) -> None:
        self.journal.append_json(rtype, event)

    def _journal_control_events(self, _now: int) -> None:
        history = self.lifecycle.history
        for t in history[1 + self._journaled_transitions :]:
            self._journal_event(
                RecordType.LIFECYCLE,
                {
                    "source": t.source.name,
                    "target": t.target.name,
                    "reason": t.reason,
                    "approved_by": t.approved_by,
                    "monotonic_ns": t.monotonic_ns,
                },
            )
            self._journaled_transitions += 1
        events = self.kill_switch.history
        for event in events[self._journaled_kill_events :]:
            self._journal_event(RecordType.RISK, event.to_dict())
            self._journaled_kill_events += 1

    def _shutdown(self) -> dict[str, Any]:
        self.failures.stop()
        if self.snapshots is not None:
            self.snapshots.stop()
        if self.feed is not None and not self.feed.done.is_set():
            self.feed.stop()
        if self.loop.running:
            self.loop.stop()
        if self.lifecycle.state is not LifecycleState.STOPPED:
            self.lifecycle.transition(LifecycleState.STOPPED, "session end")
        self.sidecar.stop()
        self._journal_control_events(0)
        status = self.status()
        self.server.stop()
        self.automation.close()
        self.journal.close()
        self.feed_ring.close()
        if self._temporary:
            shutil.rmtree(self.journal_dir, ignore_errors=True)
        if self._isolation is not None:
            self.isolation_problems = restore(self._isolation)
        release_cpu(self._reserved)
        self._reserved = {}
        thaw_heap()
        return status

    # --- reading ---------------------------------------------------------------------------

    def _pattern_status(self) -> dict[str, Any] | None:
        patterns = self.pipeline.patterns
        if patterns is None:
            return None
        return {
            "observations": patterns.stats().observations,
            "fired": patterns.fired(),
        }

    def _engine_time(self) -> dict[str, int]:
        """Percentiles of the engine's own time over the last decisions (empty before one).

        The engine's share of each decision, without the wait in the feed ring (see
        ``ExecutionEngine.latency``), from the samples its ring still holds.
        """
        samples = self.pipeline.execution.latency()["engine"]
        if samples.size == 0:
            return {}
        p = np.percentile(samples, _QUANTILES)
        return {
            "count": int(samples.size),
            "p50_ns": int(p[0]),
            "p99_ns": int(p[1]),
            "p99.9_ns": int(p[2]),
        }

    def status(self) -> dict[str, Any]:
        """Lifecycle, throughput, per-stage percentiles, drops, breakers, kill switch, journal."""
        now = time.monotonic_ns()
        counters = self.loop.counters()
        rate = 0.0
        if self._last_status is not None:
            then, before = self._last_status
            if now > then:
                rate = (counters["events"] - before["events"]) * 1e9 / (now - then)
        self._last_status = (now, counters)
        stages = {}
        for stage in Stage:
            histogram = self.sidecar.histogram(stage)
            if histogram.total:
                p = histogram.percentiles(list(_QUANTILES))
                stages[stage.label] = {
                    "count": int(histogram.total),
                    "p50_ns": int(p[0]),
                    "p99_ns": int(p[1]),
                    "p99.9_ns": int(p[2]),
                    "breaches": self.metrics.breaches(stage),
                }
        breakers = {
            str(instrument): state.name
            for instrument, state in self.pipeline.breakers.states().items()
            if state.name != "NORMAL"
        }
        feed = self.feed
        ring = self.feed_ring.consumer_stats(self.consumer)
        execution = self.pipeline.execution.counters()
        journal = self.journal.stats()
        return {
            "lifecycle": self.lifecycle.state.name,
            "uptime_s": (now - self._started_ns) / 1e9 if self._started_ns else 0.0,
            "events_per_s": rate,
            "engine": {
                "strategy": self.config.session.strategy,
                "wait": self.config.session.engine_wait,
                "cpu": self.config.session.engine_cpu,
                "isolate": self.config.session.isolate,
                "isolation": self._isolation.summary() if self._isolation else None,
                "cpu_noise": list(self.cpu_noise),
                "running": self.loop.running,
                "cpu_s": self.loop.cpu_seconds(),
            },
            "counters": counters,
            "feed": {
                "decoded": feed.decoded if feed else 0,
                "published": feed.published if feed else 0,
                "refused": feed.refused if feed else 0,
                "quarantined": feed.quarantined if feed else 0,
                "lag": int(ring.lag),
                "lost": int(ring.lost),
                "dropped": feed.dropped if feed else 0,
                "gaps": feed.gaps if feed else 0,
                "gap_messages": feed.gap_messages if feed else 0,
                "rate_multiplier": feed.rate_multiplier if feed else 1.0,
            },
            "book": self.pipeline.books.integrity(),
            "venue": {**self.venue.stats(), "connected": self.venue.connected},
            "execution": {k: execution[k] for k in ("decisions", "sent", "provisional", "refused")},
            "stages": stages,
            "engine_time": self._engine_time(),
            "breakers": {
                "market_level": self.pipeline.breakers.market_level.name,
                "instruments": breakers,
            },
            "patterns": self._pattern_status(),
            "kill_switch": {"engaged": self.kill_switch.engaged},
            "journal": {
                "dir": str(self.journal_dir),
                "written_seq": journal.written_seq,
                "durable_seq": journal.durable_seq,
                "back_pressured": journal.back_pressured,
            },
            "sidecar": self.sidecar.status().to_dict(),
            "recovered_events": self.recovered_events,
            "recovered_from": None if self.recovered is None else self.recovered.snapshot,
            "snapshots": None if self.snapshots is None else self.snapshots.status(),
            "timesync": self.timesync.status(),
            "automation": self.automation.summary(),
            "failures": self.failures.status(),
        }


def _fill(sim: Simulator) -> np.ndarray:
    chunk = np.zeros(_CHUNK_BYTES, np.uint8)
    return chunk[: sim.fill(chunk)].copy()
