"""What ELB refuses in a forward action, and the form it keeps one in: pure functions over the
request's actions, as plain dicts.

AWS's rules for the ``forward`` actions of CreateListener, ModifyListener, CreateRule and
ModifyRule, each with its source:

- a forward names its target groups in ``TargetGroupArn`` (one) or ``ForwardConfig`` (one or
  more); with both, ``ForwardConfig`` may hold only that one target group (API_Action.html,
  [M Action.ForwardConfig]). With neither the action forwards nowhere: refused;
- a ``TargetGroupTuple``'s ``Weight`` is 0 to 999 (API_TargetGroupTuple.html,
  [M TargetGroupTuple.Weight]); with several target groups each must have one ("Forward
  actions", docs.aws.amazon.com/elasticloadbalancing/latest/application/
  load-balancer-listeners.html#forward-actions). AWS refuses both with "The weight for each
  target group must be between 0 and 999, inclusive" (a CreateListener whose two target groups
  had none, github.com/aws/aws-cdk/issues/24805). CloudTrail named it ValidationException; on
  the wire that is taken to be ValidationError, as CloudTrail's TargetGroupNotFoundException is
  the code TargetGroupNotFound (unconfirmed for this error);
- at most 5 target groups per action ("Target groups per action", ELB-quotas in aws-facts 7:
  docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html), and
  the same one only once (a tuple is a target group's share; API_ForwardActionConfig.html);
- ``TargetGroupStickinessConfig.DurationSeconds`` is 1 to 604800 and must be given when
  stickiness is enabled ([M TargetGroupStickinessConfig.DurationSeconds]);
- every target group must exist: ``TargetGroupNotFound`` (API_ModifyListener.html,
  API_ModifyRule.html, API_CreateRule.html errors);
- an Application Load Balancer forwards to HTTP or HTTPS target groups (or Lambda ones, which
  have no protocol): ``IncompatibleProtocols``, "The specified configuration is not valid with
  this protocol" ([M IncompatibleProtocolsException]);
- "You can use each target group with only one load balancer" ([M TargetGroup.
  LoadBalancerArns]): ``TargetGroupAssociationLimit``, "The following target groups cannot be
  associated with more than one load balancer: …" (hashicorp/terraform-provider-aws#22005).

Where AWS's wording is not on record (the neither-nor, too-many, duplicate and stickiness
refusals; IncompatibleProtocols' is the model's description of the error) the message is the
sandbox's own; the codes are
ValidationError, which is what AWS answers for a request that breaks the API's documented
constraints. The 5-per-action quota's own error code is not documented either (TooManyTargetGroups
is the account's quota of target groups, [M TooManyTargetGroupsException]): ValidationError too.

The kept form (``canonical``) is what DescribeListeners and DescribeRules return: a forward to
one target group carries both ``TargetGroupArn`` and a ``ForwardConfig`` holding it, with its
weight (1 when none was written) and stickiness off unless written, in whichever of the two
spellings it was sent (AWS's answer quoted in getmoto/moto#4716); a forward
to several carries only the ``ForwardConfig``, every weight as written, 0 included.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_WEIGHT = 999
MAX_TARGET_GROUPS = 5
MAX_STICKINESS_SECONDS = 604800
DEFAULT_WEIGHT = 1  # a lone target group's weight when none was written
APPLICATION_PROTOCOLS = frozenset({"HTTP", "HTTPS"})

WEIGHT_RANGE = f"The weight for each target group must be between 0 and {MAX_WEIGHT}, inclusive"
NOWHERE = "A forward action must specify a target group ARN or a forward configuration"
MISMATCH = (
    "If you specify both ForwardConfig and TargetGroupArn, you can specify only one target "
    "group using ForwardConfig and it must be the same target group specified in TargetGroupArn"
)
TOO_MANY = f"A forward action can have at most {MAX_TARGET_GROUPS} target groups"
STICKINESS = (
    "TargetGroupStickinessConfig.DurationSeconds must be between 1 and "
    f"{MAX_STICKINESS_SECONDS} seconds when target group stickiness is enabled"
)
INCOMPATIBLE = "The specified configuration is not valid with this protocol"


@dataclass(frozen=True, slots=True)
class TargetGroupFacts:
    """What the rules need to know of an existing target group."""

    protocol: str | None  # None for a Lambda target group
    load_balancer_arns: tuple[str, ...] = ()  # the load balancers it is associated with now


@dataclass(frozen=True, slots=True)
class Refusal:
    """An AWS error: its code and message."""

    code: str
    message: str


def invalid(message: str) -> Refusal:
    return Refusal("ValidationError", message)


def target_group_arns(action: Mapping[str, Any]) -> list[str]:
    """Every target group a forward action names, in order (both spellings, repeats kept)."""
    if action.get("Type") != "forward":
        return []
    config = action.get("ForwardConfig") or {}
    listed = [str(t.get("TargetGroupArn")) for t in config.get("TargetGroups") or []]
    single = action.get("TargetGroupArn")
    return listed if listed else ([str(single)] if single else [])


def refusal(
    actions: Sequence[Mapping[str, Any]],
    *,
    balancer_arn: str,
    balancer_type: str,
    known: Mapping[str, TargetGroupFacts],
) -> Refusal | None:
    """The first thing AWS refuses in these actions (checked in order), or None."""
    for action in actions:
        if action.get("Type") != "forward":
            continue
        found = shape_refusal(action) or _target_group_refusal(
            target_group_arns(action), balancer_arn, balancer_type, known
        )
        if found is not None:
            return found
    return None


def shape_refusal(action: Mapping[str, Any]) -> Refusal | None:
    """What AWS refuses in one forward action on its own, before looking anything up."""
    config = action.get("ForwardConfig")
    tuples = list((config or {}).get("TargetGroups") or [])
    single = action.get("TargetGroupArn")
    if not tuples and not single:
        return invalid(NOWHERE)
    if single and config is not None and [t.get("TargetGroupArn") for t in tuples] != [single]:
        return invalid(MISMATCH)
    if len(tuples) > MAX_TARGET_GROUPS:
        return invalid(TOO_MANY)
    arns = [t.get("TargetGroupArn") for t in tuples]
    repeated = sorted({str(arn) for arn in arns if arns.count(arn) > 1})
    if repeated:
        return invalid(f"Target group '{repeated[0]}' is specified more than once")
    if any(not _weight_ok(t, len(tuples)) for t in tuples):
        return invalid(WEIGHT_RANGE)
    return _stickiness_refusal((config or {}).get("TargetGroupStickinessConfig"))


def _weight_ok(group: Mapping[str, Any], count: int) -> bool:
    weight = group.get("Weight")
    if weight is None:
        return count == 1
    return isinstance(weight, int) and not isinstance(weight, bool) and 0 <= weight <= MAX_WEIGHT


def _stickiness_refusal(stickiness: Mapping[str, Any] | None) -> Refusal | None:
    if not stickiness:
        return None
    duration = stickiness.get("DurationSeconds")
    if duration is None:
        return invalid(STICKINESS) if stickiness.get("Enabled") else None
    if not 1 <= int(duration) <= MAX_STICKINESS_SECONDS:
        return invalid(STICKINESS)
    return None


def _target_group_refusal(
    arns: Sequence[str], balancer_arn: str, balancer_type: str,
    known: Mapping[str, TargetGroupFacts],
) -> Refusal | None:  # fmt: skip
    for arn in arns:
        if arn not in known:
            return Refusal("TargetGroupNotFound", f"Target group '{arn}' not found")
    for arn in arns:
        facts = known[arn]
        if balancer_type == "application" and facts.protocol not in (
            *APPLICATION_PROTOCOLS,
            None,
        ):
            return Refusal("IncompatibleProtocols", INCOMPATIBLE)
    elsewhere = [arn for arn in arns if set(known[arn].load_balancer_arns) - {balancer_arn}]
    if elsewhere:
        return Refusal(
            "TargetGroupAssociationLimit",
            "The following target groups cannot be associated with more than one load "
            "balancer: " + ", ".join(f"'{arn}'" for arn in dict.fromkeys(elsewhere)),
        )
    return None


def canonical(action: Mapping[str, Any]) -> dict[str, Any]:
    """The action as ELB keeps and describes it (a copy; actions that are not forwards as given)."""
    kept = copy.deepcopy(dict(action))
    if kept.get("Type") != "forward":
        return kept
    config = kept.get("ForwardConfig") or {}
    tuples = [dict(t) for t in config.get("TargetGroups") or []]
    if not tuples and kept.get("TargetGroupArn"):
        tuples = [{"TargetGroupArn": kept["TargetGroupArn"]}]
    if len(tuples) == 1:
        tuples[0].setdefault("Weight", DEFAULT_WEIGHT)
        kept["TargetGroupArn"] = tuples[0]["TargetGroupArn"]
    else:
        kept.pop("TargetGroupArn", None)
    stickiness = dict(config.get("TargetGroupStickinessConfig") or {"Enabled": False})
    stickiness.setdefault("Enabled", False)
    kept["ForwardConfig"] = {"TargetGroups": tuples, "TargetGroupStickinessConfig": stickiness}
    return kept
