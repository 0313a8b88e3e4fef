"""The reconciler gets AWS right, end to end against the sandbox with real boto3 (issue 11,
items 4-7): refreshes rolled back or cancelled by hand are read from RollbackDetails (aws-facts
1.7, 1.14), a group pointed at ``$Latest`` or an older version is re-pinned without a refresh,
the failed-rollout memory lets a health check fix roll out again, and AutoRollback against an
SSM-parameter AMI (1.6) is reported instead of failing every tick."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.model import TAG_FAILED_FINGERPRINT, Phase, RefreshStatus, ServiceSpec
from reconciler.model.markers import failed_marker, parse_failed_marker
from reconciler.pipeline import status
from reconciler.pipeline.reconcile import ServiceOutcome
from reconciler.sandbox import Sandbox, Seeded
from tests.sandbox_calls import pin_group
from tests.test_e2e_core import run_cli, sandbox_copy
from tests.test_scenarios import FAST, GROUP, TICK, World, degraded

SSM_IMAGE = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def variant(world: World, name: str, tag: str, **replace: str) -> Path:
    """desired/ for the sandbox at ``tag`` with lines replaced: one commit, in its own place."""
    path = sandbox_copy(world.tmp_path / name, tag=tag)
    text = path.read_text().replace("checkpointDelay: 60", FAST)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def specs_of(path: Path) -> Sequence[ServiceSpec]:
    return desired.load([path]).services


def group_tags(world: World) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in world.group()["Tags"]}


def group_version(world: World) -> str:
    version: str = world.group()["LaunchTemplate"]["Version"]
    return version


def hand_version(aws: Aws, seeded: Seeded, source: str, **data: Any) -> int:
    """A launch template version made by someone else, from ``source``."""
    script = base64.b64encode(b"#!/bin/bash\necho by hand\n").decode()
    created = aws.call(
        "ec2",
        "create_launch_template_version",
        LaunchTemplateId=seeded.launch_template_id,
        SourceVersion=source,
        LaunchTemplateData={"UserData": script, **data},
    )
    number: int = created["LaunchTemplateVersion"]["VersionNumber"]
    return number


def newest(outcome: ServiceOutcome) -> Any:
    assert outcome.observed is not None and outcome.observed.refreshes
    return outcome.observed.refreshes[0]


def phase(outcome: ServiceOutcome) -> Phase:
    assert outcome.diff is not None
    return outcome.diff.phase


@pytest.fixture
def world(sandbox: Sandbox, aws: Aws, tmp_path: Path) -> World:
    return World(sandbox, aws, tmp_path)


# ------------------------------------------------------------------------------------------------
# 5. Refresh state read from RollbackDetails
# ------------------------------------------------------------------------------------------------


def test_a_refresh_started_and_rolled_back_by_hand_is_waited_on_then_in_sync(
    world: World, aws: Aws, seeded: Seeded
) -> None:
    """UG-rollback, [M RollbackInstanceRefresh]: the rollback keeps the refresh id, goes
    RollbackInProgress → RollbackSuccessful, and carries RollbackDetails (aws-facts 1.7, 1.14)."""
    world.converge("v1.1")
    pinned = group_version(world)
    other = hand_version(aws, seeded, pinned)
    aws.call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName=GROUP,
        DesiredConfiguration={
            "LaunchTemplate": {"LaunchTemplateId": seeded.launch_template_id, "Version": str(other)}
        },
        Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 60, "AutoRollback": True},
    )
    world.sandbox.clock.advance(TICK)
    aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    specs = world.specs("v1.1")
    aws.reset_counts()
    rolling = world.tick(specs)
    assert newest(rolling).status is RefreshStatus.ROLLBACK_IN_PROGRESS
    assert newest(rolling).rollback is not None
    assert phase(rolling) is Phase.PROGRESSING  # returning to what we want: not cancelled
    done = world.until(specs, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    assert done.condition("Ready").status
    assert aws.writes()["StartInstanceRefresh"] == 0
    assert aws.writes()["CancelInstanceRefresh"] == 0
    assert group_version(world) == pinned


def test_our_refresh_rolled_back_by_hand_is_a_failure_and_not_retried(
    world: World, aws: Aws
) -> None:
    world.converge("v1.1")
    v10 = world.specs("v1.0")
    world.tick(v10)  # starts the v1.0 refresh
    world.sandbox.clock.advance(TICK)
    aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    outcome = world.tick(v10)
    assert phase(outcome) is Phase.FAILED
    refresh = newest(outcome)
    assert refresh.rollback is not None
    assert outcome.desired is not None
    assert group_tags(world)[TAG_FAILED_FINGERPRINT] == failed_marker(
        outcome.desired, refresh_id=refresh.refresh_id
    )
    world.until(v10, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    aws.reset_counts()
    for _ in range(3):
        world.sandbox.clock.advance(TICK)
        assert phase(world.tick(v10)) is Phase.FAILED
    assert aws.writes()["StartInstanceRefresh"] == 0


def test_our_refresh_cancelled_by_hand_is_not_a_failure(world: World, aws: Aws) -> None:
    """[M CancelInstanceRefresh]: a cancel rolls nothing back; no RollbackDetails, no failure."""
    world.converge("v1.1")
    v10 = world.specs("v1.0")
    world.tick(v10)
    world.sandbox.clock.advance(TICK)
    aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)
    world.until(v10, lambda _: world.statuses()[-1] == "Cancelled", limit=5)
    cancelled = [r for r in world.tick(v10).observed.refreshes if r.status.value == "Cancelled"]  # type: ignore[union-attr]
    assert cancelled and cancelled[0].rollback is None
    final = world.converge("v1.0")
    assert final.condition("Degraded").status is False
    assert TAG_FAILED_FINGERPRINT not in group_tags(world)


# ------------------------------------------------------------------------------------------------
# 6. Version drift repaired by re-pinning
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pointed", ["$Latest", "older"])
def test_a_group_pointed_elsewhere_is_repinned_without_a_refresh(
    world: World, aws: Aws, seeded: Seeded, pointed: str
) -> None:
    world.converge("v1.1")
    pinned = group_version(world)
    newer = hand_version(aws, seeded, pinned)  # $Latest now launches something else
    ref = "$Latest" if pointed == "$Latest" else "1"
    pin_group(aws, seeded, ref)
    assert group_version(world) == ref and str(newer) != pinned
    world.sandbox.clock.advance(TICK)
    aws.reset_counts()
    outcome = world.tick(world.specs("v1.1"))
    assert outcome.diff is not None
    assert [(c.field, c.old, c.new) for c in outcome.diff.changes] == [
        ("launchTemplate.version", ref, pinned)
    ]
    writes = aws.writes()
    assert writes["UpdateAutoScalingGroup"] == 1
    assert writes["StartInstanceRefresh"] == 0 and writes["CreateLaunchTemplateVersion"] == 0
    assert group_version(world) == pinned
    world.sandbox.clock.advance(TICK)
    assert phase(world.tick(world.specs("v1.1"))) is Phase.IN_SYNC


# ------------------------------------------------------------------------------------------------
# 7. The failed-rollout memory covers the health check
# ------------------------------------------------------------------------------------------------


def test_a_health_check_commit_after_a_failed_rollout_rolls_out_again_without_retry(
    world: World, aws: Aws
) -> None:
    world.converge("v1.1")
    broken = specs_of(variant(world, "broken", "v2.0"))
    world.until(broken, degraded, limit=80)  # AWS retries failing new instances for an hour first
    world.until(broken, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    first = parse_failed_marker(group_tags(world)[TAG_FAILED_FINGERPRINT])
    aws.reset_counts()
    world.sandbox.clock.advance(TICK)
    assert phase(world.tick(broken)) is Phase.FAILED  # the identical spec: still not retried
    assert aws.writes()["StartInstanceRefresh"] == 0

    # A health check change that v1.1 still passes: a path the app does not serve would fail the
    # rollback's instances too, and the sandbox's health checks follow the target group's settings.
    checks = {"intervalSeconds: 30": "intervalSeconds: 15"}
    fixed = specs_of(variant(world, "fixed", "v2.0", **checks))
    world.sandbox.clock.advance(TICK)
    again = world.tick(fixed)
    assert phase(again) is Phase.OUT_OF_SYNC
    writes = aws.writes()
    assert writes["StartInstanceRefresh"] == 1  # no `reconciler retry`
    assert writes["CreateLaunchTemplateVersion"] == 0  # the version is reused: not multiplied
    assert writes["ModifyTargetGroup"] == 1

    # v2.0 is broken whatever the path: the new failure is recorded, under the new key.
    world.until(fixed, lambda _: world.statuses()[-1] == "RollbackSuccessful", limit=100)
    second = parse_failed_marker(group_tags(world)[TAG_FAILED_FINGERPRINT])
    assert second.fingerprint == first.fingerprint
    assert second.key != first.key and second.refresh_id != first.refresh_id
    aws.reset_counts()
    for _ in range(3):
        world.sandbox.clock.advance(TICK)
        assert phase(world.tick(fixed)) is Phase.FAILED
    assert aws.writes()["StartInstanceRefresh"] == 0


# ------------------------------------------------------------------------------------------------
# 4. AutoRollback with an SSM-parameter AMI
# ------------------------------------------------------------------------------------------------


def test_auto_rollback_with_an_ssm_image_is_blocked_with_what_to_do(
    world: World, aws: Aws, seeded: Seeded
) -> None:
    """aws-facts 1.6: no rollback when the group's launch template takes its ImageId from an
    SSM parameter; the sandbox refuses StartInstanceRefresh with AutoRollback for it."""
    world.converge("v1.1")
    on_ssm = hand_version(aws, seeded, group_version(world), ImageId=SSM_IMAGE)
    pin_group(aws, seeded, str(on_ssm))
    next_release = variant(world, "next", "v1.0")
    aws.reset_counts()
    outcome = world.tick(specs_of(next_release))
    assert phase(outcome) is Phase.BLOCKED
    assert outcome.diff is not None
    assert "AutoRollback can't be used with an SSM-parameter AMI" in outcome.diff.message
    assert not aws.writes()  # nothing is sent for a rollout AWS would refuse

    shown = run_cli("diff", str(next_release), endpoint=world.sandbox.endpoint)
    assert "AutoRollback can't be used with an SSM-parameter AMI" in shown.stdout, shown.stderr
    assert "rollout.autoRollback: false" in shown.stdout
    assert "Traceback" not in shown.stderr

    without = variant(world, "no-rollback", "v1.0", **{"autoRollback: true": "autoRollback: false"})
    aws.reset_counts()
    started = world.tick(specs_of(without))
    assert phase(started) is Phase.OUT_OF_SYNC
    assert aws.writes()["StartInstanceRefresh"] == 1  # accepted by AWS without AutoRollback
    assert status.service_status(started).condition("Degraded").status is False
