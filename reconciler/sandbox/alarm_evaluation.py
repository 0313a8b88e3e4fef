"""Metric alarms evaluated on the sandbox clock, as CloudWatch evaluates them.

moto 5.2.5 stores alarms but never evaluates them. Here every metric alarm on the
``AWS/ApplicationELB`` namespace is evaluated at each boundary of its period (``traffic``
calls ``evaluate`` at every minute boundary), over its last EvaluationPeriods complete periods,
with ``alarm_rules`` deciding the state. A change of state updates StateValue, StateReason,
StateReasonData and StateUpdatedTimestamp (sandbox time) and adds a history item, as
CloudWatch does; a state that stays the same keeps its reason. So an alarm forced with
SetAlarmState returns to its real state at the next evaluation, as on AWS ("the next periodic
evaluation", [M SetAlarmState]).

Limits (cruder than AWS): alarms on other namespaces, metric-math alarms (``Metrics``) and
anomaly-detection operators are not evaluated; ``EvaluateLowSampleCountPercentile`` is
ignored (percentiles are always evaluated); ``Unit`` does not filter. StateReason texts are
modelled on AWS's ("Threshold Crossed: 1 datapoint [..] was greater than the threshold
(10.0).") but not confirmed word for word.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.sandbox import alarm_rules
from reconciler.sandbox.alarm_rules import Rule, Verdict
from reconciler.sandbox.metric_store import MetricStore, key_of
from reconciler.sandbox.serving import NAMESPACE

HISTORY = "_sandbox_history"


def evaluate(cloudwatch: Any, store: MetricStore, now: datetime) -> None:
    """Evaluate every alarm whose period ends at ``now``."""
    for alarm in list(cloudwatch.alarms.values()):
        period = _int(alarm.period)
        if period and int(now.timestamp()) % period == 0 and evaluable(alarm):
            evaluate_alarm(alarm, store, now)


def evaluable(alarm: Any) -> bool:
    return (
        alarm.rule is None
        and not alarm.metric_data_queries
        and alarm.namespace == NAMESPACE
        and alarm.comparison_operator in alarm_rules.COMPARISONS
        and bool(alarm.extended_statistic or alarm.statistic)
    )


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    value: float | None


def evaluate_alarm(alarm: Any, store: MetricStore, now: datetime) -> None:
    """Evaluate one alarm over the periods that ended by ``now`` (aligned to its period)."""
    period = _int(alarm.period)
    count = max(1, _int(alarm.evaluation_periods))
    end = datetime.fromtimestamp(int(now.timestamp()) // period * period, UTC)
    # Oldest first; the newest period is the one that ended at ``end``.
    ends = [end - timedelta(seconds=period * back) for back in range(count - 1, -1, -1)]
    windows = [_window(alarm, store, window_end, period) for window_end in ends]
    rule = Rule(
        comparison=alarm.comparison_operator,
        threshold=float(alarm.threshold),
        evaluation_periods=count,
        datapoints_to_alarm=_int(alarm.datapoints_to_alarm) or count,
        treat_missing=alarm.treat_missing_data or "missing",
    )
    verdict = alarm_rules.decide(rule, [w.value for w in windows], alarm.state_value)
    if verdict.state != alarm.state_value:
        reason = _reason(alarm, rule, verdict, windows)
        change_state(alarm, verdict.state, reason, _reason_data(alarm, windows, now), now)


def _window(alarm: Any, store: MetricStore, end: datetime, period: int) -> Window:
    start = end - timedelta(seconds=period)
    metric = key_of(alarm.metric_name, [{"Name": d.name, "Value": d.value} for d in
                                         alarm.dimensions])  # fmt: skip
    points = store.datapoints(metric, start, end, period)
    stat = alarm.extended_statistic or alarm.statistic
    value = points[0].bucket.statistic(stat) if points else None
    return Window(start, value)


def change_state(alarm: Any, state: str, reason: str, data: str, now: datetime) -> None:
    """Move the alarm to ``state`` and record it in its history, as CloudWatch does."""
    history: list[dict[str, Any]] = alarm.__dict__.setdefault(HISTORY, [])
    history.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": now,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {alarm.state_value} to {state}",
            "HistoryData": json.dumps(
                {
                    "version": "1.0",
                    "oldState": {
                        "stateValue": alarm.state_value,
                        "stateReason": alarm.state_reason,
                    },
                    "newState": {"stateValue": state, "stateReason": reason},
                }
            ),
        }
    )
    alarm.state_value = state
    alarm.state_reason = reason
    alarm.state_reason_data = data
    alarm.state_updated_timestamp = now


def history(alarm: Any) -> list[dict[str, Any]]:
    """The alarm's state changes, oldest first."""
    found: list[dict[str, Any]] = alarm.__dict__.get(HISTORY, [])
    return found


def _reason(alarm: Any, rule: Rule, verdict: Verdict, windows: list[Window]) -> str:
    if verdict.state == alarm_rules.INSUFFICIENT:
        return f"Insufficient Data: {_points(verdict.missing)} {_were(verdict.missing)} unknown."
    breached = verdict.state == alarm_rules.ALARM
    compare = alarm_rules.COMPARISONS[rule.comparison]
    shown = [w for w in reversed(windows) if w.value is not None
             and compare(w.value, rule.threshold) == breached]  # fmt: skip
    missing_note = _missing_note(rule, verdict)
    if not shown:
        periods = "1 period" if verdict.missing == 1 else f"{verdict.missing} periods"
        return f"Threshold Crossed: no datapoints were received for {periods} and{missing_note}."
    values = ", ".join(f"{w.value} ({w.start.strftime('%d/%m/%y %H:%M:%S')})" for w in shown)
    if rule.evaluation_periods == 1:
        head = f"{_points(len(shown))} [{values}] {_were(len(shown))}"
    else:
        head = (
            f"{len(shown)} out of the last {rule.evaluation_periods} datapoints [{values}] "
            f"{_were(len(shown))}"
        )
    words = alarm_rules.relation(rule.comparison, breached)
    text = f"Threshold Crossed: {head} {words} the threshold ({rule.threshold})"
    if missing_note:
        text += f" and{missing_note}"
    if rule.evaluation_periods > 1:
        needed = rule.datapoints_to_alarm if breached else 1 + rule.evaluation_periods - (
            rule.datapoints_to_alarm)  # fmt: skip
        transition = "OK -> ALARM" if breached else "ALARM -> OK"
        text += f" (minimum {_points(needed)} for {transition} transition)"
    return text + "."


def _missing_note(rule: Rule, verdict: Verdict) -> str:
    """The StateReason's clause for missing periods counted one way or the other, or ""."""
    if not verdict.missing or rule.treat_missing not in ("breaching", "notBreaching"):
        return ""
    as_what = "Breaching" if rule.treat_missing == "breaching" else "NonBreaching"
    return f" {verdict.missing} missing {_points(verdict.missing).split(' ', 1)[1]} " + (
        f"{_were(verdict.missing)} treated as [{as_what}]"
    )


def _reason_data(alarm: Any, windows: list[Window], now: datetime) -> str:
    stat = alarm.extended_statistic or alarm.statistic
    data = {
        "version": "1.0",
        "queryDate": now.isoformat(),
        "startDate": windows[0].start.isoformat(),
        "statistic": stat,
        "period": _int(alarm.period),
        "recentDatapoints": [w.value for w in windows if w.value is not None],
        "threshold": float(alarm.threshold),
        "evaluatedDatapoints": [
            {"timestamp": w.start.isoformat(), "value": w.value} for w in reversed(windows)
            if w.value is not None
        ],
    }  # fmt: skip
    return json.dumps(data)


def _points(n: int) -> str:
    return f"{n} datapoint" if n == 1 else f"{n} datapoints"


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
