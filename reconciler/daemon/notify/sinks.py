"""Where events go (``--notify KIND:TARGET``), and each receiver's request for an event.

``KIND`` is ``webhook`` (our JSON, HMAC-signed) or ``slack`` (a Slack incoming webhook).
``TARGET`` is the URL, or ``env:NAME`` / ``file:PATH`` to read it from, so a URL that carries
a token (Slack's does) need not be on the command line. Logs and metrics only ever name a sink
by its kind and host: a URL's path and query may hold a token.

The webhook's signature (``X-Reconciler-Signature: t=<unix seconds>,v1=<hex>``) is
HMAC-SHA256 over ``<t>.<raw body>`` with the shared secret; a receiver recomputes it, compares
in constant time and refuses a ``t`` more than five minutes away from its clock, so a recorded
request cannot be replayed later. Each attempt is signed afresh; ``X-Reconciler-Delivery`` is
the same for every attempt of an event, for the receiver to deduplicate retries (a re-send
after a restart is a delivery of its own).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.daemon.notify.events import Event, Severity
from reconciler.daemon.secrets import read_secret

KINDS = ("webhook", "slack")
SECRET_ENV = "RECONCILER_NOTIFY_SECRET"
SIGNATURE_HEADER = "X-Reconciler-Signature"
TOLERANCE = 300.0  # seconds a signature's timestamp may be off: the replay window
USAGE = (
    "use webhook:URL or slack:URL, where URL is http(s)://..., env:VARIABLE or file:PATH"
    " (e.g. --notify slack:env:SLACK_WEBHOOK_URL)"
)
# Slack's attachment colours: green, blue, amber, red.
COLOURS = {
    Severity.SUCCESS: "#2eb67d",
    Severity.INFO: "#36c5f0",
    Severity.WARNING: "#ecb22e",
    Severity.ERROR: "#e01e5a",
}
_SLACK_TEXT_LIMIT = 3000  # characters of a section block's text


@dataclass(frozen=True)
class Stamped:
    """An event, when it was seen (Unix seconds), and the id all its attempts carry."""

    event: Event
    at: float

    @property
    def delivery(self) -> str:
        # The time too: a drift or a stall that comes back is news again, with an id of its own.
        return hashlib.sha256(f"{self.event.key}@{self.at}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Sink:
    kind: str  # webhook | slack
    name: str  # the metrics label: the kind, numbered when given more than once
    url: str = field(default="", repr=False)  # never in a repr: it may hold a token
    secret: bytes | None = field(default=None, repr=False)  # webhook only

    @property
    def display(self) -> str:
        """The URL without what may be secret: ``https://hooks.slack.com/…``."""
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/…"

    def request(self, stamped: Stamped, *, now: float) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt at ``now`` (Unix seconds)."""
        headers = {"Content-Type": "application/json", "User-Agent": "asg-reconciler"}
        if self.kind == "slack":
            return _json(slack_message(stamped.event)), headers
        body = _json(webhook_payload(stamped))
        headers["X-Reconciler-Event"] = stamped.event.kind.value
        headers["X-Reconciler-Delivery"] = stamped.delivery
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, body, timestamp=int(now))
        return body, headers


# ------------------------------------------------------------------------------------------------
# --notify, read and checked at start
# ------------------------------------------------------------------------------------------------


def parse_sinks(
    specs: Sequence[str], *, secret_file: str | None, env: Mapping[str, str]
) -> tuple[Sink, ...]:
    """``--notify`` values → sinks; a ``UsageError`` naming the bad one (never its URL)."""
    kinds = [_kind(spec) for spec in specs]
    secret = _secret(secret_file, env) if "webhook" in kinds else None
    if "webhook" in kinds and secret is None:
        raise errors.UsageError(
            f"--notify webhook: needs a signing secret: --notify-secret-file FILE or {SECRET_ENV}"
        )
    sinks: list[Sink] = []
    for index, (spec, kind) in enumerate(zip(specs, kinds, strict=True)):
        count = kinds.count(kind)
        number = kinds[: index + 1].count(kind)
        url = _url(spec.partition(":")[2].strip(), kind=kind, env=env)
        name = kind if count == 1 else f"{kind}-{number}"
        sinks.append(Sink(kind, name, url, secret if kind == "webhook" else None))
    return tuple(sinks)


def _kind(spec: str) -> str:
    kind, colon, _ = spec.partition(":")
    if not colon or kind.strip() not in KINDS:
        shown = kind.strip() if colon else "(no kind)"
        raise errors.UsageError(f"--notify: unknown kind {shown!r}: {USAGE}")
    return kind.strip()


def _url(target: str, *, kind: str, env: Mapping[str, str]) -> str:
    where = f"--notify {kind}:"
    if target.startswith("env:"):
        name = target[4:]
        target = env.get(name, "").strip()
        if not target:
            raise errors.UsageError(f"{where} environment variable {name!r} is not set or empty")
        where += f"env:{name}"
    elif target.startswith("file:"):
        path = target[5:]
        try:
            target = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise errors.UsageError(f"{where} {exc.strerror}: {path}") from None
        where += f"file:{path}"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not shown: it may be a token pasted in the wrong place.
        raise errors.UsageError(f"{where}: not an http(s) URL with a host: {USAGE}")
    return target


def _secret(file: str | None, env: Mapping[str, str]) -> bytes | None:
    text = read_secret(option="--notify-secret-file", file=file, env=env, names=(SECRET_ENV,))
    return text.encode() if text else None


# ------------------------------------------------------------------------------------------------
# The webhook: our JSON, signed
# ------------------------------------------------------------------------------------------------


def webhook_payload(stamped: Stamped) -> dict[str, Any]:
    event = stamped.event
    return {
        "id": stamped.delivery,
        "event": event.kind.value,
        "severity": event.severity.value,
        "service": event.service or None,
        "revision": event.revision,
        "title": event.title,
        "text": event.text,
        "details": dict(event.details),
        "time": _iso(stamped.at),
    }


def signature(secret: bytes, body: bytes, *, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, body: bytes, header: str | None, *, now: float) -> bool:
    """What a receiver does: the header parses, is recent, and its digest matches."""
    fields = dict(part.partition("=")[::2] for part in (header or "").split(","))
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > TOLERANCE:
        return False
    expected = signature(secret, body, timestamp=timestamp).encode()
    return hmac.compare_digest(expected, (header or "").strip().encode())


# ------------------------------------------------------------------------------------------------
# Slack: text for the notification, blocks in an attachment coloured by severity
# ------------------------------------------------------------------------------------------------


def slack_message(event: Event) -> dict[str, Any]:
    """Slack's incoming-webhook message: ``text`` is the fallback (and the push notification),
    the blocks sit in an attachment, since only attachments carry a colour."""
    title = slack_escape(event.title)
    body = f"*{title}*" + (f"\n{slack_escape(event.text)}" if event.text else "")
    if len(body) > _SLACK_TEXT_LIMIT:
        body = body[: _SLACK_TEXT_LIMIT - 1] + "…"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    facts = [f"*{slack_escape(k)}:* {slack_escape(v)}" for k, v in event.details][:10]
    if facts:
        elements = [{"type": "mrkdwn", "text": fact} for fact in facts]
        blocks.append({"type": "context", "elements": elements})
    return {
        "text": title,
        "attachments": [{"color": COLOURS[event.severity], "blocks": blocks}],
    }


def slack_escape(text: str) -> str:
    """Slack's three control characters (its message formatting guide)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
