"""``lowlat feed serve`` and ``lowlat feed listen``: replay an ITCH file over a real transport.

``serve`` replays a file as SoupBinTCP (TCP) or MoldUDP64 (UDP, with a re-request
server), optionally injecting loss, duplication and reordering; ``listen`` is the client
that receives, recovers, decodes and prints what arrived as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

PROTOCOLS = ("soupbintcp", "moldudp64")
RECORDED_PROTOCOL = "itch50-blocks"  # what listen --record writes: length-prefixed ITCH runs


def add_commands(feed_commands: argparse._SubParsersAction) -> None:
    """Register ``serve`` and ``listen`` under ``lowlat feed``."""
    serve = feed_commands.add_parser("serve", help="replay an ITCH file over SoupBinTCP/MoldUDP64")
    serve.add_argument("file", type=Path, help="ITCH 5.0 file (plain or gzip, either framing)")
    serve.add_argument("--protocol", required=True, choices=PROTOCOLS)
    serve.add_argument("--host", default="127.0.0.1", help="address to serve on (default loopback)")
    serve.add_argument("--port", type=int, default=0, help="TCP port, or the re-request UDP port")
    serve.add_argument("--destination", help="moldudp64: HOST:PORT the packets are sent to")
    serve.add_argument("--session", default="SESSION1")
    serve.add_argument("--username", default="lowlat")
    serve.add_argument("--password", default="lowlat")
    serve.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    serve.add_argument("--duration", type=float, help="stop after this many seconds")
    for fault in ("loss", "duplicate", "reorder"):
        serve.add_argument(f"--{fault}", type=float, default=0.0, help=f"moldudp64: {fault} rate")
    serve.add_argument("--seed", type=int, default=0, help="seed of the injected faults")

    listen = feed_commands.add_parser("listen", help="receive a feed and print what arrived")
    listen.add_argument("--protocol", required=True, choices=PROTOCOLS)
    listen.add_argument("--address", help="soupbintcp: HOST:PORT of the server")
    listen.add_argument("--port", type=int, default=0, help="moldudp64: UDP port to receive on")
    listen.add_argument("--rerequest", help="moldudp64: HOST:PORT of the re-request server")
    listen.add_argument("--username", default="lowlat")
    listen.add_argument("--password", default="lowlat")
    listen.add_argument("--timeout", type=float, default=60.0, help="give up after this long")
    listen.add_argument(
        "--record", type=Path, help="also record every received block (receive time, bytes)"
    )

    replay = feed_commands.add_parser("replay", help="decode a recording made by listen --record")
    replay.add_argument("recording", type=Path)
    replay.add_argument("--paced", action="store_true", help="keep the recorded gaps")
    replay.add_argument("--speed", type=float, default=1.0, help="with --paced: 2 = twice as fast")


def host_port(text: str | None, option: str) -> tuple[str, int]:
    """Parse ``HOST:PORT``; ValueError naming the option otherwise."""
    host, _, port = (text or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{option} must be HOST:PORT, got {text!r}")
    return host, int(port)


def serve(args: argparse.Namespace) -> int:
    """Run a replaying server until the duration ends or the process is interrupted."""
    from lowlat.feeds.transport import MessageSource, MoldUdp64Server, SoupBinTcpServer

    source = MessageSource.from_itch_file(args.file)
    if args.protocol == "soupbintcp":
        server = SoupBinTcpServer(
            source,
            username=args.username,
            password=args.password,
            session=args.session,
            host=args.host,
            port=args.port,
            heartbeat_interval=args.heartbeat,
        )
    else:
        server = MoldUdp64Server(
            source,
            host_port(args.destination, "--destination"),
            session=args.session,
            host=args.host,
            rerequest_port=args.port,
            heartbeat_interval=args.heartbeat,
            loss=args.loss,
            duplicate=args.duplicate,
            reorder=args.reorder,
            seed=args.seed,
        )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:  # entering starts it
        where = server.address if args.protocol == "soupbintcp" else server.rerequest_address
        print(
            f"serving {args.protocol} {len(source)} messages on {where[0]}:{where[1]} "
            f"(session {args.session})",
            flush=True,
        )
        stop.wait(args.duration)
    print(json.dumps(_counters(server), indent=2))
    return 0


def listen(args: argparse.Namespace) -> int:
    """Receive until end of session (exit 0) or timeout (exit 1); print JSON stats."""
    from lowlat.feeds.recording import Recorder
    from lowlat.feeds.transport import ItchSink

    sink = ItchSink()
    recorder = None
    handler = sink
    if args.record is not None:
        source = args.address if args.protocol == "soupbintcp" else f"udp port {args.port}"
        recorder = Recorder(args.record, RECORDED_PROTOCOL, f"{args.protocol} {source}")
        handler = recorder.tap(sink)
    started = time.monotonic()
    try:
        ended, client = _receive(args, handler)
    finally:
        if recorder is not None:
            recorder.close()
    report = {
        "protocol": args.protocol,
        "ended": ended,
        "seconds": round(time.monotonic() - started, 3),
        "messages": sink.messages,
        "counts": sink.decoder.counts,
        "decode_errors": sink.decoder.quarantine.to_dict(),
        "transport": _counters(client),
        "transport_errors": client.quarantine.to_dict(),
    }
    if recorder is not None:
        report["recorded"] = {"path": str(args.record), "blocks": recorder.records}
    print(json.dumps(report, indent=2))
    if not ended:
        print(f"lowlat feed listen: no end of session within {args.timeout} s", file=sys.stderr)
    return 0 if ended else 1


def _receive(args: argparse.Namespace, handler) -> tuple[bool, object]:
    """Run the chosen client until end of session or timeout; return ``(ended, client)``."""
    from lowlat.feeds.transport import MoldUdp64Client, SoupBinTcpClient

    if args.protocol == "soupbintcp":
        client = SoupBinTcpClient(
            host_port(args.address, "--address"),
            handler,
            username=args.username,
            password=args.password,
        )
        ended = client.run(timeout=args.timeout)
        client.close()
        return ended, client
    with MoldUdp64Client(
        handler, rerequest=host_port(args.rerequest, "--rerequest"), port=args.port
    ) as client:
        print(f"listening on {client.address[0]}:{client.address[1]}", flush=True)
        return client.run(timeout=args.timeout), client


def replay(args: argparse.Namespace) -> int:
    """Decode a recording of length-prefixed ITCH blocks, paced or as fast as possible."""
    import numpy as np

    from lowlat.feeds.recording import Recording
    from lowlat.feeds.recording import replay as replay_recording
    from lowlat.feeds.transport import ItchSink

    if args.speed <= 0:
        raise ValueError(f"--speed must be positive, got {args.speed}")
    recording = Recording(args.recording)
    if recording.protocol != RECORDED_PROTOCOL:
        raise ValueError(
            f"{args.recording} holds {recording.protocol!r}; replay decodes {RECORDED_PROTOCOL!r}"
        )
    sink = ItchSink()
    started = time.monotonic()
    blocks = replay_recording(
        recording,
        lambda _, data: sink(np.frombuffer(data, np.uint8), 0, 0),
        paced=args.paced,
        speed=args.speed,
    )
    report = {
        "recording": str(args.recording),
        "source": recording.source,
        "blocks": blocks,
        "truncated_records": recording.truncated_records,
        "seconds": round(time.monotonic() - started, 3),
        "messages": sink.decoder.messages,
        "counts": sink.decoder.counts,
        "decode_errors": sink.decoder.quarantine.to_dict(),
    }
    print(json.dumps(report, indent=2))
    return 0


def _counters(endpoint: object) -> dict[str, int]:
    """The integer counters of a server or client object, by name."""
    return {
        name: value
        for name, value in vars(endpoint).items()
        if not name.startswith("_") and isinstance(value, int) and not isinstance(value, bool)
    }
