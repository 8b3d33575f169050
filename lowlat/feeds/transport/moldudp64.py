"""MoldUDP64: NASDAQ's sequenced UDP protocol with re-requests, both ends.

A downstream packet is a 20-byte header — session (10 bytes), sequence number of its
first message (8, big-endian), message count (2) — then one block per message: a 2-byte
big-endian length and the message. Count 0 is a heartbeat and 0xFFFF end of session;
both carry the next sequence number, so a listener can see losses during quiet times.
A listener that sees a gap sends a request packet (session, sequence, count) to the
re-request server, which answers with a normal downstream packet, unicast.

The message blocks are exactly the length-prefixed ITCH file framing, so the client
hands the blocks of each packet (or of its new part) to the decoder as they are.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import struct
import threading
import time

import numpy as np

from lowlat.feeds.quarantine import ErrorKind, Quarantine
from lowlat.feeds.quarantine_kernels import flag
from lowlat.feeds.transport.replay import BlockHandler, MessageSource

__all__ = ["END_OF_SESSION", "HEARTBEAT", "MoldUdp64Client", "MoldUdp64Server"]

HEARTBEAT = 0
END_OF_SESSION = 0xFFFF
_HEADER = struct.Struct(">10sQH")
_REQUEST = struct.Struct(">10sQH")
_MAX_DATAGRAM = 65_535


def _session_bytes(session: str) -> bytes:
    return session.encode("ascii").rjust(10)[:10]


class MoldUdp64Server:
    """Sends a :class:`MessageSource` as MoldUDP64 downstream packets, and answers re-requests.

    Downstream packets go to ``destination`` (an address on 127.0.0.1), each holding as
    many messages as fit in ``max_payload`` bytes, ``packet_interval`` seconds apart.
    When all are sent it repeats end-of-session packets (or heartbeats, with
    ``end_of_session=False``) every ``heartbeat_interval`` seconds until closed. The
    re-request server, on its own port (:attr:`rerequest_address`), answers each
    request with one packet of the requested messages (as many as fit).

    Fault injection on the downstream data packets only, from a generator seeded with
    ``seed``: ``loss`` (probability) or ``drop_every`` (every k-th packet) drops;
    ``duplicate`` sends a packet again after the next one; ``reorder`` holds a packet
    back until the next one is sent; ``overlap`` makes a packet start up to half a
    packet early, repeating messages already sent. ``answer_requests=False`` ignores
    every request. ``packets_sent`` counts data packets made, dropped ones included.
    """

    def __init__(
        self,
        source: MessageSource,
        destination: tuple[str, int],
        *,
        session: str = "SESSION1",
        host: str = "127.0.0.1",
        rerequest_port: int = 0,
        heartbeat_interval: float = 1.0,
        max_payload: int = 1400,
        packet_interval: float = 0.0,
        end_of_session: bool = True,
        loss: float = 0.0,
        drop_every: int = 0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        overlap: float = 0.0,
        seed: int = 0,
        answer_requests: bool = True,
    ) -> None:
        self.source = source
        self.destination = destination
        self.session = session
        self.heartbeat_interval = heartbeat_interval
        self.max_payload = max_payload
        self.packet_interval = packet_interval
        self.end_of_session = end_of_session
        self.loss = loss
        self.drop_every = drop_every
        self.duplicate = duplicate
        self.reorder = reorder
        self.overlap = overlap
        self.answer_requests = answer_requests
        self.packets_sent = 0
        self.packets_dropped = 0
        self.packets_duplicated = 0
        self.packets_reordered = 0
        self.packets_overlapping = 0
        self.heartbeats_sent = 0
        self.requests_received = 0
        self.requests_answered = 0
        self._random = random.Random(seed)
        self._session = _session_bytes(session)
        self._stop = threading.Event()
        self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._out.bind((host, 0))
        self._rerequest = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rerequest.bind((host, rerequest_port))
        self._threads: list[threading.Thread] = []

    @property
    def rerequest_address(self) -> tuple[str, int]:
        """``(host, port)`` of the re-request server."""
        host, port = self._rerequest.getsockname()[:2]
        return host, port

    def start(self) -> MoldUdp64Server:
        """Start sending, and serving re-requests, in background threads."""
        for target in (self._send_loop, self._rerequest_loop):
            thread = threading.Thread(target=target, daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def close(self) -> None:
        """Stop both threads and close the sockets."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._out.close()
        self._rerequest.close()

    def __enter__(self) -> MoldUdp64Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def packet(self, first: int, max_count: int = 0xFFFE) -> tuple[bytes, int]:
        """The downstream packet of messages from ``first`` that fit; and their count."""
        count = min(self.source.fit(first, self.max_payload - _HEADER.size), max_count)
        return _HEADER.pack(self._session, first, count) + self.source.blocks(first, count), count

    def _send_loop(self) -> None:
        seq, last = 1, len(self.source)
        held: list[bytes] = []  # sent right after the next packet (reordered, duplicated)
        previous = 0  # messages in the packet before, for overlaps
        while seq <= last and not self._stop.is_set():
            start = seq
            if previous > 1 and self._random.random() < self.overlap:
                start = seq - self._random.randint(1, previous // 2)
                self.packets_overlapping += 1
            data, count = self.packet(start)
            seq, previous = start + count, count
            self.packets_sent += 1
            if (self.drop_every and self.packets_sent % self.drop_every == 0) or (
                self._random.random() < self.loss
            ):
                self.packets_dropped += 1
                continue
            if self._random.random() < self.reorder:
                self.packets_reordered += 1
                held.append(data)
                continue
            self._out.sendto(data, self.destination)
            if self._random.random() < self.duplicate:
                self.packets_duplicated += 1
                held.append(data)
            for late in held:
                self._out.sendto(late, self.destination)
            held.clear()
            if self.packet_interval:
                time.sleep(self.packet_interval)
        for late in held:
            self._out.sendto(late, self.destination)
        count = END_OF_SESSION if self.end_of_session else HEARTBEAT
        idle = _HEADER.pack(self._session, last + 1, count)
        while not self._stop.wait(self.heartbeat_interval):
            self._out.sendto(idle, self.destination)
            self.heartbeats_sent += 1

    def _rerequest_loop(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._rerequest], [], [], 0.05)[0]:
                continue
            data, peer = self._rerequest.recvfrom(_MAX_DATAGRAM)
            self.requests_received += 1
            if not self.answer_requests or len(data) != _REQUEST.size:
                continue
            session, first, count = _REQUEST.unpack(data)
            if session != self._session or first < 1 or first > len(self.source) or count < 1:
                continue
            packet, _ = self.packet(first, count)
            self._rerequest.sendto(packet, peer)
            self.requests_answered += 1


class MoldUdp64Client:
    """A MoldUDP64 listener that delivers every message once, in sequence order.

    Packets ahead of the next expected sequence number are buffered and the gap is
    re-requested from ``rerequest`` (sent again every ``request_timeout`` seconds
    without progress, at most ``max_retries`` times, then given up: the missing
    messages are counted as SEQUENCE_GAP and skipped). Messages already delivered —
    duplicates, and the first part of overlapping packets — are dropped and counted as
    DUPLICATE (or OUT_OF_ORDER if they belong to a gap given up on). Re-request answers
    come back to the same socket.

    Parameters
    ----------
    on_block
        Gets every in-order run of messages (a packet's blocks, or their new part).
    rerequest
        Address of the re-request server; None: gaps are only waited for.
    host, port
        Where to listen (port 0: ephemeral, see :attr:`address`).
    session
        Session to follow; None: the session of the first packet.
    sequence
        First sequence number expected; 0: whatever the first packet brings.

    Attributes
    ----------
    next_seq, messages, packets, heartbeats
        Next sequence number expected; messages delivered; packets and heartbeats read.
    requests, retries, gaps_given_up
        Re-requests sent (retries included), retries, gaps skipped after the retries.
    ended
        True once an end-of-session packet arrived.
    foreign
        Packets of another session, ignored.
    quarantine
        SEQUENCE_GAP, DUPLICATE, OUT_OF_ORDER (in messages) and BAD_LENGTH (packets
        too short for a header) counts.
    """

    def __init__(
        self,
        on_block: BlockHandler,
        *,
        rerequest: tuple[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        session: str | None = None,
        sequence: int = 1,
        request_timeout: float = 0.05,
        max_retries: int = 5,
        recv_buffer: int = 1 << 22,
    ) -> None:
        self.on_block = on_block
        self.rerequest = rerequest
        self.session = None if session is None else _session_bytes(session)
        self.next_seq = sequence
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.messages = 0
        self.packets = 0
        self.heartbeats = 0
        self.requests = 0
        self.retries = 0
        self.gaps_given_up = 0
        self.foreign = 0
        self.ended = False
        self.quarantine = Quarantine.empty()
        self._high = 0  # highest sequence number known to exist
        self._pending: list[tuple[int, int, bytes]] = []  # heap of (first, arrival, packet)
        self._arrivals = 0
        self._lost: list[tuple[int, int]] = []  # ranges given up on, [first, end)
        self._request: tuple[int, int, float] | None = None  # (first, attempts, sent at)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self._sock.bind((host, port))
        self._sock.setblocking(False)

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``, for the server's destination."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    @property
    def complete(self) -> bool:
        """End of session seen and every message before it delivered or given up."""
        return self.ended and self.next_seq > self._high

    def run(self, timeout: float | None = None) -> bool:
        """Receive until :attr:`complete` (True) or for ``timeout`` seconds (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.complete:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            wait = 0.05 if deadline is None else min(deadline - now, 0.05)
            if self._request is not None:
                wait = min(wait, self._request[2] + self.request_timeout - now)
            if select.select([self._sock], [], [], max(wait, 0.0))[0]:
                self._receive()
            self._check_gap(time.monotonic())
        return True

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> MoldUdp64Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self) -> None:
        while True:
            try:
                data = self._sock.recv(_MAX_DATAGRAM)
            except BlockingIOError:
                return
            self._on_packet(data)

    def _on_packet(self, data: bytes) -> None:
        if len(data) < _HEADER.size:
            flag(self.quarantine.counts, ErrorKind.BAD_LENGTH, 1)
            return
        session, first, count = _HEADER.unpack_from(data)
        if self.session is None:
            self.session = session
        elif session != self.session:
            self.foreign += 1
            return
        self.packets += 1
        if self.next_seq == 0:
            self.next_seq = first
        if count in (HEARTBEAT, END_OF_SESSION):
            # both carry the next sequence number, which reveals a lost tail
            self.heartbeats += 1
            self.ended = self.ended or count == END_OF_SESSION
            self._high = max(self._high, first - 1)
            return
        self._high = max(self._high, first + count - 1)
        if first > self.next_seq:
            self._arrivals += 1
            heapq.heappush(self._pending, (first, self._arrivals, data))
            return
        self._deliver(data, first, count)
        self._flush_pending()

    def _flush_pending(self) -> None:
        """Deliver the buffered packets that the next sequence number has reached."""
        while self._pending and self._pending[0][0] <= self.next_seq:
            first, _, data = heapq.heappop(self._pending)
            self._deliver(data, first, _HEADER.unpack_from(data)[2])

    def _deliver(self, data: bytes, first: int, count: int) -> None:
        """Hand on the messages of a packet from ``next_seq`` on; count the rest as old."""
        skip = min(self.next_seq - first, count)
        offset = _HEADER.size
        for _ in range(skip):  # only overlapping packets get here: walk the old blocks
            offset += 2 + int.from_bytes(data[offset : offset + 2], "big")
        if skip:
            self._old(first, skip)
        if skip == count:
            return
        if offset > len(data):
            flag(self.quarantine.counts, ErrorKind.BAD_LENGTH, 1)
            return
        block = np.frombuffer(data, np.uint8, offset=offset)
        self.on_block(block, self.next_seq, count - skip)
        self.next_seq += count - skip
        self.messages += count - skip

    def _old(self, first: int, count: int) -> None:
        late = sum(max(0, min(end, first + count) - max(start, first)) for start, end in self._lost)
        if late:
            flag(self.quarantine.counts, ErrorKind.OUT_OF_ORDER, late)
        if count > late:
            flag(self.quarantine.counts, ErrorKind.DUPLICATE, count - late)

    def _check_gap(self, now: float) -> None:
        while self.next_seq and self.next_seq <= self._high:
            gap_end = self._pending[0][0] if self._pending else self._high + 1
            request = self._request
            if request is None or request[0] != self.next_seq:  # new gap, or progress
                self._send_request(gap_end, 1, now)
            elif now - request[2] < self.request_timeout:
                return
            elif request[1] <= self.max_retries:
                self.retries += 1
                self._send_request(gap_end, request[1] + 1, now)
            else:
                flag(self.quarantine.counts, ErrorKind.SEQUENCE_GAP, gap_end - self.next_seq)
                self.gaps_given_up += 1
                self._lost.append((self.next_seq, gap_end))
                self.next_seq = gap_end
                self._request = None
                self._flush_pending()
                continue
            return
        self._request = None

    def _send_request(self, gap_end: int, attempt: int, now: float) -> None:
        self._request = (self.next_seq, attempt, now)
        if self.rerequest is None or self.session is None:
            return
        count = min(gap_end - self.next_seq, 0xFFFF)
        self._sock.sendto(_REQUEST.pack(self.session, self.next_seq, count), self.rerequest)
        self.requests += 1
