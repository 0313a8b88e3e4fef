"""The daemon's HTTP server, every route and method (issue 17 #20): a real daemon (its status page
attached) against the sandbox, served on 127.0.0.1 and asked over raw HTTP/1.1.

- HEAD answers every GET path with GET's status and headers, and no body;
- any other method on a path that exists is a JSON 405 naming the allowed ones in ``Allow``;
  OPTIONS is 204 with ``Allow``; a path that does not exist is a JSON 404 whatever the method;
- the errors ``http.server`` makes itself (a malformed request line) are JSON too, never HTML;
- ``/status`` has snake_case keys throughout (the four old camelCase names kept as aliases), and
  without a lease table its role is ``single`` while ``reconciler_lease_held`` says 1: both say
  this instance writes.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.daemon.report import CAMEL_ALIASES
from reconciler.daemon.run import RunConfig, build_daemon
from reconciler.daemon.server import StatusServer
from reconciler.daemon.web import attach as attach_page
from reconciler.sandbox import Sandbox
from tests.test_e2e_core import sandbox_copy

GET_ROUTES = [
    "/healthz",
    "/readyz",
    "/status",
    "/metrics",
    "/",
    "/index.html",
    "/ui/app.js",
    "/ui/app.css",
    "/ui/favicon.svg",
    "/ui/state.json",
]
OTHER_METHODS = ["PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "FOO"]


def request(
    server: StatusServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def served(
    sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StatusServer]:
    """One daemon and one tick for the module: the routes are asked, nothing is changed."""
    sandbox_server.reseed()
    home = sandbox_copy(tmp_path_factory.mktemp("http")).parent.parent
    config = RunConfig(repo=str(home), endpoint_url=sandbox_server.endpoint, listen=None)
    daemon = build_daemon(config)
    daemon.tick()
    server = StatusServer(
        daemon=daemon,
        metrics=daemon.metrics,
        port=0,
        webhook_secret=b"secret",
        page=attach_page(daemon),
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_answers_every_get_route_without_a_body(served: StatusServer, path: str) -> None:
    status, headers, body = request(served, "GET", path)
    head_status, head_headers, head_body = request(served, "HEAD", path)
    assert status in (200, 503), (path, status)
    assert head_status == status
    assert head_body == b""
    assert head_headers["Content-Type"] == headers["Content-Type"]
    if path != "/metrics":  # the process metrics move between the two requests
        assert int(head_headers["Content-Length"]) == len(body)


@pytest.mark.parametrize("method", OTHER_METHODS)
@pytest.mark.parametrize("path", GET_ROUTES)
def test_other_methods_are_a_json_405_with_allow(
    served: StatusServer, path: str, method: str
) -> None:
    status, headers, body = request(served, method, path, body=b"{}")
    assert status == 405, (method, path, status, body)
    assert headers["Allow"] == "GET, HEAD, OPTIONS"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": f"method {method} not allowed on {path}"}


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_the_webhook_path_allows_post_only(served: StatusServer, method: str) -> None:
    status, headers, body = request(served, method, "/hooks/git")
    assert status == 405 and headers["Allow"] == "POST, OPTIONS"
    assert headers["Content-Type"] == "application/json"
    assert body == b"" if method == "HEAD" else json.loads(body)["error"]


def test_post_on_a_read_only_path_is_405(served: StatusServer) -> None:
    status, headers, _ = request(served, "POST", "/status", body=b"{}")
    assert status == 405 and headers["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/status", "GET, HEAD, OPTIONS"), ("/ui/actions", "POST, OPTIONS")],
)
def test_options_lists_the_methods(served: StatusServer, path: str, allow: str) -> None:
    status, headers, body = request(served, "OPTIONS", path)
    assert (status, headers["Allow"], body) == (204, allow, b"")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "FOO"])
def test_a_path_that_does_not_exist_is_a_json_404(served: StatusServer, method: str) -> None:
    status, headers, body = request(served, method, "/nope")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert body == b"" if method == "HEAD" else json.loads(body) == {"error": "not found"}


@pytest.mark.parametrize(
    "line",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET " + b"/x" * 40000 + b" HTTP/1.1\r\n\r\n"],
)
def test_malformed_requests_get_a_json_error(served: StatusServer, line: bytes) -> None:
    with socket.create_connection((served.host, served.port), timeout=10) as conn:
        conn.sendall(line)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/"):  # a line without a version is HTTP/0.9: a body alone
        assert json.loads(answer)["error"]
        return
    head, _, body = answer.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] (400|414|505) ", head), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys(inner)


def test_status_keys_are_snake_case_and_the_role_agrees_with_the_lease_gauge(
    served: StatusServer,
) -> None:
    document = json.loads(request(served, "GET", "/status")[2])
    assert document["services"], document  # the tick ran: the services' keys are in it too
    for old, new in CAMEL_ALIASES.items():
        assert document.pop(old) == document[new]  # the deprecated alias, same value
    camel = sorted({k for k in keys(document) if re.search(r"[a-z][A-Z]", k)})
    assert camel == [], camel
    assert document["role"] == "single" and document["leader"] is None
    metrics = request(served, "GET", "/metrics")[2].decode()
    assert re.search(r"^reconciler_lease_held 1\.0$", metrics, re.M), metrics
