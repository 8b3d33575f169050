import socket
import struct

import numpy as np

from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.transport import ItchSink, MessageSource, MoldUdp64Client, MoldUdp64Server
from tests.feeds.itch import message
from tests.feeds.transport import Collector, reference_records, vector_source

FAST = {"heartbeat_interval": 0.02}


def small_source(n: int = 40) -> MessageSource:
    return MessageSource([message("D", i, locate=1) for i in range(1, n + 1)])


def listen(on_block, **kwargs) -> MoldUdp64Client:
    return MoldUdp64Client(on_block, **{"request_timeout": 0.03, "max_retries": 5, **kwargs})


def serve(source, cl: MoldUdp64Client, **kwargs) -> MoldUdp64Server:
    server = MoldUdp64Server(source, cl.address, **FAST, **kwargs)
    cl.rerequest = server.rerequest_address
    return server


def test_test_vector_arrives_cleanly_and_decodes_identically():
    source = vector_source()
    expected, counts = reference_records(source)
    collector, batches = Collector(), []
    sink = ItchSink(on_records=lambda records: batches.append(records.copy()))
    cl = listen(lambda *run: (collector(*run), sink(*run)))
    with cl, serve(source, cl, packet_interval=0.0002) as server:
        assert cl.run(timeout=8.0)
    collector.check_exactly(source)
    assert sink.decoder.counts == counts and sink.decoder.quarantine.total == 0
    np.testing.assert_array_equal(np.concatenate(batches), expected)
    assert cl.messages == len(source) and cl.gaps_given_up == 0
    assert server.packets_sent > 1 and cl.ended


def test_loss_duplication_reordering_and_overlaps_are_repaired_exactly_once():
    source = vector_source()
    collector = Collector()
    faults = {"loss": 0.1, "duplicate": 0.1, "reorder": 0.1, "overlap": 0.1, "seed": 7}
    with listen(collector) as cl, serve(source, cl, packet_interval=0.0002, **faults) as server:
        assert cl.run(timeout=8.0)
    collector.check_exactly(source)
    assert server.packets_dropped and server.packets_duplicated
    assert server.packets_reordered and server.packets_overlapping
    assert cl.requests > 0 and server.requests_answered > 0
    assert cl.gaps_given_up == 0 and cl.quarantine.counts[ErrorKind.SEQUENCE_GAP] == 0
    assert cl.quarantine.counts[ErrorKind.DUPLICATE] > 0


def test_a_lost_tail_is_found_by_the_end_of_session_and_re_requested():
    source = small_source()
    collector = Collector()
    with listen(collector) as cl, serve(source, cl, max_payload=100, drop_every=1):
        assert cl.run(timeout=5.0)  # every data packet lost: only re-requests deliver
    collector.check_exactly(source)
    assert cl.requests >= 1 and cl.heartbeats >= 1


def test_unanswered_re_requests_are_retried_then_the_gap_is_reported():
    source = small_source()
    collector = Collector()
    cl = listen(collector)
    with cl, serve(source, cl, max_payload=100, drop_every=3, answer_requests=False) as server:
        assert cl.run(timeout=5.0)
    lost = cl.quarantine.counts[ErrorKind.SEQUENCE_GAP]
    assert lost > 0 and cl.gaps_given_up > 0
    assert cl.retries == cl.gaps_given_up * 5 and cl.requests == cl.gaps_given_up * 6
    assert server.requests_received == cl.requests and server.requests_answered == 0
    assert cl.messages + lost == len(source) and cl.next_seq == len(source) + 1


def test_heartbeats_keep_an_idle_session_and_join_live_with_sequence_zero():
    collector = Collector()
    cl = listen(collector, sequence=0)
    with cl, serve(MessageSource([]), cl, end_of_session=False):
        assert not cl.run(timeout=0.2)
    assert cl.heartbeats >= 3 and cl.next_seq == 1 and not cl.ended
    assert collector.runs == [] and cl.requests == 0


def test_foreign_sessions_and_short_packets_are_ignored():
    collector = Collector()
    with listen(collector, session="MINE") as cl:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            block = struct.pack(">H", 3) + b"abc"
            sender.sendto(b"OTHER".rjust(10) + struct.pack(">QH", 1, 1) + block, cl.address)
            sender.sendto(b"short", cl.address)
            sender.sendto(b"MINE".rjust(10) + struct.pack(">QH", 1, 1) + block, cl.address)
            sender.sendto(b"MINE".rjust(10) + struct.pack(">QH", 2, 0xFFFF), cl.address)
            assert cl.run(timeout=2.0)
    assert cl.foreign == 1 and cl.quarantine.counts[ErrorKind.BAD_LENGTH] == 1
    assert collector.runs == [(1, 1)] and collector.chunks == [block]


def test_old_messages_are_duplicates_or_late_after_a_gap_was_given_up():
    collector = Collector()
    session = b"S".rjust(10)

    def packet(first: int, *payloads: bytes) -> bytes:
        blocks = b"".join(struct.pack(">H", len(p)) + p for p in payloads)
        return session + struct.pack(">QH", first, len(payloads)) + blocks

    with listen(collector, max_retries=0) as cl:  # no re-request server: waits, gives up
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            sender.sendto(packet(1, b"a", b"b"), cl.address)
            sender.sendto(packet(4, b"d"), cl.address)  # 3 is missing
            assert not cl.run(timeout=0.2)
            sender.sendto(packet(2, b"b", b"c", b"d", b"e"), cl.address)  # overlaps
            sender.sendto(session + struct.pack(">QH", 6, 0xFFFF), cl.address)
            assert cl.run(timeout=2.0)
    assert [first for first, _ in collector.runs] == [1, 4, 5]
    counts = cl.quarantine.counts
    assert counts[ErrorKind.SEQUENCE_GAP] == 1 and cl.gaps_given_up == 1
    assert counts[ErrorKind.OUT_OF_ORDER] == 1 and counts[ErrorKind.DUPLICATE] == 2
