"""The analysis's say in diff and plan: a failed rollout is stopped, marked and explained.

Plain data through the real ``diff`` and ``plan``: the analysis inputs are what observe would
read (activities, target health, CloudWatch points), the verdict comes from the real judge.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_FAILED_FINGERPRINT,
    TAG_FAILED_REASON,
    AnalysisInputs,
    AnalysisSpec,
    DesiredService,
    InstanceHistory,
    MarkFailed,
    MetricPoint,
    ObservedService,
    Phase,
    RefreshStatus,
    Resource,
    Signal,
    Verdict,
)
from reconciler.model.markers import failed_marker
from reconciler.pipeline.diff import diff
from reconciler.pipeline.diff.gates import gates
from reconciler.pipeline.plan import plan
from tests.factories import (
    DIGEST_B,
    OWNER,
    add_versions,
    desired_service,
    observed_service,
    refresh,
    resolved_image,
    rollout_spec,
    service_spec,
    version_of,
    with_group,
)

START = 1_800_000_000.0  # the refresh's StartTime, on a minute boundary
IN_SERVICE = START + 60
TRAFFIC = IN_SERVICE + 2 * 30  # healthy threshold 2, interval 30


def new_image(**rollout: Any) -> DesiredService:
    image = resolved_image(tag="v2.1", digest=DIGEST_B)
    return desired_service(rollout=rollout_spec(**rollout), image=image)


def points(
    rates: list[float], *, requests: float = 600.0, p99: float = 0.2
) -> tuple[MetricPoint, ...]:
    first = START + 180  # the first whole minute after traffic starts
    return tuple(
        MetricPoint(start=first + 60 * i, requests=requests, errors=requests * r, p99=p99)
        for i, r in enumerate(rates)
    )


def baseline(rate: float = 0.002, *, p99: float = 0.2) -> tuple[MetricPoint, ...]:
    return tuple(
        MetricPoint(start=START - 1800 + 60 * i, requests=600.0, errors=600.0 * rate, p99=p99)
        for i in range(30)
    )


def inputs(samples: tuple[MetricPoint, ...], **overrides: Any) -> AnalysisInputs:
    new = InstanceHistory(
        "i-new1",
        launched_at=START,
        in_service_at=IN_SERVICE,
        version="4",
        target_state="healthy",
    )
    end = samples[-1].start + 60 if samples else TRAFFIC
    values: dict[str, Any] = {
        "observed_at": end + 5,
        "rollout_start": START,
        "desired_version": "4",
        "grace_period": 300,
        "health_check_interval": 30,
        "healthy_threshold": 2,
        "points": samples,
        "baseline": baseline(),
        "instances": (new,),
    }
    return AnalysisInputs(**{**values, **overrides})


def rolling_out(
    desired: DesiredService, analysis: AnalysisInputs | None, **refresh_overrides: Any
) -> ObservedService:
    observed = add_versions(observed_service(), version_of(desired, 4))
    return dataclasses.replace(
        observed,
        refreshes=(refresh(desired_version="4", **refresh_overrides),),
        analysis=analysis,
    )


def test_a_failing_5xx_rate_stops_the_refresh_with_a_rollback() -> None:
    desired = new_image()
    observed = rolling_out(desired, inputs(points([0.31, 0.30])))
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    assert result.analysis is not None and result.analysis.verdict is Verdict.FAIL
    assert "5xx rate 30% over 2 samples (baseline 0.2%, limit 2.2%)" in result.message
    assert [(c.resource, c.new) for c in result.changes] == [
        (Resource.INSTANCE_REFRESH, RefreshStatus.ROLLBACK_IN_PROGRESS.value)
    ]
    actions = plan(desired, observed, result, owner=OWNER).actions
    assert [type(a).__name__ for a in actions] == ["RollbackInstanceRefresh", "MarkFailed"]
    mark = actions[1]
    assert isinstance(mark, MarkFailed)
    assert mark.fingerprint == failed_marker(desired, refresh_id="rf-0001")
    assert mark.reason.startswith("analysis failed: 5xx rate 30% over 2 samples")


def test_without_auto_rollback_the_refresh_is_cancelled() -> None:
    desired = new_image(auto_rollback=False)
    observed = rolling_out(desired, inputs(points([0.31, 0.30])))
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    assert "autoRollback is off" in result.message
    actions = plan(desired, observed, result, owner=OWNER).actions
    assert [type(a).__name__ for a in actions] == ["CancelInstanceRefresh", "MarkFailed"]


@pytest.mark.parametrize(
    ("rates", "phase"),
    [
        ([0.001, 0.002, 0.001], Phase.PROGRESSING),  # healthy noise
        ([0.31], Phase.PROGRESSING),  # one failing sample: not yet
        ([0.31, 0.001, 0.31], Phase.PROGRESSING),  # recovered in between
        ([0.31, 0.31], Phase.FAILED),
        ([0.001, 0.31, 0.31], Phase.FAILED),
    ],
)
def test_only_consecutive_failing_samples_fail_the_rollout(
    rates: list[float], phase: Phase
) -> None:
    desired = new_image()
    assert diff(desired, rolling_out(desired, inputs(points(rates))), owner=OWNER).phase is phase


def test_low_traffic_is_never_a_failure_nor_a_pass() -> None:
    desired = new_image()
    observed = rolling_out(desired, inputs(points([0.5, 0.5, 0.5], requests=10)))
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.PROGRESSING
    assert result.analysis is not None
    assert result.analysis.verdict is not Verdict.PASS


def test_cloudwatch_unreadable_is_inconclusive_not_a_pass() -> None:
    desired = new_image()
    unreadable = inputs((), metrics_error="CloudWatch GetMetricData: Throttling")
    result = diff(desired, rolling_out(desired, unreadable), owner=OWNER)
    assert result.phase is Phase.PROGRESSING
    assert result.analysis is not None and result.analysis.verdict is not Verdict.PASS
    errors = result.analysis.signal(Signal.ERROR_RATE)
    assert errors is not None and errors.verdict is Verdict.INCONCLUSIVE
    assert "Throttling" in errors.message


def test_a_new_instance_failing_its_health_checks_after_grace_fails_the_rollout() -> None:
    desired = new_image()
    failing = InstanceHistory(
        "i-new1",
        launched_at=START,
        in_service_at=IN_SERVICE,
        version="4",
        target_state="unhealthy",
        target_reason="Target.Timeout",
    )
    observed = rolling_out(
        desired, inputs((), instances=(failing,), observed_at=IN_SERVICE + 300 + 30)
    )
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    assert "Target.Timeout" in result.message


def test_unhealthy_within_grace_is_not_yet_a_failure() -> None:
    desired = new_image()
    booting = InstanceHistory(
        "i-new1", launched_at=START, in_service_at=IN_SERVICE, version="4", target_state="unhealthy"
    )
    observed = rolling_out(desired, inputs((), instances=(booting,), observed_at=IN_SERVICE + 200))
    assert diff(desired, observed, owner=OWNER).phase is Phase.PROGRESSING


def test_an_alarm_in_alarm_fails_the_rollout() -> None:
    desired = new_image(alarms=("feedback-5xx",), bake_time=600)
    observed = rolling_out(desired, inputs(points([0.001]), alarms={"feedback-5xx": "ALARM"}))
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    assert "feedback-5xx" in result.message


def test_a_failure_recorded_for_this_refresh_stops_it_again_without_fresh_data() -> None:
    # The rollback was planned on an earlier tick but did not take: the tag remembers.
    desired = new_image()
    observed = rolling_out(desired, inputs(()))
    tags = {
        **observed.auto_scaling_group.tags,  # type: ignore[union-attr]
        TAG_FAILED_FINGERPRINT: failed_marker(desired, refresh_id="rf-0001"),
        TAG_FAILED_REASON: "analysis failed: 5xx rate 31% over 2 samples",
    }
    observed = with_group(observed, tags=tags)
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    actions = plan(desired, observed, result, owner=OWNER).actions
    # The tag is already there: only the stop is planned again.
    assert [type(a).__name__ for a in actions] == ["RollbackInstanceRefresh"]


def test_a_cancelling_refresh_is_waited_on() -> None:
    desired = new_image(auto_rollback=False)
    observed = rolling_out(desired, inputs(points([0.31, 0.31])), status=RefreshStatus.CANCELLING)
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.FAILED
    assert result.changes == ()


def test_the_rollback_in_progress_reports_the_recorded_numbers() -> None:
    desired = new_image()
    observed = rolling_out(desired, inputs(()), status=RefreshStatus.ROLLBACK_IN_PROGRESS)
    tags = {
        **observed.auto_scaling_group.tags,  # type: ignore[union-attr]
        TAG_FAILED_FINGERPRINT: failed_marker(desired, refresh_id="rf-0001"),
        TAG_FAILED_REASON: "analysis failed: 5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)",
    }
    result = diff(desired, with_group(observed, tags=tags), owner=OWNER)
    assert result.phase is Phase.FAILED
    assert "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)" in result.message


def test_analysis_off_leaves_the_rollout_to_aws() -> None:
    desired = new_image(analysis=AnalysisSpec(enabled=False))
    observed = rolling_out(desired, inputs(points([0.5, 0.5, 0.5])))
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.PROGRESSING
    assert result.analysis is None


def test_progress_message_carries_the_verdict_so_far() -> None:
    desired = new_image()
    healthy = inputs(points([0.001, 0.002, 0.001, 0.002, 0.001, 0.002]))
    result = diff(desired, rolling_out(desired, healthy), owner=OWNER)
    assert result.phase is Phase.PROGRESSING
    assert "analysis pass: " in result.message


# ------------------------------------------------------------------------------------------------
# Gates: what the pull-request diff promises
# ------------------------------------------------------------------------------------------------


def test_a_rollout_to_start_lists_its_gates() -> None:
    desired = new_image(checkpoint_percentages=(50, 100), checkpoint_delay=60, alarms=("a",))
    result = diff(desired, observed_service(), owner=OWNER)
    assert result.phase is Phase.OUT_OF_SYNC
    text = "\n".join(result.gates)
    assert "5xx rate: at most 5% and at most 2 points over the baseline" in text
    assert "p99 latency: at most 2 s and at most 2x the baseline" in text
    assert "checkpoints at 50%: a gate; the refresh goes past each only once the analysis" in text
    assert "at least 60 s have passed there" in text
    assert "alarms: a" in text
    assert "rolled back to the previous version" in text


def test_settings_drift_alone_has_no_gates() -> None:
    desired = desired_service()
    observed = with_group(observed_service(desired), max_size=9)
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.OUT_OF_SYNC
    assert result.gates == ()


def test_gates_without_analysis_say_only_aws_judges() -> None:
    spec = service_spec(rollout=rollout_spec(analysis=AnalysisSpec(enabled=False)))
    assert gates(spec)[0].startswith("analysis off: only AWS judges the rollout")
