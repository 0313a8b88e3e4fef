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
from tests.sandbox_calls import pin_group, pinned, refresh, version_with
from tests.test_rollouts import instances, start

HOUR = 3600
# The seed's settings: the first new v2.0 instance is judged Unhealthy once the grace period
# (300 s from InService, which is 60 s after launch) is over; the hour of retries starts then.
FIRST_FAILURE = 360


def broken_refresh(aws: Aws, seeded: Seeded, **prefs: Any) -> None:
    pin_group(aws, seeded, 1)
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v2.0")), **prefs)
    refresh(aws)


def ids(aws: Aws) -> set[str]:
    return {i["InstanceId"] for i in instances(aws)}


def test_failed_new_instances_are_replaced_and_the_refresh_keeps_trying(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A1, UG-overview core concepts: "If new instances fail their health checks, Auto Scaling
    terminates and replaces them"; the refresh stays InProgress meanwhile."""
    broken_refresh(aws, seeded)
    before = ids(aws)
    seen: set[str] = set()
    for _ in range(6):
        frozen.clock.advance(600)
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
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """UG-rollback (zh_cn): with AutoRollback the refresh keeps trying for an hour, then fails
    and rolls back; the rollback is visible in RollbackDetails."""
    broken_refresh(aws, seeded)
    frozen.clock.advance(FIRST_FAILURE + HOUR - 30)
    assert refresh(aws)["Status"] == "InProgress"
    frozen.clock.advance(60)
    rolling = refresh(aws)
    assert rolling["Status"] == "RollbackInProgress"
    assert "for one hour" in rolling["StatusReason"] and "health checks" in rolling["StatusReason"]
    assert "RollbackDetails" in rolling
    frozen.clock.advance(900)
    done = refresh(aws)
    assert done["Status"] == "RollbackSuccessful"
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws)} == {"1"}


def test_after_an_hour_of_failures_without_auto_rollback_it_fails(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """UG-overview Limitations: "If the problem persists after an hour, the refresh fails"."""
    broken_refresh(aws, seeded, AutoRollback=False)
    frozen.clock.advance(FIRST_FAILURE + HOUR - 30)
    assert refresh(aws)["Status"] == "InProgress"
    frozen.clock.advance(60)
    failed = refresh(aws)
    assert failed["Status"] == "Failed"
    assert "for one hour" in failed["StatusReason"]
    assert "EndTime" in failed


# -- item 2: target health follows the target group's health check (C1, C2) ---------------------


def modify_check(aws: Aws, seeded: Seeded, **settings: Any) -> None:
    aws.call("elbv2", "modify_target_group", TargetGroupArn=seeded.target_group_arn, **settings)


def new_target_health(frozen: Sandbox, aws: Aws, seeded: Seeded, after: float) -> dict[str, Any]:
    """Scale out by one and return that instance's TargetHealth ``after`` s from its launch."""
    before = ids(aws)
    aws.call(
        "autoscaling",
        "set_desired_capacity",
        AutoScalingGroupName="feedback-asg",
        DesiredCapacity=3,
    )
    (new,) = ids(aws) - before
    frozen.clock.advance(after)
    found = aws.call(
        "elbv2",
        "describe_target_health",
        TargetGroupArn=seeded.target_group_arn,
        Targets=[{"Id": new}],
    )["TargetHealthDescriptions"]
    health: dict[str, Any] = found[0]["TargetHealth"]
    return health


# Registered at InService (60 s), booted 90 s later, checks every 30 s: healthy at 180 s.
SETTLED = 400


def test_seed_health_check_passes_once_booted(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """The seed's GET /actuator/health on 8080, matcher 200: healthy, no reason (3.1)."""
    early = new_target_health(frozen, aws, seeded, after=70)
    assert early["State"] == "initial" and early["Reason"] == "Elb.InitialHealthChecking"
    frozen.clock.advance(SETTLED)
    health = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)[
        "TargetHealthDescriptions"
    ]
    assert {d["TargetHealth"]["State"] for d in health} == {"healthy"}


@pytest.mark.parametrize(
    ("settings", "reason", "description"),
    [
        pytest.param(
            {"HealthCheckPath": "/health"},
            "Target.ResponseCodeMismatch",
            "Health checks failed with these codes: [404]",
            id="wrong path: Spring answers 404",
        ),
        pytest.param(
            {"Matcher": {"HttpCode": "202"}},
            "Target.ResponseCodeMismatch",
            "Health checks failed with these codes: [200]",
            id="matcher that excludes 200",
        ),
        pytest.param(
            {"HealthCheckPort": "9090"},
            "Target.Timeout",
            "Request timed out",
            id="port the security group drops",
        ),
        pytest.param(
            {"HealthCheckPort": "9100"},
            "Target.FailedHealthChecks",
            "Health checks failed",
            id="open port where nothing listens",
        ),
        pytest.param(
            {"HealthCheckProtocol": "HTTPS"},
            "Target.FailedHealthChecks",
            "Health checks failed",
            id="HTTPS against the app's plain HTTP",
        ),
    ],
)
def test_a_health_check_that_does_not_fit_makes_the_target_unhealthy(
    frozen: Sandbox,
    aws: Aws,
    seeded: Seeded,
    settings: dict[str, Any],
    reason: str,
    description: str,
) -> None:
    """C1: ELB checks the configured path, port, protocol and matcher; the reason codes are
    those of [M TargetHealth.Reason] and ELB-hc (aws-facts 3.1)."""
    modify_check(aws, seeded, **settings)
    # Booted at 150 s; at 300 s the failures carry the steady reason, before healing (360 s).
    health = new_target_health(frozen, aws, seeded, after=300)
    assert (health["State"], health["Reason"], health["Description"]) == (
        "unhealthy",
        reason,
        description,
    )


@pytest.mark.parametrize(
    "matcher", ["200", "200,202", "200-299", "404,200", "200-499"], ids=lambda m: m
)
def test_matchers_that_include_200_pass(
    frozen: Sandbox, aws: Aws, seeded: Seeded, matcher: str
) -> None:
    """[M Matcher.HttpCode]: single codes, lists and ranges."""
    modify_check(aws, seeded, Matcher={"HttpCode": matcher})
    assert new_target_health(frozen, aws, seeded, after=SETTLED)["State"] == "healthy"


def test_a_range_matcher_can_accept_a_wrong_path(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """As on AWS, a 404 inside the matcher's range passes: ELB compares codes, not paths."""
    modify_check(aws, seeded, HealthCheckPath="/nope", Matcher={"HttpCode": "200-499"})
    assert new_target_health(frozen, aws, seeded, after=SETTLED)["State"] == "healthy"


def test_new_settings_do_not_rewrite_a_healthy_target_s_past(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """ELB-hc: UnhealthyThresholdCount consecutive failures take a target out of service; a
    healthy target stays healthy until then, even when the new settings fail at once."""
    modify_check(aws, seeded, HealthCheckPath="/health")
    frozen.clock.advance(35)  # one failed check (interval 30, threshold 2)
    health = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)[
        "TargetHealthDescriptions"
    ]
    assert {d["TargetHealth"]["State"] for d in health} == {"healthy"}


def test_a_wrong_path_starts_replacing_instances_after_the_grace_period(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """C1 with HealthCheckType ELB: every instance is found unhealthy and replaced (UG-health).
    C2: the grace period (300 s) counts from InService, not from launch (UG-hooks, UG-grace)."""
    modify_check(aws, seeded, HealthCheckPath="/health")
    before = ids(aws)
    frozen.clock.advance(65)  # two failed checks at 30 and 60 s: unhealthy, long past grace
    assert not before & ids(aws)  # all replaced, at 60 s
    replacements = ids(aws)
    # Launched at 60 s, InService at 120 s: the grace period ends at 420 s, not 360 s.
    frozen.clock.advance(335)  # t = 400
    assert ids(aws) == replacements
    frozen.clock.advance(60)  # t = 460
    assert not replacements & ids(aws)


def test_a_launch_first_rollback_terminates_the_surplus_instead_of_replacing_it(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """With MaxHealthyPercentage 200 the old instances still run when the hour runs out; the
    rollback terminates the new ones in flight (surplus over desired capacity, 1.2) rather than
    replacing them one by one: it ends as soon as they are gone."""
    old = ids(aws)
    broken_refresh(aws, seeded, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    frozen.clock.advance(120)
    assert len(instances(aws)) > 2  # launched first: the 2 old ones still run
    frozen.clock.advance(FIRST_FAILURE + HOUR)
    done = refresh(aws)
    assert done["Status"] == "RollbackSuccessful"
    assert (done["EndTime"] - done["RollbackDetails"]["RollbackStartTime"]).total_seconds() < 60
    assert ids(aws) == old


# -- item 3: capacity counts Pending; scale-out during a refresh (A7, A6) ----------------------


def set_capacity(aws: Aws, capacity: int) -> None:
    aws.call(
        "autoscaling",
        "set_desired_capacity",
        AutoScalingGroupName="feedback-asg",
        DesiredCapacity=capacity,
    )


def test_desired_capacity_counts_pending_instances(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A7, [M RefreshPreferences.MaxHealthyPercentage] and 1.13: Pending instances count toward
    desired capacity, so 2 → 4 → 3 while two are Pending ends with 3, not 5."""
    set_capacity(aws, 4)
    assert [i["LifecycleState"] for i in instances(aws)].count("Pending") == 2
    set_capacity(aws, 3)
    assert len(instances(aws)) == 3
    frozen.clock.advance(600)
    assert len(instances(aws)) == 3


def test_scale_out_during_a_refresh_uses_the_desired_configuration(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A6, UG-overview core concepts: a scale-out during a refresh launches instances with the
    desired configuration; one refresh leaves every instance on it."""
    pin_group(aws, seeded, 1)
    good = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, good, CheckpointPercentages=[100])
    refresh(aws)
    before = ids(aws)
    set_capacity(aws, 3)
    (added,) = [i for i in instances(aws) if i["InstanceId"] not in before]
    assert added["LaunchTemplate"]["Version"] == str(good)
    frozen.clock.advance(1800)
    assert refresh(aws)["Status"] == "Successful"
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws)} == {str(good)}
    assert len(instances(aws)) == 3


# -- item 5: MaxHealthyPercentage explicit vs omitted; min = max = 100 (A2, A3) ----------------


def start_with(aws: Aws, seeded: Seeded, version: int, prefs: dict[str, Any]) -> None:
    aws.call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName="feedback-asg",
        DesiredConfiguration={
            "LaunchTemplate": {
                "LaunchTemplateId": seeded.launch_template_id,
                "Version": str(version),
            }
        },
        Preferences={"InstanceWarmup": 300, **prefs},
    )


@pytest.mark.parametrize(
    ("prefs", "first_batch"),
    [
        pytest.param(
            {"MinHealthyPercentage": 90},
            (1, 1),
            id="min 90, max omitted: terminate and launch together",
        ),
        pytest.param(
            {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 100},
            (2, 1),
            id="min 90, max 100 explicit: launch first",
        ),
        pytest.param(
            {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 100},
            (2, 1),
            id="min = max = 100: launch before terminate",
        ),
        pytest.param(
            {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 100},
            (1, 1),
            id="min 50, max 100: within bounds, terminate first",
        ),
    ],
)
def test_max_healthy_explicit_or_omitted_orders_the_replacement(
    frozen: Sandbox, aws: Aws, seeded: Seeded, prefs: dict[str, Any], first_batch: tuple[int, int]
) -> None:
    """A2/A3, [M RefreshPreferences.MaxHealthyPercentage], UG-overview, TF-47188 (aws-facts 1.2
    worked examples, N = 2): (old instances still running, new ones launched) in the first
    batch."""
    pin_group(aws, seeded, 1)
    start_with(aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.1")), prefs)
    frozen.clock.advance(30)
    versions = [i["LaunchTemplate"]["Version"] for i in instances(aws)]
    assert (versions.count("1"), len(versions) - versions.count("1")) == first_batch
    frozen.clock.advance(1800)
    assert refresh(aws)["Status"] == "Successful"
    assert len(instances(aws)) == 2
