"""The launch template side of a diff: which version a group runs, which version holds the
desired content, and the rollout changes that pair them (template, image, UserData, version pin,
instances on another version). What the image is in an observed version comes from ``images``.
"""

from __future__ import annotations

from reconciler.images import scripts
from reconciler.images.description import parse_description
from reconciler.model import (
    Change,
    DesiredService,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
    Resource,
)
from reconciler.pipeline.diff import script_diff

# Fields whose change can only be made real by an instance refresh.
ROLLOUT_FIELDS = frozenset({"image", "userData", "launchTemplate", "instances"})

_FLOATING_REFS = (None, "$Latest", "$Default")
_ELLIPSIS_AT = 60


def is_rollout(change: Change) -> bool:
    """Whether a change needs an instance refresh (rather than an API call on a setting)."""
    return change.field in ROLLOUT_FIELDS or change.resource is Resource.INSTANCE_REFRESH


def uses_template(group: ObservedAutoScalingGroup, template: ObservedLaunchTemplate) -> bool:
    if group.launch_template_id is not None:
        return group.launch_template_id == template.id
    return group.launch_template_name == template.name


def current_version(
    group: ObservedAutoScalingGroup, template: ObservedLaunchTemplate
) -> int | None:
    """The version number the group launches today, or None if it is not on this template."""
    if not uses_template(group, template):
        return None
    return template.resolve(group.launch_template_version)


def refresh_version(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> int | None:
    """The version number a refresh rolls out."""
    # Without a DesiredConfiguration a refresh rolls out whatever the group already points at.
    if refresh.desired_version is None:
        return current_version(group, template)
    return template.resolve(refresh.desired_version)


def version_fingerprint(version: LaunchTemplateVersion) -> str | None:
    """The desired-state fingerprint a version's description records, if we wrote it."""
    return parse_description(version.description).get("fp")


def holds_desired(version: LaunchTemplateVersion, desired: DesiredService) -> bool:
    if version_fingerprint(version) == desired.fingerprint:
        return True
    return version.user_data == desired.user_data


def desired_version(
    desired: DesiredService, template: ObservedLaunchTemplate
) -> LaunchTemplateVersion | None:
    """The newest observed version that already holds the desired UserData.

    Reusing it (rather than creating a new one) is what makes a revert cheap and idempotent.
    """
    matches = [v for v in template.versions if holds_desired(v, desired)]
    return max(matches, key=lambda v: v.version_number, default=None)


def rollout_changes(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> tuple[Change, ...]:
    if not uses_template(group, template):
        return (
            Change(
                Resource.AUTO_SCALING_GROUP,
                group.name,
                "launchTemplate",
                group.launch_template_name,
                template.name,
            ),
        )
    repin = _repin_change(desired, group=group, template=template)
    if repin:
        return repin
    number = template.resolve(group.launch_template_version)
    if number is None:
        old = f"unknown (version {group.launch_template_version} not understood)"
        return (_image_change(desired, template=template, old=old),)
    pin = _pin_change(group, number=number)
    current = template.version(number)
    if current is None:
        old = f"unknown (version {number} not observed)"
        return (*pin, _image_change(desired, template=template, old=old))
    if not holds_desired(current, desired):
        return (*pin, *content_changes(desired, template=template, current=current))
    return (*pin, *_instance_changes(group, template=template, number=number))


def _image_change(desired: DesiredService, *, template: ObservedLaunchTemplate, old: str) -> Change:
    return Change(Resource.LAUNCH_TEMPLATE, template.name, "image", old, desired.image.describe())


def content_changes(
    desired: DesiredService, *, template: ObservedLaunchTemplate, current: LaunchTemplateVersion
) -> tuple[Change, ...]:
    """What a version that does not hold the desired content changes: the image when the digests
    differ (rule 2), and the UserData when the script differs beyond its digests, with the
    unified diff; both when both, so an image change never hides a script change."""
    old_image = scripts.version_image(current)
    old_pinned = old_image.pinned if old_image else None
    found = []
    if old_pinned != desired.image.pinned:  # digests decide, not tag names
        old = scripts.describe(old_image, repository=desired.image.repository)
        found.append(_image_change(desired, template=template, old=old))
    written = (str(old_image), old_image.pinned or "") if old_image else ()
    pair = script_diff.Scripts(
        current.user_data,
        desired.user_data,
        old_images=tuple(ref for ref in written if ref),
        new_images=(desired.image.pinned,),
    )
    detail = script_diff.unified(
        pair,
        old_label=f"userData (version {current.version_number})",
        new_label="userData (desired)",
    )
    if detail or not found:
        old_line, new_line = _first_difference(pair)
        found.append(
            Change(
                Resource.LAUNCH_TEMPLATE,
                template.name,
                "userData",
                old_line,
                new_line,
                detail=detail,
            )
        )
    return tuple(found)


def _pin_change(group: ObservedAutoScalingGroup, *, number: int) -> tuple[Change, ...]:
    """Rule 2: point a group on ``$Latest``/``$Default`` at the number it already runs.

    On the desired content that is all it needs. Before a rollout it is required: AWS refuses
    AutoRollback while the group uses a floating version, and the refresh moves it on anyway.
    """
    if group.launch_template_version not in _FLOATING_REFS:
        return ()
    old = group.launch_template_version or "$Default"
    return (
        Change(Resource.AUTO_SCALING_GROUP, group.name, "launchTemplate.version", old, str(number)),
    )


def _repin_change(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> tuple[Change, ...]:
    """The group was pointed at another version (``$Latest``, an older number) while every
    instance still runs one holding the desired content: pointing it back is the whole repair.

    One UpdateAutoScalingGroup with the number, no refresh: the group goes from the drifted
    reference straight to a pinned version, never through a floating one.
    """
    running = _instances_version(group)
    if running is None or group.launch_template_version == str(running):
        return ()
    version = template.version(running)
    if version is None or not holds_desired(version, desired):
        return ()
    old = group.launch_template_version or "$Default"
    return (
        Change(
            Resource.AUTO_SCALING_GROUP, group.name, "launchTemplate.version", old, str(running)
        ),
    )


def _instances_version(group: ObservedAutoScalingGroup) -> int | None:
    """The one numbered version all InService instances run, or None (none, several, or one
    reported as ``$Latest``/``$Default``, which no longer says what it launched)."""
    in_service = [i for i in group.instances if i.lifecycle_state == "InService"]
    refs = {i.launch_template_version for i in in_service}
    if len(refs) != 1:
        return None
    (ref,) = refs
    return int(ref) if ref is not None and ref.isdigit() else None


def _instance_changes(
    group: ObservedAutoScalingGroup, *, template: ObservedLaunchTemplate, number: int
) -> tuple[Change, ...]:
    """InService instances on another version: the group was repointed without a refresh."""
    in_service = [i for i in group.instances if i.lifecycle_state == "InService"]
    # An instance whose version AWS did not report is unknown, not wrong: refreshing for it
    # could loop forever.
    stale = [
        i
        for i in in_service
        if i.launch_template_version is not None
        and template.resolve(i.launch_template_version) != number
    ]
    if not stale:
        return ()
    old = f"{len(stale)} of {len(in_service)} on another version"
    return (
        Change(
            Resource.AUTO_SCALING_GROUP, group.name, "instances", old, f"all on version {number}"
        ),
    )


def _first_difference(pair: script_diff.Scripts) -> tuple[str, str]:
    """The first line of two UserData scripts that differs beyond its image: a one-line
    summary beside the unified diff."""
    found = script_diff.first_difference(pair)
    if found is None:  # only the image, trailing whitespace or line endings differ
        return (f"{len(pair.old)} bytes", f"{len(pair.new)} bytes")
    number, before, after = found
    return (f"line {number}: {_shorten(before)}", f"line {number}: {_shorten(after)}")


def _shorten(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _ELLIPSIS_AT else line[: _ELLIPSIS_AT - 1] + "…"
