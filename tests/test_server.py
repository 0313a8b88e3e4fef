"""server: health, readiness, status, metrics and the webhook's HTTP edges, over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from reconciler import errors
from reconciler.daemon.server import parse_listen
from reconciler.daemon.webhook import TokenBucket, sign, signature_ok
from tests.hook_server import SECRET, Clock, Served, encode, serve

PUSH = encode({"ref": "refs/heads/main", "after": "1" * 40})


@pytest.fixture
def served() -> Iterator[Served]:
    with serve() as served:
        yield served


@pytest.fixture
def no_secret() -> Iterator[Served]:
    with serve(None) as served:
        yield served


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


# -- webhook (its rules: test_webhook.py, GitHub's payloads: test_webhook_replay.py) -------------


def test_a_good_signature_triggers_a_tick(served: Served) -> None:
    assert served.deliver(PUSH).status == 202
    assert served.view.triggers == 1


def test_unsigned_and_mis_signed_requests_are_401_and_trigger_nothing(served: Served) -> None:
    assert served.deliver(PUSH, signature=None).status == 401
    assert served.deliver(PUSH, signature=sign(secret=b"wrong", body=PUSH)).status == 401
    changed = sign(secret=SECRET, body=PUSH + b" ")
    assert served.deliver(PUSH, signature=changed).status == 401
    assert served.deliver(PUSH, signature="sha1=" + "0" * 40).status == 401
    assert served.view.triggers == 0


def test_without_a_secret_the_hook_does_not_exist(no_secret: Served) -> None:
    assert no_secret.deliver(PUSH, signature=sign(secret=b"", body=PUSH)).status == 404
    assert no_secret.view.triggers == 0


def test_an_oversized_body_is_refused_unread(served: Served) -> None:
    big = b"x" * 70_000
    assert served.deliver(big).status == 413
    assert served.view.triggers == 0


def test_a_body_without_length_is_refused(served: Served) -> None:
    conn = http.client.HTTPConnection(served.server.host, served.server.port, timeout=5)
    conn.putrequest("POST", "/hooks/git")
    conn.putheader("X-Hub-Signature-256", sign(secret=SECRET, body=b""))
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()


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
