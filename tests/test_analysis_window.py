"""The analysis's time ranges and number formats (``reconciler.pipeline.analysis``: ``window``,
``text``): which CloudWatch periods are fetched, which are samples, and how values read."""

from __future__ import annotations

import pytest

from reconciler.pipeline.analysis import baseline_range, metric_range, percent, seconds
from reconciler.pipeline.analysis.window import next_sample_at, sample_starts
from tests.analysis_data import START, TRAFFIC, inputs, spec

T = 1_700_000_100  # a multiple of 60 and of 300


@pytest.mark.parametrize(
    ("interval", "rollout_start", "until", "expected"),
    [
        (60, T + 10, T + 10, (T, T)),  # nothing complete yet: an empty range, never reversed
        (60, T + 10, T + 59, (T, T)),
        (60, T + 10, T + 60, (T, T + 60)),  # the first period just completed
        (60, T + 10, T + 185, (T, T + 180)),
        (60, T, T + 120, (T, T + 120)),  # already aligned: kept
        (300, T + 299, T + 900, (T, T + 900)),
        (300, T + 310, T + 899, (T + 300, T + 600)),
        (60, T + 10, T - 100, (T, T)),  # a clock behind the start: still empty, not negative
    ],
)
def test_metric_range_is_aligned_and_ends_at_the_last_complete_period(
    interval, rollout_start, until, expected
):
    assert metric_range(spec(interval=interval), rollout_start=rollout_start, until=until) == (
        expected
    )


@pytest.mark.parametrize(
    ("interval", "window", "rollout_start", "expected"),
    [
        (60, 1800, T + 10, (T - 1800, T)),
        (60, 1800, T, (T - 1800, T)),
        (60, 90, T + 50, (T - 60, T)),  # T - 40 aligns down to T - 60
        (300, 1800, T + 310, (T + 300 - 1800, T + 300)),
    ],
)
def test_baseline_range_ends_before_the_period_holding_the_rollout_start(
    interval, window, rollout_start, expected
):
    chosen = spec(interval=interval, baseline_window=window)
    assert baseline_range(chosen, rollout_start=rollout_start) == expected


@pytest.mark.parametrize(
    ("traffic", "until", "expected"),
    [
        (T, T + 180, (T, T + 60, T + 120)),
        (T + 30, T + 180, (T, T + 60, T + 120)),  # exactly half of [T, T+60) after: counts
        (T + 31, T + 180, (T + 60, T + 120)),  # less than half: left out
        (T + 29, T + 180, (T, T + 60, T + 120)),
        (T, T + 179, (T, T + 60)),  # [T+120, T+180) has not ended
        (T, T + 59, ()),
        (T + 120, T + 60, ()),  # cut before traffic
    ],
)
def test_sample_starts_need_half_the_period_after_traffic_and_its_end(traffic, until, expected):
    assert sample_starts(spec(), traffic_start=traffic, until=until) == expected


def test_next_sample_at_is_the_end_of_the_running_period_and_none_once_ended():
    running = inputs("PP", observed_at=TRAFFIC + 130)
    assert next_sample_at(spec(), running) == TRAFFIC + 180
    assert next_sample_at(spec(), inputs("PP", observed_at=TRAFFIC + 120)) == TRAFFIC + 180
    assert next_sample_at(spec(), inputs("PP", rollout_end=START + 600)) is None


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (0.31, "31%"),
        (0.002, "0.2%"),
        (0.0, "0%"),
        (0.05, "5%"),
        (0.022, "2.2%"),
        (0.001, "0.1%"),
        (1.0, "100%"),
        (0.3333, "33%"),
        (0.00012, "0.012%"),
        (0.0999, "10%"),
        (0.02166, "2.2%"),
    ],
)
def test_percent(rate, text):
    assert percent(rate) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.1, "3.1 s"),
        (0.213, "0.21 s"),
        (0.42, "0.42 s"),
        (300, "300 s"),
        (0.0, "0 s"),
        (2.0, "2 s"),
        (0.0049, "0.0049 s"),
        (12.34, "12 s"),
    ],
)
def test_seconds(value, text):
    assert seconds(value) == text
