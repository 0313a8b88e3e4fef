"""AWS's response shapes parsed into the model's observed records; no calls, no caching.

Managed settings are read through ``model.fields`` so their AWS members and defaults live in
one table; everything else AWS returns is read here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler import errors
from reconciler.model import (
    HealthCheckSpec,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedTargetGroup,
    RefreshStatus,
    fields,
)
from reconciler.model.observed import RollbackDetails


def parse_group(raw: Mapping[str, Any]) -> ObservedAutoScalingGroup:
    spec = _group_template_ref(raw)
    return ObservedAutoScalingGroup(
        name=raw["AutoScalingGroupName"],
        arn=raw.get("AutoScalingGroupARN", ""),
        **fields.from_aws(fields.GROUP, raw),
        launch_template_id=spec.get("LaunchTemplateId"),
        launch_template_name=spec.get("LaunchTemplateName"),
        launch_template_version=spec.get("Version"),
        target_group_arns=_attached_target_groups(raw),
        tags=tag_map(raw.get("Tags", [])),
        instances=tuple(parse_instance(i) for i in raw.get("Instances", [])),
    )


def _attached_target_groups(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The target groups the group is attached to: AttachLoadBalancerTargetGroups lists them in
    TargetGroupARNs, AttachTrafficSources in TrafficSources (Type ``elbv2``; the Auto Scaling API
    Reference, DescribeAutoScalingGroups and TrafficSourceIdentifier), so both are read."""
    arns = list(raw.get("TargetGroupARNs", []))
    for source in raw.get("TrafficSources", []):
        if source.get("Type", "elbv2") == "elbv2" and ":targetgroup/" in source.get(
            "Identifier", ""
        ):
            arns.append(source["Identifier"])
    return tuple(dict.fromkeys(arns))


def _group_template_ref(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    if "LaunchTemplate" in raw:
        return dict(raw["LaunchTemplate"])
    mixed = raw.get("MixedInstancesPolicy", {})
    return dict(mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {}))


def parse_instance(raw: Mapping[str, Any]) -> ObservedInstance:
    return ObservedInstance(
        instance_id=raw["InstanceId"],
        availability_zone=raw.get("AvailabilityZone", ""),
        lifecycle_state=raw.get("LifecycleState", ""),
        health_status=raw.get("HealthStatus", ""),
        launch_template_version=raw.get("LaunchTemplate", {}).get("Version"),
        launch_template_id=raw.get("LaunchTemplate", {}).get("LaunchTemplateId"),
    )


def parse_template(raw: Mapping[str, Any]) -> ObservedLaunchTemplate:
    return ObservedLaunchTemplate(
        id=raw["LaunchTemplateId"],
        name=raw["LaunchTemplateName"],
        default_version=int(raw.get("DefaultVersionNumber", 1)),
        latest_version=int(raw.get("LatestVersionNumber", 1)),
        tags=tag_map(raw.get("Tags", [])),
    )


def parse_version(raw: Mapping[str, Any]) -> LaunchTemplateVersion:
    return LaunchTemplateVersion(
        version_number=int(raw["VersionNumber"]),
        user_data=decode_user_data(raw.get("LaunchTemplateData", {}).get("UserData", "")),
        description=raw.get("VersionDescription", "") or "",
        create_time=str(raw.get("CreateTime", "")),
        image_id=str(raw.get("LaunchTemplateData", {}).get("ImageId", "") or ""),
    )


def decode_user_data(encoded: str) -> str:
    if not encoded:
        return ""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.PermanentError(
            f"launch template UserData is not base64 UTF-8: {exc}"
        ) from None


def parse_target_group(raw: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedTargetGroup:
    return ObservedTargetGroup(
        arn=raw["TargetGroupArn"],
        name=raw["TargetGroupName"],
        health_check=HealthCheckSpec(**fields.from_aws(fields.HEALTH_CHECK, raw)),
        tags=dict(tags),
        load_balancer_arns=tuple(str(arn) for arn in raw.get("LoadBalancerArns", ())),
    )


def parse_policy(raw: Mapping[str, Any]) -> ObservedScalingPolicy:
    config = raw.get("TargetTrackingConfiguration", {})
    metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    target = config.get("TargetValue")
    return ObservedScalingPolicy(
        name=raw["PolicyName"],
        policy_type=raw.get("PolicyType", ""),
        metric=metric,
        target_value=float(target) if target is not None else None,
        enabled=bool(raw.get("Enabled", True)),
        disable_scale_in=bool(config.get("DisableScaleIn", False)),
    )


def parse_refresh(raw: Mapping[str, Any]) -> ObservedRefresh:
    status = RefreshStatus.parse(str(raw.get("Status", "")))
    return ObservedRefresh(
        refresh_id=raw["InstanceRefreshId"],
        status=status,
        percentage_complete=int(raw.get("PercentageComplete", 0) or 0),
        instances_to_update=int(raw.get("InstancesToUpdate", 0) or 0),
        status_reason=raw.get("StatusReason", "") or "",
        desired_version=_desired_version(raw.get("DesiredConfiguration") or {}),
        start_time=str(raw.get("StartTime", "")),
        end_time=str(raw.get("EndTime", "")),
        rollback=_rollback(raw.get("RollbackDetails")),
        reported_status="" if status is not RefreshStatus.UNKNOWN else str(raw.get("Status")),
    )


def _desired_version(configuration: Mapping[str, Any]) -> str | None:
    """The launch template version a DesiredConfiguration names, plain or inside a
    MixedInstancesPolicy [M DesiredConfiguration]; a specification without a Version means
    ``$Default`` [M LaunchTemplateSpecification.Version]."""
    spec = configuration.get("LaunchTemplate")
    if spec is None:
        mixed = configuration.get("MixedInstancesPolicy") or {}
        spec = (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    if not spec:
        return None
    return str(spec.get("Version") or "$Default")


def _rollback(raw: Mapping[str, Any] | None) -> RollbackDetails | None:
    # An empty RollbackDetails carries no rollback: only its fields say one began.
    if not raw:
        return None
    return RollbackDetails(
        reason=str(raw.get("RollbackReason", "") or ""),
        start_time=str(raw.get("RollbackStartTime", "") or ""),
        percentage_complete_on_rollback=int(raw.get("PercentageCompleteOnRollback", 0) or 0),
        instances_to_update_on_rollback=int(raw.get("InstancesToUpdateOnRollback", 0) or 0),
    )


def epoch(stamp: Any) -> float:
    """An AWS timestamp (botocore's datetime, or its text) in epoch seconds; UTC when naive."""
    moment = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def tag_map(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}]`` as ``{k: v}``."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}
