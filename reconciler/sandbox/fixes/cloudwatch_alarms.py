"""Alarm state as CloudWatch keeps it: created INSUFFICIENT_DATA, evaluated, with a history.

moto 5.2.5 creates every alarm ``OK``, resets the state when PutMetricAlarm updates one, stamps
changes with the wall clock, and has no DescribeAlarmHistory. Here, per [M PutMetricAlarm]
("When this operation creates an alarm, the alarm state is immediately set to
INSUFFICIENT_DATA. The alarm is then evaluated"; an update leaves the state unchanged), a new
alarm starts ``INSUFFICIENT_DATA`` ("Unchecked: Initial alarm creation") and is evaluated at
once on the sandbox clock (``alarm_evaluation``), an updated one keeps its state; SetAlarmState
changes are stamped with sandbox time and recorded; DescribeAlarmHistory returns the recorded
state changes, newest first (``StateUpdate`` items only).
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from reconciler.sandbox import alarm_evaluation, runtime, traffic
from reconciler.sandbox.patching import original, patch

INITIAL_REASON = "Unchecked: Initial alarm creation"
_KEPT = ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp",
         alarm_evaluation.HISTORY)  # fmt: skip


def install() -> None:
    patch(CloudWatchBackend, "put_metric_alarm", _put_metric_alarm)
    patch(CloudWatchBackend, "set_alarm_state", _set_alarm_state)
    patch(CloudWatchResponse, "describe_alarm_history", _describe_alarm_history)


def _put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    before = self.alarms.get(name)
    alarm = original(CloudWatchBackend, "put_metric_alarm")(self, name, *args, **kwargs)
    now = runtime.current().now()
    if before is not None:
        for attribute in _KEPT:
            if attribute in before.__dict__:
                alarm.__dict__[attribute] = before.__dict__[attribute]
        return alarm
    alarm.state_value = "INSUFFICIENT_DATA"
    alarm.state_reason = INITIAL_REASON
    alarm.state_updated_timestamp = now
    if alarm_evaluation.evaluable(alarm):
        alarm_evaluation.evaluate_alarm(alarm, traffic.store_of(self), now)
    return alarm


def _set_alarm_state(
    self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str
) -> None:
    # moto validates the name, the JSON and the state; then the change is stamped and recorded.
    original(CloudWatchBackend, "set_alarm_state")(
        self, alarm_name, reason, reason_data, state_value
    )
    alarm = self.alarms[alarm_name]
    before = alarm.history.pop() if alarm.history else None  # moto's own tuple
    previous_state = before[3] if before else alarm.state_value
    previous_reason = before[1] if before else alarm.state_reason
    alarm.state_value, alarm.state_reason = previous_state, previous_reason
    alarm_evaluation.change_state(
        alarm, state_value, reason, reason_data or "{}", runtime.current().now()
    )


def _describe_alarm_history(self: Any) -> ActionResult:
    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    alarms = self.cloudwatch_backend.alarms
    chosen = [alarms[name]] if name in alarms else ([] if name else list(alarms.values()))
    items = [item for alarm in chosen for item in alarm_evaluation.history(alarm)]
    if kind and kind != "StateUpdate":
        items = []
    items.sort(key=lambda item: item["Timestamp"], reverse=True)
    limit = int(self._get_param("MaxRecords") or 100)
    return ActionResult({"AlarmHistoryItems": items[:limit]})
