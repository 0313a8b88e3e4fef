"""GitHub's push webhook, ``POST /hooks/git``: which deliveries tick, and what each is answered.

A delivery goes through, in this order (GitHub's "Validating webhook deliveries", "Webhook events
and payloads" and "Best practices for using webhooks"):

1. **Signature**: ``X-Hub-Signature-256`` is HMAC-SHA256 of the raw body with the shared secret,
   compared in constant time; else 401 ``unauthorized``. Nothing of the body is read before.
2. **Body**: JSON (``application/json``) or form-encoded (``application/x-www-form-urlencoded``,
   the JSON in the field ``payload``), both signed over the raw bytes; an unreadable one is 400
   ``bad_payload``.
3. **Replay**: the ``X-GitHub-Delivery`` ids and the signatures of recent deliveries are
   remembered (``Recent``, bounded); one seen before is answered 200 ``duplicate`` and ticks
   nothing. The id is not signed, so the signature (a keyed digest of the body) is remembered too:
   a signed body replayed under a new id is a duplicate as well. GitHub's "Redeliver" sends the
   same id: it is refused only when the first delivery was accepted (a 401 is not remembered).
4. **Event**: ``ping`` is 200 ``ping``; anything but ``push`` is 202 ``ignored_event``.
5. **Repository** (only with ``repository`` set, ``--webhook-repository``): another
   ``repository.full_name`` is 202 ``ignored_repository`` (compared case-insensitively, as GitHub
   names are).
6. **Ref**: a tag, or a branch other than the followed one, is 202 ``ignored_ref``; a deletion
   (``deleted: true``, or ``after`` all zeros) of the followed branch is 202 ``ignored_deleted``:
   there is no commit to reconcile.
7. **Tick**: 202 ``triggered``, or ``coalesced`` when a burst outran the token bucket (below).

Every delivery is answered at once and never 429: GitHub shows a 4xx as failed and does not retry
it. A burst ticks at most at the bucket's rate; the deliveries past it are folded into one tick at
the moment the bucket allows, so the last push is never left waiting for the interval. Each result
is a value of ``reconciler_webhook_requests_total{result}`` and is logged with the delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import structlog

from reconciler.daemon.metrics import Metrics

log = structlog.get_logger("reconciler.daemon.webhook")

SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_HEADER = "X-GitHub-Delivery"
EVENT_HEADER = "X-GitHub-Event"
FORM = "application/x-www-form-urlencoded"
REMEMBERED = 4096  # deliveries remembered: hours of pushes, under a megabyte
_ID_LONGEST = 200  # a GUID is 36 characters; a longer id is kept cut, so memory stays bounded
_DELETED = "0" * 40


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float = 0.5
    burst: float = 3.0
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._at = self.clock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

    def wait_time(self) -> float:
        with self._lock:
            return max(0.0, (1.0 - self._tokens) / self.rate)


def signature_ok(*, secret: bytes, body: bytes, header: str | None) -> bool:
    """GitHub's ``sha256=<hex>`` over the raw body, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret=secret, body=body).encode(), header.strip().encode())


def sign(*, secret: bytes, body: bytes) -> str:
    """The header value GitHub would send (for tests and for scripted triggers)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Recent:
    """The last ``capacity`` keys seen, oldest forgotten first."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, *keys: str) -> bool:
        """Whether any of ``keys`` was seen before; all of them are remembered from now on."""
        with self._lock:
            found = any(key in self._keys for key in keys)
            for key in keys:
                self._keys[key] = None
                self._keys.move_to_end(key)
            while len(self._keys) > self.capacity:
                self._keys.popitem(last=False)
            return found

    def __len__(self) -> int:
        return len(self._keys)


class Coalescer:
    """Ticks for a burst of deliveries: at the bucket's rate, plus one when it next allows."""

    def __init__(self, trigger: Callable[[], None], bucket: TokenBucket) -> None:
        self._trigger = trigger
        self.bucket = bucket
        self._lock = threading.Lock()
        self._due: threading.Timer | None = None

    def request(self) -> float | None:
        """Tick now (None), or fold into the tick due in the seconds returned."""
        with self._lock:
            if self._due is not None:
                return max(0.0, self.bucket.wait_time())
            if self.bucket.take():
                self._trigger()
                return None
            wait = self.bucket.wait_time()
            self._due = threading.Timer(wait, self._fire)
            self._due.daemon = True
            self._due.start()
            return wait

    def _fire(self) -> None:
        with self._lock:
            self._due = None
            self.bucket.take()  # spent, even when the clock says not quite yet: one tick is due
            self._trigger()

    def close(self) -> None:
        with self._lock:
            due, self._due = self._due, None
        if due is not None:
            due.cancel()


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str | None = None
    event: str | None = None
    delivery: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Answer:
    result: str  # the metric label
    status: int
    message: str


class Webhook:
    """``handle(delivery)`` → the answer; ticks through ``trigger`` when it calls for one."""

    def __init__(
        self,
        *,
        secret: bytes,
        trigger: Callable[[], None],
        metrics: Metrics,
        branch: str | None = None,
        repository: str | None = None,
        bucket: TokenBucket | None = None,
        recent: Recent | None = None,
    ) -> None:
        self.secret = secret
        self.metrics = metrics
        self.branch = branch
        self.repository = repository
        self.coalescer = Coalescer(trigger, bucket or TokenBucket())
        self.recent = recent if recent is not None else Recent()  # an empty one is falsy

    def handle(self, delivery: Delivery) -> Answer:
        answer = self._judge(delivery)
        self.metrics.webhook(answer.result)
        log.info(
            "webhook",
            result=answer.result,
            status=int(answer.status),
            delivery=delivery.delivery,
            github_event=delivery.event,
            message=answer.message,
        )
        return answer

    def close(self) -> None:
        self.coalescer.close()

    def _judge(self, d: Delivery) -> Answer:
        if not signature_ok(secret=self.secret, body=d.body, header=d.signature):
            return Answer("unauthorized", HTTPStatus.UNAUTHORIZED, "bad signature")
        payload = parse_payload(d.body, d.content_type)
        if isinstance(payload, str):
            return Answer("bad_payload", HTTPStatus.BAD_REQUEST, payload)
        keys = [f"sig:{d.signature}"] + ([f"id:{d.delivery[:_ID_LONGEST]}"] if d.delivery else [])
        if self.recent.seen(*keys):
            return Answer("duplicate", HTTPStatus.OK, f"delivery {d.delivery} seen before")
        if d.event == "ping":
            return Answer("ping", HTTPStatus.OK, "pong")
        if d.event not in (None, "push"):
            return Answer("ignored_event", HTTPStatus.ACCEPTED, f"event {d.event} ignored")
        skip = self.skip(payload)
        if skip is not None:
            return skip
        wait = self.coalescer.request()
        if wait is None:
            return Answer("triggered", HTTPStatus.ACCEPTED, "reconcile triggered")
        return Answer("coalesced", HTTPStatus.ACCEPTED, f"folded into the tick due in {wait:.1f}s")

    def skip(self, push: dict[str, Any]) -> Answer | None:
        """Why this push ticks nothing (an answer), or None: it is for the followed branch.

        A signed payload without a ref is a scripted trigger, and ticks."""
        if self.repository is not None:
            repo = push.get("repository")
            name = repo.get("full_name") if isinstance(repo, dict) else None
            if not isinstance(name, str) or name.lower() != self.repository.lower():
                why = f"repository {name} is not {self.repository}"
                return Answer("ignored_repository", HTTPStatus.ACCEPTED, why)
        ref = push.get("ref")
        if not isinstance(ref, str):
            return None
        if self.branch is not None and ref != f"refs/heads/{self.branch}":
            return Answer("ignored_ref", HTTPStatus.ACCEPTED, f"push to {ref}, not the branch")
        if push.get("deleted") is True or push.get("after") == _DELETED:
            return Answer("ignored_deleted", HTTPStatus.ACCEPTED, f"{ref} was deleted")
        return None


def parse_payload(body: bytes, content_type: str | None) -> dict[str, Any] | str:
    """The delivery's JSON object, or why it cannot be read."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    text: str | bytes = body
    if media == FORM:
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError) as exc:
            return f"form-encoded body unreadable: {exc}"
        payloads = fields.get("payload")
        if not payloads:
            return "form-encoded body without a payload field"
        text = payloads[0]
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"payload is not JSON: {exc}"
    if not isinstance(payload, dict):
        return f"payload is a JSON {type(payload).__name__}, not an object"
    return payload
