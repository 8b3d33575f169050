"""Tests of feed recording (raw bytes + receive timestamps) and deterministic replay."""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import config

from lowlat.core.clock import NS_PER_SECOND
from lowlat.core.records import MARKET_EVENT_DTYPE
from lowlat.feeds import recording
from lowlat.feeds.itch import TYPE_FRAMED, ItchDecoder, kernels
from lowlat.feeds.recording import MAGIC, Recorder, Recording, RecordingError, replay
from tests.feeds.itch import TEST_VECTOR

RECORDS = [(1_000, b"first"), (2_500, b""), (2_500, bytes(range(256))), (9_000_000, b"\x00" * 40)]
HEAD_BYTES = 16  # recv_ns i64, length u32, crc u32


def write(path: Path, records: list[tuple[int, bytes]], **kwargs: object) -> Path:
    with Recorder(path, "itch50", "unit test", **kwargs) as rec:
        for recv_ns, data in records:
            rec.write(recv_ns, data)
    return path


def header(
    version: int = 1, protocol: bytes = b"fix", source: bytes = b"", magic: bytes = MAGIC
) -> bytes:
    """A header written independently of the module, with a correct CRC."""
    head = struct.pack("<6sHqHI", magic, version, 7, len(protocol), len(source))
    head += protocol + source
    return head + struct.pack("<I", zlib.crc32(head))


BODY = len(header(protocol=b"itch50", source=b"unit test"))  # first record, as :func:`write`


@pytest.mark.parametrize("name", ["feed.llrec", "feed.llrec.gz"])
def test_round_trip_keeps_bytes_timestamps_and_header(tmp_path, name):
    path = write(tmp_path / name, RECORDS)
    rec = Recording(path)
    assert (rec.protocol, rec.source) == ("itch50", "unit test")
    assert rec.compressed == name.endswith(".gz")
    assert abs(rec.started - time.time_ns()) < 60 * NS_PER_SECOND
    assert list(rec) == RECORDS
    assert (rec.records, rec.truncated_records, rec.truncated_bytes) == (len(RECORDS), 0, 0)
    assert list(rec) == RECORDS  # every iteration reads the file again


def test_gzip_by_flag_is_a_standard_gzip_file_and_plain_can_be_forced(tmp_path):
    zipped = write(tmp_path / "a.rec", RECORDS, compress=True)
    plain = write(tmp_path / "b.rec.gz", RECORDS, compress=False)
    assert gzip.decompress(zipped.read_bytes())[:6] == MAGIC
    assert plain.read_bytes()[:6] == MAGIC
    assert list(Recording(zipped)) == list(Recording(plain)) == RECORDS


def test_any_contiguous_buffer_is_recorded_as_its_bytes(tmp_path):
    words = np.arange(5, dtype=">u4")
    with Recorder(tmp_path / "r", "lobster") as rec:
        rec.write(np.int64(3), words)
        rec.write(4, memoryview(b"view"))
        rec.write(5, bytearray(b"array"))
        assert rec.records == 3
    assert list(Recording(tmp_path / "r")) == [(3, words.tobytes()), (4, b"view"), (5, b"array")]


def test_tap_records_each_block_with_the_clock_then_forwards_it(tmp_path):
    forwarded = []
    ticks = iter([10, 20])
    with Recorder(tmp_path / "t", "soupbintcp-payload") as rec:
        handler = rec.tap(
            lambda b, first, count: forwarded.append((b.tobytes(), first, count)),
            clock=lambda: next(ticks),
        )
        handler(np.frombuffer(b"\x00\x01A", np.uint8), 1, 1)
        handler(np.frombuffer(b"\x00\x01B\x00\x01C", np.uint8), 2, 2)
    assert forwarded == [(b"\x00\x01A", 1, 1), (b"\x00\x01B\x00\x01C", 2, 2)]
    assert list(Recording(tmp_path / "t")) == [(10, b"\x00\x01A"), (20, b"\x00\x01B\x00\x01C")]


def test_recorder_rejects_bad_arguments_and_writes_after_close(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="protocol"):
        Recorder(tmp_path / "x", "")
    with pytest.raises(ValueError, match="source"):
        Recorder(tmp_path / "x", "fix", "s" * (recording.MAX_SOURCE_BYTES + 1))
    rec = Recorder(tmp_path / "x", "fix")
    monkeypatch.setattr(recording, "MAX_RECORD_BYTES", 4)
    with pytest.raises(ValueError, match="exceeds"):
        rec.write(1, b"12345")
    rec.close()
    rec.close()
    rec.flush()
    with pytest.raises(ValueError, match="closed"):
        rec.write(1, b"")


def test_a_recording_is_readable_while_open_and_after_each_flush(tmp_path):
    for name in ("live", "live.gz"):
        rec = Recorder(tmp_path / name, "fix")
        assert list(Recording(tmp_path / name)) == []  # header on disk at once
        rec.write(1, b"8=FIX.4.4")
        rec.flush()
        assert list(Recording(tmp_path / name)) == [(1, b"8=FIX.4.4")]
        rec.close()


@pytest.mark.parametrize("cut", [1, HEAD_BYTES - 1, HEAD_BYTES + 1, HEAD_BYTES + 40 - 1])
def test_a_truncated_last_record_is_reported_and_ignored(tmp_path, cut):
    path = write(tmp_path / "r", RECORDS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    rec = Recording(path)
    assert list(rec) == RECORDS[:-1]
    assert (rec.records, rec.truncated_records) == (len(RECORDS) - 1, 1)
    assert rec.truncated_bytes == HEAD_BYTES + 40 - cut


def test_a_crash_while_writing_gzip_loses_only_the_unflushed_tail(tmp_path):
    path = tmp_path / "crash.gz"
    rec = Recorder(path, "itch50")
    rec.write(1, b"kept")
    rec.flush()
    flushed = path.stat().st_size
    rec.write(2, np.random.default_rng(1).bytes(20_000))  # incompressible: stored blocks
    rec.flush()
    written = path.read_bytes()
    rec.close()
    path.write_bytes(written[: (flushed + len(written)) // 2])  # no gzip trailer: a crash
    partial = Recording(path)
    assert list(partial) == [(1, b"kept")]
    assert partial.truncated_records == 1
    assert 0 < partial.truncated_bytes < HEAD_BYTES + 20_000


def test_corruption_in_the_middle_raises_with_the_record_offset(tmp_path):
    path = write(tmp_path / "r", RECORDS)
    data = path.read_bytes()
    second = BODY + HEAD_BYTES + len(RECORDS[0][1])
    for where in (second, second + 8, second + 12):  # timestamp, length bits, crc
        damaged = bytearray(data)
        damaged[where] ^= 0x01
        path.write_bytes(damaged)
        with pytest.raises(RecordingError, match=f"{path}'?, offset {second}: record CRC"):
            list(Recording(path))
    damaged = bytearray(data)
    damaged[second + 11] = 0xFF  # length > MAX_RECORD_BYTES
    path.write_bytes(damaged)
    with pytest.raises(RecordingError, match=f"offset {second}: impossible record length"):
        list(Recording(path))


def test_corruption_of_a_payload_byte_raises_and_earlier_records_were_delivered(tmp_path):
    path = write(tmp_path / "r", RECORDS)
    data = bytearray(path.read_bytes())
    third = BODY + 2 * HEAD_BYTES + len(RECORDS[0][1])
    data[third + HEAD_BYTES + 100] ^= 0x80
    path.write_bytes(data)
    got = []
    with pytest.raises(RecordingError, match=f"offset {third}: record CRC mismatch"):
        got.extend(Recording(path))
    assert got == RECORDS[:2]


def test_a_damaged_gzip_stream_raises(tmp_path):
    path = write(tmp_path / "r.gz", RECORDS)
    data = path.read_bytes()
    damaged = bytearray(data)
    damaged[len(data) - 6] ^= 0xFF  # the trailer's CRC-32 of the stream
    path.write_bytes(damaged)
    with pytest.raises(RecordingError, match="corrupt gzip stream"):
        list(Recording(path))
    path.write_bytes(data + b"junk")
    with pytest.raises(RecordingError, match="data after the end of the gzip stream"):
        list(Recording(path))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"LLREC1\x01\x00", "too short"),
        (header(magic=b"LLREC2"), "not a recording"),
        (b"\x00" * 40, "not a recording"),
        (header(version=2), "offset 6: unsupported recording version 2"),
        (header(protocol=b""), "impossible header lengths"),
        (header(source=b"\xff\xfe"), "not utf-8"),
        (header(source=b"abc")[:-6], "truncated header"),
        (header(source=b"abc")[:-1] + b"\x00", "header CRC mismatch"),
        (gzip.compress(header(version=0), mtime=0), "unsupported recording version 0"),
    ],
)
def test_a_bad_header_raises_recording_error(tmp_path, data, message):
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(RecordingError, match=message) as info:
        Recording(path)
    assert str(path) in str(info.value)


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Recording(tmp_path / "missing")


def test_a_header_only_file_has_no_records(tmp_path):
    (tmp_path / "h").write_bytes(header(source="café".encode()))
    rec = Recording(tmp_path / "h")
    assert (rec.protocol, rec.source, rec.started, list(rec)) == ("fix", "café", 7, [])


class FakeTime:
    """A monotonic clock that only ``sleep`` (and the test) advance; records each sleep."""

    def __init__(self, now: int = 5_000_000_000, oversleep: float = 1.0) -> None:
        self.now = now
        self.oversleep = oversleep  # below 1.0: wakes early, as a real sleep may
        self.sleeps: list[float] = []

    def clock(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(1, round(seconds * NS_PER_SECOND * self.oversleep))


@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_paced_replay_reproduces_the_recorded_gaps_divided_by_speed(speed):
    times = [100, 1_000_100, 3_000_100, 3_000_100, 10_000_100]
    fake = FakeTime()
    start = fake.now
    delivered = []
    n = replay(
        [(t, b"x") for t in times],
        lambda t, _: delivered.append(fake.now),
        paced=True,
        speed=speed,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert n == len(times)
    assert delivered == [start + round((t - times[0]) / speed) for t in times]
    assert len(fake.sleeps) == 3  # no sleep for the first record nor the equal timestamp


def test_paced_replay_sleeps_again_after_waking_early_and_never_before_due():
    fake = FakeTime(oversleep=0.5)
    delivered = []
    replay(
        [(0, b""), (NS_PER_SECOND, b"")],
        lambda t, _: delivered.append(fake.now),
        paced=True,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert delivered[1] - delivered[0] == NS_PER_SECOND
    assert fake.sleeps[:2] == [1.0, 0.5] and len(fake.sleeps) > 2


def test_paced_replay_does_not_drift_behind_a_slow_sink_or_a_clock_step_back():
    fake = FakeTime()
    start = fake.now
    delivered = []

    def slow_sink(recv_ns: int, _: bytes) -> None:
        delivered.append(fake.now)
        fake.now += 3_000  # each delivery takes 3 us

    times = [0, 1_000, 2_000, 1_500, 10_000]
    replay([(t, b"") for t in times], slow_sink, paced=True, clock=fake.clock, sleep=fake.sleep)
    # every record is late behind the slow sink (or stepped back): each goes at once
    assert delivered == [start, start + 3_000, start + 6_000, start + 9_000, start + 12_000]
    assert fake.sleeps == []
    # due times are absolute: the sink's delays do not push a later record back
    fake.now, delivered[:] = start, []
    replay(
        [(t, b"") for t in [0, 1_000, 50_000]],
        slow_sink,
        paced=True,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert delivered == [start, start + 3_000, start + 50_000]


def test_unpaced_replay_never_sleeps_and_delivers_everything_in_order(tmp_path):
    path = write(tmp_path / "r", RECORDS)
    got = []
    fake = FakeTime()
    assert replay(
        Recording(path), lambda *r: got.append(r), clock=fake.clock, sleep=fake.sleep
    ) == len(RECORDS)
    assert got == RECORDS and fake.sleeps == []


@pytest.mark.parametrize("speed", [0.0, -1.0, float("inf"), float("nan")])
def test_replay_rejects_an_impossible_speed(speed):
    with pytest.raises(ValueError, match="speed"):
        replay([], print, paced=True, speed=speed)


class ItchStream:
    """A replay sink decoding type-framed ITCH chunks, carrying a message split across two."""

    def __init__(self) -> None:
        self.decoder = ItchDecoder(TYPE_FRAMED)
        self.out = np.empty(1 << 12, MARKET_EVENT_DTYPE)
        self.batches: list[np.ndarray] = []
        self.pending = b""

    def __call__(self, recv_ns: int, payload: bytes) -> None:
        self._decode(self.pending + payload, final=False)

    def _decode(self, data: bytes, final: bool) -> None:
        buf = np.frombuffer(data, np.uint8)
        pos = 0
        while True:
            pos, n = self.decoder.decode(buf, self.out, pos=pos, final=final)
            self.batches.append(self.out[:n].copy())
            if n < self.out.shape[0]:
                break
        self.decoder.state[kernels.ST_BASE] += pos
        self.pending = data[pos:]

    def finish(self) -> np.ndarray:
        self._decode(self.pending, final=True)
        return np.concatenate(self.batches)


def test_replay_through_the_itch_decoder_is_deterministic(tmp_path):
    # interpreted, the decoder is slow: the first 40 kB exercise the same paths
    data = TEST_VECTOR.read_bytes()[: 40_000 if config.DISABLE_JIT else None]
    rng = np.random.default_rng(2024)
    path = tmp_path / "itch.llrec.gz"
    with Recorder(path, "itch50", f"{TEST_VECTOR.name} in random chunks") as rec:
        pos, now = 0, 10**12
        while pos < len(data):
            size = int(rng.integers(1, 3_000))
            now += int(rng.integers(0, 50_000))
            rec.write(now, data[pos : pos + size])
            pos += size
    runs = []
    for paced in (False, False, True):
        sink = ItchStream()
        fake = FakeTime()
        replay(Recording(path), sink, paced=paced, speed=1e3, clock=fake.clock, sleep=fake.sleep)
        runs.append((sink.finish().tobytes(), sink.decoder.counts))
    whole = np.empty(len(data), MARKET_EVENT_DTYPE)
    reference = ItchDecoder(TYPE_FRAMED)
    _, n = reference.decode(np.frombuffer(data, np.uint8), whole)
    assert n > 500  # the decoder saw real traffic
    assert runs[0] == runs[1] == runs[2] == (whole[:n].tobytes(), reference.counts)


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), st.binary(max_size=300)), max_size=30
    ),
    compress=st.booleans(),
)
def test_any_records_round_trip(tmp_path_factory, records, compress):
    path = tmp_path_factory.mktemp("hyp") / "r"
    write(path, records, compress=compress)
    rec = Recording(path)
    assert list(rec) == records
    assert (rec.records, rec.truncated_records) == (len(records), 0)
