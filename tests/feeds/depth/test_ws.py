"""Loopback WebSocket: replay server and reconnecting client end with the venue's book."""

import asyncio

import numpy as np
import orjson
import pytest
from websockets.asyncio.client import connect

from lowlat.feeds.depth.capture import CaptureWriter, iter_records, snapshot_line
from lowlat.feeds.depth.ws import DepthClient, ReplayServer
from lowlat.feeds.quarantine import ErrorKind
from tests.feeds.depth import Venue, apply_records

TRADE = b'{"e":"trade","E":1,"s":"ETHUSDT","t":7,"p":"10.5","q":"0.25","T":2,"m":true}'


def session(steps=300):
    """Two symbols interleaved; the venue snapshots open the capture."""
    btc, eth = Venue("BTCUSDT", seed=21), Venue("ETHUSDT", seed=22, futures=True)
    lines = [snapshot_line("BTCUSDT", btc.snapshot()), snapshot_line("ETHUSDT", eth.snapshot())]
    for k in range(steps):
        lines.append(btc.step() if k % 3 else eth.step())
        if k % 50 == 7:
            lines.append(TRADE)
    expected = {**btc.ticks(1), **eth.ticks(2)}
    return lines, expected


async def run_client(server, **kw):
    url = await server.start()
    client = DepthClient(url, {"BTCUSDT": 1, "ETHUSDT": 2}, reconnect_delay=0.01, **kw)
    book: dict = {}
    batches = []
    try:
        async with asyncio.timeout(20):
            async for records in client.records():
                apply_records(book, records)
                batches.append(records)
    finally:
        await server.close()
    return client, book, batches


def test_clean_session():
    lines, expected = session()
    server = ReplayServer(lines)
    client, book, batches = asyncio.run(run_client(server))
    assert book == expected
    assert client.reconnects == 0 and client.snapshots_requested == 2
    trades = np.concatenate(batches)["kind"] == 6
    assert trades.sum() == 6


def test_disconnect_and_missed_messages_resync_to_the_same_book():
    lines, expected = session()
    server = ReplayServer(lines, drop_after=[120], missed_on_drop=7, snapshot_lead=3)
    client, book, _ = asyncio.run(run_client(server))
    assert book == expected
    assert client.reconnects == 1 and server.connections == 2
    assert client.snapshots_requested == 4 and server.snapshots_served == 4


def test_lost_message_is_a_gap_and_a_resync(tmp_path):
    lines, expected = session()
    btc_diff = next(i for i in range(100, 200) if b"BTCUSDT" in lines[i])
    server = ReplayServer(lines, lose={btc_diff})
    path = tmp_path / "live.jsonl"
    with CaptureWriter(path) as capture:
        client, book, batches = asyncio.run(run_client(server, capture=capture))
    assert book == expected
    assert client.feed.resyncs == 1 and client.snapshots_requested == 3
    assert client.decoder.quarantine.counts[ErrorKind.SEQUENCE_GAP] == 1
    # what the client captured replays to the same records
    replayed = np.concatenate(list(iter_records(path, symbols={"BTCUSDT": 1, "ETHUSDT": 2})))
    live = np.concatenate(batches)
    assert np.array_equal(replayed, live)


def test_server_answers_bad_requests_and_from_capture(tmp_path):
    lines, _ = session(20)
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as w:
        for line in lines:
            w.write(line, 1)

    async def main():
        server = ReplayServer.from_capture(path)
        url = await server.start()
        try:
            async with connect(url) as ws:
                replies = []
                for request in (b"nope", b'{"id":1,"method":"x"}', b'{"id":2,"method":"depth"}'):
                    await ws.send(request)
                await ws.send(b'{"id":3,"method":"depth","params":{"symbol":"BTCUSDT"}}')
                async for raw in ws:
                    if raw.startswith('{"id":'):
                        replies.append(orjson.loads(raw))
                return replies
        finally:
            await server.close()

    replies = asyncio.run(main())
    assert [r["status"] for r in replies] == [400, 400, 400, 200]
    assert replies[3]["result"]["lastUpdateId"] > 0


def test_client_gives_up_without_a_server():
    async def main():
        client = DepthClient("ws://127.0.0.1:9", {"X": 1}, max_reconnects=2, reconnect_delay=0)
        async for _ in client.records():
            pass

    with pytest.raises(ConnectionError, match="gave up"):
        asyncio.run(main())


def test_refused_snapshot_is_quarantined_and_other_books_still_sync():
    lines, expected = session(60)

    async def main():
        server = ReplayServer([*lines, b"\xff not json"])
        url = await server.start()
        client = DepthClient(url, {"BTCUSDT": 1, "ETHUSDT": 2, "NOPE": 3})
        book: dict = {}
        try:
            async with asyncio.timeout(20):
                async for records in client.records():
                    apply_records(book, records)
        finally:
            await server.close()
        return client, book

    client, book = asyncio.run(main())
    assert book == expected
    counts = client.decoder.quarantine.counts
    assert counts[ErrorKind.BAD_FIELD] == 2  # the 400 reply and the garbage line
