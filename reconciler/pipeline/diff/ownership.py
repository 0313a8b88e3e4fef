"""Whether the reconciler may touch a service's resources: are they there, are they ours, and
which of our ownership tags they still lack (what adopting them writes)."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model import (
    TAG_OWNER,
    TAG_SERVICE,
    Change,
    ChangeKind,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedService,
    ObservedTargetGroup,
    Resource,
)

_KIND = {
    Resource.AUTO_SCALING_GROUP: "auto scaling group",
    Resource.LAUNCH_TEMPLATE: "launch template",
    Resource.TARGET_GROUP: "target group",
}
# Tag changes list the target group first, as the settings changes do.
_TAG_ORDER = (Resource.TARGET_GROUP, Resource.AUTO_SCALING_GROUP, Resource.LAUNCH_TEMPLATE)

Tagged = Mapping[Resource, tuple[str, Mapping[str, str]]]  # resource → (name, tags)


def tagged(
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    target: ObservedTargetGroup,
) -> Tagged:
    """The three resources of a service that carry ownership tags, with their names and tags."""
    return {
        Resource.AUTO_SCALING_GROUP: (group.name, group.tags),
        Resource.LAUNCH_TEMPLATE: (template.name, template.tags),
        Resource.TARGET_GROUP: (target.name, target.tags),
    }


def ownership_tags(*, owner: str, service: str) -> dict[str, str]:
    return {TAG_OWNER: owner, TAG_SERVICE: service}


def missing_tags(tags: Mapping[str, str], *, owner: str, service: str) -> dict[str, str]:
    """Our tags a resource lacks: what adopting it writes."""
    wanted = ownership_tags(owner=owner, service=service)
    return {key: value for key, value in wanted.items() if key not in tags}


def missing_message(desired: DesiredService, observed: ObservedService) -> str:
    spec = desired.spec
    wanted = {
        Resource.AUTO_SCALING_GROUP: (spec.auto_scaling_group.name, observed.auto_scaling_group),
        Resource.LAUNCH_TEMPLATE: (spec.launch_template.name, observed.launch_template),
        Resource.TARGET_GROUP: (spec.target_group.name, observed.target_group),
    }
    missing = [f"{_KIND[kind]} {name}" for kind, (name, found) in wanted.items() if found is None]
    return (
        f"{', '.join(missing)} not found; the reconciler manages existing resources only"
        " (create them with your infrastructure tool)"
    )


def detached_message(group: ObservedAutoScalingGroup, target: ObservedTargetGroup) -> str:
    """Why the target group is not the group's to touch, or "" when the group is attached to it.

    The name in desired.yaml alone proves nothing: another team's target group of that name
    would be tagged as ours and get our health check. Only the group's own attachment (its
    TargetGroupARNs, DescribeAutoScalingGroups) says the target group serves this service.
    """
    if target.arn in group.target_group_arns:
        return ""
    return (
        f"target group {target.name} is not attached to auto scaling group {group.name};"
        " refusing to touch it (attach it to the group, or name the target group the group"
        " is attached to)"
    )


def ownership_conflict(desired: DesiredService, resources: Tagged, *, owner: str) -> str:
    """Why the resources are not ours to touch, or "" if they are."""
    for kind, (name, tags) in resources.items():
        other = tags.get(TAG_OWNER)
        if other is not None and other != owner:
            return (
                f"{_KIND[kind]} {name} is owned by {other} (tag {TAG_OWNER}); refusing to touch it"
            )
        # Same owner, other service: two services naming one resource would fight each tick.
        service = tags.get(TAG_SERVICE)
        if service is not None and service != desired.name:
            return f"{_KIND[kind]} {name} is claimed by service {service} (tag {TAG_SERVICE})"
    return ""


def tag_changes(desired: DesiredService, resources: Tagged, *, owner: str) -> tuple[Change, ...]:
    changes = []
    for kind in _TAG_ORDER:
        if kind not in resources:  # blue/green's second side: a group and a target group
            continue
        name, tags = resources[kind]
        missing = missing_tags(tags, owner=owner, service=desired.name)
        if missing:
            shown = ", ".join(f"{k}={v}" for k, v in missing.items())
            changes.append(Change(kind, name, "tags", None, shown, ChangeKind.CREATE))
    return tuple(changes)
