"""Scaling activities: one for every instance a group launches or terminates.

moto 5.2.5's DescribeScalingActivities always answers an empty list. AWS records "a change to
your Auto Scaling group, such as changing its size or replacing an instance" as an activity
[M Activity], and the console's Activity history and the CLI read them
([M DescribeScalingActivities]). Each launch or termination the sandbox makes is recorded here,
on moto's autoscaling backend (so a reset forgets them), with AWS's wording:

- Description: "Launching a new EC2 instance: i-…" / "Terminating EC2 instance: i-…" (the CLI
  reference example of describe-scaling-activities; UG replace-unhealthy-instance);
- Cause: AWS's sentences, each beginning "At <time>Z". Their sources, by ``Cause`` member:
  CAPACITY_UP (CLI reference example, "… increasing the capacity from 0 to 1."), CAPACITY_DOWN
  (an SNS notification of a scale-in, "… shrinking the capacity from 4 to 1.  At … instance i-…
  was selected for termination."), ELB_HEALTH (UG replace-unhealthy-instance and
  ts-as-healthchecks: "an instance was taken out of service in response to an ELB system health
  check failure"), EC2_HEALTH (Knowledge Center "Why did Amazon EC2 Auto Scaling terminate an
  instance?": "… in response to an EC2 health check indicating it has been terminated or
  stopped"), HEALED (console Activity history as users quote it: "an instance was launched in
  response to an unhealthy instance needing to be replaced"), REFRESH_OUT (an SNS notification:
  "… taken out of service in response to an instance refresh.  At … instance i-… was selected for
  termination."), USER (UG, TerminateInstanceInAutoScalingGroup example: "At … instance i-… was
  taken out of service in response to a user request, shrinking the capacity from 1 to 0.").
  REFRESH_IN ("an instance was launched in response to an instance refresh") is **unconfirmed**:
  only a third-party fixture shows it. A rollback is an instance refresh too (UG-rollback), so
  it uses the refresh causes (derived);
- Details: the JSON string ``{"Subnet ID": …, "Availability Zone": …}`` (UG example);
- a launch is ``PreInService`` while the instance is Pending and ``Successful`` (Progress 100)
  with EndTime at the moment it went InService. That EndTime is **derived**: the lifecycle makes
  a launch complete at InService (UG-hooks), and the CLI example's launch ends 33 s after it
  starts; AWS does not document it. A termination is ``WaitingForELBConnectionDraining`` while
  its target drains (the status users see in the console) and ends when the instance is gone.
  Progress values between 0 and 100 are the sandbox's own (unconfirmed).

AWS returns activities from the last six weeks ([M DescribeScalingActivities.ActivityIds]); the
sandbox keeps those, and at most ``MAX_KEPT`` in all.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.sandbox import runtime
from reconciler.sandbox.state import attached

RETENTION = timedelta(weeks=6)
MAX_KEPT = 10_000
LAUNCHING = "PreInService"
DRAINING = "WaitingForELBConnectionDraining"
SUCCESSFUL = "Successful"


class Cause(StrEnum):
    """Why an instance was launched or terminated: AWS's sentence after "At <time> "."""

    CAPACITY_UP = (
        "an instance was started in response to a difference between desired and actual "
        "capacity, increasing the capacity from {before} to {after}."
    )
    CAPACITY_DOWN = (
        "an instance was taken out of service in response to a difference between desired and "
        "actual capacity, shrinking the capacity from {before} to {after}.  At {at} instance "
        "{instance} was selected for termination."
    )
    ELB_HEALTH = (
        "an instance was taken out of service in response to an ELB system health check failure."
    )
    EC2_HEALTH = (
        "an instance was taken out of service in response to an EC2 health check indicating it "
        "has been terminated or stopped."
    )
    HEALED = "an instance was launched in response to an unhealthy instance needing to be replaced."
    REFRESH_OUT = (
        "an instance was taken out of service in response to an instance refresh.  At {at} "
        "instance {instance} was selected for termination."
    )
    REFRESH_IN = "an instance was launched in response to an instance refresh."
    USER = "instance {instance} was taken out of service in response to a user request{shrink}."

    @property
    def launches(self) -> bool:
        return self in (Cause.CAPACITY_UP, Cause.HEALED, Cause.REFRESH_IN)


@dataclass(slots=True)
class Activity:
    activity_id: str
    group_name: str
    group_arn: str
    instance_id: str
    cause: Cause
    numbers: dict[str, Any]  # the capacity figures the cause's sentence names
    start_time: datetime
    details: dict[str, str]
    status: str
    progress: int
    end_time: datetime | None = None

    @property
    def launch(self) -> bool:
        return self.cause.launches

    @property
    def cause_text(self) -> str:
        return cause_text(self.cause, self.start_time, self.instance_id, **self.numbers)

    @property
    def description(self) -> str:
        if self.launch:
            return f"Launching a new EC2 instance: {self.instance_id}"
        return f"Terminating EC2 instance: {self.instance_id}"

    @property
    def in_progress(self) -> bool:
        return self.end_time is None


@dataclass(slots=True)
class ActivityBook:
    items: list[Activity] = field(default_factory=list)  # oldest first
    open: dict[tuple[str, bool], Activity] = field(default_factory=dict)  # (instance, launch)


def book(backend: Any) -> ActivityBook:
    """The activities of every group in this autoscaling backend."""
    return attached(backend, "activities", ActivityBook)


def stamp(moment: datetime) -> str:
    """AWS's "2022-12-23T19:00:11Z" in a Cause."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cause_text(cause: Cause, moment: datetime, instance_id: str, **numbers: Any) -> str:
    at = stamp(moment)
    return f"At {at} " + cause.value.format(at=at, instance=instance_id, **numbers)


def record(group: Any, state: Any, cause: Cause, **numbers: Any) -> Activity:
    """An activity for launching or terminating ``state``'s instance, begun now."""
    now = runtime.current().now()
    instance = state.instance
    launch = cause.launches
    activity = Activity(
        activity_id=str(uuid.uuid4()),
        group_name=group.name,
        group_arn=group.arn,
        instance_id=instance.id,
        cause=cause,
        numbers=numbers,
        start_time=now,
        details=_details(instance),
        status=LAUNCHING if launch else DRAINING,
        progress=30 if launch else 50,
    )
    records = book(group.autoscaling_backend)
    records.items.append(activity)
    records.open[(instance.id, launch)] = activity
    _prune(records, now)
    return activity


def opened(backend: Any, instance_id: str, *, launch: bool) -> Activity | None:
    """The activity under way for the instance's launch or termination, if any."""
    return book(backend).open.get((instance_id, launch))


def finish(backend: Any, instance_id: str, *, launch: bool, at: datetime | None = None) -> None:
    """The instance went InService (a launch) or is gone (a termination), ``at`` or now."""
    activity = book(backend).open.pop((instance_id, launch), None)
    if activity is not None:
        activity.status = SUCCESSFUL
        activity.progress = 100
        activity.end_time = at or runtime.current().now()


def backdate(backend: Any, instance_id: str, started: datetime, ended: datetime) -> None:
    """The seed's instances were launched long ago: so were their launch activities."""
    activity = book(backend).open.get((instance_id, True))
    if activity is not None:
        activity.start_time = started
        finish(backend, instance_id, launch=True, at=ended)


def describe(
    backend: Any, *, group_name: str | None, activity_ids: list[str] | None
) -> list[Activity]:
    """In progress first, then newest first ([M ActivitiesType.Activities])."""
    found = [a for a in book(backend).items if group_name in (None, a.group_name)]
    if activity_ids:
        wanted = set(activity_ids)
        found = [a for a in found if a.activity_id in wanted]
    found.sort(key=lambda a: (a.in_progress, a.start_time), reverse=True)
    return found


def as_api(activity: Activity) -> dict[str, Any]:
    """The Activity shape of botocore's autoscaling model."""
    record: dict[str, Any] = {
        "ActivityId": activity.activity_id,
        "AutoScalingGroupName": activity.group_name,
        "AutoScalingGroupARN": activity.group_arn,
        "Description": activity.description,
        "Cause": activity.cause_text,
        "StartTime": activity.start_time.replace(microsecond=0),
        "StatusCode": activity.status,
        "Progress": activity.progress,
        "Details": json.dumps(activity.details, separators=(",", ":")),
        "AutoScalingGroupState": "InService",
    }
    if activity.end_time is not None:
        record["EndTime"] = activity.end_time.replace(microsecond=0)
    return record


def _details(instance: Any) -> dict[str, str]:
    details = {}
    if instance.subnet_id:
        details["Subnet ID"] = str(instance.subnet_id)
    details["Availability Zone"] = str(instance.placement)
    return details


def _prune(records: ActivityBook, now: datetime) -> None:
    horizon = now - RETENTION
    kept = [a for a in records.items if a.start_time >= horizon][-MAX_KEPT:]
    if len(kept) != len(records.items):
        records.items = kept
        alive = {id(a) for a in kept}
        records.open = {k: a for k, a in records.open.items() if id(a) in alive}
