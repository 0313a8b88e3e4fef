"""``spec.scaling`` with blue/green against the sandbox: the policy on both groups, enabled only
on the side that owns capacity, as the daemon moves traffic and flips back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.model import scaling_policy_name
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import GREEN_GROUP, GROUP
from tests.analysis_harness import SERVICE
from tests.bluegreen_harness import Story

SCALING = {"  blueGreen:\n": "  scaling:\n    targetCpuUtilization: 60\n  blueGreen:\n"}
GREEN_LIVE = (0, 100)


def policy_of(story: Story, group: str) -> tuple[float, bool, bool] | None:
    """(target, Enabled, DisableScaleIn) of the reconciler's policy on ``group``, from AWS."""
    found: list[dict[str, Any]] = story.watcher.call(
        "autoscaling",
        "describe_policies",
        AutoScalingGroupName=group,
        PolicyNames=[scaling_policy_name(SERVICE)],
    )["ScalingPolicies"]
    if not found:
        return None
    (policy,) = found
    config = policy["TargetTrackingConfiguration"]
    return config["TargetValue"], policy["Enabled"], config.get("DisableScaleIn", False)


def test_only_the_side_that_owns_capacity_scales(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path, replace=SCALING)
    story.until(lambda s: s.weights == (90, 10))
    # Traffic is split: blue owns capacity and scales out only; green follows blue's size.
    assert policy_of(story, GROUP) == (60.0, True, True)
    assert policy_of(story, GREEN_GROUP) == (60.0, False, True)
    story.until(lambda s: s.ready() and s.weights == GREEN_LIVE)
    # Green took all traffic: its policy owns capacity; blue's is kept, disabled, while blue
    # stays warm at green's size for a rollback.
    assert policy_of(story, GREEN_GROUP) == (60.0, True, False)
    assert policy_of(story, GROUP) == (60.0, False, False)

    story.deploy("v2.1")
    failed = story.until(lambda s: s.degraded())
    assert failed.weights == GREEN_LIVE
    # The canary on blue failed and was flipped back: green still owns capacity.
    seen = story.tick()
    assert seen.weights == GREEN_LIVE
    assert policy_of(story, GREEN_GROUP) == (60.0, True, False)
    assert policy_of(story, GROUP) == (60.0, False, False)


def test_removing_spec_scaling_deletes_both_sides_policies(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path, replace=SCALING)
    story.until(lambda s: s.ready() and s.weights == GREEN_LIVE)
    assert policy_of(story, GROUP) is not None and policy_of(story, GREEN_GROUP) is not None
    story.path.write_text(
        story.path.read_text().replace("  scaling:\n    targetCpuUtilization: 60\n", "")
    )
    story.until(lambda s: s.ready() and policy_of(story, GROUP) is None)
    assert policy_of(story, GREEN_GROUP) is None
