"""GitHub commit statuses and deployments from a real daemon: a git repository, the sandbox, and a
test GitHub on 127.0.0.1 that holds every exchange to GitHub's REST description. A good rollout
is pending then success; v2.1 (30% 500s) is pending then failure with the analysis's reason; a
refused commit is failure; a revert mid-rollout supersedes; a restarted daemon finds its
deployment; and a GitHub that never answers does not slow a tick."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.github.settings import GitHubSettings
from reconciler.daemon.github.worker import GitHubReporter, attach
from reconciler.daemon.listeners import TickView
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox
from tests.analysis_harness import BASELINE, TICK, Story, desired_text
from tests.github_server import TOKEN, Exchange, GitHubServer
from tests.gitrepo import GitRepo
from tests.test_analysis_e2e import failed
from tests.test_e2e_core import sandbox_copy
from tests.test_loop import converge, deploy, desired_repo, desired_yaml, git_source, make_daemon

PAGE = "https://reconciler.example.com/"
CONTEXT = "asg-reconciler/feedback"
STATUS, DEPLOYMENT, DEPLOYMENT_STATUS = (
    "repos/create-commit-status",
    "repos/create-deployment",
    "repos/create-deployment-status",
)


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    server = GitHubServer().start()
    yield server
    server.stop()


def settings(url: str) -> GitHubSettings:
    return GitHubSettings(repository="acme/deploys", token=TOKEN, api_url=url)


def states(github: GitHubServer, sha: str) -> list[tuple[str, str]]:
    """(state, description) of each commit status posted for ``sha``, in order."""
    found = [e for e in github.posted(STATUS) if e.params["sha"] == sha]
    assert all(e.body["context"] == CONTEXT and e.body["target_url"] == PAGE for e in found)
    return [(e.body["state"], e.body["description"]) for e in found]


def deployment_of(github: GitHubServer, sha: str) -> tuple[Exchange, list[str]]:
    """The deployment created for ``sha`` and the states posted on it, in order."""
    [created] = [e for e in github.posted(DEPLOYMENT) if e.body["ref"] == sha]
    number = str(created.answer["id"])
    posted = github.posted(DEPLOYMENT_STATUS)
    return created, [e.body["state"] for e in posted if e.params["deployment_id"] == number]


def test_a_rollout_is_pending_then_success_and_a_refused_commit_failure(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, github: GitHubServer
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    reporter = attach(daemon, settings(github.url), external_url=PAGE)
    try:
        upgrade = deploy(repo, "v1.1")
        converge(daemon, clock=sandbox.clock)
        repo.write(
            "desired/desired.yaml", desired_yaml(tag="v1.0").replace("minSize: 2", "minSize: x")
        )
        bad = repo.commit("a typo")
        daemon.tick()
        assert reporter.wait_idle(10)
    finally:
        reporter.stop()

    assert github.problems == []
    posted = states(github, upgrade)
    assert [s for s, _ in posted] == ["pending", "success"], posted
    assert posted[-1][1] == "rolled out"
    created, deployment_states = deployment_of(github, upgrade)
    assert created.body["environment"] == "feedback"
    assert created.body["auto_merge"] is False and created.body["required_contexts"] == []
    assert sandbox.seeded is not None
    digest = sandbox.seeded.image_digests["v1.1"]
    assert created.body["payload"]["digest"] == digest
    assert created.body["payload"]["image"].endswith(f"@{digest}")
    assert deployment_states == ["in_progress", "success"]
    [(state, why)] = states(github, bad)
    assert state == "failure" and why.startswith("commit refused (InvalidDesiredState): ")
    assert "desired/desired.yaml:" in why and len(why) <= 140
    sample = daemon.metrics.registry.get_sample_value
    labels = {"operation": STATUS, "result": "success"}
    assert sample("reconciler_github_requests_total", labels) == 3


def test_v2_1_is_pending_then_failure_with_the_analysis_reason(
    frozen: Sandbox, tmp_path: Path, github: GitHubServer
) -> None:
    frozen.clock.advance(BASELINE)
    copy = sandbox_copy(tmp_path / "copy", tag="v2.1")
    repo = GitRepo.create(tmp_path / "git")
    for file in copy.parent.rglob("*"):
        if file.is_file():
            text = file.read_text()
            if file == copy:
                text = desired_text(text)
            repo.write(f"desired/{file.relative_to(copy.parent)}", text)
    sha = repo.commit("deploy v2.1")
    aws = frozen.aws()
    daemon = Daemon(
        source=git_source(repo, tmp_path / "cache"),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        interval=TICK,
        jitter=0.0,
        clock=lambda: frozen.clock.now().timestamp(),
    )
    story = Story(frozen, copy, daemon)
    reporter = attach(daemon, settings(github.url), external_url=PAGE)
    try:
        story.until(failed)
        story.settle()
        assert reporter.wait_idle(10)
    finally:
        reporter.stop()

    assert github.problems == []
    posted = states(github, sha)
    assert [s for s, _ in posted] == ["pending", "failure"], posted
    assert "analysis failed: 5xx rate" in posted[-1][1], posted
    _, deployment_states = deployment_of(github, sha)
    assert deployment_states == ["in_progress", "failure"]


class Silent:
    """A TCP server that accepts connections and never answers: GitHub hanging."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def test_a_github_that_never_answers_does_not_slow_a_tick(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    silent = Silent()
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    started: list[float] = []
    took: list[float] = []
    daemon.listeners.add(lambda view: started.append(time.monotonic()))
    reporter = GitHubReporter(
        settings(silent.url),
        external_url=PAGE,
        on_result=daemon.metrics.github_request,
        capacity=2,
        timeout=2.0,
    ).start()
    daemon.listeners.add(reporter.tell)

    def after(view: TickView) -> None:
        took.append(time.monotonic() - started[-1])

    daemon.listeners.add(after)
    try:
        converge(daemon, clock=sandbox.clock)
        deploy(repo, "v1.1")
        converge(daemon, clock=sandbox.clock)
        assert reporter.pending() <= 2  # bounded: the oldest posts were dropped
    finally:
        stopping = time.monotonic()
        reporter.stop()
        silent.close()
    assert took and max(took) < 1.0, took  # handing over; a wait would be the 2 s timeout
    assert time.monotonic() - stopping < 4.0
    dropped = sum(
        daemon.metrics.registry.get_sample_value(
            "reconciler_github_requests_total", {"operation": op, "result": "dropped"}
        )
        or 0
        for op in (STATUS, DEPLOYMENT, DEPLOYMENT_STATUS)
    )
    assert dropped > 0


def test_run_once_posts_the_status_of_its_tick(
    sandbox: Sandbox, tmp_path: Path, github: GitHubServer
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.1")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    code = main(
        [
            "--endpoint-url",
            sandbox.endpoint,
            "run",
            "--once",
            "--repo",
            repo.url,
            "--listen",
            "off",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--github-repository",
            "acme/deploys",
            "--github-token-file",
            str(token),
            "--github-api-url",
            github.url,
            "--external-url",
            PAGE,
        ]
    )
    assert code == 0
    assert github.problems == []
    assert [s for s, _ in states(github, repo.head())] == ["pending"]


def test_a_restarted_daemon_finds_its_deployment_instead_of_making_another(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, github: GitHubServer
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    before = attach(daemon, settings(github.url), external_url=PAGE)
    upgrade = deploy(repo, "v1.1")
    daemon.tick()  # the rollout starts
    assert before.wait_idle(10)
    before.stop()

    again = make_daemon(aws, git_source(repo, tmp_path / "cache-after"))  # nothing in memory
    after = attach(again, settings(github.url), external_url=PAGE)
    try:
        converge(again, clock=sandbox.clock)
        assert after.wait_idle(10)
    finally:
        after.stop()

    assert github.problems == []
    _, deployment_states = deployment_of(github, upgrade)  # one deployment: the same one
    assert deployment_states == ["in_progress", "in_progress", "success"]
    # Commit statuses are idempotent on GitHub's side: the new daemon says pending once more.
    assert [s for s, _ in states(github, upgrade)] == ["pending", "pending", "success"]


def test_a_revert_mid_rollout_makes_the_superseded_commit_error_and_its_deployment_inactive(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, github: GitHubServer
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    reporter = attach(daemon, settings(github.url), external_url=PAGE)
    try:
        upgrade = deploy(repo, "v1.1")
        daemon.tick()  # the rollout starts
        sandbox.clock.advance(60)
        reverted = repo.revert(upgrade)
        converge(daemon, clock=sandbox.clock)
        assert reporter.wait_idle(10)
    finally:
        reporter.stop()

    assert github.problems == []
    superseded = states(github, upgrade)
    assert [s for s, _ in superseded] == ["pending", "error"], superseded
    assert superseded[-1][1] == f"superseded by {reverted[:12]} before it finished"
    assert deployment_of(github, upgrade)[1] == ["in_progress", "inactive"]
    assert states(github, reverted)[-1][0] == "success"
