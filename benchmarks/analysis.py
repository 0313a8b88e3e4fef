"""Bad releases against the rollout analysis: detection, recovery and blast radius (issue 12).

    python benchmarks/analysis.py [--write] [--rollouts 20]

The seed's settings (``desired/desired.yaml`` as ``reconciler demo`` uses it: 2 instances,
min 50 / max 100, warmup 300, checkpoints [50, 100] with delay 60, grace 300, health checks
every 30 s with thresholds 2) against a freshly seeded in-process sandbox with its clock frozen
and moved by hand, 30 s per daemon tick (``reconciler.cli.demo``'s repository, daemon and
``Incident``). Traffic runs at the sandbox's default rate all along. Each scenario deploys v1.1,
lets 30 sandbox minutes of traffic make the baseline, then commits a bad release:

- ``v2.0``: never healthy; ``v2.1``: healthy, 30% of requests answer 500 (the seed's incident);
  ``v1.2-slow``: healthy, p99 about 3 s;
- with the analysis on (the default) and with ``rollout.analysis.enabled: false`` ("AWS alone":
  health checks and AutoRollback only). A release AWS never stops is left serving for
  ``UNDETECTED_WATCH`` sandbox seconds and its requests over that time are reported.

Per scenario: sandbox minutes from the commit to detection (the first tick the service is
Degraded/RolloutFailed), to "only the good version runs" (no Pending/InService instance of the
bad launch template version), to the group back on v1.1 (the refresh ended and desired capacity
InService on the good version), and the requests the bad image answered
(``Sandbox.traffic.served``). The targets of issue 12 are measured from AWS's own records:
InService is the launch activity's EndTime (DescribeScalingActivities), traffic start is
``reconciler.pipeline.analysis.traffic_start`` over it. Every commit lands at a chosen second
of a minute (``PHASES``): the main runs at :00, and v2.1 with the analysis on is repeated at
every 5 s, since where traffic start falls against the aligned 60 s samples moves its
detection by up to a sample. Then ``--rollouts`` healthy rollouts (v1.0 and v1.1 alternately,
a new traffic seed each, each a real instance refresh) count false verdicts. A full run takes
about 5 minutes.

The seed's manual process is derived, not run: see ``benchmarks.analysis_report.manual``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fleet
from benchmarks.analysis_report import markdown
from reconciler.aws import Aws
from reconciler.cli.demo import (
    BASELINE_SECONDS,
    TICK_SECONDS,
    example_dir,
    make_daemon,
    settled,
)
from reconciler.cli.demo_repo import init_repo, set_tag
from reconciler.cli.incident import Incident
from reconciler.daemon.daemon import Daemon
from reconciler.model import AnalysisInputs, InstanceHistory, Signal, Verdict
from reconciler.pipeline.analysis import traffic_start
from reconciler.pipeline.follow import Verdict as Outcome
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox

GROUP = "feedback-asg"
TARGET_GROUP = "feedback-tg"
GOOD = "v1.1"
UNDETECTED_WATCH = 2 * 3600  # how long a release nothing stops is left serving
MAX_SECONDS = 3 * 3600  # give up on a scenario after three sandbox hours
ANALYSIS_INTERVAL = 60  # the spec's default analysis interval (seconds per sample)
ANALYSIS_OFF = "    autoRollback: true\n    analysis:\n      enabled: false\n"
MODES = ("analysis", "aws")  # labels in benchmarks.analysis_report.LABELS
IMAGES = ("v2.0", "v2.1", "v1.2-slow")
# Seconds into a minute the v2.1 commit lands at: the first is the main run's, the others
# repeat v2.1 with the analysis on, since its detection depends on that phase.
PHASES = tuple(float(second) for second in range(0, 60, 5))
_SERVING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})


@dataclass
class Watch:
    """One bad release, as measured while the daemon ticks."""

    incident: Incident
    back: datetime | None = None  # refresh ended, desired capacity InService on the good version
    serving: datetime | None = None  # ... and as many healthy targets of the good version
    first_served: datetime | None = None  # the first tick that found a request the bad image served
    verdict_samples: list[str] = field(default_factory=list)  # the metric samples at detection
    refresh_status: str = ""
    served_for: float = 0.0  # sandbox seconds over which ``served`` was counted
    worst: dict[str, float] = field(default_factory=dict)


def template(root: Path, mode: str) -> Path:
    """The demo's desired/ (the seed's settings), with the analysis off for "AWS alone"."""
    target = root / f"template-{mode}"
    shutil.copytree(example_dir(), target)
    if mode == "aws":
        path = target / "desired.yaml"
        text = path.read_text(encoding="utf-8")
        assert "    autoRollback: true\n" in text, "desired/desired.yaml's rollout block changed"
        path.write_text(text.replace("    autoRollback: true\n", ANALYSIS_OFF), encoding="utf-8")
    return target


def ticks(daemon: Daemon, sandbox: Sandbox, seconds: float) -> Iterator[list[ServiceStatus]]:
    """Tick the daemon every ``TICK_SECONDS`` of sandbox time, for at most ``seconds``."""
    for _ in range(int(seconds / TICK_SECONDS)):
        daemon.tick()
        yield list(daemon.statuses().values())
        sandbox.clock.advance(TICK_SECONDS)


def follow(daemon: Daemon, sandbox: Sandbox, worst: dict[str, float]) -> Outcome:
    """Tick until the services settle, keeping the worst metric samples the analysis saw."""
    for statuses in ticks(daemon, sandbox, MAX_SECONDS):
        for status in statuses:
            note_worst(status, worst)
        verdict = settled(statuses)
        if verdict is not None:
            return verdict
    return Outcome.TIMEOUT


def note_worst(status: ServiceStatus, worst: dict[str, float]) -> None:
    """The highest value / threshold of each metric signal's conclusive samples."""
    if status.analysis is None:
        return
    for signal in (Signal.ERROR_RATE, Signal.LATENCY_P99):
        result = status.analysis.signal(signal)
        for sample in result.samples if result is not None else ():
            if sample.value is None or not sample.threshold or sample.verdict is Verdict.PENDING:
                continue
            if sample.value / sample.threshold > worst.get(f"{signal}_ratio", -1.0):
                worst[f"{signal}_ratio"] = sample.value / sample.threshold
                worst[f"{signal}_value"] = sample.value
                worst[f"{signal}_threshold"] = sample.threshold


def samples_of(status: ServiceStatus) -> list[str]:
    """The failing signal's samples, e.g. ``Pass 0.5%``: what the verdict was reached on."""
    if status.analysis is None:
        return []
    for result in status.analysis.signals:
        if result.verdict is Verdict.FAIL and result.samples:
            shown = [f"{s.verdict.value} {s.value or 0:.3g}" for s in result.samples]
            return [f"{result.signal.value}:", *shown]
    return []


def start(sandbox: Sandbox, root: Path, mode: str, phase: float = 0.0) -> tuple[Daemon, Path]:
    """A fresh seed, v1.1 deployed by the daemon, then 30 minutes of baseline traffic, ending
    ``phase`` seconds into a minute: where the commit lands against the 60 s sample periods
    sets how long a detection waits for whole samples (the sandbox clock starts at wall time)."""
    seeded = sandbox.reseed()
    sandbox.clock.speed = 0
    root = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=root))
    repo = root / "repo"
    init_repo(repo, template_dir=template(root, mode), image=seeded.repository_uri, tag=GOOD)
    daemon = make_daemon(sandbox, repo=repo, cache=root / "cache")
    if follow(daemon, sandbox, {}) is not Outcome.READY:
        raise RuntimeError(f"the {GOOD} deploy did not become Ready")
    sandbox.clock.advance(BASELINE_SECONDS)
    sandbox.clock.advance((phase - sandbox.clock.now().timestamp()) % 60)
    return daemon, repo


def whole_second(moment: datetime) -> datetime:
    """AWS's timestamps have whole seconds: a refresh started on the commit's own tick carries
    the commit's second, before the commit's ``now`` with its microseconds."""
    return moment.replace(microsecond=0)


def newest_refresh(aws: Aws, since: datetime) -> dict[str, Any] | None:
    found = aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP)
    refreshes: list[dict[str, Any]] = found["InstanceRefreshes"]
    fresh = [r for r in refreshes if r["StartTime"] >= whole_second(since)]
    return fresh[0] if fresh else None


def group_now(aws: Aws, bad_version: int | None) -> tuple[bool, bool]:
    """(back on the good version, serving again on it): desired capacity InService with
    nothing (Pending either) on the bad version; desired capacity healthy in the target group
    on instances of another version."""
    group = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]
    desired = int(group["DesiredCapacity"])
    serving = [i for i in group.get("Instances", []) if i.get("LifecycleState") in _SERVING]
    bad = {
        str(i["InstanceId"])
        for i in serving
        if i.get("LaunchTemplate", {}).get("Version") == str(bad_version)
    }
    in_service = [i for i in serving if i.get("LifecycleState") == "InService"]
    arn = aws.call("elbv2", "describe_target_groups", Names=[TARGET_GROUP])["TargetGroups"][0]
    health = aws.call("elbv2", "describe_target_health", TargetGroupArn=arn["TargetGroupArn"])
    healthy = [
        d["Target"]["Id"]
        for d in health["TargetHealthDescriptions"]
        if d["TargetHealth"]["State"] == "healthy" and d["Target"]["Id"] not in bad
    ]
    return not bad and len(in_service) >= desired, len(healthy) >= desired


def bad_release(sandbox: Sandbox, daemon: Daemon, repo: Path, image: str) -> Watch:
    """Commit ``image`` and tick until the group is back on v1.1, or the release stays."""
    aws = daemon.reconciler.aws
    set_tag(repo / "desired" / "desired.yaml", image)
    committed = sandbox.clock.now()
    watch = Watch(Incident(GROUP, committed, lambda: sandbox.traffic.served[image]))
    for statuses in ticks(daemon, sandbox, MAX_SECONDS):
        now = sandbox.clock.now()
        for status in statuses:
            watch.incident.observe(aws, status, now)
            note_worst(status, watch.worst)
            if watch.incident.detected == now and not watch.verdict_samples:
                watch.verdict_samples = samples_of(status)
        if watch.first_served is None and watch.incident.served() > 0:
            watch.first_served = now
        refresh = newest_refresh(aws, committed)
        ended = refresh is not None and "EndTime" in refresh
        watch.refresh_status = str(refresh["Status"]) if ended and refresh else ""
        if watch.refresh_status == "Successful":  # nothing stopped it: it keeps serving
            left = committed + timedelta(seconds=UNDETECTED_WATCH) - now
            sandbox.clock.advance(left.total_seconds())
            daemon.tick()
            break
        if watch.incident.detected is None:
            continue
        back, serving = group_now(aws, watch.incident.bad_version)
        watch.serving = watch.serving or (now if serving else None)
        watch.back = watch.back or (now if back and ended else None)
        if watch.back is not None and watch.incident.recovered is not None:
            break
    watch.served_for = (sandbox.clock.now() - committed).total_seconds()
    return watch


def first_in_service(aws: Aws, since: datetime) -> datetime | None:
    """The first launch since ``since`` to end Successful: the bad release's first InService."""
    ended = []
    for page in aws.pages("autoscaling", "describe_scaling_activities", AutoScalingGroupName=GROUP):
        for activity in page.get("Activities", []):
            launch = str(activity.get("Description", "")).startswith("Launching")
            done = activity.get("StatusCode") == "Successful" and "EndTime" in activity
            if launch and done and activity["StartTime"] >= whole_second(since):
                ended.append(activity["EndTime"])
    return min(ended) if ended else None


def health_check(aws: Aws) -> tuple[int, int, int]:
    """(grace period, health check interval, healthy threshold) as AWS holds them."""
    group = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]
    target = aws.call("elbv2", "describe_target_groups", Names=[TARGET_GROUP])["TargetGroups"][0]
    interval, threshold = target["HealthCheckIntervalSeconds"], target["HealthyThresholdCount"]
    return int(group["HealthCheckGracePeriod"]), int(interval), int(threshold)


def minutes_after(moment: datetime | None, origin: datetime | None) -> float | None:
    if moment is None or origin is None:
        return None
    return round((moment - origin).total_seconds() / 60, 2)


def traffic_from(
    in_service: datetime | None, committed: datetime, *, interval: int, threshold: int
) -> datetime | None:
    """When the first new instance takes traffic, as the analysis computes it."""
    if in_service is None:
        return None
    inputs = AnalysisInputs(
        observed_at=in_service.timestamp(),
        rollout_start=committed.timestamp(),
        health_check_interval=interval,
        healthy_threshold=threshold,
        instances=(InstanceHistory("first", in_service_at=in_service.timestamp()),),
    )
    found = traffic_start(inputs)
    return datetime.fromtimestamp(found, committed.tzinfo) if found is not None else None


def scenario(
    sandbox: Sandbox, root: Path, mode: str, image: str, phase: float = 0.0
) -> dict[str, Any]:
    daemon, repo = start(sandbox, root, mode, phase)
    watch = bad_release(sandbox, daemon, repo, image)
    incident, aws = watch.incident, daemon.reconciler.aws
    committed, detected = incident.committed, incident.detected
    in_service = first_in_service(aws, committed)
    grace, interval, threshold = health_check(aws)
    traffic = traffic_from(in_service, committed, interval=interval, threshold=threshold)
    return {
        "mode": mode,
        "image": image,
        "phase_s": phase,
        "refresh_status": watch.refresh_status,
        "detected_min": minutes_after(detected, committed),
        "only_good_min": minutes_after(incident.recovered, committed),
        "back_on_v1_1_min": minutes_after(watch.back, committed),
        "served": incident.served(),
        "served_over_min": round(watch.served_for / 60, 2),
        "first_in_service_min": minutes_after(in_service, committed),
        "traffic_start_min": minutes_after(traffic, committed),
        "detected_after_in_service_s": _seconds(detected, in_service),
        "detected_after_traffic_s": _seconds(detected, traffic),
        "first_served_after_traffic_s": _seconds(watch.first_served, traffic),
        "back_after_detection_s": _seconds(watch.back, detected),
        "serving_again_after_detection_s": _seconds(watch.serving, detected),
        "grace_s": grace,
        "health_check_interval_s": interval,
        "rate_per_s": sandbox.traffic.rate,
        "worst_samples": watch.worst,
        "verdict_samples": watch.verdict_samples,
    }


def _seconds(moment: datetime | None, origin: datetime | None) -> float | None:
    if moment is None or origin is None:
        return None
    return (moment - origin).total_seconds()


def false_verdicts(sandbox: Sandbox, root: Path, count: int) -> dict[str, Any]:
    """``count`` healthy rollouts (v1.0 and v1.1 alternately), each with a new traffic seed."""
    daemon, repo = start(sandbox, root, "healthy")
    aws = daemon.reconciler.aws
    outcomes: list[str] = []
    worst: dict[str, float] = {}
    for number in range(count):
        sandbox.traffic.seed = 1000 + number
        set_tag(repo / "desired" / "desired.yaml", "v1.0" if number % 2 == 0 else "v1.1")
        committed = sandbox.clock.now()
        verdict = follow(daemon, sandbox, worst)
        refresh = newest_refresh(aws, committed)
        status = str(refresh["Status"]) if refresh is not None else "no refresh"
        outcomes.append(f"{verdict.name}/{status}")
    failed = sum(1 for o in outcomes if not o.startswith("READY"))
    return {
        "rollouts": count,
        "false_verdicts": failed,
        "false_positive_rate": failed / count if count else 0.0,
        "outcomes": outcomes,
        "worst_samples": worst,
        "rate_per_s": sandbox.traffic.rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--rollouts", type=int, default=20, help="healthy rollouts to judge")
    parser.add_argument("--images", default=",".join(IMAGES), help="bad releases to deploy")
    args = parser.parse_args(argv)
    results = []
    with fleet.sandbox() as sandbox, tempfile.TemporaryDirectory() as tmp:
        for image in args.images.split(","):
            for mode in MODES:
                results.append(scenario(sandbox, Path(tmp), mode, image, PHASES[0]))
                print(json.dumps(results[-1]), flush=True)
        for phase in PHASES[1:] if "v2.1" in args.images else ():
            results.append(scenario(sandbox, Path(tmp), "analysis", "v2.1", phase))
            print(json.dumps(results[-1]), flush=True)
        healthy = false_verdicts(sandbox, Path(tmp), args.rollouts)
        print(json.dumps(healthy), flush=True)
    print(markdown(results, healthy))
    if args.write:
        fleet.write_section("analysis", markdown(results, healthy))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
