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

While any refresh is active the version pin waits for a later tick (``settings``).
"""

from __future__ import annotations

from reconciler.model import (
    TAG_BG_ROLLOUT,
    Action,
    ClearFailed,
    DesiredService,
    Diff,
    ObservedService,
    Phase,
    Plan,
    Resource,
    ServiceOutcome,
    TagResource,
)
from reconciler.pipeline.diff import is_rollout
from reconciler.pipeline.diff.failure import group_marker
from reconciler.pipeline.plan.bluegreen import plan_blue_green, sides_of
from reconciler.pipeline.plan.phases import CLIENT_TOKEN_LIMIT, client_token, phase_actions
from reconciler.pipeline.plan.settings import settings_actions

__all__ = ["CLIENT_TOKEN_LIMIT", "client_token", "plan", "retry"]

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
    if desired.spec.blue_green is not None:
        recorded = revision if revision is not None else desired.spec.source.revision
        return plan_blue_green(desired, observed, diff, owner=owner, revision=recorded)
    group = observed.auto_scaling_group
    template = observed.launch_template
    target = observed.target_group
    if diff.phase not in _SETTINGS_PHASES or group is None or template is None or target is None:
        return Plan(desired.name, (), diff.phase, diff.message)
    settings, deferred = settings_actions(
        desired,
        observed=observed,
        group=group,
        template=template,
        target=target,
        changes=[c for c in diff.changes if not is_rollout(c)],
        owner=owner,
    )
    actions = [
        *settings,
        *phase_actions(
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
    if outcome.spec.blue_green is not None:
        return _retry_blue_green(outcome)
    failed = outcome.observed.last_failed_refresh() if outcome.observed else None
    action = ClearFailed(
        resource_name=outcome.spec.auto_scaling_group.name,
        reason="retry requested",
        retried_refresh=failed.refresh_id if failed else None,
    )
    return Plan(outcome.spec.name, (action,), Phase.OUT_OF_SYNC)


def _retry_blue_green(outcome: ServiceOutcome) -> Plan | None:
    """Blue/green keeps the failure on the side it failed on; no refresh history to tag."""
    sides = sides_of(outcome.observed) if outcome.observed is not None else None
    if sides is None:
        return None
    groups = [g for g in (sides.blue, sides.green) if group_marker(g) is not None]
    actions: list[Action] = []
    for group in groups:
        actions.append(ClearFailed(resource_name=group.name, reason="retry requested"))
        # Without its rollout record the side's next rollout is judged afresh (``decide``).
        actions.append(
            TagResource(
                resource_name=group.name,
                reason="retry: a new rollout",
                resource_type=Resource.AUTO_SCALING_GROUP,
                resource_id=group.name,
                tags={TAG_BG_ROLLOUT: ""},
            )
        )
    ordered = tuple(sorted(actions, key=lambda a: a.kind))
    return Plan(outcome.spec.name, ordered, Phase.OUT_OF_SYNC) if actions else None
