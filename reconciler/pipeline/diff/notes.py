"""What a diff tells besides its changes: the settings the file leaves to AWS, and a capacity
the file pins that a scaling policy owns. Pure: no I/O.

A field the file omits is not managed (issue 17 #7): it is never compared nor written, and the
diff says so with the value AWS holds, so a reader knows it was seen and left alone on purpose.
Any scaling policy on the group owns its capacity (issue 17 #8): a ``desiredCapacity`` beside one
is not enforced, and the diff warns.
"""

from __future__ import annotations

from reconciler.model import (
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedService,
    ObservedTargetGroup,
    fields,
    scaling_policy_name,
    value_text,
)
from reconciler.pipeline.diff.settings import capacity_owners


def notes(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    target: ObservedTargetGroup,
) -> tuple[str, ...]:
    owners = capacity_owners(desired, observed.scaling_policies)
    found = [*_capacity(desired, owners, group), *_unmanaged(desired, owners, group, target)]
    return tuple(found)


def _unmanaged(
    desired: DesiredService,
    owners: tuple[str, ...],
    group: ObservedAutoScalingGroup,
    target: ObservedTargetGroup,
) -> list[str]:
    spec = desired.spec
    asg = spec.auto_scaling_group
    # An omitted capacity is the policy's when one owns it (said above), else nobody's.
    free_capacity = asg.desired_capacity is None and not owners
    shown = [
        f"autoScalingGroup.{f.yaml} = {value_text(getattr(group, f.attr))}"
        for f in fields.GROUP
        if f.yaml in asg.unmanaged or (f.attr == "desired_capacity" and free_capacity)
    ]
    shown += [
        f"targetGroup.healthCheck.{f.yaml} = {value_text(getattr(target.health_check, f.attr))}"
        for f in fields.HEALTH_CHECK
        if f.yaml in spec.target_group.unmanaged
    ]
    if not shown:
        return []
    return [f"not managed (omitted from the file), left as AWS has them: {', '.join(shown)}"]


def _capacity(
    desired: DesiredService, owners: tuple[str, ...], group: ObservedAutoScalingGroup
) -> list[str]:
    pinned = desired.spec.auto_scaling_group.desired_capacity
    if not owners:
        return []
    names = ", ".join(owners)
    now = group.desired_capacity
    if pinned is None:
        return [f"capacity ({now} now) belongs to scaling policy {names}"]
    ours = scaling_policy_name(desired.name)
    if owners == (ours,):  # the file's own policy: the schema documents that it wins
        return [f"desiredCapacity {pinned} is not enforced: scaling policy {ours} owns capacity"]
    return [
        f"warning: the file pins desiredCapacity {pinned}, but scaling policy {names} owns the"
        f" group's capacity ({now} now): desiredCapacity is not enforced (remove it from the"
        " file, or remove the policy)"
    ]
