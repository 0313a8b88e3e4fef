"""Health checks on the group: a stopped or unhealthy instance is replaced.

EC2's health check is always on: an instance that leaves the ``running`` state (stopped,
stopping) is marked Unhealthy and replaced at once, even inside the grace period (UG-grace,
UG-health: "If … instances are no longer running … it immediately replaces them"; aws-facts 2,
row C3); its scaling activity says "in response to an EC2 health check indicating it has been
terminated or stopped".

With ``HealthCheckType: ELB``, AWS marks an in-service instance Unhealthy once the load balancer
does, after the group's health check grace period has passed since it went InService (UG-grace,
UG-hooks; row C2), and replaces it.

AWS keeps doing so while an instance refresh runs: "The instance refresh also terminates and
replaces instances found unhealthy", and health-check replacement runs alongside maintenance
events (UG-overview, UG-IMP; aws-facts 1.13, row A5). During a refresh the replacement is
launched from the refresh's configuration, like a scale-out (1.13, row A6), and the refresh
takes it on (``Replacement.adopt``): it counts as the replacement of an old instance still to
be replaced, and the refresh does not finish before it is in service and healthy. The refresh's
own new instances that fail are left to the refresh, which replaces them for an hour (1.5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.sandbox import groups, launches
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.fixes import target_health
from reconciler.sandbox.fixes.group_instances import launch_ref
from reconciler.sandbox.groups import TemplateRef
from reconciler.sandbox.refresh import InstanceRefresh
from reconciler.sandbox.replacement import Replacement


def uses_elb_health(group: Any) -> bool:
    return group.health_check_type == "ELB" and bool(group.target_group_arns)


def heal(group: Any, now: datetime, refresh: InstanceRefresh | None = None) -> list[str]:
    """Replace the group's stopped and unhealthy instances; returns the ids it terminated."""
    replacing = refresh.current if refresh is not None else None
    owned = set(replacing.launched) if replacing is not None else set()
    ref = launch_ref(group)
    if ref is None:
        return []
    stopped = [s for s in group.instance_states if _stopped(s)]
    sick = []
    if uses_elb_health(group):
        sick = [
            s
            for s in groups.live_states(group)
            if s.instance.id not in owned and _unhealthy(group, s, now)
        ]
    doomed = _replace(group, stopped, Cause.EC2_HEALTH, ref, replacing)
    doomed += _replace(group, sick, Cause.ELB_HEALTH, ref, replacing)
    if doomed:
        groups.sync_target_groups(group)
    return doomed


def _replace(
    group: Any, states: list[Any], cause: Cause, ref: TemplateRef, replacing: Replacement | None
) -> list[str]:
    if not states:
        return []
    for state in states:
        state.health_status = "Unhealthy"
    doomed = [s.instance.id for s in states]
    groups.terminate(group, doomed, cause)
    fresh = groups.launch(group, len(doomed), groups.resolve(group, ref), Cause.HEALED)
    if replacing is not None:
        for old, new in zip(doomed, fresh, strict=True):
            replacing.adopt(old, new.instance.id)
    return doomed


def _stopped(state: Any) -> bool:
    """EC2's health check: a member that left ``running`` is Unhealthy, grace period or not."""
    return state.lifecycle_state not in (launches.TERMINATING, "Standby") and (
        state.instance.state in ("stopping", "stopped")
    )


def _unhealthy(group: Any, state: Any, now: datetime) -> bool:
    if state.lifecycle_state != launches.IN_SERVICE:
        return False
    # The grace period counts from InService, not launch (UG-hooks, UG-grace; row C2).
    in_service = launches.in_service_at(state.instance)
    grace = timedelta(seconds=int(group.health_check_grace_period or 0))
    if in_service is not None and now < in_service + grace:
        return False
    return "unhealthy" in target_health.states(group, state.instance.id)
