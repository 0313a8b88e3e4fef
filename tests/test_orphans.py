"""A service removed or renamed in git (issue 17 #14): its resources stay claimed, so the daemon
reports them as orphans (``/status``, ``reconciler_orphaned_service``, the log), and
``reconciler release SERVICE`` removes our tags, shown, asked and logged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import cli
from reconciler.aws import Aws
from reconciler.daemon.daemon import ORPHAN_SCAN_SECONDS
from reconciler.pipeline.orphans import Claim, orphans
from reconciler.sandbox import Sandbox
from tests.test_loop import FakeClock, converge, desired_repo, desired_yaml, git_source, make_daemon

GROUP = "feedback-asg"


@pytest.mark.parametrize(
    ("claimed", "known", "expected"),
    [
        ([("a", "a-asg")], ["a"], []),
        ([("a", "a-asg")], [], ["a-asg"]),
        ([("a", "a-asg"), ("a", "a-green")], ["b"], ["a-asg", "a-green"]),  # both sides
        ([("b", "b-asg"), ("a", "a-asg")], ["c"], ["a-asg", "b-asg"]),  # sorted by service
        ([("", "x-asg")], ["a"], ["x-asg"]),  # an owner tag without a service tag
    ],
)
def test_orphans_are_the_claims_git_no_longer_declares(
    claimed: list[tuple[str, str]], known: list[str], expected: list[str]
) -> None:
    found = [Claim(service, group, "us-east-1", ()) for service, group in claimed]
    assert [c.group for c in orphans(found, known=known)] == expected


def our_tags(aws: Aws) -> dict[str, list[str]]:
    group = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]
    template = group["LaunchTemplate"]["LaunchTemplateId"]
    lt = aws.call("ec2", "describe_launch_templates", LaunchTemplateIds=[template])
    tg = aws.call("elbv2", "describe_tags", ResourceArns=group["TargetGroupARNs"])
    tags = {
        "group": group["Tags"],
        "template": lt["LaunchTemplates"][0].get("Tags", []),
        "target group": tg["TagDescriptions"][0]["Tags"],
    }
    return {
        where: sorted(t["Key"] for t in found if t["Key"].startswith("asg-reconciler/"))
        for where, found in tags.items()
    }


def test_a_removed_service_is_reported_orphaned_until_released(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint)
    clock = FakeClock()
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), clock=clock)
    converge(daemon, clock=sandbox.clock)
    assert daemon.report()["orphans"] == []
    assert our_tags(aws)["group"]  # claimed

    renamed = desired_yaml().replace("name: feedback\n", "name: billing\n", 1)
    repo.write("desired/desired.yaml", renamed.replace(f"name: {GROUP}", "name: billing-asg"))
    repo.commit("rename feedback to billing")
    clock.now += ORPHAN_SCAN_SECONDS
    daemon.tick()

    assert daemon.report()["orphans"] == [
        {"service": "feedback", "group": GROUP, "region": "us-east-1"}
    ]
    metrics = daemon.metrics.render()[0].decode()
    assert 'reconciler_orphaned_service{name="feedback"} 1.0' in metrics

    # Asked first: without a terminal and without --yes nothing is released.
    assert cli.main(["release", "feedback"]) == 2
    assert our_tags(aws)["group"]
    desired = str(tmp_path / "git" / "work" / "desired")
    assert cli.main(["release", "feedback", "--yes", "-f", desired]) == 0
    out = capsys.readouterr().out
    assert "release feedback: remove asg-reconciler/" in out and "asg-reconciler/owner" in out
    assert f"released auto-scaling-group {GROUP}" in out
    assert our_tags(aws) == {"group": [], "template": [], "target group": []}

    clock.now += ORPHAN_SCAN_SECONDS
    daemon.tick()
    assert daemon.report()["orphans"] == []
    assert "reconciler_orphaned_service{" not in daemon.metrics.render()[0].decode()


def test_release_refuses_a_service_still_in_git(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint)
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    before = our_tags(aws)
    code = cli.main(["release", "feedback", "--yes", "-f", str(repo.work / "desired")])
    assert code == 1
    assert our_tags(aws) == before
