"""The TCP gateway over real loopback sockets: framing, every fault mode, reconnects."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from lowlat.core.records import ACK_DTYPE, ORDER_DTYPE
from lowlat.venue import (
    FaultModel,
    GatewayDisconnected,
    InProcessGateway,
    LatencyModel,
    ProtocolError,
    Reason,
    TcpGatewayClient,
    TcpGatewayServer,
    VenueConfig,
)
from lowlat.venue.gateway import FRAME_ACKS, FRAME_ORDERS, HEADER, encode_frame
from tests.venue.conftest import NEW, REJECTED, requests
from tests.venue.test_gateway import stream

FIXED = 200_000  # 0.2 ms


def config(**faults: object) -> VenueConfig:
    return VenueConfig(
        instruments=(1, 2),
        orders=4096,
        latency=LatencyModel(fixed_ns=FIXED),
        faults=FaultModel(**faults),
    )


@pytest.fixture
def serve() -> Iterator:
    """Start servers (closed after the test): ``serve(config, clock=...)``."""
    servers: list[TcpGatewayServer] = []

    def start(venue: VenueConfig, clock: str = "realtime") -> TcpGatewayServer:
        server = TcpGatewayServer(venue, clock=clock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def stamped(orders: np.ndarray) -> np.ndarray:
    """The orders with decision_ns = now, as a strategy would stamp them."""
    out = orders.copy()
    out["decision_ns"] = time.monotonic_ns()
    return out


def test_replies_over_tcp_are_byte_identical_to_the_in_process_gateway(serve):
    venue = config(drop_ack_rate=0.1, reject_rate=0.1, delay_rate=0.3, delay_ns=5_000, seed=3)
    server = serve(venue, clock="event")
    local = InProcessGateway(venue)
    orders = stream(300)
    with TcpGatewayClient(server.address) as client:
        for first in range(0, 300, 60):
            batch = orders[first : first + 60]
            remote, expected = client.submit(batch), local.submit(batch)
            assert remote.acks.tobytes() == expected.acks.tobytes()
            assert remote.fills.tobytes() == expected.fills.tobytes()
            assert remote.last_seq == expected.last_seq
    assert len(expected.fills) > 0


def test_realtime_replies_arrive_after_their_completion_which_is_after_the_latency(serve):
    server = serve(config(delay_rate=1.0, delay_ns=300_000, service_ns=100_000))
    with TcpGatewayClient(server.address) as client:
        for i in range(5):
            batch = stamped(stream(5)[i : i + 1])
            replies = client.submit(batch)
            received = time.monotonic_ns()
            own = replies.acks[replies.acks["status"] == NEW]
            assert own["completion_ns"][0] - batch["decision_ns"][0] >= FIXED + 300_000 + 100_000
            assert received >= replies.acks["completion_ns"].max()


def test_injected_rejects_reach_the_client_as_rejected_acks(serve):
    server = serve(config(reject_rate=1.0))
    with TcpGatewayClient(server.address) as client:
        replies = client.submit(stamped(stream(3)))
    assert list(replies.acks["status"]) == [REJECTED] * 3
    assert set(replies.acks["reason"]) == {Reason.VENUE_REJECT}
    assert server.gateway.engine.book(1).bids == [] and server.gateway.engine.book(1).asks == []


def test_the_client_counts_exactly_the_acks_the_venue_dropped(serve):
    server = serve(config(drop_ack_rate=0.25, seed=11))
    orders = stream(120)
    with TcpGatewayClient(server.address) as client:
        for first in range(0, 120, 20):
            client.submit(stamped(orders[first : first + 20]))
        dropped = server.gateway.stats()["dropped_acks"]
        assert dropped > 0
        assert client.sequence.missing == dropped
        assert client.sequence.received == server.gateway.stats()["acks"]


def test_a_dropped_connection_is_noticed_and_reconnected_and_no_batch_runs_twice(serve):
    server = serve(config(disconnect_after=3))
    orders = stream(10)
    seen = []
    with TcpGatewayClient(server.address) as client:
        for i in range(10):
            replies = client.submit(stamped(orders[i : i + 1]))
            seen.extend(replies.acks["client_order_id"][replies.acks["status"] == NEW])
        assert client.disconnects == 3
        assert client.connects == 4
        assert client.resent_batches == 3
    assert seen == list(range(1, 11))
    assert server.dropped_connections == 3
    assert server.gateway.stats()["orders"] == 10
    assert server.gateway.engine.counters()["requests"] == 10


@pytest.mark.parametrize(
    "frame",
    [
        HEADER.pack(0, 9, 0, 0),  # unknown type
        HEADER.pack(10, FRAME_ORDERS, 0, 0) + bytes(10),  # not whole records
        encode_frame(FRAME_ACKS, np.zeros(1, ORDER_DTYPE)),  # a reply type from the client
    ],
    ids=["type", "length", "direction"],
)
def test_a_broken_frame_is_counted_and_the_connection_closed(serve, frame):
    server = serve(config(), clock="event")
    with socket.create_connection(server.address, timeout=5) as raw:
        raw.sendall(frame)
        # closed with bytes of ours unread, the close is a reset
        with contextlib.suppress(ConnectionResetError):
            assert raw.recv(64) == b""
    assert server.protocol_errors == 1
    with TcpGatewayClient(server.address) as client:  # the server goes on serving
        assert len(client.submit(stream(1)).acks) == 1


def test_the_client_gives_up_when_no_server_answers():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        address = placeholder.getsockname()[:2]
    with (
        TcpGatewayClient(address, retries=2, timeout=0.5) as client,
        pytest.raises(GatewayDisconnected, match="in 2 attempts"),
    ):
        client.submit(stream(1))
    assert (client.connects, client.disconnects) == (0, 0)


def test_a_reply_timeout_is_an_error_and_the_batch_is_not_sent_again(serve):
    slow = VenueConfig(latency=LatencyModel(fixed_ns=400_000_000))
    server = serve(slow)
    with (
        TcpGatewayClient(server.address, timeout=0.1) as client,
        pytest.raises(GatewayDisconnected, match="no reply within"),
    ):
        client.submit(requests(*stream(1)))
    server.close()
    assert server.gateway.stats()["orders"] == 1


def fake_server(reply: bytes) -> tuple[socket.socket, threading.Thread]:
    """A server that reads one ORDERS frame, sends ``reply`` and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            length = HEADER.unpack(conn.recv(HEADER.size, socket.MSG_WAITALL))[0]
            conn.recv(length, socket.MSG_WAITALL)
            conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (
            encode_frame(FRAME_ACKS, np.zeros(2, ACK_DTYPE)),
            GatewayDisconnected,
            "middle of replies",
        ),
        (encode_frame(FRAME_ORDERS, np.zeros(1, ORDER_DTYPE)), ProtocolError, "frame type 1"),
    ],
    ids=["cut-off", "wrong-type"],
)
def test_the_client_reports_a_server_that_breaks_off_or_sends_nonsense(reply, error, message):
    listener, thread = fake_server(reply)
    with listener, TcpGatewayClient(listener.getsockname()[:2], retries=1) as client:
        with pytest.raises(error, match=message):
            client.submit(stream(1))
        thread.join()


def test_a_server_used_as_a_context_manager_stops_with_a_client_still_connected():
    with TcpGatewayServer(config(), clock="event") as server:
        client = TcpGatewayClient(server.address)
        client.submit(stream(1))
    assert not server._thread.is_alive()
    with pytest.raises(GatewayDisconnected):
        client.submit(stream(2)[1:])
    client.close()
