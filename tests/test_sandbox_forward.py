"""Weighted forward actions on listeners and rules in the sandbox (``fixes.forwarding``): real
boto3 against it for CreateListener, ModifyListener, CreateRule, ModifyRule, DeleteRule,
DescribeListeners, DescribeRules and DescribeTargetGroups' LoadBalancerArns. The rules on plain
data are in tests/test_forward_rules.py."""

from __future__ import annotations

from typing import Any

import pytest
from moto.elbv2.models import ELBv2Backend

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Seeded
from reconciler.sandbox.fixes import forwarding
from reconciler.sandbox.patching import restore
from reconciler.sandbox.seed import forward
from tests.test_forward_rules import NO_STICKINESS, both, tuples


def target_group(aws: Aws, seeded: Seeded, name: str, protocol: str = "HTTP") -> str:
    arn: str = aws.call(
        "elbv2", "create_target_group", Name=name, Protocol=protocol, Port=8080,
        VpcId=seeded.vpc_id,
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    return arn


def default_actions(aws: Aws, seeded: Seeded) -> list[dict[str, Any]]:
    (listener,) = aws.call("elbv2", "describe_listeners", ListenerArns=[seeded.listener_arn])[
        "Listeners"
    ]
    found: list[dict[str, Any]] = listener["DefaultActions"]
    return found


def modify(aws: Aws, seeded: Seeded, *actions: dict[str, Any]) -> dict[str, Any]:
    (listener,) = aws.call(
        "elbv2", "modify_listener", ListenerArn=seeded.listener_arn, DefaultActions=list(actions)
    )["Listeners"]
    return dict(listener)


def refused(call: Any) -> tuple[str, str]:
    """(code, message) of the AWS error a call answers with."""
    with pytest.raises(AwsApiError) as raised:
        call()
    return raised.value.code, str(raised.value)


def balancers(aws: Aws, arn: str) -> list[str]:
    (found,) = aws.call("elbv2", "describe_target_groups", TargetGroupArns=[arn])["TargetGroups"]
    return list(found.get("LoadBalancerArns", []))


def test_modify_listener_writes_weights_and_reads_them_back(aws: Aws, seeded: Seeded) -> None:
    """A blue/green flip: the answer is the modified listener, and DescribeListeners and the
    default rule in DescribeRules say the same, weight 0 included."""
    blue, green = seeded.target_group_arn, seeded.green_target_group_arn
    answer = modify(aws, seeded, forward([(blue, 0), (green, 100)]))
    written = [
        {"TargetGroupArn": blue, "Weight": 0},
        {"TargetGroupArn": green, "Weight": 100},
    ]
    (action,) = answer["DefaultActions"]
    assert action == {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": written, "TargetGroupStickinessConfig": NO_STICKINESS},
    }
    assert default_actions(aws, seeded) == answer["DefaultActions"]
    (rule,) = aws.call("elbv2", "describe_rules", ListenerArn=seeded.listener_arn)["Rules"]
    assert (rule["IsDefault"], rule["Priority"], rule["Conditions"]) == (True, "default", [])
    assert rule["Actions"] == answer["DefaultActions"]


def test_a_single_target_group_reads_back_in_both_forms(aws: Aws, seeded: Seeded) -> None:
    """getmoto/moto#4716 quotes AWS: TargetGroupArn and a ForwardConfig of weight 1."""
    blue = seeded.target_group_arn
    expected = {
        "Type": "forward",
        "TargetGroupArn": blue,
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": blue, "Weight": 1}],
            "TargetGroupStickinessConfig": NO_STICKINESS,
        },
    }
    modify(aws, seeded, {"Type": "forward", "TargetGroupArn": blue})
    assert default_actions(aws, seeded) == [expected]
    modify(aws, seeded, tuples((blue, None)))
    assert default_actions(aws, seeded) == [expected]


def test_stickiness_is_read_back(aws: Aws, seeded: Seeded) -> None:
    stickiness = {"Enabled": True, "DurationSeconds": 300}
    action = forward([(seeded.target_group_arn, 90), (seeded.green_target_group_arn, 10)])
    action["ForwardConfig"]["TargetGroupStickinessConfig"] = stickiness
    modify(aws, seeded, action)
    (found,) = default_actions(aws, seeded)
    assert found["ForwardConfig"]["TargetGroupStickinessConfig"] == stickiness


def test_modify_listener_refuses_what_aws_refuses(aws: Aws, seeded: Seeded) -> None:
    """moto 5.2.5 stores all of these; AWS refuses each, and the listener stays as it was."""
    blue, green = seeded.target_group_arn, seeded.green_target_group_arn
    before = default_actions(aws, seeded)
    unknown = blue.rsplit("/", 1)[0] + "/0123456789abcdef"
    tcp = target_group(aws, seeded, "tcp-tg", "TCP")
    extra = [target_group(aws, seeded, f"extra-{i}") for i in range(5)]
    cases = {
        "ValidationError": [
            forward([(blue, 1000), (green, 0)]),
            forward([(blue, -1), (green, 0)]),
            tuples((blue, None), (green, None)),
            forward([(blue, 1)] + [(arn, 1) for arn in extra]),
            forward([(blue, 1), (blue, 0)]),
            both(blue, (green, 1)),
        ],
        "TargetGroupNotFound": [forward([(blue, 100), (unknown, 0)])],
        "IncompatibleProtocols": [forward([(blue, 1), (tcp, 1)])],
    }  # fmt: skip
    for code, actions in cases.items():
        for action in actions:
            assert refused(lambda a=action: modify(aws, seeded, a))[0] == code, action
    assert default_actions(aws, seeded) == before


def test_a_target_group_serves_one_load_balancer(aws: Aws, seeded: Seeded) -> None:
    """[M TargetGroup.LoadBalancerArns]; the error as in hashicorp/terraform-provider-aws#22005."""
    other = aws.call(
        "elbv2", "create_load_balancer", Name="other-alb", Subnets=list(seeded.subnet_ids.values()),
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]  # fmt: skip
    code, message = refused(
        lambda: aws.call(
            "elbv2", "create_listener", LoadBalancerArn=other, Protocol="HTTP", Port=80,
            DefaultActions=[forward([(seeded.green_target_group_arn, 1)])],
        )
    )  # fmt: skip
    assert code == "TargetGroupAssociationLimit"
    assert seeded.green_target_group_arn in message


def test_load_balancer_arns_follow_the_forwards(aws: Aws, seeded: Seeded) -> None:
    """A target group is associated while a listener or rule forwards to it, weight 0 too, and
    listed once; moto appended on every create and never on a modify."""
    lb = seeded.load_balancer_arn
    canary = target_group(aws, seeded, "canary-tg")
    assert balancers(aws, canary) == []
    aws.call(
        "elbv2", "create_listener", LoadBalancerArn=lb, Protocol="HTTP", Port=8081,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": seeded.target_group_arn}],
    )  # fmt: skip
    assert balancers(aws, seeded.target_group_arn) == [lb]
    modify(aws, seeded, forward([(seeded.target_group_arn, 1), (canary, 0)]))
    assert balancers(aws, canary) == [lb]
    assert balancers(aws, seeded.green_target_group_arn) == []  # no longer forwarded to
    by_balancer = aws.call("elbv2", "describe_target_groups", LoadBalancerArn=lb)["TargetGroups"]
    assert {t["TargetGroupArn"] for t in by_balancer} == {seeded.target_group_arn, canary}
    rule = aws.call(
        "elbv2", "create_rule", ListenerArn=seeded.listener_arn, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[forward([(seeded.green_target_group_arn, 0), (canary, 1)])],
    )["Rules"][0]["RuleArn"]  # fmt: skip
    assert balancers(aws, seeded.green_target_group_arn) == [lb]
    aws.call("elbv2", "delete_rule", RuleArn=rule)
    assert balancers(aws, seeded.green_target_group_arn) == []


def test_rules_keep_weights_and_refuse_like_listeners(aws: Aws, seeded: Seeded) -> None:
    blue, green = seeded.target_group_arn, seeded.green_target_group_arn
    created = aws.call(
        "elbv2", "create_rule", ListenerArn=seeded.listener_arn, Priority=5,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[forward([(blue, 90), (green, 10)])],
    )["Rules"][0]  # fmt: skip
    arn = created["RuleArn"]
    modified = aws.call(
        "elbv2", "modify_rule", RuleArn=arn, Actions=[forward([(blue, 0), (green, 999)])]
    )
    (rule,) = aws.call("elbv2", "describe_rules", RuleArns=[arn])["Rules"]
    assert rule == modified["Rules"][0]
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 0},
        {"TargetGroupArn": green, "Weight": 999},
    ]
    assert (rule["Priority"], rule["IsDefault"]) == ("5", False)
    listed = aws.call("elbv2", "describe_rules", ListenerArn=seeded.listener_arn)["Rules"]
    assert [r["RuleArn"] for r in listed if not r["IsDefault"]] == [arn]
    (default,) = [r for r in listed if r["IsDefault"]]
    assert default["Priority"] == "default"
    assert default["Actions"] == default_actions(aws, seeded)
    assert refused(
        lambda: aws.call("elbv2", "modify_rule", RuleArn=arn, Actions=[forward([(blue, 1000)])])
    )[0] == "ValidationError"  # fmt: skip
    assert refused(
        lambda: aws.call(
            "elbv2", "create_rule", ListenerArn=seeded.listener_arn, Priority=6,
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a"]}}],
            Actions=[forward([(blue, 1), (blue, 1)])],
        )
    )[0] == "ValidationError"  # fmt: skip


def test_the_default_rule_changes_through_the_listener_only(aws: Aws, seeded: Seeded) -> None:
    """AWS refuses ModifyRule on the default rule (OperationNotPermitted, FeLvi-zzz/tentez#32);
    moto applied it to the rule alone, and answered DeleteRule on it with HTTP 500."""
    before = default_actions(aws, seeded)
    (rule,) = aws.call("elbv2", "describe_rules", ListenerArn=seeded.listener_arn)["Rules"]
    flip = forward([(seeded.target_group_arn, 0), (seeded.green_target_group_arn, 100)])
    code, message = refused(
        lambda: aws.call("elbv2", "modify_rule", RuleArn=rule["RuleArn"], Actions=[flip])
    )
    assert (code, "cannot be modified") == ("OperationNotPermitted", message[-18:])
    code, _ = refused(lambda: aws.call("elbv2", "delete_rule", RuleArn=rule["RuleArn"]))
    assert code == "OperationNotPermitted"
    assert aws.call("elbv2", "describe_rules", ListenerArn=seeded.listener_arn)["Rules"] == [rule]
    assert default_actions(aws, seeded) == before == rule["Actions"]


def test_the_default_rule_arn_is_like_any_rule_arn(aws: Aws, seeded: Seeded) -> None:
    (rule,) = aws.call("elbv2", "describe_rules", ListenerArn=seeded.listener_arn)["Rules"]
    prefix = seeded.listener_arn.replace(":listener/", ":listener-rule/") + "/"
    assert rule["RuleArn"].startswith(prefix)
    tail = rule["RuleArn"].removeprefix(prefix)
    assert len(tail) == 16 and int(tail, 16) >= 0


def test_without_the_fix_moto_stores_a_weight_of_1000(aws: Aws, seeded: Seeded) -> None:
    """The refusal is the fix's, not moto's: with moto's own ModifyListener it goes through."""
    action = forward([(seeded.target_group_arn, 1000), (seeded.green_target_group_arn, 0)])
    restore(ELBv2Backend, "modify_listener")
    try:
        modify(aws, seeded, action)
    finally:
        forwarding.install()
    (found,) = default_actions(aws, seeded)
    assert found["ForwardConfig"]["TargetGroups"][0]["Weight"] == 1000
    assert refused(lambda: modify(aws, seeded, action))[0] == "ValidationError"
