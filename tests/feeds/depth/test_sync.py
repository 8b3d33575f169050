"""Sequencing rules of the Binance local book, one hand-made event at a time."""

import numpy as np
import pytest

from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds.depth import NO_ID, BookSync, DepthDecoder, DepthFeed, SyncAction
from lowlat.feeds.quarantine import ErrorKind
from tests.feeds.depth import Venue, apply_records, diff, snapshot


def recs(tag: int, n: int = 1) -> np.ndarray:
    out = np.zeros(n, MARKET_EVENT_DTYPE)
    out["seq"] = tag
    return out


@pytest.fixture
def sync():
    emitted: list[int] = []
    book = BookSync(lambda r: emitted.extend(r["seq"].tolist()))
    book.emitted = emitted
    return book


def counts(sync):
    q = sync.quarantine.counts
    return int(q[ErrorKind.STALE]), int(q[ErrorKind.DUPLICATE]), int(q[ErrorKind.SEQUENCE_GAP])


def test_diffs_are_buffered_until_a_snapshot(sync):
    assert sync.need_snapshot
    assert sync.on_diff(100, 105, NO_ID, recs(105)) == SyncAction.BUFFERED
    assert sync.on_diff(106, 110, NO_ID, recs(110)) == SyncAction.BUFFERED
    assert sync.buffered == 2 and sync.emitted == []
    assert sync.on_snapshot(103, recs(103))
    assert sync.emitted == [103, 105, 110]  # 100..105 straddles 104
    assert not sync.need_snapshot and sync.last_id == 110 and sync.buffered == 0


def test_stale_diffs_are_dropped_and_counted(sync):
    for first, final in ((90, 95), (96, 100), (101, 103)):
        sync.on_diff(first, final, NO_ID, recs(final))
    assert sync.on_snapshot(100, recs(100))
    assert sync.emitted == [100, 103]
    assert counts(sync) == (2, 0, 0)
    assert sync.on_diff(1, 50, NO_ID, recs(50)) == SyncAction.DUPLICATE


def test_stale_after_snapshot_before_first_apply(sync):
    assert sync.on_snapshot(100, recs(100))
    assert sync.on_diff(99, 100, NO_ID, recs(100)) == SyncAction.STALE
    assert sync.on_diff(101, 101, NO_ID, recs(101)) == SyncAction.APPLIED
    assert counts(sync) == (1, 0, 0)


def test_first_diff_must_straddle_the_snapshot(sync):
    sync.on_diff(105, 110, NO_ID, recs(110))
    sync.on_diff(111, 112, NO_ID, recs(112))
    assert not sync.on_snapshot(100, recs(100))  # 101..104 missing
    assert sync.need_snapshot and sync.resyncs == 1
    assert counts(sync) == (0, 0, 1)
    assert sync.buffered == 2  # kept for the next snapshot
    assert sync.on_snapshot(107, recs(107))
    assert sync.emitted == [100, 107, 110, 112]


def test_exact_straddle_edges(sync):
    sync.on_snapshot(100, recs(100))
    assert sync.on_diff(101, 101, NO_ID, recs(101)) == SyncAction.APPLIED
    sync.on_snapshot(200, recs(200))
    assert sync.on_diff(202, 205, NO_ID, recs(205)) == SyncAction.NEED_SNAPSHOT


def test_gap_after_sync_asks_for_a_snapshot(sync):
    sync.on_snapshot(100, recs(100))
    assert sync.on_diff(101, 103, NO_ID, recs(103)) == SyncAction.APPLIED
    assert sync.on_diff(104, 104, NO_ID, recs(104)) == SyncAction.APPLIED
    assert sync.on_diff(106, 107, NO_ID, recs(107)) == SyncAction.NEED_SNAPSHOT
    assert sync.need_snapshot and sync.resyncs == 1
    assert sync.on_diff(108, 109, NO_ID, recs(109)) == SyncAction.BUFFERED
    assert sync.on_snapshot(107, recs(107))
    assert sync.emitted == [100, 103, 104, 107, 109]
    assert counts(sync) == (1, 0, 1)  # 106..107 was inside the new snapshot


def test_overlapping_spot_diff_is_continuous(sync):
    sync.on_snapshot(100, recs(100))
    sync.on_diff(101, 105, NO_ID, recs(105))
    assert sync.on_diff(103, 108, NO_ID, recs(108)) == SyncAction.APPLIED


def test_duplicates_are_dropped_and_counted(sync):
    sync.on_snapshot(100, recs(100))
    sync.on_diff(101, 105, NO_ID, recs(105))
    assert sync.on_diff(101, 105, NO_ID, recs(105)) == SyncAction.DUPLICATE
    assert sync.on_diff(104, 104, NO_ID, recs(104)) == SyncAction.DUPLICATE
    assert counts(sync) == (0, 2, 0)
    assert sync.emitted == [100, 105]


def test_futures_pu_must_chain(sync):
    sync.on_diff(90, 97, 85, recs(97))  # u <= L: stale
    sync.on_diff(98, 104, 97, recs(104))  # pu <= L < u: first applied
    assert sync.on_snapshot(100, recs(100))
    assert sync.on_diff(110, 120, 104, recs(120)) == SyncAction.APPLIED  # ids jump, pu chains
    assert sync.on_diff(125, 130, 121, recs(130)) == SyncAction.NEED_SNAPSHOT
    assert sync.emitted == [100, 104, 120]
    assert counts(sync) == (1, 0, 1)


def test_futures_first_diff_must_cover_the_snapshot(sync):
    sync.on_diff(105, 110, 101, recs(110))
    assert not sync.on_snapshot(100, recs(100))


def test_buffer_limit_drops_oldest_as_stale():
    book = BookSync(lambda r: None, max_buffer=2)
    for k in range(4):
        assert book.on_diff(k, k, NO_ID, recs(k)) == SyncAction.BUFFERED
    assert book.buffered == 2 and book.quarantine.counts[ErrorKind.STALE] == 2


def test_reset_forgets_everything(sync):
    sync.on_snapshot(100, recs(100))
    sync.on_diff(300, 301, NO_ID, recs(301))
    sync.reset()
    assert sync.need_snapshot and sync.buffered == 0


def test_feed_rebuilds_the_venue_book_through_gaps():
    venue = Venue(seed=5)
    decoder = DepthDecoder({"BTCUSDT": 1})
    feed = DepthFeed(decoder.quarantine)
    raws = [venue.step() for _ in range(5)]
    raws.append(venue.snapshot())
    raws += [venue.step() for _ in range(50)]
    lost = venue.step()  # never delivered: a gap
    raws += [venue.step() for _ in range(3)]
    raws.append(venue.snapshot())
    raws += [venue.step() for _ in range(40)]
    raws.append(b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":false}')
    assert lost
    wanted = feed.process(decoder.decode(raws))
    assert wanted == [1]  # the first diffs came before any snapshot
    book = apply_records({}, feed.take())
    assert book == venue.ticks()
    assert feed.resyncs == 1
    q = decoder.quarantine.counts
    assert q[ErrorKind.SEQUENCE_GAP] == 1
    assert q[ErrorKind.STALE] == 5 + 3  # 3 diffs buffered after the gap
    assert feed.take().shape == (0,)


def test_feed_with_futures_ids_and_a_bare_snapshot():
    venue = Venue(seed=8, futures=True)
    decoder = DepthDecoder({"BTCUSDT": 1})
    feed = DepthFeed(decoder.quarantine)
    raws = [venue.snapshot()] + [venue.step() for _ in range(30)]
    assert feed.process(decoder.decode(raws)) == []
    assert apply_records({}, feed.take()) == venue.ticks()
    assert not decoder.quarantine.total


def test_unused_helpers_are_consistent():
    assert snapshot(1) == b'{"lastUpdateId":1,"bids":[],"asks":[]}'
    assert diff("X", 1, 2).startswith(b'{"e":"depthUpdate"')
