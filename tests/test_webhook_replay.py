"""GitHub's real webhook payloads (``@octokit/webhooks-examples``, tests/vendor/) replayed, signed,
to the daemon's HTTP server on 127.0.0.1, as JSON and as form-encoded deliveries.

Their repository is ``Codertocat/Hello-World``; their branch push is to ``refs/heads/master``, so
the server follows ``master`` unless a case says otherwise. The examples only delete tags: a
deleted branch is the real tag-deletion payload with its ``ref`` set to the followed branch (the
only field changed, said so where it is done).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.daemon.webhook import TokenBucket
from tests import test_daemon_e2e as e2e
from tests.hook_server import FORM, JSON, HookClient, Served, encode, serve
from tests.test_daemon_e2e import SECRET, CallTimes, wait_for
from tests.test_loop import deploy

VENDOR = Path(__file__).parent / "vendor" / "octokit-webhooks-examples"
REPOSITORY = "Codertocat/Hello-World"
ENCODINGS = [JSON, FORM]


@cache
def examples(event: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads((VENDOR / f"{event}.json").read_text(encoding="utf-8")))


def branch_push() -> dict[str, Any]:
    return next(p for p in examples("push") if p["ref"] == "refs/heads/master")


@pytest.fixture
def served() -> Iterator[Served]:
    with serve(branch="master", bucket=TokenBucket(rate=100, burst=100)) as served:
        yield served


def test_the_vendored_examples_are_what_the_cases_assume() -> None:
    pushes = examples("push")
    assert len(pushes) == 7
    assert {p["ref"] for p in pushes} == {"refs/heads/master", "refs/tags/simple-tag"}
    assert any(p["deleted"] for p in pushes) and any(p["after"] == "0" * 40 for p in pushes)
    assert {p["repository"]["full_name"] for p in pushes} == {REPOSITORY}
    assert [p["action"] for p in examples("pull_request")] == ["opened", "assigned"]
    assert (VENDOR / "LICENSE").read_text().startswith("The MIT License")


@pytest.mark.parametrize("content_type", ENCODINGS)
@pytest.mark.parametrize("index", range(7))
def test_each_real_push_ticks_only_for_the_followed_branch(
    served: Served, index: int, content_type: str
) -> None:
    payload = examples("push")[index]
    answer = served.deliver(encode(payload, content_type), content_type=content_type)
    if payload["ref"] == "refs/heads/master":
        assert (answer.status, answer.result) == (202, "triggered")
        assert served.view.triggers == 1
    else:  # the tag pushes, created and deleted
        assert (answer.status, answer.result) == (202, "ignored_ref")
        assert "refs/tags/simple-tag" in json.loads(answer.body)["message"]
        assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
def test_a_real_branch_push_to_another_branch_is_ignored(content_type: str) -> None:
    with serve(branch="main") as served:
        body = encode(branch_push(), content_type)
        answer = served.deliver(body, content_type=content_type)
        assert (answer.status, answer.result) == (202, "ignored_ref")
        assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
def test_a_deleted_followed_branch_is_ignored(served: Served, content_type: str) -> None:
    deletion = next(p for p in examples("push") if p["deleted"])
    payload = {**deletion, "ref": "refs/heads/master"}  # changed: the examples delete only tags
    answer = served.deliver(encode(payload, content_type), content_type=content_type)
    assert (answer.status, answer.result) == (202, "ignored_deleted")
    assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
@pytest.mark.parametrize("index", range(4))
def test_real_pings_are_pong(served: Served, index: int, content_type: str) -> None:
    body = encode(examples("ping")[index], content_type)
    answer = served.deliver(body, event="ping", content_type=content_type)
    assert (answer.status, answer.result) == (200, "ping")
    assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
@pytest.mark.parametrize(
    ("event", "index"), [("pull_request", 0), ("pull_request", 1), ("create", 0), ("delete", 0)]
)
def test_real_events_other_than_push_are_ignored(
    served: Served, event: str, index: int, content_type: str
) -> None:
    body = encode(examples(event)[index], content_type)
    answer = served.deliver(body, event=event, content_type=content_type)
    assert (answer.status, answer.result) == (202, "ignored_event")
    assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
def test_the_repository_check_on_real_payloads(content_type: str) -> None:
    body = encode(branch_push(), content_type)
    with serve(branch="master", repository=REPOSITORY.upper()) as served:
        assert served.deliver(body, content_type=content_type).result == "triggered"
    with serve(branch="master", repository="acme/deploy") as served:
        answer = served.deliver(body, content_type=content_type)
        assert (answer.status, answer.result) == (202, "ignored_repository")
        assert served.view.triggers == 0


@pytest.mark.parametrize("content_type", ENCODINGS)
def test_a_real_delivery_redelivered_is_a_duplicate(served: Served, content_type: str) -> None:
    body = encode(branch_push(), content_type)
    guid = "9a2b4d3e-5f60-11ef-8e3d-8f1c2b3a4d5e"
    assert served.deliver(body, delivery=guid, content_type=content_type).result == "triggered"
    again = served.deliver(body, delivery=guid, content_type=content_type)
    assert (again.status, again.result) == (200, "duplicate")
    assert served.view.triggers == 1


# -- to the real daemon, against the sandbox ----------------------------------------------------

running = e2e.running  # the daemon following main, with its HTTP server, on the sandbox


def test_real_github_pushes_tick_only_for_the_branch_and_form_deliveries_too(
    running: tuple[Any, Any, Any], aws: Aws
) -> None:
    """octokit's recorded payloads (tests/vendor/) to the real daemon: a tag push and a deletion
    of the followed branch cost no AWS call; the branch push, form-encoded, reconciles at once."""
    daemon, server, repo = running
    calls = CallTimes([])
    aws.on_call(calls)
    new = deploy(repo, "v1.0")
    pushes = examples("push")
    tag = next(p for p in pushes if p["ref"].startswith("refs/tags/") and p["created"])
    deletion = {**next(p for p in pushes if p["deleted"]), "ref": "refs/heads/main"}  # changed
    master = next(p for p in pushes if p["ref"] == "refs/heads/master")
    branch = {**master, "ref": "refs/heads/main"}
    client = HookClient(server, SECRET)
    assert client.deliver(encode(tag)).result == "ignored_ref"
    assert client.deliver(encode(deletion, FORM), content_type=FORM).result == "ignored_deleted"
    time.sleep(0.5)
    assert calls.times == [] and daemon.report()["lastGoodRevision"] != new
    posted = time.monotonic()
    answer = client.deliver(encode({**branch, "after": new}, FORM), content_type=FORM)
    assert (answer.status, answer.result) == (202, "triggered")
    wait_for(lambda: calls.first_after(posted) is not None, timeout=5, what="an AWS call")
    wait_for(lambda: daemon.report()["lastGoodRevision"] == new, timeout=10, what="the new commit")


def test_a_burst_of_real_pushes_is_all_202_and_ticks_a_few_times_ending_after_it(
    running: tuple[Any, Any, Any],
) -> None:
    """30 deliveries at once to the real daemon (interval 60 s): none refused, a handful of
    ticks (the bucket's 3, the refill, the one folded tick), the last one after the last push."""
    daemon, server, _ = running
    ended: list[float] = []
    daemon.listeners.add(lambda view: ended.append(time.monotonic()))
    client = HookClient(server, SECRET)
    master = next(p for p in examples("push") if p["ref"] == "refs/heads/master")
    answers = [
        client.deliver(encode({**master, "ref": "refs/heads/main", "after": f"{i:040x}"}))
        for i in range(30)
    ]
    last = time.monotonic()
    assert {a.status for a in answers} == {202}
    results = [a.result for a in answers]
    assert results.count("triggered") >= 3 and results.count("coalesced") >= 20
    wait_for(lambda: any(t > last for t in ended), timeout=10, what="a tick after the burst")
    time.sleep(2.5)  # the bucket refills one token in 2 s: nothing more is due
    assert 1 <= len(ended) <= results.count("triggered") + 1
