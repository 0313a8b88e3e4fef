"""Blue/green's forward: finding the listener (or rule) desired.yaml names, and reading its
weights back, for observe and for apply's check after every weight write.

AWS reads a forward back in one of two shapes (ELB API reference, ``Action`` and
``ForwardActionConfig``): ``ForwardConfig.TargetGroups`` with each ``Weight``, or a single
``TargetGroupArn`` (which sends everything to that target group). Both become a weight per
target group ARN here, so every reader compares the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ListenerRef, ObservedForward

_SINGLE_TARGET_WEIGHT = 1  # one TargetGroupArn: all traffic, whatever its weight would be


def routing_action(actions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The action that routes: the last by Order (authenticate actions come first)."""
    ordered = sorted(actions, key=lambda a: int(a.get("Order", 0)))
    return ordered[-1] if ordered else None


def weights_of(action: Mapping[str, Any] | None) -> dict[str, int]:
    """Target group ARN → weight of a forward action; empty for any other type."""
    if action is None or action.get("Type") != "forward":
        return {}
    groups = action.get("ForwardConfig", {}).get("TargetGroups")
    if groups:
        return {str(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
    arn = action.get("TargetGroupArn")
    return {str(arn): _SINGLE_TARGET_WEIGHT} if arn else {}


def forward_actions(weights: Mapping[str, int]) -> list[dict[str, Any]]:
    """The Actions / DefaultActions that forward with ``weights``, in ForwardConfig form."""
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]


def read_forward(
    aws: Aws, region: str, *, listener_arn: str, rule_arn: str | None
) -> dict[str, int]:
    """The weights AWS holds now for the listener's default action, or the rule's."""
    if rule_arn is None:
        found = aws.call("elbv2", "describe_listeners", region=region, ListenerArns=[listener_arn])
        actions = found["Listeners"][0].get("DefaultActions", [])
    else:
        found = aws.call("elbv2", "describe_rules", region=region, RuleArns=[rule_arn])
        actions = found["Rules"][0].get("Actions", [])
    return weights_of(routing_action(actions))


def observe_forward(aws: Aws, region: str, ref: ListenerRef) -> ObservedForward | None:
    """The forward desired.yaml names, or None when the load balancer, the listener on that
    port or the rule of that priority does not exist."""
    balancer = _balancer_arn(aws, region, ref.load_balancer)
    if balancer is None:
        return None
    listeners = aws.call("elbv2", "describe_listeners", region=region, LoadBalancerArn=balancer)
    listener = next((li for li in listeners["Listeners"] if li.get("Port") == ref.port), None)
    if listener is None:
        return None
    if ref.rule_priority is None:
        return _forward(listener, balancer, rule=None, actions=listener.get("DefaultActions", []))
    rules = aws.call("elbv2", "describe_rules", region=region, ListenerArn=listener["ListenerArn"])
    rule = next((r for r in rules["Rules"] if r.get("Priority") == str(ref.rule_priority)), None)
    if rule is None:
        return None
    return _forward(listener, balancer, rule=rule["RuleArn"], actions=rule.get("Actions", []))


def _forward(
    listener: Mapping[str, Any],
    balancer: str,
    *,
    rule: str | None,
    actions: Sequence[Mapping[str, Any]],
) -> ObservedForward:
    action = routing_action(actions)
    return ObservedForward(
        listener_arn=str(listener["ListenerArn"]),
        load_balancer_arn=balancer,
        rule_arn=rule,
        action_type=str(action.get("Type", "")) if action else "",
        weights=weights_of(action),
    )


def _balancer_arn(aws: Aws, region: str, name: str) -> str | None:
    # By listing, like target groups: Names= fails the whole call for one missing name.
    for page in aws.pages("elbv2", "describe_load_balancers", region=region):
        for balancer in page.get("LoadBalancers", []):
            if balancer.get("LoadBalancerName") == name:
                return str(balancer["LoadBalancerArn"])
    return None
