"""Execute a ``Plan`` against AWS, action by action, in the plan's order. Decides nothing.

Every write is safe to repeat after a crash: launch template versions carry a deterministic
ClientToken, refreshes name an explicit version number, and cancelling a refresh that has already
ended is treated as done.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    NEW_VERSION,
    POLICY_METRIC,
    POLICY_TYPE,
    TAG_FAILED_FINGERPRINT,
    TAG_RETRIED_REFRESH,
    Action,
    ActionKind,
    ApplyResult,
    HealthCheckSpec,
    Plan,
    Resource,
    fields,
)

log = structlog.get_logger("reconciler.pipeline.apply")


@dataclass(frozen=True)
class _Context:
    aws: Aws
    region: str
    result: ApplyResult


Handler = Callable[[_Context, Action], None]


def apply(aws: Aws, plan: Plan, *, region: str) -> ApplyResult:
    """Run the plan's actions in order. Stops at the first error, which propagates."""
    ctx = _Context(aws=aws, region=region, result=ApplyResult(service=plan.service))
    for action in sorted(plan.actions, key=lambda a: a.kind):
        log.info(
            "apply",
            service=plan.service,
            action=action.kind.name.lower(),
            resource=action.resource_name,
            reason=action.reason,
        )
        _HANDLERS[action.kind](ctx, action)
        ctx.result.done.append(action)
    return ctx.result


def _modify_target_group(ctx: _Context, action: Action) -> None:
    hc: HealthCheckSpec = action.params["health_check"]
    ctx.aws.call(
        "elbv2",
        "modify_target_group",
        region=ctx.region,
        resource=action.resource_name,
        TargetGroupArn=action.params["target_group_arn"],
        **health_check_params(hc),
    )


def health_check_params(hc: HealthCheckSpec) -> dict[str, Any]:
    """A health check in the shape ELB's CreateTargetGroup and ModifyTargetGroup take."""
    return fields.to_aws(
        fields.HEALTH_CHECK, {f.attr: getattr(hc, f.attr) for f in fields.HEALTH_CHECK}
    )


def _tag_resource(ctx: _Context, action: Action) -> None:
    kind = Resource(action.params["resource_type"])
    resource_id: str = action.params["resource_id"]
    tags: dict[str, str] = dict(action.params["tags"])
    if kind is Resource.AUTO_SCALING_GROUP:
        _tag_group(ctx, group=resource_id, tags=tags)
    elif kind is Resource.LAUNCH_TEMPLATE:
        ctx.aws.call(
            "ec2",
            "create_tags",
            region=ctx.region,
            resource=action.resource_name,
            Resources=[resource_id],
            Tags=_key_values(tags),
        )
    elif kind is Resource.TARGET_GROUP:
        ctx.aws.call(
            "elbv2",
            "add_tags",
            region=ctx.region,
            resource=action.resource_name,
            ResourceArns=[resource_id],
            Tags=_key_values(tags),
        )
    else:
        raise errors.PermanentError(f"cannot tag a {kind.value}")


def _key_values(tags: dict[str, str]) -> list[dict[str, str]]:
    """EC2's and ELB's tag shape (Auto Scaling's carries the resource in each tag)."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tag_group(ctx: _Context, *, group: str, tags: dict[str, str]) -> None:
    ctx.aws.call(
        "autoscaling",
        "create_or_update_tags",
        region=ctx.region,
        resource=group,
        Tags=[
            {
                "ResourceId": group,
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": False,
            }
            for key, value in tags.items()
        ],
    )


def _create_version(ctx: _Context, action: Action) -> None:
    params = action.params
    encoded = base64.b64encode(str(params["user_data"]).encode("utf-8")).decode("ascii")
    response = ctx.aws.call(
        "ec2",
        "create_launch_template_version",
        region=ctx.region,
        resource=action.resource_name,
        LaunchTemplateId=params["launch_template_id"],
        SourceVersion=str(params["source_version"]),
        VersionDescription=params["description"],
        ClientToken=params["client_token"],
        LaunchTemplateData={"UserData": encoded},
    )
    ctx.result.created_version = int(response["LaunchTemplateVersion"]["VersionNumber"])


def _update_group(ctx: _Context, action: Action) -> None:
    ctx.aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        **dict(action.params["fields"]),
    )


def _put_policy(ctx: _Context, action: Action) -> None:
    ctx.aws.call(
        "autoscaling",
        "put_scaling_policy",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        PolicyName=action.params["policy_name"],
        PolicyType=POLICY_TYPE,
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": POLICY_METRIC},
            "TargetValue": float(action.params["target_value"]),
        },
    )


def _delete_policy(ctx: _Context, action: Action) -> None:
    ctx.aws.call(
        "autoscaling",
        "delete_policy",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        PolicyName=action.params["policy_name"],
    )


def _cancel_refresh(ctx: _Context, action: Action) -> None:
    try:
        ctx.aws.call(
            "autoscaling",
            "cancel_instance_refresh",
            region=ctx.region,
            resource=action.resource_name,
            AutoScalingGroupName=action.resource_name,
        )
    except errors.AwsApiError as exc:
        # It ended between observe and now: the goal (no refresh in flight) holds.
        if exc.code != "ActiveInstanceRefreshNotFound":
            raise


def _start_refresh(ctx: _Context, action: Action) -> None:
    params = action.params
    response = ctx.aws.call(
        "autoscaling",
        "start_instance_refresh",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        Strategy="Rolling",
        DesiredConfiguration={
            "LaunchTemplate": {
                "LaunchTemplateId": params["launch_template_id"],
                "Version": str(_version(ctx, params["version"])),
            }
        },
        Preferences=dict(params["preferences"]),
    )
    ctx.result.refresh_id = str(response["InstanceRefreshId"])


def _version(ctx: _Context, version: Any) -> int:
    if version != NEW_VERSION:
        return int(version)
    if ctx.result.created_version is None:
        raise errors.PermanentError("plan refers to a new launch template version it never made")
    return ctx.result.created_version


def _mark_failed(ctx: _Context, action: Action) -> None:
    _tag_group(
        ctx,
        group=action.resource_name,
        tags={TAG_FAILED_FINGERPRINT: str(action.params["fingerprint"])},
    )


def _clear_failed(ctx: _Context, action: Action) -> None:
    retried = str(action.params.get("retried_refresh", ""))
    if retried:
        _tag_group(ctx, group=action.resource_name, tags={TAG_RETRIED_REFRESH: retried})
    ctx.aws.call(
        "autoscaling",
        "delete_tags",
        region=ctx.region,
        resource=action.resource_name,
        Tags=[
            {
                "ResourceId": action.resource_name,
                "ResourceType": "auto-scaling-group",
                "Key": TAG_FAILED_FINGERPRINT,
            }
        ],
    )


_HANDLERS: dict[ActionKind, Handler] = {
    ActionKind.CLEAR_FAILED: _clear_failed,
    ActionKind.MODIFY_TARGET_GROUP: _modify_target_group,
    ActionKind.TAG_RESOURCE: _tag_resource,
    ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION: _create_version,
    ActionKind.UPDATE_AUTO_SCALING_GROUP: _update_group,
    ActionKind.PUT_SCALING_POLICY: _put_policy,
    ActionKind.DELETE_SCALING_POLICY: _delete_policy,
    ActionKind.CANCEL_INSTANCE_REFRESH: _cancel_refresh,
    ActionKind.START_INSTANCE_REFRESH: _start_refresh,
    ActionKind.MARK_FAILED: _mark_failed,
}
