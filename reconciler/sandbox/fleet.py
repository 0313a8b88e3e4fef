"""A moto Auto Scaling group seen through the refresh's ``Fleet`` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from reconciler.sandbox import groups, launches
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.fixes import target_health
from reconciler.sandbox.groups import TemplateRef
from reconciler.sandbox.holds import Hold
from reconciler.sandbox.replacement import Progress


class GroupFleet:
    def __init__(self, group: Any) -> None:
        self.group = group

    def instance_ids(self) -> list[str]:
        return [s.instance.id for s in groups.live_states(self.group)]

    def outdated(self, ref: TemplateRef) -> list[str]:
        version = groups.resolve(self.group, ref)
        wanted = (version.template.id, version.number)
        return [
            s.instance.id
            for s in groups.live_states(self.group)
            if groups.launched_from(s.instance) != wanted
        ]

    def capacity(self) -> int:
        return int(self.group.desired_capacity or 0)

    def launch(self, count: int, ref: TemplateRef, cause: Cause = Cause.REFRESH_IN) -> list[str]:
        states = groups.launch(self.group, count, groups.resolve(self.group, ref), cause)
        return [s.instance.id for s in states]

    def retire(self, instance_ids: Sequence[str], cause: Cause = Cause.REFRESH_OUT) -> None:
        groups.terminate(self.group, instance_ids, cause)
        groups.sync_target_groups(self.group)

    def set_template(self, ref: TemplateRef) -> None:
        groups.set_template(self.group, ref)

    def alarming(self, names: Sequence[str]) -> list[str]:
        if not names:
            return []
        backend = self.group.autoscaling_backend
        alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
        return [n for n in names if n in alarms and alarms[n].state_value == "ALARM"]

    def held(self, instance_id: str) -> Hold | None:
        state = next(
            (s for s in groups.live_states(self.group) if s.instance.id == instance_id), None
        )
        if state is None:
            return None
        if state.lifecycle_state == "Standby":
            return Hold.STANDBY
        return Hold.PROTECTED if state.protected_from_scale_in else None

    def progress(self, instance_id: str, now: datetime) -> Progress:
        state = next(
            (s for s in groups.live_states(self.group) if s.instance.id == instance_id), None
        )
        if state is None:
            return Progress(None, False, "the instance was terminated")
        if state.lifecycle_state != launches.IN_SERVICE:
            return Progress(None, False)
        started = launches.in_service_at(state.instance) or now
        healthy, failure = self._health(state.instance, now)
        return Progress(started, healthy, failure)

    def _health(self, instance: Any, now: datetime) -> tuple[bool, str | None]:
        """(healthy, failure): ELB health for an ELB group, else the instance merely running."""
        if self.group.health_check_type != "ELB" or not self.group.target_group_arns:
            return instance.state == "running", None
        states = target_health.states(self.group, instance.id)
        if all(s == "healthy" for s in states):
            return True, None
        # The grace period counts from InService, not launch (UG-hooks, UG-grace; row C2).
        in_service = launches.in_service_at(instance) or now
        grace = timedelta(seconds=int(self.group.health_check_grace_period or 0))
        if "unhealthy" in states and now >= in_service + grace:
            # The group's ELB health check now says Unhealthy: AWS would replace it, and a
            # replacement that fails its health checks fails the refresh.
            return False, (
                "failed Elastic Load Balancing health checks after the health check grace "
                f"period ({int(grace.total_seconds())} s): Target.FailedHealthChecks"
            )
        return False, None
