"""Instances an Auto Scaling group launches: which version they run, and where they go.

moto 5.2.5 reports every instance's launch template version as the template's *current default*
(``InstanceState.launch_template``), so an instance launched from version 1 claims version 3 after
the default moves. It also puts every instance in the group's first subnet. The patched launch
resolves the group's version to a number, launches from it (AWS tags the instance with it), and
spreads instances over the group's AZs; instances report the version they were launched from.

moto counts only ``InService`` instances toward desired capacity, so the sandbox's 60 s of
``Pending`` made scale-in and scale-out overshoot; AWS counts Pending too (aws-facts 1.13,
[M RefreshPreferences.MaxHealthyPercentage] "in service and healthy, or pending"; row A7).
During an instance refresh, instances launched to reach desired capacity use the refresh's
desired configuration, not the group's current one (UG-overview core concepts, 1.13; row A6).

Scale-in terminates through ``groups.terminate``, like every other termination, so it is a
scaling activity with AWS's capacity cause ("… shrinking the capacity from 4 to 1.") and the
instance drains as ``Terminating`` first (row C4). Deleting a group terminates what is left of
it at once.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState

from reconciler.sandbox import groups
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.patching import original, patch


def install() -> None:
    patch(
        FakeAutoScalingGroup,
        "replace_autoscaling_group_instances",
        _replace_autoscaling_group_instances,
    )
    patch(InstanceState, "launch_template", property(_instance_launch_template))
    patch(FakeAutoScalingGroup, "active_instances", _active_instances)
    patch(FakeAutoScalingGroup, "set_desired_capacity", _set_desired_capacity)
    patch(AutoScalingBackend, "delete_auto_scaling_group", _delete_auto_scaling_group)


def _active_instances(self: Any) -> list[Any]:
    return [s for s in self.instance_states if s.lifecycle_state in ("InService", "Pending")]


def launch_ref(group: Any) -> groups.TemplateRef | None:
    """What the group launches now: an active refresh's configuration, else its own."""
    from reconciler.sandbox import refresh_service  # imports fixes: only at call time

    refresh = refresh_service.active(group.autoscaling_backend, group.name)
    ref = refresh.launching if refresh is not None else None
    return ref or groups.template_ref(group)


def _replace_autoscaling_group_instances(
    self: Any, count_needed: int, propagated_tags: dict[str, str]
) -> None:
    # Launch configurations and mixed instances policies keep moto's behaviour: not on our path.
    ref = launch_ref(self)
    if ref is None or self.mixed_instances_policy:
        moto_launch = original(FakeAutoScalingGroup, "replace_autoscaling_group_instances")
        moto_launch(self, count_needed, propagated_tags)
        return
    groups.launch(self, count_needed, groups.resolve(self, ref), Cause.CAPACITY_UP)


def _set_desired_capacity(self: Any, new_capacity: int | None) -> None:
    """moto's, for groups on our path, with scale-in going through ``groups.terminate``."""
    if self.mixed_instances_policy or groups.template_ref(self) is None:
        original(FakeAutoScalingGroup, "set_desired_capacity")(self, new_capacity)
        return
    self.desired_capacity = self.min_size if new_capacity is None else new_capacity
    live = len(self.active_instances())
    wanted = int(self.desired_capacity or 0)
    if wanted > live:
        self.replace_autoscaling_group_instances(wanted - live, self.get_propagated_tags())
    elif wanted < live:
        # moto's choice of victims (the first unprotected ones), among live members only.
        victims = [s for s in groups.live_states(self) if not s.protected_from_scale_in]
        doomed = [s.instance.id for s in victims[: live - wanted]]
        groups.terminate(self, doomed, Cause.CAPACITY_DOWN, before=live, after=wanted)
    if self.name in self.autoscaling_backend.autoscaling_groups:
        self.autoscaling_backend.update_attached_elbs(self.name)
        self.autoscaling_backend.update_attached_target_groups(self.name)


def _delete_auto_scaling_group(self: Any, group_name: str) -> None:
    group = self.autoscaling_groups.get(group_name)
    original(AutoScalingBackend, "delete_auto_scaling_group")(self, group_name)
    if group is not None and group_name not in self.autoscaling_groups:
        # Gone with its group: nothing would step its Terminating instances any more.
        groups.release(group)


def _instance_launch_template(self: Any) -> dict[str, str] | None:
    return groups.instance_template_spec(self.instance)
