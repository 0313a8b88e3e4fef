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
