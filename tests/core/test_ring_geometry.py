"""Ring geometry and bad input: every refusal is a RingError naming the culprit, and the ring
it was asked of keeps working exactly as before."""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE, ORDER_DTYPE
from lowlat.core.ring import BACK_PRESSURED, ConsumerState, Policy, RingBus, RingError
from lowlat.core.ring.bus import MAX_CONSUMERS_LIMIT
from lowlat.core.ring.layout import H_VERSION
from tests.core._ring_support import batch_seqs, publish_seq

WIDE_DTYPE = np.dtype([("seq", "i8"), ("pad", "i8", 15)])  # 128-byte records


def _snapshot(bus: RingBus) -> tuple[bytes, bytes, bytes]:
    return tuple(a.tobytes() for a in bus.arrays)  # type: ignore[return-value]


def _assert_ring_still_works(bus: RingBus, consumer: int) -> None:
    """Publish one record and read it back, from wherever the ring was."""
    published = bus.stats().published
    assert publish_seq(bus, published) == published
    out = bus.new_batch(bus.capacity)
    count, first, lost = bus.poll(consumer, out)
    assert lost == 0
    assert first + count == published + 1
    assert batch_seqs(out, count)[-1] == published


@pytest.fixture
def busy_ring(ring_factory):
    """A ring with a lossless consumer 0 that has read 3 of 5 published records."""
    bus = ring_factory(8, max_consumers=4)
    consumer = bus.add_consumer(Policy.LOSSLESS)
    for seq in range(5):
        publish_seq(bus, seq)
    assert bus.poll(consumer, bus.new_batch(3))[0] == 3
    return bus, consumer


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [2, 4, 1024, np.int64(16), np.uint32(8)])
def test_power_of_two_capacity_is_accepted(ring_factory, capacity):
    bus = ring_factory(capacity)
    assert bus.capacity == int(capacity)
    assert bus.arrays.stamps.shape == (int(capacity),)
    assert bus.arrays.slots.shape == (int(capacity), MARKET_EVENT_DTYPE.itemsize // 8)
    assert bus.records.shape == (int(capacity),)


@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 100, 1000, -4, -1])
def test_capacity_not_a_power_of_two_at_least_two_is_refused_naming_it(capacity):
    with pytest.raises(RingError, match=rf"power of two.*got {capacity}$"):
        RingBus(capacity)


@pytest.mark.parametrize("capacity", [8.0, "8", None, True, False, [8]])
def test_capacity_that_is_not_an_integer_is_refused_naming_it(capacity):
    with pytest.raises(RingError, match=r"capacity must be an integer") as info:
        RingBus(capacity)  # type: ignore[arg-type]
    assert repr(capacity) in str(info.value)


@pytest.mark.parametrize(
    "dtype",
    [np.dtype("i4"), np.dtype([("a", "i8"), ("b", "i4")]), np.dtype("S9"), np.dtype([])],
)
def test_record_size_not_a_multiple_of_eight_is_refused_naming_it(dtype):
    with pytest.raises(RingError, match=rf"multiple of 8 bytes, got {dtype.itemsize}$"):
        RingBus(8, dtype)


@pytest.mark.parametrize("dtype", [np.dtype("i8"), np.dtype("S16"), WIDE_DTYPE, ORDER_DTYPE])
def test_record_of_any_multiple_of_eight_bytes_is_accepted(ring_factory, dtype):
    bus = ring_factory(4, dtype)
    assert bus.arrays.slots.shape == (4, dtype.itemsize // 8)
    assert bus.records.dtype == dtype


@pytest.mark.parametrize("max_consumers", [1, MAX_CONSUMERS_LIMIT])
def test_max_consumers_at_its_bounds_is_accepted(ring_factory, max_consumers):
    bus = ring_factory(4, max_consumers=max_consumers)
    assert bus.max_consumers == max_consumers
    for _ in range(max_consumers):
        bus.add_consumer()
    assert bus.consumers() == list(range(max_consumers))


@pytest.mark.parametrize("max_consumers", [0, -1, MAX_CONSUMERS_LIMIT + 1, 1000])
def test_max_consumers_out_of_bounds_is_refused_naming_it(max_consumers):
    with pytest.raises(RingError, match=rf"max_consumers must be 1\.\.64, got {max_consumers}$"):
        RingBus(8, max_consumers=max_consumers)


@pytest.mark.parametrize("max_consumers", [2.5, 2.0, "3", True, None])
def test_max_consumers_that_is_not_an_integer_is_refused_and_creates_no_block(
    shm_name, max_consumers
):
    with pytest.raises(RingError, match="max_consumers") as info:
        RingBus(8, max_consumers=max_consumers, shared_name=shm_name)  # type: ignore[arg-type]
    assert repr(max_consumers) in str(info.value)
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=shm_name)


def test_new_ring_is_empty_with_every_slot_unwritten(ring_factory):
    bus = ring_factory(16, max_consumers=3)
    stats = bus.stats()
    assert (stats.capacity, stats.published, stats.back_pressured, stats.isolations) == (
        16,
        0,
        0,
        0,
    )
    assert stats.consumers == ()
    assert bus.consumers() == []
    assert (bus.arrays.stamps == -1).all()
    assert bus.shared_name is None


def test_all_consumer_slots_in_use_is_refused(ring_factory):
    bus = ring_factory(8, max_consumers=2)
    bus.add_consumer()
    bus.add_consumer(Policy.LOSSLESS)
    with pytest.raises(RingError, match="all 2 consumer slots are in use"):
        bus.add_consumer()
    assert bus.consumers() == [0, 1]


@pytest.mark.parametrize("lag_limit", [0, -1, 9, 1000])
def test_lag_limit_outside_one_to_capacity_is_refused_naming_it(ring_factory, lag_limit):
    bus = ring_factory(8)
    with pytest.raises(RingError, match=rf"lag_limit must be 1\.\.8, got {lag_limit}$"):
        bus.add_consumer(Policy.LOSSLESS, lag_limit=lag_limit)
    assert bus.consumers() == []


def test_unknown_policy_name_is_refused_listing_the_policies(ring_factory):
    bus = ring_factory(8)
    expected = r"unknown policy 'drop'; expected one of overwrite, lossless$"
    with pytest.raises(RingError, match=expected):
        bus.add_consumer("drop")
    assert bus.consumers() == []


@pytest.mark.parametrize(("name", "policy"), [("lossless", 1), ("OVERWRITE", 0), ("Lossless", 1)])
def test_policy_may_be_given_by_name(ring_factory, name, policy):
    bus = ring_factory(8)
    consumer = bus.add_consumer(name)
    assert bus.consumer_stats(consumer).policy == Policy(policy)


# --- unknown consumers -----------------------------------------------------------------------

BAD_CONSUMERS = [3, 4, 100, -1, True, False, "0", 0.0, None]  # 2 is removed in the fixture


@pytest.fixture
def ring_with_gaps(busy_ring):
    """The busy ring with consumers 0 (lossless) and 1 registered, 2 removed, 3 never used."""
    bus, consumer = busy_ring
    assert bus.add_consumer() == 1
    assert bus.add_consumer() == 2
    bus.remove_consumer(2)
    return bus, consumer


@pytest.mark.parametrize("bad", [2, *BAD_CONSUMERS])
@pytest.mark.parametrize(
    "call",
    [
        lambda bus, c: bus.poll(c, bus.new_batch(4)),
        lambda bus, c: bus.lag(c),
        lambda bus, c: bus.detach(c),
        lambda bus, c: bus.reattach(c),
        lambda bus, c: bus.remove_consumer(c),
        lambda bus, c: bus.consumer_stats(c),
        lambda bus, c: bus.check_consumer(c),
    ],
    ids=["poll", "lag", "detach", "reattach", "remove", "stats", "check"],
)
def test_unknown_consumer_is_refused_naming_it_and_the_registered_ones(ring_with_gaps, bad, call):
    bus, consumer = ring_with_gaps
    before = _snapshot(bus)
    with pytest.raises(RingError) as info:
        call(bus, bad)
    assert str(info.value) == f"unknown consumer {bad!r}; registered consumers: [0, 1]"
    assert _snapshot(bus) == before
    _assert_ring_still_works(bus, consumer)


def test_numpy_integer_consumer_index_is_accepted(busy_ring):
    bus, consumer = busy_ring
    assert bus.check_consumer(np.int32(consumer)) == consumer
    assert bus.lag(np.int64(consumer)) == 2


# --- poll's out array ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_out",
    [
        lambda bus: np.zeros(4, ORDER_DTYPE),
        lambda bus: np.zeros((4, 8), np.int64),
        lambda bus: np.zeros(4, WIDE_DTYPE),
        lambda bus: np.zeros((2, 2), bus.record_dtype),
        lambda bus: bus.new_batch(8)[::2],
    ],
    ids=["other-record-dtype", "int64-words", "wider-dtype", "two-dimensional", "strided"],
)
def test_poll_into_an_unsuitable_out_array_is_refused_and_changes_nothing(busy_ring, make_out):
    bus, consumer = busy_ring
    out = make_out(bus)
    before = _snapshot(bus)
    untouched = out.copy()
    with pytest.raises(RingError, match="out"):
        bus.poll(consumer, out)
    assert _snapshot(bus) == before
    assert out.tobytes() == untouched.tobytes()
    _assert_ring_still_works(bus, consumer)


def test_poll_into_an_empty_out_array_reads_nothing(busy_ring):
    bus, consumer = busy_ring
    assert bus.poll(consumer, bus.new_batch(0)) == (0, 3, 0)
    assert bus.lag(consumer) == 2
    _assert_ring_still_works(bus, consumer)


# --- shared memory ---------------------------------------------------------------------------


def test_attached_ring_shares_records_and_counters_with_its_creator(ring_factory, shm_name):
    owner = ring_factory(16, max_consumers=3, shared_name=shm_name)
    consumer = owner.add_consumer(Policy.LOSSLESS)
    assert owner.shared_name == shm_name
    reader = ring_factory.attach(shm_name)
    assert (reader.capacity, reader.max_consumers, reader.shared_name) == (16, 3, shm_name)
    assert reader.consumers() == [consumer]
    for seq in range(5):
        assert publish_seq(owner, seq) == seq
    out = reader.new_batch(16)
    count, first, lost = reader.poll(consumer, out)
    assert (count, first, lost) == (5, 0, 0)
    assert batch_seqs(out, count) == [0, 1, 2, 3, 4]
    assert owner.consumer_stats(consumer).cursor == 5
    assert owner.lag(consumer) == 0


def test_closing_an_attached_ring_keeps_the_block_and_closing_the_creator_unlinks_it(
    ring_factory, shm_name
):
    owner = ring_factory(8, shared_name=shm_name)
    reader = ring_factory.attach(shm_name)
    reader.close()
    reader.close()  # idempotent
    again = ring_factory.attach(shm_name)
    assert again.capacity == 8
    again.close()
    owner.close()
    with pytest.raises(RingError, match=f"no shared ring named '{shm_name}'"):
        RingBus.attach(shm_name)


def test_attach_to_a_missing_name_is_refused_naming_it(shm_name):
    with pytest.raises(RingError, match=rf"^no shared ring named '{shm_name}'$"):
        RingBus.attach(shm_name)


@pytest.mark.parametrize("size", [8, 4096])
def test_attach_to_a_block_that_is_not_a_ring_is_refused(shm_name, size):
    block = shared_memory.SharedMemory(name=shm_name, create=True, size=size)
    try:
        block.buf[:size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
        with pytest.raises(RingError, match=rf"^shared memory '{shm_name}' is not a lowlat ring$"):
            RingBus.attach(shm_name)
    finally:
        block.close()
        block.unlink()


def test_attach_with_a_different_record_size_is_refused_naming_both(ring_factory, shm_name):
    owner = ring_factory(8, shared_name=shm_name)
    consumer = owner.add_consumer(Policy.LOSSLESS)
    publish_seq(owner, 0)
    before = _snapshot(owner)
    with pytest.raises(RingError, match=r"holds 64-byte records, not 128$"):
        RingBus.attach(shm_name, WIDE_DTYPE)
    assert _snapshot(owner) == before
    _assert_ring_still_works(owner, consumer)


def test_attach_to_a_ring_of_another_layout_version_is_refused(ring_factory, shm_name):
    owner = ring_factory(8, shared_name=shm_name)
    owner.arrays.header[H_VERSION] = 99
    with pytest.raises(RingError, match=r"layout v99, need v1"):
        RingBus.attach(shm_name)


def test_creating_a_ring_under_a_name_in_use_fails_and_leaves_that_ring_intact(
    ring_factory, shm_name
):
    owner = ring_factory(8, shared_name=shm_name)
    consumer = owner.add_consumer(Policy.LOSSLESS)
    publish_seq(owner, 0)
    before = _snapshot(owner)
    with pytest.raises((RingError, FileExistsError)):
        RingBus(8, shared_name=shm_name)
    assert _snapshot(owner) == before
    _assert_ring_still_works(owner, consumer)


def test_ring_with_another_record_dtype_round_trips_records(ring_factory):
    bus = ring_factory(4, WIDE_DTYPE, max_consumers=1)
    consumer = bus.add_consumer(Policy.LOSSLESS)
    record = np.zeros(1, WIDE_DTYPE)
    for seq in range(4):
        record["seq"] = seq
        record["pad"] = np.arange(15) + 100 * seq
        assert bus.publish(record[0]) == seq
    assert bus.publish(record[0]) == BACK_PRESSURED
    out = np.zeros(4, WIDE_DTYPE)
    assert bus.poll(consumer, out) == (4, 0, 0)
    assert out["seq"].tolist() == [0, 1, 2, 3]
    assert (out["pad"] == np.arange(15) + 100 * np.arange(4)[:, None]).all()
    assert bus.consumer_stats(consumer).state is ConsumerState.ACTIVE


def test_ring_used_as_a_context_manager_unlinks_its_block_on_exit(shm_name):
    with RingBus(8, shared_name=shm_name) as bus:
        consumer = bus.add_consumer(Policy.LOSSLESS)
        _assert_ring_still_works(bus, consumer)
        with RingBus.attach(shm_name) as reader:
            assert reader.consumers() == [consumer]
        with RingBus.attach(shm_name) as again:  # the reader's exit kept the block
            assert again.capacity == 8
    assert bus.shared_name is None
    with pytest.raises(RingError, match="no shared ring named"):
        RingBus.attach(shm_name)
    with RingBus(8) as local:
        assert local.shared_name is None
    assert local.capacity == 8  # closing a local ring keeps its memory
