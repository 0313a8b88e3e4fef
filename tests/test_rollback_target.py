"""``rollback --to previous`` goes back to the last revision that ran successfully (issue 17 #1).

Pure cases of ``choose_previous`` over plain data, then the issue's scenario against the
sandbox: v1.0 and v1.1 roll out, v2.0 fails and is rolled back, a ``git revert`` brings v1.1
back; "previous" is then v1.0, never the v2.0 that was just reverted, and the command shows the
change and why before it commits, refusing without ``--yes`` when nobody can be asked.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.aws import Aws
from reconciler.cli import prompts
from reconciler.cli.operator import Candidate, Image, Verdict, choose_previous
from reconciler.errors import OperatorError, UsageError
from reconciler.sandbox import Sandbox
from tests.gitrepo import GitRepo
from tests.test_loop import ROLLOUT_STEP, converge, deploy, desired_repo, git_source, make_daemon

REPO = "registry.example/app"


def img(tag: str) -> Image:
    return Image(repository=REPO, tag=tag)


def cand(commit: str, tag: str) -> Candidate:
    return Candidate(commit=commit * 40, subject=f"deploy {tag}", image=img(tag))


def ok(commit: str, tag: str) -> Verdict:
    return Verdict(revision=(commit * 40)[:12], image=img(tag), ok=True, why="refresh Successful")


def bad(commit: str, tag: str) -> Verdict:
    why = "its rollout failed: 5xx rate 13%"
    return Verdict(revision=(commit * 40)[:12], image=img(tag), ok=False, why=why)


# (current tag, candidates newest first, verdicts newest first) → the chosen commit letter
CHOSEN = [
    # the issue: after a revert of a failed v2.0, previous skips v2.0 and HEAD's own image
    ("v1.1", [cand("c", "v2.0"), cand("b", "v1.1"), cand("a", "v1.0")],
     [bad("c", "v2.0"), ok("b", "v1.1"), ok("a", "v1.0")], "a"),
    # plain: the commit before HEAD ran fine
    ("v2.0", [cand("b", "v1.1"), cand("a", "v1.0")], [ok("b", "v1.1"), ok("a", "v1.0")], "b"),
    # a commit AWS never saw is no target; the older one that ran is
    ("v2.0", [cand("b", "v1.5"), cand("a", "v1.0")], [ok("a", "v1.0")], "a"),
    # a commit is judged by its image's last rollout when AWS recorded another commit of it
    ("v2.0", [cand("b", "v1.1")], [ok("d", "v1.1")], "b"),
    # its own verdict wins over its image's
    ("v3.0", [cand("c", "v2.0"), cand("b", "v1.1")], [ok("e", "v2.0"), bad("c", "v2.0"),
     ok("b", "v1.1")], "b"),
    # the same image twice is judged once, at its newest commit
    ("v3.0", [cand("c", "v1.1"), cand("b", "v1.1"), cand("a", "v1.0")],
     [ok("b", "v1.1"), ok("a", "v1.0")], "c"),
]  # fmt: skip


@pytest.mark.parametrize(("current", "candidates", "verdicts", "chosen"), CHOSEN)
def test_previous_is_the_newest_other_image_that_ran_successfully(
    current: str, candidates: list[Candidate], verdicts: list[Verdict], chosen: str
) -> None:
    choice = choose_previous(img(current), candidates, verdicts)
    assert choice.commit == chosen * 40
    assert "ran successfully" in choice.why


NONE = [
    ("v1.1", [cand("c", "v2.0"), cand("b", "v1.1")], [bad("c", "v2.0"), ok("b", "v1.1")], "5xx"),
    ("v1.1", [cand("b", "v1.1")], [ok("b", "v1.1")], "none has another image"),
    ("v1.1", [cand("b", "v1.0")], [], "AWS records no rollout of it"),
    ("v1.1", [], [], "none has another image"),
]


@pytest.mark.parametrize(("current", "candidates", "verdicts", "words"), NONE)
def test_no_target_is_refused_naming_what_was_skipped(
    current: str, candidates: list[Candidate], verdicts: list[Verdict], words: str
) -> None:
    with pytest.raises(OperatorError, match="--to REV") as caught:
        choose_previous(img(current), candidates, verdicts)
    assert words in str(caught.value)


def test_the_skipped_are_named_with_the_choice() -> None:
    candidates = [cand("c", "v2.0"), cand("a", "v1.0")]
    choice = choose_previous(img("v1.1"), candidates, [bad("c", "v2.0"), ok("a", "v1.0")])
    assert choice.skipped == ("cccccccccccc (v2.0): its rollout failed: 5xx rate 13%",)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "accepted"), [("yes\n", True), ("y\n", False), ("", False)])
def test_confirmation_takes_only_yes(answer: str, accepted: bool) -> None:
    out = io.StringIO()
    assert prompts.confirm(Terminal(answer), out, what="commit") is accepted
    assert "Commit this change? Only 'yes' is accepted" in out.getvalue()


def test_confirmation_without_a_terminal_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="refusing to commit without --yes"):
        prompts.confirm(io.StringIO("yes\n"), io.StringIO(), what="commit")


# ------------------------------------------------------------------------------------------------
# The scenario, against the sandbox
# ------------------------------------------------------------------------------------------------


def fail_rollout(daemon, sandbox: Sandbox, *, ticks: int = 30) -> None:
    """Tick until the desired revision's rollout has failed and AWS finished rolling it back."""
    for _ in range(ticks):
        daemon.tick()
        status = daemon.statuses()["feedback"]
        finished = status.refresh is None or not status.refresh.status.active
        if status.condition("Degraded").status and finished:
            return
        sandbox.clock.advance(ROLLOUT_STEP)
    raise AssertionError(f"v2.0 did not fail: {daemon.report()}")


@pytest.fixture
def reverted(sandbox: Sandbox, aws: Aws, tmp_path: Path, monkeypatch) -> GitRepo:
    """v1.0 and v1.1 rolled out, v2.0 failed and rolled back, then v2.0 reverted."""
    made = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint)
    daemon = make_daemon(aws, git_source(made, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    deploy(made, "v1.1")
    converge(daemon, clock=sandbox.clock)
    broken = deploy(made, "v2.0")
    fail_rollout(daemon, sandbox)
    made.revert(broken)
    converge(daemon, clock=sandbox.clock)
    return made


def test_rollback_after_a_revert_goes_to_the_last_good_image_not_the_reverted_one(
    reverted: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = reverted.head()
    code = cli.main(["rollback", "feedback", "--repo", str(reverted.work), "--yes"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert reverted.git("rev-parse", "HEAD~1") == head
    assert "tag: v1.0" in reverted.git("show", "HEAD:desired/desired.yaml")
    assert reverted.git("log", "-1", "--format=%s") == "rollback feedback: v1.1 → v1.0"
    assert "-    tag: v1.1" in out.out and "+    tag: v1.0" in out.out  # the diff, shown
    assert "ran successfully (refresh Successful)" in out.out  # why this target
    assert "skipped" in out.out and "(v2.0): its rollout failed" in out.out


def test_rollback_without_yes_and_without_a_terminal_refuses_and_commits_nothing(
    reverted: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = reverted.head()
    code = cli.main(["rollback", "feedback", "--repo", str(reverted.work)])
    out = capsys.readouterr()
    assert code == 2
    assert "refusing to commit without --yes" in out.err
    assert "+    tag: v1.0" in out.out  # shown before asking
    assert reverted.head() == head and reverted.git("status", "--porcelain") == ""


def test_a_failed_revision_is_a_target_only_when_named(
    reverted: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = reverted.git("rev-parse", "HEAD~1")
    code = cli.main(["rollback", "feedback", "--repo", str(reverted.work), "--to", broken, "--yes"])
    out = capsys.readouterr().out
    assert code == 0
    assert "tag: v2.0" in reverted.git("show", "HEAD:desired/desired.yaml")
    assert "though its rollout failed" in out
