"""Rollouts in waves: which services may start now (pure, many cases), and the daemon holding
the rest with their place in the queue, against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fleet import create_fleet, write_desired
from reconciler import desired
from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.source import LocalSource
from reconciler.images.resolver import ImageResolver
from reconciler.model.waves import RolloutCandidate, RolloutLimits
from reconciler.pipeline import waves
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import Seeded


def c(
    name: str, account: str = "a", *, running: bool = False, starting: bool = False
) -> RolloutCandidate:
    return RolloutCandidate(name=name, account=account, running=running, starting=starting)


# (candidates, limits, may start now, queued in order)
CASES = [
    pytest.param([c("x", starting=True)], RolloutLimits(), ["x"], [], id="no limit"),
    pytest.param(
        [c(n, starting=True) for n in "abcde"],
        RolloutLimits(total=2),
        ["a", "b"],
        ["c", "d", "e"],
        id="a wave of two, in file order",
    ),
    pytest.param(
        [c("r", running=True), c("s", starting=True), c("t", starting=True)],
        RolloutLimits(total=2),
        ["s"],
        ["t"],
        id="a running rollout holds a slot",
    ),
    pytest.param(
        [c("r", running=True), c("q", running=True), c("s", starting=True)],
        RolloutLimits(total=2),
        [],
        ["s"],
        id="all slots held: nothing starts",
    ),
    pytest.param(
        [c("r", running=True, starting=False), c("n")],
        RolloutLimits(total=1),
        [],
        [],
        id="a service with nothing to start is never queued",
    ),
    pytest.param(
        [c("a1", "a", starting=True), c("a2", "a", starting=True), c("b1", "b", starting=True)],
        RolloutLimits(per_account=1),
        ["a1", "b1"],
        ["a2"],
        id="per account",
    ),
    pytest.param(
        [
            c("a1", "a", starting=True),
            c("a2", "a", starting=True),
            c("b1", "b", starting=True),
            c("b2", "b", starting=True),
        ],
        RolloutLimits(per_account=1, accounts={"b": 2}),
        ["a1", "b1", "b2"],
        ["a2"],
        id="one account's own limit",
    ),
    pytest.param(
        [c("a1", "a", starting=True), c("a2", "a", starting=True), c("b1", "b", starting=True)],
        RolloutLimits(total=2, per_account=1),
        ["a1", "b1"],
        ["a2"],
        id="both limits",
    ),
    pytest.param(
        [c("a1", "a", starting=True), c("b1", "b", starting=True), c("b2", "b", starting=True)],
        RolloutLimits(total=1, per_account=5),
        ["a1"],
        ["b1", "b2"],
        id="the total binds first",
    ),
    pytest.param(
        [c("a0", "a", running=True), c("a1", "a", starting=True), c("b1", "b", starting=True)],
        RolloutLimits(per_account=1),
        ["b1"],
        ["a1"],
        id="a full account does not block another",
    ),
    pytest.param([], RolloutLimits(total=1), [], [], id="nothing at all"),
    pytest.param(
        [c(f"s{i}", starting=True) for i in range(1000)],
        RolloutLimits(total=50),
        [f"s{i}" for i in range(50)],
        [f"s{i}" for i in range(50, 1000)],
        id="1,000 services",
    ),
]


@pytest.mark.parametrize(("candidates", "limits", "start", "queued"), CASES)
def test_admit(
    candidates: list[RolloutCandidate], limits: RolloutLimits, start: list[str], queued: list[str]
) -> None:
    admission = waves.admit(candidates, limits)
    assert admission.start == frozenset(start)
    assert list(admission.queued) == queued
    assert [q.position for q in admission.queued.values()] == list(range(1, len(queued) + 1))
    assert {q.queued for q in admission.queued.values()} <= {len(queued)}


def test_the_queue_message_says_where_and_why() -> None:
    admission = waves.admit(
        [
            c("r", "111111111111", running=True),
            c("s", "111111111111", starting=True),
            c("t", "111111111111", starting=True),
        ],
        RolloutLimits(total=5, per_account=1),
    )
    assert admission.queued["t"].message() == (
        "waiting for a rollout slot: 2 of 2 in the queue (1 of 1 in account 111111111111)"
    )
    total = waves.admit([c("r", running=True), c("s", starting=True)], RolloutLimits(total=1))
    assert total.queued["s"].message() == (
        "waiting for a rollout slot: 1 of 1 in the queue (1 of 1 rollouts run)"
    )


# -- the daemon, against the sandbox -----------------------------------------------------------


def _fleet_daemon(
    aws: Aws, seeded: Seeded, tmp_path: Path, count: int, limits: RolloutLimits
) -> tuple[Daemon, Path]:
    fleet = create_fleet(aws, seeded, tmp_path / "desired", count)
    daemon = Daemon(
        source=LocalSource(paths=[fleet.path]),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        interval=30.0,
        jitter=0.0,
        rollout_limits=limits,
    )
    return daemon, fleet.path


def _refreshing(aws: Aws, names: list[str]) -> set[str]:
    running = set()
    for name in names:
        found = aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=name)[
            "InstanceRefreshes"
        ]
        if any(r["Status"] in ("Pending", "InProgress") for r in found):
            running.add(name)
    return running


def test_a_commit_that_changes_every_service_rolls_out_in_waves(
    sandbox: Sandbox, seeded: Seeded, tmp_path: Path
) -> None:
    aws = sandbox.aws()
    daemon, path = _fleet_daemon(aws, seeded, tmp_path, 5, RolloutLimits(total=2))
    daemon.tick()  # in sync: nothing starts, nothing waits
    assert all(not s.condition("Progressing").status for s in daemon.statuses().values())
    write_desired(path.parent, 5, repository=seeded.repository_uri, tag="v1.0")

    daemon.tick()
    statuses = daemon.statuses()
    group_of = {s.name: s.auto_scaling_group.name for s in desired.load([path]).services}
    started = _refreshing(aws, list(group_of.values()))
    assert len(started) == 2, started
    queued = {n: s.condition("Progressing") for n, s in statuses.items()}
    waiting = sorted(n for n, cond in queued.items() if cond.reason == "WaitingForRolloutSlot")
    assert len(waiting) == 3
    assert [queued[n].message.split(":")[1].split(" in ")[0].strip() for n in waiting] == [
        "1 of 3",
        "2 of 3",
        "3 of 3",
    ]
    assert "2 of 2 rollouts run" in queued[waiting[0]].message
    assert statuses[waiting[0]].next_step.startswith("the rollout starts once a slot frees")
    assert "reconciler_rollouts_queued 3.0" in daemon.metrics.render()[0].decode()
    document = daemon.report()
    assert "waiting for a rollout slot" in str(document)

    # As rollouts end, the queue moves on: never more than two at once, all five in the end.
    seen: set[str] = set(started)
    for _ in range(40):
        sandbox.clock.advance(120)
        daemon.tick()
        now = _refreshing(aws, list(group_of.values()))
        assert len(now) <= 2
        seen |= now
        if all(s.condition("Ready").status for s in daemon.statuses().values()):
            break
    assert seen == set(group_of.values())
    assert all(s.condition("Ready").status for s in daemon.statuses().values())
