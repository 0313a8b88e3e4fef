"""``reconciler rollback`` and ``reconciler pause``: commits authored in real git repositories.

Each test builds an origin and a work clone (tests/gitrepo.py), runs the command in the clone,
and checks the commit it made: its content (only the image or paused lines changed, comments
kept), its message, that it validates, and, against the sandbox, that the daemon converges to it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler import cli, desired
from reconciler.aws import Aws
from reconciler.cli import operator
from reconciler.cli.operator import Authoring, Image
from reconciler.desired import yamlload
from reconciler.errors import OperatorError
from reconciler.model import Phase
from tests.gitrepo import GitRepo
from tests.test_loop import converge, deploy, desired_repo, git_source, make_daemon

SANDBOX_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """desired/ at v1.0, then v1.1, then v2.0; git configured like the repo's own env."""
    made = desired_repo(tmp_path / "git", tag="v1.0")
    deploy(made, "v1.1")
    deploy(made, "v2.0")
    for name in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT"):
        monkeypatch.setenv(name, made.env[name])
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", made.env[f"GIT_{name}_NAME"])
        monkeypatch.setenv(f"GIT_{name}_EMAIL", made.env[f"GIT_{name}_EMAIL"])
    return made


def desired_text(repo: GitRepo, revision: str = "HEAD") -> str:
    return repo.git("show", f"{revision}:desired/desired.yaml")


def changed_lines(repo: GitRepo, revision: str = "HEAD") -> list[str]:
    """The +/- lines of ``revision``'s diff to its parent (no headers)."""
    diff = repo.git("show", "--format=", "--unified=0", revision)
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def loaded_image(repo: GitRepo) -> tuple[str | None, str | None]:
    spec = desired.load([repo.work / "desired"]).services[0]
    return spec.image.tag, spec.image.digest


def say_nothing(_: str) -> None:
    pass


def all_ran(work: operator.WorkTree, located: operator.Located) -> list[operator.Verdict]:
    """AWS's record, as plain data: every earlier commit of the file rolled out successfully."""
    return [
        operator.Verdict(revision=c.commit[:12], image=c.image, ok=True, why="refresh Successful")
        for c in operator.candidates(work, located=located)
    ]


# ------------------------------------------------------------------------------------------------
# rollback
# ------------------------------------------------------------------------------------------------


def test_rollback_to_previous_commits_the_image_before_head(repo: GitRepo) -> None:
    before = repo.head()
    done = operator.rollback(
        Authoring(repo=repo.work, service="feedback", reason="v2.0 answers 500", say=say_nothing),
        verdicts=all_ran,
    )

    assert done.commit == repo.head() != before
    assert repo.git("rev-parse", "HEAD~1") == before
    comment = "# any tag, e.g. previous or sha-1a2b3c4; or `digest: sha256:...`"
    assert changed_lines(repo) == [
        f"-    tag: v2.0                  {comment}",
        f"+    tag: v1.1                  {comment}",
    ]
    message = repo.git("log", "-1", "--format=%B")
    subject = message.splitlines()[0]
    assert subject == "rollback feedback: v2.0 → v1.1"
    assert f"from {SANDBOX_IMAGE}:v2.0" in message
    assert f"to   {SANDBOX_IMAGE}:v1.1" in message
    assert "Reason: v2.0 answers 500" in message
    v11 = repo.git("rev-parse", "HEAD~2")  # deploy v1.1
    assert f"Rollback-Source-Commit: {v11}" in message
    assert f"commit {v11[:12]} (deploy v1.1)" in message
    assert loaded_image(repo) == ("v1.1", None)
    assert repo.git("status", "--porcelain") == ""


def test_previous_skips_commits_that_left_the_image_alone(repo: GitRepo) -> None:
    text = (repo.work / "desired" / "desired.yaml").read_text()
    repo.write("desired/desired.yaml", text.replace("maxSize: 4", "maxSize: 6"))
    repo.commit("allow 6 instances")

    operator.rollback(
        Authoring(repo=repo.work, service="feedback", say=say_nothing), verdicts=all_ran
    )

    assert loaded_image(repo) == ("v1.1", None)  # not v2.0, which the capacity commit kept
    assert "maxSize: 6" in desired_text(repo)  # and the capacity change stays
    assert "no reason given" in repo.git("log", "-1", "--format=%B")


def test_rollback_to_a_revision(repo: GitRepo) -> None:
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    operator.rollback(Authoring(repo=repo.work, service="feedback", say=say_nothing), to=first)
    assert loaded_image(repo) == ("v1.0", None)
    assert repo.git("log", "-1", "--format=%s") == "rollback feedback: v2.0 → v1.0"
    # Only the tag line changed: comments, order and everything else are as they were.
    assert desired_text(repo) == desired_text(repo, "HEAD~1").replace("tag: v2.0", "tag: v1.0")


def test_rollback_twice_goes_back_again(repo: GitRepo) -> None:
    operator.rollback(
        Authoring(repo=repo.work, service="feedback", say=say_nothing), verdicts=all_ran
    )
    operator.rollback(
        Authoring(repo=repo.work, service="feedback", say=say_nothing), verdicts=all_ran
    )
    # "previous" is the newest earlier image that differs: the v2.0 the first rollback undid.
    assert loaded_image(repo) == ("v2.0", None)


def test_rollback_through_the_cli_and_push(
    sandbox, repo: GitRepo, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint)
    code = cli.main(
        [
            "rollback",
            "feedback",
            "--repo",
            str(repo.work),
            "--to",
            "HEAD~1",
            "--reason",
            "smoke",
            "--push",
            "--yes",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"rollback feedback: image {SANDBOX_IMAGE}:v2.0 → {SANDBOX_IMAGE}:v1.1" in out
    assert "-    tag: v2.0" in out and "+    tag: v1.1" in out  # the diff is shown
    assert "named with --to HEAD~1" in out  # and why that target
    origin_head = subprocess.run(
        ["git", "--git-dir", str(repo.origin), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert origin_head == repo.head()


def test_rollback_refuses_a_dirty_work_tree(repo: GitRepo) -> None:
    head = repo.head()
    path = repo.work / "desired" / "desired.yaml"
    path.write_text(path.read_text() + "# local edit\n")
    with pytest.raises(OperatorError, match="uncommitted changes"):
        operator.rollback(Authoring(repo=repo.work, service="feedback", say=say_nothing))
    assert repo.head() == head
    assert path.read_text().endswith("# local edit\n")  # left as the user had it
    assert cli.main(["rollback", "feedback", "--repo", str(repo.work)]) == 1


def test_rollback_refuses_what_cannot_be_rolled_back(repo: GitRepo) -> None:
    head = repo.head()
    with pytest.raises(OperatorError, match="nothing to roll back"):
        operator.rollback(Authoring(repo=repo.work, service="feedback", say=say_nothing), to=head)
    with pytest.raises(OperatorError, match="no service 'billing'"):
        operator.rollback(Authoring(repo=repo.work, service="billing", say=say_nothing))
    with pytest.raises(OperatorError, match="no commit 'nope'"):
        operator.rollback(Authoring(repo=repo.work, service="feedback", say=say_nothing), to="nope")
    assert repo.head() == head


def test_previous_needs_an_earlier_image(tmp_path: Path, monkeypatch) -> None:
    made = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(OperatorError, match="no earlier revision with another image"):
        operator.rollback(
            Authoring(repo=made.work, service="feedback", say=say_nothing), verdicts=all_ran
        )


def test_dry_run_commits_nothing(repo: GitRepo) -> None:
    head = repo.head()
    done = operator.rollback(
        Authoring(repo=repo.work, service="feedback", dry_run=True, say=say_nothing),
        verdicts=all_ran,
    )
    assert done.commit is None
    assert "+    tag: v1.1" in done.diff
    assert repo.head() == head
    assert repo.git("status", "--porcelain") == ""


def test_rollback_from_a_tag_to_a_digest(repo: GitRepo) -> None:
    text = (repo.work / "desired" / "desired.yaml").read_text()
    pinned = text.replace("tag: v2.0                  #", f"digest: {DIGEST}  #")
    repo.write("desired/desired.yaml", pinned)
    pinned_commit = repo.commit("pin by digest")
    deploy(repo, "v2.0")

    operator.rollback(
        Authoring(repo=repo.work, service="feedback", say=say_nothing), to=pinned_commit
    )

    assert loaded_image(repo) == (None, DIGEST)
    assert repo.git("log", "-1", "--format=%s") == f"rollback feedback: v2.0 → {DIGEST[:19]}"
    lines = changed_lines(repo)
    assert lines[0].startswith("-    tag: v2.0")
    assert lines[1] == f"+    digest: {DIGEST}"


# ------------------------------------------------------------------------------------------------
# Editing in place
# ------------------------------------------------------------------------------------------------

TEXT = """\
# two services in one file
apiVersion: reconciler/v1
kind: Service
metadata: {name: a}
spec:
  image:
    repository: r/a   # keep me
    tag: "1.0"
---
metadata:
  name: b
spec:
  region: us-east-1
  image:
    repository: r/b
    digest: sha256:00
"""


def document(name: str) -> yamlload.Document:
    parsed = yamlload.parse(TEXT, file="x.yaml")
    return next(d for d in parsed.documents if d.data["metadata"]["name"] == name)


def test_set_image_quotes_what_yaml_would_misread_and_keeps_comments() -> None:
    out = operator.set_image(
        TEXT, document=document("a"), old=Image("r/a", tag="1.0"), new=Image("r/a", tag="2.0")
    )
    assert out == TEXT.replace('tag: "1.0"', 'tag: "2.0"')
    out = operator.set_image(
        TEXT, document=document("a"), old=Image("r/a", tag="1.0"), new=Image("r/a", tag="sha-1a2b")
    )
    assert out == TEXT.replace('tag: "1.0"', "tag: sha-1a2b")


def test_set_image_edits_only_its_own_document() -> None:
    out = operator.set_image(
        TEXT,
        document=document("b"),
        old=Image("r/b", digest="sha256:00"),
        new=Image("r/b", tag="v1"),
    )
    assert out == TEXT.replace("    digest: sha256:00\n", "    tag: v1\n")


def test_flow_style_is_refused_not_redumped() -> None:
    text = "metadata:\n  name: c\nspec:\n  image: {repository: r/c, tag: v1}\n"
    doc = yamlload.parse(text, file="c.yaml").documents[0]
    with pytest.raises(OperatorError, match=r"flow style|in place"):
        operator.set_image(text, document=doc, old=Image("r/c", "v1"), new=Image("r/c", "v0"))


def test_set_paused_inserts_after_spec_and_removes_again() -> None:
    doc = document("b")
    paused = operator.set_paused(TEXT, document=doc, paused=True)
    assert "spec:\n  paused: true\n  region: us-east-1\n" in paused
    again = yamlload.parse(paused, file="x.yaml").documents[1]
    assert operator.set_paused(paused, document=again, paused=False) == TEXT


# ------------------------------------------------------------------------------------------------
# pause
# ------------------------------------------------------------------------------------------------


def test_pause_and_resume(repo: GitRepo) -> None:
    head = repo.head()
    operator.pause(
        Authoring(repo=repo.work, service="feedback", reason="incident 42", say=say_nothing)
    )
    assert repo.git("rev-parse", "HEAD~1") == head
    assert changed_lines(repo) == ["+  paused: true"]
    assert repo.git("log", "-1", "--format=%s") == "pause feedback"
    assert "Reason: incident 42" in repo.git("log", "-1", "--format=%B")
    assert desired.load([repo.work / "desired"]).services[0].paused is True

    with pytest.raises(OperatorError, match="already paused"):
        operator.pause(Authoring(repo=repo.work, service="feedback", say=say_nothing))

    assert cli.main(["pause", "feedback", "--resume", "--repo", str(repo.work)]) == 0
    assert repo.git("log", "-1", "--format=%s") == "resume feedback"
    assert desired_text(repo) == desired_text(repo, "HEAD~2")
    assert desired.load([repo.work / "desired"]).services[0].paused is False


def test_pause_refuses_a_dirty_work_tree(repo: GitRepo) -> None:
    (repo.work / "desired" / "feedback-userdata.sh").write_text("#!/bin/sh\n")
    with pytest.raises(OperatorError, match="uncommitted changes"):
        operator.pause(Authoring(repo=repo.work, service="feedback", say=say_nothing))


# ------------------------------------------------------------------------------------------------
# Against the sandbox: the daemon rolls the commit out
# ------------------------------------------------------------------------------------------------


def test_the_daemon_converges_to_a_rollback(sandbox, aws: Aws, tmp_path: Path, monkeypatch) -> None:
    digests = sandbox.seeded.image_digests
    made = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    daemon = make_daemon(aws, git_source(made, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    deploy(made, "v1.1")
    converge(daemon, clock=sandbox.clock)
    assert applied(daemon) == f"{SANDBOX_IMAGE}@{digests['v1.1']}"

    done = operator.rollback(
        Authoring(
            repo=made.work, service="feedback", reason="v1.1 is slow", push=True, say=say_nothing
        ),
        verdicts=operator.aws_verdicts(lambda region: aws, path="desired"),
    )
    assert done.pushed
    converge(daemon, clock=sandbox.clock)

    assert daemon.report()["lastGoodRevision"] == done.commit
    assert applied(daemon) == f"{SANDBOX_IMAGE}@{digests['v1.0']}"


def test_a_paused_service_shows_its_diff_and_applies_nothing(
    sandbox, aws: Aws, tmp_path: Path, monkeypatch
) -> None:
    made = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    daemon = make_daemon(aws, git_source(made, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    operator.pause(Authoring(repo=made.work, service="feedback", push=True, say=say_nothing))
    deploy_paused = (made.work / "desired" / "desired.yaml").read_text()
    made.write("desired/desired.yaml", deploy_paused.replace("tag: v1.0", "tag: v1.1"))
    made.commit("deploy v1.1 while paused")

    result = daemon.tick()

    assert result.applied == 0
    outcome = daemon.reconciler.compute(desired.load([made.work / "desired"]).services)[0]
    assert outcome.diff is not None
    assert outcome.diff.phase is Phase.BLOCKED
    assert outcome.diff.changes  # the image change is still shown


def applied(daemon) -> str | None:
    status = daemon.statuses()["feedback"].applied
    return status.image if status else None
