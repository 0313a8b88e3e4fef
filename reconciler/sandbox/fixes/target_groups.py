"""Keep a group's target groups in step with its instances.

moto 5.2.5 registers a group's instances when its desired capacity changes, but not the
replacements it launches when an instance is terminated (self-healing), and it never deregisters
instances that leave the group (scale-in, TerminateInstanceInAutoScalingGroup, detach): those stay
registered, and "healthy", forever. Every membership change now ends in
``groups.sync_target_groups``.

An instance terminated through EC2 itself leaves its group with a scaling activity carrying
AWS's EC2 health-check cause ("… indicating it has been terminated or stopped"; Knowledge Center
"Why did Amazon EC2 Auto Scaling terminate an instance?").
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import AutoScalingBackend

from reconciler.sandbox import activities, groups
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.patching import original, patch


def install() -> None:
    patch(AutoScalingBackend, "update_attached_target_groups", _update_attached_target_groups)
    patch(AutoScalingBackend, "notify_terminate_instances", _notify_terminate_instances)


def _update_attached_target_groups(self: Any, group_name: str) -> None:
    groups.sync_target_groups(self.autoscaling_groups[group_name])


def _notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
    gone = set(instance_ids)
    for group in list(self.autoscaling_groups.values()):
        for state in group.instance_states:
            if state.instance.id in gone:
                activities.record(group, state, Cause.EC2_HEALTH)
    # moto launches the replacements here but only refreshes classic ELBs afterwards.
    original(AutoScalingBackend, "notify_terminate_instances")(self, instance_ids)
    for instance_id in sorted(gone):
        activities.finish(self, instance_id, launch=False)
    for group in list(self.autoscaling_groups.values()):
        groups.sync_target_groups(group)
