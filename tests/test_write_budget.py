"""The write budget: token buckets per (account, region, API family), their parsing and flags
(pure cases), and every write of an ``Aws`` waiting on them against the sandbox."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from reconciler import errors
from reconciler.aws import Aws
from reconciler.aws.budget import DEFAULT_RATES, Bucket, Rate, WriteBudget, parse_rates
from reconciler.cli import options
from reconciler.model.waves import RolloutLimits
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import Seeded

# (rate, burst, tokens before, seconds since, max wait) -> wait (None: refused), tokens after
BUCKETS = [
    pytest.param(1.0, 5.0, 5.0, 0.0, 10.0, 0.0, 4.0, id="a full bucket: no wait"),
    pytest.param(1.0, 5.0, 0.0, 0.0, 10.0, 1.0, -1.0, id="empty: wait one refill"),
    pytest.param(2.0, 5.0, 0.0, 0.0, 10.0, 0.5, -1.0, id="empty at 2/s: half a second"),
    pytest.param(1.0, 5.0, -2.0, 0.0, 10.0, 3.0, -3.0, id="two ahead in line: wait three"),
    pytest.param(1.0, 5.0, 0.0, 2.5, 10.0, 0.0, 1.5, id="refilled meanwhile"),
    pytest.param(1.0, 5.0, 0.0, 100.0, 10.0, 0.0, 4.0, id="never above the burst"),
    pytest.param(1.0, 5.0, -9.5, 0.0, 10.0, None, -9.5, id="past max wait"),
    pytest.param(0.5, 1.0, 0.0, 0.0, 2.0, 2.0, -1.0, id="exactly the max wait"),
    pytest.param(10.0, 10.0, 0.5, 0.0, 1.0, 0.05, -0.5, id="part of a token"),
]


@pytest.mark.parametrize(("rate", "burst", "tokens", "since", "max_wait", "wait", "after"), BUCKETS)
def test_bucket_reserve(
    rate: float, burst: float, tokens: float, since: float, max_wait: float,
    wait: float | None, after: float,
) -> None:  # fmt: skip
    bucket = Bucket(Rate(rate, burst), tokens, updated=100.0)
    got = bucket.reserve(100.0 + since, max_wait=max_wait)
    if wait is None:
        assert got is None
    else:
        assert got == pytest.approx(wait)
    assert bucket.tokens == pytest.approx(after)


def test_a_steady_stream_of_writes_keeps_to_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = WriteBudget(
        rates={"ec2": Rate(2.0, 10.0)}, max_wait=60.0, clock=lambda: now[0], sleep=sleep
    )
    for _ in range(110):
        assert budget.take(("a", "us-east-1", "ec2")) is not None
    # 10 from the burst, then 100 at 2 per second: 50 s, never faster.
    assert now[0] == pytest.approx(50.0)
    assert len(slept) == 100
    # Buckets are per (account, region, family): the others are full.
    before = now[0]
    for key in [
        ("b", "us-east-1", "ec2"),
        ("a", "eu-west-1", "ec2"),
        ("a", "us-east-1", "dynamodb"),
    ]:
        assert budget.take(key) == 0.0
    assert now[0] == before


@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("", {}),
        ("ec2=1", {"ec2": Rate(1.0, 1.0)}),
        ("ec2=1/5 autoscaling=0.5/2", {"ec2": Rate(1.0, 5.0), "autoscaling": Rate(0.5, 2.0)}),
        ("elbv2=3/3,ec2=2/4", {"elbv2": Rate(3.0, 3.0), "ec2": Rate(2.0, 4.0)}),
    ],
)
def test_parse_rates(text: str, rates: dict[str, Rate]) -> None:
    assert parse_rates(text) == rates


@pytest.mark.parametrize(
    "text", ["ec2", "ec2=", "ec2=x", "ec2=0", "ec2=-1", "ec2=1/0", "s3=1", "ec2=1/x", "ec2=1e9"]
)
def test_parse_rates_refuses_with_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="allowed FAMILY=RATE"):
        parse_rates(text)


def test_the_defaults_are_below_what_aws_publishes() -> None:
    # EC2 mutating actions: 5/s into 50; ELB's published non-mutating refill: 10/s into 40.
    assert DEFAULT_RATES["ec2"].per_second < 5 and DEFAULT_RATES["ec2"].burst < 50
    assert DEFAULT_RATES["elbv2"].per_second < 10 and DEFAULT_RATES["elbv2"].burst < 40
    assert set(DEFAULT_RATES) == {"ec2", "elbv2", "autoscaling"}


def _args(*rates: str, wait: str = "60") -> argparse.Namespace:
    return argparse.Namespace(write_rate=list(rates), write_wait_max=wait)


def test_the_flags_make_the_budget() -> None:
    budget = options.write_budget(_args("ec2=1/3", wait="5"))
    assert budget.rates["ec2"] == Rate(1.0, 3.0)
    assert budget.rates["autoscaling"] == DEFAULT_RATES["autoscaling"]
    assert budget.max_wait == 5.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_args("ec2=fast"), "--write-rate: 'ec2=fast': allowed FAMILY=RATE"),
        (_args(wait="-1"), "--write-wait-max: '-1': allowed seconds from 0 to 3600"),
        (_args(wait="soon"), "--write-wait-max: 'soon'"),
    ],
)
def test_bad_budget_flags_are_usage_errors(args: argparse.Namespace, message: str) -> None:
    with pytest.raises(errors.UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        options.write_budget(args)


@pytest.mark.parametrize(
    ("total", "per_account", "limits"),
    [
        (None, [], RolloutLimits()),
        ("5", [], RolloutLimits(total=5)),
        (None, ["2"], RolloutLimits(per_account=2)),
        ("10", ["2", "111111111111=4"], RolloutLimits(10, 2, {"111111111111": 4})),
        (None, ["default=1"], RolloutLimits(accounts={"default": 1})),
    ],
)
def test_rollout_limit_flags(
    total: str | None, per_account: list[str], limits: RolloutLimits
) -> None:
    assert options.rollout_limits(total, per_account) == limits


@pytest.mark.parametrize(
    ("total", "per_account", "message"),
    [
        ("0", [], "--max-concurrent-rollouts: '0': allowed a whole number"),
        ("many", [], "--max-concurrent-rollouts: 'many'"),
        (None, ["1234=2"], "ACCOUNT=N with a 12-digit account id"),
        (None, ["111111111111=0"], "allowed a whole number from 1"),
    ],
)
def test_bad_rollout_limit_flags(total: str | None, per_account: list[str], message: str) -> None:
    with pytest.raises(errors.UsageError, match=message):
        options.rollout_limits(total, per_account)


# -- every write of an Aws waits on it, against the sandbox ------------------------------------


def test_writes_wait_for_the_budget_and_reads_never_do(sandbox: Sandbox, seeded: Seeded) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = WriteBudget(
        rates={"ec2": Rate(1.0, 2.0)}, max_wait=10.0, clock=lambda: now[0], sleep=sleep
    )
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint, budget=budget)
    for _ in range(5):
        aws.call("ec2", "describe_vpcs")
    assert slept == []
    for i in range(4):
        aws.call(
            "ec2", "create_tags", Resources=[seeded.vpc_id], Tags=[{"Key": f"k{i}", "Value": "v"}]
        )
    assert slept == pytest.approx([1.0, 1.0])  # two from the burst, then one a second
    tags = aws.call(
        "ec2", "describe_tags", Filters=[{"Name": "resource-id", "Values": [seeded.vpc_id]}]
    )
    assert {"k0", "k1", "k2", "k3"} <= {t["Key"] for t in tags["Tags"]}


def test_a_write_that_would_wait_too_long_is_given_up_unsent(
    sandbox: Sandbox, seeded: Seeded
) -> None:
    now = [0.0]
    budget = WriteBudget(
        rates={"ec2": Rate(0.1, 1.0)}, max_wait=5.0, clock=lambda: now[0], sleep=lambda s: None
    )
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint, budget=budget)
    heard: list[tuple[str, str, str, str]] = []
    aws.on_throttle(lambda *args: heard.append(args))
    tag: dict[str, Any] = {"Resources": [seeded.vpc_id], "Tags": [{"Key": "k", "Value": "v"}]}
    aws.call("ec2", "create_tags", **tag)
    with pytest.raises(errors.AwsRateLimited) as held:
        aws.call("ec2", "create_tags", **tag)
    assert isinstance(held.value, errors.TemporaryError)  # retried next pass, never a failure
    assert "write budget for ec2 in us-east-1 (account default)" in str(held.value)
    assert (held.value.account, held.value.region, held.value.family) == (
        "default",
        "us-east-1",
        "ec2",
    )
    assert heard == [("default", "us-east-1", "ec2", "CreateTags")]
    assert aws.requests["CreateTags"] == 1  # the held write was never sent
    now[0] += 10.0  # the bucket refilled: the write goes
    aws.call("ec2", "create_tags", **tag)
    assert aws.requests["CreateTags"] == 2


def test_retries_are_botocores_adaptive_mode(sandbox: Sandbox) -> None:
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint)
    retries = aws.client("autoscaling").meta.config.retries
    # botocore counts the first attempt in total_max_attempts: 4 retries after it.
    assert retries == {"mode": "adaptive", "total_max_attempts": 5}
