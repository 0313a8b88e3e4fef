"""ELB health checks on the group: an instance its target group finds unhealthy is replaced.

With ``HealthCheckType: ELB``, AWS marks an in-service instance Unhealthy once the load balancer
does, after the group's health check grace period has passed since it went InService (UG-grace,
UG-hooks; row C2), and replaces it from the group's launch template. Groups with a refresh under
way are left to the refresh, which replaces its own failing new instances for an hour (1.5).
AWS keeps healing the other instances during a refresh (row A5); the sandbox does not yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.sandbox import groups, launches
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.fixes import target_health


def uses_elb_health(group: Any) -> bool:
    return group.health_check_type == "ELB" and bool(group.target_group_arns)


def heal(group: Any, now: datetime) -> list[str]:
    """Replace the group's unhealthy instances; returns the ids it terminated."""
    if not uses_elb_health(group):
        return []
    ref = groups.template_ref(group)
    sick = [s for s in groups.live_states(group) if _unhealthy(group, s, now)]
    if not sick or ref is None:
        return []
    for state in sick:
        state.health_status = "Unhealthy"
    doomed = [s.instance.id for s in sick]
    groups.terminate(group, doomed, Cause.ELB_HEALTH)
    groups.launch(group, len(doomed), groups.resolve(group, ref), Cause.HEALED)
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
