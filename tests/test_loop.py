"""The daemon: ticks against real git and the sandbox, backoff, the call gate, the standby."""

from __future__ import annotations

import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reconciler import errors
from reconciler.aws import Aws, is_read
from reconciler.cli.demo_repo import for_sandbox
from reconciler.daemon.backoff import Backoff
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.gate import CallGate
from reconciler.daemon.lease import Lease
from reconciler.daemon.run import RunConfig, build_source, parse_duration, webhook_secret
from reconciler.daemon.secrets import read_secret
from reconciler.daemon.source import GitSettings, GitSource, LocalSource
from reconciler.daemon.ticker import Ticker
from reconciler.errors import Interrupted
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox, SandboxClock
from tests.gitrepo import GitRepo, SigningKey

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"
# Sandbox seconds to move between ticks: a refresh of the seed's two instances takes about 13
# simulated minutes (warmup 300 s per batch, a checkpoint delay of 60 s).
ROLLOUT_STEP = 300.0
LEASE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "CreateTable"})


# ------------------------------------------------------------------------------------------------
# Helpers shared with test_daemon_e2e
# ------------------------------------------------------------------------------------------------


def desired_yaml(*, tag: str = "v1.1", repository: str = SANDBOX_IMAGE, extra: str = "") -> str:
    """desired/desired.yaml pointed at the sandbox's ECR image, as the README does it."""
    text = (ROOT / "desired" / "desired.yaml").read_text()
    text = for_sandbox(text, repository)
    return text.replace("tag: latest", f"tag: {tag}") + extra


def desired_repo(root: Path, *, tag: str = "v1.1", key: SigningKey | None = None) -> GitRepo:
    """An origin whose main branch holds the sandbox's desired/ directory."""
    repo = GitRepo.create(root)
    repo.write("desired/desired.yaml", desired_yaml(tag=tag))
    userdata = (ROOT / "desired" / "feedback-userdata.sh").read_text()
    repo.write("desired/feedback-userdata.sh", userdata)
    repo.commit(f"deploy {tag}", key=key)
    return repo


def deploy(repo: GitRepo, tag: str, *, key: SigningKey | None = None) -> str:
    """Commit (and push) a change of the image tag."""
    repo.write("desired/desired.yaml", desired_yaml(tag=tag))
    return repo.commit(f"deploy {tag}", key=key)


def git_source(repo: GitRepo, cache: Path, *, allowed_signers: Path | None = None) -> GitSource:
    return GitSource(
        GitSettings(repo=repo.url, cache_dir=cache, path="desired", allowed_signers=allowed_signers)
    )


def make_daemon(
    aws: Aws,
    source: GitSource | LocalSource,
    *,
    lease: Lease | None = None,
    interval: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> Daemon:
    return Daemon(
        source=source,
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        lease=lease,
        interval=interval,
        jitter=0.0,
        clock=clock,
    )


def aws_writes(aws: Aws) -> Counter[str]:
    """Write requests sent to what the reconciler manages (the lease's own left out).

    ``Aws.requests`` counts what went over the wire; ``Aws.calls`` also counts a call the
    daemon's stop gate refused to start.
    """
    return Counter(
        {op: n for op, n in aws.requests.items() if not is_read(op) and op not in LEASE_OPERATIONS}
    )


def converge(daemon: Daemon, *, clock: SandboxClock, ticks: int = 12) -> None:
    """Tick until a tick finds nothing to do, moving the sandbox clock so rollouts finish."""
    for _ in range(ticks):
        result = daemon.tick()
        if result.ok and result.applied == 0 and daemon.ready():
            status = daemon.statuses()["feedback"]
            if status.condition("Ready").status:
                return
        clock.advance(ROLLOUT_STEP)
    raise AssertionError(f"no convergence: {daemon.report()}")


@contextmanager
def fast_clock(sandbox: Sandbox, *, speed: float = 600.0) -> Iterator[None]:
    """Sandbox time running ``speed`` times faster: for daemons ticking on their own."""
    before = sandbox.clock.speed
    sandbox.clock.speed = speed
    try:
        yield
    finally:
        sandbox.clock.speed = before


def group_version(aws: Aws) -> str:
    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"][0]
    return str(group["LaunchTemplate"]["Version"])


def template_versions(aws: Aws) -> list[dict[str, object]]:
    return list(
        aws.call(
            "ec2", "describe_launch_template_versions", LaunchTemplateName="feedback-app-template"
        )["LaunchTemplateVersions"]
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------------------------------------
# Small parts
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("45", 45), ("0.5", 0.5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5s", "5d", "fast", "1h30m"])
def test_parse_duration_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(errors.UsageError):
        parse_duration(text)


def test_backoff_doubles_from_5s_to_a_5min_cap_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.fail(now=0) for _ in range(9)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert not backoff.due(299) and backoff.due(300)
    backoff.succeed()
    assert backoff.fail(now=0, at_least=30) == 30  # an error's own delay is the first step
    assert backoff.fail(now=0, at_least=30) == 60


def test_the_gate_stops_only_guarded_threads_once_closed() -> None:
    gate = CallGate()
    with gate.guard():
        gate.check("ec2", "DescribeInstances")  # open: passes
        gate.close()
        with pytest.raises(Interrupted):
            gate.check("ec2", "CreateLaunchTemplateVersion")
    gate.check("dynamodb", "DeleteItem")  # outside a tick: releasing the lease still works


def run_ticker(delays: list[float | None], *, poke_during: int | None = None) -> list[float]:
    """A Ticker (interval 60 s) whose ticks return ``delays`` in turn; when each tick started.

    The tick numbered ``poke_during`` pokes the ticker and takes 0.2 s more, so a tick that
    overlapped it would start before it ended.
    """
    started: list[float] = []
    ended: list[float] = []
    ticker: Ticker

    def tick() -> float | None:
        started.append(time.monotonic())
        if len(started) == poke_during:
            ticker.poke()
            time.sleep(0.2)
        ended.append(time.monotonic())
        return delays[min(len(started), len(delays)) - 1]

    ticker = Ticker(tick, interval=60.0)
    ticker.start()
    try:
        deadline = time.monotonic() + 1
        while len(started) < len(delays) + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        ticker.stop()
    assert all(start >= end for start, end in zip(started[1:], ended, strict=False))
    return started


def test_the_ticker_runs_again_as_soon_as_a_tick_asks() -> None:
    started = run_ticker([0.1, 60.0])
    assert len(started) == 2 and started[1] - started[0] < 1.0  # not the 60 s interval


def test_a_poke_during_a_tick_runs_another_right_after_it() -> None:
    assert len(run_ticker([60.0, 60.0], poke_during=1)) == 2


def test_a_tick_that_wants_no_sooner_run_keeps_the_interval() -> None:
    assert len(run_ticker([None])) == 1


def test_webhook_secret_from_file_or_environment(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert webhook_secret(file=str(secret), env={}) == b"s3cret"
    assert webhook_secret(file=None, env={"RECONCILER_WEBHOOK_SECRET": "env"}) == b"env"
    assert webhook_secret(file=None, env={}) is None
    with pytest.raises(errors.UsageError):
        webhook_secret(file=str(tmp_path / "absent"), env={})


def test_a_plain_directory_is_a_local_source_and_a_repository_a_git_source(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "plain"
    (plain / "desired").mkdir(parents=True)
    assert isinstance(build_source(RunConfig(repo=str(plain))), LocalSource)
    repo = GitRepo.create(tmp_path / "git")
    config = RunConfig(repo=str(repo.origin), cache_dir=tmp_path / "cache")
    assert isinstance(build_source(config), GitSource)
    with pytest.raises(errors.UsageError):
        build_source(RunConfig(repo=str(repo.origin), allowed_signers=tmp_path / "absent"))


# ------------------------------------------------------------------------------------------------
# Ticks against git and the sandbox
# ------------------------------------------------------------------------------------------------


def test_a_commit_converges_and_the_version_records_the_commit(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))

    converge(daemon, clock=sandbox.clock)

    report = daemon.report()
    assert report["revision"] == report["lastGoodRevision"] == repo.head()
    assert report["desiredError"] is None and report["ready"] is True
    newest = max(template_versions(aws), key=lambda v: int(str(v["VersionNumber"])))
    assert f"rev={repo.head()[:12]}" in str(newest["VersionDescription"])
    aws.reset_counts()
    daemon.tick()
    assert aws_writes(aws) == Counter()  # level-triggered: a converged tick writes nothing


def test_a_local_directory_converges_too(sandbox, aws: Aws, tmp_path: Path) -> None:
    directory = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", directory)
    (directory / "desired.yaml").write_text(desired_yaml())
    daemon = make_daemon(aws, LocalSource(paths=[directory]))
    converge(daemon, clock=sandbox.clock)
    assert str(daemon.report()["revision"]).startswith("sha256-")


def test_a_failed_fetch_backs_off_and_keeps_reconciling_the_last_good(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    clock = FakeClock()
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), clock=clock)
    converge(daemon, clock=sandbox.clock)
    errors_seen = daemon.metrics.fetch_errors

    hidden = repo.origin.with_name("moved.git")
    repo.origin.rename(hidden)  # the remote is gone for a while
    first = daemon.tick()
    assert not first.ok and first.next_delay == 5
    report = daemon.report()
    assert report["sourceError"] and report["lastGoodRevision"] == repo.head()
    assert [s["name"] for s in report["services"]] == ["feedback"]

    clock.now += 1  # not due: no fetch at all
    daemon.tick()
    assert errors_seen._value.get() == 1
    clock.now += 5
    assert daemon.tick().next_delay == 10  # doubled
    assert errors_seen._value.get() == 2

    hidden.rename(repo.origin)
    clock.now += 10
    assert daemon.tick().ok
    assert daemon.report()["sourceError"] is None


def test_a_temporary_service_error_backs_off_that_service(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    clock = FakeClock()
    directory = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", directory)
    unreachable = f"127.0.0.1:{closed_port()}/team/simple-api"
    (directory / "desired.yaml").write_text(desired_yaml(repository=unreachable))
    daemon = make_daemon(aws, LocalSource(paths=[directory]), clock=clock)

    result = daemon.tick()

    assert not result.ok and 5 <= result.next_delay < 30  # 5 s, or the error's own delay
    degraded = daemon.statuses()["feedback"].condition("Degraded")
    assert degraded.status and degraded.reason == "TemporaryError"
    aws.reset_counts()
    clock.now += result.next_delay - 1
    daemon.tick()
    assert sum(aws.calls.values()) == 0  # still backing off: not even observed
    clock.now += 1
    assert daemon.tick().next_delay > result.next_delay  # tried again, failed, waits longer
    assert aws.calls["DescribeAutoScalingGroups"] == 0  # the image fails before observing


def test_a_permanent_error_stalls_until_the_next_commit(sandbox, aws: Aws, tmp_path: Path) -> None:
    clock = FakeClock()
    repo = desired_repo(tmp_path / "git", tag="v1.1")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), clock=clock)
    converge(daemon, clock=sandbox.clock)
    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"][0]
    aws.call(  # a foreign owner on the group: permanent for this desired state
        "autoscaling",
        "create_or_update_tags",
        Tags=[
            {
                "ResourceId": group["AutoScalingGroupName"],
                "ResourceType": "auto-scaling-group",
                "Key": "asg-reconciler/owner",
                "Value": "someone-else",
                "PropagateAtLaunch": False,
            }
        ],
    )
    deploy(repo, "v1.0")
    clock.now += 60
    daemon.tick()
    stalled = daemon.statuses()["feedback"].condition("Stalled")
    assert stalled.status
    aws.reset_counts()
    clock.now += 60
    daemon.tick()
    assert aws.calls["CreateLaunchTemplateVersion"] == 0  # parked: nothing written

    aws.call(
        "autoscaling",
        "delete_tags",
        Tags=[
            {
                "ResourceId": group["AutoScalingGroupName"],
                "ResourceType": "auto-scaling-group",
                "Key": "asg-reconciler/owner",
            }
        ],
    )
    deploy(repo, "v1.1")
    converge(daemon, clock=sandbox.clock)  # a new commit is a new desired state: tried at once


def test_history_rewritten_is_logged_and_the_older_commit_reconciled(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    old = repo.head()
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    repo.write("desired/desired.yaml", desired_yaml(tag="v1.1"))
    new = repo.commit("deploy v1.1")
    converge(daemon, clock=sandbox.clock)

    repo.force_push(old)
    with capture_logs() as logs:
        converge(daemon, clock=sandbox.clock)

    rewritten = [e for e in logs if e["event"] == "history_rewritten"]
    assert rewritten == [
        {
            "event": "history_rewritten",
            "log_level": "warning",
            "old": new,
            "new": old,
            "source": daemon.source.description,
        }
    ]
    assert daemon.report()["lastGoodRevision"] == old
    applied = daemon.statuses()["feedback"].applied
    assert applied is not None and applied.revision == old[:12]  # descriptions keep 12


def test_a_force_push_back_from_a_refused_commit_clears_the_error(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    good = repo.head()
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    repo.write("desired/desired.yaml", "apiVersion: reconciler/v1\nkind: Service\n")
    repo.commit("half a file")
    daemon.tick()
    assert daemon.report()["desiredError"] is not None

    repo.force_push(good)
    assert daemon.tick().ok
    report = daemon.report()
    assert report["desiredError"] is None and report["revision"] == good
    assert daemon.statuses()["feedback"].condition("Stalled").status is False


def test_a_stop_mid_apply_leaves_what_the_next_start_finishes(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    first = make_daemon(aws, git_source(repo, tmp_path / "cache"))

    def stop_during(service: str, operation: str) -> None:
        if operation == "CreateLaunchTemplateVersion":
            first.gate.close()  # as SIGTERM would, while this call is in flight

    aws.on_call(stop_during)
    result = first.tick()

    assert not result.ok and not first.ready()
    writes = aws_writes(aws)
    assert writes["CreateLaunchTemplateVersion"] == 1
    assert writes["StartInstanceRefresh"] == 0 and writes["UpdateAutoScalingGroup"] == 0

    second = make_daemon(sandbox.aws(), git_source(repo, tmp_path / "cache"))
    converge(second, clock=sandbox.clock)
    numbers = sorted(int(str(v["VersionNumber"])) for v in template_versions(aws))
    assert numbers == [1, 2]  # the version the first start made was reused
    assert group_version(aws) == "2"


def test_a_standby_computes_status_but_never_writes(sandbox, aws: Aws, tmp_path: Path) -> None:
    holder = Lease(aws=sandbox.aws(), table="leases", name="asg-reconciler", holder="other")
    assert holder.ensure()
    lease = Lease(aws=aws, table="leases", name="asg-reconciler", holder="me")
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), lease=lease)

    with capture_logs() as logs:
        daemon.tick()

    assert aws_writes(aws) == Counter()
    report = daemon.report()
    assert report["role"] == "standby" and report["leader"] == "other"
    assert report["services"][0]["conditions"][0]["reason"] == "ChangesPending"
    reconcile = next(e for e in logs if e["event"] == "reconcile")
    assert reconcile["result"] == "standby" and "start_instance_refresh" in reconcile["planned"]


def test_trigger_during_a_tick_runs_another_right_after(sandbox, aws: Aws, tmp_path: Path) -> None:
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), interval=60)
    passes = Counter[str]()

    def count_and_trigger_once(service: str, operation: str) -> None:
        if operation == "DescribeAutoScalingGroups":
            passes["observe"] += 1
            if passes["observe"] == 1:
                daemon.trigger()  # a webhook arriving mid-tick

    aws.on_call(count_and_trigger_once)
    daemon.start()
    try:
        deadline = time.monotonic() + 10
        while passes["observe"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daemon.stop()
    assert passes["observe"] >= 2  # the interval is 60 s: only the trigger explains a second


@pytest.mark.parametrize(
    ("content", "env", "expected"),
    [
        (None, {}, None),
        (None, {"B": " b "}, "b"),  # the environment, stripped
        (None, {"A": "  ", "B": "b"}, "b"),  # a blank variable is not set
        (None, {"A": "a", "B": "b"}, "a"),  # the first that is set
        ("  from-file\n", {"A": "a"}, "from-file"),  # a file wins
        ("", {"A": "a"}, "--x-file: the file is empty"),
        ("\n \n", {}, "--x-file: the file is empty"),
        (b"\xff\xfe", {}, "--x-file: not UTF-8 text"),
    ],
)
def test_every_secret_is_read_by_one_rule(
    tmp_path: Path, content: str | bytes | None, env: dict[str, str], expected: str | None
) -> None:
    file = None
    if content is not None:
        path = tmp_path / "secret"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        file = str(path)
    if expected is not None and expected.startswith("--x-file"):
        with pytest.raises(errors.UsageError, match=expected):
            read_secret(option="--x-file", file=file, env=env, names=("A", "B"))
    else:
        assert read_secret(option="--x-file", file=file, env=env, names=("A", "B")) == expected


def test_an_unreadable_secret_file_names_its_option(tmp_path: Path) -> None:
    with pytest.raises(errors.UsageError, match="--x-file: No such file or directory: "):
        read_secret(option="--x-file", file=str(tmp_path / "absent"), env={}, names=())
