"""Auto Scaling groups: read every tick, in batches, since capacity and instances drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ObservedAutoScalingGroup
from reconciler.pipeline.observe.batches import Pages, batched
from reconciler.pipeline.observe.shapes import parse_group

ASG_NAMES_PER_CALL = 100  # with MaxRecords=100; AWS allows 50 names without it


def describe_groups(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedAutoScalingGroup]:
    def read(chunk: list[str]) -> Pages:
        params: dict[str, Any] = {
            "AutoScalingGroupNames": chunk,
            "PaginationConfig": {"PageSize": 100},
        }
        return aws.pages("autoscaling", "describe_auto_scaling_groups", region=region, **params)

    raws = batched(names, ASG_NAMES_PER_CALL, read, member="AutoScalingGroups")
    return {group.name: group for group in map(parse_group, raws)}
