"""The daemon end to end: real git remotes, the sandbox AWS, HTTP, leases and signals.

Deploys, reverts, refused commits, signatures, the webhook, two daemons sharing a lease, and a
SIGTERM in the middle of an apply followed by a restart that finishes the job.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.lease import Lease
from reconciler.daemon.listeners import TickView
from reconciler.daemon.rollouts import SUCCEEDED
from reconciler.daemon.server import StatusServer
from reconciler.daemon.webhook import sign
from reconciler.sandbox import Sandbox
from tests.gitrepo import SigningKey
from tests.test_loop import (
    aws_writes,
    converge,
    deploy,
    desired_repo,
    desired_yaml,
    fast_clock,
    git_source,
    group_version,
    make_daemon,
    template_versions,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"e2e-webhook-secret"


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll until ``predicate()``; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def applied_image(daemon: Daemon) -> str | None:
    applied = daemon.statuses()["feedback"].applied
    return applied.image if applied else None


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post_hook(url: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    request = urllib.request.Request(f"{url}/hooks/git", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# ------------------------------------------------------------------------------------------------
# Deploy, revert, refuse
# ------------------------------------------------------------------------------------------------


def test_a_commit_converges_and_a_revert_converges_back(sandbox, aws: Aws, tmp_path: Path) -> None:
    digests = sandbox.seeded.image_digests
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    assert applied_image(daemon) == f"{repo_image()}@{digests['v1.0']}"

    upgrade = deploy(repo, "v1.1")
    converge(daemon, clock=sandbox.clock)
    assert applied_image(daemon) == f"{repo_image()}@{digests['v1.1']}"
    versions_before_revert = len(template_versions(aws))

    reverted = repo.revert(upgrade)
    converge(daemon, clock=sandbox.clock)

    assert daemon.report()["lastGoodRevision"] == reverted
    assert applied_image(daemon) == f"{repo_image()}@{digests['v1.0']}"
    assert len(template_versions(aws)) == versions_before_revert  # the v1.0 version is reused


def repo_image() -> str:
    return "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"


def test_an_invalid_commit_keeps_the_last_good_and_writes_nothing(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    good = repo.head()
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    server = StatusServer(daemon=daemon, metrics=daemon.metrics, port=0).start()
    try:
        broken = desired_yaml(tag="v1.0").replace("minSize: 2", "minSize: many")
        repo.write("desired/desired.yaml", broken)
        bad = repo.commit("deploy v1.0, with a typo")
        aws.reset_counts()

        daemon.tick()

        assert aws_writes(aws) == Counter()  # nothing from the bad commit, not even v1.0
        code, status = get_json(f"{server.url}/status")
    finally:
        server.stop()
    assert code == 200
    assert status["revision"] == bad and status["lastGoodRevision"] == good
    problem = status["desiredError"]["problems"][0]
    assert problem["file"] == "desired/desired.yaml"
    assert problem["field"] == "spec.autoScalingGroup.minSize"
    assert problem["line"] == broken.splitlines().index("    minSize: many") + 1
    assert "desired/desired.yaml:" in status["desiredError"]["message"]
    stalled = next(c for c in status["services"][0]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] is True and stalled["reason"] == "InvalidDesiredState"
    assert daemon.metrics.registry.get_sample_value("reconciler_desired_valid") == 0

    fixed = deploy(repo, "v1.0")
    converge(daemon, clock=sandbox.clock)
    assert daemon.report()["desiredError"] is None
    assert daemon.report()["lastGoodRevision"] == fixed


def test_verify_commits_accepts_signed_and_refuses_unsigned(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    key = SigningKey.create(tmp_path / "keys")
    repo = desired_repo(tmp_path / "git", key=key)
    source = git_source(repo, tmp_path / "cache", allowed_signers=key.allowed_signers)
    daemon = make_daemon(aws, source)
    converge(daemon, clock=sandbox.clock)
    signed = repo.head()
    version = group_version(aws)

    unsigned = deploy(repo, "v1.0")
    aws.reset_counts()
    assert not daemon.tick().ok

    report = daemon.report()
    assert report["lastGoodRevision"] == signed and report["revision"] == unsigned
    assert report["desiredError"]["reason"] == "UnverifiedCommit"
    assert "no signature" in report["desiredError"]["message"]
    assert aws_writes(aws) == Counter() and group_version(aws) == version

    deploy(repo, "v1.0", key=key)
    converge(daemon, clock=sandbox.clock)
    assert daemon.report()["desiredError"] is None and group_version(aws) != version


# ------------------------------------------------------------------------------------------------
# The webhook
# ------------------------------------------------------------------------------------------------


@dataclass
class CallTimes:
    """When the daemon's Aws made each call (an ``Aws.on_call`` hook)."""

    times: list[float]

    def __call__(self, service: str, operation: str) -> None:
        self.times.append(time.monotonic())

    def first_after(self, moment: float) -> float | None:
        return next((t for t in list(self.times) if t >= moment), None)


@pytest.fixture
def running(sandbox, aws: Aws, tmp_path: Path) -> Iterator[tuple[Daemon, StatusServer, Any]]:
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), interval=60)
    server = StatusServer(
        daemon=daemon, metrics=daemon.metrics, port=0, webhook_secret=SECRET, branch="main"
    ).start()
    daemon.start()
    try:
        wait_for(daemon.ready, timeout=10, what="the first reconcile")
        yield daemon, server, repo
    finally:
        daemon.stop()
        server.stop()


def test_a_signed_webhook_reconciles_at_once_and_bad_ones_are_401(
    running: tuple[Daemon, StatusServer, Any], aws: Aws
) -> None:
    daemon, server, repo = running
    calls = CallTimes([])
    aws.on_call(calls)
    new = deploy(repo, "v1.0")
    body = json.dumps({"ref": "refs/heads/main", "after": new}).encode()

    assert post_hook(server.url, body, None) == 401
    assert post_hook(server.url, body, sign(secret=b"not the secret", body=body)) == 401
    time.sleep(0.3)
    assert calls.times == [] and daemon.report()["lastGoodRevision"] != new  # no trigger

    posted = time.monotonic()
    assert post_hook(server.url, body, sign(secret=SECRET, body=body)) == 202
    wait_for(lambda: calls.first_after(posted) is not None, timeout=5, what="an AWS call")
    first_call = calls.first_after(posted)
    assert first_call is not None and first_call - posted < 2.0  # the interval is 60 s

    wait_for(lambda: daemon.report()["lastGoodRevision"] == new, timeout=10, what="the new commit")


# ------------------------------------------------------------------------------------------------
# Two daemons, one lease
# ------------------------------------------------------------------------------------------------


def test_two_daemons_share_a_lease_and_the_standby_takes_over(sandbox, tmp_path: Path) -> None:
    with fast_clock(sandbox):  # the daemons tick on their own: rollouts must end in wall time
        _two_daemons_share_a_lease(sandbox, tmp_path)


def _two_daemons_share_a_lease(sandbox: Sandbox, tmp_path: Path) -> None:
    repo = desired_repo(tmp_path / "git")

    def daemon_with_lease(name: str) -> tuple[Daemon, Aws]:
        aws = sandbox.aws()
        lease = Lease(
            aws=aws,
            table="leases",
            name="asg-reconciler",
            holder=name,
            duration=2.0,
            renew_every=0.4,
        )
        source = git_source(repo, tmp_path / f"cache-{name}")
        return make_daemon(aws, source, lease=lease, interval=0.3), aws

    first, first_aws = daemon_with_lease("first")
    second, second_aws = daemon_with_lease("second")
    first.start()
    try:
        wait_for(first.ready, timeout=10, what="the first daemon to reconcile")
        second.start()
        wait_for(second.ready, timeout=10, what="the second daemon to observe")
        wait_for(
            lambda: first.statuses()["feedback"].condition("Ready").status,
            timeout=10,
            what="convergence",
        )
        assert first.report()["role"] == "leader" and second.report()["role"] == "standby"
        assert aws_writes(first_aws)["CreateLaunchTemplateVersion"] == 1
        assert aws_writes(second_aws) == Counter()  # exactly one writes

        first.stop(release=False)  # killed: the lease is left to expire
        first_aws.reset_counts()
        new = deploy(repo, "v1.0")
        took = wait_for(
            lambda: second.report()["role"] == "leader", timeout=10, what="the takeover"
        )
        wait_for(
            lambda: aws_writes(second_aws)["StartInstanceRefresh"] == 1,
            timeout=10,
            what="the new leader to roll out",
        )
    finally:
        first.stop()
        second.stop()
    assert took < 2.0 + 1.0  # the lease's duration, plus a renewal period and some slack
    assert second.report()["lastGoodRevision"] == new
    assert aws_writes(first_aws) == Counter()


# ------------------------------------------------------------------------------------------------
# SIGTERM in the middle of an apply
# ------------------------------------------------------------------------------------------------


class Process:
    """``python -m reconciler run ...`` with its JSON log lines readable as they come."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            entry = json.loads(line) if line.startswith("{") else {"event": line.strip()}
            self.seen.append(entry)
            if predicate(entry):
                return
        raise AssertionError(f"log line not seen; got: {[e.get('event') for e in self.seen]}")

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def test_sigterm_mid_apply_then_a_restart_converges_with_one_new_version(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    args = [
        "--endpoint-url", sandbox.endpoint,
        "run", "--repo", repo.url, "--branch", "main", "--path", "desired/",
        "--interval", "1s", "--listen", "127.0.0.1:0", "--cache-dir", str(tmp_path / "cache"),
        "--lease-table", "leases",
    ]  # fmt: skip

    first = Process(args)
    # apply logs each action before making it; this one comes right after the version is made.
    first.wait_for_log(
        lambda e: e.get("event") == "apply" and e.get("action") == "update_auto_scaling_group",
        timeout=30,
    )
    assert first.terminate() == 0
    refreshes = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )["InstanceRefreshes"]
    assert refreshes == []  # stopped half-way: a version made, no rollout started
    assert any(e.get("event") == "stopped" for e in drain(first))
    lease = aws.call(
        "dynamodb", "get_item", TableName="leases", Key={"lease": {"S": "asg-reconciler"}}
    )
    assert "Item" not in lease  # released on the way out: a standby need not wait for expiry

    with fast_clock(sandbox):
        second = Process(args)
        second.wait_for_log(
            lambda e: e.get("event") == "reconcile" and e.get("result") == "in_sync", timeout=30
        )
        assert second.terminate() == 0

    numbers = sorted(int(str(v["VersionNumber"])) for v in template_versions(aws))
    assert numbers == [1, 2]  # exactly one new version, made by the first start
    assert group_version(aws) == "2"


def drain(process: Process) -> list[dict[str, Any]]:
    while not process.lines.empty():
        line = process.lines.get()
        process.seen.append(json.loads(line) if line.startswith("{") else {"event": line})
    return process.seen


def test_listeners_hear_every_tick_and_one_that_raises_fails_nothing(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    heard: list[TickView] = []

    def broken(view: TickView) -> None:
        raise RuntimeError("a listener's bug")

    daemon.listeners.add(broken)
    daemon.listeners.add(heard.append)
    converge(daemon, clock=sandbox.clock)
    deploy(repo, "v1.1")
    converge(daemon, clock=sandbox.clock)
    assert heard and all(v.leading for v in heard)
    assert any(SUCCEEDED in view.ended.get("feedback", ()) for view in heard)
    assert heard[-1].statuses["feedback"].condition("Ready").status

    repo.write("desired/desired.yaml", desired_yaml(tag="v1.1").replace("minSize: 2", "minSize: x"))
    bad = repo.commit("a typo")
    assert daemon.tick().ok is False
    refused = heard[-1].followed.desired_error
    assert refused is not None and refused.revision == bad
    assert not heard[-1].statuses["feedback"].condition("Ready").status
