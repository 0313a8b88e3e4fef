"""A GitHub REST API on 127.0.0.1 that holds every exchange to GitHub's published contract.

Each request is checked by ``tests.github_contract.Contract`` (operation, path parameters,
headers, body); one that breaks it is answered 422 as GitHub would, and what broke is kept in
``problems``. A good request is answered from the description's own example for that operation,
with the request's values in it, and the answer is checked against the response schema before
it is sent: a test fails on any problem, so no hand-written fake decides what GitHub accepts.

``faults`` scripts the next answers (a 502, a rate limit with its headers) in place of the
normal one; those answers are checked too (GitHub's basic-error body).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.github_contract import Contract, Operation

TOKEN = "ghp_test-token"
LIST_DEPLOYMENTS = "repos/list-deployments"
EXAMPLES = {
    "repos/create-commit-status": "#/components/examples/status",
    "repos/create-deployment": "#/components/examples/deployment-simple-example",
    "repos/create-deployment-status": "#/components/examples/deployment-status",
}


@dataclass(frozen=True)
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"


@dataclass(frozen=True)
class Exchange:
    at: float  # time.time() when it arrived (rate limits reset in Unix seconds)
    operation: str | None
    path: str
    params: dict[str, str]
    body: Any
    status: int
    answer: Any  # the JSON body sent back


class GitHubServer:
    def __init__(self, contract: Contract | None = None) -> None:
        self.contract = contract or Contract()
        self.faults: deque[Fault] = deque()
        self.exchanges: list[Exchange] = []
        self.problems: list[str] = []
        self.deployments: list[dict[str, Any]] = []  # created, newest first (as GitHub lists)
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GitHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def posted(self, operation: str) -> list[Exchange]:
        """The accepted requests of one operation, in order."""
        with self._lock:
            return [e for e in self.exchanges if e.operation == operation and e.status < 300]

    # -- answering ---------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        op, problems = self.contract.check_request(method, path, headers, raw)
        body = _json(raw)
        with self._lock:
            fault = self.faults.popleft() if self.faults and not problems else None
        extra: dict[str, str]
        answer: Any
        if headers.get("Authorization") != f"Bearer {TOKEN}":  # GitHub checks the token first
            status, extra, answer = 401, {}, {"message": "Bad credentials"}
        elif problems or op is None:
            status, extra, answer = 422, {}, _validation_failed(problems)
        elif fault is not None:
            status, extra = fault.status, fault.headers
            answer = {"message": fault.message, "documentation_url": "https://docs.github.com/rest"}
        elif op.operation_id == LIST_DEPLOYMENTS:
            status, extra, answer = 200, {}, self._listed(op.query)
        else:
            status, extra, answer = 201, {}, self._created(op, body)
        sent = self.contract.check_response(op, status, answer) if op else []
        with self._lock:
            self.problems += problems + [f"response: {p}" for p in sent]
            self.exchanges.append(
                Exchange(
                    time.time(),
                    op.operation_id if op else None,
                    path,
                    {**op.params, **op.query} if op else {},
                    body,
                    status,
                    answer,
                )
            )
        return status, extra, answer

    def _created(self, op: Operation, body: Any) -> dict[str, Any]:
        """The operation's example, carrying what was asked for."""
        created: dict[str, Any] = copy.deepcopy(self.contract.node(EXAMPLES[op.operation_id]))[
            "value"
        ]
        created["id"] = next(self._ids)
        asked = body if isinstance(body, dict) else {}
        if op.operation_id == "repos/create-deployment":
            created.update(sha=asked.get("ref"), ref=asked.get("ref"))
        keep = ("state", "description", "context", "target_url", "environment", "payload")
        created.update({k: asked[k] for k in keep if k in asked})
        if op.operation_id == "repos/create-deployment":
            with self._lock:
                self.deployments.insert(0, created)
        return created

    def _listed(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        wanted = {k: query[k] for k in ("sha", "environment") if k in query}
        with self._lock:
            found = [d for d in self.deployments if all(d[k] == v for k, v in wanted.items())]
        return found[: int(query.get("per_page", 30))]


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _validation_failed(problems: list[str]) -> dict[str, Any]:
    return {
        "message": "Validation Failed",
        "documentation_url": "https://docs.github.com/rest",
        "errors": [{"code": "invalid", "message": p} for p in problems],
    }


def _handler(server: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.do_POST(method="GET")

        def do_POST(self, method: str = "POST") -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, extra, answer = server.answer(method, self.path, dict(self.headers), raw)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
