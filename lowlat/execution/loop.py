"""``EngineLoop``: the whole in-process trading path in one compiled loop, and its thread.

Control code around :mod:`lowlat.execution.loop_kernels`. It allocates every buffer the
loop writes once (:class:`LoopScratch`), and runs one compiled kernel either in the calling
thread over records it is given (:meth:`EngineLoop.process` — deterministic, for tests,
warm-up, recovery and replays) or in the engine thread, polling a feed ring until stopped
(:meth:`EngineLoop.start`, :meth:`EngineLoop.stop`). The thread spends its life inside
one nogil kernel call: it never takes the GIL while trading, so nothing the control plane
does in Python can delay it. The control plane talks to it through
:attr:`EngineLoop.control` only: the stop word, journaling on or off, the wait strategy,
pause and cancel-all requests (:meth:`EngineLoop.request_cancel_all`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from lowlat.control.config import MetricsConfig, StageBudgets
from lowlat.control.metrics import Metrics
from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.memory import byte_view, fault_in, touched
from lowlat.core.records import ACK_DTYPE, FILL_DTYPE, MARKET_EVENT_DTYPE, ORDER_DTYPE
from lowlat.core.ring import RingBus, WaitStrategy
from lowlat.core.ring import kernels as ring_kernels
from lowlat.core.ring.bus import RingArrays
from lowlat.core.ring.layout import H_CAPACITY
from lowlat.core.sched import check_cpu, pin_thread
from lowlat.execution import loop_kernels as lk
from lowlat.execution.pipeline import TradingPipeline
from lowlat.journal import ENTRY_DTYPE, Journal
from lowlat.risk.breakers import BREAKER_EVENT_DTYPE
from lowlat.signals.patterns import PATTERN_EVENT_DTYPE
from lowlat.signals.patterns.state import max_fanout
from lowlat.venue import InProcessGateway
from lowlat.venue.layout import report_capacity
from lowlat.venue.records import EXEC_REPORT_DTYPE

__all__ = ["LOOP_COUNTERS", "EngineLoop", "LoopScratch", "SnapshotBoundary"]

LOOP_COUNTERS = {
    "events": lk.L_EVENTS,
    "consumed": lk.L_CONSUMED,
    "blocks": lk.L_BLOCKS,
    "orders": lk.L_ORDERS,
    "reports": lk.L_REPORTS,
    "fills": lk.L_FILLS,
    "exec_acks": lk.L_EXEC_ACKS,
    "breaker_changes": lk.L_BREAKER_CHANGES,
    "patterns": lk.L_PATTERNS,
    "lost": lk.L_LOST,
    "stalled_routes": lk.L_STALLED_ROUTES,
    "journaled": lk.L_JOURNALED,
    "journal_refused": lk.L_JOURNAL_REFUSED,
    "journal_held": lk.L_JOURNAL_HELD,
    "cancel_all_done": lk.L_CANCEL_ALL_DONE,
    "cancels_sent": lk.L_CANCELS_SENT,
}
_WORDS = 8  # every record is 64 bytes
_CAPTURE_POLL_S = 0.0002  # a capture looks this often whether the engine has copied its state
#: Control words a snapshot restores: the counters. The rest are requests and their
#: answers, which belong to the running process.
_RESTORED_WORDS = (*LOOP_COUNTERS.values(), lk.L_LAST_EVENT_SEQ)


@dataclass(frozen=True)
class SnapshotBoundary:
    """Where a state capture was taken: after ``events`` records, the last ``last_event_seq``.

    ``mark`` is the number of its SNAPSHOT_MARK record in the journal (0: not journaled);
    ``pause_ns`` how long the engine thread stood still for the copy (0: no thread).
    """

    mark: int
    last_event_seq: int
    events: int
    pause_ns: int


def _state_arrays(prefix: str, state: object, found: dict[str, np.ndarray], seen: set[int]) -> None:
    """Every writable array reachable from ``state`` (nested named tuples), by dotted name."""
    if isinstance(state, np.ndarray):
        if state.flags.writeable and id(state) not in seen:
            seen.add(id(state))
            found[prefix] = state
    elif isinstance(state, tuple):
        names = getattr(state, "_fields", None) or [str(i) for i in range(len(state))]
        for name, value in zip(names, state, strict=True):
            _state_arrays(f"{prefix}.{name}", value, found, seen)


class LoopScratch(NamedTuple):
    """Every buffer one block writes, allocated once; ``*_words`` are int64 views of the same."""

    block: np.ndarray  # MARKET_EVENT_DTYPE: the block being processed
    block_words: np.ndarray
    patterns: np.ndarray  # PATTERN_EVENT_DTYPE: pattern events fired (handed to the strategy)
    pattern_words: np.ndarray
    intents: np.ndarray  # ORDER_DTYPE: one strategy call's intents
    outbound: np.ndarray  # ORDER_DTYPE: orders that left
    outbound_words: np.ndarray
    decision_acks: np.ndarray  # ACK_DTYPE: decisions that did not leave
    decision_ack_words: np.ndarray
    ticks: np.ndarray  # MARKET_EVENT_DTYPE TICKs: mid changes
    breaker_changes: np.ndarray  # BREAKER_EVENT_DTYPE
    breaker_words: np.ndarray
    reports: np.ndarray  # EXEC_REPORT_DTYPE: the venue's scratch
    venue_acks: np.ndarray  # ACK_DTYPE: the venue's reports
    venue_ack_words: np.ndarray
    venue_fills: np.ndarray  # FILL_DTYPE
    venue_fill_words: np.ndarray
    exec_acks: np.ndarray  # ACK_DTYPE: acks of the orders the reports moved
    state_words: np.ndarray  # int64[1, 8]: an ENGINE_STATE journal record
    # Control cells (see ``loop_kernels._sync_control_cells``), as int64 words, in the
    # order of ``loop_kernels.CONTROL_CELLS``: the path's copies, the control plane's, and
    # what they last agreed on.
    cell_engine: tuple[np.ndarray, ...]
    cell_source: tuple[np.ndarray, ...]
    cell_synced: tuple[np.ndarray, ...]
    cell_types: np.ndarray  # int64: each cell's journal type


def _records(n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    records = touched(n, dtype)  # faulted in now, not in the engine's first blocks
    return records, records.view(np.int64).reshape(n, _WORDS)


def _words(array: np.ndarray) -> np.ndarray:
    return array.view(np.int64)


def _most_journaled(s: LoopScratch) -> int:
    """Records one block can hand the journal at most, as far as its buffers bound it.

    Its records, breaker changes, pattern events, orders, decision acks, the venue's acks
    and fills for one venue batch, and a state record per record and control cell. More
    venue batches than one are possible, and refused if they find no room.
    """
    per_block = (
        s.block, s.breaker_changes, s.patterns, s.outbound, s.decision_acks,
        s.venue_acks, s.venue_fills,
    )  # fmt: skip
    records = s.block.shape[0]
    return sum(buffer.shape[0] for buffer in per_block) + records * (1 + len(s.cell_types))


def control_cells(pipeline: TradingPipeline, venue: InProcessGateway) -> tuple[np.ndarray, ...]:
    """The control plane's control cells, in the order of ``loop_kernels.CONTROL_CELLS``."""
    gateway = venue.state
    return (pipeline.risk.state.control, gateway.iparams, gateway.fparams, gateway.volatile)


def allocate_scratch(
    pipeline: TradingPipeline,
    venue: InProcessGateway,
    block: int,
    engine_cells: tuple[np.ndarray, ...],
) -> LoopScratch:
    """Buffers for blocks of ``block`` records through ``pipeline`` and ``venue``.

    ``engine_cells`` are the path's own copies of :func:`control_cells`.
    """
    intents = pipeline.strategy.max_intents
    orders = block * intents
    reports = report_capacity(venue.config) * 2
    events, event_words = _records(block, MARKET_EVENT_DTYPE)
    outbound, outbound_words = _records(orders, ORDER_DTYPE)
    decision_acks, decision_ack_words = _records(orders, ACK_DTYPE)
    changes, change_words = _records(
        block * (pipeline.breakers.config.instruments + 3), BREAKER_EVENT_DTYPE
    )
    venue_acks, venue_ack_words = _records(reports, ACK_DTYPE)
    venue_fills, venue_fill_words = _records(reports, FILL_DTYPE)
    patterns, pattern_words = _records(
        block * max_fanout(pipeline.pattern_state), PATTERN_EVENT_DTYPE
    )
    return LoopScratch(
        block=events,
        block_words=event_words,
        patterns=patterns,
        pattern_words=pattern_words,
        intents=touched(intents, ORDER_DTYPE),
        outbound=outbound,
        outbound_words=outbound_words,
        decision_acks=decision_acks,
        decision_ack_words=decision_ack_words,
        ticks=touched(block, MARKET_EVENT_DTYPE),
        breaker_changes=changes,
        breaker_words=change_words,
        reports=touched(reports, EXEC_REPORT_DTYPE),
        venue_acks=venue_acks,
        venue_ack_words=venue_ack_words,
        venue_fills=venue_fills,
        venue_fill_words=venue_fill_words,
        exec_acks=touched(reports, ACK_DTYPE),
        state_words=np.zeros((1, _WORDS), np.int64),
        cell_engine=tuple(_words(cell) for cell in engine_cells),
        cell_source=tuple(_words(cell) for cell in control_cells(pipeline, venue)),
        cell_synced=tuple(_words(cell).copy() for cell in engine_cells),
        cell_types=np.array(lk.CONTROL_CELLS, np.int64),
    )


class EngineLoop:
    """The pipeline's components and an in-process venue, driven block by block.

    Parameters
    ----------
    pipeline
        Books, signals, strategy, execution, risk and breakers (its buffers are not used).
    venue
        The in-process gateway the orders go to (its ``event`` clock: completion times are
        stamped, nothing waits).
    block
        Records per block: the most the loop polls from the ring at once. :meth:`process`
        hands the kernel a ring's worth (``block`` rounded up to a power of two) per call,
        each call costing about 0.1 ms to enter (it hands over every array of every
        component). Decisions do not depend on it.
    metrics
        Where the loop samples stage latencies (a private one when None).
    journal
        The journal whose ring (producer ``journal_producer``) receives every input and
        output, in order, once :meth:`journal_on` is called. None: nothing is journaled.
    hold_for_journal
        While journaling, poll the feed only when the journal ring has room for the most
        one block can hand it (:attr:`journal_reserve`): a writer that falls behind then
        holds the engine back, and the feed's producer is refused, instead of records
        going unjournaled. False: the engine never waits for the writer, and every
        hand-off the ring refuses is counted (``journal_refused``).
    """

    def __init__(
        self,
        pipeline: TradingPipeline,
        venue: InProcessGateway,
        *,
        block: int = 256,
        metrics: Metrics | None = None,
        journal: Journal | None = None,
        journal_producer: int = 0,
        hold_for_journal: bool = True,
    ) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1 record, got {block}")
        self.pipeline = pipeline
        self.venue = venue
        self.metrics = metrics or Metrics(MetricsConfig(), StageBudgets())
        self.journal = journal
        if journal is not None:
            self._journal_ring = journal.ring(journal_producer)
        else:  # never written: the journal word stays 0
            empty = np.zeros((2, ENTRY_DTYPE.itemsize // 8), np.int64)
            self._journal_ring = RingArrays(np.zeros(64, np.int64), np.zeros(2, np.int64), empty)
        # The path reads its own copies of the control cells, agreed with the control
        # plane's at record boundaries only (see ``loop_kernels._sync_control_cells``).
        risk_control, iparams, fparams, volatile = (
            cell.copy() for cell in control_cells(pipeline, venue)
        )
        self._gateway = venue.state._replace(iparams=iparams, fparams=fparams, volatile=volatile)
        self.scratch = allocate_scratch(
            pipeline, venue, block, (risk_control, iparams, fparams, volatile)
        )
        self.control = np.zeros(lk.LOOP_WORDS, np.int64)
        self.control[lk.L_LAST_EVENT_SEQ] = -1
        capacity = int(self._journal_ring.header[H_CAPACITY])
        self.journal_reserve = min(_most_journaled(self.scratch), capacity // 2)
        if journal is not None and hold_for_journal:
            self.control[lk.L_JOURNAL_RESERVE] = self.journal_reserve
        # What process() feeds the engine's kernel through: a block's worth of slots.
        self._inline_ring = RingBus(max(2, 1 << (block - 1).bit_length()))
        self._inline_consumer = self._inline_ring.add_consumer(policy="lossless")
        # The engine's view of the lifecycle: the path reads it, the loop copies the
        # controllers' state into it between runs (see ``loop_kernels.process_block``).
        self.source = pipeline.execution.lifecycle.reader
        self.view = self.source.copy()
        self._view_reader = self.view.view()
        self._view_reader.flags.writeable = False
        self._risk = pipeline.risk.state._replace(lifecycle=self._view_reader, control=risk_control)
        self._thread: threading.Thread | None = None
        self._processed = 0
        self._error: BaseException | None = None
        state = self.state_arrays()
        fault_in(state.values())
        # The engine thread copies its state here when paused for a snapshot.
        self._captured = {name: touched(array.shape, array.dtype) for name, array in state.items()}
        self._state_bytes = tuple(byte_view(array) for array in state.values())
        self._captured_bytes = tuple(byte_view(array) for array in self._captured.values())
        self._capture_lock = threading.Lock()  # one capture at a time uses _captured

    def _components(self) -> tuple:
        p = self.pipeline
        return (
            p.books.state, p.signals.state, p.execution.state, self._view_reader,
            self._risk, p.breakers.state, p.strategy.params, p.strategy.memory,
            p.pattern_state, p.predicates, self.venue.engine.state, self._gateway,
        )  # fmt: skip

    def _run_args(self, ring: RingBus, consumer: int) -> tuple:
        """``run_from_ring``'s arguments for polling ``ring`` as ``consumer``."""
        return (
            *ring.arrays, consumer, *self._components(), self.scratch, self.control,
            self.metrics.arrays, self._journal_ring, self.view, self.source,
            self._state_bytes, self._captured_bytes,
        )  # fmt: skip

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The live arrays that are the engine's whole state, by name.

        Books, signals, orders, risk, breakers, the strategy's memory, the simulated venue,
        the engine's lifecycle view and the loop's control words: everything a restart
        must get back. They are the arrays the compiled path writes — read them only while
        the loop stands still (:meth:`capture`).
        """
        p = self.pipeline
        found: dict[str, np.ndarray] = {}
        seen: set[int] = set()
        for name, state in (
            ("books", p.books.state), ("signals", p.signals.state),
            ("execution", p.execution.state), ("risk", self._risk),
            ("breakers", p.breakers.state), ("strategy.params", p.strategy.params),
            ("strategy.memory", p.strategy.memory), ("patterns", p.pattern_state),
            ("venue.engine", self.venue.engine.state),
            ("venue.gateway", self._gateway), ("loop.view", self.view),
            ("loop.control", self.control),
        ):  # fmt: skip
            _state_arrays(name, state, found, seen)
        return found

    def capture(self, into: dict[str, np.ndarray], timeout: float = 10.0) -> SnapshotBoundary:
        """Copy the engine's state into ``into`` (buffers shaped like :meth:`state_arrays`).

        A running engine thread, at its next block boundary, journals the boundary
        (SNAPSHOT_MARK) and copies its own state into buffers of the loop — compiled, no
        allocation; that copy is the whole pause — then trades on while it is copied into
        ``into`` here. Otherwise the boundary is journaled here. Journaling must be on for
        the mark to be journaled (see :meth:`journal_on`).

        Raises
        ------
        TimeoutError
            If a running engine thread did not pause within ``timeout`` seconds. (The
            request stays: the engine still journals a mark and copies when it gets to it.)
        """
        live = self.state_arrays()
        if into.keys() != live.keys():
            raise ValueError("the capture buffers are not shaped like state_arrays()")
        for name, array in live.items():
            target = into[name]
            if target.shape != array.shape or target.dtype != array.dtype:
                raise ValueError(f"capture buffer {name!r} is not shaped like the state")
        with self._capture_lock:
            request = int(self.control[lk.L_PAUSE]) + 1
            if not self.running:
                self.control[lk.L_PAUSE] = request
                lk.journal_mark(
                    self._journal_ring, self.control, self.scratch, lk.SNAPSHOT_MARK, request
                )
                self.control[lk.L_PAUSED] = self.control[lk.L_CAPTURED] = request
                self.control[lk.L_PAUSE_NS] = 0
                for name, array in live.items():
                    np.copyto(into[name], array)
                return self._boundary(into, request, 0)
            store_release(self.control, lk.L_PAUSE, request)
            deadline = time.monotonic() + timeout
            while load_acquire(self.control, lk.L_CAPTURED) < request:
                if not self.running or time.monotonic() > deadline:
                    raise TimeoutError(f"the engine thread did not pause within {timeout} s")
                time.sleep(_CAPTURE_POLL_S)
            # The engine runs on: its copy stays put until the next request, made here.
            for name, copy in self._captured.items():
                np.copyto(into[name], copy)
            return self._boundary(into, request, int(self.control[lk.L_PAUSE_NS]))

    def _boundary(
        self, into: dict[str, np.ndarray], request: int, pause_ns: int
    ) -> SnapshotBoundary:
        control = into["loop.control"]
        journaled = self.journal is not None and self.control[lk.L_JOURNAL] != 0
        return SnapshotBoundary(
            request if journaled else 0,
            int(control[lk.L_LAST_EVENT_SEQ]),
            int(control[lk.L_EVENTS]),
            pause_ns,
        )

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Load a captured state (a snapshot's arrays) into this loop's live arrays.

        Raises
        ------
        ValueError
            Naming the first array that is missing or differs in shape or dtype: the
            snapshot was taken with another configuration.
        """
        if self.running:
            raise RuntimeError("the engine thread is running: stop() it first")
        live = self.state_arrays()
        for name, array in live.items():
            saved = arrays.get(name)
            if saved is None:
                raise ValueError(f"the snapshot has no array {name!r}")
            if saved.shape != array.shape or saved.dtype != array.dtype:
                raise ValueError(
                    f"the snapshot's {name!r} is {saved.dtype}{list(saved.shape)}, this "
                    f"engine's is {array.dtype}{list(array.shape)}: another configuration"
                )
        for name, array in live.items():
            if name == "loop.control":
                saved = arrays[name]
                words = list(_RESTORED_WORDS)
                array[words] = saved[words]
                # Requests are numbered on from the snapshot's: a mark is known by its number.
                array[[lk.L_PAUSE, lk.L_PAUSED, lk.L_CAPTURED]] = saved[lk.L_PAUSED]
                array[lk.L_CANCEL_ALL] = saved[lk.L_CANCEL_ALL_DONE]
            else:
                np.copyto(array, arrays[name])
        self.pipeline.books.after_restore()
        for k, engine in enumerate(self.scratch.cell_engine):
            self._set_cell(k, engine)

    def follow(self, source: np.ndarray) -> None:
        """Take the lifecycle state from ``source`` (a read-only int64[1] cell) from now on.

        A replay follows a cell it sets from the journal's ENGINE_STATE records.
        """
        if source.shape != (1,) or source.dtype != np.int64 or source.flags.writeable:
            raise ValueError("the lifecycle source must be a read-only int64 array of shape (1,)")
        self.source = source

    def journal_on(self, on: bool = True) -> None:
        """Start (or stop) handing every input and output to the journal ring."""
        if on and self.journal is None:
            raise ValueError("this loop has no journal")
        store_release(self.control, lk.L_JOURNAL, int(on))

    def process(self, events: np.ndarray) -> int:
        """Run ``events`` through the loop in this thread, block by block; return orders sent.

        The events go through a private ring and the engine thread's own kernel
        (``run_from_ring``, told to stop once drained): live trading, warm-up and replay
        run one compiled path.
        """
        if events.dtype != MARKET_EVENT_DTYPE:
            raise TypeError(f"expected MARKET_EVENT_DTYPE records, got dtype {events.dtype}")
        if self.running:
            raise RuntimeError("the engine thread is running: stop() it first")
        ring, consumer = self._inline_ring, self._inline_consumer
        words = ring.arrays.slots.shape[0]
        orders = int(self.control[lk.L_ORDERS])
        store_release(self.control, lk.L_STOP, 1)  # return once the ring is drained
        try:
            for start in range(0, len(events), words):
                part = np.ascontiguousarray(events[start : start + words])
                rows = part.view(np.int64).reshape(len(part), _WORDS)
                published = ring_kernels.publish_batch(*ring.arrays, rows, len(part))
                assert published == len(part), "the private ring is drained before each part"
                args = self._run_args(ring, consumer)
                self._processed += int(self.pipeline.kernels.run_from_ring(*args))
        finally:
            store_release(self.control, lk.L_STOP, 0)
        return int(self.control[lk.L_ORDERS]) - orders

    def cancel_all(self, request: int | None = None) -> int:
        """Cancel every resting order now, in this thread; return the cancels sent.

        ``request`` numbers it (the next number by default): a replay passes the number
        the journal's CANCEL_ALL_MARK gives.
        """
        if self.running:
            raise RuntimeError("the engine thread is running: use request_cancel_all()")
        if request is None:
            request = int(self.control[lk.L_CANCEL_ALL]) + 1
        self.control[lk.L_CANCEL_ALL] = request
        lk.journal_mark(self._journal_ring, self.control, self.scratch, lk.CANCEL_ALL_MARK, request)
        self.control[lk.L_CANCEL_ALL_DONE] = request
        return int(
            lk.cancel_working(
                self.pipeline.execution.state,
                self._view_reader,
                self._risk,
                self.venue.engine.state,
                self._gateway,
                self.scratch,
                self.control,
                self.metrics.arrays,
                self._journal_ring,
            )
        )

    def replay_control(self, rtype: int, words: np.ndarray) -> None:
        """Carry out a journaled engine control record as the live engine did, in this thread.

        ``words`` is the record's payload as int64. A CANCEL_ALL_MARK cancels every
        working order; a control cell's record (RISK_CONTROL, VENUE_*: the kill switch,
        injected venue faults) sets the cell the path reads; a SNAPSHOT_MARK changes no
        state and only moves the pause numbering on, so marks this loop journals later are
        numbered after it.
        """
        if rtype == lk.CANCEL_ALL_MARK:
            self.cancel_all(int(words[0]))
        elif rtype in lk.CONTROL_CELLS:
            self._set_cell(lk.CONTROL_CELLS.index(rtype), words)
        elif rtype == lk.SNAPSHOT_MARK:
            for word in (lk.L_PAUSE, lk.L_PAUSED, lk.L_CAPTURED):
                self.control[word] = max(int(self.control[word]), int(words[0]))
        else:
            raise ValueError(f"journal type {rtype} is not an engine control record")

    def _set_cell(self, k: int, words: np.ndarray) -> None:
        """Set control cell ``k`` (the path's copy, the control plane's, agreed) to ``words``."""
        s = self.scratch
        values = np.array(words[: s.cell_synced[k].shape[0]], np.int64)
        for target in (s.cell_engine[k], s.cell_synced[k], s.cell_source[k]):
            target[:] = values

    def request_cancel_all(self) -> int:
        """Ask the running engine thread to cancel every resting order; return the request's number.

        The thread carries it out before its next poll; ``counters()["cancel_all_done"]``
        reaches the number once it has.
        """
        request = int(load_acquire(self.control, lk.L_CANCEL_ALL)) + 1
        store_release(self.control, lk.L_CANCEL_ALL, request)
        return request

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread_id(self) -> int | None:
        """The engine thread's OS thread id (for its affinity); ``None`` if not running."""
        return self._thread.native_id if self.running else None

    def cpu_seconds(self) -> float:
        """CPU time the running engine thread has used; 0.0 if it is not running.

        Beside wall time it shows how the thread idles: a busy-spinning engine uses a
        whole core whether or not events arrive.
        """
        thread = self._thread
        if thread is None or thread.ident is None or not thread.is_alive():
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))

    def start(
        self,
        ring: RingBus,
        consumer: int,
        *,
        wait: WaitStrategy = WaitStrategy.BUSY_SPIN,
        cpu: int = -1,
    ) -> None:
        """Start the engine thread polling ``ring`` as ``consumer`` (already registered).

        The engine's kernel is compiled (or loaded from the cache) first, in the calling
        thread, so the engine thread trades from its first instruction.

        Parameters
        ----------
        ring, consumer
            The feed's ring and the engine's (lossless) consumer of it.
        wait
            How the thread idles on an empty ring: busy-spin (lowest latency, a whole core),
            yield, or sleep with back-off (1 µs doubling to 1 ms: idle-friendly, slower to
            wake).
        cpu
            The CPU the thread runs on; ``-1`` leaves it to the OS.
        """
        if self.running:
            raise RuntimeError("the engine thread is already running")
        ring.check_consumer(consumer)
        wait = WaitStrategy(wait)
        check_cpu(cpu)  # here, so a bad CPU is the caller's error, not the thread's
        store_release(self.control, lk.L_WAIT, int(wait))
        store_release(self.control, lk.L_STOP, 0)
        args = self._run_args(ring, consumer)

        kernel = self.pipeline.kernels.run_from_ring
        if hasattr(kernel, "compile"):  # compiled here (or loaded): the thread starts trading
            kernel.compile(tuple(numba.typeof(arg) for arg in args))

        def engine() -> None:
            try:
                pin_thread(cpu)
                self._processed += int(kernel(*args))
            except BaseException as error:  # kept for stop() to raise in the caller's thread
                self._error = error

        self._thread = threading.Thread(target=engine, name="lowlat-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> int:
        """Ask the engine thread to stop once the ring is drained; wait; return records processed.

        Raises
        ------
        TimeoutError
            If the thread is still running after ``timeout`` seconds.
        RuntimeError
            If the engine thread died of an exception (chained).
        """
        if self._thread is None:
            return self._processed
        store_release(self.control, lk.L_STOP, 1)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the engine thread did not stop within {timeout} s")
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("the engine thread failed") from error
        return self._processed

    def counters(self) -> dict[str, int]:
        """The loop's counters (read while it runs: each value may be a block stale)."""
        return {name: int(load_acquire(self.control, i)) for name, i in LOOP_COUNTERS.items()}
