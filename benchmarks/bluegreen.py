"""Blue/green rollback: a revert flipped in one listener write, a failed canary flipped in the
tick that judged it, its blast radius and what the warm side costs, next to the rolling
strategy's rollback (issue 13).

    python benchmarks/bluegreen.py [--trials 5] [--phases 12] [--write]

1. **Revert to 100% on the previous version, wall time (webhook).** The real daemon
   (``reconciler.daemon.run.build_daemon`` and its ``StatusServer``, as ``benchmarks/reaction.py``
   runs it, interval 60 s) follows a bare origin holding ``desired/examples/blue-green.yaml``,
   against an in-process sandbox. Setup runs the sandbox clock at 600x: v1.1 onto green through
   the steps, then v1.0 onto blue, so blue is live on v1.0 and green warm on v1.1, both verified
   (``asg-reconciler/bg-verified``) and green within its ``scaleDownDelay``. Then the clock runs
   at 1x (real time, as on AWS) and each trial commits ``git revert HEAD``, pushes, and POSTs a
   signed push webhook; the clock starts when ``git push`` returns (where a forge would fire
   the webhook) and stops when DescribeListeners, from a client of our own polling without
   pause, shows 100% on the other side. Trials alternate: each revert flips back onto the side
   the previous trial left, which still runs its verified revision. The physical floor, in the
   same run: the webhook's own round trip (the POST until its 202) plus one ModifyListener
   (the live weights again) and one DescribeListeners, timed alone.
2. **Failed analysis to the flip**, 3. **the canary's share**: the frozen sandbox ticked by
   hand every 30 s (``benchmarks.bluegreen_frozen``): v1.1 onto green, then v2.1 (healthy, 30%
   of requests answer 500) onto blue, committed at ``--phases`` seconds of a minute (every 5 s)
   with a new traffic seed each, since where the first step lands against the analysis's
   aligned 60 s samples decides how many samples it takes.
4. **Instance-hours**: v1.0 onto blue after v1.1 on green, from the commit until green has no
   instance left after ``scaleDownDelay`` (3600 s), counted every 10 sandbox seconds, against
   the rolling strategy (``desired/desired.yaml``) deploying the same v1.0 over v1.1. The
   rolling run then reverts to v1.1 and deploys v2.1, for its rollback figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bluegreen_frozen as frozen
from benchmarks import fleet
from benchmarks.bluegreen_report import markdown
from benchmarks.reaction import SECRET, git, post_webhook, running, settled, wait_until
from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.run import RunConfig
from reconciler.daemon.server import StatusServer
from reconciler.sandbox import Sandbox

SETUP_SPEED = 600.0  # sandbox seconds per wall second while the sides are set up
STEP_SPEED = 60.0  # once the last step is near: green's scaleDownDelay is then a wall minute
SETUP_TIMEOUT = 120.0  # wall seconds for a deploy during setup
FLIP_TIMEOUT = 30.0  # wall seconds for a flip after the push
FLOOR_WRITES = 5


@dataclass
class ListenerWrite:
    """``Aws.on_call`` hook: when the daemon sent its first ModifyListener after ``arm``."""

    at: float | None = None
    first: float | None = None  # the daemon's first call after ``arm``: its tick has begun
    before: Counter[str] = field(default_factory=Counter)  # the daemon's calls until then
    _armed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self) -> None:
        with self._lock:
            self.at, self.first, self._armed = None, None, True
            self.before = Counter()

    def __call__(self, service: str, operation: str) -> None:
        with self._lock:
            if not self._armed or self.at is not None:
                return
            if self.first is None:
                self.first = time.monotonic()
            if operation == "ModifyListener":
                self.at = time.monotonic()
            else:
                self.before[operation] += 1


@dataclass
class Site:
    """The daemon, its server, the work clone and a client of our own to the sandbox."""

    sandbox: Sandbox
    daemon: Daemon
    server: StatusServer
    work: Path
    watcher: Aws
    balancer: str
    write: ListenerWrite

    def weights(self) -> tuple[int, int]:
        return frozen.listener_weights(self.watcher, self.balancer)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)

    def commit(self, tag: str) -> str:
        frozen.set_tag(self.work / "desired" / "blue-green.yaml", tag)
        git("commit", "-qam", f"deploy {tag}", cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return self.head()

    def poke_until(self, done: Callable[[], bool], what: str) -> None:
        def check() -> bool:
            self.daemon.trigger()
            return done()

        wait_until(check, timeout=SETUP_TIMEOUT, what=what)

    def settled(self, weights: tuple[int, int]) -> bool:
        return settled(self.daemon, self.head()) and self.weights() == weights


def make_repo(root: Path, *, repository: str) -> tuple[Path, Path]:
    """A bare origin and a work clone whose desired/ is the blue/green example at v1.1."""
    origin, work = root / "origin.git", root / "work"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=root)
    git("init", "-q", "-b", "main", str(work), cwd=root)
    git("remote", "add", "origin", str(origin), cwd=work)
    frozen.desired_copy(work, repository=repository, tag="v1.1", blue_green=True).parent.rename(
        work / "desired"
    )
    git("add", "-A", cwd=work)
    git("commit", "-qm", "deploy v1.1", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return origin, work


def set_up(site: Site) -> None:
    """Blue live on v1.0, green warm on v1.1, both verified; the clock then at 1x."""
    site.sandbox.clock.speed = SETUP_SPEED
    post_webhook(site.server, site.head())
    site.poke_until(lambda: site.settled(frozen.GREEN_LIVE), "v1.1 on green")
    site.commit("v1.0")
    site.poke_until(lambda: site.weights()[0] >= 50, "v1.0 at 50% on blue")
    site.sandbox.clock.speed = STEP_SPEED
    site.poke_until(lambda: site.weights() == frozen.BLUE_LIVE, "v1.0 at 100% on blue")
    site.sandbox.clock.speed = 1.0
    site.poke_until(lambda: site.settled(frozen.BLUE_LIVE), "v1.0 live on blue")


def trial(site: Site, number: int) -> dict[str, Any]:
    """One ``git revert HEAD``, pushed and announced, until the other side takes 100%."""
    target = frozen.GREEN_LIVE if site.weights() == frozen.BLUE_LIVE else frozen.BLUE_LIVE
    other = frozen.GREEN if target == frozen.GREEN_LIVE else frozen.BLUE
    capacity = side_capacity(site, other)
    time.sleep(2.0)  # the webhook's token bucket refills one trigger every 2 s
    site.write.arm()
    began = time.monotonic()
    git("revert", "--no-edit", "HEAD", cwd=site.work)
    git("push", "-q", "origin", "HEAD:main", cwd=site.work)
    pushed = time.monotonic()
    post_webhook(site.server, site.head())
    answered = time.monotonic()
    polls = 0
    while site.weights() != target:
        polls += 1
        if time.monotonic() - pushed > FLIP_TIMEOUT:
            raise RuntimeError(f"trial {number}: no flip within {FLIP_TIMEOUT} s")
    seen = time.monotonic()
    written, first = site.write.at, site.write.first
    site.poke_until(lambda: site.settled(target), f"trial {number} to settle")
    return {
        "trial": number,
        "onto": "green" if target == frozen.GREEN_LIVE else "blue",
        "warm_capacity": capacity,
        "push_to_flip_s": seen - pushed,
        "revert_to_flip_s": seen - began,
        "commit_and_push_s": pushed - began,
        "webhook_round_trip_s": answered - pushed,
        "push_to_first_call_s": (first - pushed) if first is not None else None,
        "push_to_modify_listener_s": (written - pushed) if written is not None else None,
        "modify_listener_to_seen_s": (seen - written) if written is not None else None,
        "polls": polls,
        "calls_before_write": dict(sorted(site.write.before.items())),
    }


def side_capacity(site: Site, group: str) -> int:
    found = site.watcher.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[group]
    )["AutoScalingGroups"][0]
    return int(found["DesiredCapacity"])


def listener_write(site: Site) -> float:
    """One ModifyListener putting the live weights back, and one DescribeListeners: seconds."""
    listener = next(
        li
        for li in site.watcher.call("elbv2", "describe_listeners", LoadBalancerArn=site.balancer)[
            "Listeners"
        ]
        if li["Port"] == 80
    )
    actions = listener["DefaultActions"]
    began = time.monotonic()
    site.watcher.call(
        "elbv2", "modify_listener", ListenerArn=listener["ListenerArn"], DefaultActions=actions
    )
    site.weights()
    return time.monotonic() - began


def idle_tick(daemon: Daemon) -> float:
    """One tick with nothing to do (in sync, same revision), for scale: seconds."""
    began = time.monotonic()
    daemon.tick()
    return time.monotonic() - began


def webhook_round_trip(site: Site) -> float:
    time.sleep(2.0)
    began = time.monotonic()
    post_webhook(site.server, site.head())
    return time.monotonic() - began


def revert_trials(sandbox: Sandbox, count: int) -> dict[str, Any]:
    assert sandbox.seeded is not None
    sandbox.reseed()
    with tempfile.TemporaryDirectory() as tmp:
        origin, work = make_repo(Path(tmp), repository=sandbox.seeded.repository_uri)
        config = RunConfig(
            repo=str(origin),
            branch="main",
            path="desired",
            interval=60.0,
            listen=("127.0.0.1", 0),
            cache_dir=Path(tmp) / "cache",
            webhook_secret=SECRET,
            endpoint_url=sandbox.endpoint,
        )
        with running(config) as (daemon, server):
            watcher = sandbox.aws()
            site = Site(
                sandbox,
                daemon,
                server,
                work,
                watcher,
                frozen.balancer_arn(watcher),
                ListenerWrite(),
            )
            daemon.reconciler.aws.on_call(site.write)
            set_up(site)
            trials = [trial(site, n + 1) for n in range(count)]
            writes = [listener_write(site) for _ in range(FLOOR_WRITES)]
            idle = [idle_tick(daemon) for _ in range(FLOOR_WRITES)]
            hooks = [webhook_round_trip(site) for _ in range(3)]
    round_trips = hooks + [t["webhook_round_trip_s"] for t in trials]
    floor = statistics.median(round_trips) + statistics.median(writes)
    return {
        "figure": "revert_to_flip",
        "trials": trials,
        "push_to_flip": spread([t["push_to_flip_s"] for t in trials]),
        "revert_to_flip": spread([t["revert_to_flip_s"] for t in trials]),
        "webhook_round_trip": spread(round_trips),
        "listener_write_and_read": spread(writes),
        "idle_tick": spread(idle),
        "floor_s": floor,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "n": len(values),
    }


def frozen_figures(sandbox: Sandbox, phases: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        canaries = []
        for index in range(phases):
            run = root / f"canary-{index}"
            run.mkdir()
            result = frozen.canary(sandbox, run, seed=index + 1, phase=float(5 * index % 60))
            print(json.dumps({"figure": "canary", **result}), flush=True)
            canaries.append(result)
        keys = ("ticks_fail_to_flip", "first_step_to_flip_s", "commit_to_flip_s", "canary_share")
        summary = {k: spread([float(c[k]) for c in canaries]) for k in keys}
        print(json.dumps({"figure": "canary_summary", **summary}), flush=True)
        (root / "cost").mkdir()
        cost = frozen.deploy_cost(sandbox, root / "cost")
        print(json.dumps({"figure": "deploy_cost", **cost}), flush=True)
        (root / "rolling").mkdir()
        rolling = frozen.rolling(sandbox, root / "rolling")
        print(json.dumps({"figure": "rolling", **rolling}), flush=True)
    return {"canaries": canaries, "cost": cost, "rolling": rolling}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--phases", type=int, default=12, help="v2.1 commits, 5 s apart")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument(
        "--rerender", action="store_true", help="rewrite the section from its data line only"
    )
    args = parser.parse_args(argv)
    if args.rerender:
        reverts, figures = fleet.section_data("bluegreen")
        fleet.write_section("bluegreen", markdown(reverts, figures))
        return 0
    # apscheduler warns when a poke finds a tick running and another waiting (see Ticker).
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    with fleet.sandbox() as sandbox:
        reverts = revert_trials(sandbox, args.trials)
        print(json.dumps(reverts), flush=True)
        figures = frozen_figures(sandbox, args.phases)
    if args.write:
        fleet.write_section("bluegreen", markdown(reverts, figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
