"""The checkpoint as a gate, end to end (issue 12): a daemon follows a desired directory whose
rollout has checkpoints [50, 100] and a checkpoint delay, against the sandbox on a frozen clock.

AWS holds the refresh at 50% (CheckpointDelay sent at its 172800 s maximum); the reconciler lets
it go past only when the analysis of the instances so far passes and the declared delay has run,
by cancelling it and starting a SkipMatching refresh for the rest. Without data (no traffic, or
CloudWatch throttled) it holds, past the delay, and the rollout never completes; with healthy
traffic it completes; v2.1 is rolled back from the checkpoint; a restarted daemon decides the
same; and a continuation that fails later puts the previous version back on every instance.
Every reading is the daemon's status or AWS through boto3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.desired.loader import load
from reconciler.model import TAG_CHECKPOINT, Signal, Verdict
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY, parse_passed
from reconciler.pipeline.follow import Follower
from reconciler.pipeline.follow import Verdict as FollowVerdict
from reconciler.sandbox import Sandbox
from tests.analysis_harness import TICK, Seen, Story, condition, new_daemon
from tests.cloudwatch_faults import CloudWatchFaults

DELAY = 600  # checkpointDelay: the least the reconciler holds at a checkpoint
HOLD_FOR = 2 * 3600.0  # well past the delay, and past AWS's default hour


@pytest.fixture
def faults(frozen: Sandbox) -> Iterator[CloudWatchFaults]:
    with CloudWatchFaults(frozen.endpoint) as proxy:
        yield proxy


def begin(sandbox: Sandbox, tmp_path: Path, tag: str, **kwargs: Any) -> Story:
    return Story.begin(sandbox, tmp_path, tag, checkpointDelay=DELAY, **kwargs)


def at_checkpoint(seen: Seen) -> bool:
    return seen.refresh is not None and seen.refresh["PercentageComplete"] >= 50


def ready(seen: Seen) -> bool:
    return seen.status.condition("Ready").status


def failed(seen: Seen) -> bool:
    return seen.status.condition("Degraded").reason == "RolloutFailed"


def versions(story: Story) -> list[str]:
    return sorted(str(i["LaunchTemplate"]["Version"]) for i in story.group()["Instances"])


def assert_holds(story: Story, *, why: str) -> None:
    """Ticks for ``HOLD_FOR`` sandbox seconds: the refresh stays held at 50%, says so, and the
    reconciler never cancels or completes it."""
    held = story.refresh()
    assert held is not None and held["Preferences"]["CheckpointDelay"] == HOLD_DELAY
    story.seen.clear()
    until = story.now() + HOLD_FOR
    while story.now() < until:
        story.tick(step=300)
    assert story.refresh_statuses() == ["InProgress"]
    assert {s.refresh["PercentageComplete"] for s in story.seen if s.refresh} == {50}
    assert story.refreshes()[0]["InstanceRefreshId"] == held["InstanceRefreshId"]
    assert not any(ready(s) for s in story.seen)
    assert all(s.analysis and s.analysis.verdict is not Verdict.PASS for s in story.seen)
    last = story.seen[-1]
    message = condition(last, "Progressing")[2]
    assert "holding at checkpoint 50%: analysis " in message and why in message, message
    assert last.status.next_step.startswith("holding at checkpoint 50% until the analysis passes")
    assert story.daemon.reconciler.aws.writes()["CancelInstanceRefresh"] == 0
    assert TAG_CHECKPOINT not in story.tags()


def test_without_traffic_the_rollout_holds_at_the_checkpoint_and_never_completes(
    frozen: Sandbox, tmp_path: Path
) -> None:
    frozen.traffic.rate = 0
    story = begin(frozen, tmp_path, "v1.1")
    story.until(at_checkpoint)
    assert_holds(story, why="inconclusive")
    assert versions(story) == sorted(["1", "2"])  # half replaced, half not: nothing moved on


def test_cloudwatch_throttled_holds_and_the_rollout_goes_on_once_it_answers(
    frozen: Sandbox, faults: CloudWatchFaults, tmp_path: Path
) -> None:
    aws = Aws(region="us-east-1", endpoint_url=faults.endpoint, max_attempts=0)
    story = begin(frozen, tmp_path, "v1.1", aws=aws)
    faults.fault = "throttle"
    story.until(at_checkpoint)
    assert_holds(story, why="Throttling")
    faults.fault = None
    end = story.until(ready)
    assert story.refresh_statuses()[-1] == "Successful" and ready(end)
    assert len(set(versions(story))) == 1


def test_with_healthy_traffic_the_checkpoint_opens_after_the_delay_and_the_rollout_completes(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = begin(frozen, tmp_path, "v1.1")
    story.until(ready, step=120)
    story.seen.clear()
    story.deploy("v1.0", checkpointDelay=DELAY)
    story.tick()
    end = story.until(ready)

    assert story.refresh_statuses() == ["InProgress", "Cancelled", "InProgress", "Successful"]
    assert not any(failed(s) for s in story.seen)
    second, first = story.refreshes()[:2]
    assert first["Status"] == "Cancelled" and first["PercentageComplete"] == 50
    assert first["Preferences"]["CheckpointDelay"] == HOLD_DELAY
    prefs = second["Preferences"]
    assert prefs["SkipMatching"] is True and "CheckpointPercentages" not in prefs
    assert second["DesiredConfiguration"] == first["DesiredConfiguration"]
    # The continuation replaced only what the first left: one instance each.
    assert first["InstancesToUpdate"] == 1 and second["PercentageComplete"] == 100
    # Our cancel is marked, naming the refresh, the checkpoint and the chain's origin.
    marker = parse_passed(story.tags()[TAG_CHECKPOINT])
    assert marker is not None
    assert (marker.refresh_id, marker.checkpoint) == (first["InstanceRefreshId"], 50)
    assert marker.origin_id == first["InstanceRefreshId"]
    # Held at least the declared delay once the checkpoint was seen reached.
    reached = next(s.at for s in story.seen if at_checkpoint(s))
    cancelled = next(s.at for s in story.seen if s.refresh_status == "Cancelled")
    assert cancelled - reached >= DELAY - TICK
    # One rollout: the window did not restart with the continuation (samples kept growing,
    # and new-instance health counts both refreshes' instances).
    results = [s.analysis for s in story.seen if s.analysis is not None]
    counts = [len(rate.samples) for r in results if (rate := r.signal(Signal.ERROR_RATE))]
    assert counts == sorted(counts) and len(counts) == len(results)
    # While the continuation runs, the first refresh's instance is still a new one, judged
    # healthy: a window restarted at the continuation would have none past its grace period.
    going_on = [
        s.analysis
        for s in story.seen
        if s.refresh
        and s.refresh["InstanceRefreshId"] == second["InstanceRefreshId"]
        and s.refresh_status == "InProgress"
        and s.analysis is not None  # not the pass that started it, before it existed
    ]
    assert going_on and all(
        a and (n := a.signal(Signal.NEW_INSTANCES)) and n.verdict is Verdict.PASS for a in going_on
    )
    assert ready(end) and len(set(versions(story))) == 1


def test_v2_1_is_rolled_back_from_the_checkpoint_it_never_passes(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = begin(frozen, tmp_path, "v2.1", instanceWarmup=60)
    story.until(failed)
    story.settle()
    statuses = story.refresh_statuses()
    assert "Cancelled" not in statuses and statuses[-1] == "RollbackSuccessful", statuses
    refresh = story.refresh()
    assert refresh is not None
    assert refresh["RollbackDetails"]["PercentageCompleteOnRollback"] == 50
    assert len(story.refreshes()) == 1  # never went past the checkpoint
    writes = story.daemon.reconciler.aws.writes()
    assert writes["CancelInstanceRefresh"] == 0 and writes["RollbackInstanceRefresh"] == 1
    assert versions(story) == ["1", "1"]


def test_a_restarted_daemon_reaches_the_same_decision_at_the_checkpoint(
    frozen: Sandbox, tmp_path: Path
) -> None:
    frozen.traffic.rate = 0
    story = begin(frozen, tmp_path, "v1.1")
    story.until(at_checkpoint)
    story.tick(step=DELAY + 60)
    # A new daemon, nothing in memory: it still holds, for the same reason.
    story.daemon = new_daemon(frozen, story.path)
    for _ in range(3):
        seen = story.tick(step=300)
        assert seen.refresh is not None and seen.refresh["Status"] == "InProgress"
        assert (
            "holding at checkpoint 50%: analysis inconclusive" in condition(seen, "Progressing")[2]
        )
    # Traffic comes: the first daemon cancels at the checkpoint; then it is gone too.
    frozen.traffic.rate = 10.0
    story.until(lambda s: s.refresh_status == "Cancelled")
    held = story.refresh()
    assert held is not None
    story.daemon = new_daemon(frozen, story.path)
    story.tick()
    refreshes = story.refreshes()
    assert refreshes[1]["InstanceRefreshId"] == held["InstanceRefreshId"]
    assert refreshes[0]["Preferences"]["SkipMatching"] is True  # the same rollout, going on
    after = story.tick()
    assert after.analysis is not None and after.analysis.traffic_start is not None
    # The window starts at the first refresh: its instance is still a new one.
    assert after.analysis.traffic_start < refreshes[0]["StartTime"].timestamp()
    end = story.until(ready)
    assert ready(end) and story.refresh_statuses()[-1] == "Successful"


def test_a_continuation_that_fails_later_puts_the_previous_version_back_everywhere(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = begin(frozen, tmp_path, "v1.1")
    story.until(ready, step=120)
    before = versions(story)
    frozen.behaviours.set("v2.1", error_rate=0.001)  # healthy at the checkpoint
    story.deploy("v2.1", checkpointDelay=DELAY)
    story.until(lambda s: s.refresh_status == "Cancelled")
    story.until(lambda s: s.refresh_status == "InProgress")
    frozen.behaviours.set("v2.1", error_rate=0.3)  # then the seed's incident
    story.until(failed)
    story.until(lambda s: ready(s) or s.refresh_status == "Successful", step=120)
    story.settle()
    # The continuation was rolled back; its rollback restored only what it replaced, so one
    # more SkipMatching refresh put the group's version back on the first refresh's instance.
    statuses = [r["Status"] for r in story.refreshes()[:3]]
    assert statuses == ["Successful", "RollbackSuccessful", "Cancelled"], statuses
    restore = story.refreshes()[0]
    assert restore["Preferences"]["SkipMatching"] is True
    assert restore["Preferences"]["AutoRollback"] is False
    assert versions(story) == before
    assert failed(story.seen[-1])


def test_apply_wait_ends_a_failed_chain_only_once_its_restore_has(
    frozen: Sandbox, tmp_path: Path
) -> None:
    """``apply --wait`` follows the same chain failure: AWS's rollback ends first, and the
    restore refresh after it is still part of that failure's ending."""
    story = begin(frozen, tmp_path, "v1.1")
    story.until(ready, step=120)
    before = versions(story)
    frozen.behaviours.set("v2.1", error_rate=0.001)
    story.deploy("v2.1", checkpointDelay=DELAY)
    story.until(lambda s: s.refresh_status == "Cancelled")
    story.until(lambda s: s.refresh_status == "InProgress")
    frozen.behaviours.set("v2.1", error_rate=0.3)
    story.until(failed)

    def sleep(seconds: float) -> None:
        frozen.clock.advance(seconds)

    follower = Follower(
        reconciler=story.daemon.reconciler,
        specs=load([story.path]).services,
        timeout=7200,
        interval=120,
        clock=story.now,
        sleep=sleep,
        approve=lambda _outcomes: True,  # apply --yes --wait: it was shown the rollout first
    )
    followed = follower.run()
    assert followed.verdict is FollowVerdict.FAILED
    statuses = [r["Status"] for r in story.refreshes()[:3]]
    assert statuses == ["Successful", "RollbackSuccessful", "Cancelled"], statuses
    assert versions(story) == before
