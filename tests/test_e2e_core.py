"""The Core loop end to end: validate, diff, apply and diff again, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_OWNER, Phase
from reconciler.pipeline.reconcile import Reconciler

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
SANDBOX_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/simple-api"


def sandbox_copy(tmp_path: Path, *, tag: str = "v1.1", extra: str = "") -> Path:
    """desired/ copied and edited for the sandbox, as the README tells a new user to do."""
    target = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", target)
    text = (target / "desired.yaml").read_text()
    text = text.replace("ghcr.io/johnhuh619/simple-api", SANDBOX_IMAGE)
    text = text.replace("tag: latest", f"tag: {tag}")
    (target / "desired.yaml").write_text(text + extra)
    return target / "desired.yaml"


def run_cli(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def make_reconciler(aws: Aws) -> Reconciler:
    return Reconciler(aws=aws, resolver=ImageResolver(aws))


def test_validate_accepts_the_canonical_file() -> None:
    done = run_cli("validate", str(ROOT / "desired"), endpoint="http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert "feedback" in done.stdout
    assert "Traceback" not in done.stderr


def test_diff_apply_diff_converges(sandbox, tmp_path: Path) -> None:
    path = sandbox_copy(tmp_path)
    before = run_cli("diff", str(path), endpoint=sandbox.endpoint)
    assert before.returncode == 2, before.stdout + before.stderr
    assert "image" in before.stdout and "v1.1 (sha256:" in before.stdout

    applied = run_cli("apply", "--yes", str(path), endpoint=sandbox.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sandbox.clock.advance(900)  # the refresh takes its modeled ~13 minutes of sandbox time

    after = run_cli("diff", "--output", "json", str(path), endpoint=sandbox.endpoint)
    assert after.returncode == 0, after.stdout + after.stderr
    report = json.loads(after.stdout)
    assert report["services"][0]["changes"] == []
    assert "Traceback" not in before.stderr + applied.stderr + after.stderr


def test_apply_refuses_without_terminal_or_yes(sandbox, tmp_path: Path) -> None:
    path = sandbox_copy(tmp_path)
    done = run_cli("apply", str(path), endpoint=sandbox.endpoint)
    assert done.returncode == 2
    assert "--yes" in done.stderr


def test_second_apply_makes_no_write(sandbox, aws: Aws, tmp_path: Path) -> None:
    specs = desired.load([sandbox_copy(tmp_path)]).services
    first = make_reconciler(aws)
    outcomes = first.compute(specs)
    assert outcomes[0].error is None, outcomes[0].error
    first.apply(outcomes)
    assert aws.writes()["CreateLaunchTemplateVersion"] == 1
    assert aws.writes()["StartInstanceRefresh"] == 1

    # Settle: the sandbox finishes the refresh (~13 sandbox minutes); any remaining write
    # happens here.
    sandbox.clock.advance(900)
    settle = make_reconciler(aws)
    settle.apply(settle.compute(specs))

    aws.reset_counts()
    again = make_reconciler(aws)
    outcomes = again.compute(specs)
    again.apply(outcomes)
    assert outcomes[0].diff is not None and outcomes[0].diff.phase is Phase.IN_SYNC
    assert dict(aws.writes()) == {}


def test_pins_the_digest_and_tags_ownership(sandbox, aws: Aws, tmp_path: Path) -> None:
    specs = desired.load([sandbox_copy(tmp_path)]).services
    reconciler = make_reconciler(aws)
    outcomes = reconciler.compute(specs)
    reconciler.apply(outcomes)
    digest = outcomes[0].desired.image.digest if outcomes[0].desired else ""
    assert digest.startswith("sha256:")

    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"][0]
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags[TAG_OWNER] == "asg-reconciler"
    versions = aws.call(
        "ec2", "describe_launch_template_versions", LaunchTemplateName="feedback-app-template"
    )["LaunchTemplateVersions"]
    newest = max(versions, key=lambda v: v["VersionNumber"])
    assert f"{SANDBOX_IMAGE}@{digest}" in newest["VersionDescription"]


def test_foreign_owner_is_refused(sandbox, aws: Aws, tmp_path: Path) -> None:
    aws.call(
        "autoscaling",
        "create_or_update_tags",
        Tags=[
            {
                "ResourceId": "feedback-asg",
                "ResourceType": "auto-scaling-group",
                "Key": TAG_OWNER,
                "Value": "someone-else",
                "PropagateAtLaunch": False,
            }
        ],
    )
    aws.reset_counts()
    specs = desired.load([sandbox_copy(tmp_path)]).services
    reconciler = make_reconciler(aws)
    outcomes = reconciler.compute(specs)
    reconciler.apply(outcomes)
    assert outcomes[0].diff is not None and outcomes[0].diff.phase is Phase.BLOCKED
    assert "someone-else" in outcomes[0].diff.message
    assert dict(aws.writes()) == {}


@pytest.mark.parametrize("tag", ["v9.9"])
def test_missing_tag_is_one_clear_line(sandbox, tmp_path: Path, tag: str) -> None:
    done = run_cli("diff", str(sandbox_copy(tmp_path, tag=tag)), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert tag in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("find", "replace", "field", "at"),
    [
        (
            "intervalSeconds: 30",
            "intervalSeconds: 3",
            "spec.targetGroup.healthCheck.intervalSeconds",
            "intervalSeconds: 3",
        ),
        ("minSize: 2", "minSize: 9", "spec.autoScalingGroup.maxSize", "maxSize: 4"),
        ("tag: v1.1", "tag: 'v1;rm -rf /'", "spec.image.tag", "tag: 'v1;rm -rf /'"),
    ],
)
def test_invalid_file_is_exit_1_with_file_line_field(
    tmp_path: Path, find: str, replace: str, field: str, at: str
) -> None:
    path = sandbox_copy(tmp_path)
    text = path.read_text()
    assert find in text
    path.write_text(text.replace(find, replace))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if at in t)
    for command in ("validate", "diff"):
        done = run_cli(command, str(path), endpoint="http://127.0.0.1:9")
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert f"{path}:{line}: error: {field}:" in done.stderr, done.stderr
