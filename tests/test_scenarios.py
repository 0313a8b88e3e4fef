"""The reconciler's rules, end to end, against the sandbox with its clock in the test's hands.

Each test drives the real pipeline (``Reconciler`` with a real ``Aws`` over HTTP) tick by tick,
moving sandbox time between ticks the way a daemon's interval would. Refreshes take their
modeled time (about 13 minutes for the seed), so a checkpoint delay of 10 s keeps ticks few.
The CLI's own scenarios (``diff``, ``apply --wait``, ``retry``) are in ``test_commands``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_FAILED_FINGERPRINT, ServiceSpec
from reconciler.model.markers import parse_failed_marker
from reconciler.pipeline import status
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.sandbox import Sandbox, Seeded
from tests.test_e2e_core import sandbox_copy

GROUP = "feedback-asg"
TICK = 60  # sandbox seconds between two reconcile passes
FAST = "checkpointDelay: 10"


def desired_file(tmp_path: Path, tag: str, *, extra: str = "") -> Path:
    """desired/ for the sandbox at ``tag``, each tag in its own directory (like a new commit)."""
    home = tmp_path / tag.replace(".", "_")
    if (home / "desired" / "desired.yaml").exists():
        return home / "desired" / "desired.yaml"
    path = sandbox_copy(home, tag=tag, extra=extra)
    path.write_text(path.read_text().replace("checkpointDelay: 60", FAST))
    return path


@dataclass
class World:
    """The sandbox, one reconciler that lives across ticks (like the daemon), and the clock."""

    sandbox: Sandbox
    aws: Aws
    tmp_path: Path
    reconciler: Reconciler = field(init=False)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (refresh id, status) of the newest

    def __post_init__(self) -> None:
        self.sandbox.clock.speed = 0
        self.reconciler = Reconciler(aws=self.aws, resolver=ImageResolver(self.aws))

    def specs(self, tag: str) -> Sequence[ServiceSpec]:
        return desired.load([desired_file(self.tmp_path, tag)]).services

    def tick(self, specs: Sequence[ServiceSpec]) -> ServiceOutcome:
        (outcome,) = self.reconciler.compute(specs)
        assert outcome.error is None, outcome.error
        self.reconciler.apply([outcome])
        assert outcome.error is None, outcome.error
        newest = outcome.observed.refreshes[:1] if outcome.observed else ()
        for refresh in newest:
            seen = (refresh.refresh_id, refresh.status.value)
            if not self.seen or self.seen[-1] != seen:
                self.seen.append(seen)
        return outcome

    def endings(self) -> dict[str, str]:
        """Each refresh observed, oldest first, with the last status seen."""
        return dict(self.seen)

    def statuses(self) -> list[str]:
        """The refresh statuses observed, in order (one entry per change)."""
        return [state for _, state in self.seen]

    def until(
        self,
        specs: Sequence[ServiceSpec],
        done: Callable[[status.ServiceStatus], bool],
        *,
        limit: int = 40,
    ) -> status.ServiceStatus:
        """Tick, then let a minute pass, until ``done`` holds; fails after ``limit`` ticks."""
        for _ in range(limit):
            current = status.service_status(self.tick(specs))
            if done(current):
                return current
            self.sandbox.clock.advance(TICK)
        raise AssertionError(f"not done after {limit} ticks: {current}")

    def converge(self, tag: str) -> status.ServiceStatus:
        return self.until(self.specs(tag), ready)

    def group(self) -> dict[str, Any]:
        found: dict[str, Any] = self.aws.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]
        return found


def ready(current: status.ServiceStatus) -> bool:
    return current.condition("Ready").status


def degraded(current: status.ServiceStatus) -> bool:
    return current.condition("Degraded").status


@pytest.fixture
def world(sandbox: Sandbox, aws: Aws, tmp_path: Path) -> World:
    return World(sandbox, aws, tmp_path)


def test_deploy_v1_0_then_v1_1(world: World) -> None:
    first = world.converge("v1.0")
    assert first.applied is not None and first.applied.image is not None
    assert first.applied.image.endswith(world.sandbox.seeded.image_digests["v1.0"])  # type: ignore[union-attr]
    second = world.converge("v1.1")
    # Each rollout is held at its 50% checkpoint until the analysis passes, cancelled there and
    # finished by a SkipMatching refresh (pipeline/diff/checkpoint.py).
    one = ["InProgress", "Cancelled", "InProgress", "Successful"]
    assert world.statuses() == one + one
    assert second.condition("Ready").reason == "InSync"

    outcome = world.tick(world.specs("v1.1"))
    assert outcome.observed is not None
    revisions = status.history(outcome.observed)
    assert [r.outcome for r in revisions] == ["Successful", "Successful"]
    digests = world.sandbox.seeded.image_digests  # type: ignore[union-attr]
    assert [r.image.split("@")[1] for r in revisions if r.image] == [
        digests["v1.1"],
        digests["v1.0"],
    ]
    assert world.group()["LaunchTemplate"]["Version"] == str(revisions[0].launch_template_version)


def test_broken_v2_rolls_back_and_is_not_retried(world: World, aws: Aws) -> None:
    world.converge("v1.1")
    v2 = world.specs("v2.0")
    # The analysis fails it once its first instance is past the grace period (AWS alone would
    # retry for an hour first, 1.5), and the tick that finds it sends the rollback: the
    # refresh read in that tick was still InProgress.
    failed = world.until(v2, degraded, limit=80)
    assert world.statuses()[-1] == "InProgress"
    assert "analysis failed" in failed.condition("Degraded").message
    degraded_now = failed.condition("Degraded")
    assert degraded_now.reason == "RolloutFailed"
    assert "rolling back" in degraded_now.message and "health checks" in degraded_now.message
    fingerprint = world.tick(v2).desired.fingerprint  # type: ignore[union-attr]
    tags = {t["Key"]: t["Value"] for t in world.group()["Tags"]}
    marker = parse_failed_marker(tags[TAG_FAILED_FINGERPRINT])
    assert marker.fingerprint == fingerprint
    assert marker.fails(world.tick(v2).desired)  # type: ignore[arg-type]

    world.until(v2, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    assert world.statuses()[-3:] == ["InProgress", "RollbackInProgress", "RollbackSuccessful"]
    aws.reset_counts()
    for _ in range(6):
        world.sandbox.clock.advance(TICK)
        current = status.service_status(world.tick(v2))
        assert current.condition("Degraded").reason == "RolloutFailed"
        assert current.last_failure and "health checks" in current.last_failure
    writes = aws.writes()
    assert writes["StartInstanceRefresh"] == 0 and writes["CreateLaunchTemplateVersion"] == 0
    # Rolled back: the group and its instances are on v1.1's version again, and healthy.
    group = world.group()
    versions = {i["LaunchTemplate"]["Version"] for i in group["Instances"]}
    assert versions == {group["LaunchTemplate"]["Version"]}


def test_revert_supersedes_the_broken_rollout(world: World, aws: Aws) -> None:
    world.converge("v1.1")
    v11_version = world.group()["LaunchTemplate"]["Version"]
    world.tick(world.specs("v2.0"))  # starts the v2.0 refresh
    world.sandbox.clock.advance(TICK)
    revert = world.specs("v1.1")
    aws.reset_counts()
    cancelling = world.tick(revert)
    assert cancelling.diff is not None and cancelling.diff.phase.value == "Superseding"
    assert aws.writes()["CancelInstanceRefresh"] == 1
    done = world.until(revert, ready)
    # The v2.0 refresh ends Cancelled (not failed: the revert came first); then v1.1's succeeds.
    assert list(world.endings().values())[-2:] == ["Cancelled", "Successful"]
    assert done.condition("Degraded").status is False
    assert aws.writes()["CreateLaunchTemplateVersion"] == 0
    group = world.group()
    assert group["LaunchTemplate"]["Version"] == v11_version
    assert {i["LaunchTemplate"]["Version"] for i in group["Instances"]} == {v11_version}


def test_drift_is_corrected_in_one_tick(world: World, aws: Aws, seeded: Seeded) -> None:
    world.converge("v1.1")
    aws.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=seeded.target_group_arn,
        HealthCheckIntervalSeconds=10,
    )
    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=7)
    world.sandbox.clock.advance(TICK)
    aws.reset_counts()
    outcome = world.tick(world.specs("v1.1"))
    assert outcome.diff is not None
    assert {c.field for c in outcome.diff.changes} == {"healthCheck.intervalSeconds", "maxSize"}
    assert aws.writes()["StartInstanceRefresh"] == 0
    target_group = aws.call(
        "elbv2", "describe_target_groups", TargetGroupArns=[seeded.target_group_arn]
    )["TargetGroups"][0]
    assert target_group["HealthCheckIntervalSeconds"] == 30
    assert world.group()["MaxSize"] == 4
    assert ready(status.service_status(world.tick(world.specs("v1.1"))))


def test_capacity_set_by_scaling_is_not_reverted(world: World, aws: Aws) -> None:
    world.converge("v1.1")  # desired.yaml declares scaling: capacity is the policy's
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3)
    aws.reset_counts()
    for _ in range(4):
        world.sandbox.clock.advance(TICK)
        world.tick(world.specs("v1.1"))
    assert world.group()["DesiredCapacity"] == 3
    assert aws.writes()["UpdateAutoScalingGroup"] == 0
    assert ready(status.service_status(world.tick(world.specs("v1.1"))))
