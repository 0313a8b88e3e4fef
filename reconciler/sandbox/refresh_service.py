"""The four instance refresh operations: AWS's validation rules and errors, over moto's groups.

Refreshes are stored on moto's autoscaling backend, so a moto reset forgets them with the groups.
Callers hold the runtime lock: an operation reads and changes several moto objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from moto.ec2.exceptions import EC2ClientError

from reconciler.model import RefreshStatus
from reconciler.sandbox import groups, refresh_checks
from reconciler.sandbox.errors import (
    ActiveInstanceRefreshNotFound,
    InstanceRefreshInProgress,
    IrreversibleInstanceRefresh,
    ValidationError,
)
from reconciler.sandbox.fleet import GroupFleet
from reconciler.sandbox.groups import TemplateRef
from reconciler.sandbox.refresh import InstanceRefresh
from reconciler.sandbox.state import attached

# What AWS reports for preferences a request left out. MaxHealthyPercentage is not among them:
# UG-defaults lists its default as "100 percent (null)", absent unless given (row A18). AWS also
# paces an omitted maximum differently from an explicit one (section 1.2, row A2): see
# ``replacement.launches_first``.
DEFAULT_PREFERENCES: dict[str, Any] = {
    "MinHealthyPercentage": 90,
    "SkipMatching": False,
    "AutoRollback": False,
    # "Wait (default)" in [M RefreshPreferences]; only the console sends Ignore (CLI-8338).
    "ScaleInProtectedInstances": "Wait",
    "StandbyInstances": "Wait",
}
# AWS waits this long at each checkpoint when CheckpointDelay is not given (flaw 4 of the brief).
DEFAULT_CHECKPOINT_DELAY = 3600
_ROLLBACK_STATES = frozenset({"Pending", "InProgress", "Baking"})
_CANCEL_STATES = _ROLLBACK_STATES | {"RollbackInProgress"}


def history(backend: Any, group_name: str) -> list[InstanceRefresh]:
    """The group's refreshes, oldest first."""
    store: dict[str, list[InstanceRefresh]] = attached(backend, "refreshes", dict)
    return store.setdefault(group_name, [])


def step(backend: Any, group_name: str, now: datetime) -> None:
    fleet = GroupFleet(group_of(backend, group_name))
    for refresh in history(backend, group_name):
        if refresh.active:
            refresh.step(fleet, now)


def start(
    backend: Any,
    *,
    group_name: str,
    desired_configuration: dict[str, Any] | None,
    preferences: dict[str, Any] | None,
    strategy: str | None,
    now: datetime,
) -> InstanceRefresh:
    group = group_of(backend, group_name)
    if active(backend, group_name) is not None:
        raise InstanceRefreshInProgress(
            "An Instance Refresh is already in progress and blocks the execution of this "
            "Instance Refresh."
        )
    if strategy not in (None, "Rolling"):
        raise ValidationError(f"Strategy {strategy} is not supported by the sandbox.")
    desired = _desired(group, desired_configuration or {})
    previous = groups.template_ref(group)
    given = dict(preferences or {})
    refresh_checks.check_preferences(given)
    refresh_checks.check_auto_rollback(group, given, desired=desired, previous=previous)
    refresh = InstanceRefresh(
        refresh_id=str(uuid.uuid4()),
        group_name=group_name,
        start_time=now,
        preferences=_with_defaults(given),
        desired=desired,
        previous=previous,
        # AWS: "The default is to use the value for the health check grace period".
        warmup=int(given.get("InstanceWarmup", group.health_check_grace_period or 0)),
    )
    refresh.begin(GroupFleet(group))
    history(backend, group_name).append(refresh)
    return refresh


def describe(backend: Any, *, group_name: str, refresh_ids: Sequence[str]) -> list[InstanceRefresh]:
    """Newest first (the simulation has already moved them up to now)."""
    group_of(backend, group_name)
    found = list(reversed(history(backend, group_name)))
    if refresh_ids:
        wanted = set(refresh_ids)
        found = [r for r in found if r.refresh_id in wanted]
    return found


def cancel(backend: Any, *, group_name: str) -> InstanceRefresh:
    group_of(backend, group_name)
    refresh = active(backend, group_name)
    if refresh is None or refresh.status.value not in _CANCEL_STATES:
        raise ActiveInstanceRefreshNotFound(
            f"No in progress or pending Instance Refresh found for Auto Scaling group {group_name}"
        )
    refresh.cancel()
    return refresh


def rollback(backend: Any, *, group_name: str, now: datetime) -> InstanceRefresh:
    group = group_of(backend, group_name)
    refresh = active(backend, group_name)
    if refresh is not None and refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        # There is nothing to return to from a rollback: it is itself the way back.
        raise IrreversibleInstanceRefresh(
            f"The instance refresh {refresh.refresh_id} is already being rolled back."
        )
    if refresh is None or refresh.status.value not in _ROLLBACK_STATES:
        raise ActiveInstanceRefreshNotFound(
            f"No in progress or pending Instance Refresh found for Auto Scaling group {group_name}"
        )
    refresh_checks.check_rollback(group, desired=refresh.desired, previous=refresh.previous)
    refresh.roll_back(GroupFleet(group), now)
    return refresh


def check_update(backend: Any, *, group_name: str, changes_launch_template: bool) -> None:
    """UpdateAutoScalingGroup may not change the launch template under a refresh that sets one.

    AWS refuses it: the refresh will write its desired configuration on success (or restore the
    previous one on rollback), so a change made meanwhile would be lost or undone. The text is
    AWS's, as the user guide quotes it (UG-overview, Limitations, "Update restriction"; aws-facts
    1.12). Whether AWS also refuses a no-op update is unconfirmed: the sandbox accepts one.
    """
    refresh = active(backend, group_name)
    if changes_launch_template and refresh is not None and refresh.desired is not None:
        raise ValidationError(
            "An active instance refresh with a desired configuration exists. All configuration "
            "options derived from the desired configuration are not available for update while "
            "the instance refresh is active."
        )


def group_of(backend: Any, group_name: str) -> Any:
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(
            f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found"
        )
    return group


def active(backend: Any, group_name: str) -> InstanceRefresh | None:
    return next((r for r in history(backend, group_name) if r.active), None)


def _desired(group: Any, configuration: dict[str, Any]) -> TemplateRef | None:
    if "MixedInstancesPolicy" in configuration:
        raise ValidationError("The sandbox does not emulate MixedInstancesPolicy.")
    spec = configuration.get("LaunchTemplate")
    if not spec:
        return None
    template_id, name = spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")
    if bool(template_id) == bool(name):
        raise ValidationError(
            "Valid requests must contain either launchTemplateId or LaunchTemplateName"
        )
    version = spec.get("Version")
    try:
        template = (
            group.ec2_backend.get_launch_template(template_id)
            if template_id
            else group.ec2_backend.get_launch_template_by_name(name)
        )
        if version is not None and (not version.startswith("$") and int(version) < 1):
            raise ValueError(version)
        template.get_version(version or "$Default")
    except (EC2ClientError, ValueError):
        raise ValidationError(
            f"The launch template {template_id or name} version {version or '$Default'} "
            "does not exist."
        ) from None
    return TemplateRef(template.id, template.name, version)


def _with_defaults(given: dict[str, Any]) -> dict[str, Any]:
    preferences = {**DEFAULT_PREFERENCES, **given}
    if preferences.get("CheckpointPercentages") and "CheckpointDelay" not in given:
        preferences["CheckpointDelay"] = DEFAULT_CHECKPOINT_DELAY
    return preferences
