"""Apply's weight write for blue/green: write the forward's weights, then read them back.

A weight write is the whole of a blue/green rollback, so it is only done when AWS says it is:
ModifyListener (or ModifyRule) returns what it stored, but the read-back is the listener as
every later request sees it. A difference is a permanent error naming both sets of weights.
"""

from __future__ import annotations

from typing import Any

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import SetForwardWeights
from reconciler.pipeline.observe.forwards import forward_actions, read_forward


def set_forward_weights(aws: Aws, region: str, action: SetForwardWeights) -> None:
    actions = forward_actions(action.weights)
    where: dict[str, Any] = {"region": region, "resource": action.resource_name}
    # Each operation is named where it is called: the IAM policy test finds every call so.
    if action.rule_arn is None:
        aws.call(
            "elbv2",
            "modify_listener",
            ListenerArn=action.listener_arn,
            DefaultActions=actions,
            **where,
        )
    else:
        aws.call("elbv2", "modify_rule", RuleArn=action.rule_arn, Actions=actions, **where)
    held = read_forward(aws, region, listener_arn=action.listener_arn, rule_arn=action.rule_arn)
    if held != dict(action.weights):
        raise errors.AwsApiError(
            operation="ModifyRule" if action.rule_arn else "ModifyListener",
            code="WeightsNotApplied",
            message=f"wrote weights {dict(action.weights)}, read back {held}",
            resource=action.resource_name,
        )
