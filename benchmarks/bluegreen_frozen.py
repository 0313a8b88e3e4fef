"""Blue/green against the frozen sandbox, ticked by hand: the failed-canary flip, the canary's
share of requests, the instance-hours of a deploy, and the rolling strategy's figures beside.

Used by ``benchmarks/bluegreen.py``. A ``Driver`` is a daemon (real ``Reconciler``, real boto3
over HTTP) following a desired directory as a ``LocalSource``, as ``tests/bluegreen_harness.py``
does: rewriting the file is a new revision, as a commit would be. The clock is frozen and moved
30 sandbox seconds per tick (a daemon's ``--interval 30s``); every reading is the daemon's own
status or a boto3 call of the driver's own (``watcher``), never the product's internals.
Instances are counted every ``SAMPLE`` sandbox seconds while a ``Meter`` runs: every instance
a group lists (Pending, InService, Terminating while it drains), as EC2 bills an instance from
pending to terminated, an upper bound for Pending (billing starts at running).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import fleet
from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.source import LocalSource
from reconciler.images.description import parse_description
from reconciler.images.resolver import ImageResolver
from reconciler.model import Signal, Verdict
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox
from reconciler.sandbox.images import VERSIONS

TICK = 30.0  # sandbox seconds between two daemon passes
SAMPLE = 10.0  # sandbox seconds between two instance counts while metering
BASELINE = 1800.0  # the analysis's default baseline window: traffic before the first deploy
LIMIT = 3 * 3600.0  # sandbox seconds any wait may take
SERVICE = "feedback"
BLUE, GREEN = "feedback-asg", "feedback-green-asg"
TEMPLATE = "feedback-app-template"
SEED_IMAGE = "ghcr.io/johnhuh619/simple-api"
SERVING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
BLUE_LIVE, GREEN_LIVE = (100, 0), (0, 100)


def desired_copy(root: Path, *, repository: str, tag: str, blue_green: bool) -> Path:
    """desired/examples/ (blue/green) or desired/ (rolling) at ``tag``; the file to rewrite."""
    source = fleet.ROOT / "desired" / ("examples" if blue_green else "")
    target = root / ("desired-bg" if blue_green else "desired-rolling")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("examples"))
    name = "blue-green.yaml" if blue_green else "desired.yaml"
    path = target / name
    text = path.read_text(encoding="utf-8").replace(SEED_IMAGE, repository)
    path.write_text(text, encoding="utf-8")
    set_tag(path, tag)
    return path


def set_tag(path: Path, tag: str) -> None:
    lines = [
        f"    tag: {tag}" if line.startswith("    tag: ") else line
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Meter:
    """Instance-seconds of both groups, counted every ``SAMPLE`` seconds while ``on``."""

    on: bool = False
    seconds: float = 0.0
    instance_seconds: float = 0.0
    peak: int = 0

    def add(self, count: int, seconds: float) -> None:
        if self.on:
            self.seconds += seconds
            self.instance_seconds += count * seconds
            self.peak = max(self.peak, count)

    def extra_hours(self, steady: int) -> float:
        """Instance-hours above ``steady`` instances over the metered time."""
        return (self.instance_seconds - steady * self.seconds) / 3600


@dataclass
class Seen:
    at: float  # sandbox epoch seconds when the pass ran
    status: ServiceStatus
    weights: tuple[int, int]  # (blue, green) as AWS holds them after the pass
    served: dict[str, int]  # requests answered so far, by image version, at ``at``

    def verdict(self) -> Verdict | None:
        return self.status.analysis.verdict if self.status.analysis is not None else None

    def degraded(self) -> bool:
        return self.status.condition("Degraded").reason == "RolloutFailed"

    def ready(self) -> bool:
        return self.status.condition("Ready").status


@dataclass
class Driver:
    sandbox: Sandbox
    path: Path
    daemon: Daemon
    watcher: Aws
    meter: Meter = field(default_factory=Meter)
    _balancer: str = ""
    _tags: dict[str, str] = field(default_factory=dict)  # launch template version -> image tag

    @classmethod
    def begin(cls, sandbox: Sandbox, root: Path, *, blue_green: bool, seed: int = 12) -> Driver:
        """A freshly seeded sandbox, frozen, ``BASELINE`` seconds of traffic, v1.1 desired."""
        seeded = sandbox.reseed()
        sandbox.traffic.seed = seed
        sandbox.clock.speed = 0
        sandbox.clock.advance(BASELINE)
        path = desired_copy(
            root, repository=seeded.repository_uri, tag="v1.1", blue_green=blue_green
        )
        aws = sandbox.aws()
        daemon = Daemon(
            source=LocalSource(paths=[path.parent]),
            reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
            interval=TICK,
            jitter=0.0,
            clock=lambda: sandbox.clock.now().timestamp(),
        )
        return cls(sandbox, path, daemon, sandbox.aws())

    def deploy(self, tag: str) -> float:
        """Commit ``tag``; the sandbox time of the commit."""
        set_tag(self.path, tag)
        return self.now()

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def align(self, second: float) -> None:
        """Move the clock to ``second`` seconds into the next minute (the commit's phase)."""
        self.sandbox.clock.advance((second - self.now()) % 60)

    def tick(self) -> Seen:
        self.daemon.tick()
        weights = self.weights()  # a request: the sandbox serves the traffic up to now
        seen = Seen(self.now(), self.daemon.statuses()[SERVICE], weights, self.served())
        for _ in range(int(TICK / SAMPLE)):
            if self.meter.on:
                self.meter.add(sum(len(g["Instances"]) for g in self.groups()), SAMPLE)
            self.sandbox.clock.advance(SAMPLE)
        return seen

    def until(self, done: Callable[[Seen], bool], *, limit: float = LIMIT) -> Seen:
        started = self.now()
        while True:
            seen = self.tick()
            if done(seen):
                return seen
            if self.now() - started > limit:
                raise RuntimeError(f"not done in {limit:.0f} sandbox s: {seen.status}")

    def served(self) -> dict[str, int]:
        """``traffic.served`` by version: it counts a request under every tag of its image
        (v1.1 is also ``latest`` and ``sha-…``), so only the version tags are kept."""
        served = self.sandbox.traffic.served
        return {v: served[v] for v in VERSIONS if served[v]}

    # -- AWS, read by the driver ---------------------------------------------------------------

    def weights(self) -> tuple[int, int]:
        return listener_weights(self.watcher, self.balancer())

    def balancer(self) -> str:
        if not self._balancer:
            self._balancer = balancer_arn(self.watcher)
        return self._balancer

    def groups(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.watcher.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[BLUE, GREEN]
        )["AutoScalingGroups"]
        return found

    def group(self, name: str) -> dict[str, Any]:
        return next(g for g in self.groups() if g["AutoScalingGroupName"] == name)

    def capacity(self, name: str) -> int:
        return int(self.group(name)["DesiredCapacity"])

    def listed(self, name: str) -> int:
        return len(self.group(name)["Instances"])

    def serving_tags(self, name: str) -> list[str]:
        """The image tag of each Pending or InService instance of group ``name``."""
        instances = [i for i in self.group(name)["Instances"] if i["LifecycleState"] in SERVING]
        versions = [str(i.get("LaunchTemplate", {}).get("Version", "")) for i in instances]
        if any(v not in self._tags for v in versions):
            self._tags = version_tags(self.watcher)
        return [self._tags.get(v, "?") for v in versions]


def balancer_arn(aws: Aws) -> str:
    balancers = aws.call("elbv2", "describe_load_balancers", Names=["feedback-alb"])
    return str(balancers["LoadBalancers"][0]["LoadBalancerArn"])


def listener_weights(aws: Aws, balancer: str) -> tuple[int, int]:
    """(feedback-tg, feedback-green-tg) weights of feedback-alb's port-80 default forward."""
    listeners = aws.call("elbv2", "describe_listeners", LoadBalancerArn=balancer)["Listeners"]
    (listener,) = [li for li in listeners if li["Port"] == 80]
    action = listener["DefaultActions"][0]
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}
    ]
    by_name = {g["TargetGroupArn"].split(":")[-1].split("/")[1]: g["Weight"] for g in groups}
    return int(by_name.get("feedback-tg", 0)), int(by_name.get("feedback-green-tg", 0))


def version_tags(aws: Aws) -> dict[str, str]:
    pages = aws.pages("ec2", "describe_launch_template_versions", LaunchTemplateName=TEMPLATE)
    return {
        str(v["VersionNumber"]): parse_description(v.get("VersionDescription", "")).get("tag", "?")
        for page in pages
        for v in page["LaunchTemplateVersions"]
    }


# -- blue/green ------------------------------------------------------------------------------


def first_deploy(driver: Driver) -> None:
    """v1.1 onto green through the steps; blue (the seed's, nothing verified) scaled down."""
    driver.until(lambda s: s.ready() and s.weights == GREEN_LIVE)
    driver.until(lambda s: driver.listed(BLUE) == 0)


def canary(sandbox: Sandbox, root: Path, *, seed: int, phase: float) -> dict[str, Any]:
    """v2.1 (30% 500s) onto blue after v1.1 on green: the ticks from the FAIL verdict to the
    flip, the canary's length and the share of requests v2.1 answered."""
    driver = Driver.begin(sandbox, root, blue_green=True, seed=seed)
    first_deploy(driver)
    driver.align(phase)
    driver.weights()  # the sandbox serves the traffic up to the commit before it is cleared
    sandbox.traffic.served.clear()
    committed = driver.deploy("v2.1")
    seen = [driver.until(lambda s: s.weights[0] > 0)]
    while not (seen[-1].weights == GREEN_LIVE and seen[-1].degraded()):
        seen.append(driver.tick())
        if seen[-1].at - committed > LIMIT:
            raise RuntimeError("v2.1 was never flipped back")
    failed = next(i for i, s in enumerate(seen) if s.verdict() is Verdict.FAIL or s.degraded())
    flipped = next(i for i, s in enumerate(seen) if s.weights == GREEN_LIVE)
    before, after = seen[0].served, seen[flipped].served
    canary_v21 = after.get("v2.1", 0) - before.get("v2.1", 0)
    canary_total = sum(after.values()) - sum(before.values())
    return {
        "seed": seed,
        "phase": phase,
        "first_step_weight": seen[0].weights[0],
        "max_weight_v21": max(s.weights[0] for s in seen),
        "ticks_fail_to_flip": flipped - failed,
        "commit_to_flip_s": seen[flipped].at - committed,
        "first_step_to_flip_s": seen[flipped].at - seen[0].at,
        "v21_requests": after.get("v2.1", 0),
        "v21_before_first_step": before.get("v2.1", 0),
        "canary_requests": canary_total,
        "canary_share": canary_v21 / canary_total if canary_total else 0.0,
        "degraded": seen[-1].status.condition("Degraded").message,
        "samples": samples(seen[flipped], since=seen[0].at - 60),
    }


def samples(seen: Seen, *, since: float) -> list[dict[str, Any]]:
    """The error-rate samples the verdict was reached on, from the minute of the first step:
    start (seconds after the first step), verdict, requests, why inconclusive."""
    analysis = seen.status.analysis
    found = analysis.signal(Signal.ERROR_RATE) if analysis is not None else None
    return [
        {
            "start": s.start - (since + 60),
            "verdict": s.verdict.value,
            "requests": s.requests,
            "note": s.note,
        }
        for s in (found.samples if found is not None else ())
        if s.end > since + 60
    ]


def deploy_cost(sandbox: Sandbox, root: Path) -> dict[str, Any]:
    """v1.0 onto blue after v1.1 on green: instance-seconds from the commit until green, the
    old side, has no instance left after ``scaleDownDelay``."""
    driver = Driver.begin(sandbox, root, blue_green=True)
    first_deploy(driver)
    driver.meter.on = True
    committed = driver.deploy("v1.0")
    live = driver.until(lambda s: s.ready() and s.weights == BLUE_LIVE)
    down = driver.until(lambda s: driver.listed(GREEN) == 0)
    driver.meter.on = False
    return meter_figures(driver.meter, committed, live.at, down.at, strategy="blueGreen")


def meter_figures(
    meter: Meter, committed: float, live: float, end: float, *, strategy: str
) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "commit_to_live_s": live - committed,
        "commit_to_end_s": end - committed,
        "metered_s": meter.seconds,
        "instance_hours": meter.instance_seconds / 3600,
        "extra_instance_hours": meter.extra_hours(2),
        "peak_instances": meter.peak,
    }


# -- rolling ---------------------------------------------------------------------------------


def rolling(sandbox: Sandbox, root: Path) -> dict[str, Any]:
    """desired/desired.yaml (strategy rolling): v1.1, then v1.0 metered like ``deploy_cost``,
    a revert to v1.1 (until only v1.1 runs, and until the refresh ended), then v2.1 (30% 500s)
    until the analysis fails it and only v1.1 runs again."""
    driver = Driver.begin(sandbox, root, blue_green=False)
    driver.until(lambda s: s.ready())
    driver.meter.on = True
    committed = driver.deploy("v1.0")
    live = driver.until(lambda s: s.ready())
    end = driver.until(lambda s: all(t == "v1.0" for t in driver.serving_tags(BLUE))).at
    if driver.listed(BLUE) > 2:
        end = driver.until(lambda s: driver.listed(BLUE) <= 2).at
    driver.meter.on = False
    cost = meter_figures(driver.meter, committed, live.at, max(end, live.at), strategy="rolling")
    reverted = driver.deploy("v1.1")
    only = driver.until(lambda s: set(driver.serving_tags(BLUE)) == {"v1.1"})
    back = only if only.ready() else driver.until(lambda s: s.ready())
    driver.weights()
    sandbox.traffic.served.clear()
    bad = driver.deploy("v2.1")
    detected = driver.until(lambda s: s.degraded())
    clean = driver.until(lambda s: "v2.1" not in driver.serving_tags(BLUE))
    served = clean.served
    return {
        "cost": cost,
        "revert_to_only_previous_s": only.at - reverted,
        "revert_to_ready_s": back.at - reverted,
        "v21_detected_s": detected.at - bad,
        "v21_only_v11_runs_s": clean.at - bad,
        "v21_requests": served.get("v2.1", 0),
        "v21_share": served.get("v2.1", 0) / max(1, sum(served.values())),
        "v21_window_s": clean.at - bad,
    }
