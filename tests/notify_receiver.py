"""A real HTTP receiver on 127.0.0.1 for the notification tests: it records every request and
answers from a script (status, headers, a delay before answering), then 200 once the script is
used up."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before answering (a hanging receiver: longer than the timeout)
    body: bytes = b"ok"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    script: list[Answer] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)  # ends every delay

    def answer(self) -> Answer:
        with self.lock:
            return self.script.pop(0) if self.script else Answer()

    def record(self, request: Received) -> None:
        with self.lock:
            self.received.append(request)

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        wait_until(lambda: len(self.requests()) >= count, timeout=timeout, what=f"{count} requests")
        return self.requests()

    def deliveries(self) -> list[Received]:
        """The requests as a webhook receiver keeps them: a retry of a delivery it already has
        (same ``X-Reconciler-Delivery``; delivery is at least once) is dropped."""
        seen: set[str] = set()
        kept = []
        for request in self.requests():
            delivery = request.headers.get("X-Reconciler-Delivery")
            if delivery is None or delivery not in seen:
                kept.append(request)
            if delivery is not None:
                seen.add(delivery)
        return kept

    def events(self) -> list[str]:
        return [r.json()["event"] for r in self.deliveries()]


def wait_until(done: Callable[[], bool], *, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@contextmanager
def receiver(*script: Answer) -> Iterator[Receiver]:
    state = Receiver(script=list(script))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.record(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
            answer = state.answer()
            if answer.delay:
                state.release.wait(answer.delay)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/reconciler"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
