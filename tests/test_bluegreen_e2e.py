"""Blue/green end to end: the daemon against the sandbox's two sides behind feedback-alb, with
real boto3 over HTTP and traffic flowing through the listener's weights.

Each test starts from the seed (blue runs the seed's hand-written v1 at 100%, green idle at 0)
and follows the shipped example, desired/examples/blue-green.yaml.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.lease import Lease
from reconciler.daemon.server import StatusServer
from reconciler.daemon.source import LocalSource
from reconciler.images.resolver import ImageResolver
from reconciler.model import BG_ADOPTED, TAG_BG_VERIFIED
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import GREEN_GROUP, GROUP
from tests.bluegreen_harness import Seen, Story
from tests.faults import FaultProxy
from tests.test_analysis_e2e import get, metric_samples
from tests.test_loop import aws_writes

GREEN_LIVE = (0, 100)
BLUE_LIVE = (100, 0)


def deployed(story: Story) -> Seen:
    """The first deploy (v1.1 onto green), ticked until Ready."""
    return story.until(lambda s: s.ready() and s.weights == GREEN_LIVE)


def weights_seen(story: Story) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for seen in story.seen:
        if not found or found[-1] != seen.weights:
            found.append(seen.weights)
    return found


def capacity(group: dict[str, object]) -> int:
    value = group["DesiredCapacity"]
    assert isinstance(value, int)
    return value


def test_a_deploy_shifts_traffic_in_steps_onto_the_idle_side(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path)
    end = deployed(story)
    assert weights_seen(story) == [BLUE_LIVE, (90, 10), (50, 50), GREEN_LIVE]
    green = story.green()
    assert capacity(green) == 2
    assert {i["LifecycleState"] for i in green["Instances"]} == {"InService"}
    status = end.blue_green
    assert status.live == "green" and status.stage == "ScalingDown"
    # Status reads the live side: green's version, with the commit it came from.
    applied = end.status.applied
    assert applied is not None and applied.revision is not None
    assert applied.launch_template_version == status.sides[1].launch_template_version
    # The seed's own side carried all the traffic before: it is the rollback target, kept
    # warm for scaleDownDelay (3600 s), then scaled down.
    assert status.rollback_to == "blue"
    tags = {t["Key"]: t["Value"] for t in story.group(GROUP)["Tags"]}
    assert tags[TAG_BG_VERIFIED] == BG_ADOPTED
    assert capacity(story.group(GROUP)) == 2
    after = story.until(lambda s: s.blue_green.stage == "Steady", step=600, limit=5400)
    assert capacity(story.group(GROUP)) == 0 and after.weights == GREEN_LIVE


def test_a_canary_failing_at_10_percent_is_flipped_back_in_the_same_tick(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path)
    deployed(story)
    frozen.traffic.served.clear()
    story.deploy("v2.1")
    failed = story.until(lambda s: s.degraded())
    # The tick that judged the canary failed also moved all traffic back to green.
    assert failed.weights == GREEN_LIVE
    assert max(w[0] for w in weights_seen(story)[-3:]) == 10  # v2.1 never got past 10%
    degraded = failed.status.condition("Degraded")
    assert "5xx rate" in degraded.message
    served = frozen.traffic.served
    assert 0 < served["v2.1"] < 0.15 * (served["v2.1"] + served["v1.1"])
    # The bad side is scaled down, and nothing is retried.
    story.until(lambda s: capacity(story.group(GROUP)) == 0)
    aws = story.daemon.reconciler.aws
    aws.reset_counts()
    for _ in range(8):
        seen = story.tick()
    assert seen.weights == GREEN_LIVE and seen.degraded()
    assert not {"ModifyListener", "CreateLaunchTemplateVersion"} & set(aws.writes())
    # A revert makes git say v1.1 again: in sync, with nothing to move.
    story.deploy("v1.1")
    assert story.until(lambda s: s.ready()).weights == GREEN_LIVE


def test_a_revert_during_a_step_flips_back_at_once(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    deployed(story)
    story.deploy("v1.0")
    story.until(lambda s: s.weights == (50, 50))
    story.deploy("v1.1")
    flipped = story.tick()
    assert flipped.weights == GREEN_LIVE
    assert story.until(lambda s: s.ready()).weights == GREEN_LIVE


def test_a_revert_after_the_old_side_was_scaled_down_scales_it_up_first(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, replace={"scaleDownDelay: 3600": "scaleDownDelay: 600"})
    deployed(story)
    story.deploy("v1.0")
    story.until(lambda s: s.ready() and s.weights == BLUE_LIVE)
    story.until(lambda s: capacity(story.green()) == 0)
    story.deploy("v1.1")
    restoring = story.tick()
    assert restoring.weights == BLUE_LIVE  # no traffic to a side with no instance
    assert (
        "scal" in restoring.status.next_step
        or "scal" in restoring.status.condition("Progressing").message
    )
    back = story.until(lambda s: s.weights == GREEN_LIVE)
    assert capacity(story.green()) == 2
    assert back.blue_green.live == "green"


def test_a_daemon_restarted_between_steps_resumes_from_aws(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    story.until(lambda s: s.weights == (90, 10))
    tags_before = _tags(story, GREEN_GROUP)
    story.restart()
    resumed = story.tick()
    assert resumed.weights == (90, 10)
    assert _tags(story, GREEN_GROUP) == tags_before  # the step's pause was not restarted
    deployed(story)
    assert weights_seen(story) == [BLUE_LIVE, (90, 10), (50, 50), GREEN_LIVE]


def test_a_listener_edited_by_hand_is_put_back(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    deployed(story)
    story.set_weights(50, 50)
    assert story.tick().weights == GREEN_LIVE
    story.deploy("v1.0")
    story.until(lambda s: s.weights == (10, 90))
    story.set_weights(70, 30)
    assert story.tick().weights == (10, 90)


def test_the_canary_follows_the_live_sides_capacity(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    story.until(lambda s: s.weights == (90, 10))
    story.watcher.call(
        "autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3
    )
    story.tick()
    assert capacity(story.green()) == 3
    end = deployed(story)
    assert end.blue_green.sides[1].desired == 3


def test_a_side_that_never_gets_healthy_never_receives_traffic(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path)
    deployed(story)
    story.deploy("v2.0")
    failed = story.until(lambda s: s.degraded())
    assert all(w == GREEN_LIVE for w in weights_seen(story)[-1:])
    assert {s.weights for s in story.seen[-20:]} == {GREEN_LIVE}
    assert "health" in failed.status.condition("Degraded").message
    story.until(lambda s: capacity(story.group(GROUP)) == 0)


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("port: 80 ", "port: 81 ", "spec.blueGreen.listener", "listener feedback-alb:81 not found"),
        (
            "autoScalingGroup: feedback-green-asg",
            "autoScalingGroup: nobody-asg",
            "spec.blueGreen.green.autoScalingGroup",
            "auto scaling group nobody-asg not found",
        ),
        (
            "targetGroup: feedback-green-tg",
            "targetGroup: nobody-tg",
            "spec.blueGreen.green.targetGroup",
            "target group nobody-tg not found",
        ),
    ],
)
def test_what_aws_does_not_have_stalls_at_its_line_and_writes_nothing(
    frozen: Sandbox, tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    story = Story.begin(frozen, tmp_path, replace={old: new})
    aws = story.daemon.reconciler.aws
    aws.reset_counts()
    stalled = story.tick().status.condition("Stalled")
    line = next(n for n, text in enumerate(story.path.read_text().splitlines(), 1) if new in text)
    if field == "spec.blueGreen.listener":
        line -= 2  # the listener mapping starts two lines above its port
    assert stalled.status
    assert stalled.message.startswith(f"{story.path}:{line}: {field}: {words}"), stalled.message
    assert not aws.writes()


def test_a_forward_without_the_green_target_group_stalls(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    arns = {
        t["TargetGroupName"]: t["TargetGroupArn"]
        for t in story.watcher.call("elbv2", "describe_target_groups")["TargetGroups"]
    }
    listener = story.watcher.call("elbv2", "describe_listeners", LoadBalancerArn=story._balancer())[
        "Listeners"
    ][0]
    story.watcher.call(
        "elbv2",
        "modify_listener",
        ListenerArn=listener["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arns["feedback-tg"]}],
    )
    aws = story.daemon.reconciler.aws
    aws.reset_counts()
    stalled = story.tick().status.condition("Stalled")
    assert stalled.status and "feedback-green-tg is not in listener" in stalled.message
    assert ": spec.blueGreen.green.targetGroup: " in stalled.message
    assert not aws.writes()


def test_a_forward_to_a_third_target_group_stalls(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    seeded = story.watcher.call("elbv2", "describe_target_groups")["TargetGroups"]
    vpc = seeded[0]["VpcId"]
    third = story.watcher.call(
        "elbv2",
        "create_target_group",
        Name="someone-else-tg",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="instance",
    )["TargetGroups"][0]["TargetGroupArn"]
    arns = {t["TargetGroupName"]: t["TargetGroupArn"] for t in seeded}
    listener = story.watcher.call("elbv2", "describe_listeners", LoadBalancerArn=story._balancer())[
        "Listeners"
    ][0]
    groups = [(arns["feedback-tg"], 80), (arns["feedback-green-tg"], 0), (third, 20)]
    story.watcher.call(
        "elbv2",
        "modify_listener",
        ListenerArn=listener["ListenerArn"],
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in groups]
                },
            }
        ],
    )
    aws = story.daemon.reconciler.aws
    aws.reset_counts()
    stalled = story.tick().status.condition("Stalled")
    assert stalled.status and "also forwards to other target groups" in stalled.message
    assert ": spec.blueGreen.listener: " in stalled.message
    assert not aws.writes()


def _tags(story: Story, group: str) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in story.group(group).get("Tags", [])}


def test_metrics_and_status_over_http_say_which_side_is_live(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path)
    server = StatusServer(daemon=story.daemon, metrics=story.daemon.metrics, port=0).start()
    try:
        story.until(lambda s: s.weights == (90, 10))
        stepping = metric_samples(get(f"{server.url}/metrics"))
        deployed(story)
        live = metric_samples(get(f"{server.url}/metrics"))
        status = json.loads(get(f"{server.url}/status"))
    finally:
        server.stop()
    weight = "reconciler_traffic_weight_ratio"
    stage = "reconciler_blue_green_stage"
    assert stepping[(weight, (("name", "feedback"), ("side", "green")))] == 0.1
    assert stepping[(stage, (("name", "feedback"), ("stage", "Stepping")))] == 1
    assert stepping[(stage, (("name", "feedback"), ("stage", "Steady")))] == 0
    progress = ("reconciler_rollout_progress_ratio", (("name", "feedback"),))
    assert stepping[progress] == 0.1
    assert live[(weight, (("name", "feedback"), ("side", "green")))] == 1
    assert live[(weight, (("name", "feedback"), ("side", "blue")))] == 0
    assert progress not in live  # no rollout in flight: no progress series
    (service,) = [s for s in status["services"] if s["name"] == "feedback"]
    assert service["blue_green"]["live"] == "green"
    assert [side["weight"] for side in service["blue_green"]["sides"]] == [0, 100]


def cli(story: Story, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--endpoint-url", story.sandbox.endpoint, *args])
    return code, capsys.readouterr().out


def test_rollback_authors_the_revert_and_retry_rolls_the_failed_revision_again(
    frozen: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story = Story.begin(frozen, tmp_path)
    repo = story.path.parent.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "deploy v1.1")
    deployed(story)
    story.deploy("v2.1")
    git(repo, "commit", "-qam", "deploy v2.1")
    story.until(lambda s: s.degraded())
    # retry forgets the failure on the side it failed on: v2.1 is rolled onto blue again.
    code, out = cli(story, capsys, "retry", "feedback", "--path", str(story.path.parent))
    assert code == 0, out
    again = story.until(lambda s: s.weights == (10, 90))
    assert not again.degraded()
    story.until(lambda s: s.degraded() and s.weights == GREEN_LIVE)
    # rollback authors the commit that sets the image back; git and AWS then agree. This
    # daemon follows the directory, not git, so AWS's record names content hashes, no commits:
    # the target is named (a daemon following git records the commit in each version).
    good = subprocess.run(
        ["git", "rev-parse", "HEAD~1"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    code, out = cli(
        story,
        capsys,
        "rollback",
        "feedback",
        "--repo",
        str(repo),
        "--path",
        "desired",
        "--to",
        good,
        "--yes",
    )
    assert code == 0, out
    assert "tag: v1.1" in story.path.read_text()
    ready = story.until(lambda s: s.ready())
    assert ready.weights == GREEN_LIVE
    assert ready.blue_green.rollback_to is None


def git(repo: Path, *args: str) -> None:
    author = ("-c", "user.name=test", "-c", "user.email=test@localhost")
    subprocess.run(["git", *author, *args], cwd=repo, check=True, capture_output=True)


class TagsRefused(FaultProxy):
    """Forwards everything, but answers every CreateOrUpdateTags with a 500 once armed."""

    armed = False

    def choose(self, service: str, operation: str) -> str | None:
        return "error" if self.armed and operation == "CreateOrUpdateTags" else None


def test_a_flip_is_not_held_up_by_a_tag_write_that_fails(frozen: Sandbox, tmp_path: Path) -> None:
    with TagsRefused(frozen.endpoint, throttle=0, error=0, delay=0) as proxy:
        story = Story.begin(
            frozen, tmp_path, aws=Aws(region="us-east-1", endpoint_url=proxy.endpoint)
        )
        deployed(story)
        story.deploy("v2.1")
        story.until(lambda s: s.weights == (10, 90))
        proxy.armed = True
        seen = story.until_weights_leave((10, 90))
    assert seen.weights == GREEN_LIVE
    assert proxy.injected["error:CreateOrUpdateTags"] > 0


def test_two_daemons_under_one_lease_never_both_write_weights(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path)

    def leased(holder: str) -> Daemon:
        aws = frozen.aws()
        lease = Lease(aws=aws, table="leases", name="asg-reconciler", holder=holder)
        return Daemon(
            source=LocalSource(paths=[story.path.parent]),
            reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
            interval=30.0,
            jitter=0.0,
            clock=lambda: frozen.clock.now().timestamp(),
            lease=lease,
        )

    first, second = leased("first"), leased("second")
    for _ in range(40):  # a whole deploy, both daemons ticking every 30 sandbox seconds
        first.tick()
        second.tick()
        frozen.clock.advance(30)
    assert story.weights() == GREEN_LIVE
    assert aws_writes(first.reconciler.aws)["ModifyListener"] == 3  # 10, 50, 100
    assert aws_writes(second.reconciler.aws) == Counter()


def test_a_rule_of_the_listener_can_carry_the_split(frozen: Sandbox, tmp_path: Path) -> None:
    """``rulePriority``: the rule's forward is stepped (ModifyRule) and the default action left
    alone. The sandbox routes by default actions only, so the analysis is turned off here: with
    it on, the canary would get no traffic and hold at its first step (missing data never
    passes)."""
    story = Story.begin(
        frozen,
        tmp_path,
        replace={
            "port: 80 ": "rulePriority: 10\n      port: 80 ",
            "    analysis:\n": "    analysis:\n      enabled: false\n",
        },
    )
    arns = {
        t["TargetGroupName"]: t["TargetGroupArn"]
        for t in story.watcher.call("elbv2", "describe_target_groups")["TargetGroups"]
    }
    listener = story.watcher.call("elbv2", "describe_listeners", LoadBalancerArn=story._balancer())[
        "Listeners"
    ][0]
    groups = [(arns["feedback-tg"], 100), (arns["feedback-green-tg"], 0)]
    rule = story.watcher.call(
        "elbv2",
        "create_rule",
        ListenerArn=listener["ListenerArn"],
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in groups]
                },
            }
        ],
    )["Rules"][0]

    def rule_weights() -> tuple[int, int]:
        found = story.watcher.call("elbv2", "describe_rules", RuleArns=[rule["RuleArn"]])
        tuples = found["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]
        by_arn = {t["TargetGroupArn"]: t["Weight"] for t in tuples}
        return by_arn[arns["feedback-tg"]], by_arn[arns["feedback-green-tg"]]

    seen: list[tuple[int, int]] = []
    while not story.tick().ready():
        if not seen or seen[-1] != rule_weights():
            seen.append(rule_weights())
        assert len(story.seen) < 200
    assert seen[-1] == GREEN_LIVE or rule_weights() == GREEN_LIVE
    assert (90, 10) in seen and (50, 50) in seen
    assert story.weights() == BLUE_LIVE  # the default action is not the reconciler's here


def test_a_sides_group_edited_by_hand_is_corrected(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path)
    deployed(story)
    story.watcher.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GREEN_GROUP,
        MaxSize=9,
        HealthCheckType="EC2",
    )
    fixed = story.tick()
    green = story.green()
    assert (green["MaxSize"], green["HealthCheckType"]) == (4, "ELB")
    assert fixed.weights == GREEN_LIVE
    assert story.tick().ready()
