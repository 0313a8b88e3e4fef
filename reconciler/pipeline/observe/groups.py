"""Auto Scaling groups: read every tick, in batches, since capacity and instances drift."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.aws import Aws
from reconciler.model import ObservedAutoScalingGroup
from reconciler.pipeline.observe.batches import BatchedDescribe
from reconciler.pipeline.observe.shapes import parse_group

_DESCRIBE = BatchedDescribe(
    "autoscaling",
    "describe_auto_scaling_groups",
    per_call=100,  # with MaxRecords=100; AWS allows 50 names without it
    page_size=100,
    member="AutoScalingGroups",
    request=lambda names: {"AutoScalingGroupNames": names},
)


def describe_groups(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedAutoScalingGroup]:
    groups = (parse_group(raw) for raw in _DESCRIBE.records(aws, region, names))
    return {group.name: group for group in groups}
