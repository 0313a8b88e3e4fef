"""Weighted forward actions on listeners and rules, as ELB checks, keeps and describes them
(``forward_rules``, ``fixes.forwarding``): plain-data cases for the rules, then real boto3
against the sandbox for CreateListener, ModifyListener, CreateRule, ModifyRule, DescribeListeners,
DescribeRules and DescribeTargetGroups' LoadBalancerArns."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Seeded
from reconciler.sandbox.fixes import forwarding
from reconciler.sandbox.forward_rules import (
    MISMATCH,
    NOWHERE,
    STICKINESS,
    TOO_MANY,
    WEIGHT_RANGE,
    TargetGroupFacts,
    canonical,
    refusal,
)
from reconciler.sandbox.patching import restore
from reconciler.sandbox.seed import forward

LB = "arn:lb/app/feedback-alb/1"
OTHER_LB = "arn:lb/app/other/2"
KNOWN = {
    "a": TargetGroupFacts("HTTP", (LB,)),
    "b": TargetGroupFacts("HTTP"),
    "c": TargetGroupFacts("HTTPS"),
    "d": TargetGroupFacts("HTTP"),
    "e": TargetGroupFacts("HTTP"),
    "f": TargetGroupFacts("HTTP"),
    "lambda": TargetGroupFacts(None),
    "tcp": TargetGroupFacts("TCP"),
    "taken": TargetGroupFacts("HTTP", (OTHER_LB,)),
}


def tuples(*weights: tuple[str, Any]) -> dict[str, Any]:
    """A forward over (arn, weight) pairs; a weight of None is left out."""
    groups = [
        {"TargetGroupArn": arn} | ({} if weight is None else {"Weight": weight})
        for arn, weight in weights
    ]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


def sticky(action: dict[str, Any], **stickiness: Any) -> dict[str, Any]:
    action["ForwardConfig"]["TargetGroupStickinessConfig"] = stickiness
    return action


def both(arn: str, *weights: tuple[str, Any]) -> dict[str, Any]:
    """A forward with a TargetGroupArn and a ForwardConfig over ``weights``."""
    return tuples(*weights) | {"TargetGroupArn": arn}


def kept(*weights: tuple[str, int], arn: str | None = None, **stickiness: Any) -> dict[str, Any]:
    """A forward as ELB keeps it: the ForwardConfig, stickiness off unless given, and ``arn``."""
    groups = [{"TargetGroupArn": a, "Weight": w} for a, w in weights]
    config = {"TargetGroups": groups, "TargetGroupStickinessConfig": stickiness or NO_STICKINESS}
    return {"Type": "forward", "ForwardConfig": config} | ({"TargetGroupArn": arn} if arn else {})


NO_STICKINESS = {"Enabled": False}


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("one target group by ARN", {"Type": "forward", "TargetGroupArn": "a"}),
    ("one tuple without weight", tuples(("a", None))),
    ("blue 100 green 0", tuples(("a", 100), ("b", 0))),
    ("weights at the bounds", tuples(("a", 0), ("b", 999))),
    ("every weight 0", tuples(("a", 0), ("b", 0))),
    ("five target groups", tuples(("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1))),
    ("ARN and the same one in ForwardConfig", both("a", ("a", 5))),
    (
        "stickiness on for a week",
        sticky(tuples(("a", 1), ("b", 1)), Enabled=True, DurationSeconds=604800),
    ),
    ("stickiness off", sticky(tuples(("a", 1), ("b", 1)), Enabled=False)),
    ("a Lambda target group", tuples(("lambda", 1), ("a", 1))),
    ("an HTTPS target group", tuples(("c", 1))),
    ("not a forward", {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}),
]  # fmt: skip


@pytest.mark.parametrize("action", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_what_elb_accepts(action: dict[str, Any]) -> None:
    assert refusal([action], balancer_arn=LB, balancer_type="application", known=KNOWN) is None


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("weight 1000", tuples(("a", 1000), ("b", 0)), "ValidationError", WEIGHT_RANGE),
    ("weight -1", tuples(("a", -1), ("b", 1)), "ValidationError", WEIGHT_RANGE),
    ("lone weight 1000", tuples(("a", 1000)), "ValidationError", WEIGHT_RANGE),
    ("two without weights", tuples(("a", None), ("b", None)), "ValidationError", WEIGHT_RANGE),
    ("one of two without", tuples(("a", 1), ("b", None)), "ValidationError", WEIGHT_RANGE),
    ("a weight that is text", tuples(("a", "1"), ("b", 1)), "ValidationError", WEIGHT_RANGE),
    (
        "six target groups",
        tuples(("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1)),
        "ValidationError", TOO_MANY,
    ),
    ("the same twice", tuples(("a", 1), ("a", 2)), "ValidationError", "more than once"),
    ("ARN and another in ForwardConfig", both("a", ("b", 1)), "ValidationError", MISMATCH),
    ("ARN and two in ForwardConfig", both("a", ("a", 1), ("b", 1)), "ValidationError", MISMATCH),
    ("neither ARN nor ForwardConfig", {"Type": "forward"}, "ValidationError", NOWHERE),
    ("an empty ForwardConfig", tuples(), "ValidationError", NOWHERE),
    (
        "stickiness on without a duration",
        sticky(tuples(("a", 1)), Enabled=True), "ValidationError", STICKINESS,
    ),
    (
        "stickiness of 0 s",
        sticky(tuples(("a", 1)), Enabled=True, DurationSeconds=0), "ValidationError", STICKINESS,
    ),
    (
        "stickiness over a week",
        sticky(tuples(("a", 1)), Enabled=True, DurationSeconds=604801),
        "ValidationError", STICKINESS,
    ),
    ("an unknown target group", tuples(("a", 1), ("nope", 1)), "TargetGroupNotFound", "'nope'"),
    (
        "an unknown ARN alone",
        {"Type": "forward", "TargetGroupArn": "nope"}, "TargetGroupNotFound", "nope",
    ),
    ("a TCP target group", tuples(("a", 1), ("tcp", 1)), "IncompatibleProtocols", "not valid"),
    (
        "another load balancer's target group",
        tuples(("a", 1), ("taken", 0)),
        "TargetGroupAssociationLimit", "with more than one load balancer: 'taken'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "code", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_what_elb_refuses(action: dict[str, Any], code: str, message: str) -> None:
    found = refusal([action], balancer_arn=LB, balancer_type="application", known=KNOWN)
    assert found is not None
    assert found.code == code
    assert message in found.message


def test_a_network_load_balancer_may_forward_to_tcp() -> None:
    action = tuples(("tcp", 1))
    assert refusal([action], balancer_arn=LB, balancer_type="network", known=KNOWN) is None


def test_the_first_refused_action_decides() -> None:
    actions = [tuples(("a", 1)), tuples(("nope", 1)), tuples(("a", 1000))]
    found = refusal(actions, balancer_arn=LB, balancer_type="application", known=KNOWN)
    assert found is not None and found.code == "TargetGroupNotFound"


REDIRECT = {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}
KEPT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("an ARN gets its ForwardConfig", {"Type": "forward", "TargetGroupArn": "a"},
     kept(("a", 1), arn="a")),
    ("a lone tuple gets its ARN, weight kept", tuples(("a", 0)), kept(("a", 0), arn="a")),
    ("two tuples: ForwardConfig only, weights as written", tuples(("a", 100), ("b", 0)),
     kept(("a", 100), ("b", 0))),
    (
        "stickiness as written, Order kept",
        sticky(tuples(("a", 90), ("b", 10)), Enabled=True, DurationSeconds=300) | {"Order": 1},
        kept(("a", 90), ("b", 10), Enabled=True, DurationSeconds=300) | {"Order": 1},
    ),
    ("not a forward: as written", REDIRECT, REDIRECT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "kept"), [c[1:] for c in KEPT], ids=[c[0] for c in KEPT]
)  # fmt: skip
def test_the_form_elb_keeps(written: dict[str, Any], kept: dict[str, Any]) -> None:
    before = repr(written)
    assert canonical(written) == kept
    assert repr(written) == before  # a copy: the request is not changed


# -- against the sandbox -----------------------------------------------------------------------


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
    restore(forwarding.ELBv2Backend, "modify_listener")
    try:
        modify(aws, seeded, action)
    finally:
        forwarding.install()
    (found,) = default_actions(aws, seeded)
    assert found["ForwardConfig"]["TargetGroups"][0]["Weight"] == 1000
    assert refused(lambda: modify(aws, seeded, action))[0] == "ValidationError"
