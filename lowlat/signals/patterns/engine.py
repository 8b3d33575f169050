"""Pattern engines: in-process (``PatternEngine``) and one thread per group (``PatternGroups``).

Control code. Both build their :class:`~lowlat.signals.patterns.state.PatternState` once
and call the compiled kernels; on the same stream they detect the same events (their
``detect_ns`` aside). ``PatternGroups`` runs each group's ``kernels.run_group`` in its
own thread — the kernel releases the GIL, so groups run in parallel on separate cores —
each reading the input ring with its own consumer and publishing pattern events into its
own output ring, which readers poll while the group runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lowlat.core.atomics import store_release
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import Policy, RingBus, RingError, WaitStrategy
from lowlat.core.sched import pin_thread
from lowlat.signals.patterns import kernels
from lowlat.signals.patterns.config import PatternConfig
from lowlat.signals.patterns.events import PATTERN_EVENT_DTYPE
from lowlat.signals.patterns.predicates import PredicateTable
from lowlat.signals.patterns.state import PatternState, build_state, max_fanout

__all__ = ["PatternEngine", "PatternGroups", "PatternStats"]

_WORDS = MARKET_EVENT_DTYPE.itemsize // 8
_POLL_NS = 1_000_000  # an idle group re-checks its stop flag at least this often


@dataclass(frozen=True, slots=True)
class PatternStats:
    """Counters of one group (or, for ``PatternEngine``, of all groups together).

    ``emitted`` pattern events were delivered; ``dropped`` were detected but found the
    output full. ``lost`` input events were overwritten in the ring before the group read
    them (only with the overwrite policy).
    """

    group: str
    observations: int
    ignored: int
    foreign: int
    emitted: int
    dropped: int
    time_regressions: int
    window_overflows: int
    lost: int

    @classmethod
    def from_counters(cls, group: str, counters: np.ndarray) -> PatternStats:
        """Read a state's counter array (a copy is taken first: it may be changing)."""
        values = dict(zip(kernels.COUNTER_NAMES, (int(v) for v in counters.copy()), strict=True))
        detected = values.pop("detected")
        return cls(group=group, emitted=detected - values["dropped"], **values)


def _check_records(events: np.ndarray) -> np.ndarray:
    if not isinstance(events, np.ndarray) or events.dtype != MARKET_EVENT_DTYPE:
        dtype = getattr(events, "dtype", type(events).__name__)
        raise TypeError(f"events must be a MARKET_EVENT_DTYPE array, got {dtype}")
    if events.ndim != 1:
        raise TypeError(f"events must be 1-d, got shape {events.shape}")
    return np.ascontiguousarray(events)


class PatternEngine:
    """Evaluate every group's patterns in this thread: feed record arrays, get events back.

    Parameters
    ----------
    config
        Groups and patterns.
    predicates
        ``name: fn`` for the predicate patterns (or use :meth:`register_predicate`).
    out_capacity
        Pattern events one kernel call can return (at least the most one observation can
        fire); input is fed in chunks small enough that it never overflows.
    """

    def __init__(
        self,
        config: PatternConfig,
        *,
        predicates: Mapping[str, Callable[..., float]] | None = None,
        out_capacity: int = 1 << 16,
    ) -> None:
        if out_capacity < 1:
            raise ValueError(f"out_capacity must be >= 1, got {out_capacity}")
        self.config = config
        self._predicates = PredicateTable(config)
        self._predicates.update(predicates or {})
        self._state = build_state(config, range(len(config.groups)), self._predicates.index)
        fanout = max_fanout(self._state)
        self._out = np.zeros(max(out_capacity, fanout), dtype=PATTERN_EVENT_DTYPE)
        self._chunk = len(self._out) // fanout
        # Compile (or load from the cache) now, not on the first feed.
        kernels.on_events(
            np.zeros(0, MARKET_EVENT_DTYPE),
            0,
            self._state,
            self._predicates.placeholder(),
            self._out,
        )

    def register_predicate(self, name: str, fn: Callable[..., float]) -> None:
        """Register the compiled predicate ``name`` (see ``predicates.predicate``)."""
        self._predicates.register(name, fn)

    @property
    def state(self) -> PatternState:
        """The kernel state: read it for diagnostics; a compiled path may run it (below)."""
        return self._state

    def predicates(self) -> tuple[Any, ...]:
        """The predicates tuple the kernels take with :attr:`state` (``never`` first).

        For a compiled path that evaluates the patterns itself (the trading pipeline).

        Raises
        ------
        PatternConfigError
            If a predicate pattern's function was not registered.
        """
        return self._predicates.resolve()

    def feed(self, events: np.ndarray) -> np.ndarray:
        """Evaluate ``events`` (``MARKET_EVENT_DTYPE``, in order); return the pattern events.

        Events come in the order of their triggers, then of pattern id. State carries over
        from one call to the next, so a stream may be fed in pieces.

        Raises
        ------
        PatternConfigError
            If a predicate pattern's function was not registered.
        """
        events = _check_records(events)
        functions = self.predicates()
        parts = [np.zeros(0, dtype=PATTERN_EVENT_DTYPE)]
        for start in range(0, len(events), self._chunk):
            block = events[start : start + self._chunk]
            emitted = kernels.on_events(block, len(block), self._state, functions, self._out)
            parts.append(self._out[:emitted].copy())
        return np.concatenate(parts)

    def stats(self) -> PatternStats:
        """Counters over all groups."""
        return PatternStats.from_counters("all", self._state.counters)

    def fired(self) -> dict[str, int]:
        """How many times each pattern fired, by name, in config order."""
        counts = self._state.pat_fired.copy()
        fired = dict.fromkeys((pattern.name for pattern in self.config.patterns), 0)
        names = list(fired)
        for local, pattern_id in enumerate(self._state.pat_id):
            fired[names[pattern_id]] = int(counts[local])
        return fired


@dataclass
class _Group:
    """One group's state, buffers, input consumer and output ring."""

    name: str
    cpu: int  # the group thread's CPU (-1: any)
    state: PatternState
    consumer: int
    inputs: np.ndarray  # batch of MARKET_EVENT records
    outputs: np.ndarray  # pattern events one batch can produce
    ring: RingBus  # of PATTERN_EVENT records
    collector: int  # consumer of ``ring`` read by ``events()``, -1 if none


class PatternGroups:
    """One thread per group, each consuming ``ring`` and evaluating its group's patterns.

    Each group registers its own consumer on ``ring`` (at the next sequence to be
    published, so create this before the producer starts) and publishes its pattern
    events into its own output ring (``outputs[g]``); add consumers there before
    :meth:`start`, or read everything through :meth:`events`.

    Parameters
    ----------
    config
        Groups and patterns.
    ring
        A ``RingBus`` of ``MARKET_EVENT_DTYPE`` records.
    predicates
        ``name: fn`` for the predicate patterns (or :meth:`register_predicate`).
    policy
        Policy of the input consumers: ``LOSSLESS`` (default) back-pressures the producer
        rather than let a group miss events; ``OVERWRITE`` counts them as lost.
    wait
        How an idle group waits for input (``WaitStrategy``); ``YIELD`` shares the core.
    batch
        Records per poll.
    output_capacity
        Slots of each output ring (power of two). A publish a lossless output consumer
        refuses is dropped and counted, never waited for.
    collect
        Register the lossless output consumer that :meth:`events` reads.
    """

    def __init__(
        self,
        config: PatternConfig,
        ring: RingBus,
        *,
        predicates: Mapping[str, Callable[..., float]] | None = None,
        policy: Policy | str = Policy.LOSSLESS,
        wait: WaitStrategy = WaitStrategy.YIELD,
        batch: int = 64,
        output_capacity: int = 1 << 16,
        collect: bool = True,
    ) -> None:
        if ring.record_dtype != MARKET_EVENT_DTYPE:
            raise RingError(f"the input ring holds {ring.record_dtype}, not MARKET_EVENT_DTYPE")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.config = config
        self._ring = ring
        self._wait = int(WaitStrategy(wait))
        self._predicates = PredicateTable(config)
        self._predicates.update(predicates or {})
        self._control = np.zeros(8, dtype=np.int64)
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._groups: list[_Group] = []
        try:
            for g, group in enumerate(config.groups):
                state = build_state(config, [g], self._predicates.index)
                out_ring = RingBus(output_capacity, PATTERN_EVENT_DTYPE)
                collector = out_ring.add_consumer(Policy.LOSSLESS) if collect else -1
                self._groups.append(
                    _Group(
                        name=group.name,
                        cpu=group.cpu,
                        state=state,
                        consumer=ring.add_consumer(policy),
                        inputs=np.zeros(batch, dtype=MARKET_EVENT_DTYPE),
                        outputs=np.zeros(batch * max_fanout(state), dtype=PATTERN_EVENT_DTYPE),
                        ring=out_ring,
                        collector=collector,
                    )
                )
        except BaseException:
            self._release()
            raise

    def register_predicate(self, name: str, fn: Callable[..., float]) -> None:
        """Register the compiled predicate ``name``; only before :meth:`start`."""
        if self._threads:
            raise RuntimeError("register predicates before start()")
        self._predicates.register(name, fn)

    @property
    def outputs(self) -> tuple[RingBus, ...]:
        """Each group's output ring of ``PATTERN_EVENT_DTYPE`` records, in config order."""
        return tuple(group.ring for group in self._groups)

    @property
    def running(self) -> bool:
        """True while any group's thread runs (a stop flag may have ended them all)."""
        return any(thread.is_alive() for thread in self._threads)

    def _args(self, group: _Group, functions: tuple[Any, ...]) -> tuple[Any, ...]:
        return (
            *self._ring.arrays,
            group.consumer,
            group.inputs.view(np.int64).reshape(len(group.inputs), _WORDS),
            group.inputs,
            group.state,
            functions,
            group.outputs,
            group.outputs.view(np.int64).reshape(len(group.outputs), _WORDS),
            *group.ring.arrays,
        )

    def warm_up(self) -> None:
        """Compile the group loop (or load it from the cache) without consuming anything."""
        functions = self._predicates.resolve()
        idle = RingBus(2)
        consumer = idle.add_consumer()
        args = list(self._args(self._groups[0], functions))
        args[:4] = [*idle.arrays, consumer]
        stopped = np.ones(8, dtype=np.int64)
        kernels.run_group(*args, stopped, self._wait, _POLL_NS)

    def start(self) -> PatternGroups:
        """Compile, then start one thread per group; returns self.

        Raises
        ------
        PatternConfigError
            If a predicate pattern's function was not registered.
        """
        if self._threads:
            raise RuntimeError("pattern groups already started: stop() them first")
        self.warm_up()
        functions = self._predicates.resolve()
        store_release(self._control, kernels.STOP, 0)
        self._errors.clear()
        for group in self._groups:
            args = (*self._args(group, functions), self._control, self._wait, _POLL_NS)
            thread = threading.Thread(
                target=self._run,
                args=(group.cpu, *args),
                name=f"patterns-{group.name}",
                daemon=True,
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, cpu: int, *args: Any) -> None:
        try:
            pin_thread(cpu)
            kernels.run_group(*args)
        except BaseException as exc:  # interpreted kernels only: compiled ones cannot raise
            self._errors.append(exc)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every group after it has read what was published up to now; wait for them.

        Raises
        ------
        RuntimeError
            If a group did not stop within ``timeout`` seconds, or a group failed.
        """
        store_release(self._control, kernels.STOP, 1)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            self._threads = threads
            raise RuntimeError(f"pattern groups did not stop within {timeout} s: {stuck}")
        if self._errors:
            raise RuntimeError(f"a pattern group failed: {self._errors[0]!r}") from self._errors[0]

    def events(self) -> np.ndarray:
        """Every pattern event published since the last call, by trigger seq then pattern id.

        Safe while the groups run (each output ring is read through its own consumer).

        Raises
        ------
        RuntimeError
            If the groups were created with ``collect=False``.
        """
        parts = [np.zeros(0, dtype=PATTERN_EVENT_DTYPE)]
        for group in self._groups:
            if group.collector < 0:
                raise RuntimeError("created with collect=False: read the output rings instead")
            buffer = group.ring.new_batch(1024)
            while True:
                count, _, _ = group.ring.poll(group.collector, buffer)
                if count == 0:
                    break
                parts.append(buffer[:count].copy())
        merged = np.concatenate(parts)
        return merged[np.lexsort((merged["pattern"], merged["trigger_seq"]))]

    def stats(self) -> tuple[PatternStats, ...]:
        """Counters of each group, in config order (values may be a step stale while running)."""
        return tuple(PatternStats.from_counters(g.name, g.state.counters) for g in self._groups)

    def _release(self) -> None:
        for group in self._groups:
            self._ring.remove_consumer(group.consumer)
            group.ring.close()
        self._groups = []

    def close(self) -> None:
        """Stop if running, unregister the input consumers and release the output rings."""
        if self._threads:
            self.stop()
        self._release()

    def __enter__(self) -> PatternGroups:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
