"""Loopback WebSocket replay of a Binance session, and a client that keeps books in sync.

Protocol (one WebSocket, text frames, our own, modelled on Binance's WebSocket API):

* the server pushes the session's stream messages (diffs, bookTicker, trades) verbatim;
* the client asks for a snapshot with ``{"id": <int>, "method": "depth",
  "params": {"symbol": "BTCUSDT"}}`` and the server answers, between stream messages,
  ``{"id": <int>, "status": 200, "result": {"lastUpdateId": ..., "bids": ..., "asks": ...}}``
  (or ``"status": 400`` with ``"error"``); responses are the only frames that start with
  ``{"id":``, which is how the client tells them from stream data without parsing twice;
* the server closes with 1000 once the session is over; any other loss of the connection
  makes the client reconnect and resynchronise every book from fresh snapshots.

:class:`ReplayServer` is a single venue timeline: messages advance while at least one
client is connected, each is applied to the venue's own book (so snapshots are the book
at that moment, optionally ``snapshot_lead`` diffs ahead as a real REST snapshot often is)
and broadcast. Fault injection: ``drop_after`` aborts the k-th connection's transport after
that many messages, ``missed_on_drop`` messages then pass unsent (the client missed them),
and ``lose`` names messages applied to the venue book but never sent (sequence gaps).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

import numpy as np
import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosedError, InvalidHandshake

from lowlat.feeds.depth.capture import CaptureWriter, iter_lines
from lowlat.feeds.depth.decode import (
    DEFAULT_PRICE_SCALE,
    DEFAULT_QTY_SCALE,
    DepthDecoder,
    SymbolSpec,
)
from lowlat.feeds.depth.sync import DEFAULT_MAX_BUFFER, DepthFeed

__all__ = ["END_OF_REPLAY", "DepthClient", "ReplayServer", "VenueBook"]

END_OF_REPLAY = "end of replay"
_SNAPSHOT_SUFFIX = "@depthsnapshot"


class VenueBook:
    """One symbol's book as the venue holds it: decimal strings, as they were sent."""

    def __init__(self) -> None:
        self.last_id = 0
        self.sides: dict[str, dict[str, str]] = {"bids": {}, "asks": {}}

    def reset(self, body: Mapping[str, Any]) -> None:
        """Replace the book with a REST snapshot body."""
        self.last_id = int(body["lastUpdateId"])
        self.sides = {side: {p: q for p, q, *_ in body[side]} for side in ("bids", "asks")}

    def apply(self, diff: Mapping[str, Any]) -> None:
        """Apply a ``depthUpdate`` (absolute quantities; zero removes the level)."""
        for key, side in (("b", "bids"), ("a", "asks")):
            levels = self.sides[side]
            for price, qty, *_ in diff[key]:
                if Decimal(qty) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = qty
        self.last_id = int(diff["u"])

    def copy(self) -> VenueBook:
        """An independent copy."""
        twin = VenueBook()
        twin.last_id = self.last_id
        twin.sides = {side: dict(levels) for side, levels in self.sides.items()}
        return twin

    def snapshot(self) -> dict[str, Any]:
        """The REST snapshot body: best level first on each side."""
        bids = sorted(self.sides["bids"].items(), key=lambda kv: Decimal(kv[0]), reverse=True)
        asks = sorted(self.sides["asks"].items(), key=lambda kv: Decimal(kv[0]))
        return {
            "lastUpdateId": self.last_id,
            "bids": [list(level) for level in bids],
            "asks": [list(level) for level in asks],
        }


def _parse(raw: bytes | str) -> tuple[str | None, dict[str, Any] | None]:
    """``(snapshot symbol or None, payload)`` of a capture line; payload None if not JSON."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(msg, dict):
        return None, None
    stream = msg.get("stream")
    if isinstance(stream, str) and isinstance(msg.get("data"), dict):
        if stream.lower().endswith(_SNAPSHOT_SUFFIX):
            return stream.split("@", 1)[0].upper(), msg["data"]
        msg = msg["data"]
    return None, msg


class ReplayServer:
    """Replay capture lines over a loopback WebSocket and answer snapshot requests.

    Parameters
    ----------
    messages
        Capture payloads in order (stream messages, and snapshot lines wrapped as by
        :func:`~lowlat.feeds.depth.capture.snapshot_line`, which set the venue book and
        are not sent).
    drop_after
        ``drop_after[k]``: abort the k-th connection (0-based) after sending it that many
        messages; connections beyond the sequence are never dropped.
    missed_on_drop
        Messages that pass (applied, not sent) right after each drop.
    lose
        Indexes into ``messages`` applied to the venue book but never sent.
    snapshot_lead
        Diffs of the symbol beyond the current position already included in a snapshot.
    interval
        Seconds between messages (0: as fast as the clients read).
    """

    def __init__(
        self,
        messages: Sequence[bytes | str],
        *,
        drop_after: Sequence[int] = (),
        missed_on_drop: int = 0,
        lose: Collection[int] = (),
        snapshot_lead: int = 0,
        interval: float = 0.0,
    ) -> None:
        self.messages = [m.encode() if isinstance(m, str) else bytes(m) for m in messages]
        self.parsed = [_parse(m) for m in self.messages]
        self.drop_after = list(drop_after)
        self.missed_on_drop = missed_on_drop
        self.lose = set(lose)
        self.snapshot_lead = snapshot_lead
        self.interval = interval
        self.books: dict[str, VenueBook] = {}
        self.position = 0
        self.connections = 0
        self.snapshots_served = 0
        self.finished = asyncio.Event()
        self._clients: dict[ServerConnection, int | None] = {}
        self._someone = asyncio.Event()
        self._server: Server | None = None
        self._producer: asyncio.Task[None] | None = None

    @classmethod
    def from_capture(cls, path: str | os.PathLike[str], **options: Any) -> ReplayServer:
        """A server replaying the well-formed lines of a capture file (``options`` as above)."""
        return cls([raw for _, raw in iter_lines(path, DepthDecoder(None))], **options)

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError("server not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def start(self) -> str:
        """Listen on an ephemeral loopback port and start the replay; return the URL."""
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self._producer = asyncio.create_task(self._produce())
        return self.url

    async def close(self) -> None:
        """Stop replaying and close every connection."""
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _advance(self) -> tuple[bytes, bool]:
        """Apply the message at the position to the venue; return it and whether to send."""
        index = self.position
        self.position += 1
        symbol, payload = self.parsed[index]
        if symbol is not None:
            self.books.setdefault(symbol, VenueBook()).reset(payload)  # type: ignore[arg-type]
            return self.messages[index], False
        if payload is not None and payload.get("e") == "depthUpdate":
            self.books.setdefault(str(payload["s"]), VenueBook()).apply(payload)
        return self.messages[index], index not in self.lose

    async def _produce(self) -> None:
        while self.position < len(self.messages):
            await self._someone.wait()
            message, send = self._advance()
            if not send:
                continue
            for client in list(self._clients):
                with contextlib.suppress(ConnectionClosedError, ConnectionError):
                    await client.send(message.decode(errors="replace"))
                left = self._clients.get(client)
                if left is not None:
                    self._clients[client] = left - 1
                    if left == 1:
                        self._drop(client)
            await asyncio.sleep(self.interval)
        self.finished.set()
        for client in list(self._clients):
            await client.close(1000, END_OF_REPLAY)

    def _drop(self, client: ServerConnection) -> None:
        self._clients.pop(client, None)
        if not self._clients:
            self._someone.clear()
        client.transport.abort()
        for _ in range(self.missed_on_drop):
            if self.position < len(self.messages):
                self._advance()

    def _snapshot(self, symbol: str) -> dict[str, Any]:
        book = self.books.get(symbol)
        if book is None:
            raise KeyError(symbol)
        if self.snapshot_lead:
            book = book.copy()
            ahead = 0
            for _, payload in self.parsed[self.position :]:
                if ahead >= self.snapshot_lead:
                    break
                if payload and payload.get("e") == "depthUpdate" and payload.get("s") == symbol:
                    book.apply(payload)
                    ahead += 1
        self.snapshots_served += 1
        return book.snapshot()

    async def _handle(self, connection: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        if self.finished.is_set():
            await connection.close(1000, END_OF_REPLAY)
            return
        limit = self.drop_after[index] if index < len(self.drop_after) else None
        self._clients[connection] = limit
        self._someone.set()
        try:
            async for request in connection:
                await connection.send(self._answer(request).decode())
        except ConnectionClosedError:
            pass
        finally:
            self._clients.pop(connection, None)
            if not self._clients:
                self._someone.clear()

    def _answer(self, request: str | bytes) -> bytes:
        ident = None
        try:
            body = orjson.loads(request)
            ident = body.get("id")
            if body.get("method") != "depth":
                raise KeyError("method")
            result = self._snapshot(str(body["params"]["symbol"]))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            error = {"msg": f"bad request: {exc!r}"}
            return orjson.dumps({"id": ident, "status": 400, "error": error})
        return orjson.dumps({"id": ident, "status": 200, "result": result})


class DepthClient:
    """Connect to a depth WebSocket, keep every symbol's book in sync, deliver records.

    On every (re)connection all books are reset and a snapshot is requested per symbol;
    a sequence break requests one for that symbol. Records come out of :meth:`records`
    in book order (a snapshot's first record is flagged ``FLAG_BOOK_START``: clear the
    book), with ``recv_ns`` from ``time.time_ns()``.

    Parameters
    ----------
    url
        ``ws://`` address of a server speaking the protocol of this module.
    symbols, price_scale, qty_scale
        Symbol table and default scales (see
        :class:`~lowlat.feeds.depth.decode.DepthDecoder`).
    max_reconnects
        Reconnections allowed (in a row without a message received) before giving up.
    reconnect_delay
        Seconds before each reconnection attempt.
    capture
        When given, every message received is written to it (snapshots wrapped).
    max_buffer
        Diffs buffered per symbol while waiting for a snapshot.

    Attributes
    ----------
    decoder, feed
        Decoding and sequencing state (quarantine, counters, per-symbol sync).
    reconnects, snapshots_requested
        Counters for monitoring.
    """

    def __init__(
        self,
        url: str,
        symbols: Mapping[str, int | SymbolSpec],
        *,
        price_scale: int = DEFAULT_PRICE_SCALE,
        qty_scale: int = DEFAULT_QTY_SCALE,
        max_reconnects: int = 10,
        reconnect_delay: float = 0.05,
        capture: CaptureWriter | None = None,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self.url = url
        self.decoder = DepthDecoder(symbols, price_scale=price_scale, qty_scale=qty_scale)
        self.feed = DepthFeed(self.decoder.quarantine, max_buffer=max_buffer)
        self.max_reconnects = max_reconnects
        self.reconnect_delay = reconnect_delay
        self.capture = capture
        self.reconnects = 0
        self.snapshots_requested = 0
        self._names = {spec.instrument: name for name, spec in self.decoder.specs.items()}
        self._pending: dict[int, str] = {}
        self._next_id = 1

    async def records(self) -> AsyncIterator[np.ndarray]:
        """Records as they become available, until the server closes normally.

        Raises
        ------
        ConnectionError
            After ``max_reconnects`` failed attempts in a row.
        """
        failures = 0
        while True:
            try:
                async with connect(self.url, compression=None, max_size=None) as ws:
                    for sync in self.feed.syncs.values():
                        sync.reset()
                    self._pending.clear()
                    for name in self.decoder.specs:
                        await self._request(ws, name)
                    async for raw in ws:
                        failures = 0
                        out = await self._on_message(ws, raw)
                        if out is not None:
                            yield out
                return  # closed normally: the session is over
            except (ConnectionClosedError, OSError, InvalidHandshake, TimeoutError) as exc:
                failures += 1
                self.reconnects += 1
                if failures > self.max_reconnects:
                    raise ConnectionError(f"{self.url}: gave up after {exc!r}") from exc
                await asyncio.sleep(self.reconnect_delay)

    async def _request(self, ws: Any, symbol: str) -> None:
        if symbol in self._pending.values():
            return
        ident = self._next_id
        self._next_id += 1
        self._pending[ident] = symbol
        self.snapshots_requested += 1
        await ws.send(orjson.dumps({"id": ident, "method": "depth", "params": {"symbol": symbol}}))

    async def _on_message(self, ws: Any, raw: str | bytes) -> np.ndarray | None:
        now = time.time_ns()
        data = raw.encode() if isinstance(raw, str) else raw
        if data.startswith(b'{"id":'):
            decoded = self._on_response(data, now)
            if decoded is None:
                return None
        else:
            if self.capture is not None:
                self.capture.write(data, now)
            decoded = self.decoder.decode([data], now)
        for instrument in self.feed.process(decoded):
            await self._request(ws, self._names[instrument])
        out = self.feed.take()
        return out if out.shape[0] else None

    def _on_response(self, data: bytes, now: int) -> Any:
        try:
            reply = orjson.loads(data)
            symbol = self._pending.pop(reply["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.decoder.reject(data)
            return None
        if reply.get("status") != 200 or not isinstance(reply.get("result"), dict):
            self.decoder.reject(data)
            return None
        body = orjson.dumps(reply["result"])
        if self.capture is not None:
            self.capture.write_snapshot(symbol, body, now)
        return self.decoder.decode([body], now, snapshot_symbol=symbol)
