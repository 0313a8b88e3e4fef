"""The GitHub client against a test GitHub that holds every exchange to GitHub's published REST
description (tests/contracts/github): what it accepts, what it refuses, and how the client
retries 5xx, network errors and rate limits."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs

from reconciler.daemon.github.client import GitHubClient, Reply, RetryPolicy
from reconciler.daemon.github.settings import GitHubSettings
from reconciler.daemon.github.worker import GitHubReporter
from scripts.github_contract import EXTRA, OPERATIONS, extract
from tests.github_contract import Contract
from tests.github_server import TOKEN, Fault, GitHubServer
from tests.test_github_reporting import READY, SHA1, view
from tests.test_loop import closed_port

SHA = "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d"
STATUS_PATH = f"/repos/acme/deploys/statuses/{SHA}"
GOOD_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "test",
    "Authorization": f"Bearer {TOKEN}",
}
FAST = RetryPolicy(attempts=4, base=0.05, cap=0.2, secondary_minimum=0.1)


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    server = GitHubServer().start()
    yield server
    server.stop()


class Results:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, operation: str, result: str) -> None:
        self.counts[(operation, result)] += 1


def client(server_url: str, results: Results, policy: RetryPolicy = FAST) -> GitHubClient:
    return GitHubClient(api_url=server_url, token=TOKEN, policy=policy, on_result=results)


def post_status(cli: GitHubClient, **body: Any) -> Reply:
    return cli.post("repos/create-commit-status", STATUS_PATH, {"state": "pending", **body})


# ------------------------------------------------------------------------------------------------
# The vendored description
# ------------------------------------------------------------------------------------------------


def test_the_contract_is_the_extracted_part_of_githubs_description() -> None:
    doc = Contract().doc
    assert doc["x-vendored"]["source"].startswith("npm @octokit/openapi ")
    assert len(doc["x-vendored"]["sha256"]) == 64
    found = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert found == set(OPERATIONS)
    # Extracting again from the extract changes nothing: every reference it needs is in it.
    again = extract(doc, OPERATIONS)
    assert again["paths"] == doc["paths"]
    kept = {f"#/components/{k}/{n}" for k, names in doc["components"].items() for n in names}
    assert set(EXTRA) <= kept


# ------------------------------------------------------------------------------------------------
# What the test GitHub accepts and refuses: the description decides
# ------------------------------------------------------------------------------------------------


def send(server: GitHubServer, path: str, body: object, **headers: str) -> requests.Response:
    chosen = {k: v for k, v in {**GOOD_HEADERS, **headers}.items() if v}
    return requests.post(
        server.url + path,
        data=json.dumps(body),
        timeout=5,
        headers={**chosen, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("path", "body", "headers", "problem"),
    [
        (STATUS_PATH, {"state": "done"}, {}, "state: 'done' is not one of"),
        (STATUS_PATH, {"context": "x"}, {}, "'state' is a required property"),
        (STATUS_PATH, {"state": "success", "description": 5}, {}, "5 is not of type 'string'"),
        (
            STATUS_PATH,
            {"state": "success"},
            {"X-GitHub-Api-Version": "2020-01-01"},
            "header x-github-api-version",
        ),
        (STATUS_PATH, {"state": "success"}, {"Accept": ""}, "header accept"),
        ("/repos/acme/deploys/deployments", {"environment": "x"}, {}, "'ref' is a required"),
        (
            "/repos/acme/deploys/deployments",
            {"ref": SHA, "auto_merge": "no"},
            {},
            "'no' is not of type 'boolean'",
        ),
        (
            "/repos/acme/deploys/deployments/abc/statuses",
            {"state": "success"},
            {},
            "deployment_id='abc'",
        ),
        (
            "/repos/acme/deploys/deployments/7/statuses",
            {"state": "finished"},
            {},
            "'finished' is not one of",
        ),
        ("/repos/acme/deploys/commits", {"state": "success"}, {}, "no such operation"),
    ],
)
def test_a_request_that_breaks_the_description_is_refused(
    github: GitHubServer, path: str, body: object, headers: dict[str, str], problem: str
) -> None:
    response = send(github, path, body, **headers)
    assert response.status_code == 422
    assert any(problem in p for p in github.problems), github.problems
    assert not [p for p in github.problems if p.startswith("response:")]  # the 422 is GitHub's


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            STATUS_PATH,
            {"state": "success", "target_url": None, "description": "ok", "context": "c"},
        ),
        (
            "/repos/acme/deploys/deployments",
            {
                "ref": SHA,
                "payload": {"digest": "sha256:ab"},
                "auto_merge": False,
                "required_contexts": [],
                "environment": "feedback",
            },
        ),
        (
            "/repos/acme/deploys/deployments/7/statuses",
            {"state": "inactive", "log_url": "http://127.0.0.1:1/", "environment": "feedback"},
        ),
    ],
)
def test_a_request_as_described_is_answered_as_described(
    github: GitHubServer, path: str, body: object
) -> None:
    response = send(github, path, body)
    assert response.status_code == 201, response.text
    assert github.problems == []  # the answer was checked against the response schema too
    assert response.json()["state" if "state" in response.json() else "ref"]


@pytest.mark.parametrize(
    ("query", "code", "problem"),
    [
        ("?sha=abc&environment=feedback&per_page=1", 200, None),
        ("?per_page=many", 422, "query parameter per_page='many'"),
        ("?colour=blue", 422, "query parameter colour: not in the description"),
    ],
)
def test_query_parameters_are_held_to_the_description(
    github: GitHubServer, query: str, code: int, problem: str | None
) -> None:
    response = requests.get(
        f"{github.url}/repos/acme/deploys/deployments{query}", headers=GOOD_HEADERS, timeout=5
    )
    assert response.status_code == code
    if problem is None:
        assert github.problems == [] and response.json() == []
    else:
        assert any(problem in p for p in github.problems), github.problems


# ------------------------------------------------------------------------------------------------
# Retries
# ------------------------------------------------------------------------------------------------


def test_5xx_and_network_errors_are_retried_with_backoff(github: GitHubServer) -> None:
    results = Results()
    github.fail_next(Fault(502), Fault(503))
    reply = post_status(client(github.url, results), description="rolling out")
    assert reply.result == "success" and reply.answer["state"] == "pending"
    statuses = [e.status for e in github.exchanges]
    assert statuses == [502, 503, 201] and github.problems == []
    gaps = [b.at - a.at for a, b in zip(github.exchanges, github.exchanges[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # doubling
    assert results.counts == Counter(
        {
            ("repos/create-commit-status", "server_error"): 2,
            ("repos/create-commit-status", "success"): 1,
        }
    )
    dead = Results()
    assert post_status(client(f"http://127.0.0.1:{closed_port()}", dead)).unsent
    assert dead.counts == Counter(
        {
            ("repos/create-commit-status", "network_error"): 4,
            ("repos/create-commit-status", "gave_up"): 1,
        }
    )


def test_the_primary_rate_limit_waits_until_its_reset(github: GitHubServer) -> None:
    results = Results()
    reset = int(time.time()) + 1
    limited = {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(reset),
        "x-ratelimit-limit": "5000",
    }
    github.fail_next(Fault(403, limited, "API rate limit exceeded for user ID 1."))
    assert post_status(client(github.url, results)).result == "success"
    first, retry = github.exchanges
    assert first.status == 403 and retry.status == 201
    assert retry.at >= reset  # not one request before the window reopened
    assert results.counts[("repos/create-commit-status", "rate_limited")] == 1
    assert github.problems == []


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_honours_retry_after(github: GitHubServer, status: int) -> None:
    results = Results()
    message = "You have exceeded a secondary rate limit. Please wait a few minutes."
    github.fail_next(Fault(status, {"retry-after": "1"}, message))
    assert post_status(client(github.url, results)).result == "success"
    first, retry = github.exchanges
    assert retry.at - first.at >= 1.0
    assert results.counts[("repos/create-commit-status", "secondary_rate_limited")] == 1
    # Without retry-after: at least secondary_minimum (GitHub: a minute; 0.1 s here).
    github.fail_next(Fault(status, {}, message))
    assert post_status(client(github.url, results)).result == "success"
    assert github.exchanges[3].at - github.exchanges[2].at >= 0.1


def test_other_4xx_are_not_retried_and_logged_with_githubs_message(github: GitHubServer) -> None:
    results = Results()
    github.fail_next(Fault(404, {}, "Not Found"))
    with capture_logs() as logged:
        assert post_status(client(github.url, results)).result == "client_error"
    assert [e.status for e in github.exchanges] == [404]
    refused = [e for e in logged if e["event"] == "github_refused"]
    assert refused and refused[0]["message"] == "Not Found" and refused[0]["status"] == 404
    assert results.counts == Counter({("repos/create-commit-status", "client_error"): 1})
    bad_token = GitHubClient(api_url=github.url, token="wrong", policy=FAST)
    assert post_status(bad_token).result == "client_error"
    assert github.exchanges[-1].status == 401
    assert github.problems == []


# ------------------------------------------------------------------------------------------------
# The worker: what GitHub never got is told again
# ------------------------------------------------------------------------------------------------


def test_a_status_github_never_got_is_posted_on_a_later_tick(github: GitHubServer) -> None:
    settings = GitHubSettings(repository="acme/deploys", token=TOKEN, api_url=github.url)
    reporter = GitHubReporter(settings, policy=FAST).start()
    try:
        github.fail_next(*[Fault(503)] * FAST.attempts)  # every attempt at the status
        reporter.tell(view(SHA1, READY))
        assert reporter.wait_idle(10)
        assert github.posted("repos/create-commit-status") == []
        reporter.tell(view(SHA1, READY))
        assert reporter.wait_idle(10)
    finally:
        reporter.stop()
    [posted] = github.posted("repos/create-commit-status")
    assert posted.body["state"] == "success" and github.problems == []
