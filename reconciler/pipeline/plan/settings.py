"""The settings actions of a plan: target group health check, adoption tags, group sizes and
health check, pinning a floating version reference, and the scaling policy.

While any refresh is active the pin waits for a later tick. AWS refuses launch template changes
while a refresh with a DesiredConfiguration is active (aws-facts 1.12), and a cancelled refresh
stays active while ``Cancelling`` (1.7), so pinning in the same plan after the cancel would still
be refused and, apply stopping at the first error, would block every write after it. Waiting in
apply instead would hold the tick for as long as in-flight launches take. The observed refresh
cannot always show that it has a desired configuration (a MixedInstancesPolicy one parses
without a version), so every active refresh defers the pin; that only delays it until the
refresh has ended or been cancelled. Group settings outside the restriction (sizes, health
check) are still updated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from reconciler.model import (
    POLICY_METRIC,
    Action,
    Change,
    ChangeKind,
    DeleteScalingPolicy,
    DesiredService,
    HealthCheckSpec,
    ModifyTargetGroup,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedService,
    ObservedTargetGroup,
    PutScalingPolicy,
    Resource,
    TagResource,
    UpdateAutoScalingGroup,
    Value,
    VersionPin,
    fields,
    value_text,
)
from reconciler.pipeline.diff import missing_tags

_GROUP_YAML = {f.yaml: f for f in fields.GROUP}


def settings_actions(
    desired: DesiredService,
    *,
    observed: ObservedService,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    target: ObservedTargetGroup,
    changes: list[Change],
    owner: str,
) -> tuple[list[Action], str]:
    """The settings actions for ``changes``, and a note saying what waits (the pin)."""
    settings, deferred = defer_pin(changes, observed=observed)
    actions = [
        *_target_group_actions(desired, target=target, changes=settings),
        *_tag_actions(
            desired, group=group, template=template, target=target, changes=settings, owner=owner
        ),
        *_group_actions(group=group, template=template, changes=settings),
        *_scaling_actions(group=group, changes=settings),
    ]
    return actions, deferred


def defer_pin(changes: list[Change], *, observed: ObservedService) -> tuple[list[Change], str]:
    """The settings changes without the version pin while a refresh is active (see the module
    docstring), and a note for the plan's message saying what waits."""
    active = next((r for r in observed.refreshes if r.status.active), None)
    pins = [c for c in changes if _is_pin(c)]
    if active is None or not pins:
        return changes, ""
    note = (
        f"; launch template version pin ({value_text(pins[0].old)} → {value_text(pins[0].new)})"
        f" waits until instance refresh {active.refresh_id} is no longer active"
    )
    return [c for c in changes if not _is_pin(c)], note


def _is_pin(change: Change) -> bool:
    return (
        change.resource is Resource.AUTO_SCALING_GROUP and change.field == "launchTemplate.version"
    )


def _target_group_actions(
    desired: DesiredService, *, target: ObservedTargetGroup, changes: Iterable[Change]
) -> list[Action]:
    relevant = [
        c
        for c in changes
        if c.resource is Resource.TARGET_GROUP and c.field.startswith("healthCheck.")
    ]
    if not relevant:
        return []
    return [
        ModifyTargetGroup(
            resource_name=target.name,
            reason=reasons(relevant),
            target_group_arn=target.arn,
            health_check=_health_check(desired, target),
        )
    ]


def _health_check(desired: DesiredService, target: ObservedTargetGroup) -> HealthCheckSpec:
    """The file's health check over AWS's: a field the file omits is not managed, so it goes
    back to ELB exactly as it was read (ModifyTargetGroup takes the whole health check)."""
    spec = desired.spec.target_group
    declared = {
        f.attr: getattr(spec.health_check, f.attr)
        for f in fields.HEALTH_CHECK
        if f.yaml not in spec.unmanaged
    }
    return dataclasses.replace(target.health_check, **declared)


def _tag_actions(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    target: ObservedTargetGroup,
    changes: Iterable[Change],
    owner: str,
) -> list[Action]:
    # Each resource type is tagged through its own API, by its own kind of id.
    ids: dict[Resource, tuple[str, str]] = {
        Resource.AUTO_SCALING_GROUP: (group.name, group.name),
        Resource.LAUNCH_TEMPLATE: (template.name, template.id),
        Resource.TARGET_GROUP: (target.name, target.arn),
    }
    tags_of = {
        Resource.AUTO_SCALING_GROUP: group.tags,
        Resource.LAUNCH_TEMPLATE: template.tags,
        Resource.TARGET_GROUP: target.tags,
    }
    actions: list[Action] = []
    for change in changes:
        if change.field != "tags" or change.resource not in ids:
            continue
        name, resource_id = ids[change.resource]
        tags = missing_tags(tags_of[change.resource], owner=owner, service=desired.name)
        if not tags:
            continue
        reason = f"adopt {change.resource.value} {name}: tag {value_text(change.new)}"
        actions.append(
            TagResource(
                resource_name=name,
                reason=reason,
                resource_type=change.resource,
                resource_id=resource_id,
                tags=tags,
            )
        )
    return actions


def _group_actions(
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    changes: Iterable[Change],
) -> list[Action]:
    settings: dict[str, Value] = {}
    pin = None
    relevant = []
    for change in changes:
        if change.resource is not Resource.AUTO_SCALING_GROUP:
            continue
        if change.field in _GROUP_YAML:
            settings[_GROUP_YAML[change.field].attr] = change.new
        elif change.field == "launchTemplate.version":
            # Only pinning a floating reference; a rollout moves the group through the refresh.
            pin = VersionPin(launch_template_id=template.id, version=str(change.new))
        else:
            continue
        relevant.append(change)
    if not relevant:
        return []
    return [
        UpdateAutoScalingGroup(
            resource_name=group.name, reason=reasons(relevant), settings=settings, pin=pin
        )
    ]


def _scaling_actions(*, group: ObservedAutoScalingGroup, changes: Iterable[Change]) -> list[Action]:
    actions: list[Action] = []
    for change in changes:
        if change.resource is not Resource.SCALING_POLICY:
            continue
        if change.kind is ChangeKind.DELETE:
            reason = f"scaling policy {change.resource_name} is no longer declared"
            actions.append(
                DeleteScalingPolicy(
                    resource_name=group.name, reason=reason, policy_name=change.resource_name
                )
            )
        elif isinstance(change.new, (int, float)):
            reason = f"{change.resource_name}: {POLICY_METRIC} target {reasons([change])}"
            actions.append(
                PutScalingPolicy(
                    resource_name=group.name,
                    reason=reason,
                    policy_name=change.resource_name,
                    target_value=float(change.new),
                )
            )
    return actions


def reasons(changes: Iterable[Change]) -> str:
    return "; ".join(f"{c.field}: {value_text(c.old)} → {value_text(c.new)}" for c in changes)
