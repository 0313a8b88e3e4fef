"""The status page's paths on the daemon's HTTP server.

    GET  /                  the page (HTML; its data comes from /ui/state.json)
    GET  /ui/app.js, /ui/app.css, /ui/favicon.svg
    GET  /ui/state.json     what the page shows, polled every few seconds (read-only)
    POST /ui/actions        pause, resume or rollback: only with an action token (web.actions)

Every answer carries a Content-Security-Policy that allows our own files only (no inline
script, no other origin), and the page renders git's text (commit messages are user input)
with ``textContent`` alone, never as HTML.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any

import structlog

from reconciler.daemon.server import Reply
from reconciler.daemon.web.actions import Actor, Answer, Guard, parse_request, perform
from reconciler.daemon.web.state import PageState

log = structlog.get_logger("reconciler.daemon.web")

ACTIONS_PATH = "/ui/actions"
MAX_ACTION_BODY = 16 * 1024
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)
_STATIC = {
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/app.css": ("app.css", "text/css; charset=utf-8"),
    "/ui/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
_CSRF_MARK = "{{csrf}}"


def _static(name: str) -> bytes:
    return resources.files("reconciler.daemon.web").joinpath("static", name).read_bytes()


@dataclass
class Actions:
    """What acting needs: who authors the commits, the checks, and the tick to run after."""

    actor: Actor
    guard: Guard
    after: Callable[[], None] = lambda: None  # e.g. the daemon's trigger: show the commit soon


class WebPage:
    """The page's routes; ``get`` answers None for a path that is not the page's."""

    def __init__(self, state: PageState, *, actions: Actions | None = None) -> None:
        self.state = state
        self.actions = actions
        self._files = {path: (_static(name), kind) for path, (name, kind) in _STATIC.items()}
        self._index = _static("index.html").decode()
        self._acting = threading.Lock()  # one commit at a time in the checkout

    def get(self, path: str) -> Reply | None:
        if path in ("/", "/index.html"):
            csrf = self.actions.guard.csrf_token() if self.actions else ""
            page = self._index.replace(_CSRF_MARK, csrf)
            return _reply(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        if path in self._files:
            body, kind = self._files[path]
            return _reply(HTTPStatus.OK, body, kind)
        if path == "/ui/state.json":
            return _json(HTTPStatus.OK, self.state.document())
        if path == ACTIONS_PATH:
            return _json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST only"}, ("Allow", "POST"))
        return None

    def handles_post(self, path: str) -> bool:
        return path == ACTIONS_PATH

    def post(self, path: str, *, headers: Mapping[str, str], body: bytes) -> Reply:
        """POST /ui/actions; ``headers`` with lower-case names."""
        if path != ACTIONS_PATH or self.actions is None:
            message = "actions are off: start the daemon with --action-token-file"
            return _json(HTTPStatus.NOT_FOUND, {"error": message})
        if len(body) > MAX_ACTION_BODY:
            too_big = {"error": f"over {MAX_ACTION_BODY} B"}
            return _json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_big)
        answer = self._act(self.actions, headers=headers, body=body)
        log.info("web_action", status=int(answer.status), **_loggable(answer.body))
        return _json(answer.status, dict(answer.body))

    def _act(self, actions: Actions, *, headers: Mapping[str, str], body: bytes) -> Answer:
        refusal = actions.guard.refusal(headers)
        if refusal is not None:
            return refusal
        request = parse_request(body, services=self.state.services())
        if isinstance(request, Answer):
            return request
        with self._acting:
            answer = perform(actions.actor, request)
        if answer.status == HTTPStatus.OK:
            actions.after()
        return answer


def _loggable(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in ("error", "commit", "summary")}


def _reply(status: int, body: bytes, content_type: str, *extra: tuple[str, str]) -> Reply:
    return Reply(status, body, content_type, headers=SECURITY_HEADERS + extra)


def _json(status: int, data: Any, *extra: tuple[str, str]) -> Reply:
    text = json.dumps(data, sort_keys=True, default=str) + "\n"
    return _reply(status, text.encode(), "application/json", *extra)
