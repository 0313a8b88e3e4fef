"""Issue 17's CLI papercuts, each against the real thing (#18, #19, #21's 32-bit bullet):

- ``rollback``/``pause`` name the uncommitted files whole (``git status --porcelain`` lines start
  with a space for an unstaged change, which a strip() ate with the first letter of the name);
- ``run --path desired/desired.yaml`` (a file) finds the UserData template next to it;
- ``apply --yes`` exits 5 when a paused service has changes it did not make;
- the plan's counts agree: "Plan: N changes" and "Apply: M actions for N changes";
- an ``apply --wait`` progress line at a checkpoint says "paused at checkpoint";
- integers beyond AWS's 32-bit ``Integer`` are refused like any out-of-range value.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import cli, desired
from reconciler.errors import InvalidDesiredState
from reconciler.model import RefreshStatus
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY, at_checkpoint
from reconciler.pipeline.follow import progress_line
from reconciler.pipeline.status import service_status
from reconciler.sandbox import Sandbox
from tests.factories import refresh
from tests.gitrepo import GitRepo
from tests.test_e2e_core import ROOT, run_cli, sandbox_copy
from tests.test_follow import outcome, rolling_out
from tests.test_loop import desired_repo

# -- rollback/pause: the uncommitted files, named whole ------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    made = desired_repo(tmp_path / "git", tag="v1.0")
    for name, value in made.env.items():
        if name.startswith("GIT_") or name == "HOME":
            monkeypatch.setenv(name, value)
    return made


@pytest.mark.parametrize("staged", [False, True], ids=["unstaged", "staged"])
@pytest.mark.parametrize("command", [["pause", "feedback"], ["rollback", "feedback"]])
def test_uncommitted_changes_are_named_whole(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], command: list[str], staged: bool
) -> None:
    for name in ("desired/desired.yaml", "desired/feedback-userdata.sh"):
        path = repo.work / name
        path.write_text(path.read_text() + "# local edit\n")
        if staged:
            repo.git("add", name)
    head = repo.head()
    code = cli.main([*command, "--repo", str(repo.work)])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "uncommitted changes (desired/desired.yaml, desired/feedback-userdata.sh): "
        "commit or stash them first"
    ) in err, err
    assert repo.head() == head


# -- run --path FILE ------------------------------------------------------------------------------


def test_run_with_a_file_as_path_finds_the_template_next_to_it(
    sandbox: Sandbox, repo: GitRepo, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "reconciler", "run", "--once", "--repo", repo.url,
            "--path", "desired/desired.yaml", "--cache-dir", str(tmp_path / "cache"),
            "--listen", "off",
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        env={**os.environ, **repo.env, "AWS_ENDPOINT_URL": sandbox.endpoint},
    )  # fmt: skip
    assert "does not exist" not in done.stderr, done.stderr
    assert '"event": "desired_loaded"' in done.stderr and '"result": "ok"' in done.stderr
    assert done.returncode == 0, done.stderr


# -- apply --yes on a paused service; the plan's counts --------------------------------------------


def test_apply_yes_on_a_paused_service_with_changes_exits_5(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = sandbox_copy(tmp_path, tag="v1.1")
    path.write_text(path.read_text().replace("spec:\n", "spec:\n  paused: true\n", 1))
    done = run_cli("apply", "--yes", str(path.parent), endpoint=sandbox.endpoint)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "feedback: paused: its changes were not applied" in done.stdout
    assert "Traceback" not in done.stderr
    # diff still shows them, and says apply holds them back
    shown = run_cli("diff", str(path.parent), endpoint=sandbox.endpoint)
    assert shown.returncode == 2 and "Held back by apply: feedback Blocked" in shown.stdout


def test_the_plan_counts_changes_and_actions_and_says_which_is_which(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = sandbox_copy(tmp_path, tag="v1.1")
    done = run_cli("apply", "--yes", str(path.parent), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    planned = re.search(r"^Plan: (\d+) changes? in 1 of 1 service\.$", done.stdout, re.M)
    actions = re.search(
        r"^Apply: (\d+) actions? for (\d+) changes? in 1 of 1 service\.$", done.stdout, re.M
    )
    block = re.search(
        r"^service feedback: (\d+) action\(s\) for (\d+) changes? ", done.stdout, re.M
    )
    applied = re.search(r"^feedback: applied (\d+) of (\d+) action\(s\)$", done.stdout, re.M)
    assert planned and actions and block and applied, done.stdout
    changes = planned.group(1)
    assert actions.group(2) == block.group(2) == changes  # one count of changes throughout
    assert actions.group(1) == block.group(1) == applied.group(1) == applied.group(2)


# -- progress at a checkpoint ---------------------------------------------------------------------

AT_CHECKPOINT = [
    # (status, percentage, checkpoints, expected)
    (RefreshStatus.IN_PROGRESS, 50, (50, 100), 50),
    (RefreshStatus.IN_PROGRESS, 60, (50, 100), 50),
    (RefreshStatus.IN_PROGRESS, 49, (50, 100), None),
    (RefreshStatus.IN_PROGRESS, 80, (20, 40, 100), 40),  # several crossed: the highest
    (RefreshStatus.IN_PROGRESS, 100, (50, 100), None),  # at 100 AWS waits at none
    (RefreshStatus.IN_PROGRESS, 50, (), None),
    (RefreshStatus.SUCCESSFUL, 50, (50, 100), None),
    (RefreshStatus.CANCELLING, 50, (50, 100), None),
    (RefreshStatus.BAKING, 100, (50, 100), None),
]


@pytest.mark.parametrize(("status", "percentage", "checkpoints", "expected"), AT_CHECKPOINT)
def test_at_checkpoint(
    status: RefreshStatus, percentage: int, checkpoints: tuple[int, ...], expected: int | None
) -> None:
    found = refresh(
        status=status, percentage_complete=percentage, checkpoint_percentages=checkpoints
    )
    assert at_checkpoint(found) == expected


@pytest.mark.parametrize(
    ("delay", "percentage", "words"),
    [
        (600, 50, "paused at checkpoint 50% (AWS waits 600 s there)"),
        (None, 50, "paused at checkpoint 50% (AWS waits 3600 s there)"),
        (HOLD_DELAY, 50, "paused at checkpoint 50% until the analysis passes"),
        (600, 30, None),
    ],
)
def test_a_progress_line_at_a_checkpoint_says_paused(
    delay: int | None, percentage: int, words: str | None
) -> None:
    observed = rolling_out(
        percentage_complete=percentage, checkpoint_percentages=(50, 100), checkpoint_delay=delay
    )
    line = progress_line(service_status(outcome(observed)))
    if words is None:
        assert "checkpoint" not in line, line
    else:
        assert words in line, line


# -- integers beyond AWS's 32-bit range -----------------------------------------------------------

INT32_MAX = 2**31 - 1
FIELDS = [
    ("autoScalingGroup", "minSize"),
    ("autoScalingGroup", "maxSize"),
    ("autoScalingGroup", "desiredCapacity"),
    ("autoScalingGroup", "healthCheckGracePeriod"),
    ("rollout", "instanceWarmup"),
]


# Set together, so that min <= desired <= max holds and only the range can refuse the value.
TOGETHER = {
    "minSize": ("minSize", "desiredCapacity", "maxSize"),
    "desiredCapacity": ("desiredCapacity", "maxSize"),
}


def with_value(tmp_path: Path, field: str, value: int) -> Path:
    path = sandbox_copy(tmp_path)
    text = path.read_text()
    for name in TOGETHER.get(field, (field,)):
        text, found = re.subn(rf"(\n\s+{name}): \d+", rf"\1: {value}", text, count=1)
        assert found == 1, name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("section", "field"), FIELDS)
def test_integers_beyond_32_bits_are_refused_with_the_range(
    tmp_path: Path, section: str, field: str
) -> None:
    desired.load([with_value(tmp_path / "ok", field, INT32_MAX)])  # the largest: fine
    with pytest.raises(InvalidDesiredState) as refused:
        desired.load([with_value(tmp_path / "big", field, INT32_MAX + 1)])
    mine = [p for p in refused.value.problems if p.field == f"spec.{section}.{field}"]
    assert mine, refused.value.problems
    text = str(mine[0])
    assert "2147483648 is out of range (allowed: 0 to 2147483647)" in text, text
    assert re.search(r"desired\.yaml:\d+: error:", text), text
