"""Read what AWS holds for a set of services, in batches, into ``ObservedService`` records.

A steady-state tick must cost a handful of calls in all, not a handful per service (rule 7), so
every describe covers all services at once, and launch template versions, which are immutable,
are fetched once and kept in a ``VersionCache``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    DESCRIPTION_MARKER,
    HealthCheckSpec,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    RefreshStatus,
    ServiceSpec,
)

# How many of its own launch template versions per template the reconciler remembers: enough to
# reuse a recent version on revert, without holding every UserData ever deployed in memory.
KEEP_OWN_VERSIONS = 20
_ASG_NAMES_PER_CALL = 50
_TAG_ARNS_PER_CALL = 20
_POLICY_NAMES_PER_CALL = 50
_LT_NAMES_PER_FILTER = 200


def scaling_policy_name(service: str) -> str:
    return f"asg-reconciler-{service}-cpu"


@dataclass
class VersionCache:
    """Launch template versions by template id. Versions are immutable, so never re-read."""

    versions: dict[str, dict[int, LaunchTemplateVersion]] = field(default_factory=dict)
    seen_up_to: dict[str, int] = field(default_factory=dict)

    def known(self, template_id: str) -> dict[int, LaunchTemplateVersion]:
        return self.versions.setdefault(template_id, {})

    def add(self, template_id: str, version: LaunchTemplateVersion) -> None:
        self.known(template_id)[version.version_number] = version

    def trim(self, template_id: str, *, keep: Iterable[int]) -> None:
        """Forget all but our newest versions and the ones still referenced."""
        known = self.known(template_id)
        ours = sorted(
            (n for n, v in known.items() if v.description.startswith(DESCRIPTION_MARKER)),
            reverse=True,
        )
        wanted = set(ours[:KEEP_OWN_VERSIONS]) | set(keep)
        for number in [n for n in known if n not in wanted]:
            del known[number]


@dataclass
class Observer:
    """Observes services; keeps the version cache between ticks."""

    aws: Aws
    cache: VersionCache = field(default_factory=VersionCache)

    def observe(self, specs: Sequence[ServiceSpec]) -> dict[str, ObservedService]:
        by_region: dict[str, list[ServiceSpec]] = {}
        for spec in specs:
            by_region.setdefault(spec.region, []).append(spec)
        observed: dict[str, ObservedService] = {}
        for region, group in by_region.items():
            observed.update(self._observe_region(region, group))
        return observed

    def _observe_region(
        self, region: str, specs: Sequence[ServiceSpec]
    ) -> dict[str, ObservedService]:
        groups = describe_groups(self.aws, region, [s.auto_scaling_group.name for s in specs])
        templates = describe_templates(self.aws, region, [s.launch_template.name for s in specs])
        target_groups = describe_target_groups(
            self.aws, region, {s.target_group.name for s in specs}
        )
        policies = describe_policies(self.aws, region, [scaling_policy_name(s.name) for s in specs])
        result: dict[str, ObservedService] = {}
        for spec in specs:
            group = groups.get(spec.auto_scaling_group.name)
            refreshes = describe_refreshes(self.aws, region, group.name) if group else ()
            template = templates.get(spec.launch_template.name)
            if template is not None:
                template = self._with_versions(region, template, group, refreshes)
            result[spec.name] = ObservedService(
                name=spec.name,
                auto_scaling_group=group,
                launch_template=template,
                target_group=target_groups.get(spec.target_group.name),
                scaling_policies=tuple(policies.get(spec.auto_scaling_group.name, ())),
                refreshes=refreshes,
            )
        return result

    def _with_versions(
        self,
        region: str,
        template: ObservedLaunchTemplate,
        group: ObservedAutoScalingGroup | None,
        refreshes: Sequence[ObservedRefresh],
    ) -> ObservedLaunchTemplate:
        referenced = referenced_versions(template, group, refreshes)
        self._fetch_new_versions(region, template)
        missing = [n for n in referenced if n not in self.cache.known(template.id)]
        if missing:
            for version in describe_versions(self.aws, region, template.id, versions=missing):
                self.cache.add(template.id, version)
        self.cache.trim(template.id, keep=referenced)
        known = self.cache.known(template.id)
        versions = tuple(known[n] for n in sorted(known, reverse=True))
        return ObservedLaunchTemplate(
            id=template.id,
            name=template.name,
            default_version=template.default_version,
            latest_version=template.latest_version,
            tags=template.tags,
            versions=versions,
        )

    def _fetch_new_versions(self, region: str, template: ObservedLaunchTemplate) -> None:
        """Read versions newer than any seen before; none in a steady state."""
        seen = self.cache.seen_up_to.get(template.id, 0)
        if template.latest_version <= seen:
            return
        for version in describe_versions(self.aws, region, template.id, min_version=seen + 1):
            self.cache.add(template.id, version)
        self.cache.seen_up_to[template.id] = template.latest_version


def referenced_versions(
    template: ObservedLaunchTemplate,
    group: ObservedAutoScalingGroup | None,
    refreshes: Sequence[ObservedRefresh],
) -> set[int]:
    refs: list[str | None] = []
    if group is not None and group.launch_template_id == template.id:
        refs.append(group.launch_template_version)
        refs.extend(i.launch_template_version for i in group.instances)
    refs.extend(r.desired_version for r in refreshes[:5])
    numbers = {template.resolve(ref) for ref in refs if ref is not None}
    return {n for n in numbers if n is not None}


# ------------------------------------------------------------------------------------------------
# Batched describes. Each returns records keyed by resource name.
# ------------------------------------------------------------------------------------------------


def describe_groups(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedAutoScalingGroup]:
    found: dict[str, ObservedAutoScalingGroup] = {}
    for chunk in _chunks(sorted(set(names)), _ASG_NAMES_PER_CALL):
        for page in aws.pages(
            "autoscaling",
            "describe_auto_scaling_groups",
            region=region,
            AutoScalingGroupNames=chunk,
            PaginationConfig={"PageSize": 100},
        ):
            for raw in page.get("AutoScalingGroups", []):
                group = parse_group(raw)
                found[group.name] = group
    return found


def describe_templates(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedLaunchTemplate]:
    found: dict[str, ObservedLaunchTemplate] = {}
    # A name filter, unlike LaunchTemplateNames, does not fail the whole call for one missing name.
    for chunk in _chunks(sorted(set(names)), _LT_NAMES_PER_FILTER):
        for page in aws.pages(
            "ec2",
            "describe_launch_templates",
            region=region,
            Filters=[{"Name": "launch-template-name", "Values": chunk}],
        ):
            for raw in page.get("LaunchTemplates", []):
                template = parse_template(raw)
                found[template.name] = template
    return found


def describe_versions(
    aws: Aws,
    region: str,
    template_id: str,
    *,
    versions: Sequence[int] = (),
    min_version: int | None = None,
) -> Iterator[LaunchTemplateVersion]:
    params: dict[str, Any] = {"LaunchTemplateId": template_id}
    if versions:
        params["Versions"] = [str(v) for v in versions]
    if min_version is not None:
        params["MinVersion"] = str(min_version)
    while True:
        page = aws.call(
            "ec2",
            "describe_launch_template_versions",
            region=region,
            resource=template_id,
            **params,
        )
        for raw in page.get("LaunchTemplateVersions", []):
            yield parse_version(raw)
        token = page.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def describe_target_groups(
    aws: Aws, region: str, names: set[str]
) -> dict[str, ObservedTargetGroup]:
    raw_groups: dict[str, dict[str, Any]] = {}
    # Listing all is one call for most accounts, and unlike Names it tolerates a missing group.
    for page in aws.pages(
        "elbv2", "describe_target_groups", region=region, PaginationConfig={"PageSize": 400}
    ):
        for raw in page.get("TargetGroups", []):
            if raw["TargetGroupName"] in names:
                raw_groups[raw["TargetGroupArn"]] = raw
    tags = describe_target_group_tags(aws, region, list(raw_groups))
    return {
        raw["TargetGroupName"]: parse_target_group(raw, tags.get(arn, {}))
        for arn, raw in raw_groups.items()
    }


def describe_target_group_tags(
    aws: Aws, region: str, arns: Sequence[str]
) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for chunk in _chunks(list(arns), _TAG_ARNS_PER_CALL):
        response = aws.call("elbv2", "describe_tags", region=region, ResourceArns=chunk)
        for desc in response.get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = _tag_map(desc.get("Tags", []))
    return tags


def describe_policies(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, list[ObservedScalingPolicy]]:
    """The reconciler's own policies, by group name. Other policies are not ours to manage."""
    by_group: dict[str, list[ObservedScalingPolicy]] = {}
    for chunk in _chunks(sorted(set(names)), _POLICY_NAMES_PER_CALL):
        for page in aws.pages("autoscaling", "describe_policies", region=region, PolicyNames=chunk):
            for raw in page.get("ScalingPolicies", []):
                by_group.setdefault(raw["AutoScalingGroupName"], []).append(parse_policy(raw))
    return by_group


def describe_refreshes(aws: Aws, region: str, group: str) -> tuple[ObservedRefresh, ...]:
    response = aws.call(
        "autoscaling",
        "describe_instance_refreshes",
        region=region,
        resource=group,
        AutoScalingGroupName=group,
        MaxRecords=10,
    )
    return tuple(parse_refresh(raw) for raw in response.get("InstanceRefreshes", []))


# ------------------------------------------------------------------------------------------------
# Parsing AWS's response shapes into model records.
# ------------------------------------------------------------------------------------------------


def parse_group(raw: Mapping[str, Any]) -> ObservedAutoScalingGroup:
    spec = _group_template_ref(raw)
    return ObservedAutoScalingGroup(
        name=raw["AutoScalingGroupName"],
        arn=raw.get("AutoScalingGroupARN", ""),
        min_size=int(raw["MinSize"]),
        max_size=int(raw["MaxSize"]),
        desired_capacity=int(raw["DesiredCapacity"]),
        health_check_type=raw.get("HealthCheckType", "EC2"),
        health_check_grace_period=int(raw.get("HealthCheckGracePeriod", 0)),
        launch_template_id=spec.get("LaunchTemplateId"),
        launch_template_name=spec.get("LaunchTemplateName"),
        launch_template_version=spec.get("Version"),
        target_group_arns=tuple(raw.get("TargetGroupARNs", [])),
        tags=_tag_map(raw.get("Tags", [])),
        instances=tuple(parse_instance(i) for i in raw.get("Instances", [])),
    )


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
    )


def parse_template(raw: Mapping[str, Any]) -> ObservedLaunchTemplate:
    return ObservedLaunchTemplate(
        id=raw["LaunchTemplateId"],
        name=raw["LaunchTemplateName"],
        default_version=int(raw.get("DefaultVersionNumber", 1)),
        latest_version=int(raw.get("LatestVersionNumber", 1)),
        tags=_tag_map(raw.get("Tags", [])),
    )


def parse_version(raw: Mapping[str, Any]) -> LaunchTemplateVersion:
    return LaunchTemplateVersion(
        version_number=int(raw["VersionNumber"]),
        user_data=decode_user_data(raw.get("LaunchTemplateData", {}).get("UserData", "")),
        description=raw.get("VersionDescription", "") or "",
        create_time=str(raw.get("CreateTime", "")),
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
        health_check=HealthCheckSpec(
            path=raw.get("HealthCheckPath", "/"),
            port=str(raw.get("HealthCheckPort", "traffic-port")),
            protocol=raw.get("HealthCheckProtocol", "HTTP"),
            interval_seconds=int(raw.get("HealthCheckIntervalSeconds", 30)),
            timeout_seconds=int(raw.get("HealthCheckTimeoutSeconds", 5)),
            healthy_threshold=int(raw.get("HealthyThresholdCount", 5)),
            unhealthy_threshold=int(raw.get("UnhealthyThresholdCount", 2)),
            matcher=str(raw.get("Matcher", {}).get("HttpCode", "200")),
        ),
        tags=dict(tags),
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
    )


def parse_refresh(raw: Mapping[str, Any]) -> ObservedRefresh:
    template = raw.get("DesiredConfiguration", {}).get("LaunchTemplate", {})
    return ObservedRefresh(
        refresh_id=raw["InstanceRefreshId"],
        status=RefreshStatus(raw["Status"]),
        percentage_complete=int(raw.get("PercentageComplete", 0) or 0),
        instances_to_update=int(raw.get("InstancesToUpdate", 0) or 0),
        status_reason=raw.get("StatusReason", "") or "",
        desired_version=template.get("Version"),
        start_time=str(raw.get("StartTime", "")),
        end_time=str(raw.get("EndTime", "")),
    )


def _tag_map(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
