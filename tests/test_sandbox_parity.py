"""The sandbox answers like AWS where the seed's happy path does not go: real boto3 calls.

Each test names its source in shared/aws-facts.md: ``[M …]`` is the botocore service model
(``autoscaling/2011-01-01`` and friends), the UG-… tags are user-guide pages, TF-… are real AWS
answers quoted in Terraform issues. The row ids (B2, A12, …) are those of section 8, the places
where the sandbox used to differ from AWS.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Sandbox, Seeded
from reconciler.sandbox.seed import GROUP
from tests.sandbox_calls import put_alarm, refresh

# -- helpers ---------------------------------------------------------------------------------


def refused(call: Any) -> AwsApiError:
    with pytest.raises(AwsApiError) as raised:
        call()
    return raised.value


def new_version(aws: Aws, seeded: Seeded, **data: Any) -> int:
    script = base64.b64encode(b"#!/bin/bash\necho v2\n").decode()
    created = aws.call(
        "ec2",
        "create_launch_template_version",
        LaunchTemplateId=seeded.launch_template_id,
        SourceVersion="1",
        LaunchTemplateData={"UserData": script, **data},
    )
    number: int = created["LaunchTemplateVersion"]["VersionNumber"]
    return number


def pin_group(aws: Aws, seeded: Seeded, version: int | str) -> None:
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateId": seeded.launch_template_id, "Version": str(version)},
    )


def start(aws: Aws, seeded: Seeded, version: int | None = None, **prefs: Any) -> str:
    params: dict[str, Any] = {"AutoScalingGroupName": GROUP, "Preferences": prefs}
    if version is not None:
        spec = {"LaunchTemplateId": seeded.launch_template_id, "Version": str(version)}
        params["DesiredConfiguration"] = {"LaunchTemplate": spec}
    refresh_id: str = aws.call("autoscaling", "start_instance_refresh", **params)[
        "InstanceRefreshId"
    ]
    return refresh_id


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    """The sandbox with its clock stopped: time moves only when the test advances it."""
    sandbox.clock.speed = 0
    return sandbox


# -- item 7: refusals with AWS's error code --------------------------------------------------


def test_checkpoint_delay_without_checkpoint_percentages_is_refused(
    aws: Aws, seeded: Seeded
) -> None:
    """B2. [M RefreshPreferences.CheckpointDelay]: "if you specify a value for it, you must also
    specify a value for CheckpointPercentages"; UG-defaults."""
    error = refused(lambda: start(aws, seeded, CheckpointDelay=60))
    assert error.code == "ValidationError"
    assert start(aws, seeded, CheckpointDelay=60, CheckpointPercentages=[50, 100])


@pytest.mark.parametrize(
    ("prefs", "message"),
    [
        (
            {"CheckpointPercentages": [100], "CheckpointDelay": 172_801},
            "Value '172801' at 'preferences.checkpointDelay' failed to satisfy constraint: "
            "Member must have value less than or equal to 172800",
        ),
        (
            {"BakeTime": 200_000},
            "Value '200000' at 'preferences.bakeTime' failed to satisfy constraint: "
            "Member must have value less than or equal to 172800",
        ),
        (
            {"MinHealthyPercentage": 101},
            "Value '101' at 'preferences.minHealthyPercentage' failed to satisfy constraint: "
            "Member must have value less than or equal to 100",
        ),
        (
            {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 201},
            "Value '201' at 'preferences.maxHealthyPercentage' failed to satisfy constraint: "
            "Member must have value less than or equal to 200",
        ),
    ],
)
def test_values_out_of_range_are_refused(
    aws: Aws, seeded: Seeded, prefs: dict[str, Any], message: str
) -> None:
    """B3. The ranges of [M CheckpointDelay], [M BakeTime] (0-172800), [M IntPercent] and
    [M IntPercent100To200]; botocore checks only the lower bound on the client."""
    error = refused(lambda: start(aws, seeded, **prefs))
    assert error.code == "ValidationError"
    assert f"1 validation error detected: {message}" in str(error)


def test_range_limits_themselves_are_accepted(aws: Aws, seeded: Seeded) -> None:
    """B3, the other side: 172800 s is inside [M CheckpointDelay] and [M BakeTime]."""
    assert start(
        aws, seeded, CheckpointPercentages=[100], CheckpointDelay=172_800, BakeTime=172_800
    )


def test_bad_enum_values_get_aws_enum_text(aws: Aws, seeded: Seeded) -> None:
    """B4. [M RefreshPreferences.ScaleInProtectedInstances / .StandbyInstances]; the text is
    AWS's own answer quoted in TF-33377 (its enum order, not the model's)."""
    one = refused(lambda: start(aws, seeded, ScaleInProtectedInstances="Bogus"))
    assert one.code == "ValidationError"
    assert (
        "1 validation error detected: Value 'Bogus' at 'preferences.scaleInProtectedInstances' "
        "failed to satisfy constraint: Member must satisfy enum value set: [Ignore, Wait, Refresh]"
    ) in str(one)
    both = refused(lambda: start(aws, seeded, ScaleInProtectedInstances="", StandbyInstances=""))
    assert (
        "2 validation errors detected: Value '' at 'preferences.scaleInProtectedInstances' "
        "failed to satisfy constraint: Member must satisfy enum value set: [Ignore, Wait, "
        "Refresh]; Value '' at 'preferences.standbyInstances' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Terminate, Ignore, Wait]"
    ) in str(both)


def test_more_than_ten_alarms_are_refused(aws: Aws, seeded: Seeded) -> None:
    """[M AlarmSpecification.Alarms]: "You can specify up to 10 alarms"."""
    alarms = {"Alarms": [f"alarm-{n}" for n in range(11)]}
    assert refused(lambda: start(aws, seeded, AlarmSpecification=alarms)).code == (
        "ValidationError"
    )


def test_auto_rollback_refused_when_the_group_image_is_an_ssm_parameter(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """B5. [M RefreshPreferences.AutoRollback], [M RollbackInstanceRefresh], UG-rollback
    (section 1.6): no rollback when the group's launch template takes its ImageId from a
    Systems Manager parameter. A manual rollback gets [M IrreversibleInstanceRefreshFault]."""
    on_ssm = new_version(aws, seeded, ImageId="resolve:ssm:/aws/service/ami-amazon-linux-latest")
    pin_group(aws, seeded, on_ssm)
    target = new_version(aws, seeded)
    error = refused(lambda: start(aws, seeded, target, AutoRollback=True))
    assert error.code == "ValidationError" and "Systems Manager parameter" in str(error)
    start(aws, seeded, target, AutoRollback=False)
    manual = refused(
        lambda: aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    )
    assert manual.code == "IrreversibleInstanceRefresh"


@pytest.mark.parametrize("version", ["$Latest", "$Default"])
def test_auto_rollback_refused_when_the_group_is_unpinned(
    aws: Aws, seeded: Seeded, version: str
) -> None:
    """B5. Section 1.6 condition 3: the group on ``$Latest``/``$Default`` cannot be restored."""
    pin_group(aws, seeded, version)
    target = new_version(aws, seeded)
    assert refused(lambda: start(aws, seeded, target, AutoRollback=True)).code == (
        "ValidationError"
    )


@pytest.mark.parametrize(
    "operation", ["describe_auto_scaling_groups", "describe_instance_refreshes"]
)
def test_max_records_over_100_is_a_validation_error(
    aws: Aws, seeded: Seeded, operation: str
) -> None:
    """B8. [M DescribeAutoScalingGroups], [M DescribeInstanceRefreshes]: MaxRecords is at most
    100. A client error is answered once, not retried as a 500 would be."""
    params: dict[str, Any] = {"MaxRecords": 101}
    if operation == "describe_instance_refreshes":
        params["AutoScalingGroupName"] = GROUP
    aws.requests.clear()
    assert refused(lambda: aws.call("autoscaling", operation, **params)).code == "ValidationError"
    assert sum(aws.requests.values()) == 1


def test_more_than_50_group_names_need_max_records(aws: Aws, seeded: Seeded) -> None:
    """B8. [M DescribeAutoScalingGroups.AutoScalingGroupNames]: "By default, you can only
    specify up to 50 names. You can optionally increase this limit using the MaxRecords
    property." """
    names = [GROUP] + [f"other-{n}" for n in range(50)]

    def call(**extra: Any) -> dict[str, Any]:
        return aws.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=names, **extra
        )

    assert refused(call).code == "ValidationError"
    assert [g["AutoScalingGroupName"] for g in call(MaxRecords=100)["AutoScalingGroups"]] == [GROUP]


@pytest.mark.parametrize(("given", "stored"), [(None, 0), (0, 0), (45, 45)])
def test_grace_period_default_is_zero_and_zero_is_kept(
    aws: Aws, seeded: Seeded, given: int | None, stored: int
) -> None:
    """B7. [M CreateAutoScalingGroup.HealthCheckGracePeriod] "Default: 0 seconds", UG-grace:
    the SDK default is 0 (300 is the console's), and an explicit 0 is valid."""
    params: dict[str, Any] = {
        "AutoScalingGroupName": "grace-test",
        "MinSize": 0,
        "MaxSize": 1,
        "DesiredCapacity": 0,
        "LaunchTemplate": {"LaunchTemplateId": seeded.launch_template_id, "Version": "1"},
        "VPCZoneIdentifier": ",".join(seeded.subnet_ids.values()),
    }
    if given is not None:
        params["HealthCheckGracePeriod"] = given
    aws.call("autoscaling", "create_auto_scaling_group", **params)
    (group,) = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["grace-test"]
    )["AutoScalingGroups"]
    assert group["HealthCheckGracePeriod"] == stored


# -- item 6: BakeTime and alarms -------------------------------------------------------------

# Two instances, one at a time (MinHealthyPercentage 50): 2 x (launch 60 s + warmup 300 s).
REPLACED = 720


def group_version(aws: Aws) -> str:
    (found,) = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"]
    version: str = found["LaunchTemplate"]["Version"]
    return version


def test_bake_time_shows_baking_before_successful(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """A12. [M RefreshPreferences.BakeTime] waits "at the end of an instance refresh before the
    instance refresh is considered complete"; [M InstanceRefreshStatus] ``Baking`` (section 1.8).
    The group keeps its configuration until the refresh succeeds [M StartInstanceRefresh]."""
    pin_group(aws, seeded, 1)
    good = new_version(aws, seeded)
    start(aws, seeded, good, MinHealthyPercentage=50, BakeTime=600)
    refresh(aws)
    still.clock.advance(REPLACED + 60)
    baking = refresh(aws)
    assert (baking["Status"], baking["PercentageComplete"]) == ("Baking", 100)
    assert baking["Preferences"]["BakeTime"] == 600
    assert group_version(aws) == "1"
    refused_start = refused(lambda: start(aws, seeded))
    assert refused_start.code == "InstanceRefreshInProgress"  # Baking is still active
    still.clock.advance(600)
    done = refresh(aws)
    assert done["Status"] == "Successful"
    assert group_version(aws) == str(good)


def test_no_bake_time_goes_straight_to_successful(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """A12. The SDK default BakeTime is zero (UG-defaults): no ``Baking`` at all."""
    pin_group(aws, seeded, 1)
    start(aws, seeded, new_version(aws, seeded), MinHealthyPercentage=50)
    refresh(aws)
    still.clock.advance(REPLACED + 60)
    assert refresh(aws)["Status"] == "Successful"


def set_alarm(aws: Aws, name: str, state: str) -> None:
    aws.call("cloudwatch", "set_alarm_state", AlarmName=name, StateValue=state, StateReason="test")


@pytest.mark.parametrize(
    ("auto_rollback", "ended"), [(True, "RollbackSuccessful"), (False, "Failed")]
)
def test_alarm_in_alarm_fails_the_refresh(
    still: Sandbox, aws: Aws, seeded: Seeded, auto_rollback: bool, ended: str
) -> None:
    """A13. [M AlarmSpecification], [M RefreshPreferences.AutoRollback] ("roll back ... if the
    instance refresh fails or a CloudWatch alarm threshold is met"), UG-rollback (section 1.9).
    An alarm that is not in ALARM changes nothing."""
    put_alarm(aws, "high-5xx")
    put_alarm(aws, "quiet")
    pin_group(aws, seeded, 1)
    good = new_version(aws, seeded)
    alarms = {"Alarms": ["high-5xx", "quiet"]}
    start(aws, seeded, good, AutoRollback=auto_rollback, AlarmSpecification=alarms)
    still.clock.advance(200)
    set_alarm(aws, "quiet", "INSUFFICIENT_DATA")
    assert refresh(aws)["Status"] == "InProgress"
    set_alarm(aws, "high-5xx", "ALARM")
    failing = refresh(aws)
    assert failing["Status"] == ("RollbackInProgress" if auto_rollback else "Failed")
    assert "high-5xx" in failing["StatusReason"]
    still.clock.advance(900)
    assert refresh(aws)["Status"] == ended
    assert group_version(aws) == "1"


def test_alarm_during_baking_rolls_back(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """A12 + A13. Baking is still active, so an alarm then can still roll the refresh back
    (derived in section 1.8 from 1.7 and 1.9)."""
    put_alarm(aws, "high-5xx")
    pin_group(aws, seeded, 1)
    good = new_version(aws, seeded)
    alarms = {"Alarms": ["high-5xx"]}
    start(
        aws, seeded, good, MinHealthyPercentage=50, BakeTime=3600, AutoRollback=True,
        AlarmSpecification=alarms,
    )  # fmt: skip
    refresh(aws)
    still.clock.advance(REPLACED + 60)
    assert refresh(aws)["Status"] == "Baking"
    set_alarm(aws, "high-5xx", "ALARM")
    assert refresh(aws)["Status"] == "RollbackInProgress"
    still.clock.advance(2 * REPLACED)
    assert refresh(aws)["Status"] == "RollbackSuccessful"
    assert group_version(aws) == "1"


# -- item 8: reporting -----------------------------------------------------------------------


def test_target_health_reports_the_numeric_health_check_port(aws: Aws, seeded: Seeded) -> None:
    """[M TargetHealthDescription.HealthCheckPort] is "the port to use to connect with the
    target": with the target group's ``traffic-port`` (the default, section 3.2) that is the
    target's own port, not the setting's name."""
    (target_group,) = aws.call(
        "elbv2", "describe_target_groups", TargetGroupArns=[seeded.target_group_arn]
    )["TargetGroups"]
    assert target_group["HealthCheckPort"] == "traffic-port"
    described = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)[
        "TargetHealthDescriptions"
    ]
    assert described
    for target in described:
        assert target["HealthCheckPort"] == str(target["Target"]["Port"])
        assert target["HealthCheckPort"].isdigit()


def test_refresh_times_are_whole_utc_seconds(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """UG-status's CLI examples show ``"StartTime": "2020-06-02T18:11:27Z"``: AWS reports
    refresh times in whole seconds, UTC (and RollbackDetails.RollbackStartTime likewise)."""
    pin_group(aws, seeded, 1)
    start(aws, seeded, new_version(aws, seeded))
    still.clock.advance(0.25)
    aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    still.clock.advance(REPLACED)
    record = refresh(aws)
    assert record["Status"] == "RollbackSuccessful"
    times = [record["StartTime"], record["EndTime"], record["RollbackDetails"]["RollbackStartTime"]]
    for moment in times:
        assert moment.microsecond == 0 and moment.utcoffset() == timedelta(0)


def test_describe_echoes_max_healthy_only_when_given(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A18. UG-defaults: MaxHealthyPercentage defaults to "100 percent (null)", so Describe
    shows it only when the request set it; MinHealthyPercentage's default 90 is shown
    [M RefreshPreferences.MinHealthyPercentage]."""
    start(aws, seeded)
    omitted = refresh(aws)["Preferences"]
    assert "MaxHealthyPercentage" not in omitted and omitted["MinHealthyPercentage"] == 90
    aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)
    still.clock.advance(120)  # the launch under way settles: Cancelled
    start(aws, seeded, MinHealthyPercentage=100, MaxHealthyPercentage=100)
    assert refresh(aws)["Preferences"]["MaxHealthyPercentage"] == 100


def test_percentage_falls_toward_zero_during_a_rollback(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A15. [M InstanceRefresh.PercentageComplete]: it "does not include instances that are
    replaced during a rollback. This value gradually goes back down to zero during a rollback";
    [M InstanceRefresh.InstancesToUpdate]: during a rollback, the instances the refresh never
    updated; [M RollbackDetails] keeps both as they were when the rollback began (section 1.14)."""
    pin_group(aws, seeded, 1)
    start(aws, seeded, new_version(aws, seeded), MinHealthyPercentage=50)
    refresh(aws)
    still.clock.advance(REPLACED // 2 + 60)  # the first of two replaced and warmed up
    assert (refresh(aws)["PercentageComplete"], refresh(aws)["InstancesToUpdate"]) == (50, 1)
    aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    rolling = refresh(aws)
    assert rolling["Status"] == "RollbackInProgress"
    assert rolling["RollbackDetails"]["PercentageCompleteOnRollback"] == 50
    assert rolling["RollbackDetails"]["InstancesToUpdateOnRollback"] == 1
    assert rolling["RollbackDetails"]["RollbackReason"]
    seen = [rolling["PercentageComplete"]]
    for _ in range(6):
        still.clock.advance(REPLACED // 4)
        seen.append(refresh(aws)["PercentageComplete"])
    done = refresh(aws)
    assert done["Status"] == "RollbackSuccessful"
    assert seen == sorted(seen, reverse=True) and seen[-1] == 0 and max(seen) <= 50
    assert done["InstancesToUpdate"] == 1


# -- item 4: Standby and scale-in-protected instances ----------------------------------------

HOUR = 3600


def instances(aws: Aws) -> dict[str, dict[str, Any]]:
    (found,) = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"]
    return {i["InstanceId"]: i for i in found["Instances"]}


def to_standby(aws: Aws) -> str:
    """Put one of the seed's two instances in Standby (desired capacity 2 -> 1)."""
    chosen = sorted(instances(aws))[0]
    aws.call(
        "autoscaling",
        "enter_standby",
        AutoScalingGroupName=GROUP,
        InstanceIds=[chosen],
        ShouldDecrementDesiredCapacity=True,
    )
    return chosen


def protect(aws: Aws, chosen: str | None = None, *, protected: bool = True) -> str:
    """Set (or remove) one instance's scale-in protection; the first of the seed's by default."""
    chosen = chosen or sorted(instances(aws))[0]
    aws.call(
        "autoscaling",
        "set_instance_protection",
        AutoScalingGroupName=GROUP,
        InstanceIds=[chosen],
        ProtectedFromScaleIn=protected,
    )
    return chosen


def test_describe_echoes_wait_for_standby_and_protected_by_default(
    aws: Aws, seeded: Seeded
) -> None:
    """A18. [M RefreshPreferences.ScaleInProtectedInstances / .StandbyInstances]: "Wait
    (default)"; the console's Ignore is sent explicitly (CLI-8338)."""
    start(aws, seeded)
    prefs = refresh(aws)["Preferences"]
    assert (prefs["ScaleInProtectedInstances"], prefs["StandbyInstances"]) == ("Wait", "Wait")


def test_standby_instance_waits_an_hour_then_fails(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A8. StandbyInstances Wait (the SDK default): "waits one hour for you to return the
    instances to service. Otherwise, the instance refresh will fail" [M RefreshPreferences
    .StandbyInstances]; UG-overview "One-hour timeout". The InService one is replaced first."""
    pin_group(aws, seeded, 1)
    standby = to_standby(aws)
    good = new_version(aws, seeded)
    start(aws, seeded, good)
    refresh(aws)
    still.clock.advance(400)  # the InService instance is replaced; only the Standby one is left
    waiting = refresh(aws)
    assert waiting["Status"] == "InProgress" and standby in waiting["StatusReason"]
    still.clock.advance(HOUR - 100)
    assert refresh(aws)["Status"] == "InProgress"
    still.clock.advance(200)
    failed = refresh(aws)
    assert failed["Status"] == "Failed"
    assert standby in failed["StatusReason"] and "Standby" in failed["StatusReason"]
    assert instances(aws)[standby]["LifecycleState"] == "Standby"
    assert group_version(aws) == "1"


def test_standby_instance_back_in_service_within_the_hour_is_replaced(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A8. Wait ends when the instance returns to service; it is then replaced in its turn."""
    pin_group(aws, seeded, 1)
    standby = to_standby(aws)
    good = new_version(aws, seeded)
    start(aws, seeded, good)
    refresh(aws)
    still.clock.advance(1800)
    aws.call("autoscaling", "exit_standby", AutoScalingGroupName=GROUP, InstanceIds=[standby])
    still.clock.advance(REPLACED)
    assert refresh(aws)["Status"] == "Successful"
    assert standby not in instances(aws)
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws).values()} == {str(good)}


@pytest.mark.parametrize(("choice", "kept"), [("Ignore", True), ("Terminate", False)])
def test_standby_ignore_and_terminate(
    still: Sandbox, aws: Aws, seeded: Seeded, choice: str, kept: bool
) -> None:
    """A8. StandbyInstances Ignore "continues to replace instances that are in the InService
    state"; Terminate "terminates instances that are in Standby" [M RefreshPreferences
    .StandbyInstances]. Standby instances are outside the desired capacity: nothing replaces
    a terminated one."""
    pin_group(aws, seeded, 1)
    standby = to_standby(aws)
    good = new_version(aws, seeded)
    start(aws, seeded, good, StandbyInstances=choice)
    refresh(aws)
    still.clock.advance(REPLACED)
    assert refresh(aws)["Status"] == "Successful"
    now = instances(aws)
    assert (standby in now) is kept
    assert len(now) == (2 if kept else 1)
    others = [i for i in now.values() if i["InstanceId"] != standby]
    assert [i["LaunchTemplate"]["Version"] for i in others] == [str(good)]


@pytest.mark.parametrize(
    ("auto_rollback", "ended"), [(False, "Failed"), (True, "RollbackSuccessful")]
)
def test_protected_instance_waits_an_hour_then_fails(
    still: Sandbox, aws: Aws, seeded: Seeded, auto_rollback: bool, ended: str
) -> None:
    """A9. ScaleInProtectedInstances Wait (the SDK default): "waits one hour for you to remove
    scale-in protection. Otherwise, the instance refresh will fail" [M RefreshPreferences
    .ScaleInProtectedInstances]; with AutoRollback the failure rolls back (section 1.5/1.6)."""
    pin_group(aws, seeded, 1)
    protected = protect(aws)
    start(aws, seeded, new_version(aws, seeded), AutoRollback=auto_rollback)
    refresh(aws)
    still.clock.advance(400)
    assert "scale-in protection" in refresh(aws)["StatusReason"]
    still.clock.advance(HOUR + REPLACED)
    record = refresh(aws)
    assert record["Status"] == ended and protected in record["StatusReason"]
    assert protected in instances(aws)
    assert group_version(aws) == "1"


@pytest.mark.parametrize(("choice", "kept"), [("Ignore", True), ("Refresh", False)])
def test_protected_ignore_and_refresh(
    still: Sandbox, aws: Aws, seeded: Seeded, choice: str, kept: bool
) -> None:
    """A9. ScaleInProtectedInstances Refresh "replaces instances that are protected from scale
    in"; Ignore leaves them and replaces the rest
    [M RefreshPreferences.ScaleInProtectedInstances]."""
    pin_group(aws, seeded, 1)
    protected = protect(aws)
    start(aws, seeded, new_version(aws, seeded), ScaleInProtectedInstances=choice)
    refresh(aws)
    still.clock.advance(REPLACED + 60)
    assert refresh(aws)["Status"] == "Successful"
    assert (protected in instances(aws)) is kept
    assert len(instances(aws)) == 2


def test_protection_removed_within_the_hour_lets_the_refresh_finish(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A9. Wait ends as soon as the protection is removed."""
    pin_group(aws, seeded, 1)
    protected = protect(aws)
    good = new_version(aws, seeded)
    start(aws, seeded, good)
    refresh(aws)
    still.clock.advance(1800)
    protect(aws, protected, protected=False)
    still.clock.advance(REPLACED)
    assert refresh(aws)["Status"] == "Successful"
    assert protected not in instances(aws)


def test_launch_template_changes_are_refused_with_awss_text_during_a_refresh(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """B1: UG-overview, Limitations, "Update restriction" (aws-facts 1.12): while a refresh with a
    desired configuration is active, the settings it derives are not available for update; the
    others (capacity here) still are."""
    pin_group(aws, seeded, 1)
    start(aws, seeded, new_version(aws, seeded))
    error = refused(lambda: pin_group(aws, seeded, 2))
    assert (error.code, str(error).split(": ", 2)[-1]) == (
        "ValidationError",
        "An active instance refresh with a desired configuration exists. All configuration "
        "options derived from the desired configuration are not available for update while the "
        "instance refresh is active.",
    )
    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=5)
