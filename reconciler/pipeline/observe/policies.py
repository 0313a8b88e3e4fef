"""Every scaling policy on the services' groups, ours and hand-made: one region-wide read,
cached with a TTL (our own writes drop it at once).

Any policy on a group owns its capacity (issue 17 #8), so the diff must see all of them, not only
the one the reconciler names. DescribePolicies without names or a group lists the region's
policies, 100 a page (Auto Scaling API Reference, DescribePolicies: MaxRecords at most 100): for
a fleet whose groups hold about one policy each that is half the calls of asking by name (50
names a call), and it never calls once per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ObservedScalingPolicy
from reconciler.pipeline.observe.memory import ExpiringCache
from reconciler.pipeline.observe.shapes import parse_policy

__all__ = [
    "PolicyCache",
    "describe_policies_of_groups",
    "observe_policies",
]

PolicyCache = ExpiringCache[list[ObservedScalingPolicy]]  # by group name
POLICIES_PER_PAGE = 100


def observe_policies(
    aws: Aws,
    region: str,
    groups: Sequence[str],
    *,
    cache: PolicyCache,
    now: float,
    ttl: float,
) -> dict[str, list[ObservedScalingPolicy]]:
    """The policies on each of ``groups``, by group name; read only when ``cache`` is stale."""
    return cache.values(
        region,
        sorted(set(groups)),
        now=now,
        ttl=ttl,
        fetch=lambda stale: describe_policies_of_groups(aws, region, stale),
        absent=list,
    )


def describe_policies_of_groups(
    aws: Aws, region: str, groups: Sequence[str]
) -> dict[str, list[ObservedScalingPolicy]]:
    """Every policy on ``groups``, by group name; no call when ``groups`` is empty."""
    if not groups:
        return {}
    wanted = set(groups)
    params: dict[str, Any] = {"PaginationConfig": {"PageSize": POLICIES_PER_PAGE}}
    found: dict[str, list[ObservedScalingPolicy]] = {}
    for page in aws.pages("autoscaling", "describe_policies", region=region, **params):
        for raw in page.get("ScalingPolicies", []):
            group = raw["AutoScalingGroupName"]
            if group in wanted:
                found.setdefault(group, []).append(parse_policy(raw))
    return found
