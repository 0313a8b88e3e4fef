"""After a failed rollout, the instances its rollback did not put back: restored by a refresh.

RollbackInstanceRefresh "replaces any instances that were replaced during the instance refresh"
and restores the configuration the group had before *that* refresh started
([M RollbackInstanceRefresh], UG-rollback). A rollout that went past a checkpoint is a chain of
refreshes (``checkpoint``): the earlier ones were cancelled, and a cancel rolls nothing back
(UG-cancel, aws-facts 1.7), so the rollback of the last one leaves the instances the earlier
ones replaced on the failed version, while the group itself is back on the previous one (AWS
writes a desired configuration to the group only when a refresh succeeds, 1.1). The same holds
when the analysis fails between our cancel and the continuation: nothing is left to roll back.

With ``autoRollback`` the product promises the previous version on every instance, so once no
refresh is active, instances on another version than the group's own are replaced by one more
refresh to the group's version with SkipMatching (UG-skip: only those that do not match are
replaced; with none left it succeeds at once).
"""

from __future__ import annotations

from reconciler.model import (
    Change,
    ChangeKind,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    Resource,
)
from reconciler.pipeline.diff.versions import current_version

FIELD = "restore"


def restore_changes(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> tuple[Change, ...]:
    """The refresh to the group's own version, when instances run another after a failure."""
    if not desired.spec.rollout.auto_rollback:
        return ()  # documented: without it the instances already replaced keep their version
    current = current_version(group, template)
    if current is None or group.launch_template_version in (None, "$Latest", "$Default"):
        return ()
    others = [
        i
        for i in group.instances
        # Terminating ones are on their way out (a rollback's last old instance draining).
        if i.lifecycle_state == "InService"
        and i.launch_template_version is not None
        and template.resolve(i.launch_template_version) != current
    ]
    if not others:
        return ()
    return (
        Change(
            Resource.INSTANCE_REFRESH,
            group.name,
            FIELD,
            f"{len(others)} instance(s) on another version",
            current,
            ChangeKind.CREATE,
        ),
    )


def restore_note(changes: tuple[Change, ...]) -> str:
    found = next((c for c in changes if c.field == FIELD), None)
    if found is None:
        return ""
    return (
        f"; {found.old} after the rollback: a refresh to version {found.new} (SkipMatching)"
        " puts the previous version back on them"
    )
