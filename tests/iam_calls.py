"""Each recorded AWS call as the IAM authorization requests AWS evaluates for it, and their verdict.

A call is allowed when every request it makes is allowed (AWS authorizes each resource of an
operation on its own, and ``UpdateAutoScalingGroup`` / ``StartInstanceRefresh`` that point a group
at a launch template make Auto Scaling check the caller's launch permissions as well).

Where the mapping comes from (AWS Service Authorization Reference, "Actions, resources, and
condition keys for ...", https://docs.aws.amazon.com/service-authorization/latest/reference/):

- ``list_amazonec2autoscaling.html``: the group writes act on the ``autoScalingGroup`` resource
  (``arn:aws:autoscaling:R:A:autoScalingGroup:ID:autoScalingGroupName/NAME``) with
  ``aws:ResourceTag/*``; ``CreateOrUpdateTags`` adds ``aws:RequestTag/*`` and ``aws:TagKeys``,
  ``DeleteTags`` adds ``aws:TagKeys``; the Describe actions support no resource (``*``).
- ``list_amazonec2.html``: ``CreateLaunchTemplateVersion`` and ``CreateTags`` act on
  ``launch-template/ID`` (``aws:ResourceTag/*``; ``CreateTags`` with ``aws:RequestTag/*`` and
  ``aws:TagKeys``); ``RunInstances`` authorizes each resource of the launch (instance, volume,
  network interface, security groups, subnets, image and the launch template), each with
  ``ec2:LaunchTemplate``; tags at launch are ``CreateTags`` with ``ec2:CreateAction``.
- ``list_awselasticloadbalancingv2.html``: ``ModifyTargetGroup`` and ``AddTags`` act on
  ``targetgroup/NAME/ID`` (``aws:ResourceTag/*``; ``AddTags`` with ``aws:RequestTag/*`` and
  ``aws:TagKeys``); ``DescribeTargetGroups`` / ``DescribeTags`` support no resource.
- ``list_amazonelasticcontainerregistry.html``: ``DescribeImages`` acts on ``repository/NAME``.
- ``list_amazondynamodb.html``: item and table actions act on ``table/NAME``.
- ``list_awsidentityandaccessmanagementiam.html``: ``iam:PassRole`` on the role, with
  ``iam:PassedToService``.
- ``list_amazoncloudwatch.html``: ``DescribeAlarms`` acts on ``alarm:NAME`` (a call without
  names on ``alarm:*``: derived, unconfirmed); ``GetMetricData`` supports no resource.
- Auto Scaling's launch checks: "Control Amazon EC2 launch template usage in Auto Scaling groups"
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-launch-template-permissions.html)
  and "Amazon EC2 Auto Scaling API permissions"
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-api-permissions.html):
  creating or updating a group with a launch template checks ``ec2:RunInstances``, plus
  ``iam:PassRole`` "when ... a launch template that specifies an instance profile ... is
  provided" and ``ec2:CreateTags`` when it tags at launch. The Service Authorization Reference
  lists ``iam:PassRole`` as a dependent action of ``UpdateAutoScalingGroup``. That
  ``StartInstanceRefresh`` with a ``DesiredConfiguration`` launch template makes the same checks
  is a field report ("You are not authorized to use launch template" from StartInstanceRefresh,
  fixed by ``iam:PassRole`` for the profile's role; https://gist.github.com/arianvp/643f6862dfebda243cac9de8f0bd8492),
  not in AWS's docs: modelled, unconfirmed. ``CreateLaunchTemplateVersion`` passes no role (its
  only dependent action is ``ssm:GetParameters``): EC2 checks the role when an instance is
  launched from the version, not when the version is written. ``RollbackInstanceRefresh`` acts on
  the group only (no dependent action listed; unconfirmed whether Auto Scaling checks launch
  permissions for the previous configuration, so the policy allows them anyway).

``test_iam.py`` also checks every condition key used here against parliament's copy of the
Service Authorization Reference, so a key that AWS does not evaluate for an action fails there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.model import TAG_OWNER
from reconciler.sandbox.seed import GROUP, TARGET_GROUP
from tests.conftest import REGION

ACCOUNT = "123456789012"  # moto's account
OWNER = "asg-reconciler"
TEMPLATE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0123456789abcdef0"

ContextValue = str | list[str]

# IAM's service prefix for each botocore service name.
PREFIX = {
    "autoscaling": "autoscaling",
    "ec2": "ec2",
    "elbv2": "elasticloadbalancing",
    "ecr": "ecr",
    "dynamodb": "dynamodb",
    "cloudwatch": "cloudwatch",
}


@dataclass(frozen=True)
class Resource:
    """A resource a call acts on, with its tags at the moment of the call."""

    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Launch:
    """What Auto Scaling checks when a group is pointed at a launch template version."""

    template: Resource
    data: Mapping[str, Any]  # the version's LaunchTemplateData
    subnets: Sequence[str]  # subnet ARNs of the group
    role_arn: str | None  # the role of the version's instance profile


@dataclass(frozen=True)
class Call:
    """One recorded AWS call: which, with what, on which resources as they were then."""

    phase: str
    service: str  # botocore's name, e.g. "elbv2"
    operation: str  # the API name, e.g. "ModifyTargetGroup"
    params: Mapping[str, Any]
    region: str
    account: str
    resources: Sequence[Resource] = ()
    launch: Launch | None = None

    @property
    def action(self) -> str:
        return f"{PREFIX[self.service]}:{self.operation}"

    def with_resources(self, change: Callable[[Resource], Resource]) -> Call:
        """The same call on other resources (the group, target group or template it touches)."""
        launch = self.launch
        if launch is not None:
            launch = replace(launch, template=change(launch.template))
        return replace(self, resources=tuple(change(r) for r in self.resources), launch=launch)


@dataclass(frozen=True)
class Request:
    """One authorization request: what IAM evaluates."""

    action: str
    resource: str
    context: Mapping[str, ContextValue]


def requests(call: Call) -> list[Request]:
    """The authorization requests AWS makes for ``call``."""
    if not call.resources:
        return [Request(call.action, "*", {})]
    found = [Request(call.action, r.arn, _context(call, r)) for r in call.resources]
    if call.launch is not None:
        found += launch_requests(call, call.launch)
    return found


def _context(call: Call, resource: Resource) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {
        f"aws:ResourceTag/{key}": value for key, value in resource.tags.items()
    }
    written = request_tags(call)
    if written is not None:
        context.update({f"aws:RequestTag/{k}": v for k, v in written.items() if v is not None})
        context["aws:TagKeys"] = sorted(written)
    return context


def request_tags(call: Call) -> dict[str, str | None] | None:
    """The tags a tagging call writes (key → value; ``None`` for a deletion), else ``None``."""
    if call.operation not in ("CreateOrUpdateTags", "DeleteTags", "CreateTags", "AddTags"):
        return None
    tags = call.params.get("Tags", [])
    return {t["Key"]: t.get("Value") if call.operation != "DeleteTags" else None for t in tags}


def launch_requests(call: Call, launch: Launch) -> list[Request]:
    """``ec2:RunInstances`` on each resource of a launch, ``ec2:CreateTags`` for tags at launch,
    ``iam:PassRole`` for the instance profile's role."""
    region, account = call.region, call.account
    template = launch.template.arn
    context = {"ec2:LaunchTemplate": template}
    arns = [
        f"arn:aws:ec2:{region}:{account}:instance/*",
        f"arn:aws:ec2:{region}:{account}:volume/*",
        f"arn:aws:ec2:{region}:{account}:network-interface/*",
        *(
            f"arn:aws:ec2:{region}:{account}:security-group/{group}"
            for group in launch.data.get("SecurityGroupIds", [])
        ),
        *launch.subnets,
    ]
    image = str(launch.data.get("ImageId", ""))
    if image.startswith("ami-"):
        arns.append(f"arn:aws:ec2:{region}::image/{image}")
    found = [Request("ec2:RunInstances", arn, context) for arn in arns]
    tagged = {
        f"{'volume' if s['ResourceType'] == 'volume' else 'instance'}"
        for s in launch.data.get("TagSpecifications", [])
    }
    found += [
        Request(
            "ec2:CreateTags",
            f"arn:aws:ec2:{region}:{account}:{kind}/*",
            {"ec2:CreateAction": "RunInstances"},
        )
        for kind in sorted(tagged)
    ]
    resource_tags = {f"aws:ResourceTag/{k}": v for k, v in launch.template.tags.items()}
    found.append(Request("ec2:RunInstances", template, {**context, **resource_tags}))
    if launch.role_arn is not None:
        passed = {"iam:PassedToService": "ec2.amazonaws.com"}
        found.append(Request("iam:PassRole", launch.role_arn, passed))
    return found


# -- the evaluator ----------------------------------------------------------------------------


def _principalmapper_on_python_3_10_and_later() -> None:
    """principalmapper 1.1.5 (its last release, 2022) imports ``Mapping`` and ``MutableMapping``
    from ``collections``, which Python 3.10 removed; they live in ``collections.abc``. Aliasing
    them back is the whole of its incompatibility: the evaluation itself is untouched."""
    import collections
    import collections.abc

    for name in ("Mapping", "MutableMapping"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))


class Evaluator:
    """principalmapper's local policy simulation, for a role holding exactly one policy."""

    def __init__(self, document: Mapping[str, Any], *, account: str) -> None:
        _principalmapper_on_python_3_10_and_later()
        from principalmapper.common import Node, Policy  # type: ignore[import-untyped]

        role = f"arn:aws:iam::{account}:role/asg-reconciler"
        policy = Policy(f"{role}-policy", "asg-reconciler", dict(document))
        self._node = Node(
            role, "AROAASGRECONCILER", [policy], [], {}, None, 0, False, False, None, False, {}
        )

    def allows(self, request: Request) -> bool:
        from principalmapper.querying.query_interface import (  # type: ignore[import-untyped]
            local_check_authorization_full,
        )

        verdict: bool = local_check_authorization_full(
            self._node, request.action, request.resource, dict(request.context)
        )
        return verdict

    def denied(self, call: Call) -> list[Request]:
        """The requests of ``call`` the policy does not allow (empty: the call is allowed)."""
        return [r for r in requests(call) if not self.allows(r)]


# -- cases on plain data ----------------------------------------------------------------------


def document(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def is_write(call: Call) -> bool:
    return not call.operation.startswith(("Describe", "Get", "List"))


def writes(calls: Sequence[Call], phase: str) -> Counter[str]:
    """How often each write was made in ``phase``."""
    return Counter(c.operation for c in calls if c.phase == phase and is_write(c))


def denied(calls: Sequence[Call], policy: Path) -> list[tuple[str, str, Request]]:
    """(phase, operation, request) of every request of ``calls`` that ``policy`` denies."""
    evaluator = Evaluator(document(policy), account=ACCOUNT)
    return [(c.phase, c.operation, r) for c in calls for r in evaluator.denied(c)]


def tag_scoped_writes(calls: Sequence[Call]) -> list[Call]:
    return [c for c in calls if is_write(c) and c.service in ("autoscaling", "ec2", "elbv2")]


def foreign_owner(resource: Resource) -> Resource:
    return replace(resource, tags={**resource.tags, TAG_OWNER: "someone-else"})


def untagged_other(resource: Resource) -> Resource:
    """An untagged group or target group of someone else: another name, no tag of ours."""
    arn = resource.arn.replace(f"autoScalingGroupName/{GROUP}", "autoScalingGroupName/billing")
    arn = arn.replace(f"targetgroup/{TARGET_GROUP}/", "targetgroup/billing-tg/")
    tags = {k: v for k, v in resource.tags.items() if not k.startswith("asg-reconciler/")}
    return Resource(arn, tags)


def launch_call(*, template_tags: dict[str, str], role: str | None) -> Call:
    """The owned group pointed at a version of TEMPLATE whose instance profile holds ``role``."""
    group = Resource(
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:1:autoScalingGroupName/{GROUP}",
        {TAG_OWNER: OWNER},
    )
    data = {"ImageId": "ami-12345678", "SecurityGroupIds": ["sg-1"]}
    launch = Launch(Resource(TEMPLATE, template_tags), data, (), role)
    return Call(
        "unit", "autoscaling", "UpdateAutoScalingGroup", {}, REGION, ACCOUNT, (group,), launch
    )


def condition_keys(info: Mapping[str, Any]) -> set[str]:
    """The keys the Service Authorization Reference lists for an action (parliament's
    ``get_privilege_info``): its own, and those of each resource type it acts on."""
    keys: set[str] = set()
    types = set()
    for resource in info["resource_types"]:
        keys.update(resource.get("condition_keys", []))
        types.add(resource["resource_type"].rstrip("*"))
    for resource in info["service_resources"]:
        if resource["resource"] in types:
            keys.update(resource.get("condition_keys", []))
    return keys
