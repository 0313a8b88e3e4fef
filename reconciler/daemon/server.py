"""The daemon's HTTP side: health, readiness, status, metrics and the git webhook.

    GET  /healthz     200 while the process serves requests
    GET  /readyz      200 once a pass completed for the revision being reconciled, else 503
    GET  /status      JSON: revision, last_good_revision, desired_error, services, role, ...
    GET  /metrics     Prometheus text
    POST /hooks/git   GitHub push webhook → an immediate tick (``reconciler.daemon.webhook``)
    GET  /            the web status page, and its own paths (``reconciler.daemon.web``)

HEAD answers every GET path with its headers alone. Any other method on a known path is a JSON
405 naming the allowed ones in ``Allow`` (OPTIONS: 204 with ``Allow``); every error this server
sends, including the ones ``http.server`` raises itself (a malformed request line), is JSON.
A client that goes away mid-answer is one debug line in the JSON log, never a traceback.

Without a webhook secret configured ``/hooks/git`` answers 404: an unauthenticated trigger is
never offered.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog

from reconciler import errors
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    Recent,
    TokenBucket,
    Webhook,
)

log = structlog.get_logger("reconciler.daemon.server")

MAX_BODY = 1024 * 1024  # GitHub push payloads are far smaller; anything bigger is refused


class DaemonView(Protocol):
    """What the server needs of the daemon."""

    def ready(self) -> bool: ...

    def report(self) -> dict[str, Any]: ...

    def trigger(self) -> None: ...


class PageRoutes(Protocol):
    """The web status page's paths (``reconciler.daemon.web.WebPage``), asked after ours."""

    def get(self, path: str) -> Reply | None: ...

    def handles_post(self, path: str) -> bool: ...

    def post(self, path: str, *, headers: Mapping[str, str], body: bytes) -> Reply: ...


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, data: Any, *headers: tuple[str, str]) -> Reply:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    return Reply(status, text.encode(), headers=headers)


class Routes:
    """What each path answers; no sockets here, so it is easy to reason about."""

    def __init__(
        self,
        *,
        daemon: DaemonView,
        metrics: Metrics,
        webhook_secret: bytes | None,
        branch: str | None = None,
        webhook_repository: str | None = None,
        bucket: TokenBucket | None = None,
        recent: Recent | None = None,
        max_body: int = MAX_BODY,
        page: PageRoutes | None = None,
    ) -> None:
        self.daemon = daemon
        self.page = page
        self.metrics = metrics
        self.webhook = (
            None
            if webhook_secret is None
            else Webhook(
                secret=webhook_secret,
                trigger=daemon.trigger,
                metrics=metrics,
                branch=branch,
                repository=webhook_repository,
                bucket=bucket,
                recent=recent,
            )
        )
        self.max_body = max_body

    def get(self, path: str) -> Reply:
        if path == "/healthz":
            return _json(HTTPStatus.OK, {"status": "alive"})
        if path == "/readyz":
            ready = self.daemon.ready()
            code = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
            return _json(code, {"ready": ready})
        if path == "/status":
            return _json(HTTPStatus.OK, self.daemon.report())
        if path == "/metrics":
            body, content_type = self.metrics.render()
            return Reply(HTTPStatus.OK, body, content_type)
        found = self.page.get(path) if self.page is not None else None
        return found or _json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def allowed(self, path: str) -> tuple[str, ...]:
        """The methods ``path`` answers; () for a path that does not exist."""
        methods: list[str] = []
        if self.get(path).status not in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
            methods += ["GET", "HEAD"]
        if (path == "/hooks/git" and self.webhook is not None) or (
            self.page is not None and self.page.handles_post(path)
        ):
            methods.append("POST")
        return (*methods, "OPTIONS") if methods else ()

    def hook(self, delivery: Delivery) -> Reply:
        """POST /hooks/git, after the body was read within ``max_body``."""
        if self.webhook is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        answer = self.webhook.handle(delivery)
        return _json(answer.status, {"result": answer.result, "message": answer.message})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds a client may take to send its request: no slow-loris threads
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer_get(body=True)

    def do_HEAD(self) -> None:
        self._answer_get(body=False)

    def _answer_get(self, *, body: bool) -> None:
        reply = self.server.routes.get(self._route())
        if reply.status == HTTPStatus.NOT_FOUND and self.server.routes.allowed(self._route()):
            self._not_allowed(body=body)  # POST /hooks/git, asked with GET
            return
        self._send(reply, body=body)

    def do_OPTIONS(self) -> None:
        allowed = self.server.routes.allowed(self._route())
        if not allowed:
            self._send(_json(HTTPStatus.NOT_FOUND, {"error": "not found"}))
            return
        self._send(Reply(HTTPStatus.NO_CONTENT, headers=(("Allow", ", ".join(allowed)),)))

    def _route(self) -> str:
        return self.path.split("?", 1)[0]

    def _not_allowed(self, *, body: bool = True) -> None:
        """A method this path does not answer: 405 with ``Allow``, or 404 for no such path."""
        self._discard_body(self.server.routes.max_body)
        allowed = self.server.routes.allowed(self._route())
        if not allowed:
            self._send(_json(HTTPStatus.NOT_FOUND, {"error": "not found"}), body=body)
            return
        error = f"method {self.command} not allowed on {self._route()}"
        allow = ("Allow", ", ".join(allowed))
        self._send(_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": error}, allow), body=body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors, as JSON; an unknown method (its 501) is our 405."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            self._not_allowed()
            return
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        self._send(_json(code, {"error": text}), body=self.command != "HEAD")

    def do_POST(self) -> None:
        routes = self.server.routes
        path = self.path.split("?", 1)[0]
        if routes.page is not None and routes.page.handles_post(path):
            body = self._read_body(routes.max_body)
            if body is not None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._send(routes.page.post(path, headers=headers, body=body))
            return
        if path != "/hooks/git" or routes.webhook is None:
            self._not_allowed()
            return
        body = self._read_body(routes.max_body)
        if body is None:
            return
        delivery = Delivery(
            body=body,
            signature=self.headers.get(SIGNATURE_HEADER),
            event=self.headers.get(EVENT_HEADER),
            delivery=self.headers.get(DELIVERY_HEADER),
            content_type=self.headers.get("Content-Type"),
        )
        self._send(routes.hook(delivery))

    def _read_body(self, limit: int) -> bytes | None:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.isdigit():
            self.close_connection = True
            self._send(_json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"}))
            return None
        length = int(raw)
        if length > limit:
            self.close_connection = True  # the body is not read: the connection cannot go on
            self._send(_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"over {limit} B"}))
            return None
        return self.rfile.read(length)

    def _discard_body(self, limit: int) -> None:
        raw = self.headers.get("Content-Length", "0")
        length = int(raw) if raw.isdigit() else 0
        if length <= limit:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _send(self, reply: Reply, *, body: bool = True) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http", client=self.client_address[0], request=format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: Routes

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback to stderr; the log is JSON, and a client that hung
        up (reset, broken pipe, timed out) is the client's business, worth a debug line."""
        exc = sys.exc_info()[1]
        client = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("http_client_gone", client=client, error=type(exc).__name__)
            return
        log.error("http_handler_failed", client=client, exc_info=True)


class StatusServer:
    """``Routes`` served over HTTP on a background thread."""

    def __init__(
        self,
        *,
        daemon: DaemonView,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 9090,
        webhook_secret: bytes | None = None,
        branch: str | None = None,
        webhook_repository: str | None = None,
        bucket: TokenBucket | None = None,
        recent: Recent | None = None,
        max_body: int = MAX_BODY,
        page: PageRoutes | None = None,
    ) -> None:
        self.routes = Routes(
            daemon=daemon,
            metrics=metrics,
            webhook_secret=webhook_secret,
            branch=branch,
            webhook_repository=webhook_repository,
            bucket=bucket,
            recent=recent,
            max_body=max_body,
            page=page,
        )
        self._address = (host, port)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StatusServer:
        try:
            httpd = _Server(self._address, _Handler)
        except OSError as exc:  # EADDRINUSE, EADDRNOTAVAIL, EACCES: the operator's to fix
            host, port = self._address
            raise errors.ReconcilerError(
                f"--listen {host}:{port}: cannot listen there ({exc.strerror or exc})"
            ) from None
        httpd.routes = self.routes
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True
        )
        self._thread.start()
        return self

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self.routes.webhook is not None:
            self.routes.webhook.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:9090``, or ``:9090`` for every IPv4 interface (as in a container)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise errors.UsageError(f"--listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:9090")
    return host or "0.0.0.0", int(port)
