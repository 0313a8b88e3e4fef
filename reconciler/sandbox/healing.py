"""ELB health checks on the group: an instance its target group finds unhealthy is replaced.

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
from reconciler.sandbox.refresh import InstanceRefresh


def uses_elb_health(group: Any) -> bool:
    return group.health_check_type == "ELB" and bool(group.target_group_arns)


def heal(group: Any, now: datetime, refresh: InstanceRefresh | None = None) -> list[str]:
    """Replace the group's unhealthy instances; returns the ids it terminated."""
    if not uses_elb_health(group):
        return []
    replacing = refresh.current if refresh is not None else None
    owned = set(replacing.launched) if replacing is not None else set()
    ref = launch_ref(group)
    sick = [
        s
        for s in groups.live_states(group)
        if s.instance.id not in owned and _unhealthy(group, s, now)
    ]
    if not sick or ref is None:
        return []
    for state in sick:
        state.health_status = "Unhealthy"
    doomed = [s.instance.id for s in sick]
    groups.terminate(group, doomed, Cause.ELB_HEALTH)
    fresh = groups.launch(group, len(doomed), groups.resolve(group, ref), Cause.HEALED)
    if replacing is not None:
        for old, new in zip(doomed, fresh, strict=True):
            replacing.adopt(old, new.instance.id)
    groups.sync_target_groups(group)
    return doomed


def _unhealthy(group: Any, state: Any, now: datetime) -> bool:
    if state.lifecycle_state != launches.IN_SERVICE:
        return False
    # The grace period counts from InService, not launch (UG-hooks, UG-grace; row C2).
    in_service = launches.in_service_at(state.instance)
    grace = timedelta(seconds=int(group.health_check_grace_period or 0))
    if in_service is not None and now < in_service + grace:
        return False
    return "unhealthy" in target_health.states(group, state.instance.id)
