"""webhook: which deliveries tick and what each is answered, over HTTP on 127.0.0.1.

The rules as plain data first (``parse_payload``, ``Webhook.skip``, ``Recent``), then over the
daemon's real HTTP server: form-encoded deliveries, deletions, bursts, replays, the repository
check, the log line and the metric of each result. GitHub's own payloads: test_webhook_replay.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from reconciler import errors
from reconciler.daemon.metrics import WEBHOOK_RESULTS, Metrics
from reconciler.daemon.run import webhook_repository
from reconciler.daemon.webhook import (
    Coalescer,
    Recent,
    TokenBucket,
    Webhook,
    parse_payload,
    sign,
)
from tests.hook_server import FORM, JSON, SECRET, Clock, Served, encode, serve

ZERO = "0" * 40
counter = iter(range(10**9))


def push(ref: str = "refs/heads/main", **fields: Any) -> dict[str, Any]:
    """A push payload, a new commit each time (GitHub never sends one body twice)."""
    return {"ref": ref, "before": "a" * 40, "after": f"{next(counter):040x}", **fields}


@pytest.fixture
def served() -> Iterator[Served]:
    with serve() as served:
        yield served


def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the rules as plain data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "ref"),
    [
        (b'{"ref": "refs/heads/main"}', JSON, "refs/heads/main"),
        (b'{"ref": "refs/heads/main"}', None, "refs/heads/main"),
        (b'{"ref": "refs/heads/main"}', "application/json; charset=utf-8", "refs/heads/main"),
        (b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fx%22%7D", FORM, "refs/heads/x"),
        (b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fx%22%7D", FORM.upper(), "refs/heads/x"),
        (b"payload=%7B%22ref%22%3A%22r%2Bs%22%7D", FORM + "; charset=utf-8", "r+s"),
        (b"payload=%7B%22ref%22%3A%22a+b%22%7D", FORM, "a b"),  # '+' is a space in a form
        (b"payload=" + quote('{"ref": "é"}').encode(), FORM, "é"),
        (b"payload=%7B%22ref%22%3A1%7D&other=2", FORM, 1),
        (b"{}", JSON, None),
    ],
)
def test_payloads_are_read_as_json_or_from_the_form_field(
    body: bytes, content_type: str | None, ref: object
) -> None:
    payload = parse_payload(body, content_type)
    assert isinstance(payload, dict)
    assert payload.get("ref") == ref


@pytest.mark.parametrize(
    ("body", "content_type", "why"),
    [
        (b"not json", JSON, "payload is not JSON"),
        (b"", JSON, "payload is not JSON"),
        (b"[1, 2]", JSON, "a JSON list, not an object"),
        (b'"text"', None, "a JSON str, not an object"),
        (b"\xff\xfe", JSON, "payload is not JSON"),
        (b"ref=refs/heads/main", FORM, "without a payload field"),
        (b"payload", FORM, "form-encoded body unreadable"),
        (b"\xff=1", FORM, "form-encoded body unreadable"),
        (b"payload=%7B", FORM, "payload is not JSON"),
        (b'{"ref": "refs/heads/main"}', FORM, "form-encoded body unreadable"),
        ("&".join(f"f{i}=1" for i in range(20)).encode(), FORM, "form-encoded body unreadable"),
    ],
)
def test_unreadable_payloads_say_why(body: bytes, content_type: str | None, why: str) -> None:
    found = parse_payload(body, content_type)
    assert isinstance(found, str) and why in found


def judge(branch: str | None = "main", repository: str | None = None) -> Webhook:
    return Webhook(
        secret=SECRET,
        trigger=lambda: None,
        metrics=Metrics(),
        branch=branch,
        repository=repository,
    )


@pytest.mark.parametrize(
    ("payload", "branch", "repository", "result"),
    [
        ({"ref": "refs/heads/main", "after": "1" * 40}, "main", None, None),
        ({"ref": "refs/heads/main", "deleted": False}, "main", None, None),
        ({"ref": "refs/heads/main", "created": True, "before": ZERO}, "main", None, None),
        ({"ref": "refs/heads/main", "deleted": True, "after": ZERO}, "main", None, "deleted"),
        ({"ref": "refs/heads/main", "after": ZERO}, "main", None, "deleted"),
        ({"ref": "refs/heads/main", "deleted": True}, "main", None, "deleted"),
        ({"ref": "refs/heads/main", "deleted": True}, None, None, "deleted"),
        ({"ref": "refs/heads/other", "deleted": True}, "main", None, "ref"),
        ({"ref": "refs/heads/feature"}, "main", None, "ref"),
        ({"ref": "refs/heads/main2"}, "main", None, "ref"),
        ({"ref": "refs/heads/release/1"}, "release/1", None, None),
        ({"ref": "refs/tags/main"}, "main", None, "ref"),
        ({"ref": "refs/tags/v1"}, None, None, None),
        ({"ref": "main"}, "main", None, "ref"),
        ({"ref": "refs/heads/feature"}, None, None, None),
        ({}, "main", None, None),  # a scripted trigger: signed, without a ref
        ({"ref": 7}, "main", None, None),
        ({"ref": "refs/heads/main", "repository": {"full_name": "o/n"}}, "main", "o/n", None),
        ({"ref": "refs/heads/main", "repository": {"full_name": "O/N"}}, "main", "o/n", None),
        ({"ref": "refs/heads/main", "repository": {"full_name": "o/m"}}, "main", "o/n", "repo"),
        ({"ref": "refs/heads/main", "repository": "o/n"}, "main", "o/n", "repo"),
        ({"ref": "refs/heads/main"}, "main", "o/n", "repo"),
        ({"ref": "refs/heads/x", "repository": {"full_name": "o/m"}}, "main", "o/n", "repo"),
    ],
)
def test_which_pushes_tick(
    payload: dict[str, Any], branch: str | None, repository: str | None, result: str | None
) -> None:
    skipped = judge(branch, repository).skip(payload)
    names = {"deleted": "ignored_deleted", "ref": "ignored_ref", "repo": "ignored_repository"}
    assert (skipped.result if skipped else None) == (names[result] if result else None)
    assert skipped is None or skipped.status == 202


@pytest.mark.parametrize(("capacity", "keys"), [(1, 5), (3, 10), (8, 8), (8, 100)])
def test_recent_remembers_the_newest_and_stays_bounded(capacity: int, keys: int) -> None:
    recent = Recent(capacity)
    assert [recent.seen(f"k{i}") for i in range(keys)] == [False] * keys
    assert len(recent) == min(capacity, keys)
    assert recent.seen(f"k{keys - 1}")  # the newest is remembered
    assert not recent.seen("k0") or keys <= capacity  # the oldest forgotten past the capacity


def test_recent_matches_on_any_key_and_remembers_them_all() -> None:
    recent = Recent(10)
    assert not recent.seen("id:1", "sig:a")
    assert recent.seen("id:2", "sig:a")  # the same body under a new id
    assert recent.seen("id:2")  # and that id is now known too
    assert not recent.seen("id:3", "sig:b")


def test_a_seen_key_is_refreshed_so_it_outlives_older_ones() -> None:
    recent = Recent(2)
    recent.seen("a")
    recent.seen("b")
    recent.seen("a")  # refreshed
    recent.seen("c")  # evicts b, the oldest
    assert recent.seen("a") and not recent.seen("b")


def test_the_coalescer_ticks_at_the_rate_and_once_more_when_it_allows() -> None:
    ticks: list[float] = []
    fired = threading.Event()

    def trigger() -> None:
        ticks.append(time.monotonic())
        fired.set()

    coalescer = Coalescer(trigger, TokenBucket(rate=5.0, burst=2, clock=Clock()))  # stopped
    try:
        answers = [coalescer.request() for _ in range(10)]
        assert answers[:2] == [None, None] and all(a is not None for a in answers[2:])
        assert len(ticks) == 2
        assert answers[2:] == [0.2] * 8  # each told when the folded tick is due
        wait_until(lambda: len(ticks) == 3)
        time.sleep(0.4)
        assert len(ticks) == 3  # ten requests, three ticks
    finally:
        coalescer.close()


def test_closing_the_coalescer_cancels_the_deferred_tick() -> None:
    ticks: list[int] = []
    coalescer = Coalescer(lambda: ticks.append(1), TokenBucket(rate=5.0, burst=1))
    assert coalescer.request() is None
    assert coalescer.request() is not None
    coalescer.close()
    time.sleep(0.4)
    assert ticks == [1]


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [JSON, FORM])
def test_a_push_to_the_branch_ticks_in_either_encoding(served: Served, content_type: str) -> None:
    answer = served.deliver(encode(push(), content_type), content_type=content_type)
    assert (answer.status, answer.result) == (202, "triggered")
    assert served.view.triggers == 1


@pytest.mark.parametrize("content_type", [JSON, FORM])
@pytest.mark.parametrize(
    ("payload", "result"),
    [
        (push("refs/heads/feature"), "ignored_ref"),
        (push("refs/tags/v1.0"), "ignored_ref"),
        (push(deleted=True, after=ZERO), "ignored_deleted"),
        (push(after=ZERO), "ignored_deleted"),
    ],
)
def test_other_refs_and_deletions_are_202_with_a_reason(
    served: Served, content_type: str, payload: dict[str, Any], result: str
) -> None:
    answer = served.deliver(encode(payload, content_type), content_type=content_type)
    assert (answer.status, answer.result) == (202, result)
    assert payload["ref"] in answer.body.decode()  # the reason names the ref
    assert served.view.triggers == 0


def test_a_form_delivery_is_signed_over_its_raw_body(served: Served) -> None:
    payload = push()
    form = encode(payload, FORM)
    inner = sign(secret=SECRET, body=encode(payload, JSON))  # the JSON inside: not what was sent
    assert served.deliver(form, content_type=FORM, signature=inner).status == 401
    assert served.deliver(form, content_type=FORM).status == 202


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"not json", JSON), (b"[]", JSON), (b"ref=refs/heads/main", FORM), (b"payload=%7B", FORM)],
)
def test_an_unreadable_signed_body_is_400_and_ticks_nothing(
    served: Served, body: bytes, content_type: str
) -> None:
    answer = served.deliver(body, content_type=content_type)
    assert (answer.status, answer.result) == (400, "bad_payload")
    assert served.view.triggers == 0


def test_a_burst_is_answered_202_and_folded_into_one_more_tick(served: Served) -> None:
    """The bucket (burst 3, 0.5 a second) on a stopped clock: 3 ticks now, and the 22 pushes past
    it folded into one tick when the bucket allows, 2 s later on the timer."""
    answers = [served.deliver(encode(push())) for _ in range(25)]
    assert {a.status for a in answers} == {202}  # never 429: GitHub would show a failure
    assert [a.result for a in answers] == ["triggered"] * 3 + ["coalesced"] * 22
    assert served.view.triggers == 3 and served.counted("coalesced") == 22
    assert "folded into the tick due in 2.0s" in answers[-1].body.decode()
    wait_until(lambda: served.view.triggers == 4)
    time.sleep(0.5)
    assert served.view.triggers == 4  # 25 pushes, 4 ticks


def test_pings_and_other_events_tick_nothing(served: Served) -> None:
    ping = served.deliver(encode({"zen": "Keep it logically awesome.", "hook_id": 1}), event="ping")
    assert (ping.status, ping.result) == (200, "ping")
    issue = served.deliver(encode(push()), event="issues")
    assert (issue.status, issue.result) == (202, "ignored_event")
    assert served.view.triggers == 0


def test_a_replayed_delivery_id_is_a_duplicate_and_ticks_nothing(served: Served) -> None:
    body = encode(push())
    first = served.deliver(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = served.deliver(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (first.status, first.result) == (202, "triggered")
    assert (again.status, again.result) == (200, "duplicate")
    other = served.deliver(encode(push()), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert other.result == "duplicate"  # the id alone is enough
    assert served.view.triggers == 1


def test_a_signed_body_replayed_under_a_new_id_is_a_duplicate(served: Served) -> None:
    body = encode(push())
    assert served.deliver(body, delivery="a").result == "triggered"
    assert served.deliver(body, delivery="b").result == "duplicate"  # the id is not signed
    assert served.deliver(body, delivery=None).result == "duplicate"
    assert served.view.triggers == 1


def test_a_refused_delivery_is_not_remembered_so_githubs_redeliver_works(served: Served) -> None:
    body = encode(push())
    bad = served.deliver(body, delivery="d-1", signature="sha256=" + "0" * 64)
    assert bad.status == 401
    assert served.deliver(body, delivery="d-1").result == "triggered"  # "Redeliver" in GitHub
    assert served.view.triggers == 1


def test_the_memory_of_deliveries_is_bounded() -> None:
    recent = Recent(capacity=4)
    with serve(recent=recent, bucket=TokenBucket(rate=1000, burst=1000)) as served:
        first = encode(push())
        assert served.deliver(first, delivery="first").result == "triggered"
        for i in range(10):
            served.deliver(encode(push()), delivery=f"d{i}")
        assert len(recent) == 4
        # Long forgotten: accepted again (the price of bounded memory, logged as triggered).
        assert served.deliver(first, delivery="first").result == "triggered"
        served.deliver(encode(push()), delivery="x" * 10_000)
        assert len(recent) == 4


def test_the_repository_check_ignores_other_repositories() -> None:
    with serve(repository="acme/deploy") as served:
        theirs = push(repository={"full_name": "someone/else"})
        answer = served.deliver(encode(theirs))
        assert (answer.status, answer.result) == (202, "ignored_repository")
        assert "someone/else" in answer.body.decode()
        ours = served.deliver(encode(push(repository={"full_name": "Acme/Deploy"})))
        assert ours.result == "triggered"
        assert served.view.triggers == 1


def test_each_delivery_is_logged_with_its_id_and_result(served: Served) -> None:
    with capture_logs() as logged:
        served.deliver(encode(push()), delivery="f0e1d2c3-0000-4000-8000-000000000001")
        served.deliver(encode(push("refs/heads/x")), delivery="f0e1d2c3-0000-4000-8000-00000002")
    hooks = [e for e in logged if e["event"] == "webhook"]
    assert [(e["delivery"], e["result"]) for e in hooks] == [
        ("f0e1d2c3-0000-4000-8000-000000000001", "triggered"),
        ("f0e1d2c3-0000-4000-8000-00000002", "ignored_ref"),
    ]
    assert hooks[0]["github_event"] == "push" and hooks[0]["status"] == 202


def test_every_result_has_its_metric_label(served: Served) -> None:
    assert all(served.counted(result) == 0 for result in WEBHOOK_RESULTS)  # exported at zero
    body = encode(push())
    served.deliver(body)  # triggered
    served.deliver(body)  # duplicate
    served.deliver(encode(push()), signature=None)  # unauthorized
    served.deliver(b"nope")  # bad_payload
    served.deliver(encode({"zen": "z"}), event="ping")
    served.deliver(encode(push()), event="issues")  # ignored_event
    served.deliver(encode(push("refs/heads/x")))  # ignored_ref
    served.deliver(encode(push(deleted=True, after=ZERO)))  # ignored_deleted
    served.deliver(encode(push()))
    served.deliver(encode(push()))  # the bucket (burst 3) is now empty
    served.deliver(encode(push()))  # coalesced
    counts = {result: served.counted(result) for result in WEBHOOK_RESULTS}
    assert counts == {
        "triggered": 3,
        "coalesced": 1,
        "duplicate": 1,
        "ping": 1,
        "ignored_event": 1,
        "ignored_repository": 0,  # no --webhook-repository here: see the test above
        "ignored_ref": 1,
        "ignored_deleted": 1,
        "unauthorized": 1,
        "bad_payload": 1,
    }


def test_webhook_repository_option_refuses_nonsense() -> None:
    assert webhook_repository("acme/deploy") == "acme/deploy"
    assert webhook_repository(None) is None and webhook_repository("") is None
    for bad in ("acme", "acme/deploy/x", "https://github.com/acme/deploy", "a b/c"):
        with pytest.raises(errors.UsageError, match=r"--webhook-repository.*OWNER/NAME"):
            webhook_repository(bad)


def test_the_bucket_refills_at_its_rate() -> None:
    """The served fixture's bucket runs on a fake clock: refilled, a push ticks again."""
    with serve() as served:
        for _ in range(3):
            served.deliver(encode(push()))
        assert served.view.triggers == 3
        served.clock.now += 2.0  # one token back at 0.5 a second
        assert served.deliver(encode(push())).result == "triggered"
        assert served.view.triggers == 4
