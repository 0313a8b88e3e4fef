"""The instance refresh actions moto lacks, added to its autoscaling query-protocol handler.

moto parses the request and serializes the XML answer from botocore's service model, so these
handlers only read parameters and return dicts in the output shapes of
``autoscaling/2011-01-01/service-2.json`` (StartInstanceRefreshAnswer and friends).

Times are whole UTC seconds, as AWS reports them (``2020-06-02T18:11:27Z`` in UG-status's CLI
examples); the sandbox clock itself keeps microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult

from reconciler.sandbox import refresh_service, runtime
from reconciler.sandbox.errors import InvalidNextToken, ValidationError
from reconciler.sandbox.patching import patch
from reconciler.sandbox.refresh import InstanceRefresh

DEFAULT_MAX_RECORDS = 50
MAX_RECORDS_LIMIT = 100


def install() -> None:
    patch(AutoScalingResponse, "start_instance_refresh", _start_instance_refresh)
    patch(AutoScalingResponse, "describe_instance_refreshes", _describe_instance_refreshes)
    patch(AutoScalingResponse, "cancel_instance_refresh", _cancel_instance_refresh)
    patch(AutoScalingResponse, "rollback_instance_refresh", _rollback_instance_refresh)


def _start_instance_refresh(self: Any) -> ActionResult:
    context = runtime.current()
    with context.lock:
        refresh = refresh_service.start(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            desired_configuration=self._get_param("DesiredConfiguration"),
            preferences=self._get_param("Preferences"),
            strategy=self._get_param("Strategy"),
            now=context.now(),
        )
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def _describe_instance_refreshes(self: Any) -> ActionResult:
    context = runtime.current()
    with context.lock:
        refreshes = refresh_service.describe(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            refresh_ids=self._get_param("InstanceRefreshIds") or [],
        )
        page, next_token = paginate(
            refreshes,
            token=self._get_param("NextToken"),
            max_records=self._get_param("MaxRecords"),
        )
        body = {"InstanceRefreshes": [as_api(r) for r in page], "NextToken": next_token}
    return ActionResult(body)


def _cancel_instance_refresh(self: Any) -> ActionResult:
    with runtime.current().lock:
        refresh = refresh_service.cancel(
            self.autoscaling_backend, group_name=self._get_param("AutoScalingGroupName")
        )
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def _rollback_instance_refresh(self: Any) -> ActionResult:
    context = runtime.current()
    with context.lock:
        refresh = refresh_service.rollback(
            self.autoscaling_backend,
            group_name=self._get_param("AutoScalingGroupName"),
            now=context.now(),
        )
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def paginate(
    refreshes: list[InstanceRefresh], *, token: str | None, max_records: int | None
) -> tuple[list[InstanceRefresh], str | None]:
    """One page; the token is the id of the first refresh of the next page."""
    size = DEFAULT_MAX_RECORDS if max_records is None else int(max_records)
    if not 1 <= size <= MAX_RECORDS_LIMIT:
        raise ValidationError(f"MaxRecords must be between 1 and {MAX_RECORDS_LIMIT}.")
    start = 0
    if token:
        ids = [r.refresh_id for r in refreshes]
        if token not in ids:
            raise InvalidNextToken("The token is invalid or expired.")
        start = ids.index(token)
    page = refreshes[start : start + size]
    rest = refreshes[start + size :]
    return page, (rest[0].refresh_id if rest else None)


def as_api(refresh: InstanceRefresh) -> dict[str, Any]:
    """The InstanceRefresh shape of DescribeInstanceRefreshes."""
    record: dict[str, Any] = {
        "InstanceRefreshId": refresh.refresh_id,
        "AutoScalingGroupName": refresh.group_name,
        "Status": refresh.status.value,
        "StartTime": aws_time(refresh.start_time),
        "PercentageComplete": refresh.percentage_complete,
        "InstancesToUpdate": refresh.instances_to_update,
        "ProgressDetails": _progress(refresh.percentage_complete, refresh.instances_to_update),
        "Preferences": refresh.preferences,
        "Strategy": refresh.strategy,
    }
    if refresh.status_reason:
        record["StatusReason"] = refresh.status_reason
    if refresh.end_time is not None:
        record["EndTime"] = aws_time(refresh.end_time)
    if refresh.desired is not None:
        record["DesiredConfiguration"] = {"LaunchTemplate": refresh.desired.spec()}
    if refresh.rollback is not None:
        details = refresh.rollback
        record["RollbackDetails"] = {
            "RollbackReason": details.reason,
            "RollbackStartTime": aws_time(details.start_time),
            "PercentageCompleteOnRollback": details.percentage_complete_on_rollback,
            "InstancesToUpdateOnRollback": details.instances_to_update_on_rollback,
            "ProgressDetailsOnRollback": _progress(
                details.percentage_complete_on_rollback,
                details.instances_to_update_on_rollback,
            ),
        }
    return record


def aws_time(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _progress(percentage: int, remaining: int) -> dict[str, Any]:
    return {"LivePoolProgress": {"PercentageComplete": percentage, "InstancesToUpdate": remaining}}
