"""The status page's action checks: same origin, JSON, the token, the page's CSRF token, the
request body, and where the token comes from. Plain data in, plain data out."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import errors
from reconciler.daemon.web.actions import Answer, Guard, Request, action_token, parse_request

TOKEN = b"the-token"
HOST = "127.0.0.1:9090"
GOOD = {
    "host": HOST,
    "origin": f"http://{HOST}",
    "sec-fetch-site": "same-origin",
    "content-type": "application/json",
    "authorization": "Bearer the-token",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({}, None),
        ({"sec-fetch-site": None}, None),  # an older browser: Origin alone decides
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"origin": "http://evil.example"}, 403),
        ({"origin": None}, 403),
        ({"origin": "null"}, 403),
        ({"origin": f"http://{HOST}.evil.example"}, 403),
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"authorization": None}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": "Basic the-token"}, 401),
        ({"csrf": "bad"}, 403),
        ({"csrf": None}, 403),
        ({"csrf": "00.1000000.00"}, 403),  # a guessed MAC
    ],
)
def test_an_action_needs_same_origin_json_the_token_and_the_pages_csrf_token(
    change: dict[str, str | None], status: int | None
) -> None:
    guard = Guard(token=TOKEN, clock=Clock())
    headers: dict[str, str | None] = {**GOOD, "x-csrf-token": guard.csrf_token()}
    if "csrf" in change:
        headers["x-csrf-token"] = change.pop("csrf")
    headers.update(change)
    refusal = guard.refusal({k: v for k, v in headers.items() if v is not None})
    assert (refusal.status if refusal else None) == status


PROXIED = "https://reconciler.example.internal"


@pytest.mark.parametrize(
    ("origin", "host", "status"),
    [
        # Behind a proxy that rewrites Host, the page's origin is --external-url's.
        (PROXIED, "127.0.0.1:9090", None),
        ("HTTPS://Reconciler.example.internal", "127.0.0.1:9090", None),
        (f"{PROXIED}:8443", "127.0.0.1:9090", 403),  # another port is another origin
        ("http://reconciler.example.internal", "127.0.0.1:9090", 403),  # and another scheme
        ("https://evil.example", "127.0.0.1:9090", 403),
        (f"http://{HOST}", HOST, None),  # the daemon's own address still works
    ],
)
def test_the_external_url_is_the_pages_origin_too(
    origin: str, host: str, status: int | None
) -> None:
    guard = Guard(token=TOKEN, clock=Clock(), external_url=f"{PROXIED}/status/")
    headers = {**GOOD, "origin": origin, "host": host, "x-csrf-token": guard.csrf_token()}
    refusal = guard.refusal({k: v for k, v in headers.items() if v is not None})
    assert (refusal.status if refusal else None) == status


@pytest.mark.parametrize(("age", "ok"), [(0, True), (3600, True), (12 * 3600 + 1, False)])
def test_a_csrf_token_expires(age: float, ok: bool) -> None:
    clock = Clock()
    guard = Guard(token=TOKEN, clock=clock)
    token = guard.csrf_token()
    clock.now += age
    assert guard.csrf_ok(token) is ok
    assert Guard(token=TOKEN, clock=clock).csrf_ok(token) is False  # another daemon's key


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"action": "pause", "service": "feedback"}', Request("pause", "feedback", "")),
        (
            b'{"action": "rollback", "service": "feedback", "reason": " bad deploy "}',
            Request("rollback", "feedback", "bad deploy"),
        ),
        (b'{"action": "retry", "service": "feedback"}', Request("retry", "feedback", "")),
        (b'{"action": "delete", "service": "feedback"}', 400),
        (b'{"action": "pause", "service": "other"}', 404),
        (b'{"action": "pause", "service": "feedback", "reason": 3}', 400),
        (b'{"action": "pause", "service": "feedback", "reason": "' + b"x" * 501 + b'"}', 400),
        (b"[]", 400),
        (b"not json", 400),
    ],
)
def test_an_action_request_names_a_known_action_and_service(
    body: bytes, expected: Request | int
) -> None:
    found = parse_request(body, services=["feedback"])
    if isinstance(expected, Request):
        assert found == expected
    else:
        assert isinstance(found, Answer) and found.status == expected


@pytest.mark.parametrize(
    ("content", "env", "expected"),
    [
        ("s3cret\n", {}, b"s3cret"),
        (None, {"RECONCILER_ACTION_TOKEN": " from-env "}, b"from-env"),
        (None, {}, None),
        (None, {"RECONCILER_ACTION_TOKEN": "  "}, None),
        ("", {}, "is empty"),
        ("missing", {}, "No such file"),
    ],
)
def test_the_action_token_comes_from_a_file_or_the_environment(
    tmp_path: Path, content: str | None, env: dict[str, str], expected: bytes | str | None
) -> None:
    file = tmp_path / "token"
    if content is not None and content != "missing":
        file.write_text(content)
    given = str(file) if content is not None else None
    if isinstance(expected, str):
        with pytest.raises(errors.UsageError, match=expected):
            action_token(file=given, env=env)
    else:
        assert action_token(file=given, env=env) == expected
