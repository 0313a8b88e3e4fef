"""Notification delivery against real HTTP receivers on 127.0.0.1: signatures, Slack's shape,
retries, Retry-After, a hanging receiver, a dead port, the bounded queue and the stop."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.daemon.listeners import Listeners, TickView
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify.delivery import Policy
from reconciler.daemon.notify.events import Event, Kind
from reconciler.daemon.notify.notifier import Notifier
from reconciler.daemon.notify.sinks import Sink, Stamped, verify
from reconciler.daemon.revisions import Followed
from tests.notify_receiver import Answer, Receiver, receiver, wait_until
from tests.test_loop import closed_port

SECRET = b"notify-test-secret"
FAST = Policy(capacity=100, timeout=0.5, base=0.02, cap=0.1, give_up_after=2.0)


def event(n: int = 0, kind: Kind = Kind.ROLLOUT_FAILED) -> Event:
    return Event(
        kind,
        "feedback",
        "a" * 40,
        f"feedback: rollout failed of aaaaaaaaaaaa #{n}",
        "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%) <b>&</b>",
        (("service", "feedback"), ("n", str(n))),
        key=f"{kind}:feedback:{n}",
    )


@contextmanager
def notifier(
    *sinks: Sink, policy: Policy = FAST, metrics: Metrics | None = None
) -> Iterator[Notifier]:
    found = Notifier(sinks, metrics=metrics or Metrics(), policy=policy).attach(Listeners())
    try:
        yield found
    finally:
        found.stop(flush=1.0)


def send(n: Notifier, *events: Event) -> None:
    for e in events:
        for outbox in n.outboxes:
            outbox.offer(Stamped(e, time.time()))


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def webhook(at: Receiver) -> Sink:
    return Sink("webhook", "webhook", at.url, SECRET)


# ------------------------------------------------------------------------------------------------
# What a receiver gets
# ------------------------------------------------------------------------------------------------


def test_the_webhook_is_signed_over_timestamp_and_body_and_carries_the_event() -> None:
    send_at = time.time()
    with receiver() as at:
        with notifier(webhook(at)) as n:
            send(n, event(1))
            [got] = at.wait_for(1)
        header = got.headers["X-Reconciler-Signature"]
        fields = dict(part.split("=", 1) for part in header.split(","))
        # Recomputed here from the documented recipe, not with the product's function.
        mac = hmac.new(SECRET, fields["t"].encode() + b"." + got.body, hashlib.sha256)
        assert hmac.compare_digest(fields["v1"], mac.hexdigest())
        assert abs(int(fields["t"]) - send_at) < 30
        assert verify(SECRET, got.body, header, now=time.time())
        assert not verify(b"another secret", got.body, header, now=time.time())
        assert not verify(SECRET, got.body + b" ", header, now=time.time())
        assert not verify(SECRET, got.body, header, now=time.time() + 301)  # a replay, later
        payload = got.json()
        assert payload["event"] == "rollout_failed" and payload["severity"] == "error"
        assert payload["service"] == "feedback" and payload["revision"] == "a" * 40
        assert payload["details"] == {"service": "feedback", "n": "1"}
        assert payload["time"].endswith("Z")
        assert got.headers["X-Reconciler-Event"] == "rollout_failed"
        assert got.headers["X-Reconciler-Delivery"] == payload["id"]
        assert got.headers["Content-Type"] == "application/json"


def test_slack_gets_text_and_blocks_in_an_attachment_coloured_by_severity() -> None:
    with receiver() as at, notifier(Sink("slack", "slack", at.url)) as n:
        send(n, event(1), event(2, Kind.ROLLOUT_SUCCEEDED))
        first, second = at.wait_for(2)
    message = first.json()
    assert set(message) == {"text", "attachments"}
    assert message["text"] == "feedback: rollout failed of aaaaaaaaaaaa #1"
    [attachment] = message["attachments"]
    assert attachment["color"] == "#e01e5a"
    section, context = attachment["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("*feedback: rollout failed of aaaaaaaaaaaa #1*\n")
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in section["text"]["text"]  # Slack's escaping
    assert context == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "*service:* feedback"},
            {"type": "mrkdwn", "text": "*n:* 1"},
        ],
    }
    assert second.json()["attachments"][0]["color"] == "#2eb67d"
    assert "X-Reconciler-Signature" not in first.headers  # Slack's URL is its secret


def test_a_500_is_retried_with_the_same_delivery_id_and_a_fresh_signature() -> None:
    metrics = Metrics()
    with receiver(Answer(500), Answer(503)) as at:
        with notifier(webhook(at), metrics=metrics) as n:
            send(n, event(1))
            wait_until(
                lambda: sample(metrics, "reconciler_notifications_total", **delivered) == 1,
                timeout=5,
                what="delivery",
            )
        requests = at.requests()
    assert len(requests) == 3
    assert len({r.headers["X-Reconciler-Delivery"] for r in requests}) == 1
    assert all(
        verify(SECRET, r.body, r.headers["X-Reconciler-Signature"], now=time.time())
        for r in requests
    )
    assert sample(metrics, "reconciler_notification_retries_total", sink="webhook") == 2
    # The backoff grows: the second wait is at least the first's minimum doubled.
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= FAST.base / 2 and gaps[1] >= FAST.base


delivered = {"sink": "webhook", "event": "rollout_failed", "result": "delivered"}


def test_a_429_waits_what_retry_after_asks() -> None:
    metrics = Metrics()
    with (
        receiver(Answer(429, (("Retry-After", "1"),))) as at,
        notifier(webhook(at), metrics=metrics) as n,
    ):
        send(n, event(1))
        first, second = at.wait_for(2, timeout=5)
    # The backoff alone would have retried within 0.1 s.
    assert second.at - first.at >= 0.95
    assert sample(metrics, "reconciler_notifications_total", **delivered) == 1


def test_a_4xx_is_not_retried() -> None:
    metrics = Metrics()
    with receiver(Answer(400, body=b"invalid_payload")) as at:
        with notifier(webhook(at), metrics=metrics) as n:
            send(n, event(1))
            at.wait_for(1)
            wait_until(
                lambda: sample(metrics, "reconciler_notifications_total", **rejected) == 1,
                timeout=5,
                what="rejection",
            )
        assert len(at.requests()) == 1
    assert sample(metrics, "reconciler_notification_retries_total", sink="webhook") == 0


rejected = {**delivered, "result": "rejected"}
gave_up = {**delivered, "result": "gave_up"}


def test_a_dead_port_is_retried_then_given_up_after_a_bounded_time() -> None:
    metrics = Metrics()
    url = f"http://127.0.0.1:{closed_port()}/hook"
    started = time.monotonic()
    with notifier(Sink("webhook", "webhook", url, SECRET), metrics=metrics) as n:
        send(n, event(1))
        wait_until(
            lambda: sample(metrics, "reconciler_notifications_total", **gave_up) == 1,
            timeout=10,
            what="giving up",
        )
    assert time.monotonic() - started < FAST.give_up_after + 2
    assert sample(metrics, "reconciler_notification_retries_total", sink="webhook") >= 3


# ------------------------------------------------------------------------------------------------
# A receiver that hangs: the tick is never slowed, memory is bounded, the stop is bounded
# ------------------------------------------------------------------------------------------------


def test_a_hanging_receiver_neither_slows_the_listener_nor_grows_the_queue() -> None:
    metrics = Metrics()
    # A send that waited on the receiver would take its 5 s timeout: the bound is far below it,
    # and far above a loaded machine's queueing.
    small = Policy(capacity=5, timeout=5.0, base=0.02, cap=0.1, give_up_after=30.0)
    view = TickView((), {}, Followed())
    with receiver(*[Answer(delay=30.0)] * 100) as at:
        with notifier(webhook(at), policy=small, metrics=metrics) as n:
            send(n, event(0))
            at.wait_for(1)  # the first is in flight, hanging
            began = time.monotonic()
            for i in range(1, 51):
                send(n, event(i))
                n(view)  # what the daemon calls after each tick
            took = time.monotonic() - began
            assert took < 2.0, took
            outbox = n.outboxes[0]
            assert outbox.pending() == 5
            assert sample(metrics, "reconciler_notifications_queued", sink="webhook") == 5
            assert (
                sample(
                    metrics,
                    "reconciler_notifications_dropped_total",
                    sink="webhook",
                    reason="queue_full",
                )
                == 45
            )
            at.release.set()  # the receiver recovers: the newest five follow the first
            wait_until(
                lambda: sample(metrics, "reconciler_notifications_total", **delivered) == 6,
                timeout=10,
                what="the queue to drain",
            )
        numbers = [r.json()["details"]["n"] for r in at.requests()]
    assert numbers[0] == "0" and set(numbers) == {"0", "46", "47", "48", "49", "50"}


def test_a_stop_flushes_the_queue_and_a_hanging_receiver_cannot_hold_it() -> None:
    with receiver() as at:
        n = Notifier([webhook(at)], metrics=Metrics(), policy=FAST).attach(Listeners())
        send(n, *[event(i) for i in range(5)])
        n.stop(flush=3.0)
        assert len(at.requests()) == 5

    metrics = Metrics()
    with receiver(*[Answer(delay=30.0)] * 10) as at:
        n = Notifier([webhook(at)], metrics=metrics, policy=FAST).attach(Listeners())
        send(n, *[event(i) for i in range(4)])
        at.wait_for(1)
        began = time.monotonic()
        n.stop(flush=1.0)
        assert time.monotonic() - began < 2.5
        dropped = sample(
            metrics, "reconciler_notifications_dropped_total", sink="webhook", reason="shutdown"
        )
        assert dropped == 3


def test_every_series_is_there_at_0_before_the_first_notification() -> None:
    metrics = Metrics()
    sinks = [
        Sink("slack", "slack", "http://127.0.0.1:9/x"),
        Sink("webhook", "webhook", "http://127.0.0.1:9/y", SECRET),
    ]
    with notifier(*sinks, metrics=metrics):
        text = metrics.render()[0].decode()
    for sink in ("slack", "webhook"):
        for kind in Kind:
            for result in ("delivered", "rejected", "gave_up"):
                labels = {"sink": sink, "event": kind.value, "result": result}
                assert sample(metrics, "reconciler_notifications_total", **labels) == 0
        for reason in ("queue_full", "shutdown"):
            assert (
                sample(metrics, "reconciler_notifications_dropped_total", sink=sink, reason=reason)
                == 0
            )
        assert sample(metrics, "reconciler_notification_retries_total", sink=sink) == 0
    assert "_created" not in text
