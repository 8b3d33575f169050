"""Each fsync policy's promise, checked with a file layer that loses power: after the failure
the journal recovers every record up to the durable sequence it reported, and nothing torn.

The writer is driven in the test's thread (``write_pending``), so the failure strikes at an
exact point between two group commits.
"""

import random
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowlat.journal import CorruptJournal, Journal, JournalReader, recover
from tests.journal._support import PowerLossFiles, check_batches, publish_seqs, scaled
from tests.journal.conftest import small_config

ROOT = "/journal"
POLICIES = ["none", "interval", "every_batch"]


def run_until_power_fails(files, policy, steps, seed, interval_ms=1):
    """Publish random chunks, one group commit each; return (written, durable) at the end."""
    rng = random.Random(seed)
    config = small_config(
        fsync=policy, fsync_interval_ms=interval_ms, batch_records=512, ring_capacity=512
    )
    journal = Journal(ROOT, config, files=files, start=False)
    words = np.zeros(8, np.int64)
    seq = journal.next_seq
    for _ in range(steps):
        count = rng.randint(1, 300)
        assert publish_seqs(*journal.ring(), words, seq, count, 0) == count
        journal.write_pending()
        seq += count
        if rng.random() < 0.3:
            time.sleep(interval_ms / 1000)  # let an interval pass
            journal.write_pending()
    return journal.written_seq, journal.durable_seq


@settings(
    max_examples=scaled(40, 6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    policy=st.sampled_from(POLICIES),
    steps=st.integers(1, scaled(25, 6)),
    seed=st.integers(0, 2**32),
    mode=st.sampled_from(["clean", "prefix", "pages"]),
)
def test_a_power_failure_keeps_every_record_reported_durable(policy, steps, seed, mode):
    files = PowerLossFiles()
    written, durable = run_until_power_fails(files, policy, steps, seed)
    assert durable <= written
    if policy == "every_batch":
        assert durable == written
    if policy == "none":
        assert durable == -1
    rng = None if mode == "clean" else random.Random(seed)
    files.power_failure(rng, pages=mode == "pages")
    try:
        report = recover(ROOT, files=files)
    except CorruptJournal:
        assert policy == "none" and mode != "clean"  # none promises nothing
        return
    if mode == "clean":  # exactly what was fsynced survives: the policy's loss, no more
        assert report.last_seq == durable
    assert durable <= report.last_seq <= written
    assert check_batches(JournalReader(ROOT, files=files), 0) == report.next_seq


def test_every_batch_loses_nothing_written(fake_files):
    written, durable = run_until_power_fails(fake_files, "every_batch", 10, seed=1)
    fake_files.power_failure()
    assert recover(ROOT, files=fake_files).last_seq == durable == written


def test_interval_loses_at_most_what_came_after_the_last_interval(fake_files):
    config = small_config(fsync="interval", fsync_interval_ms=1)
    journal = Journal(ROOT, config, files=fake_files, start=False)
    assert publish_seqs(*journal.ring(), np.zeros(8, np.int64), 0, 100, 0) == 100
    journal.write_pending()
    time.sleep(0.002)
    journal.write_pending()  # nothing new, but the interval is up: fsync
    assert journal.durable_seq == 99
    assert publish_seqs(*journal.ring(), np.zeros(8, np.int64), 100, 10, 0) == 10
    journal.write_pending()  # synced only if another interval has passed
    durable = journal.durable_seq
    fake_files.power_failure()
    assert recover(ROOT, files=fake_files).last_seq == durable >= 99


def test_none_loses_everything_the_os_has_not_written_back(fake_files):
    written, durable = run_until_power_fails(fake_files, "none", 5, seed=2)
    assert (durable, fake_files.syncs) == (-1, 0)
    fake_files.power_failure()
    report = recover(ROOT, files=fake_files)
    assert report.records == 0 and written > 0


@pytest.mark.parametrize("policy", POLICIES)
def test_an_explicit_sync_makes_everything_written_durable(fake_files, policy):
    journal = Journal(ROOT, small_config(fsync=policy), files=fake_files)
    count = scaled(5_000, 3_000)  # several segments
    assert publish_seqs(*journal.ring(), np.zeros(8, np.int64), 0, count, 1 << 30) == count
    assert journal.sync(timeout=30) == count - 1
    fake_files.power_failure()
    journal.close()
    report = recover(ROOT, files=fake_files)
    assert len(report.segments) >= 2
    assert report.last_seq == count - 1


def test_a_syncing_journal_makes_what_it_recovered_durable_when_it_opens(fake_files):
    run_until_power_fails(fake_files, "none", 3, seed=3)
    assert fake_files.durable == {}  # policy none synced nothing, not even the directory
    journal = Journal(ROOT, small_config(fsync="every_batch"), files=fake_files, start=False)
    assert journal.durable_seq == journal.next_seq - 1 > 0
    fake_files.power_failure()
    assert recover(ROOT, files=fake_files).next_seq == journal.next_seq
