"""Keep a group's target groups in step with its instances.

moto 5.2.5 registers a group's instances when its desired capacity changes, but not the
replacements it launches when an instance is terminated (self-healing), and it never deregisters
instances that leave the group (scale-in, TerminateInstanceInAutoScalingGroup, detach): those stay
registered, and "healthy", forever. Every membership change now ends in
``groups.sync_target_groups``.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import AutoScalingBackend

from reconciler.sandbox import groups
from reconciler.sandbox.patching import original, patch


def install() -> None:
    patch(AutoScalingBackend, "update_attached_target_groups", _update_attached_target_groups)
    patch(AutoScalingBackend, "notify_terminate_instances", _notify_terminate_instances)


def _update_attached_target_groups(self: Any, group_name: str) -> None:
    groups.sync_target_groups(self.autoscaling_groups[group_name])


def _notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
    # moto launches the replacements here but only refreshes classic ELBs afterwards.
    original(AutoScalingBackend, "notify_terminate_instances")(self, instance_ids)
    for group in list(self.autoscaling_groups.values()):
        groups.sync_target_groups(group)
