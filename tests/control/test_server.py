"""ControlServer: probes that follow the lifecycle, /metrics, the route table and its errors."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lowlat.control import (
    ControlServer,
    MetricsExporter,
    MetricsSidecar,
    Probes,
    RouteError,
    ServerConfig,
)
from lowlat.control.metrics import Metrics
from lowlat.core.lifecycle import Lifecycle


def call(
    server: ControlServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], object]:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    if raw and headers.get("Content-Type") == "application/json":
        return status, headers, json.loads(raw)
    return status, headers, raw


@pytest.fixture
def engine():
    lifecycle = Lifecycle()
    metrics = Metrics()
    sidecar = MetricsSidecar(metrics, lifecycle)
    exporter = MetricsExporter()
    exporter.add_metrics(metrics)
    exporter.add_lifecycle(lifecycle)
    exporter.add_sidecar(sidecar)
    server = ControlServer.from_config(
        ServerConfig(port=0),
        exporter=exporter,
        probes=Probes(lifecycle, sidecar=sidecar),
    )
    server.start()
    yield lifecycle, server
    server.stop()


def test_readyz_follows_the_lifecycle_and_livez_stays_up(engine):
    lifecycle, server = engine
    steps = [
        (None, 503, "INIT", "created"),
        ("WARMUP", 503, "WARMUP", "compiling kernels"),
        ("READY", 200, "READY", "warm"),
        ("DEGRADED", 503, "DEGRADED", "system breaker: ring lag"),
        ("READY", 200, "READY", "healthy again"),
        ("HALTED", 503, "HALTED", "kill switch"),
    ]
    for target, status, state, reason in steps:
        if target is not None:
            lifecycle.transition(target, reason)
        code, _, body = call(server, "GET", "/readyz")
        assert (code, body["ready"], body["state"], body["reason"]) == (
            status,
            status == 200,
            state,
            reason,
        )
        assert body["since_ns"] == lifecycle.history[-1].monotonic_ns
        code, _, body = call(server, "GET", "/livez")
        assert code == 200
        assert body["lifecycle"] == state and body["sidecar"]["state"] == "idle"


def test_metrics_are_served_in_the_prometheus_text_format(engine):
    lifecycle, server = engine
    lifecycle.transition("WARMUP", "start")
    code, headers, raw = call(server, "GET", "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(raw.decode())}
    [warmup] = [
        s for s in families["lowlat_lifecycle_state"].samples if s.labels["state"] == "WARMUP"
    ]
    assert warmup.value == 1.0


def test_routes_take_a_json_body_or_the_query_and_answer_json(engine):
    _, server = engine
    server.add_route("POST", "/echo", lambda body: (201, {"got": body}))
    server.add_route("get", "/echo", lambda query: (200, {"got": query}))
    assert call(server, "POST", "/echo", b'{"a": [1, 2]}')[::2] == (201, {"got": {"a": [1, 2]}})
    assert call(server, "POST", "/echo", b"")[::2] == (201, {"got": {}})
    assert call(server, "GET", "/echo?x=1&y=2&y=3")[::2] == (
        200,
        {"got": {"x": "1", "y": ["2", "3"]}},
    )
    assert "POST /echo" in server.routes() and "GET /metrics" in server.routes()


def test_route_errors_are_clear_json_4xx_and_5xx(engine):
    _, server = engine

    def refuse(body):
        raise RouteError(409, "already halted")

    def invalid(body):
        raise ValueError("qty must be positive")

    def crash(body):
        raise RuntimeError("bug")

    server.add_route("POST", "/refuse", refuse)
    server.add_route("POST", "/invalid", invalid)
    server.add_route("POST", "/crash", crash)
    server.add_route("POST", "/unusable", lambda body: (200, {"x": object()}))
    server.add_route("POST", "/nostatus", lambda body: (999, {}))
    server.add_route("DELETE", "/empty", lambda query: (204, {"ignored": True}))
    code, _, body = call(server, "GET", "/nope")
    assert code == 404 and body["error"] == "no route GET /nope"
    assert "GET /readyz" in body["routes"]
    code, headers, body = call(server, "POST", "/readyz", b"{}")
    assert code == 405 and body["allowed"] == ["GET"] and headers["Allow"] == "GET"
    code, _, body = call(server, "POST", "/refuse", b"{not json")
    assert code == 400 and body["error"].startswith("bad JSON body")
    code, _, body = call(server, "POST", "/refuse", b"[1, 2]")
    assert code == 400 and body["error"] == "the JSON body must be an object, got list"
    assert call(server, "POST", "/refuse", b"{}")[::2] == (409, {"error": "already halted"})
    assert call(server, "POST", "/invalid", b"{}")[::2] == (400, {"error": "qty must be positive"})
    code, _, body = call(server, "POST", "/crash", b"{}")
    assert code == 500 and body["error"] == "handler of POST /crash failed: RuntimeError: bug"
    assert call(server, "DELETE", "/empty")[::2] == (204, b"")
    for path in ("/unusable", "/nostatus"):
        code, _, body = call(server, "POST", path, b"{}")
        assert code == 500 and "unusable response" in body["error"]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.putrequest("POST", "/refuse")
    connection.putheader("Content-Length", "lots")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read()) == {"error": "bad Content-Length 'lots'"}
    connection.close()
    server.max_body = 8
    code, _, body = call(server, "POST", "/refuse", b'{"pad": "0123456789"}')
    assert code == 413 and "at most 8" in body["error"]


def test_adding_a_bad_or_duplicate_route_is_refused():
    server = ControlServer()
    server.add_route("POST", "/x", lambda body: (200, {}))
    with pytest.raises(ValueError, match="already served"):
        server.add_route("post", "/x", lambda body: (200, {}))
    with pytest.raises(ValueError, match="unknown HTTP method 'FETCH'"):
        server.add_route("FETCH", "/y", lambda body: (200, {}))
    with pytest.raises(ValueError, match="starts with '/'"):
        server.add_route("GET", "y", lambda body: (200, {}))
    with pytest.raises(ValueError, match="no query"):
        server.add_route("GET", "/y?z=1", lambda body: (200, {}))
    with pytest.raises(ValueError, match="not callable"):
        server.add_route("GET", "/y", None)


def test_shutdown_is_clean_and_the_port_is_released():
    server = ControlServer(port=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    with server:
        port = server.port
        assert port > 0 and server.url == f"http://127.0.0.1:{port}"
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
        assert call(server, "GET", "/livez")[0] == 404  # no probes given
    server.stop()  # a second stop does nothing
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with ControlServer(port=port):  # the port can be bound again at once
        pass
