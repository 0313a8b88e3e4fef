"""What the reconciler writes and claims rests on what it saw: issue 17 #2, #7, #8 and #10,
end to end against the sandbox over HTTP with real boto3."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.daemon.server import StatusServer
from reconciler.model import Phase
from reconciler.pipeline.observe import Observer
from reconciler.pipeline.status import applied_revision
from reconciler.sandbox import Sandbox
from tests import sandbox_calls
from tests.test_daemon_e2e import wait_for
from tests.test_e2e_core import ROOT, make_reconciler, run_cli, sandbox_copy
from tests.test_loop import desired_repo, desired_yaml, git_source, make_daemon

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


def _cli_without(*args: str, endpoint: str, drop: tuple[str, ...] = ()) -> Any:
    return run_cli(*args, endpoint=endpoint, drop=drop, extra={"AWS_MAX_ATTEMPTS": "1"})


@pytest.mark.parametrize("case", ["endpoint down", "no credentials", "image missing"])
@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_sync_is_never_claimed_when_aws_could_not_be_read(
    sandbox: Sandbox, tmp_path: Path, case: str, output: str
) -> None:
    path = sandbox_copy(tmp_path, tag="v9.9" if case == "image missing" else "v1.1")
    endpoint = "http://127.0.0.1:9" if case == "endpoint down" else sandbox.endpoint
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if case == "no credentials" else ()
    done = _cli_without("diff", "--output", output, str(path), endpoint=endpoint, drop=drop)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "matches" not in done.stdout and "No changes" not in done.stdout
    assert "Traceback" not in done.stderr
    if output == "json":
        report = json.loads(done.stdout)
        assert report["services"] == []
        assert [u["name"] for u in report["unread"]] == ["feedback"]
        assert report["unread"][0]["error"]
        assert report["summary"]["unread"] == 1 and report["summary"]["services"] == 1
    else:
        assert "AWS could not be read for 1 of 1 service(s) (feedback)" in done.stdout


def test_apply_says_what_it_could_not_read(tmp_path: Path) -> None:
    path = sandbox_copy(tmp_path)
    done = _cli_without("apply", "--yes", str(path), endpoint="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "AWS matches" not in done.stdout
    assert "could not be read" in done.stdout


def test_status_keeps_the_running_versions_outcome_past_ten_newer_refreshes(
    frozen: Sandbox, aws: Aws
) -> None:
    seeded = frozen.seeded
    assert seeded is not None
    good = sandbox_calls.image_version(aws, seeded, "v1.1")
    sandbox_calls.start_refresh(aws, seeded, good, {"MinHealthyPercentage": 0})
    frozen.clock.advance(1200)
    assert sandbox_calls.refresh(aws)["Status"] == "Successful"
    assert _group(aws)["LaunchTemplate"]["Version"] == str(good)  # type: ignore[index]
    bad = sandbox_calls.image_version(aws, seeded, "v1.0")
    for _ in range(11):  # eleven attempts since, each cancelled: the good one is the 12th
        sandbox_calls.start_refresh(aws, seeded, bad, {"MinHealthyPercentage": 0})
        aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName="feedback-asg")
        frozen.clock.advance(60)

    spec = desired.load([ROOT / "desired"]).services[0]
    aws.reset_counts()
    observed = Observer(aws).observe([spec])["feedback"]
    assert aws.calls["DescribeInstanceRefreshes"] == 2  # the first page, and one more
    revision = applied_revision(observed)
    assert revision is not None and revision.launch_template_version == good
    assert revision.outcome == "Successful"


def test_a_paused_service_shows_its_pending_diff_in_status(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    text = desired_yaml().replace("spec:\n", "spec:\n  paused: true\n", 1)
    repo.write("desired/desired.yaml", text)
    repo.commit("pause feedback")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), interval=60)
    server = StatusServer(daemon=daemon, metrics=daemon.metrics, port=0, branch="main").start()
    aws.reset_counts()
    daemon.start()
    try:
        wait_for(daemon.ready, timeout=20, what="the first reconcile")
        with urllib.request.urlopen(f"{server.url}/status", timeout=10) as response:
            document = json.load(response)
    finally:
        daemon.stop()
        server.stop()
    assert dict(aws.writes()) == {}  # paused: nothing applied
    (service,) = document["services"]
    pending = {(c["resource"], c["field"]) for c in service["pending_changes"]}
    assert ("auto_scaling_group", "tags") in pending  # adoption, held back
    assert ("target_group", "healthCheck.port") in pending
    assert any(c["field"] == "image" for c in service["pending_changes"])
    assert any(n.startswith("not managed") for n in service["notes"])  # protocol is omitted
