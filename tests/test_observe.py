"""observe: a steady-state tick costs a bounded number of AWS calls at any fleet size (rule 7),
and what it skips or caches is still seen: hand edits, hand-started refreshes, our own writes.

Counts come from botocore's event hooks (``Aws.calls``), against the sandbox over HTTP.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks import fleet
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import (
    TAG_OWNER,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    Phase,
    scaling_policy_name,
)
from reconciler.pipeline.observe import Observer, quiet_signature
from reconciler.pipeline.observe.batches import batched
from reconciler.pipeline.observe.memory import ExpiringCache
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.sandbox import Sandbox

STEADY = Counter(
    {"DescribeAutoScalingGroups": 1, "DescribeLaunchTemplates": 1, "DescribeTargetGroups": 1}
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def converged(
    sandbox: Sandbox, aws: Aws, tmp_path: Path, count: int
) -> tuple[Reconciler, fleet.Fleet, FakeClock]:
    """``count`` services in sync and a reconciler that has converged on them (a warm cache)."""
    assert sandbox.seeded is not None
    made = fleet.create_fleet(aws, sandbox.seeded, tmp_path / "desired", count)
    sandbox.clock.speed = 0
    sandbox.clock.advance(600)  # instances in service and healthy
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    clock = FakeClock()
    reconciler.observer = Observer(aws, clock=clock)
    fleet.converge(reconciler, made.specs, sandbox.clock)
    return reconciler, made, clock


def tick(reconciler: Reconciler, made: fleet.Fleet) -> dict[str, ServiceOutcome]:
    return {o.name: o for o in fleet.tick(reconciler, made.specs)}


def calls_of_one_tick(aws: Aws, reconciler: Reconciler, made: fleet.Fleet) -> Counter[str]:
    aws.reset_counts()
    outcomes = fleet.tick(reconciler, made.specs)
    assert fleet.in_sync(outcomes), [o.diff for o in outcomes if o.diff and not o.diff.in_sync]
    return Counter(aws.calls)


# ------------------------------------------------------------------------------------------------
# Bounded calls
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 25])
def test_a_steady_tick_costs_three_calls_whatever_the_fleet_size(
    sandbox, aws: Aws, tmp_path: Path, count: int
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, count)
    for _ in range(3):
        clock.now += 30
        assert calls_of_one_tick(aws, reconciler, made) == STEADY


def test_the_first_tick_reads_everything_and_the_ttl_tick_reads_tags_and_policies(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    assert sandbox.seeded is not None
    made = fleet.create_fleet(aws, sandbox.seeded, tmp_path / "desired", 25)
    sandbox.clock.advance(600)
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    clock = FakeClock()
    reconciler.observer = Observer(aws, clock=clock, refresh_recheck=3600)
    aws.reset_counts()
    fleet.tick(reconciler, made.specs)
    assert aws.calls["DescribeInstanceRefreshes"] == 25  # a new observer has no memory
    assert aws.calls["DescribeTags"] == 2 and aws.calls["DescribePolicies"] == 1

    clock.now += reconciler.observer.tags_ttl
    calls = calls_of_one_tick(aws, reconciler, made)
    assert calls == STEADY + Counter({"DescribeTags": 2, "DescribePolicies": 1})


def test_refresh_rechecks_are_one_a_tick_oldest_first(sandbox, aws: Aws, tmp_path: Path) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    clock.now += reconciler.observer.refresh_recheck + 1
    seen: list[Counter[str]] = []
    for _ in range(4):
        calls = calls_of_one_tick(aws, reconciler, made)
        calls.subtract({"DescribeTags": calls["DescribeTags"]})  # the TTL tick's, counted above
        calls.subtract({"DescribePolicies": calls["DescribePolicies"]})
        seen.append(+calls)
    refreshes = [c["DescribeInstanceRefreshes"] for c in seen]
    assert refreshes == [1, 1, 1, 0]  # each group once, then none due


# ------------------------------------------------------------------------------------------------
# What is skipped or cached is still seen
# ------------------------------------------------------------------------------------------------


def test_a_hand_edited_health_check_is_seen_on_the_next_tick(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    arn = aws.call("elbv2", "describe_target_groups", Names=["svc-001-tg"])["TargetGroups"][0][
        "TargetGroupArn"
    ]
    sandbox.aws().call("elbv2", "modify_target_group", TargetGroupArn=arn, HealthCheckPath="/x")
    clock.now += 30
    outcome = tick(reconciler, made)["svc-001"]
    assert outcome.diff is not None
    assert [c.field for c in outcome.diff.changes] == ["healthCheck.path"]
    assert outcome.applied is not None and outcome.applied.done  # corrected in the same tick
    clock.now += 30
    assert calls_of_one_tick(aws, reconciler, made) == STEADY


def test_a_removed_owner_tag_on_a_target_group_is_seen_within_the_ttl(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    arn = aws.call("elbv2", "describe_target_groups", Names=["svc-002-tg"])["TargetGroups"][0][
        "TargetGroupArn"
    ]
    sandbox.aws().call("elbv2", "remove_tags", ResourceArns=[arn], TagKeys=[TAG_OWNER])
    clock.now += 30
    assert tick(reconciler, made)["svc-002"].diff.in_sync  # type: ignore[union-attr]
    clock.now += reconciler.observer.tags_ttl
    outcome = tick(reconciler, made)["svc-002"]
    assert outcome.diff is not None and [c.field for c in outcome.diff.changes] == ["tags"]
    tags = aws.call("elbv2", "describe_tags", ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    assert {t["Key"] for t in tags} >= {TAG_OWNER}  # re-tagged


def test_a_hand_edited_policy_is_seen_within_the_ttl(sandbox, aws: Aws, tmp_path: Path) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    edit_policy(sandbox.aws(), "svc-000", 55.0)
    clock.now += reconciler.observer.policies_ttl
    outcome = tick(reconciler, made)["svc-000"]
    assert outcome.diff is not None
    assert [(c.old, c.new) for c in outcome.diff.changes] == [(55.0, 70.0)]


def test_a_policy_written_through_our_clients_is_read_again_at_once(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    edit_policy(aws, "svc-000", 55.0)  # the reconciler's own Aws: the observer hears it
    clock.now += 1
    aws.reset_counts()
    outcome = tick(reconciler, made)["svc-000"]
    assert aws.calls["DescribePolicies"] == 1
    assert outcome.diff is not None and [c.new for c in outcome.diff.changes] == [70.0]


def edit_policy(aws: Aws, service: str, target: float) -> None:
    aws.call(
        "autoscaling",
        "put_scaling_policy",
        AutoScalingGroupName=f"{service}-asg",
        PolicyName=scaling_policy_name(service),
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": target,
        },
    )


def test_a_refresh_started_by_hand_elsewhere_is_seen_on_the_next_tick(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    started = sandbox.aws().call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName="svc-001-asg",
        Preferences={"MinHealthyPercentage": 0},
    )["InstanceRefreshId"]
    sandbox.clock.advance(30)
    clock.now += 30
    aws.reset_counts()
    outcomes = tick(reconciler, made)
    assert aws.calls["DescribeInstanceRefreshes"] == 1  # only the group whose picture changed
    observed = outcomes["svc-001"].observed
    assert observed is not None and observed.refreshes[0].refresh_id == started
    assert observed.refreshes[0].status.active
    assert outcomes["svc-001"].diff is not None
    assert outcomes["svc-001"].diff.phase is Phase.PROGRESSING


def test_a_refresh_started_through_our_clients_is_seen_on_the_next_tick(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    started = aws.call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName="svc-002-asg",
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200},
    )["InstanceRefreshId"]
    clock.now += 1
    outcome = tick(reconciler, made)["svc-002"]
    assert outcome.observed is not None and outcome.observed.refreshes[0].refresh_id == started


def test_a_write_to_a_group_through_our_clients_reads_its_refreshes_again(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, clock = converged(sandbox, aws, tmp_path, 3)
    aws.call(
        "autoscaling",
        "create_or_update_tags",
        Tags=[
            {
                "ResourceId": "svc-001-asg",
                "ResourceType": "auto-scaling-group",
                "Key": "k",
                "Value": "v",
                "PropagateAtLaunch": False,
            }
        ],
    )
    clock.now += 1
    assert calls_of_one_tick(aws, reconciler, made) == STEADY + Counter(
        {"DescribeInstanceRefreshes": 1}
    )
    assert calls_of_one_tick(aws, reconciler, made) == STEADY  # once: the group is quiet again


def test_a_group_not_running_the_wanted_fingerprint_reads_its_refreshes_every_tick(
    sandbox, aws: Aws, tmp_path: Path
) -> None:
    reconciler, made, _ = converged(sandbox, aws, tmp_path, 3)
    outcomes = fleet.tick(reconciler, made.specs)
    running = {o.name: o.desired.fingerprint for o in outcomes if o.desired is not None}
    observer = reconciler.observer
    aws.reset_counts()
    observer.observe(made.specs, fingerprints=running)
    assert aws.calls["DescribeInstanceRefreshes"] == 0  # every group runs what is wanted

    for _ in range(2):  # a rollout is due for svc-001: the diff needs its refresh history
        aws.reset_counts()
        observer.observe(made.specs, fingerprints={**running, "svc-001": "0" * 16})
        assert aws.calls["DescribeInstanceRefreshes"] == 1


def test_memory_follows_the_desired_services(sandbox, aws: Aws, tmp_path: Path) -> None:
    reconciler, made, _ = converged(sandbox, aws, tmp_path, 3)
    fleet.tick(reconciler, made.specs[:1])
    observer = reconciler.observer
    memory = observer._memory
    assert len(memory.refreshes) == len(memory.policies) == len(memory.target_group_tags) == 1
    assert len(observer.cache.versions) == 1


# ------------------------------------------------------------------------------------------------
# Quiet groups
# ------------------------------------------------------------------------------------------------

TEMPLATE = ObservedLaunchTemplate(id="lt-1", name="t", default_version=1, latest_version=3)


def group(
    *instances: ObservedInstance, version: str = "3", capacity: int = 2
) -> ObservedAutoScalingGroup:
    return ObservedAutoScalingGroup(
        name="g",
        arn="",
        min_size=1,
        max_size=4,
        desired_capacity=capacity,
        health_check_type="ELB",
        health_check_grace_period=300,
        launch_template_id="lt-1",
        launch_template_name="t",
        launch_template_version=version,
        instances=instances,
    )


def instance(
    iid: str, *, state: str = "InService", health: str = "Healthy", version: str | None = "3"
) -> ObservedInstance:
    return ObservedInstance(iid, "us-east-1a", state, health, version)


def test_a_group_is_quiet_only_when_every_instance_is_settled_on_its_version() -> None:
    assert quiet_signature(group(instance("i-1"), instance("i-2")), TEMPLATE) is not None
    assert quiet_signature(group(instance("i-1"), instance("i-2", version="$Latest")), TEMPLATE)
    not_quiet = [
        group(instance("i-1"), instance("i-2", state="Pending")),
        group(instance("i-1"), instance("i-2", health="Unhealthy")),
        group(instance("i-1"), instance("i-2", version="2")),
        group(instance("i-1"), instance("i-2", version=None)),
        group(instance("i-1")),  # fewer than the desired capacity
        group(instance("i-1"), instance("i-2"), version="$Weird"),
    ]
    assert [quiet_signature(g, TEMPLATE) for g in not_quiet] == [None] * len(not_quiet)
    assert quiet_signature(group(instance("i-1"), instance("i-2")), None) is None


def test_a_replaced_instance_changes_the_picture() -> None:
    before = quiet_signature(group(instance("i-1"), instance("i-2")), TEMPLATE)
    after = quiet_signature(group(instance("i-1"), instance("i-3")), TEMPLATE)
    assert before is not None and after is not None and before != after


# ------------------------------------------------------------------------------------------------
# The pieces the Observer is built from
# ------------------------------------------------------------------------------------------------


def test_batched_asks_each_name_once_and_at_most_per_call_a_call() -> None:
    asked: list[list[str]] = []

    def read(chunk: list[str]) -> list[dict[str, Any]]:
        asked.append(chunk)
        return [{"Items": [{"Name": n} for n in chunk]}]

    names = ["c", "a", "b", "a", "d", "e"]
    found = [raw["Name"] for raw in batched(names, 2, read, member="Items")]
    assert asked == [["a", "b"], ["c", "d"], ["e"]]
    assert found == ["a", "b", "c", "d", "e"]


def test_the_expiring_cache_fetches_only_what_is_stale_or_dropped() -> None:
    cache: ExpiringCache[list[str]] = ExpiringCache()
    fetched: list[list[str]] = []

    def values(now: float) -> dict[str, list[str]]:
        def fetch(keys: list[str]) -> dict[str, list[str]]:
            fetched.append(keys)
            return {k: [k.upper()] for k in keys if k != "gone"}

        return cache.values("r", ["a", "gone"], now=now, ttl=10, fetch=fetch, absent=list)

    assert values(0) == {"a": ["A"], "gone": []}  # a name AWS lacks is remembered as absent
    assert values(9) == {"a": ["A"], "gone": []}
    cache.drop("r", "a")  # one of our writes
    values(9)
    values(10)  # the TTL is up for "gone", not for "a", read again at 9
    assert fetched == [["a", "gone"], [], ["a"], ["gone"]]
    cache.keep_only("r", {"gone"})
    assert len(cache) == 1


def test_the_scaling_policy_name_is_the_persistent_format_earlier_releases_wrote() -> None:
    # Renaming it would orphan every policy created before: the observer would stop seeing them.
    assert scaling_policy_name("feedback") == "asg-reconciler-feedback-cpu"
