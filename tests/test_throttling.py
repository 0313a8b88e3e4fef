"""Throttling injected through the fault proxy: AWS's "slow down" past botocore's retries is a
temporary, counted, visible condition of the service (Degraded, reason Throttled), never a
crash and never a failed revision; the next pass does the write."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from reconciler.aws import Aws
from reconciler.daemon.source import LocalSource
from reconciler.model.markers import TAG_FAILED_FINGERPRINT
from reconciler.sandbox import Sandbox
from tests.faults import FaultProxy
from tests.test_loop import ROOT, FakeClock, desired_yaml, make_daemon


class ThrottleFirst(FaultProxy):
    """Throttles the first ``count`` requests of each of ``operations``; nothing else."""

    def __init__(self, upstream: str, *, operations: dict[str, int]) -> None:
        super().__init__(upstream, throttle=0.0, error=0.0, delay=0.0)
        self.remaining = Counter(operations)

    def choose(self, service: str, operation: str) -> str | None:
        with self._lock:
            if self.remaining[operation] > 0:
                self.remaining[operation] -= 1
                return "throttle"
        return None


def _group_tags(aws: Aws) -> dict[str, str]:
    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"][0]
    return {t["Key"]: t["Value"] for t in group.get("Tags", [])}


def test_a_write_throttled_past_the_retries_is_retried_next_pass_never_failed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    directory = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", directory)
    (directory / "desired.yaml").write_text(desired_yaml(tag="v1.0"))
    # One retry after the first attempt: both throttled, so the call fails as throttled.
    with ThrottleFirst(sandbox.endpoint, operations={"StartInstanceRefresh": 2}) as proxy:
        aws = Aws(region="us-east-1", endpoint_url=proxy.endpoint, max_attempts=1)
        clock = FakeClock()
        daemon = make_daemon(aws, LocalSource(paths=[directory]), clock=clock)

        first = daemon.tick()

        assert proxy.injected["throttle:StartInstanceRefresh"] == 2
        status = daemon.statuses()["feedback"]
        degraded = status.condition("Degraded")
        assert (degraded.status, degraded.reason) == (True, "Throttled")
        assert "StartInstanceRefresh" in degraded.message and "(retrying)" in degraded.message
        assert not status.condition("Stalled").status
        metrics = daemon.metrics.render()[0].decode()
        assert (
            'reconciler_aws_throttled_total{account="default",family="autoscaling",'
            'region="us-east-1"} 1.0' in metrics
        )
        assert 'outcome="failed"} 1.0' not in metrics
        assert TAG_FAILED_FINGERPRINT not in _group_tags(aws)  # no failed revision recorded
        assert not first.ok

        clock.now += first.next_delay
        assert daemon.tick().applied > 0  # the pass after the backoff starts the refresh
        refreshes = aws.call(
            "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
        )["InstanceRefreshes"]
        assert len(refreshes) == 1

        clock.now += 30
        daemon.tick()
        progressing = daemon.statuses()["feedback"].condition("Progressing")
        assert (progressing.status, progressing.reason) == (True, "RefreshProgressing")
        assert not daemon.statuses()["feedback"].condition("Degraded").status


def test_throttled_reads_are_counted_by_account_region_and_family(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    directory = tmp_path / "desired"
    shutil.copytree(ROOT / "desired", directory)
    (directory / "desired.yaml").write_text(desired_yaml(tag="v1.1"))
    with ThrottleFirst(sandbox.endpoint, operations={"DescribeTargetGroups": 2}) as proxy:
        aws = Aws(region="us-east-1", endpoint_url=proxy.endpoint, max_attempts=1)
        daemon = make_daemon(aws, LocalSource(paths=[directory]), clock=FakeClock())
        result = daemon.tick()  # must not raise: throttling is never a crash
    assert not result.ok
    status = daemon.statuses()["feedback"]
    assert status.condition("Degraded").reason == "Throttled"
    metrics = daemon.metrics.render()[0].decode()
    assert 'family="elbv2",region="us-east-1"} 1.0' in metrics
