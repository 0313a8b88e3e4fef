"""observe's parsers on AWS's response shapes: refresh state (aws-facts 1.1, 1.14, R6, R7, R9)
and the ImageId of launch template versions (1.6, 4). Plain data in, model records out."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import RefreshStatus
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.observe.shapes import parse_refresh, parse_version

TEMPLATE_ID = "lt-0123456789abcdef0"


def raw_refresh(**members: Any) -> dict[str, Any]:
    return {"InstanceRefreshId": "rf-1", "Status": "InProgress", **members}


@pytest.mark.parametrize("status", [s for s in RefreshStatus if s is not RefreshStatus.UNKNOWN])
def test_every_aws_status_is_read(status: RefreshStatus) -> None:
    parsed = parse_refresh(raw_refresh(Status=status.value))
    assert parsed.status is status
    assert parsed.status_text == status.value


@pytest.mark.parametrize("value", ["Paused", "Expired", "", "inprogress"])
def test_a_status_this_release_does_not_know_is_kept_not_raised(value: str) -> None:
    parsed = parse_refresh(raw_refresh(Status=value))
    assert parsed.status is RefreshStatus.UNKNOWN
    assert parsed.status.active  # the safe reading: not started over nor cancelled
    assert not parsed.status.failed
    assert parsed.status_text == (value or "Unknown")


def test_rollback_details_are_read() -> None:
    parsed = parse_refresh(
        raw_refresh(
            Status="RollbackInProgress",
            RollbackDetails={
                "RollbackReason": "automatic",
                "RollbackStartTime": "2024-05-03T10:20:00Z",
                "PercentageCompleteOnRollback": 40,
                "InstancesToUpdateOnRollback": 3,
                "ProgressDetailsOnRollback": {"LivePoolProgress": {"PercentageComplete": 40}},
            },
        )
    )
    assert parsed.rollback == RollbackDetails(
        reason="automatic",
        start_time="2024-05-03T10:20:00Z",
        percentage_complete_on_rollback=40,
        instances_to_update_on_rollback=3,
    )


@pytest.mark.parametrize("members", [{}, {"RollbackDetails": {}}, {"RollbackDetails": None}])
def test_no_rollback_details_is_no_rollback(members: dict[str, Any]) -> None:
    assert parse_refresh(raw_refresh(**members)).rollback is None


@pytest.mark.parametrize(
    ("configuration", "version"),
    [
        (None, None),
        ({}, None),
        ({"LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID, "Version": "4"}}, "4"),
        # [M LaunchTemplateSpecification.Version]: omitted means $Default.
        ({"LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID}}, "$Default"),
        (
            {
                "MixedInstancesPolicy": {
                    "LaunchTemplate": {
                        "LaunchTemplateSpecification": {
                            "LaunchTemplateId": TEMPLATE_ID,
                            "Version": "7",
                        },
                        "Overrides": [{"InstanceType": "t3.micro"}],
                    }
                }
            },
            "7",
        ),
        (
            {"MixedInstancesPolicy": {"LaunchTemplate": {"LaunchTemplateSpecification": {}}}},
            None,
        ),
    ],
    ids=["absent", "empty", "template", "template-no-version", "mixed", "mixed-empty"],
)
def test_the_desired_configurations_version(
    configuration: dict[str, Any] | None, version: str | None
) -> None:
    members = {} if configuration is None else {"DesiredConfiguration": configuration}
    assert parse_refresh(raw_refresh(**members)).desired_version == version


@pytest.mark.parametrize(
    ("image_id", "from_ssm"),
    [
        ("ami-0123456789abcdef0", False),
        ("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami", True),
        ("resolve:ssm:golden-ami:3", True),
        (None, False),
    ],
)
def test_a_versions_image_id_is_read(image_id: str | None, from_ssm: bool) -> None:
    data = {"ImageId": image_id} if image_id is not None else {}
    version = parse_version({"VersionNumber": 3, "LaunchTemplateData": data})
    assert version.image_id == (image_id or "")
    assert version.image_from_ssm is from_ssm
