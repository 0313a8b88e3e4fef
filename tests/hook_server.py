"""The daemon's real HTTP server on 127.0.0.1 with a stand-in daemon, and a client that sends
deliveries the way GitHub does (its headers, JSON or form-encoded, signed over the raw body)."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import StatusServer
from reconciler.daemon.webhook import Recent, TokenBucket, sign

SECRET = b"webhook-secret"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass
class View:
    """What the server needs of a daemon; the daemon itself is tested in test_loop."""

    is_ready: bool = False
    triggers: int = 0
    document: dict[str, Any] = field(
        default_factory=lambda: {"revision": "abc", "lastGoodRevision": "abc", "services": []}
    )

    def ready(self) -> bool:
        return self.is_ready

    def report(self) -> dict[str, Any]:
        return self.document

    def trigger(self) -> None:
        self.triggers += 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def result(self) -> str:
        return str(json.loads(self.body)["result"])


def encode(payload: Any, content_type: str = JSON) -> bytes:
    """The body GitHub sends for ``payload`` with the hook's content type."""
    text = json.dumps(payload, separators=(",", ":"))
    return (urlencode({"payload": text}) if content_type == FORM else text).encode()


@dataclass
class HookClient:
    """Requests to ``server``; deliveries signed with ``secret``."""

    server: StatusServer
    secret: bytes

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            conn.close()

    def deliver(
        self,
        body: bytes,
        *,
        event: str | None = "push",
        content_type: str = JSON,
        delivery: str | None = None,
        signature: str | None = "good",
    ) -> Answer:
        """POST one delivery; ``signature`` "good" signs ``body`` with the secret."""
        headers = {
            "Content-Type": content_type,
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "292430182",
        }
        if event is not None:
            headers["X-GitHub-Event"] = event
        if signature is not None:
            good = sign(secret=self.secret, body=body)
            headers["X-Hub-Signature-256"] = good if signature == "good" else signature
        return self.request("POST", "/hooks/git", body, headers)


@dataclass
class Served(HookClient):
    """The server with its stand-in daemon, metrics and the bucket's clock."""

    view: View
    metrics: Metrics
    clock: Clock

    def counted(self, result: str) -> float | None:
        return self.metrics.registry.get_sample_value(
            "reconciler_webhook_requests_total", {"result": result}
        )


@contextmanager
def serve(
    secret: bytes | None = SECRET,
    *,
    branch: str = "main",
    repository: str | None = None,
    bucket: TokenBucket | None = None,
    recent: Recent | None = None,
) -> Iterator[Served]:
    view, metrics, clock = View(), Metrics(), Clock()
    server = StatusServer(
        daemon=view,
        metrics=metrics,
        port=0,
        webhook_secret=secret,
        branch=branch,
        webhook_repository=repository,
        bucket=bucket or TokenBucket(rate=0.5, burst=3, clock=clock),
        recent=recent,
        max_body=64 * 1024,
    ).start()
    try:
        yield Served(server, secret or b"", view, metrics, clock)
    finally:
        server.stop()
