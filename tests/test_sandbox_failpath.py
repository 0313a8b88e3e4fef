"""The sandbox on a rollout's failure path behaves like AWS: real boto3 calls, frozen clock.

Sources are tags of shared/aws-facts.md: UG-overview ("One-hour timeout" in Limitations, core
concepts), UG-rollback (zh_cn edition: AutoRollback keeps trying for an hour first), section 1.5
(the retry and AWS's own StatusReason wording) and the section 8 rows (A1, ...) that these tests
close.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded
from tests.test_rollouts import (
    instances,
    pinned,
    point_group,
    refresh,
    start,
    version_with,
)

HOUR = 3600
# The seed's settings: the first new v2.0 instance is judged Unhealthy once the grace period
# (300 s) is over, so the hour of retries starts then.
FIRST_FAILURE = 300


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    """The sandbox with its clock stopped: time moves only when the test advances it."""
    sandbox.clock.speed = 0
    return sandbox


def broken_refresh(aws: Aws, seeded: Seeded, **prefs: Any) -> None:
    point_group(aws, seeded, 1)
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v2.0")), **prefs)
    refresh(aws)


def ids(aws: Aws) -> set[str]:
    return {i["InstanceId"] for i in instances(aws)}


def test_failed_new_instances_are_replaced_and_the_refresh_keeps_trying(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A1, UG-overview core concepts: "If new instances fail their health checks, Auto Scaling
    terminates and replaces them"; the refresh stays InProgress meanwhile."""
    broken_refresh(aws, seeded)
    before = ids(aws)
    seen: set[str] = set()
    for _ in range(6):
        still.clock.advance(600)
        now = refresh(aws)
        assert now["Status"] == "InProgress"
        assert now["StatusReason"].startswith("Waiting for remaining instances to be available.")
        seen |= ids(aws) - before
        assert len(instances(aws)) == 2
    assert len(seen) >= 5  # one new instance every grace period, each from the desired version
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws) if i["InstanceId"] in seen} == {
        "2"
    }


def test_after_an_hour_of_failures_auto_rollback_rolls_back(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """UG-rollback (zh_cn): with AutoRollback the refresh keeps trying for an hour, then fails
    and rolls back; the rollback is visible in RollbackDetails."""
    broken_refresh(aws, seeded)
    still.clock.advance(FIRST_FAILURE + HOUR - 30)
    assert refresh(aws)["Status"] == "InProgress"
    still.clock.advance(60)
    rolling = refresh(aws)
    assert rolling["Status"] == "RollbackInProgress"
    assert "for one hour" in rolling["StatusReason"] and "health checks" in rolling["StatusReason"]
    assert "RollbackDetails" in rolling
    still.clock.advance(900)
    done = refresh(aws)
    assert done["Status"] == "RollbackSuccessful"
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws)} == {"1"}


def test_after_an_hour_of_failures_without_auto_rollback_it_fails(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """UG-overview Limitations: "If the problem persists after an hour, the refresh fails"."""
    broken_refresh(aws, seeded, AutoRollback=False)
    still.clock.advance(FIRST_FAILURE + HOUR - 30)
    assert refresh(aws)["Status"] == "InProgress"
    still.clock.advance(60)
    failed = refresh(aws)
    assert failed["Status"] == "Failed"
    assert "for one hour" in failed["StatusReason"]
    assert "EndTime" in failed
