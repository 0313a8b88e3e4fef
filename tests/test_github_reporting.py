"""GitHub reporting's pure parts: what each tick calls for (once per transition), how each answer
is retried. Plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reconciler.daemon.github.client import RetryPolicy, judge
from reconciler.daemon.github.reporter import (
    CommitStatus,
    CreateDeployment,
    DeploymentStatus,
    Post,
    Reporter,
    one_line,
    verdict,
)
from reconciler.daemon.listeners import TickView
from reconciler.daemon.revisions import DesiredError, Followed, LastGood
from reconciler.model import Condition, Problem, ServiceOutcome
from reconciler.pipeline.status import ServiceStatus
from tests.factories import DIGEST_A, REPOSITORY, SERVICE, desired_service, source_ref

SHA1 = "1" * 40
SHA2 = "2" * 40
PAGE = "https://reconciler.example.com/"
POLICY = RetryPolicy(attempts=6, base=1.0, cap=60.0, secondary_minimum=60.0, longest=3600.0)

# ------------------------------------------------------------------------------------------------
# Statuses, as the daemon reports them
# ------------------------------------------------------------------------------------------------


def status(
    *,
    ready: bool = False,
    progressing: tuple[str, str] | None = None,
    degraded: tuple[str, str] | None = None,
    stalled: tuple[str, str] | None = None,
) -> ServiceStatus:
    def cond(kind: str, value: tuple[str, str] | None, off: str) -> Condition:
        return Condition(kind, True, *value) if value else Condition(kind, False, off)

    return ServiceStatus(
        name=SERVICE,
        conditions=(
            Condition("Ready", ready, "InSync" if ready else "OutOfSync"),
            cond("Progressing", progressing, "Idle"),
            cond("Degraded", degraded, "NotDegraded"),
            cond("Stalled", stalled, "NotStalled"),
        ),
        applied=None,
        last_attempted=None,
        refresh=None,
        last_failure=None,
    )


ROLLING = status(progressing=("RefreshProgressing", "refresh 50% done"))
READY = status(ready=True)
FAILED = status(degraded=("RolloutFailed", "analysis failed: 5xx rate 31% over 2 samples"))


def view(
    sha: str,
    seen: ServiceStatus,
    *,
    ended: Sequence[str] = (),
    leading: bool = True,
    refused: str | None = None,
) -> TickView:
    desired = desired_service(source=source_ref(revision=sha))
    outcome = ServiceOutcome(spec=desired.spec, desired=desired)
    error = (
        DesiredError(refused, (Problem("desired/desired.yaml", 3, "spec", "bad"),), "Invalid")
        if refused
        else None
    )
    followed = Followed(revision=refused or sha, good=LastGood(sha, ()), desired_error=error)
    ended_map = {SERVICE: list(ended)} if ended else {}
    return TickView([outcome], {SERVICE: seen}, followed, ended=ended_map, leading=leading)


def story(*views: TickView) -> list[list[tuple[str, ...]]]:
    """Each tick's posts, as (kind, sha, state) tuples."""
    reporter = Reporter(external_url=PAGE)
    return [[brief(p) for p in reporter.observe(v)] for v in views]


def brief(post: Post) -> tuple[str, ...]:
    if isinstance(post, CommitStatus):
        return ("status", post.sha, post.state)
    if isinstance(post, CreateDeployment):
        return ("deployment", post.sha)
    return ("deployment_status", post.sha, post.state)


def test_a_good_rollout_is_pending_then_success_each_once_with_its_deployment() -> None:
    assert story(
        view(SHA1, status(progressing=("ChangesPending", "1 change(s)"))),
        view(SHA1, ROLLING),
        view(SHA1, ROLLING),
        view(SHA1, READY, ended=["succeeded"]),
        view(SHA1, READY),
    ) == [
        [
            ("deployment", SHA1),
            ("deployment_status", SHA1, "in_progress"),
            ("status", SHA1, "pending"),
        ],
        [],
        [],
        [("status", SHA1, "success"), ("deployment_status", SHA1, "success")],
        [],
    ]


def test_a_failed_rollout_is_failure_on_its_commit_and_on_its_deployment() -> None:
    assert story(
        view(SHA1, ROLLING),
        view(SHA1, FAILED, ended=["rolled_back"]),
        view(SHA1, FAILED),
    ) == [
        [
            ("deployment", SHA1),
            ("deployment_status", SHA1, "in_progress"),
            ("status", SHA1, "pending"),
        ],
        [("status", SHA1, "failure"), ("deployment_status", SHA1, "failure")],
        [],
    ]


def test_a_superseded_rollout_is_error_and_inactive_and_the_new_one_deployed() -> None:
    assert story(view(SHA1, ROLLING), view(SHA2, ROLLING, ended=["superseded"]))[1] == [
        ("status", SHA1, "error"),
        ("deployment_status", SHA1, "inactive"),
        ("deployment", SHA2),
        ("deployment_status", SHA2, "in_progress"),
        ("status", SHA2, "pending"),
    ]


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (READY, [("status", SHA1, "success")]),  # nothing to roll out: no deployment
        (FAILED, [("status", SHA1, "failure")]),  # failed before this daemon saw it roll
        (status(stalled=("Blocked", "paused")), [("status", SHA1, "pending")]),
        (status(stalled=("AccessDenied", "not allowed")), [("status", SHA1, "failure")]),
        (
            status(degraded=("TemporaryError", "throttled (retrying)")),
            [("status", SHA1, "pending")],
        ),
        (status(), []),  # nothing known yet
    ],
)
def test_a_first_sight_posts_the_commit_status_only(
    seen: ServiceStatus, expected: list[tuple[str, ...]]
) -> None:
    assert story(view(SHA1, seen)) == [expected]


def test_a_newer_commit_in_sync_at_once_supersedes_the_one_still_rolling() -> None:
    assert story(view(SHA1, ROLLING), view(SHA2, READY), view(SHA2, READY))[1:] == [
        [
            ("status", SHA1, "error"),
            ("deployment_status", SHA1, "inactive"),
            ("status", SHA2, "success"),
        ],
        [],
    ]


def test_a_standby_posts_nothing_and_reports_once_it_leads() -> None:
    assert story(view(SHA1, READY, leading=False), view(SHA1, READY)) == [
        [],
        [("status", SHA1, "success")],
    ]


def test_a_refused_commit_gets_failure_and_the_good_one_keeps_its_own() -> None:
    posts = story(
        view(SHA1, READY), view(SHA1, READY, refused=SHA2), view(SHA1, READY, refused=SHA2)
    )
    assert posts == [[("status", SHA1, "success")], [("status", SHA2, "failure")], []]


def test_a_directory_content_hash_is_no_commit_and_gets_nothing() -> None:
    assert story(view("sha256-" + "a" * 40, READY)) == [[]]


def test_the_posts_carry_the_context_link_reason_and_digest() -> None:
    reporter = Reporter(external_url=PAGE)
    reporter.observe(view(SHA1, ROLLING))
    first = reporter.observe(view(SHA2, ROLLING))
    create = next(p for p in first if isinstance(p, CreateDeployment))
    assert create.payload == {
        "service": SERVICE,
        "revision": SHA2,
        "image": f"{REPOSITORY}@{DIGEST_A}",
        "digest": DIGEST_A,
    }
    long_reason = status(degraded=("RolloutFailed", "analysis failed: " + "x" * 300))
    [commit, ended] = reporter.observe(view(SHA2, long_reason))
    assert isinstance(commit, CommitStatus) and isinstance(ended, DeploymentStatus)
    assert commit.context == f"asg-reconciler/{SERVICE}" and commit.target_url == PAGE
    assert len(commit.description) == 140 and commit.description.endswith("…")
    assert commit.description.startswith("rollout failed: analysis failed: xxx")
    assert ended.log_url == PAGE and ended.state == "failure"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\nb  c", "a b c"), ("x" * 140, "x" * 140), ("y" * 141, "y" * 139 + "…")],
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_verdict_says_how_far_a_rollout_is() -> None:
    found = verdict(ROLLING, [])
    assert found is not None and (found.state, found.rolling) == ("pending", True)
    assert found.description == "rolling out: refresh 50% done"


def test_verdict_says_why_a_rollout_failed() -> None:
    found = verdict(FAILED, ["rolled_back"])
    assert found is not None and found.state == "failure"
    assert found.description == (
        "rollout failed (rolled back): analysis failed: 5xx rate 31% over 2 samples"
    )


# ------------------------------------------------------------------------------------------------
# Retries, as GitHub's REST documentation asks
# ------------------------------------------------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status_code", "headers", "message", "attempt", "result", "wait"),
    [
        (201, {}, "", 1, "success", None),
        (None, {}, "", 1, "network_error", 1.0),
        (None, {}, "", 3, "network_error", 4.0),
        (500, {}, "", 2, "server_error", 2.0),
        (502, {}, "", 10, "server_error", 60.0),  # capped
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 30)},
            "",
            1,
            "rate_limited",
            31.0,
        ),
        (
            429,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW - 5)},
            "",
            1,
            "rate_limited",
            1.0,
        ),  # the reset passed already
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 86400)},
            "",
            1,
            "rate_limited",
            3600.0,
        ),  # never longer than an hour
        (403, {"x-ratelimit-remaining": "0"}, "", 1, "rate_limited", 60.0),
        (403, {"retry-after": "5"}, "", 1, "secondary_rate_limited", 5.0),
        (429, {"retry-after": "0"}, "", 1, "secondary_rate_limited", 0.0),
        (
            403,
            {"retry-after": "7", "x-ratelimit-remaining": "0"},
            "",
            1,
            "secondary_rate_limited",
            7.0,
        ),  # retry-after wins
        (403, {}, "You have exceeded a secondary rate limit.", 1, "secondary_rate_limited", 60.0),
        (403, {}, "You have exceeded a secondary rate limit.", 2, "secondary_rate_limited", 120.0),
        (
            403,
            {"x-ratelimit-remaining": "12"},
            "Resource not accessible by integration",
            1,
            "client_error",
            None,
        ),
        (401, {}, "Bad credentials", 1, "client_error", None),
        (404, {}, "Not Found", 1, "client_error", None),
        (422, {}, "Validation Failed", 1, "client_error", None),
    ],
)
def test_judge(
    status_code: int | None,
    headers: dict[str, str],
    message: str,
    attempt: int,
    result: str,
    wait: float | None,
) -> None:
    found = judge(
        status=status_code,
        headers=headers,
        message=message,
        attempt=attempt,
        now=NOW,
        policy=POLICY,
    )
    assert (found.result, found.wait) == (result, wait)


# ------------------------------------------------------------------------------------------------
# Told again: posts GitHub never got
# ------------------------------------------------------------------------------------------------


def test_an_unsent_end_is_told_again_on_the_next_tick_that_calls_for_it() -> None:
    reporter = Reporter(external_url=PAGE)
    reporter.observe(view(SHA1, ROLLING))
    ended = reporter.observe(view(SHA1, READY, ended=["succeeded"]))
    reporter.forget(ended)
    assert [brief(p) for p in reporter.observe(view(SHA1, READY))] == [
        ("status", SHA1, "success"),
        ("deployment_status", SHA1, "success"),
    ]
    assert reporter.observe(view(SHA1, READY)) == []


def test_an_unsent_state_already_replaced_is_not_told_again() -> None:
    reporter = Reporter(external_url=PAGE)
    started = reporter.observe(view(SHA1, ROLLING))
    reporter.observe(view(SHA1, READY, ended=["succeeded"]))
    reporter.forget(started)  # pending and the deployment: both overtaken by the end
    assert reporter.observe(view(SHA1, READY)) == []


def test_an_unsent_deployment_is_made_on_the_next_tick_still_rolling() -> None:
    reporter = Reporter(external_url=PAGE)
    started = reporter.observe(view(SHA1, ROLLING))
    reporter.forget([p for p in started if not isinstance(p, CommitStatus)])
    assert [brief(p) for p in reporter.observe(view(SHA1, ROLLING))] == [
        ("deployment", SHA1),
        ("deployment_status", SHA1, "in_progress"),
    ]
