"""A threaded HTTP proxy on 127.0.0.1 between boto3 and the sandbox, for fault proxies to extend.

``LoopbackProxy`` runs the server, counts forwarded requests by SigV4 service, and forwards;
``ProxyHandler`` reads each request (body, SigV4 service) and hands it to ``answer``, which a
fault proxy overrides to fault some calls and ``relay`` the rest, then ``reply``.

Replies never carry a ``Date`` of this host's clock: botocore reads the first ``Date``, and the
reconciler measures windows on AWS's clock (``Aws.server_time``), so the sandbox's own ``Date``
is passed through.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class ProxyHandler(BaseHTTPRequestHandler):
    proxy: ClassVar[Any]  # the LoopbackProxy serving this handler
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reports what matters."""

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        self.answer(body, scope.group("service") if scope else "")

    def answer(self, body: bytes, service: str) -> None:
        """Answer one request; the base forwards everything."""
        self.reply(*self.relay(body, service))

    def relay(self, body: bytes, service: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        """Send the request upstream: the answer's status, body and headers, for ``reply``."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        status, reply_headers, reply = self.proxy.forward(
            self.command, self.path, headers, body, service
        )
        return status, reply, [(k, v) for k, v in reply_headers if k.lower() not in _HOP_BY_HOP]

    def reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        try:
            self.send_response_only(status)  # not send_response: it adds this host's Date
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout, or a fault meant to make it)


class LoopbackProxy:
    """A threaded HTTP proxy to ``upstream``, served by ``handler`` (a ``ProxyHandler``)."""

    handler: ClassVar[type[ProxyHandler]] = ProxyHandler

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.forwarded: Counter[str] = Counter()  # by SigV4 service
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {"proxy": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the proxy is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes, service: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.forwarded[service] += 1
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()
