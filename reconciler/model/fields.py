"""THE table of managed settings: desired.yaml name ↔ model attribute ↔ AWS member ↔ AWS default.

Every reader and writer of a group or health-check setting goes through these rows: ``desired``
builds specs from the YAML names, ``observe`` parses AWS's responses with the AWS members and
defaults, ``diff`` compares and reports the attributes under the YAML names, and ``apply`` sends
the AWS members. A setting added here is loaded, observed, diffed and written everywhere at once.

The defaults are what AWS reports when a member is absent from a response (ELB's documented
health-check defaults, Auto Scaling's ``HealthCheckType`` EC2 and grace period 0); ``None`` marks
a member AWS always returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    yaml: str  # the key under its desired.yaml section, e.g. "intervalSeconds"
    attr: str  # the attribute on the spec and observed dataclasses
    aws: str  # the API member; a dot nests it, e.g. "Matcher.HttpCode"
    aws_default: str | int | None  # what AWS means when the member is absent
    kind: type[str] | type[int]  # how a value from YAML or AWS is normalised
    # The file may omit it, and then the reconciler leaves it as AWS has it (not managed).
    optional: bool = True

    def from_aws(self, raw: Mapping[str, Any]) -> str | int:
        *outer, last = self.aws.split(".")
        for key in outer:
            raw = raw.get(key, {})
        if self.aws_default is None:
            return self.kind(raw[last])
        return self.kind(raw.get(last, self.aws_default))

    def to_aws(self, value: object) -> dict[str, Any]:
        *outer, last = self.aws.split(".")
        member: dict[str, Any] = {last: value}
        for key in reversed(outer):
            member = {key: member}
        return member


# ELB CreateTargetGroup / ModifyTargetGroup / DescribeTargetGroups (see aws-facts 3.2), in the
# order the diff reports them.
HEALTH_CHECK: tuple[Field, ...] = (
    Field("path", "path", "HealthCheckPath", "/", str),
    Field("port", "port", "HealthCheckPort", "traffic-port", str),
    Field("protocol", "protocol", "HealthCheckProtocol", "HTTP", str),
    Field("intervalSeconds", "interval_seconds", "HealthCheckIntervalSeconds", 30, int),
    Field("timeoutSeconds", "timeout_seconds", "HealthCheckTimeoutSeconds", 5, int),
    Field("healthyThreshold", "healthy_threshold", "HealthyThresholdCount", 5, int),
    Field("unhealthyThreshold", "unhealthy_threshold", "UnhealthyThresholdCount", 2, int),
    Field("matcher", "matcher", "Matcher.HttpCode", "200", str),
)

# Auto Scaling UpdateAutoScalingGroup / DescribeAutoScalingGroups (see aws-facts 2).
GROUP: tuple[Field, ...] = (
    Field("minSize", "min_size", "MinSize", None, int, optional=False),
    Field("maxSize", "max_size", "MaxSize", None, int, optional=False),
    Field("desiredCapacity", "desired_capacity", "DesiredCapacity", None, int),
    Field("healthCheckType", "health_check_type", "HealthCheckType", "EC2", str),
    Field("healthCheckGracePeriod", "health_check_grace_period", "HealthCheckGracePeriod", 0, int),
)


def from_yaml(fields: Iterable[Field], section: Mapping[str, Any]) -> dict[str, Any]:
    """Model attributes from a desired.yaml section; an absent key is ``None``."""
    return {
        f.attr: None if (value := section.get(f.yaml)) is None else f.kind(value) for f in fields
    }


def from_aws(fields: Iterable[Field], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Model attributes from an AWS response, with AWS's defaults for absent members."""
    return {f.attr: f.from_aws(raw) for f in fields}


def to_aws(fields: Iterable[Field], values: Mapping[str, object]) -> dict[str, Any]:
    """AWS parameters for the given attributes (only those present in ``values``)."""
    params: dict[str, Any] = {}
    for f in fields:
        if f.attr in values:
            params.update(f.to_aws(values[f.attr]))
    return params


def by_yaml(fields: Iterable[Field], name: str) -> Field:
    return next(f for f in fields if f.yaml == name)
