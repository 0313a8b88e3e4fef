"""Modeled rollout durations (sandbox time) for the seed's settings and the alternatives.

    python benchmarks/rollout_durations.py [--write]

For each set of rollout settings, against a freshly seeded sandbox with its clock frozen and
moved by hand (nothing here waits on the wall clock):

- **deploy**: the reconciler deploys v1.1 over the seed (2 instances); the instance refresh's
  duration from its StartTime to its EndTime (Successful);
- **rollback**: then a broken v2.0 (its instances never pass the health check) is deployed; the
  refresh's duration from StartTime to EndTime, i.e. until RollbackSuccessful (AutoRollback),
  which includes AWS's hour of replacing the failing new instances (see ``NOTES``).

Also "end to end": sandbox time from the first reconcile tick to the tick that sees the refresh
end, with ticks every 30 sandbox seconds (the daemon's default interval). The durations come from
the sandbox's simulation (``reconciler.sandbox.timing``): instances Pending 60 s, the image
answering 90 s after boot, health checks at the target group's interval and thresholds.
Printed as a table next to the seed's own claim: rollback takes about 20 minutes end to end.

Every spec here sets ``rollout.analysis: {enabled: false}``: this benchmark models AWS's own
pacing (its health checks and AutoRollback), and with the analysis on, the default since
issue 12, the reconciler would roll v2.0 back once its grace period is over instead of
letting AWS retry it for an hour. ``benchmarks/analysis.py`` measures that.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fleet
from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox

TICK = 30.0  # sandbox seconds between reconcile ticks
MAX_SANDBOX_SECONDS = 6 * 3600  # give up on a rollout after six modeled hours
GROUP = "feedback-asg"
SEED_ROLLOUT = """  rollout:
    minHealthyPercentage: 50
    maxHealthyPercentage: 100
    instanceWarmup: 300
    checkpointPercentages: [50, 100]
    checkpointDelay: 60
    autoRollback: true
"""
# AWS's pacing alone: the reconciler's rollout analysis (on by default) would stop v2.0 early.
ANALYSIS_OFF = """    analysis:
      enabled: false
"""
SETTINGS = {
    "seed (min 50, max 100, warmup 300, checkpoints [50, 100], delay 60)": SEED_ROLLOUT,
    "seed without checkpointDelay (AWS waits 3600 s)": SEED_ROLLOUT.replace(
        "    checkpointDelay: 60\n", ""
    ),
    "recommended (min 100, max 200, warmup 300, no checkpoints)": """  rollout:
    minHealthyPercentage: 100
    maxHealthyPercentage: 200
    instanceWarmup: 300
    autoRollback: true
""",
}


NOTES = """\
Why the rollback takes over an hour: as on AWS, a refresh whose new instances fail their
health checks terminates and replaces them and keeps trying for one hour before it fails and
AutoRollback starts (aws-facts 1.5, UG-overview "One-hour timeout"). The seed's settings: the
first v2.0 instance is judged unhealthy when the 300 s grace period after InService ends (6 min),
then 60 min of retries, then 6 min to put one v1.1 instance back (terminate-first, one batch).
With min 100 / max 200 the old instances are never terminated (launch first), so once the hour
is out the rollback only terminates the new instances in flight: 6 + 60 min. Before the one-hour
retry was modeled, that rollback took 17 min against 11 for the seed's settings: the sandbox
replaced each of the two surplus v2.0 instances with a new v1.1 one, one at a time under the
200% ceiling (5 + 2 x 6 min), although the instances they were to replace still ran v1.1; the
sandbox now terminates such surplus instead (derived from 1.2: they are above desired capacity).
The reconciler's rollout analysis (on by default, off here) catches v2.0 once its grace period
is over: see "Rollout analysis: bad releases" below.
"""


@dataclass(frozen=True)
class Rollout:
    status: str
    refresh_seconds: float
    end_to_end_seconds: float


def desired_dir(root: Path, *, repository: str, rollout: str, tag: str) -> Path:
    """desired/ pointed at the sandbox's image at ``tag``, with ``rollout`` as its settings."""
    target = root / tag.replace(".", "_")
    shutil.copytree(fleet.ROOT / "desired", target)
    path = target / "desired.yaml"
    text = path.read_text(encoding="utf-8")
    assert SEED_ROLLOUT in text, "desired/desired.yaml's rollout block changed"
    text = text.replace(SEED_ROLLOUT, rollout + ANALYSIS_OFF).replace(
        "ghcr.io/johnhuh619/simple-api", repository
    )
    path.write_text(text.replace("tag: latest", f"tag: {tag}"), encoding="utf-8")
    return target


def newest_refresh(aws: Aws) -> dict[str, Any] | None:
    found = aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP)
    refreshes: list[dict[str, Any]] = found["InstanceRefreshes"]
    return refreshes[0] if refreshes else None


def roll_out(sandbox: Sandbox, reconciler: Reconciler, aws: Aws, path: Path) -> Rollout:
    """Tick until the refresh the reconciler starts for ``path`` has ended."""
    specs = desired.load([path]).services
    before = newest_refresh(aws)
    started_at = sandbox.clock.now()
    waited = 0.0
    while waited <= MAX_SANDBOX_SECONDS:
        fleet.tick(reconciler, specs)
        refresh = newest_refresh(aws)
        if refresh is not None and refresh != before and "EndTime" in refresh:
            start: datetime = refresh["StartTime"]
            end: datetime = refresh["EndTime"]
            return Rollout(
                status=str(refresh["Status"]),
                refresh_seconds=(end - start).total_seconds(),
                end_to_end_seconds=(sandbox.clock.now() - started_at).total_seconds(),
            )
        if refresh is not None and before is not None and refresh != before:
            before = None  # a new refresh started: wait for it to end
        sandbox.clock.advance(TICK)
        waited += TICK
    raise RuntimeError(f"no refresh ended within {MAX_SANDBOX_SECONDS} sandbox seconds")


def measure(sandbox: Sandbox, name: str, rollout: str) -> dict[str, Any]:
    sandbox.reseed()
    sandbox.clock.speed = 0
    assert sandbox.seeded is not None
    aws = sandbox.aws()
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    with tempfile.TemporaryDirectory() as tmp:
        repository = sandbox.seeded.repository_uri
        deploy = roll_out(
            sandbox,
            reconciler,
            aws,
            desired_dir(Path(tmp), repository=repository, rollout=rollout, tag="v1.1"),
        )
        rollback = roll_out(
            sandbox,
            reconciler,
            aws,
            desired_dir(Path(tmp), repository=repository, rollout=rollout, tag="v2.0"),
        )
    return {
        "settings": name,
        "deploy_status": deploy.status,
        "deploy_refresh_seconds": deploy.refresh_seconds,
        "deploy_end_to_end_seconds": deploy.end_to_end_seconds,
        "rollback_status": rollback.status,
        "rollback_refresh_seconds": rollback.refresh_seconds,
        "rollback_end_to_end_seconds": rollback.end_to_end_seconds,
    }


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def markdown(results: list[dict[str, Any]]) -> str:
    rows: list[tuple[object, ...]] = [
        (
            r["settings"],
            f"{minutes(r['deploy_refresh_seconds'])} ({r['deploy_status']})",
            minutes(r["deploy_end_to_end_seconds"]),
            f"{minutes(r['rollback_refresh_seconds'])} ({r['rollback_status']})",
            minutes(r["rollback_end_to_end_seconds"]),
        )
        for r in results
    ]
    rows.append(("the seed's own claim (manual rollback workflow)", "", "", "", "about 20 min"))
    headers = (
        "settings",
        "deploy: refresh",
        "deploy: end to end",
        "rollback of broken v2.0: refresh",
        "rollback: end to end",
    )
    return (
        "## Rollout durations, modeled (`benchmarks/rollout_durations.py`)\n\n"
        "Sandbox time, 2 instances, AWS's own pacing: every spec sets `rollout.analysis: "
        "{enabled: false}`. Deploy: v1.1 over the seed. Rollback: a broken v2.0 "
        "deployed next, until AutoRollback ends it (RollbackSuccessful); no commit or "
        "workflow run is needed for it. End to end counts from the first tick, with ticks every "
        f"{TICK:.0f} sandbox seconds.\n\n" + fleet.table(headers, rows) + "\n\n" + NOTES
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    results = []
    with fleet.sandbox() as sandbox:
        for name, rollout in SETTINGS.items():
            result = measure(sandbox, name, rollout)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.write:
        fleet.write_section("rollout_durations", markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
