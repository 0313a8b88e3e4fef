"""The Core loop end to end: validate, diff, apply and diff again, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import desired, errors
from reconciler.aws import Aws, is_read
from reconciler.cli.demo_repo import for_sandbox
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_OWNER, Phase, ServiceOutcome
from reconciler.pipeline.reconcile import Reconciler

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
SANDBOX_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/simple-api"


def sandbox_copy(tmp_path: Path, *, tag: str = "v1.1", extra: str = "") -> Path:
    """desired/ copied and edited for the sandbox, as the README tells a new user to do."""
    target = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", target)
    text = (target / "desired.yaml").read_text()
    text = for_sandbox(text, SANDBOX_IMAGE)
    text = text.replace("tag: latest", f"tag: {tag}")
    (target / "desired.yaml").write_text(text + extra)
    return target / "desired.yaml"


def run_cli(
    *args: str, endpoint: str, drop: tuple[str, ...] = (), extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess against ``endpoint``; ``drop`` names variables to leave out."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **(extra or {}),
    }
    for name in drop:
        env.pop(name, None)
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
    # The refresh is held at its 50% checkpoint until an apply finds the analysis passing
    # (pipeline/diff/checkpoint.py): one apply takes it past, the next starts the rest.
    for _ in range(2):
        again = run_cli("apply", "--yes", str(path), endpoint=sandbox.endpoint)
        assert again.returncode == 0, again.stdout + again.stderr
    sandbox.clock.advance(900)

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
    # Past the 50% checkpoint (held for the analysis): cancel, continue, then the rest.
    for _ in range(3):
        settle = make_reconciler(aws)
        settle.apply(settle.compute(specs))
        sandbox.clock.advance(900)

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
        (
            "autoRollback: true",
            "autoRollback: true\n    bakeTime: 172801",
            "spec.rollout.bakeTime",
            "bakeTime",
        ),
        (
            "autoRollback: true",
            "autoRollback: true\n    scaleInProtectedInstances: Replace",
            "spec.rollout.scaleInProtectedInstances",
            "scaleInProtectedInstances",
        ),
        (
            "autoRollback: true",
            "autoRollback: true\n    alarms: [" + ", ".join(f"a{n}" for n in range(11)) + "]",
            "spec.rollout.alarms",
            "alarms",
        ),
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


# ------------------------------------------------------------------------------------------------
# Order of writes against AWS's rules (issue 11): cancel before the pin, tag before the write
# ------------------------------------------------------------------------------------------------


def record_writes(aws: Aws) -> list[str]:
    writes: list[str] = []
    aws.on_call(
        lambda _service, operation: None if is_read(operation) else writes.append(operation)
    )
    return writes


def tick(aws: Aws, specs: object) -> ServiceOutcome:
    reconciler = make_reconciler(aws)
    (outcome,) = reconciler.compute(specs)  # type: ignore[arg-type]
    reconciler.apply([outcome])
    assert outcome.error is None, outcome.error
    return outcome


def start_foreign_refresh(aws: Aws, seeded) -> str:
    """Someone else's refresh with a DesiredConfiguration, long-running (a 1 h checkpoint)."""
    response = aws.call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName=seeded.group_name,
        DesiredConfiguration={
            "LaunchTemplate": {"LaunchTemplateId": seeded.launch_template_id, "Version": "1"}
        },
        Preferences={
            "MinHealthyPercentage": 50,
            "InstanceWarmup": 60,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": 3600,
        },
    )
    return str(response["InstanceRefreshId"])


def group_of(aws: Aws, name: str) -> dict[str, object]:
    groups = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
    group: dict[str, object] = groups["AutoScalingGroups"][0]
    return group


def test_foreign_refresh_on_default_is_cancelled_before_the_group_is_pinned(
    sandbox, seeded, aws: Aws, tmp_path: Path
) -> None:
    # R1 (aws-facts 9): the seed's group is on $Default; a foreign refresh runs.
    sandbox.clock.speed = 0
    foreign = start_foreign_refresh(aws, seeded)
    # The sandbox refuses the pin as AWS does (aws-facts 1.12), so the order below matters.
    with pytest.raises(errors.AwsApiError) as refused:
        aws.call(
            "autoscaling",
            "update_auto_scaling_group",
            AutoScalingGroupName=seeded.group_name,
            LaunchTemplate={"LaunchTemplateId": seeded.launch_template_id, "Version": "1"},
        )
    assert refused.value.code == "ValidationError"
    specs = desired.load([sandbox_copy(tmp_path)]).services
    writes = record_writes(aws)

    first = tick(aws, specs)
    assert first.diff is not None and first.diff.phase is Phase.SUPERSEDING
    assert "CancelInstanceRefresh" in writes
    assert "UpdateAutoScalingGroup" not in writes
    assert group_of(aws, seeded.group_name)["LaunchTemplate"]["Version"] == "$Default"  # type: ignore[index]

    # Tick on, a sandbox minute at a time: the pin goes out only once no refresh is active.
    pinned_while_active = []
    for _ in range(40):
        sandbox.clock.advance(60)
        before = len(writes)
        outcome = tick(aws, specs)
        assert outcome.observed is not None
        active = [r for r in outcome.observed.refreshes if r.status.active]
        if "UpdateAutoScalingGroup" in writes[before:] and active:
            pinned_while_active.append(active[0].refresh_id)
        if outcome.diff is not None and outcome.diff.phase is Phase.IN_SYNC:
            break
    assert pinned_while_active == []
    assert outcome.diff is not None and outcome.diff.phase is Phase.IN_SYNC, outcome.diff
    # The rollout, then its continuation past the 50% checkpoint.
    assert writes.count("StartInstanceRefresh") == 2
    assert writes.index("UpdateAutoScalingGroup") < writes.index("StartInstanceRefresh")
    version = group_of(aws, seeded.group_name)["LaunchTemplate"]["Version"]  # type: ignore[index]
    assert str(version).isdigit()
    refreshes = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=seeded.group_name
    )["InstanceRefreshes"]
    assert {r["InstanceRefreshId"]: r["Status"] for r in refreshes}[foreign] == "Cancelled"


def test_adoption_tags_go_out_before_any_other_write(sandbox, aws: Aws, tmp_path: Path) -> None:
    # The seed's resources are untagged; the file also changes the health check and a size, so
    # the first tick writes to all three resources. Each must be tagged as ours first, since the
    # daemon's IAM policy allows the other writes only on resources tagged so.
    path = sandbox_copy(tmp_path)
    text = path.read_text().replace("intervalSeconds: 30", "intervalSeconds: 20")
    path.write_text(text.replace("maxSize: 4", "maxSize: 5"))
    writes = record_writes(aws)
    tick(aws, desired.load([path]).services)
    tags = ("AddTags", "CreateTags", "CreateOrUpdateTags")
    first_other = min(i for i, op in enumerate(writes) if op not in tags)
    assert sorted(writes[:first_other]) == sorted(tags), writes
    assert {"ModifyTargetGroup", "CreateLaunchTemplateVersion", "UpdateAutoScalingGroup"} <= set(
        writes[first_other:]
    ), writes


def test_a_bad_rollout_field_changes_nothing_in_aws(sandbox, aws: Aws, tmp_path: Path) -> None:
    path = sandbox_copy(tmp_path)
    text = path.read_text().replace("autoRollback: true", "autoRollback: true\n    bakeTime: -5")
    path.write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "bakeTime" in t)
    done = run_cli("apply", "--yes", str(path), endpoint=sandbox.endpoint)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{path}:{line}: error: spec.rollout.bakeTime:" in done.stderr
    assert "Traceback" not in done.stderr
    group = group_of(aws, "feedback-asg")
    assert group["LaunchTemplate"]["Version"] == "$Default"  # type: ignore[index]
    assert TAG_OWNER not in {t["Key"] for t in group["Tags"]}  # type: ignore[attr-defined]
    refreshes = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )["InstanceRefreshes"]
    assert refreshes == []
