"""Metric alarms evaluated on the sandbox clock as CloudWatch evaluates them (CloudWatch User
Guide, "Alarm evaluation" and "Configuring how CloudWatch alarms treat missing data"), the
pure rule on plain data, and an instance refresh that a real 5xx alarm fails and rolls back
(aws-facts 1.9)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded
from reconciler.sandbox.alarm_rules import ALARM, INSUFFICIENT, OK, Rule, decide
from reconciler.sandbox.seed import GROUP
from tests.sandbox_calls import alarm, deploy, next_minute, pin_group, put_alarm, refresh

B, W = 20.0, 1.0  # a breaching and a within value for "> 10"

# (values oldest first, None = missing; N, M, TreatMissingData, current state) -> next state
CASES: list[tuple[str, Sequence[float | None], int, int, str, str, str]] = [
    ("one within", [W], 1, 1, "missing", INSUFFICIENT, OK),
    ("one breaching", [B], 1, 1, "missing", OK, ALARM),
    ("one missing, missing", [None], 1, 1, "missing", OK, INSUFFICIENT),
    ("one missing, ignore keeps ALARM", [None], 1, 1, "ignore", ALARM, ALARM),
    ("one missing, ignore keeps OK", [None], 1, 1, "ignore", OK, OK),
    ("one missing, breaching", [None], 1, 1, "breaching", OK, ALARM),
    ("one missing, notBreaching", [None], 1, 1, "notBreaching", ALARM, OK),
    ("2 of 3 breaching, not consecutive", [B, W, B], 3, 2, "missing", OK, ALARM),
    ("1 of 3 breaching, M=2", [W, W, B], 3, 2, "missing", OK, OK),
    ("1 of 3 breaching, M=2, from ALARM", [B, W, W], 3, 2, "missing", ALARM, OK),
    ("2 of 3 still ALARM", [B, B, W], 3, 2, "missing", ALARM, ALARM),
    ("3 of 3 needs all", [B, B, W], 3, 3, "missing", OK, OK),
    ("3 of 3 all breach", [B, B, B], 3, 3, "missing", OK, ALARM),
    ("all missing, missing", [None, None, None], 3, 3, "missing", ALARM, INSUFFICIENT),
    ("all missing, ignore", [None, None, None], 3, 3, "ignore", ALARM, ALARM),
    ("all missing, breaching", [None, None, None], 3, 3, "breaching", OK, ALARM),
    ("all missing, notBreaching", [None, None, None], 3, 3, "notBreaching", ALARM, OK),
    ("one within, rest missing: OK", [None, None, W], 3, 3, "missing", INSUFFICIENT, OK),
    ("two breaching, one missing: undecided", [None, B, B], 3, 3, "missing", OK, OK),
    ("two breaching, one missing, breaching", [None, B, B], 3, 3, "breaching", OK, ALARM),
    ("one breaching, rest missing, M=1", [None, None, B], 3, 1, "missing", OK, ALARM),
    ("within and missing, M=2 of 3, from ALARM", [W, None, None], 3, 2, "missing", ALARM, ALARM),
    ("two within, one missing, M=2 of 3", [W, None, W], 3, 2, "missing", ALARM, OK),
    ("M above N is N", [B, B], 2, 5, "missing", OK, ALARM),
    ("equal is not greater", [10.0], 1, 1, "missing", ALARM, OK),
]


@pytest.mark.parametrize(
    ("values", "periods", "needed", "treat", "current", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_alarm_rule(
    values: Sequence[float | None], periods: int, needed: int, treat: str, current: str,
    expected: str,
) -> None:  # fmt: skip
    rule = Rule("GreaterThanThreshold", 10.0, periods, needed, treat)
    assert decide(rule, values, current).state == expected


@pytest.mark.parametrize(
    ("comparison", "value", "breaches"),
    [
        ("GreaterThanOrEqualToThreshold", 10.0, True),
        ("GreaterThanOrEqualToThreshold", 9.9, False),
        ("LessThanThreshold", 9.9, True),
        ("LessThanThreshold", 10.0, False),
        ("LessThanOrEqualToThreshold", 10.0, True),
        ("LessThanOrEqualToThreshold", 10.1, False),
    ],
)
def test_comparisons(comparison: str, value: float, breaches: bool) -> None:
    verdict = decide(Rule(comparison, 10.0, 1, 1), [value], OK)
    assert verdict.state == (ALARM if breaches else OK)


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    sandbox.clock.speed = 0
    return sandbox


def minute(sandbox: Sandbox, aws: Aws) -> None:
    sandbox.clock.advance(60)
    aws.call("cloudwatch", "describe_alarms")


def test_an_alarm_goes_ok_alarm_ok_with_datapoints_to_alarm(still: Sandbox, aws: Aws) -> None:
    """2 of 3 minutes over 50 errors: one bad minute is not enough, two are, and the alarm
    clears once only one of the last three breaches."""
    next_minute(still)
    put_alarm(aws, "errors", Threshold=50, EvaluationPeriods=3, DatapointsToAlarm=2)
    for _ in range(3):
        minute(still, aws)
    assert alarm(aws, "errors")["StateValue"] == "OK"
    still.behaviours.set("v1.1", error_rate=0.3)  # ~180 5xx a minute
    minute(still, aws)
    assert alarm(aws, "errors")["StateValue"] == "OK"  # 1 of 3
    minute(still, aws)
    raised = alarm(aws, "errors")
    assert raised["StateValue"] == "ALARM"
    assert raised["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    assert "greater than the threshold (50.0)" in raised["StateReason"]
    assert json.loads(raised["StateReasonData"])["statistic"] == "Sum"
    still.behaviours.set("v1.1", error_rate=0.001)
    minute(still, aws)
    assert alarm(aws, "errors")["StateValue"] == "ALARM"  # still 2 of the last 3
    minute(still, aws)
    cleared = alarm(aws, "errors")
    assert cleared["StateValue"] == "OK"
    assert cleared["StateUpdatedTimestamp"] == still.clock.now().replace(second=0, microsecond=0)
    history = aws.call("cloudwatch", "describe_alarm_history", AlarmName="errors")
    summaries = [item["HistorySummary"] for item in history["AlarmHistoryItems"]]
    assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]


def test_a_p99_alarm_on_response_time(still: Sandbox, aws: Aws) -> None:
    next_minute(still)
    put_alarm(
        aws, "slow", MetricName="TargetResponseTime", Statistic=None, ExtendedStatistic="p99",
        Threshold=1.0, TreatMissingData="missing",
    )  # fmt: skip
    minute(still, aws)
    assert alarm(aws, "slow")["StateValue"] == "OK"
    still.behaviours.set("v1.1", median=0.3, p99=3.0)
    minute(still, aws)
    assert alarm(aws, "slow")["StateValue"] == "ALARM"


def test_a_new_alarm_without_data_is_insufficient_data(still: Sandbox, aws: Aws) -> None:
    """[M PutMetricAlarm]: a new alarm starts INSUFFICIENT_DATA; with no requests there are
    no data points (aws-facts 6), and ``missing`` keeps it there."""
    still.traffic.rate = 0
    # RequestCount, unlike the 5xx count, has a data point every minute that requests flow.
    put_alarm(aws, "quiet", MetricName="RequestCount", Threshold=10_000, TreatMissingData="missing")
    assert alarm(aws, "quiet")["StateValue"] == "INSUFFICIENT_DATA"
    minute(still, aws)
    assert alarm(aws, "quiet")["StateValue"] == "INSUFFICIENT_DATA"
    still.traffic.rate = 10
    next_minute(still)
    minute(still, aws)
    assert alarm(aws, "quiet")["StateValue"] == "OK"
    # An update leaves the state as it is ([M PutMetricAlarm]).
    put_alarm(aws, "quiet", MetricName="RequestCount", Threshold=20_000, TreatMissingData="missing")
    assert alarm(aws, "quiet")["StateValue"] == "OK"
    assert alarm(aws, "quiet")["Threshold"] == 20_000


def test_a_forced_state_lasts_until_the_next_evaluation(still: Sandbox, aws: Aws) -> None:
    """SetAlarmState is temporary: the next evaluation puts the alarm back, as on AWS."""
    put_alarm(aws, "errors")
    next_minute(still)
    assert alarm(aws, "errors")["StateValue"] == "OK"
    aws.call(
        "cloudwatch", "set_alarm_state", AlarmName="errors", StateValue="ALARM",
        StateReason="testing",
    )  # fmt: skip
    assert alarm(aws, "errors")["StateValue"] == "ALARM"
    minute(still, aws)
    back = alarm(aws, "errors")
    assert back["StateValue"] == "OK"
    # 0 or 1 errors in a minute of v1.1: a datapoint within the threshold, or none (absent,
    # aws-facts 6) counted as within it by notBreaching.
    assert back["StateReason"].startswith("Threshold Crossed: ")
    assert back["StateReason"].endswith(
        ("was not greater than the threshold (10.0).", "was treated as [NonBreaching].")
    )
    items = aws.call("cloudwatch", "describe_alarm_history", AlarmName="errors")[
        "AlarmHistoryItems"
    ]
    assert [i["HistorySummary"] for i in items][:2] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
    ]


@pytest.mark.parametrize(
    ("auto_rollback", "ended"), [(True, "RollbackSuccessful"), (False, "Failed")]
)
def test_v2_1s_real_5xx_fail_a_refresh_with_the_alarm(
    still: Sandbox, aws: Aws, seeded: Seeded, auto_rollback: bool, ended: str
) -> None:
    """v2.1 passes its health check, so only its 5xx can stop it: once its first instance
    serves, the alarm goes to ALARM and the refresh fails, or rolls back (aws-facts 1.9)."""
    put_alarm(aws, "feedback-5xx")
    pin_group(aws, seeded)
    deploy(
        aws, seeded, "v2.1", AutoRollback=auto_rollback,
        AlarmSpecification={"Alarms": ["feedback-5xx"]},
    )  # fmt: skip
    began = still.clock.now()
    for _ in range(30):
        still.clock.advance(30)
        if refresh(aws)["Status"] != "InProgress":
            break
    # The first v2.1 instance is healthy 180 s in; its first full minute of 500s raises it.
    assert (still.clock.now() - began).total_seconds() <= 330
    items = aws.call("cloudwatch", "describe_alarm_history", AlarmName="feedback-5xx")
    raised = [i for i in items["AlarmHistoryItems"] if i["HistorySummary"].endswith("to ALARM")]
    assert raised and json.loads(raised[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"
    failing = refresh(aws)
    assert failing["Status"] == ("RollbackInProgress" if auto_rollback else "Failed")
    assert "feedback-5xx" in failing["StatusReason"]
    still.clock.advance(1200)
    assert refresh(aws)["Status"] == ended
    if auto_rollback:
        (group,) = aws.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"]
        assert group["LaunchTemplate"]["Version"] == "1"
        assert {i["LaunchTemplate"]["Version"] for i in group["Instances"]} == {"1"}
        minute(still, aws)
        assert alarm(aws, "feedback-5xx")["StateValue"] == "OK"  # v1.1 serves again


def test_a_healthy_release_passes_the_same_alarm(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    put_alarm(aws, "feedback-5xx")
    pin_group(aws, seeded)
    deploy(aws, seeded, "v1.0", AutoRollback=True, AlarmSpecification={"Alarms": ["feedback-5xx"]})
    for _ in range(20):
        still.clock.advance(60)
        if refresh(aws)["Status"] != "InProgress":
            break
    assert refresh(aws)["Status"] == "Successful"
    assert alarm(aws, "feedback-5xx")["StateValue"] == "OK"
