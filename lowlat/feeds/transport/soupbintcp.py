"""SoupBinTCP 3.00: NASDAQ's sequenced point-to-point protocol over TCP, both ends.

Every packet is a 2-byte big-endian length (of what follows), a type byte and a payload.
The server streams Sequenced Data packets ('S', one message each, numbered implicitly
from the sequence number given at login); a client that loses its connection logs in
again with the next sequence number it expects, so nothing is missed or repeated.

The client's receive path never looks at single messages in Python: the compiled
:func:`unwrap_sequenced` turns every run of Sequenced Data packets in the receive buffer
into length-prefixed messages (exactly the ITCH file framing), and the run goes to a
:data:`~lowlat.feeds.transport.replay.BlockHandler` such as
:class:`~lowlat.feeds.transport.replay.ItchSink` in one call. Control packets
(heartbeats, end of session) are rare and handled in Python.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence

import numpy as np

from lowlat.feeds.quarantine import ErrorKind, Quarantine
from lowlat.feeds.quarantine_kernels import flag
from lowlat.feeds.transport.kernels import SEQUENCED_DATA, unwrap_sequenced
from lowlat.feeds.transport.replay import BlockHandler, MessageSource

__all__ = [
    "REJECT_NOT_AUTHORIZED",
    "REJECT_SESSION_UNAVAILABLE",
    "LoginRejected",
    "SoupBinTcpClient",
    "SoupBinTcpServer",
    "SoupProtocolError",
]

# packet types, server to client
DEBUG = ord("+")
LOGIN_ACCEPTED = ord("A")
LOGIN_REJECTED = ord("J")
SERVER_HEARTBEAT = ord("H")
END_OF_SESSION = ord("Z")
# packet types, client to server
LOGIN_REQUEST = ord("L")
UNSEQUENCED_DATA = ord("U")
CLIENT_HEARTBEAT = ord("R")
LOGOUT_REQUEST = ord("O")

REJECT_NOT_AUTHORIZED = "A"
REJECT_SESSION_UNAVAILABLE = "S"

_USERNAME, _PASSWORD, _SESSION, _SEQUENCE = 6, 10, 10, 20
_LOGIN_PAYLOAD = _USERNAME + _PASSWORD + _SESSION + _SEQUENCE
_MAX_PACKET = 2 + 0xFFFF


class SoupProtocolError(ConnectionError):
    """The peer sent something SoupBinTCP does not allow."""


class LoginRejected(ConnectionError):
    """The server answered the login with Login Rejected.

    ``reason`` is the spec's code: ``"A"`` not authorized (bad username or password),
    ``"S"`` session not available.
    """

    def __init__(self, reason: str) -> None:
        text = {
            REJECT_NOT_AUTHORIZED: "not authorized (bad username or password)",
            REJECT_SESSION_UNAVAILABLE: "requested session not available",
        }.get(reason, "unknown reason")
        super().__init__(f"SoupBinTCP login rejected: {reason!r} {text}")
        self.reason = reason


def _packet(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HB", len(payload) + 1, kind) + payload


def _login_request(username: str, password: str, session: str, sequence: int) -> bytes:
    # alpha fields are left-justified, the session and the number right-justified
    payload = (
        username.ljust(_USERNAME)[:_USERNAME]
        + password.ljust(_PASSWORD)[:_PASSWORD]
        + session.rjust(_SESSION)[:_SESSION]
        + str(sequence).rjust(_SEQUENCE)
    )
    return _packet(LOGIN_REQUEST, payload.encode("ascii"))


class _Reader:
    """Receive buffer of one connection: bytes in, whole packets out."""

    def __init__(self, size: int) -> None:
        # room for ``size`` new bytes after any incomplete packet kept at the front
        self.buf = np.empty(size + _MAX_PACKET, np.uint8)
        self.view = memoryview(self.buf)
        self.pos = 0
        self.end = 0

    def fill(self, sock: socket.socket) -> int:
        """Receive what is there (the socket must be readable); 0 means closed."""
        if self.pos:
            keep = self.end - self.pos
            self.buf[:keep] = self.buf[self.pos : self.end]
            self.pos, self.end = 0, keep
        try:
            got = sock.recv_into(self.view[self.end :])
        except OSError:
            return 0
        self.end += got
        return got

    def complete(self) -> int:
        """The type of the next packet if it is complete, else -1."""
        avail = self.end - self.pos
        if avail < 3:
            return -1
        length = (int(self.buf[self.pos]) << 8) | int(self.buf[self.pos + 1])
        if length == 0:
            raise SoupProtocolError("SoupBinTCP packet of length 0")
        return int(self.buf[self.pos + 2]) if avail >= 2 + length else -1

    def take(self) -> bytes:
        """Payload of the next (complete) packet, which is consumed."""
        length = (int(self.buf[self.pos]) << 8) | int(self.buf[self.pos + 1])
        payload = self.buf[self.pos + 3 : self.pos + 2 + length].tobytes()
        self.pos += 2 + length
        return payload


class SoupBinTcpServer:
    """A SoupBinTCP server on one session, replaying a :class:`MessageSource`.

    Each connection runs in its own thread: it authenticates the login, streams
    Sequenced Data from the requested sequence number, sends Server Heartbeats when it
    has sent nothing for ``heartbeat_interval`` seconds, and ends with End of Session
    after the last message (or keeps heartbeating, with ``end_of_session=False``). A
    client silent for ``client_timeout`` seconds is disconnected.

    Requested sequence number 0 means "from the next message generated"; a replay has
    generated nothing before the login, so it starts at message 1. A number past the
    end starts after the last message.

    Fault injection, by the order of accepted logins: the k-th session's connection
    is closed after ``drop_after[k]`` messages, or goes silent (no data, no heartbeats,
    socket left open) after ``stall_after[k]`` messages.
    """

    def __init__(
        self,
        source: MessageSource,
        *,
        username: str,
        password: str,
        session: str = "SESSION1",
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 1.0,
        client_timeout: float = 15.0,
        end_of_session: bool = True,
        batch_bytes: int = 1 << 16,
        drop_after: Sequence[int] = (),
        stall_after: Sequence[int] = (),
    ) -> None:
        self.source = source
        self.username = username
        self.password = password
        self.session = session
        self.heartbeat_interval = heartbeat_interval
        self.client_timeout = client_timeout
        self.end_of_session = end_of_session
        self.batch_bytes = batch_bytes
        self.drop_after = tuple(drop_after)
        self.stall_after = tuple(stall_after)
        self.connections = 0
        self.logins_accepted = 0
        self.logins_rejected = 0
        self.logouts = 0
        self.messages_sent = 0
        self.heartbeats_sent = 0
        self.heartbeats_received = 0
        self.drops = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port))
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> SoupBinTcpServer:
        """Start accepting connections in a background thread."""
        thread = threading.Thread(target=self._accept_loop, name="soup-accept", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, close every connection and wait for the threads."""
        self._stop.set()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=2.0)
        self._listener.close()

    def __enter__(self) -> SoupBinTcpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            with sock:
                sock.settimeout(self.client_timeout)  # bounds sendall to a stuck client
                self._session(sock)
        except OSError:
            pass  # the client went away; it will log in again if it wants more
        finally:
            with self._lock:
                self._socks.remove(sock)

    def _read_login(self, sock: socket.socket, reader: _Reader) -> bytes | None:
        deadline = time.monotonic() + self.client_timeout
        while not self._stop.is_set():
            kind = reader.complete()
            if kind == LOGIN_REQUEST:
                payload = reader.take()
                return payload if len(payload) == _LOGIN_PAYLOAD else None
            if kind != -1:
                return None  # anything before the login is a protocol violation
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([sock], [], [], min(wait, 0.05))[0]:
                if wait <= 0:
                    return None
                continue
            if reader.fill(sock) == 0:
                return None
        return None

    def _session(self, sock: socket.socket) -> None:
        reader = _Reader(1 << 12)
        login = self._read_login(sock, reader)
        if login is None:
            return
        text = login.decode("ascii", "replace")
        username = text[:_USERNAME].strip()
        password = text[_USERNAME : _USERNAME + _PASSWORD].strip()
        session = text[_USERNAME + _PASSWORD : _USERNAME + _PASSWORD + _SESSION].strip()
        requested = int(text[-_SEQUENCE:].strip() or "0")
        if username != self.username or password != self.password:
            self._add("logins_rejected")
            sock.sendall(_packet(LOGIN_REJECTED, REJECT_NOT_AUTHORIZED.encode()))
            return
        if session and session != self.session:
            self._add("logins_rejected")
            sock.sendall(_packet(LOGIN_REJECTED, REJECT_SESSION_UNAVAILABLE.encode()))
            return
        with self._lock:
            index = self.logins_accepted
            self.logins_accepted += 1
        last = len(self.source)
        next_seq = min(max(requested, 1), last + 1)
        accepted = self.session.rjust(_SESSION) + str(next_seq).rjust(_SEQUENCE)
        sock.sendall(_packet(LOGIN_ACCEPTED, accepted.encode("ascii")))
        drop = next_seq + self.drop_after[index] if index < len(self.drop_after) else last + 1
        stall = next_seq + self.stall_after[index] if index < len(self.stall_after) else last + 1
        self._stream(sock, reader, next_seq, min(drop, stall, last + 1), drop <= stall)

    def _stream(
        self, sock: socket.socket, reader: _Reader, next_seq: int, limit: int, drop: bool
    ) -> None:
        """Send messages ``next_seq .. limit - 1``; then end, or drop or stall if cut short."""
        last = len(self.source)
        now = last_sent = last_recv = time.monotonic()
        while not self._stop.is_set():
            sending = next_seq < limit
            wait = 0.0 if sending else self.heartbeat_interval - (now - last_sent)
            wait = min(wait, self.client_timeout - (now - last_recv))
            if select.select([sock], [], [], max(wait, 0.0))[0]:
                if reader.fill(sock) == 0:
                    return
                last_recv = time.monotonic()
                while (kind := reader.complete()) != -1:
                    reader.take()
                    if kind == CLIENT_HEARTBEAT:
                        self._add("heartbeats_received")
                    elif kind == LOGOUT_REQUEST:
                        self._add("logouts")
                        return
            now = time.monotonic()
            if now - last_recv >= self.client_timeout:
                return
            if sending:
                count = min(self.source.fit(next_seq, self.batch_bytes), limit - next_seq)
                sock.sendall(self.source.soup_packets(next_seq, count))
                self._add("messages_sent", count)
                next_seq += count
                last_sent = now
            elif next_seq <= last:  # cut short by a fault: close now, or stay silent
                if drop:
                    self._add("drops")
                    return
                last_sent = now
            elif self.end_of_session:
                sock.sendall(_packet(END_OF_SESSION))
                sock.shutdown(socket.SHUT_WR)
                # read until the client closes, so that unread input cannot turn our
                # close into a reset that might discard the End of Session packet
                deadline = now + min(self.client_timeout, 1.0)
                while (wait := deadline - time.monotonic()) > 0:
                    if select.select([sock], [], [], wait)[0] and reader.fill(sock) == 0:
                        return
                    reader.pos = reader.end
                return
            elif now - last_sent >= self.heartbeat_interval:
                sock.sendall(_packet(SERVER_HEARTBEAT))
                self._add("heartbeats_sent")
                last_sent = now


class SoupBinTcpClient:
    """A SoupBinTCP client that keeps one session going across reconnects.

    It logs in with the requested session and sequence number (0: from the next
    message generated), hands every run of received messages to ``on_block`` numbered
    by sequence, sends a Client Heartbeat when it has sent nothing for
    ``heartbeat_interval`` seconds, and treats ``server_timeout`` seconds without any
    packet as a dead connection. After a lost connection it logs in again to the same
    session with the next sequence number it expects, up to ``max_reconnects`` times.

    Attributes
    ----------
    session
        The session logged into (from Login Accepted), ``""`` before.
    next_seq
        Sequence number of the next message expected.
    messages, heartbeats_received, heartbeats_sent
        Counts over all connections.
    logins, reconnects, timeouts
        Successful logins, reconnection attempts, connections given up for silence.
    ended
        True once End of Session arrived.
    quarantine
        SEQUENCE_GAP counts messages a server skipped at login (it started later than
        the sequence number requested); DUPLICATE the messages it resent (it started
        earlier), which are dropped.
    """

    def __init__(
        self,
        address: tuple[str, int],
        on_block: BlockHandler,
        *,
        username: str,
        password: str,
        session: str = "",
        sequence: int = 1,
        heartbeat_interval: float = 1.0,
        server_timeout: float = 15.0,
        connect_timeout: float = 5.0,
        reconnect_delay: float = 0.05,
        max_reconnects: int = 10,
        recv_bytes: int = 1 << 18,
    ) -> None:
        self.address = address
        self.on_block = on_block
        self.username = username
        self.password = password
        self.session = session
        self.next_seq = sequence
        self.heartbeat_interval = heartbeat_interval
        self.server_timeout = server_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnects = max_reconnects
        self.messages = 0
        self.heartbeats_received = 0
        self.heartbeats_sent = 0
        self.logins = 0
        self.reconnects = 0
        self.timeouts = 0
        self.ended = False
        self.quarantine = Quarantine.empty()
        self._recv_bytes = recv_bytes
        self._out = np.empty(recv_bytes + _MAX_PACKET, np.uint8)
        self._sock: socket.socket | None = None
        self._reader = _Reader(recv_bytes)
        self._last_sent = self._last_recv = 0.0
        self._skip = 0

    @property
    def connected(self) -> bool:
        """Whether a logged-in connection is open."""
        return self._sock is not None

    def connect(self) -> None:
        """Connect and log in (with ``next_seq``).

        Raises
        ------
        LoginRejected
            If the server rejects the login.
        OSError
            If the connection fails, or the server does not answer in time.
        """
        self.close()
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(_login_request(self.username, self.password, self.session, self.next_seq))
            self._reader = _Reader(self._recv_bytes)
            payload = self._await_login(sock)
        except BaseException:
            sock.close()
            raise
        text = payload.decode("ascii", "replace")
        self.session = text[:_SESSION].strip()
        accepted = int(text[_SESSION:].strip() or "0")
        if self.next_seq and accepted > self.next_seq:
            flag(self.quarantine.counts, ErrorKind.SEQUENCE_GAP, accepted - self.next_seq)
        # a server starting earlier than asked resends messages we have: skip them
        self._skip = max(self.next_seq - accepted, 0)
        if self._skip:
            accepted = self.next_seq
        self.next_seq = accepted
        self.logins += 1
        self._sock = sock
        self._last_sent = self._last_recv = time.monotonic()

    def _await_login(self, sock: socket.socket) -> bytes:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            kind = self._reader.complete()
            if kind == LOGIN_ACCEPTED:
                return self._reader.take()
            if kind == LOGIN_REJECTED:
                raise LoginRejected(self._reader.take().decode("ascii", "replace"))
            if kind != -1:
                self._reader.take()  # debug or heartbeat before the answer
                continue
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([sock], [], [], wait)[0]:
                raise TimeoutError("SoupBinTCP server did not answer the login")
            if self._reader.fill(sock) == 0:
                raise ConnectionError("SoupBinTCP server closed the connection during login")

    def run(self, timeout: float | None = None) -> bool:
        """Receive until End of Session (True) or for ``timeout`` seconds (False).

        Connects first if needed. Lost or silent connections are re-established.

        Raises
        ------
        LoginRejected
            If a login is rejected.
        ConnectionError
            After ``max_reconnects`` failed reconnection attempts.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._sock is None and not self.ended:
            if self.logins:
                self._reconnect()
            else:
                self.connect()
        while not self.ended:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            sock = self._sock
            if sock is None:
                self._reconnect()
                continue
            wait = min(
                self._last_sent + self.heartbeat_interval - now,
                self._last_recv + self.server_timeout - now,
                float("inf") if deadline is None else deadline - now,
            )
            # packets may have come in with the login answer: no waiting for those
            pending = self._reader.complete() != -1
            if not pending and select.select([sock], [], [], max(wait, 0.0))[0]:
                if self._reader.fill(sock) == 0:
                    self.close()
                    continue
                self._last_recv = time.monotonic()
            self._drain()
            if self.ended:
                break
            now = time.monotonic()
            if now - self._last_recv >= self.server_timeout:
                self.timeouts += 1
                self.close()
            elif now - self._last_sent >= self.heartbeat_interval:
                self._send(_packet(CLIENT_HEARTBEAT))
                self.heartbeats_sent += 1
        self.close()
        return True

    def logout(self) -> None:
        """Send Logout Request and close the connection (no reconnect follows)."""
        if self._sock is not None:
            self._send(_packet(LOGOUT_REQUEST))
        self.close()

    def close(self) -> None:
        """Close the connection, if open, without logging out."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
            self._last_sent = time.monotonic()
        except OSError:
            self.close()

    def _reconnect(self) -> None:
        while True:
            if self.reconnects >= self.max_reconnects:
                raise ConnectionError(
                    f"SoupBinTCP: gave up after {self.reconnects} reconnection attempts"
                )
            self.reconnects += 1
            time.sleep(self.reconnect_delay)
            try:
                self.connect()
                return
            except LoginRejected:
                raise
            except OSError:
                continue

    def _drain(self) -> None:
        """Deliver every complete packet in the receive buffer."""
        reader = self._reader
        while self._skip and reader.complete() == SEQUENCED_DATA:
            reader.take()
            self._skip -= 1
            flag(self.quarantine.counts, ErrorKind.DUPLICATE, 1)
        while True:
            reader.pos, size, count = unwrap_sequenced(
                reader.buf, reader.pos, reader.end, self._out
            )
            if count:
                self.on_block(self._out[:size], self.next_seq, count)
                self.next_seq += count
                self.messages += count
            kind = reader.complete()
            if kind == -1:
                return
            if kind == SEQUENCED_DATA:
                continue  # ``out`` was full
            reader.take()
            if kind == SERVER_HEARTBEAT:
                self.heartbeats_received += 1
            elif kind == END_OF_SESSION:
                self.ended = True
                return
            elif kind != DEBUG:
                raise SoupProtocolError(f"unexpected SoupBinTCP packet type {chr(kind)!r}")
