"""``--notify`` read and checked at start, what a sink shows of itself, and the delivery's pure
parts: the backoff, Retry-After and which answers settle a delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from email.utils import formatdate
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.cli.main import main
from reconciler.daemon.notify.delivery import (
    DELIVERED,
    REJECTED,
    Attempt,
    Policy,
    backoff,
    retry_after,
    verdict,
)
from reconciler.daemon.notify.events import Event, Kind
from reconciler.daemon.notify.sinks import Sink, Stamped, parse_sinks, signature, verify

SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
ENV = {"RECONCILER_NOTIFY_SECRET": "s3cret", "SLACK_URL": SLACK}


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["webhook:https://ops.example/hook"], [("webhook", "webhook", "https://ops.example/hook")]),
        (["slack:env:SLACK_URL"], [("slack", "slack", SLACK)]),
        ([f"slack:{SLACK}", "webhook:http://127.0.0.1:8080/a", "slack:env:SLACK_URL"],
         [("slack", "slack-1", SLACK), ("webhook", "webhook", "http://127.0.0.1:8080/a"),
          ("slack", "slack-2", SLACK)]),
        ([" webhook : https://a.example/x "], [("webhook", "webhook", "https://a.example/x")]),
    ],
)  # fmt: skip
def test_notify_specs(specs: list[str], expected: list[tuple[str, str, str]]) -> None:
    sinks = parse_sinks(specs, secret_file=None, env=ENV)
    assert [(s.kind, s.name, s.url) for s in sinks] == expected
    assert all(s.secret == (b"s3cret" if s.kind == "webhook" else None) for s in sinks)


@pytest.mark.parametrize(
    ("spec", "env", "message"),
    [
        ("teams:https://x.example", ENV, "unknown kind 'teams'"),
        ("https://x.example/hook", ENV, "unknown kind 'https'"),
        ("slack", ENV, "unknown kind '(no kind)'"),
        ("slack:", ENV, "not an http(s) URL"),
        ("slack:ftp://x.example/a", ENV, "not an http(s) URL"),
        ("slack:hooks.slack.com/services/T/B/XXXXSECRETXXXX", ENV, "not an http(s) URL"),
        ("slack:env:NOPE", ENV, "environment variable 'NOPE' is not set"),
        ("slack:file:/nonexistent/url", ENV, "No such file or directory: /nonexistent/url"),
        ("webhook:https://x.example", {}, "needs a signing secret"),
    ],
)
def test_a_bad_spec_is_a_usage_error_that_never_shows_the_url(
    spec: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(errors.UsageError) as caught:
        parse_sinks([spec], secret_file=None, env=env)
    assert message in str(caught.value)
    assert "XXXXSECRETXXXX" not in str(caught.value)


def test_urls_and_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "url").write_text(SLACK + "\n")
    (tmp_path / "secret").write_text("from-a-file\n")
    specs = [f"slack:file:{tmp_path / 'url'}", "webhook:https://a.example/x"]
    slack, hook = parse_sinks(specs, secret_file=str(tmp_path / "secret"), env={})
    assert slack.url == SLACK and hook.secret == b"from-a-file"
    with pytest.raises(errors.UsageError, match="--notify-secret-file: No such file"):
        parse_sinks(specs, secret_file=str(tmp_path / "none"), env=ENV)


def test_a_sink_shows_its_kind_and_host_only() -> None:
    sink = Sink("slack", "slack", SLACK)
    assert sink.display == "https://hooks.slack.com/…"
    assert "SECRET" not in repr(sink) and "s3cret" not in repr(
        Sink("webhook", "w", SLACK, b"s3cret")
    )
    assert (
        Sink("webhook", "w", "http://user:pw@127.0.0.1:9/a?token=t").display
        == "http://127.0.0.1:9/…"
    )


def test_run_refuses_a_bad_notify_at_start_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--repo", ".", "--once", "--notify", "slack:hooks.slack.com/T/B/XXXXSECRETXXXX"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--notify slack:" in err and "Traceback" not in err
    assert "XXXXSECRETXXXX" not in err


def test_the_signature_recipe() -> None:
    body = b'{"event":"rollout_started"}'
    header = signature(b"k", body, timestamp=1700000000)
    digest = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"
    assert verify(b"k", body, header, now=1700000000 + 299)
    assert not verify(b"k", body, header, now=1700000000 - 301)
    assert not verify(b"k", body, "t=abc,v1=00", now=1700000000)
    assert not verify(b"k", body, None, now=1700000000)


# ------------------------------------------------------------------------------------------------
# Delivery's pure parts
# ------------------------------------------------------------------------------------------------

POLICY = Policy(base=1.0, cap=60.0)


@pytest.mark.parametrize(
    ("attempt", "jitter", "seconds"),
    [(0, 0.0, 0.5), (0, 1.0, 1.0), (1, 0.0, 1.0), (3, 0.5, 6.0), (5, 1.0, 32.0), (6, 0.0, 30.0),
     (20, 1.0, 60.0)],
)  # fmt: skip
def test_backoff_doubles_with_jitter_up_to_the_cap(
    attempt: int, jitter: float, seconds: float
) -> None:
    assert backoff(attempt, POLICY, rand=lambda: jitter) == seconds


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), (formatdate(NOW + 30, usegmt=True), 30.0),
     (formatdate(NOW - 30, usegmt=True), 0.0), ("soon", None), ("-5", None), ("", None),
     (None, None), ("1.5", None)],
)  # fmt: skip
def test_retry_after_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("attempt", "settled"),
    [(Attempt(200), DELIVERED), (Attempt(204), DELIVERED), (Attempt(400), REJECTED),
     (Attempt(403), REJECTED), (Attempt(404), REJECTED), (Attempt(410), REJECTED),
     (Attempt(302), REJECTED), (Attempt(429), None), (Attempt(500), None), (Attempt(503), None),
     (Attempt(None, error="timeout"), None), (Attempt(None, error="ConnectionError"), None)],
)  # fmt: skip
def test_which_answers_settle_a_delivery(attempt: Attempt, settled: str | None) -> None:
    assert verdict(attempt) == settled


def test_a_delivery_id_is_one_events_across_its_retries_and_a_recurrence_gets_its_own() -> None:
    drift = Event(Kind.DRIFT_CORRECTED, "feedback", "r", "t", key="drift_corrected:feedback:x")
    first, again = Stamped(drift, 1000.0), Stamped(drift, 1000.0)
    later = Stamped(drift, 4600.0)
    assert first.delivery == again.delivery != later.delivery
    sink = Sink("webhook", "webhook", "http://127.0.0.1:9/x", b"k")
    one, two = (json.loads(sink.request(first, now=t)[0]) for t in (1000.0, 1060.0))
    assert one == two and one["id"] == first.delivery
