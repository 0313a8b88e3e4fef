"""The API floor of one observation: the fewest calls AWS's per-call limits allow.

For N services in sync (each its own group, launch template, target group and scaling policy)
whose pinned records are trusted, T target groups and P scaling policies in the region (both
listed region-wide: 400 and 100 a page), an observation costs exactly::

    ceil(N/100) DescribeAutoScalingGroups + ceil(N/200) DescribeLaunchTemplates
    + ceil(T/400) DescribeTargetGroups + ceil(N/20) DescribeTags (elbv2)
    + ceil(P/100) DescribePolicies

and a warm one (the daemon's steady tick, tags and policies cached for their TTL) only the first
three terms. Nothing per group: DescribeInstanceRefreshes and DescribeLaunchTemplateVersions are
read only for the groups that need it (``records``). The limits are the ones the readers use.
"""

from __future__ import annotations

from math import ceil

from reconciler.pipeline.observe.groups import ASG_NAMES_PER_CALL
from reconciler.pipeline.observe.policies import POLICIES_PER_PAGE
from reconciler.pipeline.observe.target_groups import TAG_ARNS_PER_CALL, TARGET_GROUPS_PER_PAGE
from reconciler.pipeline.observe.templates import LT_NAMES_PER_FILTER


def floor_calls(
    services: int, *, target_groups: int, policies: int | None = None, warm: bool = False
) -> dict[str, int]:
    """The floor, by operation, for ``services`` services (see the module docstring);
    ``policies``: the scaling policies in the region (default: one a service)."""
    calls = {
        "DescribeAutoScalingGroups": ceil(services / ASG_NAMES_PER_CALL),
        "DescribeLaunchTemplates": ceil(services / LT_NAMES_PER_FILTER),
        "DescribeTargetGroups": max(1, ceil(target_groups / TARGET_GROUPS_PER_PAGE)),
    }
    if not warm:
        calls["DescribeTags"] = ceil(services / TAG_ARNS_PER_CALL)
        listed = services if policies is None else policies
        calls["DescribePolicies"] = max(1, ceil(listed / POLICIES_PER_PAGE))
    return {k: v for k, v in calls.items() if v}
