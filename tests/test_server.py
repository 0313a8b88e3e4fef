"""server: health, readiness, status, metrics and the signed, rate-limited webhook, over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler import errors
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import StatusServer, TokenBucket, parse_listen, sign, signature_ok

SECRET = b"webhook-secret"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


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


@dataclass
class Served:
    server: StatusServer
    view: View
    metrics: Metrics
    clock: Clock

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def hook(self, body: bytes = PUSH, *, signature: str | None, event: str = "push") -> int:
        headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.request("POST", "/hooks/git", body, headers)[0]


def serve(secret: bytes | None) -> Iterator[Served]:
    view, metrics, clock = View(), Metrics(), Clock()
    server = StatusServer(
        daemon=view,
        metrics=metrics,
        port=0,
        webhook_secret=secret,
        branch="main",
        bucket=TokenBucket(rate=0.5, burst=3, clock=clock),
        max_body=4096,
    ).start()
    try:
        yield Served(server, view, metrics, clock)
    finally:
        server.stop()


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve(SECRET)


@pytest.fixture
def no_secret() -> Iterator[Served]:
    yield from serve(None)


def test_healthz_answers_while_alive(served: Served) -> None:
    assert served.request("GET", "/healthz")[0] == 200


def test_readyz_is_503_until_the_daemon_is_ready(served: Served) -> None:
    assert served.request("GET", "/readyz")[0] == 503
    served.view.is_ready = True
    assert served.request("GET", "/readyz")[0] == 200


def test_status_is_the_daemons_report_as_json(served: Served) -> None:
    status, headers, body = served.request("GET", "/status")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == served.view.document


def test_metrics_are_prometheus_text_from_its_own_registry(served: Served) -> None:
    served.metrics.aws_call("ec2", "DescribeLaunchTemplates")
    status, headers, body = served.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert (
        'reconciler_aws_api_calls_total{aws_service="ec2",operation="DescribeLaunchTemplates"} 1.0'
        in text
    )
    assert "python_gc_objects_collected_total" not in text  # not the global default registry
    assert "_created" not in text
    assert "process_start_time_seconds" in text and "python_info{" in text
    assert 'reconciler_build_info{prometheus_client="' in text


def test_unknown_paths_are_404(served: Served) -> None:
    assert served.request("GET", "/nope")[0] == 404
    assert served.request("POST", "/nope", b"{}")[0] == 404
    # A path that exists, with a method it does not answer: 405 (tests/test_http_methods.py).
    assert served.request("POST", "/status", b"{}")[0] == 405


# -- webhook -----------------------------------------------------------------------------------


def test_a_good_signature_triggers_a_tick(served: Served) -> None:
    assert served.hook(signature=sign(secret=SECRET, body=PUSH)) == 202
    assert served.view.triggers == 1


def test_unsigned_and_mis_signed_requests_are_401_and_trigger_nothing(served: Served) -> None:
    assert served.hook(signature=None) == 401
    assert served.hook(signature=sign(secret=b"wrong", body=PUSH)) == 401
    assert served.hook(signature=sign(secret=SECRET, body=PUSH + b" ")) == 401  # body changed
    assert served.hook(signature="sha1=" + "0" * 40) == 401
    assert served.view.triggers == 0


def test_without_a_secret_the_hook_does_not_exist(no_secret: Served) -> None:
    assert no_secret.hook(signature=sign(secret=b"", body=PUSH)) == 404
    assert no_secret.view.triggers == 0


def test_triggers_are_rate_limited_with_a_burst(served: Served) -> None:
    good = sign(secret=SECRET, body=PUSH)
    assert [served.hook(signature=good) for _ in range(4)] == [202, 202, 202, 429]
    assert served.view.triggers == 3
    served.clock.now += 2.0  # one token back at 0.5 a second
    assert served.hook(signature=good) == 202


def test_the_rate_limit_answers_with_retry_after(served: Served) -> None:
    good = sign(secret=SECRET, body=PUSH)
    for _ in range(3):
        served.hook(signature=good)
    headers = {"X-Hub-Signature-256": good, "X-GitHub-Event": "push"}
    status, reply_headers, _ = served.request("POST", "/hooks/git", PUSH, headers)
    assert status == 429 and reply_headers["Retry-After"] == "2"


def test_unauthenticated_requests_do_not_spend_the_rate_limit(served: Served) -> None:
    for _ in range(10):
        served.hook(signature=None)
    assert served.hook(signature=sign(secret=SECRET, body=PUSH)) == 202


def test_pings_and_other_branches_trigger_nothing(served: Served) -> None:
    assert served.hook(signature=sign(secret=SECRET, body=b"{}"), body=b"{}", event="ping") == 200
    other = json.dumps({"ref": "refs/heads/feature"}).encode()
    assert served.hook(other, signature=sign(secret=SECRET, body=other)) == 202
    assert served.hook(signature=sign(secret=SECRET, body=PUSH), event="issues") == 202
    assert served.view.triggers == 0


def test_an_oversized_body_is_refused_unread(served: Served) -> None:
    big = b"x" * 5000
    assert served.hook(big, signature=sign(secret=SECRET, body=big)) == 413
    assert served.view.triggers == 0


def test_a_body_without_length_is_refused(served: Served) -> None:
    conn = http.client.HTTPConnection(served.server.host, served.server.port, timeout=5)
    conn.putrequest("POST", "/hooks/git")
    conn.putheader("X-Hub-Signature-256", sign(secret=SECRET, body=b""))
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()


def test_webhook_results_are_counted(served: Served) -> None:
    served.hook(signature=None)
    served.hook(signature=sign(secret=SECRET, body=PUSH))
    registry = served.metrics.registry
    for result in ("unauthorized", "triggered"):
        labels = {"result": result}
        assert registry.get_sample_value("reconciler_webhook_requests_total", labels) == 1


# -- pieces ------------------------------------------------------------------------------------


def test_signature_check_is_githubs_hmac_sha256() -> None:
    # The example from GitHub's "Validating webhook deliveries" documentation.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_ok(secret=b"It's a Secret to Everybody", body=b"Hello, World!", header=header)
    assert not signature_ok(secret=b"It's a Secret to Everybody", body=b"Hello", header=header)


def test_token_bucket_refills_at_its_rate_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 100
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9090", ("127.0.0.1", 9090)), (":8080", ("0.0.0.0", 8080))],
)
def test_parse_listen(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


@pytest.mark.parametrize("text", ["9090", "host:", "host:99999", "host:http"])
def test_parse_listen_refuses_nonsense(text: str) -> None:
    with pytest.raises(errors.UsageError):
        parse_listen(text)
