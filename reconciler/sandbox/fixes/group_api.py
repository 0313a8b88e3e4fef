"""CreateAutoScalingGroup and DescribeAutoScalingGroups parameters read as AWS reads them.

moto 5.2.5 gets two of them wrong:
- it stores a HealthCheckGracePeriod of 300 when the request leaves it out *and* when it sends 0.
  AWS's default from the SDK is 0, and an explicit 0 is kept
  ([M CreateAutoScalingGroup.HealthCheckGracePeriod] "Default: 0 seconds", UG-grace; row B7);
- it raises a bare ``ValueError`` for ``MaxRecords`` over 100, an HTTP 500 that botocore retries
  and then fails to parse. AWS refuses it as a client error ([M DescribeAutoScalingGroups]: at
  most 100; row B8), and so it does more than 50 names unless MaxRecords raises the limit.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.responses import AutoScalingResponse

from reconciler.sandbox import validation
from reconciler.sandbox.patching import original, patch

MAX_RECORDS_LIMIT = 100
DEFAULT_NAMES_LIMIT = 50


def install() -> None:
    patch(AutoScalingResponse, "create_auto_scaling_group", _create_auto_scaling_group)
    patch(AutoScalingResponse, "describe_auto_scaling_groups", _describe_auto_scaling_groups)


def _create_auto_scaling_group(self: Any) -> Any:
    answer = original(AutoScalingResponse, "create_auto_scaling_group")(self)
    group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
    if group is not None:
        group.health_check_grace_period = self._get_int_param("HealthCheckGracePeriod") or 0
    return answer


def _describe_auto_scaling_groups(self: Any) -> Any:
    check_max_records(self._get_int_param("MaxRecords"))
    names = self._get_param("AutoScalingGroupNames", [])
    limit = max(DEFAULT_NAMES_LIMIT, self._get_int_param("MaxRecords") or 0)
    if len(names) > limit:
        validation.refuse([validation.too_long(names, "autoScalingGroupNames", limit)])
    return original(AutoScalingResponse, "describe_auto_scaling_groups")(self)


def check_max_records(max_records: int | None) -> None:
    """MaxRecords is at most 100 on every Auto Scaling describe call."""
    if max_records is not None and max_records > MAX_RECORDS_LIMIT:
        validation.refuse([validation.above(max_records, "maxRecords", MAX_RECORDS_LIMIT)])
