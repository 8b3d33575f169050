import json
import socket
import subprocess
import sys
import threading

import pytest

from lowlat.cli.feed_transport import host_port
from lowlat.cli.main import main
from tests.feeds.itch import TEST_VECTOR

VECTOR_COUNTS = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(*argv: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lowlat", "feed", "serve", str(TEST_VECTOR), *argv]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=20)


def test_soupbintcp_serve_and_listen_move_the_whole_file_between_processes(tmp_path, capsys):
    recording = tmp_path / "session.llrec"
    server = start_server("--protocol", "soupbintcp", "--duration", "60")
    try:
        banner = server.stdout.readline()
        assert banner.startswith("serving soupbintcp 12012 messages on 127.0.0.1:")
        address = banner.split(" on ")[1].split()[0]
        listen = ["feed", "listen", "--protocol", "soupbintcp", "--address", address]
        assert main([*listen, "--record", str(recording)]) == 0
    finally:
        stop(server)
    report = json.loads(capsys.readouterr().out)
    assert report["ended"] and report["messages"] == 12_012
    assert VECTOR_COUNTS.items() <= report["counts"].items()
    assert report["recorded"]["blocks"] > 0

    for pacing in ([], ["--paced", "--speed", "1000"]):
        assert main(["feed", "replay", str(recording), *pacing]) == 0
        replayed = json.loads(capsys.readouterr().out)
        assert replayed["messages"] == 12_012 and replayed["counts"] == report["counts"]
        assert replayed["blocks"] == report["recorded"]["blocks"]


def test_replay_refuses_a_missing_recording_and_a_bad_speed(tmp_path, capsys):
    assert main(["feed", "replay", str(tmp_path / "none.llrec")]) == 2
    assert "none.llrec" in capsys.readouterr().err
    assert main(["feed", "replay", str(tmp_path / "none.llrec"), "--speed", "0"]) == 2
    assert "--speed must be positive, got 0.0" in capsys.readouterr().err


def test_moldudp64_listen_recovers_every_message_through_injected_loss(capsys):
    data_port, rerequest_port = free_udp_port(), free_udp_port()
    listen = [
        "feed", "listen", "--protocol", "moldudp64", "--port", str(data_port),
        "--rerequest", f"127.0.0.1:{rerequest_port}", "--timeout", "30",
    ]  # fmt: skip
    result: list[int] = []
    listener = threading.Thread(target=lambda: result.append(main(listen)))
    listener.start()
    server = start_server(
        "--protocol", "moldudp64", "--port", str(rerequest_port),
        "--destination", f"127.0.0.1:{data_port}", "--loss", "0.1", "--reorder", "0.05",
        "--duration", "60",
    )  # fmt: skip
    try:
        listener.join(timeout=60)
    finally:
        stop(server)
    assert result == [0]
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])
    assert report["ended"] and report["messages"] == 12_012
    assert report["transport"]["requests"] > 0 and report["transport"]["gaps_given_up"] == 0


@pytest.mark.parametrize("text", ["", "localhost", "host:", ":80", "host:http", "host:70000"])
def test_host_port_refuses_malformed_addresses(text):
    with pytest.raises(ValueError, match="--address must be HOST:PORT"):
        host_port(text, "--address")


def test_listen_with_a_bad_address_exits_2(capsys):
    assert main(["feed", "listen", "--protocol", "soupbintcp", "--address", "nowhere"]) == 2
    assert "--address must be HOST:PORT, got 'nowhere'" in capsys.readouterr().err
