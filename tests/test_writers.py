"""Writers fighting (issue 17 #4): every write is stamped with its writer and revision, and a
writer that would undo a newer revision, or a CLI apply while a daemon owns the service, writes
nothing. Pure cases of the judgement, then the issue's two scenarios against the sandbox: a
stale CLI ``apply`` during a daemon's rollout, and a second daemon one commit behind without a
lease. In neither is a refresh cancelled.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.aws import Aws, is_read
from reconciler.daemon.source import GitSettings, GitSource
from reconciler.model import TAG_WRITER
from reconciler.pipeline.writers import CLI, DAEMON, Stamp, Writer, parse_stamp, refusal
from reconciler.sandbox import Sandbox
from tests.gitrepo import GitRepo
from tests.test_loop import ROLLOUT_STEP, converge, deploy, desired_repo, git_source, make_daemon

NEWER = "b" * 40
OLDER = "a" * 40


def writer(kind: str = DAEMON, revision: str | None = OLDER, **kw: object) -> Writer:
    return Writer(owner="asg-reconciler", kind=kind, revision=revision, **kw)  # type: ignore[arg-type]


def stamp(kind: str = DAEMON, revision: str = NEWER[:12], committed: int | None = 200) -> Stamp:
    return Stamp("asg-reconciler", revision, kind, committed)


@pytest.mark.parametrize(
    ("me", "recorded", "words"),
    [
        (writer(), None, None),  # nothing recorded: the first write
        (writer(revision=NEWER), stamp(), None),  # the same revision carries on
        (writer(committed=100), stamp(committed=200), "would undo a newer revision"),
        (writer(committed=300), stamp(committed=200), None),  # newer by time
        (writer(committed=200), stamp(committed=200), None),  # a tie says nothing
        (writer(committed=None), stamp(committed=200), None),  # no commit: nothing says older
        (writer(committed=300, descends=lambda other: True), stamp(), "newer revision"),  # git wins
        (writer(committed=100, descends=lambda other: False), stamp(), None),
        (writer(committed=100, abandoned=frozenset({NEWER[:12]})), stamp(), None),  # force-push
        (writer(CLI, committed=300), stamp(DAEMON), "a daemon owns this service"),
        (writer(CLI, committed=300, force=True), stamp(DAEMON), None),
        (writer(CLI, committed=100, force=True), stamp(DAEMON), None),
        (writer(CLI, committed=100), stamp(CLI), "would undo a newer revision"),
        (writer(CLI, committed=300), stamp(CLI), None),
        (writer(DAEMON, committed=300), stamp(CLI), None),  # git's newer revision wins
        (writer(committed=100), stamp(revision="-", committed=None), None),
    ],
)
def test_refusal(me: Writer, recorded: Stamp | None, words: str | None) -> None:
    why = refusal(me, recorded)
    if words is None:
        assert why is None
    else:
        assert why is not None and words in why


@pytest.mark.parametrize(
    ("revision", "value"),
    [
        (OLDER, "asg-reconciler@aaaaaaaaaaaa by=daemon t=-"),
        (f"{OLDER}-dirty", "asg-reconciler@aaaaaaaaaaaa+ by=daemon t=-"),
        (None, "asg-reconciler@- by=daemon t=-"),
    ],
)
def test_a_writer_stamps_its_revision(revision: str | None, value: str) -> None:
    assert writer(revision=revision).stamp().value() == value


@pytest.mark.parametrize(
    "value",
    [
        "asg-reconciler@abcdef012345 by=daemon t=1700000000",
        "team-a@abcdef012345+ by=cli t=-",
        "o@w@abcdef012345 by=cli t=5",
    ],
)
def test_a_stamp_reads_back_as_written(value: str) -> None:
    parsed = parse_stamp(value)
    assert parsed is not None and parsed.value() == value


@pytest.mark.parametrize("value", ["", "garbage", "x@y by=daemon", "x@y by=daemon t=abc", None])
def test_an_unreadable_stamp_is_none(value: str | None) -> None:
    assert parse_stamp(value) is None


# ------------------------------------------------------------------------------------------------
# Against the sandbox
# ------------------------------------------------------------------------------------------------


def refreshes(aws: Aws) -> list[dict[str, object]]:
    found = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )
    return list(found["InstanceRefreshes"])


def cancelled(aws: Aws) -> int:
    return sum(1 for r in refreshes(aws) if r["Status"] in ("Cancelling", "Cancelled"))


def writer_tag(aws: Aws) -> str:
    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"][0]
    return str(next(t["Value"] for t in group["Tags"] if t["Key"] == TAG_WRITER))


def later(repo: GitRepo, seconds: int) -> None:
    """Commits made from now on are dated ``seconds`` later: a revision newer by time too."""
    stamp = int(repo.git("log", "-1", "--format=%ct")) + seconds
    repo.env["GIT_COMMITTER_DATE"] = f"@{stamp} +0000"
    repo.env["GIT_AUTHOR_DATE"] = f"@{stamp} +0000"


@pytest.fixture
def rolling(sandbox: Sandbox, aws: Aws, tmp_path: Path, monkeypatch):
    """A daemon converged on v1.0, then rolling v1.1 out (its refresh in flight)."""
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in repo.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint)
    old = repo.head()
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    later(repo, 60)
    new = deploy(repo, "v1.1")
    daemon.tick()  # starts the refresh
    assert any(r["Status"] in ("Pending", "InProgress") for r in refreshes(aws))
    assert (
        writer_tag(aws)
        == f"asg-reconciler@{new[:12]} by=daemon t={repo.env['GIT_COMMITTER_DATE'][1:-6]}"
    )
    return repo, daemon, old, new


def test_a_stale_cli_apply_during_a_daemons_rollout_refuses_and_cancels_nothing(
    rolling, sandbox: Sandbox, aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, daemon, old, _ = rolling
    stale = tmp_path / "stale"
    subprocess.run(["git", "clone", "-q", str(repo.origin), str(stale)], check=True, env=repo.env)
    subprocess.run(["git", "-C", str(stale), "checkout", "-q", old], check=True, env=repo.env)
    before = cancelled(aws)
    for _ in range(3):
        code = cli.main(["apply", "--yes", str(stale / "desired")])
        err = capsys.readouterr().err
        assert code == 1
        assert "a daemon owns this service" in err and "--force" in err
        sandbox.clock.advance(60)
        daemon.tick()
    assert cancelled(aws) == before  # the daemon's rollout runs on
    converge(daemon, clock=sandbox.clock)
    assert daemon.statuses()["feedback"].condition("Ready").status


def test_apply_force_writes_over_a_daemon(
    rolling, sandbox: Sandbox, aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _, old, _ = rolling
    stale = tmp_path / "stale"
    subprocess.run(["git", "clone", "-q", str(repo.origin), str(stale)], check=True, env=repo.env)
    subprocess.run(["git", "-C", str(stale), "checkout", "-q", old], check=True, env=repo.env)
    assert cli.main(["apply", "--yes", "--force", str(stale / "desired")]) == 0
    assert writer_tag(aws).startswith(f"asg-reconciler@{old[:12]} by=cli")


def test_a_second_daemon_one_commit_behind_refuses_and_says_so(
    rolling, sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo, leader, old, new = rolling
    # A mirror the second daemon follows, stuck at the commit before the newest.
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.origin), str(mirror)], check=True)
    subprocess.run(["git", "-C", str(mirror), "update-ref", "refs/heads/main", old], check=True)
    own = Aws(region="us-east-1", endpoint_url=sandbox.endpoint)
    behind = make_daemon(
        own, GitSource(GitSettings(repo=f"file://{mirror}", cache_dir=tmp_path / "c2"))
    )
    for _ in range(8):
        behind.tick()
        leader.tick()
        sandbox.clock.advance(ROLLOUT_STEP / 3)
    writes = {op: n for op, n in own.requests.items() if not is_read(op)}
    assert writes == {}  # the daemon behind cancels nothing, writes nothing
    stalled = behind.statuses()["feedback"].condition("Stalled")
    assert stalled.status and stalled.reason == "WriterConflict"
    assert f"at revision {new[:12]}" in stalled.message and old[:12] in stalled.message
    metrics = behind.metrics.render()[0].decode()
    assert 'reconciler_writer_conflicts_total{name="feedback"} 1.0' in metrics  # parked after
    converge(leader, clock=sandbox.clock)
    assert writer_tag(aws).startswith(f"asg-reconciler@{new[:12]} by=daemon")
    shutil.rmtree(tmp_path / "c2", ignore_errors=True)
