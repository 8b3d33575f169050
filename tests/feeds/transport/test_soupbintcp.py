import socket
import struct
import threading
import time

import numpy as np
import pytest

from lowlat.feeds.itch import TYPE_FRAMED, ItchDecoder
from lowlat.feeds.quarantine import ErrorKind
from lowlat.feeds.transport import (
    ItchSink,
    LoginRejected,
    MessageSource,
    SoupBinTcpClient,
    SoupBinTcpServer,
    SoupProtocolError,
)
from lowlat.feeds.transport.kernels import unwrap_sequenced
from tests.feeds.itch import message
from tests.feeds.transport import Collector, reference_records, vector_source

FAST = {"heartbeat_interval": 0.02}
CREDENTIALS = {"username": "trader", "password": "secret"}


def small_source(n: int = 5) -> MessageSource:
    return MessageSource([message("D", i, locate=1) for i in range(1, n + 1)])


def server(source: MessageSource, **kwargs) -> SoupBinTcpServer:
    options = {**CREDENTIALS, **FAST, "client_timeout": 2.0, **kwargs}
    return SoupBinTcpServer(source, **options)


def client(srv: SoupBinTcpServer, on_block, **kwargs) -> SoupBinTcpClient:
    options = {**CREDENTIALS, **FAST, "server_timeout": 2.0, **kwargs}
    return SoupBinTcpClient(srv.address, on_block, **options)


def wait_for(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def soup(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">H", len(payload) + 1) + kind + payload


def test_unwrap_turns_sequenced_packets_into_length_prefixed_messages():
    data = soup(b"S", b"abc") + soup(b"S", b"") + soup(b"H") + soup(b"S", b"xy")
    buf = np.frombuffer(data + soup(b"S", b"partial")[:-2], np.uint8)
    out = np.zeros(64, np.uint8)
    pos, size, count = unwrap_sequenced(buf, 0, buf.shape[0], out)
    assert (pos, count) == (9, 2)  # stops at the heartbeat
    assert out[:size].tobytes() == b"\x00\x03abc\x00\x00"
    pos, size, count = unwrap_sequenced(buf, pos + 3, buf.shape[0], out)
    assert (count, out[:size].tobytes()) == (1, b"\x00\x02xy")
    assert pos == len(data)  # the partial packet waits for more bytes
    small = np.zeros(6, np.uint8)  # room for the first message only
    assert unwrap_sequenced(buf, 0, buf.shape[0], small) == (6, 5, 1)


def test_login_accepted_gives_session_and_next_sequence():
    with server(small_source(), session="ITCH01") as srv:
        cl = client(srv, Collector(), sequence=3)
        cl.connect()
        assert cl.connected and cl.session == "ITCH01" and cl.next_seq == 3
        assert cl.run(timeout=5.0)
        assert cl.messages == 3 and cl.next_seq == 6
        assert srv.logins_accepted == 1


def test_sequence_zero_starts_a_replay_at_the_first_message():
    collector = Collector()
    with server(small_source()) as srv:
        assert client(srv, collector, sequence=0).run(timeout=5.0)
    collector.check_exactly(small_source())


def test_wrong_password_is_rejected_not_authorized():
    with server(small_source()) as srv:
        cl = client(srv, Collector(), password="wrong")
        with pytest.raises(LoginRejected, match="not authorized") as info:
            cl.run(timeout=5.0)
        assert info.value.reason == "A"
        assert not cl.connected and cl.logins == 0 and srv.logins_rejected == 1


def test_unknown_session_is_rejected_session_unavailable():
    with server(small_source(), session="TODAY") as srv:
        with pytest.raises(LoginRejected, match="session not available") as info:
            client(srv, Collector(), session="YESTERDAY").connect()
        assert info.value.reason == "S"


def test_test_vector_arrives_in_order_and_decodes_identically():
    source = vector_source()
    expected, counts = reference_records(source)
    collector, batches = Collector(), []
    sink = ItchSink(on_records=lambda records: batches.append(records.copy()))
    with server(source) as srv:
        cl = client(srv, lambda *run: (collector(*run), sink(*run)))
        assert cl.run(timeout=8.0)
    collector.check_exactly(source)
    assert cl.messages == sink.messages == sink.last_seq == len(source)
    assert sink.decoder.counts == counts and sink.decoder.quarantine.total == 0
    np.testing.assert_array_equal(np.concatenate(batches), expected)
    assert srv.messages_sent == len(source) and srv.logins_accepted == 1


def test_heartbeats_flow_both_ways_while_idle_then_logout():
    collector = Collector()
    with server(small_source(), end_of_session=False) as srv:
        cl = client(srv, collector)
        assert not cl.run(timeout=0.3)  # idle after the 5 messages, session still open
        assert cl.connected and collector.messages == 5
        assert cl.heartbeats_received >= 3 and cl.heartbeats_sent >= 3
        wait_for(lambda: srv.heartbeats_received >= 3)
        assert srv.heartbeats_sent >= cl.heartbeats_received
        cl.logout()
        assert not cl.connected
        wait_for(lambda: srv.logouts == 1)
    assert cl.reconnects == 0


def test_end_of_session_ends_the_client_cleanly():
    with server(small_source()) as srv:
        cl = client(srv, Collector())
        assert cl.run(timeout=5.0)
        assert cl.ended and not cl.connected
        assert cl.run(timeout=5.0)  # nothing more to do
        assert srv.logins_accepted == 1 and cl.reconnects == 0


def test_dropped_connections_resume_at_the_next_sequence_without_duplicates():
    source = vector_source()
    collector = Collector()
    sink = ItchSink()
    with server(source, drop_after=(len(source) // 4, len(source) // 3)) as srv:
        cl = client(srv, lambda *run: (collector(*run), sink(*run)))
        assert cl.run(timeout=8.0)
        assert srv.drops == 2 and srv.logins_accepted == 3
    assert cl.reconnects == 2 and cl.logins == 3
    collector.check_exactly(source)
    assert sink.decoder.counts == reference_records(source)[1]
    assert cl.quarantine.total == 0


def test_a_silent_server_is_timed_out_and_the_session_resumes():
    source = small_source(50)
    collector = Collector()
    with server(source, stall_after=(20,)) as srv:
        cl = client(srv, collector, server_timeout=0.2)
        assert cl.run(timeout=5.0)
    assert cl.timeouts == 1 and cl.reconnects == 1
    collector.check_exactly(source)


def test_client_gives_up_when_the_server_is_gone():
    srv = server(small_source(), end_of_session=False).start()
    cl = client(srv, Collector(), max_reconnects=2, reconnect_delay=0.01)
    cl.connect()
    srv.close()
    with pytest.raises(ConnectionError, match="gave up after 2"):
        cl.run(timeout=5.0)


class ScriptedServer:
    """One raw connection, to play a server that breaks the rules."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.peer: socket.socket | None = None

    def accept_login(self, accepted: int, *packets: bytes) -> None:
        self.peer, _ = self.listener.accept()
        assert self.peer.recv(64)[2:3] == b"L"
        answer = "S1".rjust(10) + str(accepted).rjust(20)
        self.peer.sendall(soup(b"A", answer.encode()) + b"".join(packets))

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
        self.listener.close()


@pytest.mark.parametrize(
    ("requested", "accepted", "gaps", "duplicates"), [(2, 5, 3, 0), (4, 2, 0, 2)]
)
def test_a_server_starting_elsewhere_is_counted_and_duplicates_dropped(
    requested, accepted, gaps, duplicates
):
    fake = ScriptedServer()
    collector = Collector()
    try:
        cl = SoupBinTcpClient(fake.address, collector, sequence=requested, **CREDENTIALS)
        data = [soup(b"S", bytes([i])) for i in range(accepted, 7)]
        threading.Thread(target=fake.accept_login, args=(accepted, *data, soup(b"Z"))).start()
        assert cl.run(timeout=2.0)
    finally:
        fake.close()
    first = max(requested, accepted)
    assert collector.runs[0][0] == first and cl.next_seq == 7
    assert b"".join(collector.chunks) == b"".join(b"\x00\x01" + bytes([i]) for i in range(first, 7))
    assert cl.quarantine.counts[ErrorKind.SEQUENCE_GAP] == gaps
    assert cl.quarantine.counts[ErrorKind.DUPLICATE] == duplicates


def test_unexpected_packet_types_are_protocol_errors():
    fake = ScriptedServer()
    try:
        cl = SoupBinTcpClient(fake.address, Collector(), **CREDENTIALS)
        packets = (soup(b"+", b"debug"), soup(b"Q"))
        threading.Thread(target=fake.accept_login, args=(1, *packets)).start()
        with pytest.raises(SoupProtocolError, match="'Q'"):
            cl.run(timeout=2.0)
    finally:
        cl.close()
        fake.close()


def test_message_source_reads_both_itch_framings(tmp_path):
    messages = [message("D", i, locate=1) for i in range(1, 4)] + [message("X", 9, 5)]
    prefixed = tmp_path / "prefixed.itch"
    prefixed.write_bytes(b"".join(struct.pack(">H", len(m)) + m for m in messages))
    typed = tmp_path / "typed.itch"
    typed.write_bytes(b"".join(b"\x00\x00" + m for m in messages) + b"\x00\x00D")  # cut off
    for path in (prefixed, typed):
        source = MessageSource.from_itch_file(path)
        assert [source.message(i) for i in range(1, 5)] == messages
    assert len(MessageSource.from_itch_file(typed, limit=2)) == 2
    assert source.fit(1, 0) == 1 and source.fit(2, 1000) == 3 and source.fit(5, 1000) == 0
    assert bytes(source.soup_packets(4, 1)) == soup(b"S", messages[3])
    with pytest.raises(ValueError, match="does not fit"):
        MessageSource([bytes(0xFFFF)])
    with pytest.raises(ValueError, match="length-prefixed"):
        ItchSink(ItchDecoder(TYPE_FRAMED))
