"""Turn a ``Diff`` into the ``Action``s that make AWS match it. Pure: no I/O; apply decides nothing.

What a phase allows (see ``diff`` for how the phase is chosen):

=============  ==========================================================================
IN_SYNC        nothing
OUT_OF_SYNC    settings drift, then the rollout (reuse or create a version, start a refresh)
PROGRESSING    settings drift only: the refresh in flight carries the rollout
SUPERSEDING    settings drift, and cancel the other refresh unless it is already cancelling
FAILED         settings drift; stopping a refresh the analysis failed (roll back, or cancel
               without autoRollback); MARK_FAILED when the failure is not tagged yet
BLOCKED        nothing
=============  ==========================================================================

``retry`` plans `reconciler retry`: forgetting a failed fingerprint (CLEAR_FAILED).

"Settings" are the target group health check, adoption tags, group sizes and health check,
pinning a floating version reference, and the scaling policy. Actions sort by ``ActionKind``:
adoption tags first, so every later write meets a resource already tagged as ours.

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

from collections.abc import Callable, Iterable

from reconciler.images.description import description
from reconciler.model import (
    NEW_VERSION,
    POLICY_METRIC,
    TAG_FAILED_FINGERPRINT,
    Action,
    CancelInstanceRefresh,
    Change,
    ChangeKind,
    ClearFailed,
    CreateLaunchTemplateVersion,
    DeleteScalingPolicy,
    DesiredService,
    Diff,
    MarkFailed,
    ModifyTargetGroup,
    NewVersion,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedService,
    ObservedTargetGroup,
    Phase,
    Plan,
    PutScalingPolicy,
    RefreshStatus,
    Resource,
    RollbackInstanceRefresh,
    ServiceOutcome,
    StartInstanceRefresh,
    TagResource,
    UpdateAutoScalingGroup,
    Value,
    Verdict,
    VersionPin,
    fields,
    value_text,
)
from reconciler.pipeline.diff import (
    current_version,
    desired_version,
    is_rollout,
    missing_tags,
)
from reconciler.pipeline.preferences import refresh_preferences

CLIENT_TOKEN_LIMIT = 64  # EC2 ClientToken
_GROUP_YAML = {f.yaml: f for f in fields.GROUP}

_SETTINGS_PHASES = frozenset(
    {Phase.OUT_OF_SYNC, Phase.PROGRESSING, Phase.SUPERSEDING, Phase.FAILED}
)


def plan(
    desired: DesiredService,
    observed: ObservedService,
    diff: Diff,
    *,
    owner: str,
    revision: str | None = None,
) -> Plan:
    """The actions for one service, in apply order.

    ``revision`` (the git commit) goes into a new version's description; it defaults to the
    revision the desired state was loaded at.
    """
    group = observed.auto_scaling_group
    template = observed.launch_template
    target = observed.target_group
    if diff.phase not in _SETTINGS_PHASES or group is None or template is None or target is None:
        return Plan(desired.name, (), diff.phase, diff.message)
    settings, deferred = _defer_pin(
        [c for c in diff.changes if not is_rollout(c)], observed=observed
    )
    actions = [
        *_target_group_actions(desired, target=target, changes=settings),
        *_tag_actions(
            desired, group=group, template=template, target=target, changes=settings, owner=owner
        ),
        *_group_actions(group=group, template=template, changes=settings),
        *_scaling_actions(group=group, changes=settings),
        *_phase_actions(
            desired,
            diff,
            group=group,
            template=template,
            revision=revision if revision is not None else desired.spec.source.revision,
        ),
    ]
    ordered = tuple(sorted(actions, key=lambda a: a.kind))
    return Plan(desired.name, ordered, diff.phase, diff.message + deferred)


def retry(outcome: ServiceOutcome) -> Plan | None:
    """What `reconciler retry` applies: forget the failed fingerprint, so the next pass rolls the
    desired state out again. ``None`` when no failure is recorded.

    The failed refresh is tagged too: its failure stays in the refresh history, and the diff must
    not find it there again.
    """
    diff = outcome.diff
    if diff is None or diff.phase is not Phase.FAILED:
        return None
    failed = outcome.observed.last_failed_refresh() if outcome.observed else None
    action = ClearFailed(
        resource_name=outcome.spec.auto_scaling_group.name,
        reason="retry requested",
        retried_refresh=failed.refresh_id if failed else None,
    )
    return Plan(outcome.spec.name, (action,), Phase.OUT_OF_SYNC)


def client_token(*, fingerprint: str, template_name: str) -> str:
    """Deterministic per content (rule 1): a retried create returns the same version."""
    return f"asgr-{fingerprint}-{template_name}"[:CLIENT_TOKEN_LIMIT]


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


def _defer_pin(changes: list[Change], *, observed: ObservedService) -> tuple[list[Change], str]:
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
            reason=_reasons(relevant),
            target_group_arn=target.arn,
            health_check=desired.spec.target_group.health_check,
        )
    ]


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
            resource_name=group.name, reason=_reasons(relevant), settings=settings, pin=pin
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
            reason = f"{change.resource_name}: {POLICY_METRIC} target {_reasons([change])}"
            actions.append(
                PutScalingPolicy(
                    resource_name=group.name,
                    reason=reason,
                    policy_name=change.resource_name,
                    target_value=float(change.new),
                )
            )
    return actions


# ------------------------------------------------------------------------------------------------
# Rollout, supersede and failure, by phase
# ------------------------------------------------------------------------------------------------


def _phase_actions(
    desired: DesiredService,
    diff: Diff,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    revision: str | None,
) -> list[Action]:
    builders: dict[Phase, Callable[[], list[Action]]] = {
        Phase.OUT_OF_SYNC: lambda: _rollout_actions(
            desired, diff, group=group, template=template, revision=revision
        ),
        Phase.SUPERSEDING: lambda: _cancel_actions(diff, group=group),
        Phase.FAILED: lambda: _mark_failed_actions(desired, diff, group=group),
    }
    build = builders.get(diff.phase)
    return build() if build else []


def _rollout_actions(
    desired: DesiredService,
    diff: Diff,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    revision: str | None,
) -> list[Action]:
    rollout = [c for c in diff.changes if is_rollout(c)]
    if not rollout:
        return []
    reason = _reasons(rollout)
    existing = desired_version(desired, template)
    actions: list[Action] = []
    version: int | NewVersion
    if existing is not None:
        # A revert, or a crash after the create: reuse the version rather than make another.
        version = existing.version_number
    else:
        actions.append(_create_version(desired, group=group, template=template, revision=revision))
        version = NEW_VERSION
    actions.append(
        StartInstanceRefresh(
            resource_name=group.name,
            reason=reason,
            launch_template_id=template.id,
            version=version,
            preferences=refresh_preferences(desired.spec.rollout),
            fingerprint=desired.fingerprint,
        )
    )
    return actions


def _create_version(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    revision: str | None,
) -> CreateLaunchTemplateVersion:
    # Copy from what the group runs so settings we do not manage (AMI, type, SGs) carry over.
    source = current_version(group, template) or template.default_version
    return CreateLaunchTemplateVersion(
        resource_name=template.name,
        reason=f"new version from {source} with {desired.image.describe()}",
        launch_template_id=template.id,
        source_version=source,
        user_data=desired.user_data,
        description=description(
            fingerprint=desired.fingerprint, revision=revision, image=desired.image
        ),
        client_token=client_token(fingerprint=desired.fingerprint, template_name=template.name),
    )


def _cancel_actions(diff: Diff, *, group: ObservedAutoScalingGroup) -> list[Action]:
    refresh = diff.refresh
    if refresh is None or refresh.status is RefreshStatus.CANCELLING:
        return []
    reason = f"supersede instance refresh {refresh.refresh_id} ({refresh.status.value})"
    return [CancelInstanceRefresh(resource_name=group.name, reason=reason)]


def _mark_failed_actions(
    desired: DesiredService, diff: Diff, *, group: ObservedAutoScalingGroup
) -> list[Action]:
    # Tagging the group makes the failure survive refresh history ageing out and restarts.
    marker = diff.failed_marker or desired.fingerprint  # the rollout key: model.markers
    stop = _stop_actions(desired, diff, group=group)
    if group.tags.get(TAG_FAILED_FINGERPRINT) == marker:
        return stop
    why = diff.message
    if diff.analysis is not None and diff.analysis.verdict is Verdict.FAIL:
        why = f"analysis failed: {diff.analysis.message}"  # the numbers, for the reason tag
    return [*stop, MarkFailed(resource_name=group.name, reason=why, fingerprint=marker)]


def _stop_actions(
    desired: DesiredService, diff: Diff, *, group: ObservedAutoScalingGroup
) -> list[Action]:
    """Stop the refresh the analysis failed (``diff.judgement``): roll it back, or cancel it."""
    stops = [c for c in diff.changes if c.resource is Resource.INSTANCE_REFRESH]
    actions: list[Action] = []
    for change in stops:
        reason = f"analysis failed instance refresh {change.resource_name}"
        if change.new == RefreshStatus.ROLLBACK_IN_PROGRESS.value:
            actions.append(
                RollbackInstanceRefresh(
                    resource_name=group.name, reason=reason, refresh_id=change.resource_name
                )
            )
        else:
            actions.append(CancelInstanceRefresh(resource_name=group.name, reason=reason))
    return actions


# ------------------------------------------------------------------------------------------------
# Reasons
# ------------------------------------------------------------------------------------------------


def _reasons(changes: Iterable[Change]) -> str:
    return "; ".join(f"{c.field}: {value_text(c.old)} → {value_text(c.new)}" for c in changes)
