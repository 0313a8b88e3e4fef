"""DescribeScalingActivities and TerminateInstanceInAutoScalingGroup over the sandbox's activities.

moto 5.2.5 answers DescribeScalingActivities with an empty list, and its
TerminateInstanceInAutoScalingGroup invents an activity it never keeps. Here both read
``activities``: Describe returns the recorded activities in progress first, then newest first
([M ActivitiesType.Activities]), ``MaxRecords`` 100 by default and at most
([M DescribeScalingActivities.MaxRecords]; over 100 the same ValidationError as
DescribeAutoScalingGroups, row B8), ``NextToken`` paging, and ``ActivityIds`` (at most 50,
unknown ids ignored). Terminate answers with the activity it recorded, Cause "At … instance i-…
was taken out of service in response to a user request[, shrinking the capacity from 1 to 0]."
(UG, TerminateInstanceInAutoScalingGroup example).
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult

from reconciler.sandbox import activities, groups, runtime, validation
from reconciler.sandbox.activities import Activity, Cause
from reconciler.sandbox.errors import InvalidNextToken, ValidationError
from reconciler.sandbox.fixes.group_api import check_max_records
from reconciler.sandbox.patching import patch

DEFAULT_MAX_RECORDS = 100
MAX_ACTIVITY_IDS = 50


def install() -> None:
    patch(AutoScalingResponse, "describe_scaling_activities", _describe_scaling_activities)
    patch(AutoScalingResponse, "terminate_instance_in_auto_scaling_group", _terminate_instance)


def _describe_scaling_activities(self: Any) -> ActionResult:
    max_records = self._get_int_param("MaxRecords")
    check_max_records(max_records)
    ids = self._get_param("ActivityIds") or []
    if len(ids) > MAX_ACTIVITY_IDS:
        validation.refuse([validation.too_long(ids, "activityIds", MAX_ACTIVITY_IDS)])
    with runtime.current().lock:
        found = activities.describe(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            activity_ids=ids,
        )
        page, token = paginate(found, self._get_param("NextToken"), max_records)
        body = {"Activities": [activities.as_api(a) for a in page], "NextToken": token}
    return ActionResult(body)


def paginate(
    found: list[Activity], token: str | None, max_records: int | None
) -> tuple[list[Activity], str | None]:
    """One page; the token is the id of the first activity of the next page."""
    size = DEFAULT_MAX_RECORDS if max_records is None else max(1, int(max_records))
    start = 0
    if token:
        ids = [a.activity_id for a in found]
        if token not in ids:
            raise InvalidNextToken("The token is invalid or expired.")
        start = ids.index(token)
    rest = found[start + size :]
    return found[start : start + size], (rest[0].activity_id if rest else None)


def _terminate_instance(self: Any) -> ActionResult:
    instance_id = self._get_param("InstanceId")
    decrement = self._get_bool_param("ShouldDecrementDesiredCapacity", False)
    backend = self.autoscaling_backend
    with runtime.current().lock:
        group = _group_of(backend, instance_id)
        before = int(group.desired_capacity or 0)
        if decrement:
            group.desired_capacity = before - 1
        shrink = f", shrinking the capacity from {before} to {before - 1}" if decrement else ""
        (activity,) = groups.terminate(group, [instance_id], Cause.USER, shrink=shrink)
        # A replacement is launched when the desired capacity was kept (moto does the same).
        group.set_desired_capacity(group.desired_capacity)
        groups.sync_target_groups(group)
        return ActionResult({"Activity": activities.as_api(activity)})


def _group_of(backend: Any, instance_id: str) -> Any:
    for group in backend.autoscaling_groups.values():
        if any(s.instance.id == instance_id for s in groups.live_states(group)):
            return group
    # The code and text of AWS's answer for an instance no group manages are unconfirmed.
    raise ValidationError(
        f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
    )
