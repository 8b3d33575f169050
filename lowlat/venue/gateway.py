"""Gateways to the simulated venue: in-process, and TCP on loopback.

Both take ``ORDER_DTYPE`` requests and return ``ACK_DTYPE`` and ``FILL_DTYPE`` records
through :func:`lowlat.venue.gateway_kernels.route`, which applies the latency and fault
models of the :class:`VenueConfig` (see that module for what each record holds).

Clocks
    ``"event"``: completion times are stamped from each request's ``decision_ns`` and
    nothing waits — deterministic, for tests and replays. ``"realtime"``: requests start
    when they are handled (``CLOCK_MONOTONIC``) and a batch's replies are released no
    earlier than its latest completion time.

Sessions
    A connection carries ``faults.disconnect_after`` requests (0: no limit); the venue drops
    it after replying to the batch that reaches the count. In process, :meth:`submit` then
    raises :class:`GatewayDisconnected` until :meth:`InProcessGateway.reconnect`; over TCP
    the server closes the socket and :class:`TcpGatewayClient` reconnects on its own.

TCP framing
    Every frame is a 16-byte header — payload bytes (u32), frame type (u16), reserved
    (u16), sequence (i64), little-endian — and a payload of whole 64-byte records of one
    type: ``ORDERS`` (client → server), ``ACKS``, ``FILLS``, then ``END`` with an empty
    payload and the venue's last report sequence, which ends the replies to one
    ``ORDERS`` frame. A frame over :data:`MAX_FRAME_RECORDS` records, of an unknown type or
    not a whole number of records is a protocol error: the server counts it and closes the
    connection.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import NamedTuple

import numpy as np

from lowlat.core.atomics import load_acquire, store_release
from lowlat.core.records import ACK_DTYPE, FILL_DTYPE, ORDER_DTYPE, RECORD_BYTES
from lowlat.venue.config import VenueConfig
from lowlat.venue.engine import MatchingEngine
from lowlat.venue.gateway_kernels import route
from lowlat.venue.layout import (
    GATEWAY_FIELDS,
    W_DUE_NS,
    W_LAST_SEQ,
    GatewayState,
    allocate_gateway,
    report_capacity,
)
from lowlat.venue.records import EXEC_REPORT_DTYPE

__all__ = [
    "CLOCKS",
    "FRAME_ACKS",
    "FRAME_END",
    "FRAME_FILLS",
    "FRAME_ORDERS",
    "HEADER",
    "MAX_FRAME_RECORDS",
    "AckSequence",
    "GatewayDisconnected",
    "InProcessGateway",
    "ProtocolError",
    "Replies",
    "TcpGatewayClient",
    "TcpGatewayServer",
    "encode_frame",
]

CLOCKS = ("event", "realtime")
HEADER = struct.Struct("<IHHq")
FRAME_ORDERS = 1
FRAME_ACKS = 2
FRAME_FILLS = 3
FRAME_END = 4
MAX_FRAME_RECORDS = 1 << 16
_POLL_SECONDS = 0.05  # how often blocked server reads look at the stop flag
_SEND_SECONDS = 5.0  # how long the server waits for a client to take its replies


class GatewayDisconnected(ConnectionError):
    """The venue dropped the session; in process, call ``reconnect()`` to go on."""


class ProtocolError(ValueError):
    """A frame that breaks the gateway's framing."""


class Replies(NamedTuple):
    """What the venue sent back for a batch of requests."""

    acks: np.ndarray  # ACK_DTYPE, in report-sequence order
    fills: np.ndarray  # FILL_DTYPE
    last_seq: int  # the venue's last report sequence, delivered or not


class AckSequence:
    """The receiving side of the report sequence: counts acks that never arrived.

    The venue numbers reports 1, 2, 3, … and tells, with each batch, the last number it
    issued; every number up to it that no ack carried is missing.
    """

    def __init__(self) -> None:
        self.received = 0
        self.missing = 0
        self.last_seq = 0

    def observe(self, replies: Replies) -> int:
        """Account for one batch's acks; return how many of its acks are missing."""
        seqs = replies.acks["seq"]
        fresh = seqs[seqs > self.last_seq]
        if len(fresh) != len(seqs) or np.any(np.diff(seqs) <= 0):
            raise ProtocolError("ack sequence numbers repeat or go backwards")
        if len(seqs) and seqs[-1] > replies.last_seq:
            raise ProtocolError(f"ack seq {seqs[-1]} beyond the venue's last {replies.last_seq}")
        missing = replies.last_seq - self.last_seq - len(seqs)
        self.received += len(seqs)
        self.missing += missing
        self.last_seq = replies.last_seq
        return missing


class InProcessGateway:
    """The venue behind a function call: requests in, acks and fills out.

    Parameters
    ----------
    config
        Instruments, sizes, self-trade prevention, latency and fault models.
    clock
        ``"event"`` (stamp, never wait) or ``"realtime"`` (see the module docstring).
    """

    def __init__(self, config: VenueConfig | None = None, *, clock: str = "event") -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
        self.config = config or VenueConfig()
        self.clock = clock
        self.engine = MatchingEngine(self.config)
        self.state: GatewayState = allocate_gateway(self.config, clock == "realtime")
        capacity = report_capacity(self.config)
        self._reports = np.zeros(capacity, EXEC_REPORT_DTYPE)
        self._acks = np.zeros(capacity, ACK_DTYPE)
        self._fills = np.zeros(capacity, FILL_DTYPE)
        self.connected = True
        self.disconnects = 0
        self._session_orders = 0

    def submit(self, requests: np.ndarray) -> Replies:
        """Route a batch of ``ORDER_DTYPE`` requests; return their acks and fills.

        Raises
        ------
        GatewayDisconnected
            If the venue dropped the session (after ``faults.disconnect_after`` requests).
        """
        if not self.connected:
            raise GatewayDisconnected("the venue dropped this session; reconnect() first")
        if requests.dtype != ORDER_DTYPE:
            raise TypeError(f"expected ORDER_DTYPE requests, got dtype {requests.dtype}")
        acks, fills = [], []
        start, stop = 0, len(requests)
        while start < stop:
            start, n_acks, n_fills = route(
                self.engine.state, self.state, requests, start, stop,
                self._reports, self._acks, self._fills,
            )  # fmt: skip
            acks.append(self._acks[:n_acks].copy())
            fills.append(self._fills[:n_fills].copy())
        if self.clock == "realtime":
            _wait_until(int(self.state.counters[W_DUE_NS]))
        self._session_orders += stop
        limit = self.config.faults.disconnect_after
        if limit and self._session_orders >= limit:
            self.connected = False
            self.disconnects += 1
        return Replies(
            np.concatenate(acks) if acks else np.zeros(0, ACK_DTYPE),
            np.concatenate(fills) if fills else np.zeros(0, FILL_DTYPE),
            int(self.state.counters[W_LAST_SEQ]),
        )

    def reconnect(self) -> None:
        """Start a new session after the venue dropped the last one."""
        self.connected = True
        self._session_orders = 0

    @property
    def volatile(self) -> bool:
        """Whether the volatility flag (latency spikes) is raised."""
        return bool(load_acquire(self.state.volatile, 0))

    def set_volatile(self, raised: bool) -> None:
        """Raise or lower the volatility flag; the next request routed sees it."""
        store_release(self.state.volatile, 0, int(raised))

    def stats(self) -> dict[str, int]:
        """Gateway counters (requests, acks, fills, injected faults, …) and disconnects."""
        counts = {name: int(self.state.counters[i]) for i, name in enumerate(GATEWAY_FIELDS)}
        counts["disconnects"] = self.disconnects
        return counts


def _wait_until(deadline_ns: int) -> None:
    """Sleep until CLOCK_MONOTONIC reaches ``deadline_ns`` (returns at once if it has)."""
    remaining = deadline_ns - time.monotonic_ns()
    while remaining > 0:
        time.sleep(remaining / 1e9)
        remaining = deadline_ns - time.monotonic_ns()


# ---------------------------------------------------------------- framing


def encode_frame(kind: int, records: np.ndarray | None = None, seq: int = 0) -> bytes:
    """One frame: header and the records' bytes (none for END)."""
    payload = b"" if records is None else records.tobytes()
    return HEADER.pack(len(payload), kind, 0, seq) + payload


def _encode_replies(replies: Replies) -> bytes:
    """ACKS and FILLS frames (at most MAX_FRAME_RECORDS records each), then END."""
    parts = []
    for kind, records in ((FRAME_ACKS, replies.acks), (FRAME_FILLS, replies.fills)):
        for first in range(0, len(records), MAX_FRAME_RECORDS):
            parts.append(encode_frame(kind, records[first : first + MAX_FRAME_RECORDS]))
    parts.append(encode_frame(FRAME_END, seq=replies.last_seq))
    return b"".join(parts)


def _check_header(length: int, kind: int) -> None:
    if kind not in (FRAME_ORDERS, FRAME_ACKS, FRAME_FILLS, FRAME_END):
        raise ProtocolError(f"unknown frame type {kind}")
    if length % RECORD_BYTES or length > MAX_FRAME_RECORDS * RECORD_BYTES:
        raise ProtocolError(
            f"frame payload of {length} bytes is not 0..{MAX_FRAME_RECORDS} whole records"
        )


class _Closed(ConnectionError):
    """The peer closed the connection (or the server is stopping)."""


def _read_exact(sock: socket.socket, size: int, stop: threading.Event | None = None) -> bytes:
    """Read exactly ``size`` bytes; on a timeout keep waiting unless ``stop`` is set."""
    chunks = []
    while size:
        try:
            chunk = sock.recv(size)
        except TimeoutError:
            if stop is None or stop.is_set():
                raise
            continue
        if not chunk:
            raise _Closed("connection closed by the peer")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket, stop: threading.Event | None = None) -> tuple[int, int, bytes]:
    """One frame as ``(type, seq, payload)``."""
    length, kind, _, seq = HEADER.unpack(_read_exact(sock, HEADER.size, stop))
    _check_header(length, kind)
    return kind, seq, _read_exact(sock, length, stop)


# ---------------------------------------------------------------- TCP server


class TcpGatewayServer:
    """The venue on a loopback TCP port: one connection at a time, each a session.

    Parameters
    ----------
    config
        The venue; its fault model's ``disconnect_after`` drops connections.
    host, port
        Where to listen (port 0: any free port; see :attr:`address`).
    clock
        ``"realtime"`` (replies released at their completion time) or ``"event"``.
    """

    def __init__(
        self,
        config: VenueConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: str = "realtime",
    ) -> None:
        self.gateway = InProcessGateway(config, clock=clock)
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(_POLL_SECONDS)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="venue-gateway", daemon=True)
        self.connections = 0
        self.dropped_connections = 0  # by the fault model
        self.protocol_errors = 0
        self.batches = 0

    def start(self) -> TcpGatewayServer:
        """Start accepting connections in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the connection and the listening socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._listener.close()

    def __enter__(self) -> TcpGatewayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.gateway.reconnect()
            with conn:
                conn.settimeout(_POLL_SECONDS)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        """Answer ORDERS frames until the peer leaves, breaks the protocol or is dropped."""
        try:
            while not self._stop.is_set():
                kind, _, payload = _read_frame(conn, self._stop)
                if kind != FRAME_ORDERS:
                    raise ProtocolError(f"a client sent frame type {kind}")
                replies = self.gateway.submit(np.frombuffer(payload, ORDER_DTYPE).copy())
                self.batches += 1
                conn.settimeout(_SEND_SECONDS)
                conn.sendall(_encode_replies(replies))
                conn.settimeout(_POLL_SECONDS)
                if not self.gateway.connected:
                    self.dropped_connections += 1
                    return
        except ProtocolError:
            self.protocol_errors += 1
        except (OSError, _Closed):
            return  # the client left (or the server is stopping)


# ---------------------------------------------------------------- TCP client


class TcpGatewayClient:
    """Sends batches of requests to a :class:`TcpGatewayServer` and reads the replies.

    A batch that got no reply because the connection was gone is sent again on a new
    connection (the server drops connections only between batches, so it was not
    executed); losing the connection in the middle of a batch's replies raises
    :class:`GatewayDisconnected`. Missing acks are counted from the report sequence
    (:attr:`sequence`).

    Parameters
    ----------
    address
        The server's ``(host, port)``.
    timeout
        Seconds to wait for a connection or a reply.
    retries
        Connection attempts per batch before giving up.
    """

    def __init__(
        self, address: tuple[str, int], *, timeout: float = 5.0, retries: int = 20
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self.sequence = AckSequence()
        self.connects = 0
        self.disconnects = 0  # connections found dead
        self.resent_batches = 0
        self._sock: socket.socket | None = None
        self._batches = 0

    def __enter__(self) -> TcpGatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next batch opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connects += 1
        return self._sock

    def _lost(self) -> None:
        if self._sock is not None:
            self.disconnects += 1
        self.close()

    def submit(self, requests: np.ndarray) -> Replies:
        """Send one batch and return its replies, reconnecting if the venue dropped us.

        Raises
        ------
        GatewayDisconnected
            If no connection carried the batch within ``retries`` attempts, one broke in
            the middle of its replies, or no reply came within ``timeout`` (the batch
            may have executed, so it is not sent again).
        """
        if requests.dtype != ORDER_DTYPE:
            raise TypeError(f"expected ORDER_DTYPE requests, got dtype {requests.dtype}")
        self._batches += 1
        frame = encode_frame(FRAME_ORDERS, requests, self._batches)
        for attempt in range(self.retries):
            if attempt:
                self.resent_batches += 1
            try:
                sock = self._connect()
                sock.sendall(frame)
                kind, seq, payload = _read_frame(sock)
            except TimeoutError as error:
                # The batch may have executed: sending it again could execute it twice.
                self._lost()
                raise GatewayDisconnected(f"no reply within {self.timeout} s") from error
            except (OSError, _Closed):
                self._lost()
                continue
            replies = self._read_replies(sock, kind, seq, payload)
            self.sequence.observe(replies)
            return replies
        raise GatewayDisconnected(
            f"no connection to {self.address[0]}:{self.address[1]} carried the batch "
            f"in {self.retries} attempts"
        )

    def _read_replies(self, sock: socket.socket, kind: int, seq: int, payload: bytes) -> Replies:
        """Collect ACKS and FILLS frames up to END, starting from the frame already read."""
        acks, fills = [], []
        while kind != FRAME_END:
            if kind == FRAME_ACKS:
                acks.append(np.frombuffer(payload, ACK_DTYPE))
            elif kind == FRAME_FILLS:
                fills.append(np.frombuffer(payload, FILL_DTYPE))
            else:
                raise ProtocolError(f"the server sent frame type {kind} among its replies")
            try:
                kind, seq, payload = _read_frame(sock)
            except (OSError, _Closed) as error:
                self._lost()
                raise GatewayDisconnected("connection lost in the middle of replies") from error
        return Replies(
            np.concatenate(acks) if acks else np.zeros(0, ACK_DTYPE),
            np.concatenate(fills) if fills else np.zeros(0, FILL_DTYPE),
            seq,
        )
