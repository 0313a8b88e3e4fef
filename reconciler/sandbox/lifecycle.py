"""Instances take time to start: ``Pending`` for ``LAUNCH_SECONDS``, then ``InService``.

moto puts a launched instance in service at once. Here a group's new instance is ``Pending``
(not registered with any target group, not counted as healthy) until its launch time has passed
on the sandbox clock; then it goes ``InService`` and is registered with the group's target
groups, which starts its health checks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.sandbox import activities, groups, launches, runtime, timing
from reconciler.sandbox.launches import IN_SERVICE, PENDING


def promote(group: Any, now: datetime) -> bool:
    """Put booted instances in service and register them; True if any changed."""
    changed = False
    for state in groups.live_states(group):
        ready = launches.in_service_at(state.instance)
        if state.lifecycle_state == PENDING and (ready is None or ready <= now):
            state.lifecycle_state = IN_SERVICE
            # The launch activity ends when the instance is InService (derived: activities).
            activities.finish(
                group.autoscaling_backend, state.instance.id, launch=True, at=ready or now
            )
            changed = True
    if changed:
        groups.sync_target_groups(group)
    return changed


def pending(group: Any) -> bool:
    return any(s.lifecycle_state == PENDING for s in groups.live_states(group))


def settle(group: Any, now: datetime) -> None:
    """Make the group's instances look long started: the seed's steady state, not a launch."""
    long_ago = now - timedelta(seconds=timing.SETTLED_AGE_SECONDS)
    for state in groups.live_states(group):
        launches.backdate(state.instance, long_ago)
        state.lifecycle_state = IN_SERVICE
        activities.backdate(
            group.autoscaling_backend,
            state.instance.id,
            long_ago,
            long_ago + timedelta(seconds=timing.LAUNCH_SECONDS),
        )
    with runtime.current().at(long_ago):  # registered long ago too: their checks have passed
        groups.sync_target_groups(group)
