"""lease: conditional writes in the sandbox's DynamoDB decide which daemon may write."""

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.aws import Aws
from reconciler.daemon.lease import Lease, holder_id

TABLE = "asg-reconciler-leases"


class Clock:
    """A clock the test moves by hand (wall or monotonic)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_lease(
    aws: Aws, holder: str, *, wall: Clock, mono: Clock | None = None, duration: float = 30.0
) -> Lease:
    return Lease(
        aws=aws,
        table=TABLE,
        name="asg-reconciler",
        holder=holder,
        duration=duration,
        renew_every=duration / 3,
        wall_clock=wall,
        monotonic=mono or Clock(0.0),
    )


def item(aws: Aws) -> dict[str, str] | None:
    found = aws.call(
        "dynamodb",
        "get_item",
        TableName=TABLE,
        Key={"lease": {"S": "asg-reconciler"}},
        ConsistentRead=True,
    ).get("Item")
    return {k: next(iter(v.values())) for k, v in found.items()} if found else None


def test_first_acquires_creating_the_table_and_second_stands_by(sandbox) -> None:
    wall = Clock()
    first = make_lease(sandbox.aws(), "first", wall=wall)
    second = make_lease(sandbox.aws(), "second", wall=wall)

    assert first.ensure() and first.held()
    assert not second.ensure() and not second.held()
    assert second.leader == "first"
    table = first.aws.call("dynamodb", "describe_table", TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert item(first.aws) == {
        "lease": "asg-reconciler",
        "holder": "first",
        "expires": "1700000030.000",
    }


def test_renewal_keeps_the_lease_and_a_standby_cannot_take_it(sandbox) -> None:
    wall = Clock()
    first = make_lease(sandbox.aws(), "first", wall=wall)
    second = make_lease(sandbox.aws(), "second", wall=wall)
    assert first.ensure()
    for _ in range(4):  # 40 s in all, past the first expiry, but renewed every 10 s
        wall.now += 10
        assert first.ensure()
        assert not second.ensure()
    assert item(first.aws)["holder"] == "first"  # type: ignore[index]


def test_a_standby_takes_over_once_the_holder_stops_renewing(sandbox) -> None:
    wall = Clock()
    first = make_lease(sandbox.aws(), "first", wall=wall)
    second = make_lease(sandbox.aws(), "second", wall=wall)
    assert first.ensure()
    wall.now += 29  # not expired yet
    assert not second.ensure()
    wall.now += 2  # expired: the holder "crashed" without releasing
    assert second.ensure() and second.held()
    assert not first.renew()  # the old holder learns it lost, and stops writing
    assert not first.held()


def test_release_hands_over_at_once(sandbox) -> None:
    wall = Clock()
    first = make_lease(sandbox.aws(), "first", wall=wall)
    second = make_lease(sandbox.aws(), "second", wall=wall)
    assert first.ensure()
    first.release()
    assert not first.held()
    assert item(first.aws) is None
    assert second.ensure()


def test_a_non_holder_release_deletes_nothing(sandbox) -> None:
    wall = Clock()
    first = make_lease(sandbox.aws(), "first", wall=wall)
    second = make_lease(sandbox.aws(), "second", wall=wall)
    assert first.ensure()
    assert not second.ensure()
    second.release()
    assert item(first.aws)["holder"] == "first"  # type: ignore[index]


def test_a_holder_stops_writing_before_expiry_without_renewal(sandbox) -> None:
    mono = Clock(0.0)
    lease = make_lease(sandbox.aws(), "first", wall=Clock(), mono=mono)
    assert lease.ensure()
    mono.now = 23.9
    assert lease.held()
    mono.now = 24.1  # 80% of 30 s: the safety margin against clock skew between hosts
    assert not lease.held()


def test_aws_trouble_means_not_leading_rather_than_a_crash(sandbox) -> None:
    lease = Lease(
        aws=Aws(region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1),
        table=TABLE,
        name="x",
        duration=3,
        renew_every=1,
    )
    assert lease.ensure() is False


def test_without_create_table_a_missing_table_is_an_error_not_a_lease(sandbox) -> None:
    lease = Lease(aws=sandbox.aws(), table="absent", name="x", create_table=False)
    assert lease.ensure() is False


def test_renewal_must_come_well_before_expiry(aws: Aws) -> None:
    with pytest.raises(errors.UsageError):
        Lease(aws=aws, table=TABLE, name="x", duration=10, renew_every=9)


def test_holder_ids_are_unique_per_instance() -> None:
    assert holder_id() != holder_id()
