"""A fault-injecting HTTP proxy between boto3 and the sandbox, on 127.0.0.1.

``FaultProxy(upstream, seed=...)`` forwards every request to ``upstream`` (the sandbox endpoint)
and, for a seeded-random share of the Auto Scaling, ELBv2 and EC2 calls, answers instead:

- ``throttle`` (30%): 400 with AWS's own error shape, ``Throttling`` for the query APIs
  (autoscaling, elasticloadbalancing) and ``RequestLimitExceeded`` for ec2; not forwarded, as
  AWS throttles before it executes anything;
- ``error`` (5%): 500 ``InternalFailure`` (ec2: ``InternalError``); not forwarded;
- ``delay`` (5% by default): forwarded, so the call takes effect, and answered only after
  ``delay_seconds``, longer than the client's read timeout: the client gives up and retries a
  call that already happened, the case idempotency exists for. ``delay_first`` names
  operations whose first call always gets this (writes are too few for a 5% share to hit).

Other services (ECR, DynamoDB, moto's own API) pass through untouched. ``injected`` counts the
faults by kind and operation; ``forwarded`` counts requests that reached the sandbox.
With every rate at 0 it is a request counter, e.g. to prove a command made no AWS call.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

FAULTED_SERVICES = frozenset({"autoscaling", "elasticloadbalancing", "ec2"})
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
_ACTION = re.compile(rb"(?:^|&)Action=(?P<action>[A-Za-z0-9]+)")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

_QUERY_ERROR = """<ErrorResponse xmlns="https://{ns}/doc/{version}/">
  <Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>{request_id}</RequestId>
</ErrorResponse>"""
_EC2_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>\
<RequestID>{request_id}</RequestID></Response>"""
_QUERY_NAMESPACES = {
    "autoscaling": ("autoscaling.amazonaws.com", "2011-01-01"),
    "elasticloadbalancing": ("elasticloadbalancing.amazonaws.com", "2015-12-01"),
}


def error_body(service: str, *, code: str, message: str, request_id: str, sender: bool) -> bytes:
    """The XML an AWS query-protocol (or EC2) service answers an error with."""
    if service == "ec2":
        text = _EC2_ERROR.format(code=code, message=message, request_id=request_id)
    else:
        ns, version = _QUERY_NAMESPACES[service]
        text = _QUERY_ERROR.format(
            ns=ns,
            version=version,
            kind="Sender" if sender else "Receiver",
            code=code,
            message=message,
            request_id=request_id,
        )
    return text.encode()


class FaultProxy:
    """A threaded HTTP proxy to ``upstream`` that injects AWS faults; see the module docstring."""

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        throttle: float = 0.30,
        error: float = 0.05,
        delay: float = 0.05,
        delay_seconds: float = 1.5,
        delay_first: frozenset[str] = frozenset(),
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rates = {"throttle": throttle, "error": error, "delay": delay}
        self.delay_seconds = delay_seconds
        self._delay_first = set(delay_first)  # operations whose first call is delayed
        self.injected: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()  # by service
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._ids = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
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

    def __enter__(self) -> FaultProxy:
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

    # -- decisions ---------------------------------------------------------------------------

    def choose(self, service: str, operation: str) -> str | None:
        """Which fault (if any) this call gets: seeded, so a run can be replayed."""
        if service not in FAULTED_SERVICES:
            return None
        with self._lock:
            if operation in self._delay_first:
                self._delay_first.discard(operation)
                return "delay"
            roll = self._random.random()
        edge = 0.0
        for kind, rate in self.rates.items():
            edge += rate
            if roll < edge:
                return kind
        return None

    def record(self, kind: str, operation: str) -> str:
        with self._lock:
            self.injected[kind] += 1
            self.injected[f"{kind}:{operation}"] += 1
            self._ids += 1
            return f"fault-{self._ids:06d}"

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
    proxy: ClassVar[FaultProxy]
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
        service = scope.group("service") if scope else ""
        action = _ACTION.search(body)
        operation = action.group("action").decode() if action else "?"
        fault = self.proxy.choose(service, operation)
        if fault in ("throttle", "error"):
            self._answer_fault(fault, service=service, operation=operation)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        status, reply_headers, reply = self.proxy.forward(
            self.command, self.path, headers, body, service
        )
        if fault == "delay":
            self.proxy.record("delay", operation)
            time.sleep(self.proxy.delay_seconds)  # the client has timed out by now
        self._reply(
            status, reply, [(k, v) for k, v in reply_headers if k.lower() not in _HOP_BY_HOP]
        )

    def _answer_fault(self, fault: str, *, service: str, operation: str) -> None:
        request_id = self.proxy.record(fault, operation)
        if fault == "throttle":
            code = "RequestLimitExceeded" if service == "ec2" else "Throttling"
            body = error_body(
                service, code=code, message="Rate exceeded", request_id=request_id, sender=True
            )
            self._reply(400, body, [("Content-Type", "text/xml")])
            return
        code = "InternalError" if service == "ec2" else "InternalFailure"
        body = error_body(
            service,
            code=code,
            message="An internal error has occurred",
            request_id=request_id,
            sender=False,
        )
        self._reply(500, body, [("Content-Type", "text/xml")])

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        try:
            # send_response_only: no Date of this host's clock ahead of the sandbox's (botocore
            # reads the first Date, and the reconciler measures windows on AWS's clock).
            self.send_response_only(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout): what the delay fault is for
