"""What the reconciler writes and claims rests on what it saw: issue 17 #2, #7, #8 and #10,
end to end against the sandbox over HTTP with real boto3."""

from __future__ import annotations

from pathlib import Path

from reconciler import desired
from reconciler.aws import Aws
from reconciler.model import Phase
from reconciler.sandbox import Sandbox
from tests.test_e2e_core import make_reconciler, run_cli, sandbox_copy

GREEN_TARGET_GROUP = "feedback-green-tg"  # the seed attaches it to feedback-green-asg only


def _group(aws: Aws) -> dict[str, object]:
    groups = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"]
    group: dict[str, object] = groups[0]
    return group


def test_a_target_group_the_group_is_not_attached_to_is_never_touched(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = sandbox_copy(tmp_path)
    path.write_text(path.read_text().replace("name: feedback-tg", f"name: {GREEN_TARGET_GROUP}"))
    before = aws.call("elbv2", "describe_target_groups", Names=[GREEN_TARGET_GROUP])
    aws.reset_counts()

    specs = desired.load([path]).services
    reconciler = make_reconciler(aws)
    outcomes = reconciler.compute(specs)
    reconciler.apply(outcomes)

    result = outcomes[0].diff
    assert result is not None and result.phase is Phase.BLOCKED
    assert "not attached" in result.message and GREEN_TARGET_GROUP in result.message
    assert "feedback-asg" in result.message
    assert dict(aws.writes()) == {}
    after = aws.call("elbv2", "describe_target_groups", Names=[GREEN_TARGET_GROUP])
    assert after["TargetGroups"] == before["TargetGroups"]
    arn = after["TargetGroups"][0]["TargetGroupArn"]
    tags = aws.call("elbv2", "describe_tags", ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    assert not any(t["Key"].startswith("asg-reconciler/") for t in tags)

    shown = run_cli("diff", str(path), endpoint=sandbox.endpoint)
    assert shown.returncode != 0 and "not attached" in shown.stdout + shown.stderr
    assert "Traceback" not in shown.stderr


def _strip(path: Path, *lines: str) -> None:
    text = path.read_text()
    for line in lines:
        assert line in text, line
        text = text.replace(line, "")
    path.write_text(text)


def test_adoption_leaves_the_settings_the_file_omits_as_aws_has_them(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName="feedback-asg",
        HealthCheckType="ELB",
        HealthCheckGracePeriod=60,
    )
    path = sandbox_copy(tmp_path)
    _strip(
        path,
        "    healthCheckType: ELB\n",
        "    healthCheckGracePeriod: 300\n",
        "      intervalSeconds: 30\n",
    )
    arn = sandbox.seeded.target_group_arn if sandbox.seeded else ""
    aws.call("elbv2", "modify_target_group", TargetGroupArn=arn, HealthCheckIntervalSeconds=15)

    shown = run_cli("diff", str(path), endpoint=sandbox.endpoint)
    assert "not managed" in shown.stdout, shown.stdout + shown.stderr
    assert "autoScalingGroup.healthCheckType = ELB" in shown.stdout
    assert "autoScalingGroup.healthCheckGracePeriod = 60" in shown.stdout
    assert "targetGroup.healthCheck.intervalSeconds = 15" in shown.stdout
    assert "healthCheckType:" not in shown.stdout.replace("healthCheckType =", "")

    specs = desired.load([path]).services
    reconciler = make_reconciler(aws)
    reconciler.apply(reconciler.compute(specs))  # adopts, fixes the health check path and port
    group = _group(aws)
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 60)
    target = aws.call("elbv2", "describe_target_groups", TargetGroupArns=[arn])["TargetGroups"][0]
    assert target["HealthCheckIntervalSeconds"] == 15
    assert target["HealthCheckPath"] == "/actuator/health"  # declared: enforced


def test_a_hand_made_scaling_policy_owns_capacity(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = sandbox_copy(tmp_path)
    _strip(path, "  scaling:\n    targetCpuUtilization: 70\n")
    aws.call(
        "autoscaling",
        "put_scaling_policy",
        AutoScalingGroupName="feedback-asg",
        PolicyName="team-cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 40.0,
        },
    )
    # What the policy did: scaled out to 3 (the file says 2).
    aws.call(
        "autoscaling",
        "set_desired_capacity",
        AutoScalingGroupName="feedback-asg",
        DesiredCapacity=3,
    )
    specs = desired.load([path]).services
    for _ in range(3):  # tick after tick: never reset
        reconciler = make_reconciler(aws)
        outcomes = reconciler.compute(specs)
        reconciler.apply(outcomes)
        result = outcomes[0].diff
        assert result is not None
        assert "desiredCapacity" not in [c.field for c in result.changes]
        assert _group(aws)["DesiredCapacity"] == 3
    shown = run_cli("diff", str(path), endpoint=sandbox.endpoint)
    assert "warning: the file pins desiredCapacity 2, but scaling policy team-cpu" in shown.stdout
