"""What the reconciler asks of an instance refresh: only what desired.yaml declares, plus the
product's documented choices (issue 11; aws-facts 1.2 and 1.8-1.10).

First plain-data cases of ``refresh_preferences`` and of the plan, then the sandbox over HTTP:
what StartInstanceRefresh received (DescribeInstanceRefreshes echoes it), BakeTime's ``Baking``,
an alarm in ALARM rolling back, and a protected or Standby instance not failing a good image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.model import TAG_FAILED_FINGERPRINT, Phase, ServiceOutcome, StartInstanceRefresh
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY
from reconciler.pipeline.preferences import refresh_preferences
from reconciler.sandbox.seed import GROUP
from tests.factories import observed_service, rollout_spec
from tests.sandbox_calls import put_alarm, refresh
from tests.test_e2e_core import make_reconciler, sandbox_copy
from tests.test_plan import new_image, only, run

# Always sent, whatever the file says: the product's documented choices (schema descriptions).
CHOICES = {
    "AutoRollback": True,
    "SkipMatching": False,
    "ScaleInProtectedInstances": "Refresh",
    "StandbyInstances": "Ignore",
}
# The factory's rollout (the canonical file's) without the fields each case varies.
BARE = {
    "max_healthy_percentage": None,
    "instance_warmup": None,
    "checkpoint_percentages": (),
    "checkpoint_delay": None,
}

# ------------------------------------------------------------------------------------------------
# refresh_preferences and plan: plain data
# ------------------------------------------------------------------------------------------------

PREFERENCE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("nothing-declared", {}, {"MinHealthyPercentage": 50}),
    ("max-omitted-is-not-100", {"min_healthy_percentage": 90}, {"MinHealthyPercentage": 90}),
    (
        "max-100-explicit",
        {"max_healthy_percentage": 100},
        {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 100},
    ),
    (
        "min-max-100",
        {"min_healthy_percentage": 100, "max_healthy_percentage": 100},
        {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 100},
    ),
    (
        "surge",
        {"min_healthy_percentage": 100, "max_healthy_percentage": 200},
        {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200},
    ),
    ("bake-zero-is-declared", {"bake_time": 0}, {"MinHealthyPercentage": 50, "BakeTime": 0}),
    ("bake-two-days", {"bake_time": 172800}, {"MinHealthyPercentage": 50, "BakeTime": 172800}),
    (
        "one-alarm",
        {"alarms": ("feedback-5xx",)},
        {"MinHealthyPercentage": 50, "AlarmSpecification": {"Alarms": ["feedback-5xx"]}},
    ),
    (
        "ten-alarms-in-order",
        {"alarms": tuple(f"a{n}" for n in range(9, -1, -1))},
        {
            "MinHealthyPercentage": 50,
            "AlarmSpecification": {"Alarms": [f"a{n}" for n in range(9, -1, -1)]},
        },
    ),
    (
        "protected-wait",
        {"scale_in_protected_instances": "Wait"},
        {"MinHealthyPercentage": 50, "ScaleInProtectedInstances": "Wait"},
    ),
    (
        "protected-ignore",
        {"scale_in_protected_instances": "Ignore"},
        {"MinHealthyPercentage": 50, "ScaleInProtectedInstances": "Ignore"},
    ),
    (
        "standby-terminate",
        {"standby_instances": "Terminate"},
        {"MinHealthyPercentage": 50, "StandbyInstances": "Terminate"},
    ),
    (
        "standby-wait",
        {"standby_instances": "Wait"},
        {"MinHealthyPercentage": 50, "StandbyInstances": "Wait"},
    ),
    (
        "warmup-only",
        {"instance_warmup": 0},
        {"MinHealthyPercentage": 50, "InstanceWarmup": 0},
    ),
    (
        "delay-without-checkpoints-is-not-sent",
        {"checkpoint_delay": 60},
        {"MinHealthyPercentage": 50},
    ),
    (
        "everything",
        {
            "max_healthy_percentage": 150,
            "instance_warmup": 120,
            "checkpoint_percentages": (50, 100),
            "checkpoint_delay": 300,
            "auto_rollback": False,
            "skip_matching": True,
            "scale_in_protected_instances": "Ignore",
            "standby_instances": "Terminate",
            "bake_time": 900,
            "alarms": ("feedback-5xx", "feedback-latency"),
        },
        {
            "MinHealthyPercentage": 50,
            "MaxHealthyPercentage": 150,
            "InstanceWarmup": 120,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": HOLD_DELAY,
            "AutoRollback": False,
            "SkipMatching": True,
            "ScaleInProtectedInstances": "Ignore",
            "StandbyInstances": "Terminate",
            "BakeTime": 900,
            "AlarmSpecification": {"Alarms": ["feedback-5xx", "feedback-latency"]},
        },
    ),
]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [case[1:] for case in PREFERENCE_CASES],
    ids=[case[0] for case in PREFERENCE_CASES],
)
def test_only_declared_preferences_and_documented_choices_are_sent(
    overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    rollout = rollout_spec(**{**BARE, **overrides})
    assert refresh_preferences(rollout) == {**CHOICES, **expected}
    start = only(run(new_image(rollout=rollout), observed_service()), StartInstanceRefresh)
    assert start.preferences == {**CHOICES, **expected}


def test_an_undeclared_maximum_is_never_sent() -> None:
    # R2: an explicit 100 makes AWS launch before terminating whenever the minimum cannot hold
    # (aws-facts 1.2), so it is sent only when the file says so.
    for minimum in (0, 50, 90, 100):
        sent = refresh_preferences(rollout_spec(**{**BARE, "min_healthy_percentage": minimum}))
        assert "MaxHealthyPercentage" not in sent


def test_the_sent_lists_are_fresh_copies() -> None:
    rollout = rollout_spec(alarms=("a",), checkpoint_percentages=(50, 100))
    first = refresh_preferences(rollout)
    first["AlarmSpecification"]["Alarms"].append("b")
    first["CheckpointPercentages"].append(7)
    assert refresh_preferences(rollout)["AlarmSpecification"] == {"Alarms": ["a"]}
    assert refresh_preferences(rollout)["CheckpointPercentages"] == [50, 100]


# ------------------------------------------------------------------------------------------------
# Against the sandbox
# ------------------------------------------------------------------------------------------------


def rollout_file(tmp_path: Path, *lines: str, drop: tuple[str, ...] = ()) -> Path:
    """The sandbox copy of desired.yaml with ``lines`` added to its rollout block."""
    path = sandbox_copy(tmp_path)
    text = path.read_text()
    for line in drop:
        assert text.count(f"    {line}\n") == 1, line
        text = text.replace(f"    {line}\n", "")
    added = "".join(f"    {line}\n" for line in lines)
    text = text.replace("    autoRollback: true\n", "    autoRollback: true\n" + added)
    path.write_text(text)
    assert not desired.load([path]).warnings or "Ignore" in text
    return path


def tick(aws: Aws, path: Path) -> ServiceOutcome:
    reconciler = make_reconciler(aws)
    (outcome,) = reconciler.compute(desired.load([path]).services)
    reconciler.apply([outcome])
    assert outcome.error is None, outcome.error
    return outcome


def until(
    sandbox: Any,
    aws: Aws,
    path: Path,
    done: Callable[[ServiceOutcome], bool],
    *,
    step: int = 60,
    limit: int = 7200,
) -> ServiceOutcome:
    """Tick every ``step`` sandbox seconds until ``done``; at most ``limit`` seconds."""
    for _ in range(limit // step):
        sandbox.clock.advance(step)
        outcome = tick(aws, path)
        if done(outcome):
            return outcome
    raise AssertionError(f"not done after {limit} s: {outcome.diff}")


def phase_is(phase: Phase) -> Callable[[ServiceOutcome], bool]:
    return lambda outcome: outcome.diff is not None and outcome.diff.phase is phase


def group(aws: Aws) -> dict[str, Any]:
    (found,) = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"]
    return dict(found)


ECHO_CASES: list[tuple[str, tuple[str, ...], tuple[str, ...], dict[str, Any]]] = [
    (
        "canonical",
        (),
        (),
        {
            "MinHealthyPercentage": 50,
            "MaxHealthyPercentage": 100,
            "InstanceWarmup": 300,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": HOLD_DELAY,
        },
    ),
    (
        "maximum-omitted",
        (),
        ("maxHealthyPercentage: 100",),
        {
            "MinHealthyPercentage": 50,
            "InstanceWarmup": 300,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": HOLD_DELAY,
        },
    ),
    (
        "new-fields",
        (
            "scaleInProtectedInstances: Wait",
            "standbyInstances: Terminate",
            "bakeTime: 600",
            "alarms: [feedback-5xx]",
        ),
        ("checkpointPercentages: [50, 100]", "checkpointDelay: 60"),
        {
            "MinHealthyPercentage": 50,
            "MaxHealthyPercentage": 100,
            "InstanceWarmup": 300,
            "ScaleInProtectedInstances": "Wait",
            "StandbyInstances": "Terminate",
            "BakeTime": 600,
            "AlarmSpecification": {"Alarms": ["feedback-5xx"]},
        },
    ),
]


@pytest.mark.parametrize(
    ("lines", "drop", "expected"),
    [case[1:] for case in ECHO_CASES],
    ids=[case[0] for case in ECHO_CASES],
)
def test_start_instance_refresh_receives_what_the_file_declares(
    frozen: Any,
    aws: Aws,
    tmp_path: Path,
    lines: tuple[str, ...],
    drop: tuple[str, ...],
    expected: dict[str, Any],
) -> None:
    if any("alarms" in line for line in lines):
        put_alarm(aws, "feedback-5xx")
    tick(aws, rollout_file(tmp_path, *lines, drop=drop))
    # The sandbox echoes what it received, filling in AWS's reported defaults only for what a
    # request left out; every such key is one the reconciler always sends.
    assert refresh(aws)["Preferences"] == {**CHOICES, **expected}


def test_bake_time_holds_the_refresh_in_baking_before_success(
    frozen: Any, aws: Aws, tmp_path: Path
) -> None:
    path = rollout_file(tmp_path, "bakeTime: 1200")
    tick(aws, path)
    baking = until(frozen, aws, path, lambda _: refresh(aws)["Status"] == "Baking")
    began = frozen.clock.now()
    assert baking.diff is not None and baking.diff.phase is Phase.PROGRESSING
    assert "Baking" in baking.diff.message
    done = until(frozen, aws, path, phase_is(Phase.IN_SYNC))
    assert refresh(aws)["Status"] == "Successful"
    assert done.plan is not None and done.plan.empty
    # Baking lasted the declared 1200 s (to within one 60 s tick).
    assert 1200 - 60 <= (frozen.clock.now() - began).total_seconds() <= 1200 + 60


def test_an_alarm_in_alarm_rolls_the_refresh_back_and_marks_it_failed(
    frozen: Any, aws: Aws, tmp_path: Path
) -> None:
    put_alarm(aws, "feedback-5xx")
    put_alarm(aws, "feedback-quiet")
    path = rollout_file(tmp_path, "bakeTime: 1800", "alarms: [feedback-quiet, feedback-5xx]")
    first = tick(aws, path)
    assert first.diff is not None and first.diff.phase is Phase.OUT_OF_SYNC
    until(frozen, aws, path, lambda _: refresh(aws)["Status"] == "Baking")
    aws.call(
        "cloudwatch",
        "set_alarm_state",
        AlarmName="feedback-5xx",
        StateValue="ALARM",
        StateReason="5xx after the release",
    )
    failed = until(frozen, aws, path, phase_is(Phase.FAILED))
    assert refresh(aws)["Status"] in ("RollbackInProgress", "RollbackSuccessful")
    assert "feedback-5xx" in refresh(aws)["StatusReason"]
    assert failed.desired is not None and failed.diff is not None
    marker = failed.diff.failed_marker
    assert marker is not None and marker.startswith(failed.desired.fingerprint)
    until(frozen, aws, path, lambda _: failed_tag(aws) == marker)


def failed_tag(aws: Aws) -> str | None:
    return {t["Key"]: t["Value"] for t in group(aws)["Tags"]}.get(TAG_FAILED_FINGERPRINT)


def protect_one(aws: Aws) -> str:
    chosen = str(sorted(i["InstanceId"] for i in group(aws)["Instances"])[0])
    aws.call(
        "autoscaling",
        "set_instance_protection",
        AutoScalingGroupName=GROUP,
        InstanceIds=[chosen],
        ProtectedFromScaleIn=True,
    )
    return chosen


def standby_one(aws: Aws) -> str:
    chosen = str(sorted(i["InstanceId"] for i in group(aws)["Instances"])[0])
    aws.call(
        "autoscaling",
        "enter_standby",
        AutoScalingGroupName=GROUP,
        InstanceIds=[chosen],
        ShouldDecrementDesiredCapacity=False,
    )
    return chosen


@pytest.mark.parametrize("hold", [protect_one, standby_one], ids=["protected", "standby"])
def test_a_held_instance_does_not_fail_a_good_image_by_default(
    frozen: Any, aws: Aws, tmp_path: Path, hold: Callable[[Aws], str]
) -> None:
    # R3: the SDK's Wait would wait an hour and then fail the refresh (aws-facts 1.10), and the
    # reconciler would mark a good image failed. The defaults (Refresh, Ignore) do not.
    held = hold(aws)
    path = rollout_file(tmp_path)
    tick(aws, path)
    until(frozen, aws, path, lambda _: refresh(aws)["Status"] == "Successful", limit=3000)
    later = until(frozen, aws, path, lambda _: True, step=3700)  # past AWS's one-hour wait
    assert later.diff is not None and later.diff.phase is not Phase.FAILED, later.diff
    assert TAG_FAILED_FINGERPRINT not in {t["Key"] for t in group(aws)["Tags"]}
    present = {i["InstanceId"] for i in group(aws)["Instances"]}
    # Protected instances are replaced (Refresh); a Standby one is left alone (Ignore).
    assert (held in present) is (hold is standby_one)


@pytest.mark.parametrize(
    ("hold", "line"),
    [(protect_one, "scaleInProtectedInstances: Wait"), (standby_one, "standbyInstances: Wait")],
    ids=["protected", "standby"],
)
def test_declaring_wait_lets_aws_fail_the_refresh_after_an_hour(
    frozen: Any, aws: Aws, tmp_path: Path, hold: Callable[[Aws], str], line: str
) -> None:
    # The contrast that makes the default matter: with Wait the same good image fails.
    held = hold(aws)
    path = rollout_file(tmp_path, line)
    tick(aws, path)
    until(frozen, aws, path, phase_is(Phase.FAILED), step=300, limit=6000)
    # The refresh that waited is the continuation past the 50% checkpoint; a SkipMatching one
    # may follow it, putting the previous version back on what the first refresh replaced.
    found = aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP)
    bad = ("Failed", "RollbackInProgress", "RollbackSuccessful")
    ended = next((r for r in found["InstanceRefreshes"] if r["Status"] in bad), refresh(aws))
    assert ended["Status"] in bad, ended
    assert held in ended["StatusReason"], ended
