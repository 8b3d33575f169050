"""``RingBus``: creates a ring in local or shared memory and manages its consumers.

Control code. It validates arguments once, owns the memory, registers and isolates
consumers and reads statistics; the hot path calls the kernels in
:mod:`lowlat.core.ring.kernels` on :attr:`RingBus.arrays` directly.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory
from typing import NamedTuple

import numpy as np

from lowlat.core.atomics import compare_and_swap, load_acquire, store_release
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.core.ring import kernels
from lowlat.core.ring.layout import (
    C_CONSUMED,
    C_CURSOR,
    C_EMPTY_POLLS,
    C_ISOLATE,
    C_LAG_LIMIT,
    C_LAST_LOST_COUNT,
    C_LAST_LOST_FIRST,
    C_LOSS_EVENTS,
    C_LOST,
    C_MAX_LAG,
    C_POLICY,
    C_SLOW,
    C_STATE,
    C_TORN_READS,
    H_BACK_PRESSURED,
    H_CAPACITY,
    H_GATE_CACHE,
    H_ISOLATIONS,
    H_MAGIC,
    H_MASK,
    H_MAX_CONSUMERS,
    H_PUBLISH_CURSOR,
    H_SLOT_WORDS,
    H_STOP,
    H_VERSION,
    LAYOUT_VERSION,
    MAGIC,
    STAMP_EMPTY,
    ConsumerState,
    Policy,
    consumer_base,
    header_words,
)

__all__ = ["ConsumerStats", "RingArrays", "RingBus", "RingError", "RingStats"]

MAX_CONSUMERS_LIMIT = 64


class RingError(ValueError):
    """A ring was asked for something impossible: bad geometry, unknown consumer, …."""


class RingArrays(NamedTuple):
    """The three arrays the kernels take, in the order they take them."""

    header: np.ndarray
    stamps: np.ndarray
    slots: np.ndarray


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    """One consumer's counters, read without stopping anything (values may be a step stale)."""

    consumer: int
    state: ConsumerState
    policy: Policy
    cursor: int
    lag: int
    consumed: int
    lost: int
    loss_events: int
    last_lost_first: int
    last_lost_count: int
    empty_polls: int
    torn_reads: int
    lag_limit: int
    isolate: bool
    slow: bool
    max_lag: int


@dataclass(frozen=True, slots=True)
class RingStats:
    """Producer-side counters and every registered consumer's."""

    capacity: int
    published: int
    back_pressured: int
    isolations: int
    consumers: tuple[ConsumerStats, ...]


_TRACKER_LOCK = threading.Lock()


def _attach_untracked(name: str) -> shared_memory.SharedMemory:
    """Attach to a block without letting this process's resource tracker unlink it on exit.

    Before Python 3.13 every attach registers the block with the resource tracker.
    Unregistering it afterwards is no cure: the tracker keeps a *set* of names, shared by
    a process and the children it starts, so that would also drop the creator's own
    registration (and the creator's unlink then makes the tracker log a KeyError). So the
    registration is skipped instead.
    """
    if sys.version_info >= (3, 13):  # pragma: no cover - CI runs Python 3.11
        return shared_memory.SharedMemory(name=name, track=False)
    with _TRACKER_LOCK:
        register = resource_tracker.register
        resource_tracker.register = lambda name, rtype: None
        try:
            return shared_memory.SharedMemory(name=name)
        finally:
            resource_tracker.register = register


class RingBus:
    """A single-producer, multi-consumer ring of fixed-size records.

    Parameters
    ----------
    capacity
        Number of slots; a power of two, at least 2.
    record_dtype
        Structured dtype of one record; its size must be a multiple of 8 bytes.
    max_consumers
        Consumer slots reserved in the header (1 to 64).
    shared_name
        Create the ring in ``multiprocessing.shared_memory`` under this name, so that
        other processes can :meth:`attach` to it. ``None`` keeps it in local memory.

    Examples
    --------
    >>> bus = RingBus(1024)
    >>> reader = bus.add_consumer(Policy.LOSSLESS)
    """

    def __init__(
        self,
        capacity: int,
        record_dtype: np.dtype = MARKET_EVENT_DTYPE,
        *,
        max_consumers: int = 8,
        shared_name: str | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer):
            raise RingError(f"capacity must be an integer, got {capacity!r}")
        if capacity < 2 or capacity & (capacity - 1):
            raise RingError(f"capacity must be a power of two ≥ 2, got {capacity}")
        if isinstance(max_consumers, bool) or not isinstance(max_consumers, int | np.integer):
            raise RingError(f"max_consumers must be an integer, got {max_consumers!r}")
        if not 1 <= max_consumers <= MAX_CONSUMERS_LIMIT:
            raise RingError(f"max_consumers must be 1..{MAX_CONSUMERS_LIMIT}, got {max_consumers}")
        record_dtype = np.dtype(record_dtype)
        if record_dtype.itemsize == 0 or record_dtype.itemsize % 8:
            raise RingError(
                f"record size must be a multiple of 8 bytes, got {record_dtype.itemsize}"
            )
        self.record_dtype = record_dtype
        slot_words = record_dtype.itemsize // 8
        n_header = header_words(max_consumers)
        total_words = n_header + capacity + capacity * slot_words
        self._shm: shared_memory.SharedMemory | None = None
        self._owner = True
        if shared_name is None:
            memory = np.empty(total_words, dtype=np.int64)
        else:
            self._shm = shared_memory.SharedMemory(
                name=shared_name, create=True, size=total_words * 8
            )
            memory = np.ndarray((total_words,), dtype=np.int64, buffer=self._shm.buf)
        # Written, not calloc'ed: every page is faulted in now, not on the producer's first
        # lap, where each fault would stall the hot path.
        memory[:] = 0
        self._bind(memory, n_header, capacity, slot_words)
        header = self.arrays.header
        header[H_VERSION] = LAYOUT_VERSION
        header[H_CAPACITY] = capacity
        header[H_MASK] = capacity - 1
        header[H_SLOT_WORDS] = slot_words
        header[H_MAX_CONSUMERS] = max_consumers
        self.arrays.stamps[:] = STAMP_EMPTY
        store_release(header, H_MAGIC, MAGIC)

    def _bind(self, memory: np.ndarray, n_header: int, capacity: int, slot_words: int) -> None:
        header = memory[:n_header]
        stamps = memory[n_header : n_header + capacity]
        slots = memory[n_header + capacity :].reshape(capacity, slot_words)
        self.arrays = RingArrays(header, stamps, slots)
        self.records = slots.view(self.record_dtype).reshape(capacity)

    @classmethod
    def attach(cls, shared_name: str, record_dtype: np.dtype = MARKET_EVENT_DTYPE) -> RingBus:
        """Open a ring another process created with ``shared_name``.

        Raises
        ------
        RingError
            If no such block exists, or it is not a lowlat ring of this record size.
        """
        try:
            block = _attach_untracked(shared_name)
        except FileNotFoundError as exc:
            raise RingError(f"no shared ring named {shared_name!r}") from exc
        words = np.ndarray((block.size // 8,), dtype=np.int64, buffer=block.buf)
        if words.size < header_words(1) or words[H_MAGIC] != MAGIC:
            block.close()
            raise RingError(f"shared memory {shared_name!r} is not a lowlat ring")
        # Copy what the messages need: closing the block unmaps ``words``.
        version, slot_words = int(words[H_VERSION]), int(words[H_SLOT_WORDS])
        if version != LAYOUT_VERSION:
            block.close()
            raise RingError(f"ring {shared_name!r} has layout v{version}, need v{LAYOUT_VERSION}")
        record_dtype = np.dtype(record_dtype)
        if slot_words * 8 != record_dtype.itemsize:
            block.close()
            raise RingError(
                f"ring {shared_name!r} holds {slot_words * 8}-byte records, "
                f"not {record_dtype.itemsize}"
            )
        bus = cls.__new__(cls)
        bus.record_dtype = record_dtype
        bus._shm = block
        bus._owner = False
        bus._bind(
            words,
            header_words(int(words[H_MAX_CONSUMERS])),
            int(words[H_CAPACITY]),
            int(words[H_SLOT_WORDS]),
        )
        return bus

    # --- geometry --------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return int(self.arrays.header[H_CAPACITY])

    @property
    def max_consumers(self) -> int:
        """Consumer slots in the header."""
        return int(self.arrays.header[H_MAX_CONSUMERS])

    @property
    def shared_name(self) -> str | None:
        """Name of the shared-memory block, or None for a local ring."""
        return None if self._shm is None else self._shm.name

    def new_batch(self, rows: int) -> np.ndarray:
        """A record array for batch publish/poll, viewable as int64 words via ``.view``."""
        return np.zeros(rows, dtype=self.record_dtype)

    # --- consumers -------------------------------------------------------------------

    def add_consumer(
        self,
        policy: Policy | str = Policy.OVERWRITE,
        *,
        lag_limit: int | None = None,
        isolate: bool = False,
    ) -> int:
        """Register a consumer that starts at the next sequence to be published.

        Parameters
        ----------
        policy
            ``OVERWRITE`` (never holds the producer back; losses are counted) or
            ``LOSSLESS`` (the producer gets BACK_PRESSURED rather than overwrite it).
        lag_limit
            Lag above which the consumer is reported slow; default half the capacity.
        isolate
            For a lossless consumer: once its lag reaches ``lag_limit`` the producer
            detaches it, so it stops gating the producer and reads with overwrite
            semantics until :meth:`reattach`.

        Returns
        -------
        int
            The consumer's index, used by the kernels and by every other method here.
        """
        policy = self._policy(policy)
        limit = self.capacity // 2 if lag_limit is None else int(lag_limit)
        if not 1 <= limit <= self.capacity:
            raise RingError(f"lag_limit must be 1..{self.capacity}, got {lag_limit}")
        header = self.arrays.header
        for consumer in range(self.max_consumers):
            base = consumer_base(consumer)
            if header[base + C_STATE] != ConsumerState.FREE:
                continue
            header[base : base + 8] = 0
            header[base + C_LAST_LOST_FIRST] = -1
            header[base + C_POLICY] = policy
            header[base + C_LAG_LIMIT] = limit
            header[base + C_ISOLATE] = int(isolate)
            header[base + C_SLOW] = 0
            header[base + C_MAX_LAG] = 0
            store_release(header, base + C_CURSOR, load_acquire(header, H_PUBLISH_CURSOR))
            store_release(header, base + C_STATE, ConsumerState.ACTIVE)
            return consumer
        raise RingError(f"all {self.max_consumers} consumer slots are in use")

    @staticmethod
    def _policy(policy: Policy | str) -> Policy:
        if isinstance(policy, str):
            try:
                return Policy[policy.upper()]
            except KeyError:
                names = ", ".join(p.name.lower() for p in Policy)
                raise RingError(f"unknown policy {policy!r}; expected one of {names}") from None
        return Policy(policy)

    def consumers(self) -> list[int]:
        """Indices of registered (active or detached) consumers."""
        header = self.arrays.header
        return [
            c
            for c in range(self.max_consumers)
            if header[consumer_base(c) + C_STATE] != ConsumerState.FREE
        ]

    def check_consumer(self, consumer: int) -> int:
        """Return ``consumer`` if it is registered here; raise RingError naming it if not."""
        if (
            isinstance(consumer, bool)
            or not isinstance(consumer, int | np.integer)
            or not 0 <= consumer < self.max_consumers
            or self.arrays.header[consumer_base(consumer) + C_STATE] == ConsumerState.FREE
        ):
            raise RingError(
                f"unknown consumer {consumer!r}; registered consumers: {self.consumers()}"
            )
        return int(consumer)

    def detach(self, consumer: int) -> bool:
        """Isolate a consumer: it stops gating the producer. False if already detached."""
        base = consumer_base(self.check_consumer(consumer))
        return compare_and_swap(
            self.arrays.header, base + C_STATE, ConsumerState.ACTIVE, ConsumerState.DETACHED
        )

    def reattach(self, consumer: int) -> bool:
        """Make a detached consumer gate the producer again, once it has caught up.

        Refused (False) while its lag is at least half the capacity. Once reattached it
        lowers the producer's gate cache to its cursor, so that the next publish that
        would overwrite its unread events makes the producer rescan and back-pressure.
        """
        consumer = self.check_consumer(consumer)
        header = self.arrays.header
        if kernels.lag(header, consumer) >= self.capacity // 2:
            return False
        base = consumer_base(consumer)
        if not compare_and_swap(
            header, base + C_STATE, ConsumerState.DETACHED, ConsumerState.ACTIVE
        ):
            return False
        kernels.lower_gate(header, load_acquire(header, base + C_CURSOR))
        return True

    def remove_consumer(self, consumer: int) -> None:
        """Unregister a consumer; its slot may be reused by :meth:`add_consumer`."""
        base = consumer_base(self.check_consumer(consumer))
        store_release(self.arrays.header, base + C_STATE, ConsumerState.FREE)

    # --- producer and consumer conveniences (control code; hot loops use kernels) --------

    def publish(self, record: np.ndarray | np.void) -> int:
        """Publish one record; return its sequence or ``BACK_PRESSURED``. Never waits."""
        words = np.ascontiguousarray(record, dtype=self.record_dtype).reshape(1).view(np.int64)
        return int(kernels.publish(*self.arrays, words))

    def poll(
        self, consumer: int, out: np.ndarray, max_count: int | None = None
    ) -> tuple[int, int, int]:
        """Batch-poll into ``out`` (a record array); see ``kernels.poll_batch``."""
        consumer = self.check_consumer(consumer)
        if out.dtype != self.record_dtype:
            raise RingError(f"out has dtype {out.dtype}, the ring holds {self.record_dtype}")
        if out.ndim != 1 or not out.flags.c_contiguous:
            raise RingError(f"out must be a 1-d contiguous record array, got shape {out.shape}")
        limit = len(out) if max_count is None else min(max_count, len(out))
        words = out.view(np.int64).reshape(len(out), self.arrays.slots.shape[1])
        count, first, lost = kernels.poll_batch(*self.arrays, consumer, words, limit)
        return int(count), int(first), int(lost)

    def lag(self, consumer: int) -> int:
        """Events published that ``consumer`` has not read yet."""
        return int(kernels.lag(self.arrays.header, self.check_consumer(consumer)))

    def scan_slow_consumers(self) -> int:
        """Refresh every consumer's slow flag and worst lag; return how many are slow."""
        return int(kernels.scan_slow_consumers(self.arrays.header))

    def request_stop(self) -> None:
        """Set the stop flag that waiting consumers check."""
        store_release(self.arrays.header, H_STOP, 1)

    # --- statistics ------------------------------------------------------------------

    def consumer_stats(self, consumer: int) -> ConsumerStats:
        """Counters of one consumer."""
        consumer = self.check_consumer(consumer)
        h = self.arrays.header
        b = consumer_base(consumer)
        return ConsumerStats(
            consumer=consumer,
            state=ConsumerState(int(h[b + C_STATE])),
            policy=Policy(int(h[b + C_POLICY])),
            cursor=int(h[b + C_CURSOR]),
            lag=self.lag(consumer),
            consumed=int(h[b + C_CONSUMED]),
            lost=int(h[b + C_LOST]),
            loss_events=int(h[b + C_LOSS_EVENTS]),
            last_lost_first=int(h[b + C_LAST_LOST_FIRST]),
            last_lost_count=int(h[b + C_LAST_LOST_COUNT]),
            empty_polls=int(h[b + C_EMPTY_POLLS]),
            torn_reads=int(h[b + C_TORN_READS]),
            lag_limit=int(h[b + C_LAG_LIMIT]),
            isolate=bool(h[b + C_ISOLATE]),
            slow=bool(h[b + C_SLOW]),
            max_lag=int(h[b + C_MAX_LAG]),
        )

    def publish_cursor(self) -> int:
        """How many events have been published: the producer's cursor, read with acquire."""
        return int(load_acquire(self.arrays.header, H_PUBLISH_CURSOR))

    def stats(self) -> RingStats:
        """Counters of the producer and of every registered consumer."""
        h = self.arrays.header
        return RingStats(
            capacity=self.capacity,
            published=int(load_acquire(h, H_PUBLISH_CURSOR)),
            back_pressured=int(h[H_BACK_PRESSURED]),
            isolations=int(h[H_ISOLATIONS]),
            consumers=tuple(self.consumer_stats(c) for c in self.consumers()),
        )

    @property
    def gate_cache(self) -> int:
        """Producer's cached lowest gating cursor (diagnostics)."""
        return int(self.arrays.header[H_GATE_CACHE])

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Release this process's mapping; the creator also unlinks the shared block."""
        if self._shm is None:
            return
        self.arrays = RingArrays(*(np.empty(0, np.int64) for _ in range(3)))
        self.records = np.empty(0, self.record_dtype)
        self._shm.close()
        if self._owner:
            self._shm.unlink()
        self._shm = None

    def __enter__(self) -> RingBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
