"""Pair a desired service with what AWS holds and say, field by field, what differs. Pure: no I/O.

``diff`` returns a ``Diff``: the field-level ``Change``s and the rollout ``Phase`` that tells
``plan`` what it may do. The helpers below it (``desired_version``, ``current_version``,
``policy_name``, ``missing_tags``, ``is_rollout``) are shared with ``plan`` so both sides agree
on what "the desired version" and "a rollout change" mean.

Phase precedence, highest first:

1. a resource is missing or owned by someone else → BLOCKED, no changes;
2. a refresh for the desired version is running → PROGRESSING (rollout changes dropped);
3. the desired fingerprint is tagged failed, or the newest finished refresh for the desired
   version failed or was rolled back → FAILED (only when a rollout would otherwise be needed);
4. another refresh is running → SUPERSEDING (cancel it first, or wait for the cancel);
5. any change → OUT_OF_SYNC, else IN_SYNC;

and ``spec.paused`` turns whatever came out of 2-5 into BLOCKED "paused", keeping the changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.images import userdata
from reconciler.model import (
    TAG_FAILED_FINGERPRINT,
    TAG_OWNER,
    TAG_RETRIED_REFRESH,
    TAG_SERVICE,
    Change,
    ChangeKind,
    DesiredService,
    Diff,
    HealthCheckSpec,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedService,
    ObservedTargetGroup,
    Phase,
    RefreshStatus,
    Resource,
    fields,
)

POLICY_TYPE = "TargetTrackingScaling"
POLICY_METRIC = "ASGAverageCPUUtilization"

# Fields whose change can only be made real by an instance refresh.
ROLLOUT_FIELDS = frozenset({"image", "userData", "launchTemplate", "instances"})

_FLOATING_REFS = (None, "$Latest", "$Default")
_FAILED_ENDINGS = frozenset(
    {RefreshStatus.FAILED, RefreshStatus.ROLLBACK_SUCCESSFUL, RefreshStatus.ROLLBACK_FAILED}
)
_DIGEST_REF = re.compile(
    r"(?P<repo>[\w.\-]+(?::\d+)?(?:/[\w.\-]+)*)@(?P<digest>sha256:[0-9a-f]{64})"
)
# A registry host has a dot (or is localhost:port); requiring one keeps "8080:8080" out.
_TAGGED_REF = re.compile(
    r"(?:[\w\-]+\.[\w.\-]+|localhost)(?::\d+)?(?:/[\w.\-]+)+:[\w][\w.\-]{0,127}"
)
_TAG_VARIABLE = re.compile(r"""\bIMAGE_TAG=["']?(?P<tag>[\w][\w.\-]{0,127})""")
_ELLIPSIS_AT = 60


# ------------------------------------------------------------------------------------------------
# Public
# ------------------------------------------------------------------------------------------------


def diff(desired: DesiredService, observed: ObservedService, *, owner: str) -> Diff:
    """Compare one service's desired state with what AWS holds."""
    group = observed.auto_scaling_group
    template = observed.launch_template
    target = observed.target_group
    if group is None or template is None or target is None:
        return _blocked(desired, _missing_message(desired, observed))
    conflict = _ownership_conflict(
        desired, group=group, template=template, target=target, owner=owner
    )
    if conflict:
        return _blocked(desired, conflict)

    settings = (
        *_tag_changes(desired, group=group, template=template, target=target, owner=owner),
        *_target_group_changes(desired, target),
        *_group_changes(desired, group),
        *_scaling_changes(desired, observed),
    )
    rollout = _rollout_changes(desired, group=group, template=template)
    state = _rollout_state(desired, observed, group=group, template=template, rollout=rollout)
    changes = (*settings, *state.changes)
    if desired.spec.paused:
        return Diff(desired.name, changes, Phase.BLOCKED, "paused", state.refresh)
    if state.phase is not None:
        return Diff(desired.name, changes, state.phase, state.message, state.refresh)
    if changes:
        message = _out_of_sync_message(desired, template=template, changes=changes)
        return Diff(desired.name, changes, Phase.OUT_OF_SYNC, message)
    version = current_version(group, template)
    return Diff(desired.name, (), Phase.IN_SYNC, f"in sync at launch template version {version}")


def policy_name(service: str) -> str:
    """The one scaling policy on a group that the reconciler owns."""
    return f"asg-reconciler-{service}-cpu"


def ownership_tags(*, owner: str, service: str) -> dict[str, str]:
    return {TAG_OWNER: owner, TAG_SERVICE: service}


def missing_tags(tags: Mapping[str, str], *, owner: str, service: str) -> dict[str, str]:
    """Our tags a resource lacks: what adopting it writes."""
    wanted = ownership_tags(owner=owner, service=service)
    return {key: value for key, value in wanted.items() if key not in tags}


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


def holds_desired(version: LaunchTemplateVersion, desired: DesiredService) -> bool:
    if userdata.parse_description(version.description).get("fp") == desired.fingerprint:
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


# ------------------------------------------------------------------------------------------------
# Blocked: missing resources and ownership
# ------------------------------------------------------------------------------------------------


def _blocked(desired: DesiredService, message: str) -> Diff:
    return Diff(desired.name, (), Phase.BLOCKED, message)


def _missing_message(desired: DesiredService, observed: ObservedService) -> str:
    spec = desired.spec
    wanted = (
        ("auto scaling group", spec.auto_scaling_group.name, observed.auto_scaling_group),
        ("launch template", spec.launch_template.name, observed.launch_template),
        ("target group", spec.target_group.name, observed.target_group),
    )
    missing = [f"{kind} {name}" for kind, name, found in wanted if found is None]
    return (
        f"{', '.join(missing)} not found; the reconciler manages existing resources only"
        " (create them with your infrastructure tool)"
    )


def _ownership_conflict(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    target: ObservedTargetGroup,
    owner: str,
) -> str:
    resources = (
        ("auto scaling group", group.name, group.tags),
        ("launch template", template.name, template.tags),
        ("target group", target.name, target.tags),
    )
    for kind, name, tags in resources:
        other = tags.get(TAG_OWNER)
        if other is not None and other != owner:
            return f"{kind} {name} is owned by {other} (tag {TAG_OWNER}); refusing to touch it"
        # Same owner, other service: two services naming one resource would fight each tick.
        service = tags.get(TAG_SERVICE)
        if service is not None and service != desired.name:
            return f"{kind} {name} is claimed by service {service} (tag {TAG_SERVICE})"
    return ""


def _tag_changes(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    target: ObservedTargetGroup,
    owner: str,
) -> tuple[Change, ...]:
    resources = (
        (Resource.TARGET_GROUP, target.name, target.tags),
        (Resource.AUTO_SCALING_GROUP, group.name, group.tags),
        (Resource.LAUNCH_TEMPLATE, template.name, template.tags),
    )
    changes = []
    for resource, name, tags in resources:
        missing = missing_tags(tags, owner=owner, service=desired.name)
        if missing:
            shown = ", ".join(f"{k}={v}" for k, v in missing.items())
            changes.append(Change(resource, name, "tags", None, shown, ChangeKind.CREATE))
    return tuple(changes)


# ------------------------------------------------------------------------------------------------
# Settings: target group, group, scaling policy
# ------------------------------------------------------------------------------------------------


def _target_group_changes(
    desired: DesiredService, target: ObservedTargetGroup
) -> tuple[Change, ...]:
    want: HealthCheckSpec = desired.spec.target_group.health_check
    have = target.health_check
    return tuple(
        Change(Resource.TARGET_GROUP, target.name, f"healthCheck.{f.yaml}", old, new)
        for f in fields.HEALTH_CHECK
        if (old := getattr(have, f.attr)) != (new := getattr(want, f.attr))
    )


def _group_changes(desired: DesiredService, group: ObservedAutoScalingGroup) -> tuple[Change, ...]:
    spec = desired.spec.auto_scaling_group
    # Rule 5: with a scaling policy, capacity is the policy's. If the new min/max exclude the
    # current capacity, UpdateAutoScalingGroup clamps it for us, so there is nothing to set.
    capacity_is_ours = desired.spec.scaling is None and spec.desired_capacity is not None
    return tuple(
        Change(Resource.AUTO_SCALING_GROUP, group.name, f.yaml, old, new)
        for f in fields.GROUP
        if f.attr != "desired_capacity" or capacity_is_ours
        if (old := getattr(group, f.attr)) != (new := getattr(spec, f.attr))
    )


def _scaling_changes(desired: DesiredService, observed: ObservedService) -> tuple[Change, ...]:
    name = policy_name(desired.name)
    ours = next((p for p in observed.scaling_policies if p.name == name), None)
    scaling = desired.spec.scaling
    if scaling is None:
        if ours is None:
            return ()
        return (
            Change(
                Resource.SCALING_POLICY,
                name,
                "targetCpuUtilization",
                ours.target_value,
                None,
                ChangeKind.DELETE,
            ),
        )
    want = float(scaling.target_cpu_utilization)
    if ours is None:
        return (
            Change(
                Resource.SCALING_POLICY, name, "targetCpuUtilization", None, want, ChangeKind.CREATE
            ),
        )
    if ours.policy_type != POLICY_TYPE or ours.metric != POLICY_METRIC:
        # Same name, different kind of policy: PutScalingPolicy overwrites it in place.
        old = f"{ours.policy_type} {ours.metric or '-'} {ours.target_value}"
        return (Change(Resource.SCALING_POLICY, name, "targetCpuUtilization", old, want),)
    if ours.target_value is None or float(ours.target_value) != want:
        return (
            Change(Resource.SCALING_POLICY, name, "targetCpuUtilization", ours.target_value, want),
        )
    return ()


# ------------------------------------------------------------------------------------------------
# Launch template, image and instances
# ------------------------------------------------------------------------------------------------


def _rollout_changes(
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
        return (*pin, _content_change(desired, template=template, current=current))
    return (*pin, *_instance_changes(group, template=template, number=number))


def _image_change(desired: DesiredService, *, template: ObservedLaunchTemplate, old: str) -> Change:
    return Change(Resource.LAUNCH_TEMPLATE, template.name, "image", old, desired.image.describe())


def _content_change(
    desired: DesiredService, *, template: ObservedLaunchTemplate, current: LaunchTemplateVersion
) -> Change:
    """An image change when the digests differ (rule 2), else a UserData change."""
    old_image = _version_image(current)
    if _pinned(old_image) != desired.image.pinned:  # digests decide, not tag names
        old = _describe_image(old_image, repository=desired.image.repository)
        return _image_change(desired, template=template, old=old)
    old_line, new_line = _first_difference(current.user_data, desired.user_data)
    return Change(Resource.LAUNCH_TEMPLATE, template.name, "userData", old_line, new_line)


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


def _version_image(version: LaunchTemplateVersion) -> str | None:
    """The image a version runs: ``repo@sha256:…``, ``repo:tag``, ``:tag``, or None."""
    fields = userdata.parse_description(version.description)
    if "image" in fields:  # absent when the 255-character cut went through the digest
        repository, _, digest = fields["image"].partition("@")
        tag = fields.get("tag")
        return f"{repository}:{tag}@{digest}" if tag else fields["image"]
    pinned = _DIGEST_REF.search(version.user_data)
    if pinned:
        return pinned.group(0)
    # The seed's workflow renders `IMAGE_TAG="latest"` and pulls `repo:$IMAGE_TAG`.
    tagged = _TAG_VARIABLE.search(version.user_data)
    if tagged:
        return f":{tagged.group('tag')}"
    return _tagged_reference(version.user_data)


def _tagged_reference(user_data: str) -> str | None:
    match = _TAGGED_REF.search(user_data)
    return match.group(0) if match else None


def _pinned(reference: str | None) -> str | None:
    """``repo:tag@sha256:…`` → ``repo@sha256:…``; other references as they are."""
    if reference is None or "@" not in reference:
        return reference
    named, digest = reference.split("@", 1)
    return f"{_split_tag(named)[0]}@{digest}"


def _split_tag(reference: str) -> tuple[str, str | None]:
    """``repo:tag`` → (repo, tag); a ``host:port/`` prefix is not a tag."""
    repo, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return reference, None
    return repo, tag


def _describe_image(ref: str | None, *, repository: str) -> str:
    """Show an observed image like ``ResolvedImage.describe``: digests short, tags flagged."""
    if not ref:
        return "unknown"
    if "@" in ref:
        named, digest = ref.split("@", 1)
        repo, tag = _split_tag(named)
        short = f"sha256:{digest.removeprefix('sha256:')[:12]}"
        shown = f"{tag} ({short})" if tag else short
        return shown if repo == repository else f"{repo}@{shown}"
    repo, _, tag = ref.rpartition(":")
    shown = f"{tag} (unpinned)"
    return shown if repo in ("", repository) else f"{repo}:{shown}"


def _first_difference(old: str, new: str) -> tuple[str, str]:
    """The first differing line of two UserData scripts: enough to see what changed."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for number in range(max(len(old_lines), len(new_lines))):
        before = old_lines[number] if number < len(old_lines) else ""
        after = new_lines[number] if number < len(new_lines) else ""
        if before != after:
            return (
                f"line {number + 1}: {_shorten(before)}",
                f"line {number + 1}: {_shorten(after)}",
            )
    # Only trailing whitespace or line endings differ.
    return (f"{len(old)} bytes", f"{len(new)} bytes")


def _shorten(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _ELLIPSIS_AT else line[: _ELLIPSIS_AT - 1] + "…"


# ------------------------------------------------------------------------------------------------
# Rollout phase: refreshes and failure markers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RolloutState:
    changes: tuple[Change, ...]
    phase: Phase | None = None  # None: decided by whether there are changes
    message: str = ""
    refresh: ObservedRefresh | None = None


def _rollout_state(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    rollout: tuple[Change, ...],
) -> _RolloutState:
    target = desired_version(desired, template)
    number = target.version_number if target else None
    active = next((r for r in observed.refreshes if r.status.active), None)
    if (
        active is not None
        and number is not None
        and _refresh_version(active, group=group, template=template) == number
    ):
        return _progressing(desired, group=group, refresh=active, number=number, rollout=rollout)
    if _restores(active, group=group, template=template, number=number):
        assert active is not None and number is not None
        return _RolloutState((), Phase.PROGRESSING, _restoring_message(active, number), active)
    if rollout:
        failure = _failure(desired, observed, group=group, template=template, number=number)
        if failure:
            return _RolloutState(rollout, Phase.FAILED, failure, active)
    if active is not None:
        return _superseding(active, group=group, template=template, rollout=rollout)
    return _RolloutState(rollout)


def _restores(
    refresh: ObservedRefresh | None,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> bool:
    """An auto-rollback that is returning the group to the desired version (a revert that
    arrived mid-rollback): cancelling it would strand the group half-way, so it is waited on."""
    return (
        refresh is not None
        and refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS
        and number is not None
        and current_version(group, template) == number
    )


def _restoring_message(refresh: ObservedRefresh, number: int) -> str:
    return (
        f"instance refresh {refresh.refresh_id} is rolling back to launch template version"
        f" {number}, the desired state: waiting for it, {refresh.percentage_complete}% complete"
    )


def _refresh_version(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> int | None:
    # Without a DesiredConfiguration a refresh rolls out whatever the group already points at.
    if refresh.desired_version is None:
        return current_version(group, template)
    return template.resolve(refresh.desired_version)


def _progressing(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    number: int,
    rollout: tuple[Change, ...],
) -> _RolloutState:
    if (
        refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS
        and group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id
    ):
        # `reconciler retry` during the rollback: let it finish, then roll out again. Calling
        # it FAILED here would tag the fingerprint failed again and undo the retry.
        message = (
            f"instance refresh {refresh.refresh_id} for version {number} is rolling back;"
            " retry requested: rolling out again once the rollback ends"
        )
        return _RolloutState((), Phase.PROGRESSING, message, refresh)
    if refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        # The refresh for what we want is being undone: that is rule 4's failure, already.
        message = (
            f"instance refresh {refresh.refresh_id} for version {number} is rolling back"
            f"{_reason(refresh)}; fingerprint {desired.fingerprint} will not be retried"
        )
        return _RolloutState(rollout, Phase.FAILED, message, refresh)
    message = (
        f"rolling out {desired.image.describe()} as launch template version {number}: "
        f"instance refresh {refresh.refresh_id} {refresh.status.value}, "
        f"{refresh.percentage_complete}% complete"
    )
    # The refresh already carries the rollout; only settings drift is left to correct.
    return _RolloutState((), Phase.PROGRESSING, message, refresh)


def _superseding(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    rollout: tuple[Change, ...],
) -> _RolloutState:
    version = _refresh_version(refresh, group=group, template=template)
    what = f"instance refresh {refresh.refresh_id} (version {version or '?'})"
    if refresh.status is RefreshStatus.CANCELLING:
        return _RolloutState(rollout, Phase.SUPERSEDING, f"waiting for cancel of {what}", refresh)
    cancel = Change(
        Resource.INSTANCE_REFRESH,
        refresh.refresh_id,
        "status",
        refresh.status.value,
        RefreshStatus.CANCELLED.value,
        ChangeKind.DELETE,
    )
    message = f"{what} is {refresh.status.value} for an older desired state; cancelling it first"
    return _RolloutState((*rollout, cancel), Phase.SUPERSEDING, message, refresh)


def _failure(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> str:
    """Why the desired fingerprint counts as failed (rule 4), or "" if it does not."""
    refresh = None
    if number is not None:
        refresh = _last_finished_for(
            observed.refreshes, group=group, template=template, number=number
        )
    if refresh is not None and not _ended_badly(refresh):
        refresh = None
    if group.tags.get(TAG_FAILED_FINGERPRINT) == desired.fingerprint:
        # Keep saying why once the tag is set: the tag alone would hide the refresh's reason.
        why = (
            f" after instance refresh {refresh.refresh_id} ended {refresh.status.value}"
            f"{_reason(refresh)}"
            if refresh is not None
            else ""
        )
        return (
            f"fingerprint {desired.fingerprint} is marked failed (tag {TAG_FAILED_FINGERPRINT})"
            f"{why}; not retried until the desired state changes or a retry is requested"
        )
    if refresh is None:
        return ""
    if group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id:
        return ""  # an operator asked for this failure to be forgotten
    return (
        f"instance refresh {refresh.refresh_id} for version {number} ended"
        f" {refresh.status.value}{_reason(refresh)}; not retried until the desired state changes"
    )


def _last_finished_for(
    refreshes: Iterable[ObservedRefresh],
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int,
) -> ObservedRefresh | None:
    finished = (r for r in refreshes if not r.status.active)
    return next(
        (r for r in finished if _refresh_version(r, group=group, template=template) == number),
        None,
    )


def _ended_badly(refresh: ObservedRefresh) -> bool:
    if refresh.status in _FAILED_ENDINGS:
        return True
    # A cancel we issued while superseding is not a failure; one caused by a rollback is.
    return refresh.status is RefreshStatus.CANCELLED and "rollback" in refresh.status_reason.lower()


def _reason(refresh: ObservedRefresh) -> str:
    return f": {refresh.status_reason}" if refresh.status_reason else ""


def _out_of_sync_message(
    desired: DesiredService, *, template: ObservedLaunchTemplate, changes: tuple[Change, ...]
) -> str:
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    if not any(is_rollout(c) for c in changes):
        return count
    target = desired_version(desired, template)
    where = (
        f"launch template version {target.version_number}"
        if target
        else "a new launch template version"
    )
    return f"{count}; rollout of {desired.image.describe()} to {where} needed"
