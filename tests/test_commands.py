"""``diff`` and ``apply --wait`` as a user runs them: the real ``reconciler`` command in a
subprocess, against the sandbox over HTTP, with the sandbox clock frozen and stepped by the test.

``drive`` moves sandbox time in lockstep with the command: one step each time it prints a line
(``apply --wait`` prints one progress line per pass), so every pass sees the world a step later,
as it would between two polls on AWS. Loops are bounded by sandbox time (three hours: AWS
retries a broken release for an hour before it fails and rolls it back, aws-facts 1.5), never by
how fast the sandbox happens to fail, and by a wall-clock guard only against a hung process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.model import TAG_OWNER
from reconciler.sandbox import Sandbox, Seeded
from tests.test_e2e_core import run_cli
from tests.test_scenarios import GROUP, desired_file

STEP = 60.0  # sandbox seconds per printed line: the daemon's default interval is 30 s
LIMIT = 3 * 3600.0  # sandbox seconds: an hour of AWS retries, the rollback, and room to spare
WALL = 300.0  # seconds: only a hung process should ever come near this


@dataclass(frozen=True)
class Driven:
    code: int
    out: str
    moved: float  # sandbox seconds the clock was stepped while the command ran


def drive(sandbox: Sandbox, *args: str, step: float = STEP, limit: float = LIMIT) -> Driven:
    """Run ``reconciler ARGS`` and step the sandbox clock once per line it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": sandbox.endpoint},
    )
    guard = threading.Timer(WALL, proc.kill)
    guard.start()
    lines: list[str] = []
    moved = 0.0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if moved >= limit:
                proc.kill()
                raise AssertionError(f"not settled in {limit:.0f} sandbox s:\n{''.join(lines)}")
            sandbox.clock.advance(step)
            moved += step
        code = proc.wait()
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
    out = "".join(lines)
    assert "Traceback" not in out, out
    return Driven(code, out, moved)


def cli(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    done = run_cli(*args, endpoint=sandbox.endpoint)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def apply_wait(sandbox: Sandbox, path: Path) -> Driven:
    return drive(sandbox, "apply", "--yes", "--wait", "--poll", "0.05", str(path))


def newest_refresh(aws: Aws) -> dict[str, Any]:
    found: dict[str, Any] = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
    )["InstanceRefreshes"][0]
    return found


def group(aws: Aws) -> dict[str, Any]:
    found: dict[str, Any] = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"][0]
    return found


def step_until(
    sandbox: Sandbox, done: Callable[[], bool], *, step: float = 30.0, limit: float = LIMIT
) -> float:
    """Step the frozen clock until ``done()``; returns the sandbox seconds it took."""
    moved = 0.0
    while not done():
        assert moved < limit, f"not done in {limit:.0f} sandbox seconds"
        sandbox.clock.advance(step)
        moved += step
    return moved


def mid_rollout(aws: Aws) -> bool:
    refresh = newest_refresh(aws)
    percentage: int = refresh.get("PercentageComplete", 0)
    return refresh["Status"] == "InProgress" and 0 < percentage < 100


# -- diff ----------------------------------------------------------------------------------------


def test_diff_during_a_rollout_is_exit_0_and_reports_its_progress(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    code, out, err = cli(frozen, "apply", "--yes", str(path))  # starts the refresh, no wait
    assert code == 0, out + err
    step_until(frozen, lambda: mid_rollout(aws))
    percentage = newest_refresh(aws)["PercentageComplete"]

    code, out, err = cli(frozen, "diff", str(path))
    assert code == 0, out + err
    assert "service feedback: Progressing" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("No changes to make. Under way: feedback Progressing"), out
    assert f"InProgress, {percentage}% complete" in summary

    code, out, err = cli(frozen, "diff", "--output", "json", str(path))
    assert code == 0, out + err
    (service,) = json.loads(out)["services"]
    assert service["changes"] == []
    assert (service["phase"], service["refresh"]["percentage"]) == ("Progressing", percentage)

    code, out, err = cli(frozen, "diff", "--output", "markdown", str(path))
    assert code == 0, out + err
    assert f"{percentage}% complete" in out


def test_diff_with_changes_is_exit_2_before_and_during_a_rollout(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    code, out, err = cli(frozen, "diff", str(path))
    assert code == 2, out + err
    assert "v1.1 (sha256:" in out and out.strip().splitlines()[-1].startswith("Plan: ")

    code, out, err = cli(frozen, "apply", "--yes", str(path))
    assert code == 0, out + err
    step_until(frozen, lambda: mid_rollout(aws))
    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=7)

    code, out, err = cli(frozen, "diff", str(path))
    assert code == 2, out + err  # the drift is a change; the rollout still is not
    changes = [line.strip() for line in out.splitlines() if line.startswith(("  ~", "  +", "  -"))]
    assert changes == ["~ auto_scaling_group feedback-asg maxSize: 7 → 4"]
    assert "service feedback: Progressing" in out


def test_diff_and_apply_exit_1_when_a_service_cannot_act(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    aws.call(
        "autoscaling",
        "create_or_update_tags",
        Tags=[
            {
                "ResourceId": GROUP,
                "ResourceType": "auto-scaling-group",
                "Key": TAG_OWNER,
                "Value": "someone-else",
                "PropagateAtLaunch": False,
            }
        ],
    )
    path = desired_file(tmp_path, "v1.1")
    for command in (["diff"], ["apply", "--yes"]):
        aws.reset_counts()
        code, out, err = cli(frozen, *command, str(path))
        assert code == 1, (command, out, err)
        assert "feedback: cannot act:" in err and "someone-else" in err
        assert dict(aws.writes()) == {}


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["diff", "--output", "yaml", "desired"], 1),  # diff's 2 means changes: never usage
        (["diff"], 1),
        (["apply", "--bogus", "desired"], 2),
        (["validate"], 2),
    ],
)
def test_usage_errors_and_diffs_exit_codes_stay_apart(argv: list[str], code: int) -> None:
    assert main(argv) == code


# -- apply --wait --------------------------------------------------------------------------------


def converge(sandbox: Sandbox, aws: Aws, tmp_path: Path) -> str:
    """v1.1 rolled out with ``apply --wait``; returns its launch template version."""
    done = apply_wait(sandbox, desired_file(tmp_path, "v1.1"))
    assert done.code == 0, done.out
    assert done.out.strip().splitlines()[-1] == "apply --wait: ready"
    version: str = group(aws)["LaunchTemplate"]["Version"]
    return version


def test_apply_wait_on_a_broken_image_ends_after_the_rollback(
    frozen: Sandbox, aws: Aws, seeded: Seeded, tmp_path: Path
) -> None:
    good = converge(frozen, aws, tmp_path)
    done = apply_wait(frozen, desired_file(tmp_path, "v2.0"))
    assert done.code == 3, done.out
    lines = done.out.strip().splitlines()
    assert lines[-1] == "apply --wait: failed"
    # It followed the rollback, and said so while it waited...
    rolling = [line for line in lines if "RollbackInProgress" in line]
    assert rolling and all("waiting for AWS to finish the rollback" in line for line in rolling)
    # ...and ended only once AWS had finished it: the outcome names the refresh's last status.
    refresh = newest_refresh(aws)
    assert refresh["Status"] == "RollbackSuccessful"
    ending = next(line for line in lines if "rollout failed" in line)
    assert f"AWS has rolled it back (instance refresh {refresh['InstanceRefreshId']}" in ending
    assert lines.index(ending) > max(lines.index(line) for line in rolling)
    # What runs now: v1.1's version, its image, on every instance, as AWS lists them.
    digest = seeded.image_digests["v1.1"].removeprefix("sha256:")[:12]
    running = next(line for line in lines if "now running" in line)
    assert f"now running launch template version {good} (v1.1 (sha256:{digest})," in running
    assert "on 2 of 2 instance(s)" in running
    assert f"new instances launch version {good}" in running
    versions = [i["LaunchTemplate"]["Version"] for i in group(aws)["Instances"]]
    assert versions == [good, good]
    assert "reconciler retry feedback" in lines[-2]


def test_apply_wait_without_auto_rollback_ends_when_the_refresh_failed(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    good = converge(frozen, aws, tmp_path)
    path = desired_file(tmp_path, "v2.0")
    path.write_text(path.read_text().replace("autoRollback: true", "autoRollback: false"))
    done = apply_wait(frozen, path)
    assert done.code == 3, done.out
    # The analysis fails it once its first instance is past the grace period, and cancels it
    # (AWS alone would fail it after an hour); either way nothing is rolled back.
    assert newest_refresh(aws)["Status"] == "Cancelled"
    lines = done.out.strip().splitlines()
    assert lines[-1] == "apply --wait: failed"
    ending = next(line for line in lines if "rollout failed" in line)
    assert "was not rolled back, as rollout.autoRollback is off" in ending
    broken = str(int(good) + 1)  # the version apply created for v2.0
    where = next(line for line in lines if "mixed versions" in line or "now running" in line)
    named = re.findall(r"launch template version (\d+) \((v\d\.\d) \(sha256:", where)
    assert named and set(named) <= {(good, "v1.1"), (broken, "v2.0")}, where
    counts = [int(n) for n in re.findall(r"on (\d+) of 2 instance", where)]
    assert sum(counts) == 2 and len(counts) == len(named), where
    if "mixed versions" in where:  # AWS replaced some instances and did not put them back
        assert len(named) == 2 and "to recover: commit a fix, or a revert" in lines[-2]


def test_apply_without_wait_on_a_failed_revision_is_exit_3(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    converge(frozen, aws, tmp_path)
    v2 = desired_file(tmp_path, "v2.0")
    assert apply_wait(frozen, v2).code == 3
    aws.reset_counts()
    code, out, err = cli(frozen, "apply", "--yes", str(v2))
    assert code == 3, out + err
    assert "AWS has rolled it back" in out and "now running" in out
    assert aws.writes()["StartInstanceRefresh"] == 0


def test_apply_wait_exit_codes_and_retry(frozen: Sandbox, aws: Aws, tmp_path: Path) -> None:
    converge(frozen, aws, tmp_path)
    v2 = desired_file(tmp_path, "v2.0")
    done = apply_wait(frozen, v2)
    assert done.code == 3 and "RolloutFailed" in done.out, done.out

    # `apply --wait` ended after the rollback; an operator retries the same revision.
    starts = refresh_count(aws)
    code, out, err = cli(frozen, "retry", "feedback", "-f", str(v2))
    assert code == 0 and "failure forgotten" in out, out + err
    done = apply_wait(frozen, v2)
    assert done.code == 3, done.out  # rolled out again, failed again, rolled back again
    assert refresh_count(aws) == starts + 1
    assert newest_refresh(aws)["Status"] == "RollbackSuccessful"

    # The clock stands still: the rollout of v1.0 cannot end before the wall-clock timeout.
    code, out, err = cli(
        frozen,
        "apply",
        "--yes",
        "--wait",
        "--poll",
        "0.1",
        "--timeout",
        "0.5",
        str(desired_file(tmp_path, "v1.0")),
    )
    assert code == 4, out + err
    assert out.strip().splitlines()[-1] == "apply --wait: timeout"


def refresh_count(aws: Aws) -> int:
    return len(
        aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP)[
            "InstanceRefreshes"
        ]
    )


def test_apply_wait_after_a_retry_during_the_rollback(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    converge(frozen, aws, tmp_path)
    v2 = desired_file(tmp_path, "v2.0")
    code, out, err = cli(frozen, "apply", "--yes", str(v2))
    assert code == 0, out + err
    step_until(frozen, lambda: newest_refresh(aws)["Status"] == "RollbackInProgress")
    first = newest_refresh(aws)["InstanceRefreshId"]
    code, out, err = cli(frozen, "retry", "feedback", "-f", str(v2))
    assert code == 0 and "failure forgotten" in out, out + err

    # The rollback is let finish, the revision rolled out again; it fails again, and the
    # command ends once that second refresh has been rolled back.
    done = apply_wait(frozen, v2)
    assert done.code == 3, done.out
    lines = done.out.splitlines()
    # While the first refresh rolls back, the retried revision is progress, not a failure;
    # the rollout that follows is shown before it starts, as a change --wait had not shown.
    rolling_back = [
        i
        for i, ln in enumerate(lines)
        if "feedback Progressing" in ln or "feedback: Progressing" in ln
        if "RollbackInProgress" in ln
    ]
    shown = lines.index("new changes found while following the rollout:")
    assert rolling_back and rolling_back[0] < shown, done.out
    assert not any("Degraded" in ln for ln in lines[:shown]), done.out
    second = newest_refresh(aws)
    assert second["InstanceRefreshId"] != first and second["Status"] == "RollbackSuccessful"
    assert f"AWS has rolled it back (instance refresh {second['InstanceRefreshId']}" in done.out
