"""``diff``: one service's desired state against what AWS holds, in the order the phases rank.

Missing or foreign resources block everything; then the settings, the rollout changes and the
rollout phase are gathered from their modules, and ``spec.paused`` has the last word.
"""

from __future__ import annotations

import dataclasses

from reconciler.model import (
    Change,
    DesiredService,
    Diff,
    ObservedLaunchTemplate,
    ObservedService,
    Phase,
)
from reconciler.pipeline.diff.bluegreen import diff_blue_green
from reconciler.pipeline.diff.gates import gates
from reconciler.pipeline.diff.notes import notes
from reconciler.pipeline.diff.ownership import (
    detached_message,
    missing_message,
    ownership_conflict,
    tag_changes,
    tagged,
)
from reconciler.pipeline.diff.rollout import rollout_state
from reconciler.pipeline.diff.rollout_plan import no_rollout, rolling_plan
from reconciler.pipeline.diff.settings import group_changes, scaling_changes, target_group_changes
from reconciler.pipeline.diff.versions import (
    current_version,
    desired_version,
    is_rollout,
    rollout_changes,
)


def diff(desired: DesiredService, observed: ObservedService, *, owner: str) -> Diff:
    """Compare one service's desired state with what AWS holds."""
    if desired.spec.blue_green is not None:
        found = diff_blue_green(desired, observed, owner=owner)
    else:
        found = _diff_rolling(desired, observed, owner=owner)
    group, target = observed.auto_scaling_group, observed.target_group
    refused = found.phase is Phase.BLOCKED and not found.changes and not desired.spec.paused
    if group is None or target is None or refused:
        return found
    return dataclasses.replace(found, notes=notes(desired, observed, group=group, target=target))


def _diff_rolling(desired: DesiredService, observed: ObservedService, *, owner: str) -> Diff:
    group = observed.auto_scaling_group
    template = observed.launch_template
    target = observed.target_group
    if group is None or template is None or target is None:
        return _blocked(desired, missing_message(desired, observed))
    resources = tagged(group, template, target)
    conflict = detached_message(group, target) or ownership_conflict(
        desired, resources, owner=owner
    )
    if conflict:
        return _blocked(desired, conflict)

    settings = (
        *tag_changes(desired, resources, owner=owner),
        *target_group_changes(desired, target),
        *group_changes(desired, group, observed.scaling_policies),
        *scaling_changes(desired, observed),
    )
    rollout = rollout_changes(desired, group=group, template=template)
    state = rollout_state(desired, observed, group=group, template=template, rollout=rollout)
    changes = (*settings, *state.changes)
    if desired.spec.paused:
        return Diff(desired.name, changes, Phase.BLOCKED, "paused", state.refresh)
    if state.phase is not None:
        return Diff(
            desired.name,
            changes,
            state.phase,
            state.message,
            state.refresh,
            state.failed_marker,
            state.analysis,
        )
    if changes:
        message = _out_of_sync_message(desired, template=template, changes=changes)
        starts = any(is_rollout(c) for c in changes)
        return Diff(
            desired.name,
            changes,
            Phase.OUT_OF_SYNC,
            message,
            gates=gates(desired.spec) if starts else (),
            rollout_plan=(
                rolling_plan(desired, group=group, template=template)
                if starts
                else no_rollout(desired.spec.strategy)
            ),
        )
    version = current_version(group, template)
    return Diff(desired.name, (), Phase.IN_SYNC, f"in sync at launch template version {version}")


def _blocked(desired: DesiredService, message: str) -> Diff:
    return Diff(desired.name, (), Phase.BLOCKED, message)


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
