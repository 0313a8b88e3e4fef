"""diff refuses what it has no right to touch, and leaves alone what the file does not manage:
issue 17 #2, #7 and #8 as plain data (the sandbox cases are in test_claims_e2e.py)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import Phase
from reconciler.pipeline.diff import diff
from reconciler.pipeline.observe.shapes import parse_group
from tests.factories import (
    GROUP,
    OWNER,
    TARGET_GROUP,
    TARGET_GROUP_ARN,
    desired_service,
    observed_service,
    with_group,
)

OTHER_ARN = TARGET_GROUP_ARN.replace("feedback-tg/0123456789abcdef", "other-tg/fedcba9876543210")


@pytest.mark.parametrize(
    ("attached", "blocked"),
    [
        ((TARGET_GROUP_ARN,), False),
        ((OTHER_ARN, TARGET_GROUP_ARN), False),
        ((), True),
        ((OTHER_ARN,), True),
    ],
)
def test_the_target_group_is_touched_only_when_the_group_is_attached_to_it(
    attached: tuple[str, ...], blocked: bool
) -> None:
    d = desired_service()
    o = with_group(observed_service(d), target_group_arns=attached, tags={})
    result = diff(d, o, owner=OWNER)
    if blocked:
        assert result.phase is Phase.BLOCKED and result.changes == ()
        assert f"target group {TARGET_GROUP} is not attached to auto scaling group {GROUP}" in (
            result.message
        )
    else:
        assert result.phase is not Phase.BLOCKED
        assert [c.field for c in result.changes] == ["tags"]  # adopting the group goes ahead


def _raw_group(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "AutoScalingGroupName": GROUP,
        "MinSize": 1,
        "MaxSize": 2,
        "DesiredCapacity": 1,
    }
    return {**base, **members}


@pytest.mark.parametrize(
    ("members", "arns"),
    [
        ({}, ()),
        ({"TargetGroupARNs": [TARGET_GROUP_ARN]}, (TARGET_GROUP_ARN,)),
        (
            {"TrafficSources": [{"Identifier": TARGET_GROUP_ARN, "Type": "elbv2"}]},
            (TARGET_GROUP_ARN,),
        ),
        (
            {
                "TargetGroupARNs": [TARGET_GROUP_ARN],
                "TrafficSources": [
                    {"Identifier": TARGET_GROUP_ARN, "Type": "elbv2"},
                    {"Identifier": OTHER_ARN, "Type": "elbv2"},
                ],
            },
            (TARGET_GROUP_ARN, OTHER_ARN),
        ),
        ({"TrafficSources": [{"Identifier": "my-classic-lb", "Type": "elb"}]}, ()),
        (
            {
                "TrafficSources": [
                    {"Identifier": "arn:aws:vpc-lattice:x:1:service/s", "Type": "vpc-lattice"}
                ]
            },
            (),
        ),
    ],
)
def test_attachments_are_read_from_both_of_the_apis_that_make_them(
    members: dict[str, Any], arns: tuple[str, ...]
) -> None:
    assert parse_group(_raw_group(**members)).target_group_arns == arns
