"""Execute a ``Plan`` against AWS, action by action, in the plan's order. Decides nothing.

Every write is safe to repeat after a crash: launch template versions carry a deterministic
ClientToken, refreshes name an explicit version number, and cancelling a refresh that has already
ended is treated as done. There is one handler per kind of action; ``_run`` dispatches on the
action's type, and mypy checks that every kind has its handler.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, assert_never

import structlog

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    NEW_VERSION,
    POLICY_METRIC,
    POLICY_TYPE,
    TAG_FAILED_FINGERPRINT,
    TAG_FAILED_REASON,
    TAG_RETRIED_REFRESH,
    TAG_VALUE_LIMIT,
    Action,
    ApplyResult,
    CancelInstanceRefresh,
    ClearFailed,
    CreateLaunchTemplateVersion,
    DeleteScalingPolicy,
    HealthCheckSpec,
    MarkFailed,
    ModifyTargetGroup,
    NewVersion,
    Plan,
    PutScalingPolicy,
    RecordSide,
    Resource,
    RollbackInstanceRefresh,
    SetForwardWeights,
    StartInstanceRefresh,
    TagResource,
    UpdateAutoScalingGroup,
    fields,
)
from reconciler.pipeline.apply_weights import set_forward_weights

log = structlog.get_logger("reconciler.pipeline.apply")


@dataclass(frozen=True)
class _Context:
    aws: Aws
    region: str
    result: ApplyResult


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
        _run(ctx, action)
        ctx.result.done.append(action)
    return ctx.result


def _run(ctx: _Context, action: Action) -> None:
    match action:
        case ClearFailed():
            _clear_failed(ctx, action)
        case ModifyTargetGroup():
            _modify_target_group(ctx, action)
        case TagResource():
            _tag_resource(ctx, action)
        case CreateLaunchTemplateVersion():
            _create_version(ctx, action)
        case UpdateAutoScalingGroup():
            _update_group(ctx, action)
        case SetForwardWeights():
            set_forward_weights(ctx.aws, ctx.region, action)
        case PutScalingPolicy():
            _put_policy(ctx, action)
        case DeleteScalingPolicy():
            _delete_policy(ctx, action)
        case CancelInstanceRefresh():
            _cancel_refresh(ctx, action)
        case StartInstanceRefresh():
            _start_refresh(ctx, action)
        case RollbackInstanceRefresh():
            _rollback_refresh(ctx, action)
        case RecordSide():
            _tag_group(ctx, group=action.resource_name, tags=dict(action.tags))
        case MarkFailed():
            _mark_failed(ctx, action)
        case _:
            assert_never(action)


def _modify_target_group(ctx: _Context, action: ModifyTargetGroup) -> None:
    ctx.aws.call(
        "elbv2",
        "modify_target_group",
        region=ctx.region,
        resource=action.resource_name,
        TargetGroupArn=action.target_group_arn,
        **health_check_params(action.health_check),
    )


def health_check_params(hc: HealthCheckSpec) -> dict[str, Any]:
    """A health check in the shape ELB's CreateTargetGroup and ModifyTargetGroup take."""
    return fields.to_aws(
        fields.HEALTH_CHECK, {f.attr: getattr(hc, f.attr) for f in fields.HEALTH_CHECK}
    )


def _tag_resource(ctx: _Context, action: TagResource) -> None:
    tags = dict(action.tags)
    if action.resource_type is Resource.AUTO_SCALING_GROUP:
        _tag_group(ctx, group=action.resource_id, tags=tags)
    elif action.resource_type is Resource.LAUNCH_TEMPLATE:
        ctx.aws.call(
            "ec2",
            "create_tags",
            region=ctx.region,
            resource=action.resource_name,
            Resources=[action.resource_id],
            Tags=_key_values(tags),
        )
    elif action.resource_type is Resource.TARGET_GROUP:
        ctx.aws.call(
            "elbv2",
            "add_tags",
            region=ctx.region,
            resource=action.resource_name,
            ResourceArns=[action.resource_id],
            Tags=_key_values(tags),
        )
    else:
        raise errors.PermanentError(f"cannot tag a {action.resource_type.value}")


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


def _create_version(ctx: _Context, action: CreateLaunchTemplateVersion) -> None:
    encoded = base64.b64encode(action.user_data.encode("utf-8")).decode("ascii")
    response = ctx.aws.call(
        "ec2",
        "create_launch_template_version",
        region=ctx.region,
        resource=action.resource_name,
        LaunchTemplateId=action.launch_template_id,
        SourceVersion=str(action.source_version),
        VersionDescription=action.description,
        ClientToken=action.client_token,
        LaunchTemplateData={"UserData": encoded},
    )
    ctx.result.created_version = int(response["LaunchTemplateVersion"]["VersionNumber"])


def _update_group(ctx: _Context, action: UpdateAutoScalingGroup) -> None:
    params = fields.to_aws(fields.GROUP, action.settings)
    if action.pin is not None:
        version = action.pin.version
        if version == NEW_VERSION:  # blue/green's idle side, onto the version just created
            version = str(_version(ctx, NEW_VERSION))
        params["LaunchTemplate"] = {
            "LaunchTemplateId": action.pin.launch_template_id,
            "Version": version,
        }
    ctx.aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        **params,
    )


def _put_policy(ctx: _Context, action: PutScalingPolicy) -> None:
    ctx.aws.call(
        "autoscaling",
        "put_scaling_policy",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        PolicyName=action.policy_name,
        PolicyType=POLICY_TYPE,
        Enabled=action.enabled,
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": POLICY_METRIC},
            "TargetValue": float(action.target_value),
            "DisableScaleIn": action.disable_scale_in,
        },
    )


def _delete_policy(ctx: _Context, action: DeleteScalingPolicy) -> None:
    ctx.aws.call(
        "autoscaling",
        "delete_policy",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        PolicyName=action.policy_name,
    )


def _cancel_refresh(ctx: _Context, action: CancelInstanceRefresh) -> None:
    # Ended between observe and now: the goal (no refresh in flight) holds.
    with _unless_ended(group=action.resource_name):
        ctx.aws.call(
            "autoscaling",
            "cancel_instance_refresh",
            region=ctx.region,
            resource=action.resource_name,
            AutoScalingGroupName=action.resource_name,
        )


def _start_refresh(ctx: _Context, action: StartInstanceRefresh) -> None:
    response = ctx.aws.call(
        "autoscaling",
        "start_instance_refresh",
        region=ctx.region,
        resource=action.resource_name,
        AutoScalingGroupName=action.resource_name,
        Strategy="Rolling",
        DesiredConfiguration={
            "LaunchTemplate": {
                "LaunchTemplateId": action.launch_template_id,
                "Version": str(_version(ctx, action.version)),
            }
        },
        Preferences=dict(action.preferences),
    )
    ctx.result.refresh_id = str(response["InstanceRefreshId"])


def _version(ctx: _Context, version: int | NewVersion) -> int:
    if version != NEW_VERSION:
        return version
    if ctx.result.created_version is None:
        raise errors.PermanentError("plan refers to a new launch template version it never made")
    return ctx.result.created_version


def _rollback_refresh(ctx: _Context, action: RollbackInstanceRefresh) -> None:
    # Ended between observe and now: the next tick reads how, and the marker written next
    # keeps the revision from being retried either way.
    with _unless_ended(group=action.resource_name):
        ctx.aws.call(
            "autoscaling",
            "rollback_instance_refresh",
            region=ctx.region,
            resource=action.resource_name,
            AutoScalingGroupName=action.resource_name,
        )


@contextlib.contextmanager
def _unless_ended(*, group: str) -> Iterator[None]:
    """A cancel or rollback that finds no refresh active: it ended on its own meanwhile."""
    try:
        yield
    except errors.AwsApiError as exc:
        if exc.code != "ActiveInstanceRefreshNotFound":
            raise
        log.info("refresh_already_ended", group=group)


def _mark_failed(ctx: _Context, action: MarkFailed) -> None:
    # The reason beside the marker: AWS's refresh history keeps no analysis numbers.
    tags = {
        TAG_FAILED_FINGERPRINT: action.fingerprint,
        TAG_FAILED_REASON: action.reason[:TAG_VALUE_LIMIT],
    }
    _tag_group(ctx, group=action.resource_name, tags=tags)


def _clear_failed(ctx: _Context, action: ClearFailed) -> None:
    if action.retried_refresh:
        _tag_group(
            ctx, group=action.resource_name, tags={TAG_RETRIED_REFRESH: action.retried_refresh}
        )
    ctx.aws.call(
        "autoscaling",
        "delete_tags",
        region=ctx.region,
        resource=action.resource_name,
        Tags=[
            {"ResourceId": action.resource_name, "ResourceType": "auto-scaling-group", "Key": key}
            for key in (TAG_FAILED_FINGERPRINT, TAG_FAILED_REASON)
        ],
    )
