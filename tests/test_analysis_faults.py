"""The rollout analysis when its inputs fail (issue 12, "Bad input and faults"): CloudWatch
throttled or unreachable, a daemon that dies mid-analysis, and thresholds that make no sense.

The daemon reaches CloudWatch through ``tests.cloudwatch_faults`` (Auto Scaling, ELB and EC2
pass through untouched), with botocore's retries off (``max_attempts=0``): a throttled call's
retries would be throttled too, and their backoff only costs wall time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.model import Signal, Verdict
from reconciler.sandbox import Sandbox
from tests.analysis_harness import Seen, Story, condition, new_daemon, signal
from tests.cloudwatch_faults import CloudWatchFaults
from tests.faults import FaultProxy
from tests.sandbox_calls import put_alarm
from tests.test_e2e_core import sandbox_copy

ALARM = "feedback-5xx"


@pytest.fixture
def faults(frozen: Sandbox) -> Iterator[CloudWatchFaults]:
    with CloudWatchFaults(frozen.endpoint) as proxy:
        yield proxy


def through(faults: CloudWatchFaults) -> Aws:
    return Aws(region="us-east-1", endpoint_url=faults.endpoint, max_attempts=0)


def failed(seen: Seen) -> bool:
    return seen.status.condition("Degraded").reason == "RolloutFailed"


def running(story: Story) -> list[Seen]:
    """The ticks that judged a refresh under way (not the rollback)."""
    return [s for s in story.seen if s.analysis is not None and s.refresh_status == "InProgress"]


# ------------------------------------------------------------------------------------------------
# CloudWatch throttled, CloudWatch unreachable
# ------------------------------------------------------------------------------------------------


def test_cloudwatch_throttled_all_along_is_inconclusive_never_a_pass(
    frozen: Sandbox, faults: CloudWatchFaults, tmp_path: Path
) -> None:
    """A healthy release while every CloudWatch call is throttled: the metric and alarm
    signals are inconclusive and say why, the analysis never passes, no tick fails; a refresh
    without checkpoints ends as AWS decides (its health checks pass), so the service ends Ready.
    With a checkpoint it would hold there: tests/test_checkpoint_gate_e2e.py."""
    ungated: dict[str, Any] = {"checkpointPercentages": None, "checkpointDelay": None}
    story = Story.begin(
        frozen, tmp_path, "v1.0", aws=through(faults), alarms=[ALARM], bakeTime=120, **ungated
    )
    put_alarm(story.watcher, ALARM)
    faults.fault = "throttle"
    story.until(lambda s: s.status.condition("Ready").status)

    assert story.refresh_statuses()[-1] == "Successful"
    judged = running(story)
    assert judged and all(s.analysis and s.analysis.verdict is not Verdict.PASS for s in judged)
    assert Verdict.FAIL not in story.verdicts()
    last = judged[-1].analysis
    verdict, message, samples = signal(last, Signal.ERROR_RATE)
    assert verdict is Verdict.INCONCLUSIVE
    assert "metrics unreadable (CloudWatch GetMetricData: " in message and "Throttling" in message
    assert samples and {s.note for s in samples} == {"no data"}  # reported, each one
    assert signal(last, Signal.LATENCY_P99)[0] is Verdict.INCONCLUSIVE
    alarm_verdict, alarm_message, _ = signal(last, Signal.ALARMS)
    assert alarm_verdict is Verdict.INCONCLUSIVE
    assert "unreadable (CloudWatch DescribeAlarms: " in alarm_message
    progressing = [condition(s, "Progressing")[2] for s in judged]
    assert not any("analysis pass" in m for m in progressing)
    assert any("analysis inconclusive: " in m for m in progressing)
    assert faults.injected["throttle:GetMetricData"] >= len(judged)
    assert faults.injected["throttle:DescribeAlarms"] >= len(judged)


def test_cloudwatch_unreachable_then_back_fails_v2_1_on_what_it_held(
    frozen: Sandbox, faults: CloudWatchFaults, tmp_path: Path
) -> None:
    """v2.1 while CloudWatch cannot be reached: no verdict either way and no stop, only
    inconclusive samples; once it answers again, the samples it kept through the outage fail
    the rollout in the very next pass."""
    story = Story.begin(frozen, tmp_path, "v2.1", aws=through(faults))
    faults.fault = "unreachable"
    first = story.tick()
    assert first.refresh is not None
    begun = first.refresh["StartTime"].timestamp()
    story.until(lambda s: s.at - begun >= 7 * 60)
    outage = running(story)

    assert story.refresh_statuses() == ["InProgress"]
    assert not any(failed(s) for s in story.seen)
    assert {s.analysis.verdict for s in outage if s.analysis} <= {
        Verdict.PENDING,
        Verdict.INCONCLUSIVE,
    }
    verdict, message, samples = signal(outage[-1].analysis, Signal.ERROR_RATE)
    assert verdict is Verdict.INCONCLUSIVE and "GetMetricData" in message, message
    assert "Connection was closed" in message
    assert len(samples) >= 2 and all(s.verdict is Verdict.INCONCLUSIVE for s in samples)

    faults.fault = None
    back = story.tick()
    assert failed(back), condition(back, "Degraded")
    verdict, _, samples = signal(back.analysis, Signal.ERROR_RATE)
    assert verdict is Verdict.FAIL
    outage_samples = [s for s in samples if s.end <= outage[-1].at]
    assert sum(s.verdict is Verdict.FAIL for s in outage_samples) >= 2  # read back, not lost
    story.settle()
    assert story.refresh_statuses()[-1] == "RollbackSuccessful"


# ------------------------------------------------------------------------------------------------
# A crash mid-analysis
# ------------------------------------------------------------------------------------------------


def one_failing_sample(seen: Seen) -> bool:
    if seen.analysis is None:
        return False
    _, _, samples = signal(seen.analysis, Signal.ERROR_RATE)
    return sum(s.verdict is Verdict.FAIL for s in samples) == 1


def test_a_daemon_restarted_mid_analysis_reaches_the_same_fail_from_aws_and_cloudwatch(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1")
    seen = story.until(one_failing_sample)
    _, message, samples = signal(seen.analysis, Signal.ERROR_RATE)
    assert "1 more failing sample fails the rollout" in message, message
    (bad,) = [s for s in samples if s.verdict is Verdict.FAIL]
    assert not failed(seen) and seen.refresh_status == "InProgress"

    # The first daemon is gone; the second knows nothing but the desired file.
    story.daemon = new_daemon(frozen, story.path)
    resumed = story.until(failed)

    verdict, _, samples = signal(resumed.analysis, Signal.ERROR_RATE)
    assert verdict is Verdict.FAIL
    again = next(s for s in samples if s.start == bad.start)
    assert (again.verdict, again.value, again.requests) == (bad.verdict, bad.value, bad.requests)
    # One more period was enough: the streak went on from the sample CloudWatch kept.
    assert resumed.at - seen.at <= 60 + 30
    assert story.daemon.reconciler.aws.writes()["RollbackInstanceRefresh"] == 1
    story.settle()
    assert story.refresh_statuses() == ["InProgress", "RollbackInProgress", "RollbackSuccessful"]


# ------------------------------------------------------------------------------------------------
# Bad thresholds: file:line:field, exit 1, nothing sent to AWS
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "field", "message", "allowed"),
    [
        (
            ["errorRate:", "  max: 1.5  # <-"],
            "spec.rollout.analysis.errorRate.max",
            "1.5 is out of range",
            "a rate from 0 to 1",
        ),
        (
            ["interval: 90  # <-"],
            "spec.rollout.analysis.interval",
            "90 is not a multiple of 60",
            "a multiple of 60 seconds",
        ),
        (
            ["latencyP99:", "  max: 0  # <-"],
            "spec.rollout.analysis.latencyP99.max",
            "0 is out of range",
            "a positive number of seconds",
        ),
        (
            ["requestRate:  # <-", "  max: 0.1"],
            "spec.rollout.analysis.requestRate",
            "unknown field 'requestRate'",
            "errorRate, latencyP99",
        ),
    ],
    ids=["rate-over-1", "interval-not-a-minute", "zero-duration", "unknown-metric"],
)
def test_bad_analysis_thresholds_are_refused_with_file_line_and_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    block: list[str],
    field: str,
    message: str,
    allowed: str,
) -> None:
    """``# <-`` marks the line the problem must point at."""
    path = sandbox_copy(tmp_path)
    lines = path.read_text().splitlines()
    at = lines.index("    autoRollback: true") + 1
    analysis = ["    analysis:", "      failureLimit: 3", *(f"      {line}" for line in block)]
    lines[at:at] = analysis
    path.write_text("\n".join(lines) + "\n")
    line = next(n for n, text in enumerate(lines, start=1) if text.endswith("# <-"))

    with FaultProxy("http://127.0.0.1:9", throttle=0, error=0, delay=0) as counter:
        code = main(["--endpoint-url", counter.endpoint, "validate", str(path.parent)])
        out, err = capsys.readouterr()
    assert counter.forwarded == Counter()  # nothing sent to AWS

    assert code == 1, out + err
    problems = [p for p in err.splitlines() if ": error: " in p]
    assert len(problems) == 1, err
    assert problems[0].startswith(f"{path}:{line}: error: {field}: {message} (allowed: "), err
    assert allowed in problems[0]
    assert "invalid: 1 error(s)" in err and "valid:" not in out


def test_good_analysis_thresholds_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sandbox_copy(tmp_path)
    text = path.read_text().replace(
        "    autoRollback: true\n",
        "    autoRollback: true\n    analysis:\n      interval: 120\n      errorRate:\n"
        "        max: 0.1\n      latencyP99:\n        max: 0.5\n",
    )
    path.write_text(text)
    assert main(["validate", str(path.parent)]) == 0
    assert "valid: 1 service(s): feedback" in capsys.readouterr().out
