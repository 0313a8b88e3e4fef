"""The rollout's verdict (``reconciler.pipeline.analysis.judge``): the alarms signal (rule 6),
the combination of the signals (rule 7), whole rollouts as plain data, and noise: healthy
series around a healthy baseline never fail, a 30% 5xx series always does, in time."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisSpec,
    MetricPoint,
    Signal,
    SignalResult,
    Verdict,
)
from reconciler.pipeline.analysis import judge
from reconciler.pipeline.analysis.verdict import combine
from tests.analysis_data import (
    GRACE,
    IN_SERVICE,
    MINUTE,
    START,
    TRAFFIC,
    inputs,
    new_instance,
    old_instance,
    spec,
)

PASS, FAIL = Verdict.PASS, Verdict.FAIL
PENDING, INCONCLUSIVE = Verdict.PENDING, Verdict.INCONCLUSIVE
AFTER_GRACE = IN_SERVICE + GRACE  # = TRAFFIC + 240: four samples have ended by then


def alarms(states: dict[str, str], names: tuple[str, ...], **fields: Any) -> SignalResult | None:
    return judge(spec(), inputs(alarms=states, **fields), alarm_names=names).signal(Signal.ALARMS)


@pytest.mark.parametrize(
    ("states", "names", "verdict", "message"),
    [
        ({"feedback-5xx": "ALARM"}, ("feedback-5xx",), FAIL, "alarm feedback-5xx is in ALARM"),
        ({"feedback-5xx": "OK"}, ("feedback-5xx",), PASS, "alarm feedback-5xx is OK"),
        ({"a": "OK", "b": "OK"}, ("a", "b"), PASS, "alarms a, b are OK"),
        ({"a": "ALARM", "b": "ALARM"}, ("a", "b"), FAIL, "alarms a, b are in ALARM"),
        # one firing alarm fails whatever the others say
        ({"a": "INSUFFICIENT_DATA", "b": "ALARM"}, ("a", "b", "c"), FAIL, "alarm b is in ALARM"),
        ({}, ("gone",), INCONCLUSIVE, "alarm gone does not exist"),
        ({"a": "OK"}, ("a", "gone"), INCONCLUSIVE, "alarm gone does not exist"),
        (
            {"a": "INSUFFICIENT_DATA"},
            ("a",),
            INCONCLUSIVE,
            "alarm a is INSUFFICIENT_DATA",
        ),
        (
            {"a": "INSUFFICIENT_DATA"},
            ("a", "b"),
            INCONCLUSIVE,
            "alarm a is INSUFFICIENT_DATA; alarm b does not exist",
        ),
        # an alarm the rollout does not name is not judged
        ({"a": "OK", "other": "ALARM"}, ("a",), PASS, "alarm a is OK"),
    ],
)
def test_alarm_states(states, names, verdict, message):
    found = alarms(states, names)
    assert found is not None
    assert (found.verdict, found.message) == (verdict, message)


def test_no_alarm_named_means_no_alarm_signal():
    assert alarms({"a": "ALARM"}, ()) is None


def test_unreadable_alarms_are_inconclusive_unless_one_is_known_to_fire():
    found = alarms({}, ("a",), alarms_error="Throttling")
    assert found is not None
    assert (found.verdict, found.message) == (
        INCONCLUSIVE,
        "alarms inconclusive: unreadable (Throttling)",
    )
    firing = alarms({"a": "ALARM"}, ("a",), alarms_error="Throttling")
    assert firing is not None and firing.verdict is FAIL


def result(verdict: Verdict, message: str = "") -> SignalResult:
    return SignalResult(Signal.ALARMS, verdict, message or str(verdict))


@pytest.mark.parametrize(
    ("verdicts", "overall", "message"),
    [
        ((PASS, PASS, PASS), PASS, "Pass; Pass; Pass"),
        ((PASS, FAIL, PENDING, INCONCLUSIVE), FAIL, "Fail"),
        ((FAIL, PASS, FAIL), FAIL, "Fail; Fail"),
        ((PASS, PENDING, INCONCLUSIVE), PENDING, "Pending"),
        ((PASS, INCONCLUSIVE), INCONCLUSIVE, "Inconclusive"),
        ((INCONCLUSIVE, INCONCLUSIVE), INCONCLUSIVE, "Inconclusive; Inconclusive"),
        ((PENDING,), PENDING, "Pending"),
        ((PASS,), PASS, "Pass"),
    ],
)
def test_combination(verdicts, overall, message):
    assert combine(tuple(result(v) for v in verdicts)) == (overall, message)


def test_a_failing_rollouts_message_joins_the_failing_signals():
    # two failing samples, then two periods without data (neither extends the streak)
    observed = inputs("FF", alarms={"feedback-5xx": "ALARM"}, observed_at=AFTER_GRACE)
    found = judge(spec(), observed, alarm_names=("feedback-5xx",))
    assert found.verdict is FAIL
    assert found.message == (
        "5xx rate 30% over 2 samples (baseline 0.2%, limit 2.2%); p99 3 s over 2 samples"
        " (baseline 0.21 s, limit 0.42 s); alarm feedback-5xx is in ALARM"
    )


def rollout(letters: str, **fields: Any) -> AnalysisInputs:
    fields.setdefault("observed_at", max(AFTER_GRACE, TRAFFIC + len(letters) * MINUTE + 1))
    return inputs(letters, **fields)


@pytest.mark.parametrize(
    ("letters", "fields", "names", "overall", "signals"),
    [
        # a healthy rollout: every signal passes
        ("PPPP", {"alarms": {"a": "OK"}}, ("a",), PASS, (PASS, PASS, PASS, PASS)),
        ("PPPP", {}, (), PASS, (PASS, PASS, PASS)),
        # the seed's v2.1: healthy instances, 30% 5xx
        ("PPFF", {}, (), FAIL, (PASS, FAIL, FAIL)),
        # v1.2-slow: healthy, 5xx fine, p99 3 s
        (
            "",
            {"points": tuple(MetricPoint(TRAFFIC + k * 60, 600, 0, 3.0) for k in range(4))},
            (),
            FAIL,
            (PASS, PASS, FAIL),
        ),
        # v2.0: never healthy, so no traffic and no samples; the instances fail it
        (
            "",
            {"instances": (new_instance("i-a", target_state="unhealthy"),), "points": ()},
            (),
            FAIL,
            (FAIL, INCONCLUSIVE, INCONCLUSIVE),
        ),
        # a quiet service: the instances pass, the metrics cannot, so the rollout is not passed
        ("LLLL", {}, (), INCONCLUSIVE, (PASS, INCONCLUSIVE, INCONCLUSIVE)),
        # CloudWatch unreachable: never a pass
        ("PPPP", {"metrics_error": "timeout"}, (), INCONCLUSIVE,
         (PASS, INCONCLUSIVE, INCONCLUSIVE)),
        # one bad sample, then nothing more yet: pending
        ("PPPF", {}, (), PENDING, (PASS, PENDING, PENDING)),
        # nothing judged yet
        ("", {"observed_at": IN_SERVICE + 10}, ("a",), PENDING,
         (PENDING, PENDING, PENDING, INCONCLUSIVE)),
        # an alarm not there yet keeps a healthy rollout from passing
        ("PPPP", {}, ("a",), INCONCLUSIVE, (PASS, PASS, PASS, INCONCLUSIVE)),
    ],
)  # fmt: skip
def test_whole_rollouts(letters, fields, names, overall, signals):
    found = judge(spec(), rollout(letters, **fields), alarm_names=names)
    assert (found.verdict, tuple(s.verdict for s in found.signals)) == (overall, signals), (
        found.message
    )
    expected = (Signal.NEW_INSTANCES, Signal.ERROR_RATE, Signal.LATENCY_P99, Signal.ALARMS)
    assert tuple(s.signal for s in found.signals) == expected[: len(signals)]


def test_result_times():
    found = judge(spec(), rollout("PP", observed_at=TRAFFIC + 150), alarm_names=())
    assert (found.traffic_start, found.next_sample_at) == (TRAFFIC, TRAFFIC + 180)
    ended = judge(spec(), rollout("PP", rollout_end=START + 900), alarm_names=())
    assert (ended.traffic_start, ended.next_sample_at) == (TRAFFIC, None)
    waiting = judge(spec(), inputs(instances=(old_instance(),)), alarm_names=())
    assert waiting.traffic_start is None


def test_the_rollbacks_launches_do_not_judge_the_rollout():
    # The rollout ended (rolled back); the rollback's instance failing is not the new version's.
    rollback = new_instance("i-back", in_service_at=START + 700, target_state="unhealthy")
    observed = inputs(
        instances=(new_instance(), rollback), rollout_end=START + 600, observed_at=START + 1200
    )
    found = judge(spec(unhealthy_instances=1), observed, alarm_names=())
    assert found.signal(Signal.NEW_INSTANCES).verdict is PASS  # type: ignore[union-attr]


def test_an_analysis_turned_off_judges_the_alarms_alone():
    off = AnalysisSpec(enabled=False)
    found = judge(off, rollout("FF", alarms={"a": "ALARM"}), alarm_names=("a",))
    assert (found.verdict, [s.signal for s in found.signals]) == (FAIL, [Signal.ALARMS])
    nothing = judge(off, rollout("FF"), alarm_names=())
    assert (nothing.verdict, nothing.signals) == (PASS, ())


@pytest.mark.parametrize(
    ("chosen", "point", "which", "limit"),
    [
        (spec(error_rate={"max_increase": None}), (600, 30, 0.2), Signal.ERROR_RATE, 0.05),
        (spec(latency={"max_ratio": None}), (600, 0, 2.0), Signal.LATENCY_P99, 2.0),
    ],
)
def test_exactly_at_the_maximum_passes(chosen, point, which, limit):
    points = tuple(MetricPoint(TRAFFIC + k * 60, *point) for k in range(2))
    found = judge(chosen, inputs(points=points, observed_at=TRAFFIC + 121), alarm_names=())
    judged = found.signal(which)
    assert judged is not None
    assert [s.verdict for s in judged.samples] == [PASS, PASS]
    assert [s.threshold for s in judged.samples] == [limit, limit]
    assert judged.verdict is PASS


# ------------------------------------------------------------------------------------------------
# Noise
# ------------------------------------------------------------------------------------------------


def binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def noisy(
    rng: random.Random, start: float, count: int, error_rate: float
) -> tuple[MetricPoint, ...]:
    """``count`` minutes of 600 requests, binomial 5xx, a lognormal p99 around 0.2 s."""
    points = []
    for k in range(count):
        requests = 600
        p99 = rng.lognormvariate(math.log(0.2), 0.15)
        points.append(
            MetricPoint(start + k * 60, requests, binomial(rng, requests, error_rate), p99)
        )
    return tuple(points)


@pytest.mark.parametrize("seed", range(200))
def test_a_healthy_series_never_fails(seed):
    rng = random.Random(seed)
    base = noisy(rng, 1_700_000_040 - 1800, 30, 0.001)
    series = noisy(rng, TRAFFIC, 10, 0.001)
    observed = inputs("", baseline=base, points=series, observed_at=TRAFFIC + 601)
    found = judge(spec(), observed, alarm_names=())
    assert found.verdict is PASS, found.message


@pytest.mark.parametrize("limit", [1, 2, 3])
@pytest.mark.parametrize("seed", range(20))
def test_a_thirty_percent_series_fails_within_failure_limit_samples(seed, limit):
    rng = random.Random(seed)
    base = noisy(rng, 1_700_000_040 - 1800, 30, 0.001)
    series = noisy(rng, TRAFFIC, limit, 0.3)
    chosen = spec(failure_limit=limit)
    before = inputs("", baseline=base, points=series, observed_at=TRAFFIC + (limit - 1) * 60 + 1)
    at = inputs("", baseline=base, points=series, observed_at=TRAFFIC + limit * 60 + 1)
    assert judge(chosen, before, alarm_names=()).verdict is not FAIL
    found = judge(chosen, at, alarm_names=())
    assert found.signal(Signal.ERROR_RATE).verdict is FAIL  # type: ignore[union-attr]
    assert found.verdict is FAIL
