"""The reconciler's own scaling policies: read by name, cached with a TTL (only we write them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ObservedScalingPolicy
from reconciler.pipeline.observe.batches import Pages, batched
from reconciler.pipeline.observe.memory import ExpiringCache
from reconciler.pipeline.observe.shapes import parse_policy

__all__ = [
    "PolicyCache",
    "describe_policies_by_name",
    "observe_policies",
]

POLICY_NAMES_PER_CALL = 50

PolicyCache = ExpiringCache[list[tuple[str, ObservedScalingPolicy]]]  # by policy name


def observe_policies(
    aws: Aws,
    region: str,
    names: Sequence[str],
    *,
    cache: PolicyCache,
    now: float,
    ttl: float,
) -> dict[str, list[ObservedScalingPolicy]]:
    """The policies named in ``names``, by group name; read only where ``cache`` is stale."""
    found = cache.values(
        region,
        sorted(set(names)),
        now=now,
        ttl=ttl,
        fetch=lambda stale: describe_policies_by_name(aws, region, stale),
        absent=list,
    )
    by_group: dict[str, list[ObservedScalingPolicy]] = {}
    for pairs in found.values():
        for group, policy in pairs:
            by_group.setdefault(group, []).append(policy)
    return by_group


def describe_policies_by_name(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, list[tuple[str, ObservedScalingPolicy]]]:
    """The reconciler's own policies, by policy name, as (group name, policy) pairs.

    Other policies are not ours to manage. A name is unique within a group, not an account.
    """

    def read(chunk: list[str]) -> Pages:
        params: dict[str, Any] = {"PolicyNames": chunk, "PaginationConfig": {"PageSize": 100}}
        return aws.pages("autoscaling", "describe_policies", region=region, **params)

    found: dict[str, list[tuple[str, ObservedScalingPolicy]]] = {}
    for raw in batched(names, POLICY_NAMES_PER_CALL, read, member="ScalingPolicies"):
        policy = parse_policy(raw)
        found.setdefault(policy.name, []).append((raw["AutoScalingGroupName"], policy))
    return found
