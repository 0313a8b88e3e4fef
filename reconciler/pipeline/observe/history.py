"""Which instances a rollout launched and how each fared, for the analysis's ``newInstances``.

- ``DescribeScalingActivities`` for the group, newest first, back to the rollout's start: when
  each instance launched and went InService (the launch activity's end), and which Auto Scaling
  took out of service for failing a health check (its ``Cause``; AWS gives no structured
  reason, so the wording is matched, see ``_HEALTH_CAUSES``);
- ``DescribeTargetHealth`` for the target group: the load balancer's view of each instance.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import InstanceHistory, ObservedAutoScalingGroup
from reconciler.pipeline.observe.shapes import epoch as _epoch

# A rollout's launches and terminations, with room for healing and scaling beside them.
_ACTIVITIES_READ = 500
_INSTANCE_ID = re.compile(r"\bi-[0-9a-f]+\b")
# ``Cause`` wording of a health-check termination: "…was taken out of service in response to an
# ELB system health check failure" / "…an EC2 instance status checks failure" / "…a user health
# check" (UG health checks); matched loosely, since AWS documents no catalogue.
_HEALTH_CAUSES = ("health check failure", "status checks failure", "user health-check")


def instance_histories(
    aws: Aws,
    region: str,
    group: ObservedAutoScalingGroup,
    *,
    target_group_arn: str,
    since: float,
) -> tuple[tuple[InstanceHistory, ...], str]:
    """The group's instances since ``since``, as its activities and its target group tell, and
    the first source that could not be read ("" when both were)."""
    error = ""
    histories: dict[str, InstanceHistory] = {}
    try:
        histories = _from_activities(_activities(aws, region, group.name, since=since))
    except errors.ReconcilerError as exc:
        error = f"Auto Scaling DescribeScalingActivities: {exc}"
    try:
        health = _target_health(aws, region, target_group_arn)
    except errors.ReconcilerError as exc:
        health = {}
        error = error or f"ELB DescribeTargetHealth: {exc}"
    for instance in group.instances:
        known = histories.get(instance.instance_id, InstanceHistory(instance.instance_id))
        state, reason = health.get(instance.instance_id, ("", ""))
        if instance.health_status == "Unhealthy":  # Auto Scaling's own verdict, after grace
            state, reason = "unhealthy", reason or "Auto Scaling: Unhealthy"
        histories[instance.instance_id] = dataclasses.replace(
            known,
            version=instance.launch_template_version,
            target_state=state,
            target_reason=reason,
        )
    return tuple(histories.values()), error


def _activities(aws: Aws, region: str, group: str, *, since: float) -> list[Mapping[str, Any]]:
    """The group's activities that started at or after ``since``.

    AWS lists the newest first, but an activity still in progress can sit ahead of newer ones,
    so reading stops at the first page with nothing that recent, not at the first older one.
    """
    found: list[Mapping[str, Any]] = []
    pages = aws.pages(
        "autoscaling",
        "describe_scaling_activities",
        region=region,
        AutoScalingGroupName=group,
        PaginationConfig={"PageSize": 100, "MaxItems": _ACTIVITIES_READ},
    )
    for page in pages:
        recent = [a for a in page.get("Activities", []) if _epoch(a.get("StartTime")) >= since]
        found.extend(recent)
        if not recent:
            break
    return found


def _from_activities(activities: Iterable[Mapping[str, Any]]) -> dict[str, InstanceHistory]:
    histories: dict[str, InstanceHistory] = {}
    for activity in reversed(list(activities)):  # oldest first
        description = str(activity.get("Description", ""))
        match = _INSTANCE_ID.search(description)
        if match is None:
            continue
        known = histories.get(match.group(), InstanceHistory(match.group()))
        histories[known.instance_id] = _with_activity(known, activity, description)
    return histories


def _with_activity(
    known: InstanceHistory, activity: Mapping[str, Any], description: str
) -> InstanceHistory:
    started = _epoch(activity.get("StartTime"))
    ended = activity.get("EndTime")
    done = activity.get("StatusCode") == "Successful" and ended is not None
    if description.startswith("Launching"):
        return dataclasses.replace(
            known, launched_at=started, in_service_at=_epoch(ended) if done else None
        )
    if description.startswith("Terminating"):
        cause = str(activity.get("Cause", "")).lower()
        return dataclasses.replace(
            known,
            terminated_at=started,
            health_terminated=any(c in cause for c in _HEALTH_CAUSES),
        )
    return known


def _target_health(aws: Aws, region: str, arn: str) -> dict[str, tuple[str, str]]:
    raw = aws.call("elbv2", "describe_target_health", region=region, TargetGroupArn=arn)
    return {
        str(d["Target"]["Id"]): (
            str(d.get("TargetHealth", {}).get("State", "")),
            str(d.get("TargetHealth", {}).get("Reason", "")),
        )
        for d in raw.get("TargetHealthDescriptions", [])
    }
