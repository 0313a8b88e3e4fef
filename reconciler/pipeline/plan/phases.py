"""The rollout actions of a plan, by phase: start a rollout (reuse or create a version, start a
refresh), go past a checkpoint (tag the group, cancel the held refresh, then start its
continuation), supersede a refresh for an older state, and stop and mark a failed one and put
the previous version back on what its rollback left.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.images.description import description
from reconciler.model import (
    NEW_VERSION,
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    Action,
    CancelInstanceRefresh,
    CreateLaunchTemplateVersion,
    DesiredService,
    Diff,
    MarkFailed,
    NewVersion,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    Phase,
    RefreshStatus,
    Resource,
    RollbackInstanceRefresh,
    StartInstanceRefresh,
    TagResource,
    Verdict,
)
from reconciler.pipeline.diff import checkpoint, current_version, desired_version, is_rollout
from reconciler.pipeline.diff import restore as restoring
from reconciler.pipeline.plan.settings import reasons
from reconciler.pipeline.preferences import (
    continuation_preferences,
    refresh_preferences,
    restore_preferences,
)

CLIENT_TOKEN_LIMIT = 64  # EC2 ClientToken


def client_token(*, fingerprint: str, template_name: str) -> str:
    """Deterministic per content (rule 1): a retried create returns the same version."""
    return f"asgr-{fingerprint}-{template_name}"[:CLIENT_TOKEN_LIMIT]


def phase_actions(
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
        Phase.PROGRESSING: lambda: _checkpoint_actions(diff, group=group),
        Phase.SUPERSEDING: lambda: _cancel_actions(diff, group=group),
        Phase.FAILED: lambda: [
            *_mark_failed_actions(desired, diff, group=group),
            *_restore_actions(desired, diff, group=group, template=template),
        ],
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
    passed = checkpoint.pending((diff.refresh,), group.tags) if diff.refresh else None
    if not rollout and passed is None:
        return []
    reason = reasons(rollout) if rollout else "the rollout goes on"
    existing = desired_version(desired, template)
    actions: list[Action] = []
    version: int | NewVersion
    if existing is not None:
        # A revert, or a crash after the create: reuse the version rather than make another.
        version = existing.version_number
    else:
        actions.append(create_version(desired, group=group, template=template, revision=revision))
        version = NEW_VERSION
    preferences = refresh_preferences(desired.spec.rollout)
    if passed is not None and diff.refresh is not None:
        ahead = checkpoint.remaining(diff.refresh, passed.checkpoint)
        preferences = continuation_preferences(desired.spec.rollout, ahead)
        reason = f"continue past checkpoint {passed.checkpoint}% ({reason})"
    actions.append(
        StartInstanceRefresh(
            resource_name=group.name,
            reason=reason,
            launch_template_id=template.id,
            version=version,
            preferences=preferences,
            fingerprint=desired.fingerprint,
        )
    )
    return actions


def _checkpoint_actions(diff: Diff, *, group: ObservedAutoScalingGroup) -> list[Action]:
    """Past a held checkpoint: the marker first (tags sort before the cancel), so the cancel
    is known for ours on every later tick, then the cancel itself."""
    going = [c for c in diff.changes if c.field == checkpoint.FIELD]
    actions: list[Action] = []
    for change in going:
        reason = f"go past the checkpoint instance refresh {change.resource_name} is held at"
        actions.append(
            TagResource(
                resource_name=group.name,
                reason=reason,
                resource_type=Resource.AUTO_SCALING_GROUP,
                resource_id=group.name,
                tags={TAG_CHECKPOINT: str(change.new)},
            )
        )
        actions.append(CancelInstanceRefresh(resource_name=group.name, reason=reason))
    return actions


def _restore_actions(
    desired: DesiredService,
    diff: Diff,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> list[Action]:
    found = [c for c in diff.changes if c.field == restoring.FIELD]
    return [
        StartInstanceRefresh(
            resource_name=group.name,
            reason=f"put version {change.new} back on {change.old} the rollback left",
            launch_template_id=template.id,
            version=int(str(change.new)),
            preferences=restore_preferences(desired.spec.rollout),
            fingerprint=desired.fingerprint,
        )
        for change in found
    ]


def create_version(
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
    stops = [
        c for c in diff.changes if c.resource is Resource.INSTANCE_REFRESH and c.field == "status"
    ]
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
