"""``--shard K/N``: the stable split, the shard leases in the sandbox's DynamoDB, and three real
daemons (their own schedulers and leases) splitting a fleet, one killed, its shard taken over,
and handed back when a daemon for it returns."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import fleet
from reconciler import errors
from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.lease import Lease
from reconciler.daemon.shards import Shard, ShardLeases, lease_name, parse_shard, shard_of
from reconciler.daemon.source import LocalSource
from reconciler.sandbox import Sandbox
from tests.test_daemon_e2e import wait_for
from tests.test_loop import make_daemon

TABLE = "shard-leases"


# ------------------------------------------------------------------------------------------------
# The split (plain data)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shard"),
    [("1/1", Shard(1, 1)), ("1/3", Shard(1, 3)), ("3/3", Shard(3, 3)), (" 2/64 ", Shard(2, 64))],
)
def test_a_shard_reads_as_k_of_n(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == text.strip()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "use K/N"),
        ("3", "use K/N"),
        ("a/b", "use K/N"),
        ("1/3/4", "use K/N"),
        ("-1/3", "use K/N"),
        ("0/3", "K must be 1 to N (3), got 0"),
        ("4/3", "K must be 1 to N (3), got 4"),
        ("1/0", "N must be 1 to 64, got 0"),
        ("1/65", "N must be 1 to 64, got 65"),
    ],
)
def test_a_bad_shard_is_refused_with_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(errors.UsageError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text)


@pytest.mark.parametrize(
    ("service", "count", "shard"),
    # Part of the persistent contract: a change would move services between running daemons
    # during an upgrade, so these stay fixed (sha256, first 8 bytes big-endian, mod N, 1-based).
    [
        ("feedback", 1, 1),
        ("feedback", 2, 2),
        ("feedback", 3, 3),
        ("feedback", 7, 1),
        ("svc-000", 3, 1),
        ("svc-000", 7, 7),
        ("svc-001", 3, 3),
        ("payments", 2, 1),
        ("payments", 7, 2),
    ],
)
def test_the_shard_of_a_service_is_fixed_by_its_name(service: str, count: int, shard: int) -> None:
    assert shard_of(service, count) == shard


def test_services_spread_over_the_shards() -> None:
    names = [fleet.service_name(i) for i in range(3000)]
    counts = Counter(shard_of(n, 3) for n in names)
    assert set(counts) == {1, 2, 3}
    assert all(900 <= c <= 1100 for c in counts.values()), counts  # ~1000 each


def test_the_split_does_not_depend_on_order_or_process() -> None:
    names = [fleet.service_name(i) for i in range(50)]
    assert [shard_of(n, 4) for n in names] == [shard_of(n, 4) for n in reversed(names)][::-1]


# ------------------------------------------------------------------------------------------------
# The leases, in the sandbox's DynamoDB
# ------------------------------------------------------------------------------------------------


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def shard_leases(aws: Aws, home: Shard, holder: str, wall: Wall, mono: Wall) -> ShardLeases:
    def make(index: int) -> Lease:
        return Lease(
            aws=aws,
            table=TABLE,
            name=lease_name("asg-reconciler", index, home.count),
            holder=holder,
            duration=30.0,
            renew_every=10.0,
            wall_clock=wall,
            monotonic=mono,
            yields=index != home.index,
        )

    return ShardLeases(home, make, aws=aws, renew_every=10.0, monotonic=mono)


def test_each_daemon_holds_its_shard_and_takes_an_expired_one_then_hands_it_back(
    sandbox: Sandbox,
) -> None:
    wall, mono = Wall(), Wall()
    one = shard_leases(sandbox.aws(), Shard(1, 2), "one", wall, mono)
    two = shard_leases(sandbox.aws(), Shard(2, 2), "two", wall, mono)
    assert one.ensure() and two.ensure()
    assert one.held_shards() == [1] and two.held_shards() == [2]

    wall.now += 31  # "two" died: its lease expires unrenewed
    mono.now += 31
    assert one.ensure()
    assert one.held_shards() == [1, 2]

    back = shard_leases(sandbox.aws(), Shard(2, 2), "two-again", wall, mono)
    assert back.ensure() is False  # held by "one": marked wanted
    wall.now += 10
    mono.now += 10
    one.ensure()  # the renewal of the foreign shard fails on "wanted": handed back
    assert one.held_shards() == [1]
    assert back.ensure() and back.held_shards() == [2]
    assert one.owns("x") == (shard_of("x", 2) == 1) and back.owns("x") == (shard_of("x", 2) == 2)


# ------------------------------------------------------------------------------------------------
# Three real daemons against the sandbox
# ------------------------------------------------------------------------------------------------


DURATION, RENEW = 6.0, 1.0  # generous: three daemons share this process and its 2 cores


def sharded_daemon(sandbox: Sandbox, source: LocalSource, home: Shard, name: str) -> Daemon:
    aws = sandbox.aws()

    def make(index: int) -> Lease:
        return Lease(
            aws=aws,
            table=TABLE,
            name=lease_name("asg-reconciler", index, home.count),
            holder=name,
            duration=DURATION,
            renew_every=RENEW,
            yields=index != home.index,
        )

    leases = ShardLeases(home, make, aws=aws, renew_every=RENEW)
    daemon = make_daemon(aws, source, interval=0.3)
    daemon.lease = leases  # the daemon built as build_daemon does for --shard
    daemon._report._lease = leases
    return daemon


def reconciled(daemon: Daemon) -> set[str]:
    return {s["name"] for s in daemon.report()["services"]}


def test_three_daemons_split_the_fleet_and_take_over_a_dead_peers_shard(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert sandbox.seeded is not None
    made = fleet.create_fleet(sandbox.aws(), sandbox.seeded, tmp_path / "desired", 9)
    sandbox.clock.speed = 0
    sandbox.clock.advance(600)
    source = LocalSource(paths=[made.path.parent])
    names = {s.name for s in made.specs}
    homes = {k: {n for n in names if shard_of(n, 3) == k} for k in (1, 2, 3)}
    assert all(homes.values()), homes  # 9 names land in every one of 3 shards

    daemons = {k: sharded_daemon(sandbox, source, Shard(k, 3), f"d{k}") for k in (1, 2, 3)}
    for daemon in daemons.values():
        daemon.start()
    try:
        for k, daemon in daemons.items():
            wait_for(lambda: reconciled(daemon) == homes[k], timeout=60, what=f"d{k}")  # noqa: B023
            assert daemon.report()["shards"] == {"home": f"{k}/3", "held": [k]}

        daemons[2].stop(release=False)  # killed: its lease is left to expire
        killed = time.monotonic()
        took = wait_for(
            lambda: any(2 in daemons[k].report()["shards"]["held"] for k in (1, 3)),
            timeout=DURATION + 5,
            what="a survivor to take shard 2",
        )
        taker = next(k for k in (1, 3) if 2 in daemons[k].report()["shards"]["held"])
        wait_for(
            lambda: homes[2] <= reconciled(daemons[taker]),
            timeout=10,
            what="the taker to reconcile shard 2's services",
        )
        reconciling = time.monotonic() - killed
        other = 4 - taker
        assert daemons[other].report()["shards"]["held"] == [other]  # exactly one took it

        back = sharded_daemon(sandbox, source, Shard(2, 3), "d2-again")
        back.start()
        try:
            handed = wait_for(
                lambda: (
                    back.report()["shards"]["held"] == [2]
                    and daemons[taker].report()["shards"]["held"] == [taker]
                ),
                timeout=10,
                what="shard 2 handed back to its returning daemon",
            )
        finally:
            back.stop()
    finally:
        for daemon in daemons.values():
            daemon.stop()
    # The lease's duration, then at most a renewal period (plus the test's polling).
    assert took < DURATION + RENEW + 1.0, took
    print(
        f"takeover {took:.2f} s, services reconciled {reconciling:.2f} s, handback {handed:.2f} s"
    )
