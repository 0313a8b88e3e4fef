"""Notifications end to end: a real daemon rolls releases out on the sandbox (rolling and
blue/green) and real receivers on 127.0.0.1 hear each transition once: started, the checkpoint
or traffic steps, succeeded; failed and rolled back for a bad release (with the analysis's
reason); a stall; a refused commit. A second sink that hangs slows neither the ticks nor the
first sink."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.aws import Aws
from reconciler.cli.main import main
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify.delivery import Policy
from reconciler.daemon.notify.notifier import Notifier
from reconciler.daemon.notify.sinks import Sink, verify
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import GROUP
from tests import bluegreen_harness as bluegreen
from tests.analysis_harness import Seen, Story
from tests.notify_receiver import Answer, Receiver, receiver, wait_until
from tests.test_loop import FakeClock, converge, deploy, desired_repo, git_source, make_daemon

SECRET = b"e2e-notify-secret"
POLICY = Policy(timeout=0.5, base=0.05, cap=0.2, give_up_after=5.0)
HANG = Answer(delay=60.0)
FIVE_XX = re.compile(r"5xx rate [\d.]+% over \d+ samples \(baseline [\d.]+%, limit [\d.]+%\)")


@contextmanager
def notified(daemon: Daemon, *sinks: Sink) -> Iterator[Notifier]:
    notifier = Notifier(sinks, metrics=daemon.metrics, policy=POLICY)
    notifier.attach(daemon.listeners)
    try:
        yield notifier
    finally:
        notifier.stop(flush=2.0)


def ready(seen: Seen) -> bool:
    return seen.status.condition("Ready").status


def rolled_back(seen: Seen) -> bool:
    return seen.status.condition("Degraded").reason == "RolloutFailed"


def delivered(metrics: Metrics, sink: str) -> dict[str, float]:
    text = metrics.render()[0].decode()
    return {
        s.labels["event"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "reconciler_notifications_total"
        and s.labels["sink"] == sink
        and s.labels["result"] == "delivered"
        and s.value
    }


def settle_deliveries(at: Receiver, count: int) -> None:
    wait_until(lambda: len(at.deliveries()) >= count, timeout=15, what=f"{count} deliveries")
    time.sleep(0.3)  # anything extra would arrive now


def test_a_good_release_tells_started_checkpoint_succeeded_then_drift_and_a_bad_commit_once(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v1.1")
    with receiver() as hook, receiver(*[HANG] * 200) as stuck:
        webhook = Sink("webhook", "webhook", hook.url, SECRET)
        hanging = Sink("webhook", "webhook-2", stuck.url, SECRET)
        with notified(story.daemon, webhook, hanging):
            ticks: list[float] = []
            for _ in range(200):
                began = time.monotonic()
                seen = story.tick()
                ticks.append(time.monotonic() - began)
                if ready(seen):
                    break
            for _ in range(10):  # in sync: nothing more to tell, however many ticks
                story.tick()
            settle_deliveries(hook, 3)
            assert hook.events() == ["rollout_started", "step_reached", "rollout_succeeded"]
            started, step, succeeded = (r.json() for r in hook.deliveries())
            assert started["service"] == "feedback" and started["severity"] == "info"
            assert step["details"]["step"] == "checkpoint 50%"
            assert succeeded["severity"] == "success"
            assert started["revision"] == succeeded["revision"] is not None
            for request in hook.deliveries():
                header = request.headers["X-Reconciler-Signature"]
                assert verify(SECRET, request.body, header, now=time.time())

            # Someone edits the group by hand: the next tick puts it back, and says so.
            story.watcher.call(
                "autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=6
            )
            for _ in range(3):
                story.tick()
            settle_deliveries(hook, 4)
            drift = hook.deliveries()[3].json()
            assert drift["event"] == "drift_corrected" and drift["severity"] == "warning"
            assert drift["text"] == "auto_scaling_group feedback-asg maxSize: 6 → 4", drift

            story.path.write_text(story.path.read_text().replace("minSize: 2", "minSize: x"))
            for _ in range(3):
                assert story.daemon.tick().ok is False
            settle_deliveries(hook, 5)
            refused = hook.deliveries()[4].json()
            assert hook.events()[3:] == ["drift_corrected", "commit_refused"]
            assert refused["service"] is None and "minSize" in refused["text"]
            assert stuck.requests(), "the hanging receiver was asked"
            assert delivered(story.daemon.metrics, "webhook") == {
                "rollout_started": 1.0,
                "step_reached": 1.0,
                "rollout_succeeded": 1.0,
                "drift_corrected": 1.0,
                "commit_refused": 1.0,
            }
            assert delivered(story.daemon.metrics, "webhook-2") == {}
    # The hanging receiver held its own thread only: no tick waited on it.
    assert max(ticks) < 5.0, max(ticks)


def test_a_bad_release_tells_failed_with_the_analysis_reason_and_rolled_back(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1")
    with receiver() as hook, receiver() as slack:
        sinks = Sink("webhook", "webhook", hook.url, SECRET), Sink("slack", "slack", slack.url)
        with notified(story.daemon, *sinks):
            story.until(rolled_back)
            story.settle()
            for _ in range(5):  # a failed revision is not retried, nor told again
                story.tick(step=120)
            settle_deliveries(hook, 3)
            settle_deliveries(slack, 3)
    kinds = hook.events()
    assert kinds[0] == "rollout_started" and kinds[-2:] == ["rollout_failed", "rolled_back"]
    assert set(kinds[1:-2]) <= {"step_reached"} and len(kinds) == len(set(kinds))
    failed = hook.deliveries()[-2].json()
    assert failed["severity"] == "error"
    assert FIVE_XX.fullmatch(failed["text"]), failed  # the analysis's own words
    texts = [r.json()["text"] for r in slack.requests()]
    assert texts[-2:] == [
        f"feedback: rollout of {failed['revision'][:12]} failed",
        hook.deliveries()[-1].json()["title"],
    ]
    colours = [r.json()["attachments"][0]["color"] for r in slack.requests()]
    assert colours[-2:] == ["#e01e5a", "#ecb22e"]
    assert all(r.headers["Content-Type"] == "application/json" for r in slack.requests())


def test_reconciler_run_once_notifies_before_it_exits(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--notify`` through the command line: the one tick starts a rollout, and the stop
    delivers its notification before the process would exit."""
    repo = desired_repo(tmp_path / "git", tag="v1.1")
    secret = tmp_path / "secret"
    secret.write_text(SECRET.decode() + "\n")
    with receiver() as hook:
        code = main(
            [
                *("--endpoint-url", sandbox.endpoint),
                *("run", "--once", "--listen", "off", "--repo", repo.url, "--path", "desired"),
                *("--cache-dir", str(tmp_path / "cache")),
                *("--notify", f"webhook:{hook.url}", "--notify-secret-file", str(secret)),
            ]
        )
        requests = hook.deliveries()
    assert code == 0
    assert [r.json()["event"] for r in requests] == ["rollout_started"]
    assert verify(
        SECRET, requests[0].body, requests[0].headers["X-Reconciler-Signature"], now=time.time()
    )
    logged = capsys.readouterr()
    assert hook.url not in logged.out + logged.err  # only the host is ever logged


def test_a_blue_green_deploy_tells_each_traffic_step(frozen: Sandbox, tmp_path: Path) -> None:
    story = bluegreen.Story.begin(frozen, tmp_path)
    with receiver() as hook:
        with notified(story.daemon, Sink("webhook", "webhook", hook.url, SECRET)):
            story.until(lambda s: s.ready() and s.weights == (0, 100))
            for _ in range(5):
                story.tick()
            settle_deliveries(hook, 3)
        payloads = [r.json() for r in hook.deliveries()]
    assert [(p["event"], p["details"].get("step")) for p in payloads] == [
        ("rollout_started", None),
        ("step_reached", "traffic step 1 of 3 (10%)"),
        ("step_reached", "traffic step 2 of 3 (50%)"),
        ("step_reached", "traffic step 3 of 3 (100%)"),
        ("rollout_succeeded", None),
    ]
    assert len({p["id"] for p in payloads}) == 5


def test_an_unresolvable_image_is_told_once_per_commit(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    """A commit whose image tag does not exist is refused (the last good revision goes on):
    told once however many ticks refuse it, and again for the next such commit."""
    clock = FakeClock()  # the daemon's: each tick finds the service due
    repo = desired_repo(tmp_path / "git", tag="v9.9")  # no such tag in the registry
    first = repo.head()[:12]
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"), clock=clock)
    with receiver() as hook, notified(daemon, Sink("slack", "slack", hook.url)):
        for _ in range(4):
            daemon.tick()
            clock.now += 600
        settle_deliveries(hook, 1)
        assert len(hook.deliveries()) == 1
        message = hook.deliveries()[0].json()
        assert message["text"] == f"commit {first} refused (UnresolvableImage)"
        assert "v9.9" in json.dumps(message["attachments"])
        assert message["attachments"][0]["color"] == "#e01e5a"
        fixed = deploy(repo, "v1.1")[:12]
        converge(daemon, clock=sandbox.clock)
        again = deploy(repo, "v9.9")[:12]
        daemon.tick()
        settle_deliveries(hook, 5)
    assert [r.json()["text"] for r in hook.deliveries()] == [
        f"commit {first} refused (UnresolvableImage)",
        f"feedback: rollout of {fixed} started",
        f"feedback: rollout of {fixed} reached checkpoint 50%",
        f"feedback: rollout of {fixed} succeeded",
        f"commit {again} refused (UnresolvableImage)",  # a new commit: news again
    ]
