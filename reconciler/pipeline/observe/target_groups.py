"""Target groups: listed every tick (health checks drift by hand); their tags cached with a TTL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ObservedTargetGroup
from reconciler.pipeline.observe.batches import chunks
from reconciler.pipeline.observe.memory import ExpiringCache
from reconciler.pipeline.observe.shapes import parse_target_group, tag_map

TAG_ARNS_PER_CALL = 20
TARGET_GROUPS_PER_PAGE = 400

TagCache = ExpiringCache[dict[str, str]]  # tags by target group ARN


def observe_target_groups(
    aws: Aws, region: str, names: set[str], *, tags: TagCache, now: float, ttl: float
) -> dict[str, ObservedTargetGroup]:
    """The target groups named in ``names``, by name; tags read only where ``tags`` is stale."""
    raw_groups = list_target_groups(aws, region, names)
    found = tags.values(
        region,
        list(raw_groups),
        now=now,
        ttl=ttl,
        fetch=lambda arns: describe_target_group_tags(aws, region, arns),
        absent=dict,
    )
    return {
        raw["TargetGroupName"]: parse_target_group(raw, found[arn])
        for arn, raw in raw_groups.items()
    }


def list_target_groups(aws: Aws, region: str, names: set[str]) -> dict[str, dict[str, Any]]:
    """The raw target groups named in ``names``, by ARN."""
    raw_groups: dict[str, dict[str, Any]] = {}
    # Listing all is one call for most accounts, and unlike Names it tolerates a missing group.
    for page in aws.pages(
        "elbv2",
        "describe_target_groups",
        region=region,
        PaginationConfig={"PageSize": TARGET_GROUPS_PER_PAGE},
    ):
        for raw in page.get("TargetGroups", []):
            if raw["TargetGroupName"] in names:
                raw_groups[raw["TargetGroupArn"]] = raw
    return raw_groups


def describe_target_group_tags(
    aws: Aws, region: str, arns: Sequence[str]
) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for chunk in chunks(list(arns), TAG_ARNS_PER_CALL):
        response = aws.call("elbv2", "describe_tags", region=region, ResourceArns=chunk)
        for desc in response.get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = tag_map(desc.get("Tags", []))
    return tags
