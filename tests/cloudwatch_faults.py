"""A proxy between boto3 and the sandbox that faults CloudWatch alone, on 127.0.0.1.

``tests/faults.py``'s ``FaultProxy`` faults only Auto Scaling, ELBv2 and EC2, whose protocols
are query/XML (its error bodies have no CloudWatch form). botocore speaks CloudWatch's JSON
protocol (``X-Amz-Target: GraniteServiceVersion20100801.<Operation>``, awsJson1_0, query
compatible). This proxy forwards every request unchanged, except CloudWatch's (SigV4 scope
``monitoring``) while ``fault`` is set:

- ``"throttle"``: HTTP 400 ``{"__type": "Throttling", "message": "Rate exceeded"}`` with
  ``x-amzn-query-error: Throttling;Sender``, the code CloudWatch's query API documents for
  throttling (the JSON framing is derived from botocore's JSON error parser, unconfirmed
  against a captured AWS response); not forwarded, as AWS throttles before it executes;
- ``"unreachable"``: the connection is closed without an answer (botocore:
  ``ConnectionClosedError``), as when the endpoint drops mid-request.

Replies carry the sandbox's own ``Date`` (a fault's none), never this host's: the reconciler
reads AWS's clock from it. ``fault`` may be changed at any time: an outage starts and ends
between two ticks. ``injected`` counts the faults as ``"<fault>:<Operation>"``; ``forwarded``
the requests that reached the sandbox, by SigV4 service.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Literal

Fault = Literal["throttle", "unreachable"]
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


THROTTLING = json.dumps({"__type": "Throttling", "message": "Rate exceeded"}).encode()


class CloudWatchFaults:
    """A threaded HTTP proxy to ``upstream`` that faults CloudWatch; see the module docstring."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.fault: Fault | None = None
        self.injected: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> CloudWatchFaults:
        handler = type("Handler", (_Handler,), {"proxy": self})
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

    def __enter__(self) -> CloudWatchFaults:
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

    def choose(self, service: str, operation: str) -> Fault | None:
        """The fault this call gets, counted; ``None`` forwards it."""
        with self._lock:
            fault = self.fault if service == "monitoring" else None
            if fault is not None:
                self.injected[f"{fault}:{operation}"] += 1
            return fault

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


class _Handler(BaseHTTPRequestHandler):
    proxy: ClassVar[CloudWatchFaults]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reports what matters."""

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        service = scope.group("service") if scope else ""
        operation = self.headers.get("X-Amz-Target", "?").rsplit(".", 1)[-1]
        fault = self.proxy.choose(service, operation)
        if fault == "unreachable":
            self.close_connection = True  # no status line, nothing: the client sees a drop
            return
        if fault == "throttle":
            self._reply(
                400,
                THROTTLING,
                [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("x-amzn-query-error", "Throttling;Sender"),
                ],
            )
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        status, reply_headers, reply = self.proxy.forward(
            self.command, self.path, headers, body, service
        )
        self._reply(
            status, reply, [(k, v) for k, v in reply_headers if k.lower() not in _HOP_BY_HOP]
        )

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        try:
            # Not send_response: it adds this host's Date, and the reconciler reads AWS's clock
            # from Date (Aws.server_time); the sandbox's own Date is passed through instead.
            self.send_response_only(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up
