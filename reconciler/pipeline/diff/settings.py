"""Settings changes, made by an API call rather than a refresh: target group health check,
group sizes and health check (both from ``model.fields``), and the reconciler's scaling policy."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import (
    POLICY_METRIC,
    POLICY_TYPE,
    Change,
    ChangeKind,
    DesiredService,
    HealthCheckSpec,
    ObservedAutoScalingGroup,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    Resource,
    Value,
    fields,
    scaling_policy_name,
)


def target_group_changes(
    desired: DesiredService, target: ObservedTargetGroup
) -> tuple[Change, ...]:
    want: HealthCheckSpec = desired.spec.target_group.health_check
    have = target.health_check
    unmanaged = desired.spec.target_group.unmanaged
    return tuple(
        Change(Resource.TARGET_GROUP, target.name, f"healthCheck.{f.yaml}", old, new)
        for f in fields.HEALTH_CHECK
        if f.yaml not in unmanaged
        if (old := getattr(have, f.attr)) != (new := getattr(want, f.attr))
    )


def group_changes(
    desired: DesiredService,
    group: ObservedAutoScalingGroup,
    policies: Sequence[ObservedScalingPolicy] = (),
) -> tuple[Change, ...]:
    spec = desired.spec.auto_scaling_group
    # Rule 5: with a scaling policy, capacity is the policy's, ours or anyone's (issue 17 #8).
    # If the new min/max exclude the current capacity, UpdateAutoScalingGroup clamps it for us.
    capacity_is_ours = spec.desired_capacity is not None and not capacity_owners(desired, policies)
    return tuple(
        Change(Resource.AUTO_SCALING_GROUP, group.name, f.yaml, old, new)
        for f in fields.GROUP
        if f.attr != "desired_capacity" or capacity_is_ours
        if f.yaml not in spec.unmanaged
        if (old := getattr(group, f.attr)) != (new := getattr(spec, f.attr))
    )


def capacity_owners(
    desired: DesiredService, policies: Sequence[ObservedScalingPolicy]
) -> tuple[str, ...]:
    """The scaling policies that own the group's capacity: every policy on the group but ours
    when the file drops it (this pass deletes it), and ours when the file declares it."""
    ours = scaling_policy_name(desired.name)
    others = tuple(p.name for p in policies if p.name != ours)
    return (ours, *others) if desired.spec.scaling is not None else others


def scaling_changes(desired: DesiredService, observed: ObservedService) -> tuple[Change, ...]:
    name = scaling_policy_name(desired.name)
    ours = next((p for p in observed.scaling_policies if p.name == name), None)
    scaling = desired.spec.scaling
    want = None if scaling is None else float(scaling.target_cpu_utilization)
    if ours is None:
        return () if want is None else (_policy_change(name, None, want, ChangeKind.CREATE),)
    if want is None:
        return (_policy_change(name, ours.target_value, None, ChangeKind.DELETE),)
    if ours.policy_type != POLICY_TYPE or ours.metric != POLICY_METRIC:
        # Same name, different kind of policy: PutScalingPolicy overwrites it in place.
        old = f"{ours.policy_type} {ours.metric or '-'} {ours.target_value}"
        return (_policy_change(name, old, want),)
    if ours.target_value is None or float(ours.target_value) != want:
        return (_policy_change(name, ours.target_value, want),)
    return ()


def _policy_change(
    name: str, old: Value, new: Value, kind: ChangeKind = ChangeKind.UPDATE
) -> Change:
    return Change(Resource.SCALING_POLICY, name, "targetCpuUtilization", old, new, kind)
