"""The metric signals, ``errorRate`` and ``latencyP99`` (rules 4 and 5 of
``reconciler.pipeline.analysis.metrics``), over plain data: samples, baselines, thresholds,
streaks and their messages. The letters of a series are explained in ``tests/analysis_data``."""

from __future__ import annotations

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
from reconciler.pipeline.analysis.metrics import (
    baseline_error_rate,
    baseline_p99,
    error_threshold,
    latency_threshold,
)
from tests.analysis_data import (
    BASELINE_P99,
    BASELINE_RATE,
    IN_SERVICE,
    LIMIT_RATE,
    MINUTE,
    TRAFFIC,
    baseline,
    inputs,
    new_instance,
    rows,
    spec,
)

PASS, FAIL = Verdict.PASS, Verdict.FAIL
PENDING, INCONCLUSIVE = Verdict.PENDING, Verdict.INCONCLUSIVE


def signal(
    which: Signal, observed: AnalysisInputs, chosen: AnalysisSpec | None = None
) -> SignalResult | None:
    return judge(chosen or spec(), observed, alarm_names=()).signal(which)


def error_rate(letters: str, chosen: AnalysisSpec | None = None, **fields: Any) -> SignalResult:
    found = signal(Signal.ERROR_RATE, inputs(letters, **fields), chosen)
    assert found is not None
    return found


def latency(letters: str, chosen: AnalysisSpec | None = None, **fields: Any) -> SignalResult:
    found = signal(Signal.LATENCY_P99, inputs(letters, **fields), chosen)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("letters", "limit", "verdict"),
    [
        ("", 2, PENDING),  # no complete sample yet
        ("P", 2, INCONCLUSIVE),  # one conclusive sample is not enough to pass
        ("PP", 2, PASS),
        ("F", 2, PENDING),
        ("FF", 2, FAIL),
        ("FPF", 2, PENDING),  # recovery after one bad sample resets the streak
        ("FPFP", 2, PASS),
        ("PFP", 2, PASS),
        ("FLF", 2, FAIL),  # an inconclusive sample neither extends nor resets the streak
        ("FNF", 2, FAIL),  # nor does a missing one
        ("FLLNF", 2, FAIL),
        ("FL", 2, PENDING),
        ("FFPPPP", 2, FAIL),  # a rollout that failed never un-fails
        ("PPPPFF", 2, FAIL),
        ("LLL", 2, INCONCLUSIVE),  # low traffic is never a pass
        ("NNN", 2, INCONCLUSIVE),  # no data is never a pass
        ("LP", 2, INCONCLUSIVE),
        ("LPNP", 2, PASS),
        ("PPF", 2, PENDING),
        ("EE", 2, PASS),  # exactly at the limit is not a failure
        ("XX", 2, FAIL),  # just above it is
        ("EX", 2, PENDING),
        ("XEX", 2, PENDING),
        ("QQ", 2, PASS),  # no p99 does not matter to the 5xx rate
        ("", 1, PENDING),
        ("P", 1, PASS),
        ("F", 1, FAIL),
        ("L", 1, INCONCLUSIVE),
        ("LF", 1, FAIL),
        ("PFP", 1, FAIL),
        ("FF", 3, PENDING),
        ("FFF", 3, FAIL),
        ("FFPFF", 3, PENDING),
        ("FLFNF", 3, FAIL),
        ("PP", 3, INCONCLUSIVE),
        ("PLP", 3, INCONCLUSIVE),
        ("PPP", 3, PASS),
        ("FFPPP", 3, PASS),
    ],
)
def test_error_rate_verdicts(letters, limit, verdict):
    result = error_rate(letters, spec(failure_limit=limit))
    assert result.verdict is verdict, result.message
    assert len(result.samples) == len(letters)


@pytest.mark.parametrize(
    ("letters", "limit", "verdict"),
    [
        ("PP", 2, PASS),
        ("FF", 2, FAIL),
        ("FPF", 2, PENDING),
        ("QQ", 2, INCONCLUSIVE),  # requests but no p99: inconclusive
        ("PQP", 2, PASS),
        ("FQF", 2, FAIL),
        ("LL", 2, INCONCLUSIVE),
        ("F", 1, FAIL),
        ("FFF", 3, FAIL),
    ],
)
def test_latency_verdicts(letters, limit, verdict):
    result = latency(letters, spec(failure_limit=limit))
    assert result.verdict is verdict, result.message


def test_the_issues_messages():
    bad = tuple(MetricPoint(TRAFFIC + k * MINUTE, 600, 186, 3.1) for k in range(2))
    chosen = spec(error_rate={"max_increase": None})
    assert error_rate("", chosen, points=bad, observed_at=TRAFFIC + 121).message == (
        "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)"
    )
    assert latency("", chosen, points=bad, observed_at=TRAFFIC + 121).message == (
        "p99 3.1 s over 2 samples (baseline 0.21 s, limit 0.42 s)"
    )
    good = tuple(MetricPoint(TRAFFIC + k * MINUTE, 1000, 1, 0.2) for k in range(4))
    assert error_rate("", points=good, observed_at=TRAFFIC + 241).message == (
        "5xx rate 0.1% over 4 samples (baseline 0.2%, limit 2.2%)"
    )
    assert error_rate("LLL").message == (
        "5xx rate inconclusive: 0 of 3 samples had at least 50 requests"
    )
    assert latency("QPL").message == (
        "p99 inconclusive: 1 of 3 samples had at least 50 requests and a p99"
    )


def test_a_failure_shows_the_mean_of_its_whole_streak():
    points = (
        MetricPoint(TRAFFIC, 600, 600 * 0.2, 0.2),
        MetricPoint(TRAFFIC + 60, 600, 0, 0.2),  # resets: not part of the streak
        MetricPoint(TRAFFIC + 120, 600, 600 * 0.1, 0.2),
        MetricPoint(TRAFFIC + 180, 12, 12, 0.2),  # inconclusive: not part of it either
        MetricPoint(TRAFFIC + 240, 600, 600 * 0.3, 0.2),
        MetricPoint(TRAFFIC + 300, 600, 600 * 0.5, 0.2),
    )
    result = error_rate("", points=points, observed_at=TRAFFIC + 361)
    assert result.verdict is FAIL
    assert result.message == "5xx rate 30% over 3 samples (baseline 0.2%, limit 2.2%)"


def test_pending_messages_say_what_is_missing():
    assert error_rate("F").message == (
        "5xx rate 30% over 1 sample (baseline 0.2%, limit 2.2%): 1 more failing sample fails"
        " the rollout"
    )
    assert error_rate("F", spec(failure_limit=3)).message.endswith(
        ": 2 more failing samples fail the rollout"
    )
    assert error_rate("").message == "5xx rate pending: no complete sample yet"
    waiting = error_rate("PP", instances=(new_instance(in_service_at=None),))
    assert (waiting.verdict, waiting.message, waiting.samples) == (
        PENDING,
        "5xx rate pending: no new instance takes traffic yet",
        (),
    )


def test_samples_carry_value_threshold_requests_and_why_inconclusive():
    result = error_rate("PLNFQ")
    assert [s.start for s in result.samples] == [TRAFFIC + k * MINUTE for k in range(5)]
    assert [s.end - s.start for s in result.samples] == [60] * 5
    assert [s.verdict for s in result.samples] == [PASS, INCONCLUSIVE, INCONCLUSIVE, FAIL, PASS]
    assert [s.note for s in result.samples] == ["", "12 requests (< 50)", "no data", "", ""]
    assert [s.value for s in result.samples] == [0.0, 0.0, None, 0.3, 0.0]
    assert [s.requests for s in result.samples] == [600, 12, 0.0, 600, 600]
    assert [s.threshold for s in result.samples] == [pytest.approx(LIMIT_RATE)] * 5
    assert result.baseline == pytest.approx(BASELINE_RATE)
    slow = latency("PQF")
    assert [(s.value, s.note) for s in slow.samples] == [(0.2, ""), (None, "no p99"), (3.0, "")]
    assert slow.baseline == BASELINE_P99


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (baseline(), BASELINE_RATE),
        ((), None),
        (baseline(requests=1), None),  # 30 requests in all: below min_requests
        (baseline(minutes=1, requests=50, errors=5), 0.1),  # exactly min_requests is enough
        (baseline(minutes=1, requests=49, errors=5), None),
        # a period with requests and no 5xx count has zero 5xx; a period without data is left out
        ((MetricPoint(0, 100, None), MetricPoint(60, None, 7), MetricPoint(120, 100, 2)), 0.01),
        ((MetricPoint(0, 0, None),) * 3, None),
    ],
)
def test_baseline_error_rate(points, expected):
    found = baseline_error_rate(spec(), points)
    assert found == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (baseline(), BASELINE_P99),
        ((), None),
        (baseline(requests=49), None),  # no point with enough requests
        (tuple(MetricPoint(k * 60, 100, 0, p) for k, p in enumerate((0.3, 0.1, 9.0))), 0.3),
        (tuple(MetricPoint(k * 60, 100, 0, p) for k, p in enumerate((0.1, 0.2, 0.4, 9))), 0.3),
        ((MetricPoint(0, 100, 0, None), MetricPoint(60, 10, 0, 5.0), MetricPoint(120, 100)), None),
        ((MetricPoint(0, 100, 0, 0.5), MetricPoint(60, 10, 0, 5.0)), 0.5),  # low traffic: out
    ],
)
def test_baseline_p99_is_the_median_of_the_busy_periods(points, expected):
    found = baseline_p99(spec(), points)
    assert found == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("maximum", "increase", "base", "expected"),
    [
        (0.05, 0.02, 0.002, 0.022),
        (0.05, 0.02, 0.04, 0.05),  # the absolute maximum is lower
        (0.05, 0.02, None, 0.05),  # no baseline: the maximum alone
        (None, 0.02, 0.002, 0.022),
        (0.05, None, 0.002, 0.05),
        (None, 0.02, None, None),  # nothing to compare with: off
        (None, None, 0.002, None),
    ],
)
def test_error_threshold(maximum, increase, base, expected):
    chosen = spec(error_rate={"max": maximum, "max_increase": increase})
    found = error_threshold(chosen, base)
    assert found == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("maximum", "ratio", "base", "expected"),
    [
        (2.0, 2.0, 0.21, 0.42),
        (2.0, 2.0, 1.5, 2.0),
        (2.0, 2.0, None, 2.0),
        (None, 3.0, 0.2, 0.6),
        (2.0, None, 0.2, 2.0),
        (None, 2.0, None, None),
    ],
)
def test_latency_threshold(maximum, ratio, base, expected):
    chosen = spec(latency={"max": maximum, "max_ratio": ratio})
    found = latency_threshold(chosen, base)
    assert found == (None if expected is None else pytest.approx(expected))


def test_no_baseline_says_so_and_uses_the_maximum():
    result = error_rate("FF", baseline=())
    assert result.message == "5xx rate 30% over 2 samples (baseline none, limit 5%)"
    assert result.baseline is None
    assert latency("FF", baseline=()).message == (
        "p99 3 s over 2 samples (baseline none, limit 2 s)"
    )


@pytest.mark.parametrize(
    ("chosen", "observed", "present"),
    [
        (spec(error_rate={"enabled": False}), inputs("FF"), (Signal.LATENCY_P99,)),
        (spec(latency={"enabled": False}), inputs("FF"), (Signal.ERROR_RATE,)),
        # only a relative limit, and no baseline to apply it to: off
        (spec(error_rate={"max": None}), inputs("FF", baseline=()), (Signal.LATENCY_P99,)),
        (
            spec(error_rate={"max": None}, latency={"max": None}),
            inputs("FF", baseline=()),
            (),
        ),
        # ...unless the metrics could not be read: the baseline may be missing for that reason
        (
            spec(error_rate={"max": None}, latency={"max": None}),
            inputs("FF", baseline=(), metrics_error="Throttling"),
            (Signal.ERROR_RATE, Signal.LATENCY_P99),
        ),
        (spec(error_rate={"max": None, "max_increase": None}), inputs(), (Signal.LATENCY_P99,)),
        (spec(enabled=False), inputs("FF"), ()),
    ],
)
def test_disabled_comparisons_remove_the_signal(chosen, observed, present):
    result = judge(chosen, observed, alarm_names=())
    metrics = tuple(
        s.signal for s in result.signals if s.signal in (Signal.ERROR_RATE, Signal.LATENCY_P99)
    )
    assert metrics == present


@pytest.mark.parametrize(
    ("letters", "verdict", "count"),
    [
        ("FF", FAIL, 2),  # a failure found before the error still fails
        ("FPF", INCONCLUSIVE, 3),
        ("PP", INCONCLUSIVE, 2),  # never a pass on an unreadable source
        ("PPPP", INCONCLUSIVE, 4),
        ("", INCONCLUSIVE, 0),
        ("NN", INCONCLUSIVE, 2),
    ],
)
def test_unreadable_metrics_are_inconclusive_and_keep_their_samples(letters, verdict, count):
    error = "Throttling: Rate exceeded"
    result = error_rate(letters, metrics_error=error)
    assert (result.verdict, len(result.samples)) == (verdict, count)
    if verdict is INCONCLUSIVE:
        assert result.message == f"5xx rate inconclusive: metrics unreadable ({error})"


def test_unreadable_metrics_before_any_traffic_are_inconclusive():
    result = error_rate("", instances=(), metrics_error="AccessDenied")
    assert (result.verdict, result.message) == (
        INCONCLUSIVE,
        "5xx rate inconclusive: metrics unreadable (AccessDenied)",
    )


@pytest.mark.parametrize(
    ("end", "count", "verdict"),
    [
        (TRAFFIC + 120, 2, PASS),  # the failing periods came after the rollout ended
        (TRAFFIC + 179, 2, PASS),  # [+120, +180) is not over at the end: not a sample
        (TRAFFIC + 180, 3, PENDING),
        (TRAFFIC + 240, 4, FAIL),
        (TRAFFIC - 1, 0, PENDING),
    ],
)
def test_rollout_end_cuts_the_samples(end, count, verdict):
    result = error_rate("PPFF", rollout_end=end, observed_at=TRAFFIC + 600)
    assert (len(result.samples), result.verdict) == (count, verdict)


@pytest.mark.parametrize(
    ("in_service_delay", "first"),
    [(0, TRAFFIC), (30, TRAFFIC), (31, TRAFFIC + 60), (-30, TRAFFIC - 60), (-29, TRAFFIC)],
)
def test_a_period_mostly_before_traffic_is_not_a_sample(in_service_delay, first):
    instances = (new_instance(in_service_at=IN_SERVICE + in_service_delay),)
    points = rows("FFPP", first=TRAFFIC - 60)
    result = error_rate("", instances=instances, points=points, observed_at=TRAFFIC + 181)
    assert result.samples[0].start == first


def test_points_off_the_requested_range_are_ignored():
    result = error_rate("PP", points=(*rows("FF", first=TRAFFIC - 300), *rows("PP")))
    assert (result.verdict, len(result.samples)) == (PASS, 2)


def test_a_period_with_zero_requests_is_inconclusive_even_without_a_minimum():
    points = (MetricPoint(TRAFFIC, 0, 0, None), MetricPoint(TRAFFIC + 60, 0, 0, None))
    result = error_rate("", spec(min_requests=0), points=points, observed_at=TRAFFIC + 121)
    assert [(s.verdict, s.note) for s in result.samples] == [(INCONCLUSIVE, "no requests")] * 2
    assert result.verdict is INCONCLUSIVE
