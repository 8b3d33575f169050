"""SIGKILL the journal's process at random moments, over and over, and recover each time:
no record the process reported written (let alone durable) is lost, and no damaged record
is accepted.

The parent has compiled everything before it forks, so a child starts in milliseconds: it
opens (recovers) the journal, reports the sequence it continues from, then publishes test
records as fast as the writer takes them, reporting ``(written_seq, durable_seq)`` through a
pipe after every chunk. The parent kills it at a random moment — sometimes while it is
still opening — then recovers and checks every new record's content against its sequence.
SIGKILL leaves the page cache intact, so even records only written (not fsynced) survive.
"""

import os
import random
import signal
import struct
import time
import traceback

import numpy as np
import pytest

from lowlat.journal import Journal, JournalReader, recover
from tests.journal._support import check_batches, publish_seqs, scaled
from tests.journal.conftest import small_config

ITERATIONS = 100
FRESH_EVERY = scaled(25, 5)  # a new journal directory every this many kills
CHILD_RECORDS = scaled(10_000, 200)  # then the child idles until killed
CHUNK = 64
REPORT = struct.Struct("<qq")
READY = -2
POLICIES = ("every_batch", "interval", "none")


def config(policy):
    return small_config(fsync=policy, fsync_interval_ms=2, batch_records=128, ring_capacity=1024)


def child(directory, policy, out):
    """Runs in the forked process; never returns."""
    code = 0
    try:
        journal = Journal(directory, config(policy))
        seq = journal.next_seq
        os.write(out, REPORT.pack(READY, seq))
        words = np.zeros(8, np.int64)
        end = seq + CHILD_RECORDS
        while True:
            if seq < end:
                seq += publish_seqs(*journal.ring(), words, seq, min(CHUNK, end - seq), 1000)
            else:
                time.sleep(0.001)
            os.write(out, REPORT.pack(journal.written_seq, journal.durable_seq))
    except BaseException:
        traceback.print_exc()  # the parent's assertion then has the child's reason beside it
        code = 1
    finally:
        os._exit(code)


def read_reports(fd):
    data = b""
    while chunk := os.read(fd, 1 << 16):
        data += chunk
    usable = len(data) // REPORT.size * REPORT.size
    return [REPORT.unpack_from(data, i) for i in range(0, usable, REPORT.size)]


def kill_once(directory, policy, delay, wait_ready):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        child(directory, policy, write_end)
    os.close(write_end)
    if wait_ready:
        ready = os.read(read_end, REPORT.size)
        assert len(ready) == REPORT.size, "the child died before it opened the journal"
        head = [REPORT.unpack(ready)]
    else:
        head = []
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    reports = head + read_reports(read_end)
    os.close(read_end)
    return reports


def warm_up(directory):
    """Compile (or load) every kernel the child and the parent run, before any fork."""
    with Journal(directory, config("every_batch")) as journal:
        publish_seqs(*journal.ring(), np.zeros(8, np.int64), 0, 10, 1 << 30)
    check_batches(JournalReader(directory), 0)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_a_written_record(tmp_path):
    warm_up(str(tmp_path / "warm"))
    rng = random.Random(20_261_121)
    began = time.monotonic()
    torn = killed_opening = 0
    for iteration in range(ITERATIONS):
        if iteration % FRESH_EVERY == 0:
            directory = str(tmp_path / f"journal-{iteration}")
            verified = 0  # records 0 .. verified-1 were checked already
        policy = POLICIES[iteration % len(POLICIES)]
        wait_ready = rng.random() < 0.9
        reports = kill_once(directory, policy, rng.uniform(0, 0.02), wait_ready)
        written, durable = -1, -1
        if reports and reports[0][0] == READY:
            assert reports[0][1] == verified  # the child continued where recovery ended
            written, durable = reports[-1] if len(reports) > 1 else (verified - 1, -1)
        else:
            killed_opening += 1
            if not os.path.isdir(directory):  # killed before it created the directory
                assert verified == 0
                continue
        report = recover(directory)
        torn += report.truncated_bytes > 0
        assert durable <= written <= report.last_seq, (iteration, policy, written, report)
        verified = check_batches(JournalReader(directory, from_seq=verified), verified)
        assert verified == report.next_seq
    elapsed = time.monotonic() - began
    print(f"{ITERATIONS} kills in {elapsed:.1f} s; {torn} torn tails, {killed_opening} mid-open")
