"""The page's actions (pause, resume, rollback): who may ask, and how the request is checked.

Actions are offered only when the daemon was started with an action token. Each is a commit
authored exactly as ``reconciler pause|rollback`` authors it (the ``Actor`` comes from the
command line's layer, which owns the operator commands), never a write to AWS. A request must:

1. be a POST from the page's own origin: ``Sec-Fetch-Site`` (when the browser sends it) is
   ``same-origin``, and ``Origin`` names the host the request was sent to, or the origin of
   ``--external-url`` (a reverse proxy in front of the daemon may rewrite ``Host``);
2. carry ``Content-Type: application/json``, which no cross-site form can send;
3. carry the token, ``Authorization: Bearer TOKEN`` (compared in constant time);
4. carry the page's CSRF token (``X-CSRF-Token``): an HMAC, with a key made at start-up, of a
   nonce and the time the page was served, valid for ``CSRF_TTL``.

Retry is the exception, as on the command line: ``reconciler retry`` forgets a failure by
rewriting a tag on AWS, which is no commit, and the page asks the daemon to do the same between
two ticks (``Daemon.retry``). It changes nothing that runs; the next tick rolls git's desired
state out again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from reconciler import errors
from reconciler.daemon.secrets import read_secret

ACTIONS = ("pause", "resume", "rollback", "retry")
CSRF_TTL = 12 * 3600.0  # seconds a served page may act; a reload gives a new token
MAX_REASON = 500  # characters of the reason that go into the commit message
TOKEN_ENV = "RECONCILER_ACTION_TOKEN"


@dataclass(frozen=True)
class Acted:
    """A commit an action authored."""

    commit: str | None
    summary: str


class Actor(Protocol):
    """Author the commit for ``action`` on ``service``; ``errors.OperatorError`` if it cannot."""

    def __call__(self, action: str, service: str, reason: str) -> Acted: ...


@dataclass(frozen=True)
class Answer:
    """What an action request gets: an HTTP status and a JSON body."""

    status: int
    body: Mapping[str, Any]


def action_token(*, file: str | None, env: Mapping[str, str]) -> bytes | None:
    """The token from ``file`` or ``RECONCILER_ACTION_TOKEN``; None: the page is read-only."""
    text = read_secret(option="--action-token-file", file=file, env=env, names=(TOKEN_ENV,))
    return text.encode() if text else None


class Guard:
    """The checks before an action runs, and the CSRF tokens the page is served with."""

    def __init__(
        self,
        *,
        token: bytes,
        key: bytes | None = None,
        ttl: float = CSRF_TTL,
        clock: Callable[[], float] = time.time,
        external_url: str | None = None,
    ) -> None:
        self._token = token
        self._external = _origin(external_url) if external_url else None
        self._key = key or secrets.token_bytes(32)
        self._ttl = ttl
        self._clock = clock

    def csrf_token(self) -> str:
        nonce = secrets.token_hex(16)
        stamp = str(int(self._clock()))
        return f"{nonce}.{stamp}.{self._mac(nonce, stamp)}"

    def _mac(self, nonce: str, stamp: str) -> str:
        return hmac.new(self._key, f"{nonce}.{stamp}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, value: str | None) -> bool:
        parts = (value or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        nonce, stamp, mac = parts
        fresh = 0 <= self._clock() - int(stamp) <= self._ttl
        return fresh and hmac.compare_digest(self._mac(nonce, stamp), mac)

    def token_ok(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        )

    def refusal(self, headers: Mapping[str, str]) -> Answer | None:
        """Why this request may not act, or None when it may."""
        site = headers.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            return _refused(HTTPStatus.FORBIDDEN, f"cross-site request refused ({site})")
        origin = headers.get("origin")
        proxied = self._external is not None and _origin(origin or "") == self._external
        if not proxied and not _same_origin(origin, headers.get("host")):
            return _refused(HTTPStatus.FORBIDDEN, "the Origin header must name this page's host")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        if not self.token_ok(headers.get("authorization")):
            return _refused(HTTPStatus.UNAUTHORIZED, "a valid action token is required")
        if not self.csrf_ok(headers.get("x-csrf-token")):
            return _refused(HTTPStatus.FORBIDDEN, "bad or expired CSRF token: reload the page")
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _same_origin(origin: str | None, host: str | None) -> bool:
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


@dataclass(frozen=True)
class Request:
    action: str
    service: str
    reason: str


def parse_request(body: bytes, *, services: Collection[str]) -> Request | Answer:
    """The JSON body ``{"action", "service", "reason"}``, or why it is refused."""
    try:
        data = json.loads(body)
    except ValueError:
        return _refused(HTTPStatus.BAD_REQUEST, "the body is not JSON")
    if not isinstance(data, dict):
        return _refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
    action, service, reason = data.get("action"), data.get("service"), data.get("reason", "")
    if action not in ACTIONS:
        return _refused(HTTPStatus.BAD_REQUEST, f"action must be one of {', '.join(ACTIONS)}")
    if not isinstance(service, str) or service not in services:
        return _refused(HTTPStatus.NOT_FOUND, f"no service {service!r}")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        return _refused(HTTPStatus.BAD_REQUEST, f"reason: a string of at most {MAX_REASON}")
    return Request(action=str(action), service=service, reason=reason.strip())


def perform(actor: Actor, request: Request) -> Answer:
    """Run the action; an operator's refusal (already paused, nothing to roll back) is a 409."""
    reason = request.reason or "from the status page"
    try:
        acted = actor(request.action, request.service, reason)
    except errors.OperatorError as exc:
        return _refused(HTTPStatus.CONFLICT, str(exc))
    result = "committed" if acted.commit else "done"
    body = {"result": result, "commit": acted.commit, "summary": acted.summary}
    return Answer(HTTPStatus.OK, body)


def _refused(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})
