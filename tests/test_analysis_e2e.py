"""The rollout analysis end to end (issue 12): a daemon follows a desired directory and rolls each
of the sandbox's images out, ticked every 30 sandbox seconds with the clock frozen in between.

The images (``reconciler.sandbox.behaviour``): v1.0 and v1.1 are healthy (0.1% 500s), v2.0 never
passes a health check, v2.1 passes it while 30% of its requests answer 500 (the seed's incident),
v1.2-slow has a p99 of 3 s. Traffic is Poisson at 10 requests/s through the ALB (aws-facts 6 for
the metrics CloudWatch then holds). Every assertion reads the daemon's own status, its HTTP
server, the ``reconciler`` command line, or AWS through boto3.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from reconciler.cli.main import main
from reconciler.daemon.server import StatusServer
from reconciler.model import TAG_FAILED_FINGERPRINT, TAG_FAILED_REASON, Signal, Verdict
from reconciler.sandbox import Sandbox
from tests.analysis_harness import SERVICE, Seen, Story, condition, signal
from tests.sandbox_calls import put_alarm

ROLLOUT_WRITES = frozenset(
    {"StartInstanceRefresh", "CreateLaunchTemplateVersion", "RollbackInstanceRefresh"}
)
# "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)", the issue's own example.
FIVE_XX = re.compile(
    r"5xx rate (?P<value>[\d.]+)% over 2 samples"
    r" \(baseline (?P<baseline>[\d.]+)%, limit (?P<limit>[\d.]+)%\)"
)


def failed(seen: Seen) -> bool:
    return seen.status.condition("Degraded").reason == "RolloutFailed"


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metric_samples(text: str) -> Metrics:
    """Prometheus text → {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def cli(story: Story, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``reconciler ARGS <desired dir>`` as a user runs it: nothing in memory but the file."""
    capsys.readouterr()
    endpoint = ["--endpoint-url", story.sandbox.endpoint]
    code = main([*endpoint, *args, str(story.path.parent)])
    return code, capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# v2.1: healthy by its health check, 30% 500s
# ------------------------------------------------------------------------------------------------


def test_v2_1_is_rolled_back_on_its_5xx_rate_and_every_surface_says_why(
    frozen: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1")
    server = StatusServer(daemon=story.daemon, metrics=story.daemon.metrics, port=0).start()
    try:
        with capture_logs() as logged:
            stopped = story.until(failed)
        status_doc: dict[str, Any] = json.loads(get(f"{server.url}/status"))
        metrics = metric_samples(get(f"{server.url}/metrics"))
        code, cli_text = cli(story, capsys, "status")
        story.settle()
        history_code, history_text = cli(story, capsys, "history", SERVICE, "--path")
        story.daemon.reconciler.aws.reset_counts()
        for _ in range(5):  # a failed revision is not retried
            story.tick(step=120)
        later = metric_samples(get(f"{server.url}/metrics"))
    finally:
        server.stop()

    caught_on_the_5xx_rate(stopped)
    # AWS rolled it back, and the group carries the reason: no retry on later ticks.
    assert story.refresh_statuses() == ["InProgress", "RollbackInProgress", "RollbackSuccessful"]
    assert len(story.refreshes()) == 1
    tags = story.tags()
    assert FIVE_XX.search(tags[TAG_FAILED_REASON]) is not None, tags
    assert TAG_FAILED_FINGERPRINT in tags
    assert dict(story.daemon.reconciler.aws.writes()).keys().isdisjoint(ROLLOUT_WRITES)
    assert all(failed(s) for s in story.seen[-5:])
    status_text_tells(code, cli_text)
    newest_rate = status_document_tells(status_doc)
    metrics_tell(metrics, later, newest_rate=newest_rate)
    # History and logs: the failed revision with its numbers.
    assert history_code == 0 and "RollbackSuccessful" in history_text, history_text
    assert re.search(r"version \d+: .*analysis failed: 5xx rate", history_text), history_text
    reconciles = [e for e in logged if e.get("event") == "reconcile" and "analysis" in e]
    assert reconciles[-1]["analysis"] == "Fail"
    assert FIVE_XX.search(reconciles[-1]["analysis_message"])


def caught_on_the_5xx_rate(stopped: Seen) -> None:
    """Caught by the 5xx rate, with the numbers, within 3 intervals of the first new instance
    taking traffic (the issue's target); AWS alone would never notice."""
    _, _, message = condition(stopped, "Degraded")
    numbers = FIVE_XX.search(message)
    assert numbers is not None, message
    value, baseline, limit = (float(numbers[k]) for k in ("value", "baseline", "limit"))
    assert baseline < 0.5 and limit == pytest.approx(min(5.0, baseline + 2.0), abs=0.05)
    assert limit < value <= 30.0  # one of two instances answers 30% 500s
    assert stopped.analysis is not None and stopped.analysis.traffic_start is not None
    # Two failing samples after the first whole one, seen on the next 30 s tick; one more sample
    # when the first counted one held too little v2.1 traffic to fail (the sandbox clock's
    # phase in the minute decides it: BENCHMARKS.md, "Rollout analysis", 150-210 s).
    assert stopped.at - stopped.analysis.traffic_start <= 4 * 60 + 30
    verdict, _, samples = signal(stopped.analysis, Signal.ERROR_RATE)
    assert verdict is Verdict.FAIL
    assert [s.verdict for s in samples][-2:] == [Verdict.FAIL, Verdict.FAIL]


def status_text_tells(code: int, text: str) -> None:
    """`reconciler status`: the verdict, the samples (value, limit, verdict), what comes next."""
    assert code == 0, text
    assert re.search(r"Degraded\s+True\s+RolloutFailed: .*analysis failed: 5xx rate", text), text
    assert "analysis:       Fail: 5xx rate" in text
    assert re.search(r"errorRate\s+Fail\s+5xx rate [\d.]+% over 2 samples", text), text
    assert re.search(r"\d\d:\d\d\s+[\d.]+%\s+limit\s+[\d.]+%\s+Fail\s+\d+ requests", text)
    assert re.search(r"next:\s+AWS is rolling back instance refresh", text), text


def status_document_tells(document: dict[str, Any]) -> float:
    """/status: the same analysis, as data; returns the newest 5xx-rate sample's value."""
    (service,) = document["services"]
    assert service["analysis"]["verdict"] == "Fail"
    rate = next(s for s in service["analysis"]["signals"] if s["signal"] == "errorRate")
    assert rate["verdict"] == "Fail" and FIVE_XX.search(rate["message"])
    assert rate["samples"][-1]["verdict"] == "Fail"
    assert rate["samples"][-1]["value"] > rate["samples"][-1]["threshold"]
    assert service["next_step"].startswith("AWS rolls back instance refresh")
    return float(rate["samples"][-1]["value"])


def metrics_tell(metrics: Metrics, later: Metrics, *, newest_rate: float) -> None:
    """/metrics: the verdict by signal, the newest sample, and the stop, counted once."""
    assert verdict_is(metrics, "rollout", "Fail") and verdict_is(metrics, "errorRate", "Fail")
    stops = ("reconciler_analysis_stops_total", (("name", "feedback"),))
    assert metrics[stops] == 1.0 and later[stops] == 1.0
    newest = ("reconciler_analysis_sample", (("name", "feedback"), ("signal", "errorRate")))
    assert metrics[newest] == pytest.approx(newest_rate)


def verdict_is(found: Metrics, which: str, state: str) -> bool:
    """Whether /metrics has reconciler_analysis_verdict{signal=which} in ``state``."""
    labels = (("name", "feedback"), ("signal", which), ("verdict", state))
    return found.get(("reconciler_analysis_verdict", labels)) == 1.0


# ------------------------------------------------------------------------------------------------
# v2.0 never healthy, v1.2-slow slow
# ------------------------------------------------------------------------------------------------


def started_at(story: Story) -> float:
    refresh = story.refresh()
    assert refresh is not None
    return float(refresh["StartTime"].timestamp())


def test_v2_0_is_failed_once_its_grace_period_is_over_not_after_awss_hour(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.0")
    stopped = story.until(failed)
    _, _, message = condition(stopped, "Degraded")
    assert "failed its health checks after the 300 s grace period" in message, message
    # Boot (60 s to InService), the grace period, two health-check intervals and one tick: the
    # issue's target; AWS alone would go on replacing it for an hour (aws-facts 1.5).
    assert stopped.at - started_at(story) <= 60 + 300 + 2 * 30 + 30
    assert story.seen[-2].refresh_status == "InProgress"  # AWS had not given up: we stopped it
    verdict, _, _ = signal(stopped.analysis, Signal.NEW_INSTANCES)
    assert verdict is Verdict.FAIL
    story.settle()
    assert story.refresh_statuses() == ["InProgress", "RollbackInProgress", "RollbackSuccessful"]


def test_without_the_analysis_v2_0_is_left_to_aws_for_its_hour(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.0", analysis={"enabled": False})
    story.tick()
    begun = started_at(story)
    last = story.until(lambda s: s.at - begun > 31 * 60, step=300)
    assert story.refresh_statuses() == ["InProgress"]
    assert not any(failed(s) for s in story.seen)
    assert all(s.analysis is None for s in story.seen)
    assert condition(last, "Progressing")[:2] == (True, "RefreshProgressing")


def test_v1_2_slow_is_failed_on_its_p99(frozen: Sandbox, tmp_path: Path) -> None:
    story = Story.begin(frozen, tmp_path, "v1.2-slow")
    stopped = story.until(failed)
    _, _, message = condition(stopped, "Degraded")
    found = re.search(
        r"p99 (?P<value>[\d.]+) s over 2 samples \(baseline (?P<baseline>[\d.]+) s,"
        r" limit (?P<limit>[\d.]+) s\)",
        message,
    )
    assert found is not None, message
    assert stopped.analysis is not None
    p99 = stopped.analysis.signal(Signal.LATENCY_P99)
    assert p99 is not None and p99.verdict is Verdict.FAIL and p99.baseline is not None
    assert p99.baseline == pytest.approx(0.25, abs=0.05)  # the healthy images' p99
    limit = min(2.0, 2 * p99.baseline)  # the defaults: max 2 s, maxRatio 2
    failing = [s for s in p99.samples if s.verdict is Verdict.FAIL]
    assert len(failing) >= 2 and all(s.threshold == pytest.approx(limit) for s in failing)
    assert all(s.value is not None and s.value > limit for s in failing)
    assert float(found["limit"]) == pytest.approx(limit, abs=0.01)
    assert signal(stopped.analysis, Signal.ERROR_RATE)[0] is not Verdict.FAIL
    story.settle()
    assert story.refresh_statuses()[-1] == "RollbackSuccessful"


# ------------------------------------------------------------------------------------------------
# Healthy releases: never failed; without traffic, never passed
# ------------------------------------------------------------------------------------------------


def ready(seen: Seen) -> bool:
    return seen.status.condition("Ready").status


@pytest.mark.parametrize("rate", [10.0, 0.0], ids=["noisy-traffic", "no-traffic"])
def test_a_healthy_release_is_never_failed_and_ends_ready(
    frozen: Sandbox, tmp_path: Path, rate: float
) -> None:
    frozen.traffic.rate = rate
    frozen.traffic.seed = 2026
    # Noisier than the baseline (5x its 500s), still well inside the limits.
    frozen.behaviours.set("v1.0", error_rate=0.005, p99=0.3)
    # Without traffic a checkpoint never opens (tests/test_checkpoint_gate_e2e.py): here the
    # refresh has none, so AWS's health checks alone decide.
    ungated: dict[str, Any] = (
        {} if rate else {"checkpointPercentages": None, "checkpointDelay": None}
    )
    story = Story.begin(frozen, tmp_path, "v1.1", **ungated)
    story.until(ready, step=120)
    story.seen.clear()
    story.deploy("v1.0", **ungated)
    story.tick()
    end = story.until(ready)

    # With traffic the 50% checkpoint opens on a pass: the held refresh is cancelled and a
    # SkipMatching one finishes the rollout.
    expected = ["InProgress", "Cancelled", "InProgress", "Successful"]
    assert story.refresh_statuses() == (expected if rate else ["InProgress", "Successful"])
    assert not any(failed(s) for s in story.seen)
    verdicts = story.verdicts()
    assert Verdict.FAIL not in verdicts
    if rate:
        assert Verdict.PASS in verdicts
        return
    # No request at all: nothing to judge, so never a pass; AWS's health checks decide.
    assert Verdict.PASS not in verdicts and Verdict.INCONCLUSIVE in verdicts
    running = [s for s in story.seen if s.refresh_status == "InProgress"]
    assert any("analysis inconclusive: " in condition(s, "Progressing")[2] for s in running)
    rate_verdict, rate_message, samples = signal(story.seen[-2].analysis, Signal.ERROR_RATE)
    assert (
        rate_verdict is Verdict.INCONCLUSIVE and "samples had at least 50 requests" in rate_message
    )
    assert samples and all(
        s.verdict is Verdict.INCONCLUSIVE and s.note == "no data" for s in samples
    )
    assert ready(end)


def test_a_bad_sample_followed_by_good_ones_is_forgiven(frozen: Sandbox, tmp_path: Path) -> None:
    """v2.1's 500s stop after its first failing sample (a blip): a passing sample resets the
    streak (failureLimit 3 leaves room for the period the fix lands in), so the rollout goes on
    to the end and is never failed."""
    story = Story.begin(frozen, tmp_path, "v2.1", analysis={"failureLimit": 3})

    def one_bad(seen: Seen) -> bool:
        rate = seen.analysis.signal(Signal.ERROR_RATE) if seen.analysis else None
        return rate is not None and any(s.verdict is Verdict.FAIL for s in rate.samples)

    story.until(one_bad)
    frozen.behaviours.set("v2.1", error_rate=0.001)
    story.until(ready)

    # The 50% checkpoint opened once the analysis passed again: a SkipMatching refresh ended it.
    assert story.refresh_statuses() == ["InProgress", "Cancelled", "InProgress", "Successful"]
    assert not any(failed(s) for s in story.seen) and Verdict.FAIL not in story.verdicts()
    last = next(s.analysis for s in reversed(story.seen) if s.analysis is not None)
    verdict, _, samples = signal(last, Signal.ERROR_RATE)
    assert verdict is Verdict.PASS
    verdicts = [s.verdict for s in samples]
    first_bad = verdicts.index(Verdict.FAIL)
    assert Verdict.PASS in verdicts[first_bad:]  # the streak was broken, not forgotten


# ------------------------------------------------------------------------------------------------
# Without autoRollback; a checkpoint as a gate; an alarm
# ------------------------------------------------------------------------------------------------


def test_without_auto_rollback_the_refresh_is_cancelled_and_marked_failed(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1", autoRollback=False)
    stopped = story.until(failed)
    _, _, message = condition(stopped, "Degraded")
    assert "analysis failed: 5xx rate" in message and "autoRollback is off" in message, message
    story.settle()
    statuses = story.refresh_statuses()
    assert statuses[-1] == "Cancelled" and "RollbackInProgress" not in statuses, statuses
    assert FIVE_XX.search(story.tags()[TAG_FAILED_REASON])
    writes = story.daemon.reconciler.aws.writes()
    assert writes["CancelInstanceRefresh"] == 1 and writes["RollbackInstanceRefresh"] == 0
    # Nothing is rolled back: the replaced instance keeps the new version, the group launches
    # the previous one.
    group = story.group()
    refresh = story.refresh()
    assert refresh is not None
    new = refresh["DesiredConfiguration"]["LaunchTemplate"]["Version"]
    assert [i["LaunchTemplate"]["Version"] for i in group["Instances"]].count(new) == 1
    assert group["LaunchTemplate"]["Version"] != new


def test_a_checkpoint_pause_is_a_gate_the_bad_batch_never_gets_past(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(
        frozen, tmp_path, "v2.1", instanceWarmup=60, checkpointPercentages=[50, 100],
        checkpointDelay=900,
    )  # fmt: skip
    stopped = story.until(failed)
    before = story.seen[-2].refresh
    assert before is not None and before["Status"] == "InProgress"
    assert before["PercentageComplete"] == 50  # paused at the first checkpoint
    story.settle()
    refresh = story.refresh()
    assert refresh is not None and refresh["Status"] == "RollbackSuccessful"
    details = refresh["RollbackDetails"]
    assert details["PercentageCompleteOnRollback"] == 50
    assert details["InstancesToUpdateOnRollback"] == 1  # the second batch never started
    assert FIVE_XX.search(condition(stopped, "Degraded")[2])


def test_a_named_alarm_stops_the_rollout_with_the_metric_signals_off(
    frozen: Sandbox, tmp_path: Path
) -> None:
    """A real metric alarm on the target group's 5xx count (more than 10 a minute) and nothing
    else judging the metrics. The sandbox's Auto Scaling evaluates the AlarmSpecification the
    moment the alarm changes state (AWS gives no delay to model, aws-facts 1.9), so the stop
    here is AWS's own rollback, seen by the reconciler in the same pass in which its own every-
    tick read of the alarm fails the analysis: both name the alarm, and the revision is failed."""
    metrics_off = {"errorRate": {"enabled": False}, "latencyP99": {"enabled": False}}
    story = Story.begin(
        frozen, tmp_path, "v2.1", alarms=["feedback-5xx"], bakeTime=300, analysis=metrics_off
    )
    put_alarm(story.watcher, "feedback-5xx")
    stopped = story.until(failed)
    story.settle()

    judged = [signal(s.analysis, Signal.ALARMS)[0] for s in story.seen[:-1] if s.analysis]
    assert Verdict.PASS in judged  # OK while v2.1 had no traffic yet: read, not assumed
    assert stopped.analysis is not None
    assert {r.signal for r in stopped.analysis.signals} == {Signal.NEW_INSTANCES, Signal.ALARMS}
    assert signal(stopped.analysis, Signal.ALARMS)[:2] == (
        Verdict.FAIL,
        "alarm feedback-5xx is in ALARM",
    )
    assert story.refresh_statuses() == ["InProgress", "RollbackInProgress", "RollbackSuccessful"]
    tags = story.tags()
    assert tags[TAG_FAILED_REASON] == "analysis failed: alarm feedback-5xx is in ALARM"
    assert TAG_FAILED_FINGERPRINT in tags
    assert "feedback-5xx" in condition(stopped, "Degraded")[2]
