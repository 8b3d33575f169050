"""``ControlServer``: the engine's HTTP control endpoint — metrics, probes, and a route table.

Control code. A ``ThreadingHTTPServer`` on a loopback address in a daemon thread serves
``GET /metrics`` (Prometheus text format), ``GET /livez`` and ``GET /readyz``, and every
route other components add with :meth:`ControlServer.add_route`. A route handler takes a
dict — the JSON object in the body for POST, PUT and PATCH, the query parameters
otherwise — and returns ``(status, JSON-able body)``. Everything the server answers is
JSON except ``/metrics``; errors are ``{"error": ...}`` with a 4xx status for the
client's mistakes (unknown route 404, wrong method 405, bad JSON 400, body too large
413, a handler raising :class:`RouteError` or ``ValueError``) and 500 for a handler's own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from lowlat.control.config import ServerConfig
from lowlat.control.exporter import MetricsExporter
from lowlat.control.probes import Probes

__all__ = ["ControlServer", "Handler", "RouteError"]

_log = logging.getLogger(__name__)

#: A route handler: the request's JSON body or query parameters → (status, JSON-able body).
Handler = Callable[[dict[str, Any]], tuple[int, Any]]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_JSON = "application/json"


class RouteError(Exception):
    """Raised by a handler to answer ``status`` (a 4xx) with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Response:
    def __init__(self, status: int, body: bytes, content_type: str = _JSON) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = {}


def _json(status: int, body: Any) -> _Response:
    encoded = json.dumps(body, allow_nan=False).encode()
    return _Response(status, b"" if status in (204, 304) else encoded)  # no body allowed


def _error(status: int, message: str, **extra: Any) -> _Response:
    return _json(status, {"error": message, **extra})


class ControlServer:
    """HTTP server of the control plane, with an extensible route table.

    Parameters
    ----------
    host, port
        Where to listen; port 0 takes any free port (see :attr:`port` once started).
    exporter
        Serves ``GET /metrics`` when given.
    probes
        Serves ``GET /livez`` and ``GET /readyz`` when given.
    max_body
        Largest request body accepted, bytes.

    Examples
    --------
    >>> server = ControlServer(port=0, exporter=exporter, probes=probes)
    >>> server.add_route("POST", "/lifecycle", change_state)
    >>> server.start()
    >>> server.url
    'http://127.0.0.1:41234'
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        exporter: MetricsExporter | None = None,
        probes: Probes | None = None,
        max_body: int = 1 << 20,
    ) -> None:
        self.host = host
        self._port = port
        self.max_body = max_body
        self._routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if exporter is not None:
            self._routes[("GET", "/metrics")] = lambda payload: _Response(
                200, exporter.render(), CONTENT_TYPE_LATEST
            )
        if probes is not None:
            self.add_route("GET", "/livez", probes.livez)
            self.add_route("GET", "/readyz", probes.readyz)

    @classmethod
    def from_config(
        cls,
        config: ServerConfig,
        *,
        exporter: MetricsExporter | None = None,
        probes: Probes | None = None,
    ) -> ControlServer:
        """A server listening where ``config`` says."""
        return cls(config.host, config.port, exporter=exporter, probes=probes)

    # --- routes ----------------------------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler`` (may be called while the server runs).

        Raises
        ------
        ValueError
            For an unknown method, a path that is not absolute or has a query, or a route
            that is already taken.
        """
        verb = method.upper() if isinstance(method, str) else method
        if verb not in _METHODS:
            raise ValueError(f"unknown HTTP method {method!r}; one of {', '.join(_METHODS)}")
        if not isinstance(path, str) or not path.startswith("/") or "?" in path or "#" in path:
            raise ValueError(f"a route path starts with '/' and has no query, got {path!r}")
        if not callable(handler):
            raise ValueError(f"the handler of {verb} {path} is not callable: {handler!r}")
        with self._lock:
            if (verb, path) in self._routes:
                raise ValueError(f"route {verb} {path} is already served")
            self._routes[(verb, path)] = handler

    def routes(self) -> list[str]:
        """Every route served, as ``"METHOD /path"``, sorted."""
        with self._lock:
            return sorted(f"{m} {p}" for m, p in self._routes)

    # --- dispatch --------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, body: bytes) -> _Response:
        """Answer one request: route it, parse its payload, call its handler."""
        parts = urlsplit(target)
        path = parts.path
        with self._lock:
            handler = self._routes.get((method, path))
            allowed = sorted(m for m, p in self._routes if p == path)
        if handler is None:
            if allowed:
                response = _error(405, f"method {method} not allowed on {path}", allowed=allowed)
                response.headers["Allow"] = ", ".join(allowed)
                return response
            return _error(404, f"no route {method} {path}", routes=self.routes())
        if method in _BODY_METHODS:
            if not body.strip():
                payload: Any = {}
            else:
                try:
                    payload = json.loads(body)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    return _error(400, f"bad JSON body: {exc}")
                if not isinstance(payload, dict):
                    return _error(
                        400, f"the JSON body must be an object, got {type(payload).__name__}"
                    )
        else:
            query = parse_qs(parts.query, keep_blank_values=True)
            payload = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
        return self._call(handler, method, path, payload)

    def _call(self, handler: Handler, method: str, path: str, payload: dict) -> _Response:
        try:
            result = handler(payload)
        except RouteError as exc:
            return _error(exc.status, exc.message)
        except ValueError as exc:
            return _error(400, str(exc))
        except Exception as exc:
            _log.exception("handler of %s %s failed", method, path)
            return _error(500, f"handler of {method} {path} failed: {type(exc).__name__}: {exc}")
        if isinstance(result, _Response):
            return result
        try:
            status, body = result
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
                raise TypeError(f"status {status!r} is not an HTTP status")
            return _json(status, body)
        except (TypeError, ValueError) as exc:
            _log.error("handler of %s %s returned an unusable response: %s", method, path, exc)
            return _error(500, f"handler of {method} {path} returned an unusable response: {exc}")

    # --- lifetime --------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("the control server is already started")
        self._httpd = _HTTPServer((self.host, self._port), _RequestHandler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(0.05,),  # poll interval: how long stop() may wait for the loop to notice
            name="lowlat-control-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The port listened on (the one chosen, for port 0)."""
        if self._httpd is None:
            raise RuntimeError("the control server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, control: ControlServer) -> None:
        self.control = control
        super().__init__(address, handler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "lowlat-control"

    def _handle(self) -> None:
        control = self.server.control
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            self._send(_error(400, f"bad Content-Length {length!r}"))
            return
        if size < 0 or size > control.max_body:
            self._send(_error(413, f"body of {size} bytes; at most {control.max_body}"))
            return
        body = self.rfile.read(size) if size else b""
        self._send(control._dispatch(self.command, self.path, body))

    # http.server dispatches on ``do_<METHOD>`` names
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)
