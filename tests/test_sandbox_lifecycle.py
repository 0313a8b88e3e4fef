"""The sandbox's instance lifecycle as AWS runs it, through real boto3 on a frozen clock.

Sources (tags of shared/aws-facts.md): 1.13 and UG-overview / UG-IMP (health-check replacement
runs during an instance refresh, and launches use the refresh's desired configuration: rows A5,
A6), 1.5 (the refresh's own failing new instances: the one-hour retry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded, TargetHealth, TargetHealthModel, TargetView
from reconciler.sandbox.health import FAILING
from tests.sandbox_calls import refresh
from tests.test_rollouts import instances, pinned, point_group, start, version_with


@dataclass
class FailingSome:
    """The sandbox's own health checks, except that the chosen targets fail from now on."""

    inner: TargetHealthModel
    failing: set[str] = field(default_factory=set)

    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        if target.target_id in self.failing:
            return FAILING
        return self.inner.health(target, now)


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    sandbox.clock.speed = 0
    return sandbox


def members(aws: Aws) -> dict[str, dict[str, Any]]:
    return {i["InstanceId"]: i for i in instances(aws)}


def test_an_old_instance_failing_during_a_refresh_is_healed_from_the_desired_version(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A5: AWS replaces unhealthy instances during a refresh (1.13), from the desired
    configuration (A6), and the refresh counts that replacement: it stays InProgress until the
    healed instance is warmed up and healthy, then succeeds without replacing it again."""
    model = FailingSome(still.runtime.health)
    still.runtime.health = model
    point_group(aws, seeded, 1)
    seed = set(members(aws))
    version = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, version, CheckpointDelay=3600)
    still.clock.advance(400)  # first batch replaced (360 s), paused at the 50% checkpoint
    assert refresh(aws)["PercentageComplete"] == 50
    (old,) = seed & set(members(aws))
    model.failing.add(old)
    still.clock.advance(30)
    now = members(aws)
    assert old not in now  # healed during the refresh's checkpoint pause
    (healed,) = set(now) - seed - {i for i in now if now[i]["LifecycleState"] == "InService"}
    assert now[healed]["LaunchTemplate"]["Version"] == str(version)
    assert refresh(aws)["Status"] == "InProgress"  # not done while the healed one is Pending
    still.clock.advance(200)
    assert refresh(aws)["Status"] == "InProgress"  # warming up (300 s from InService)
    still.clock.advance(200)
    done = refresh(aws)
    assert done["Status"] == "Successful" and done["PercentageComplete"] == 100
    assert healed in members(aws) and len(members(aws)) == 2


def test_a_replaced_instance_failing_later_holds_the_refresh_until_its_replacement_is_up(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A5: a new instance the refresh already counted, healed later, is waited for: the refresh
    must not end Successful while the replacement is Pending."""
    model = FailingSome(still.runtime.health)
    still.runtime.health = model
    point_group(aws, seeded, 1)
    seed = set(members(aws))
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.1")), CheckpointDelay=60)
    still.clock.advance(400)
    (first,) = set(members(aws)) - seed
    still.clock.advance(320)  # 720 s: the second batch's instance is warming up
    assert first in members(aws)  # the world has moved to 720 s before the failure starts
    model.failing.add(first)
    still.clock.advance(10)
    assert first not in members(aws)
    assert refresh(aws)["Status"] == "InProgress"
    still.clock.advance(170)  # 900 s: the second batch is done; the healed one is warming up
    assert refresh(aws)["PercentageComplete"] == 100
    assert refresh(aws)["Status"] == "InProgress"
    still.clock.advance(300)
    assert refresh(aws)["Status"] == "Successful"
    assert all(i["LifecycleState"] == "InService" for i in instances(aws))
