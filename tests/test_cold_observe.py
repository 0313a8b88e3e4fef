"""A cold observation (a restart, a one-shot ``diff``) of in-sync services costs the API floor,
because each group carries its pinned record; and what the record cannot vouch for is still
read: hand edits, hand-started refreshes, a changed desired file.

Against the sandbox over HTTP with real boto3; calls counted by botocore's event hooks.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

from benchmarks import fleet
from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_PINNED, Phase
from reconciler.model.pinned import parse_pinned
from reconciler.pipeline.observe.floor import floor_calls
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.sandbox import Sandbox

COUNT = 25
PER_GROUP = ("DescribeInstanceRefreshes", "DescribeLaunchTemplateVersions")


def recorded_fleet(sandbox: Sandbox, aws: Aws, tmp_path: Path) -> fleet.Fleet:
    """``COUNT`` services in sync, converged once by a reconciler that wrote their records."""
    assert sandbox.seeded is not None
    made = fleet.create_fleet(aws, sandbox.seeded, tmp_path / "desired", COUNT)
    sandbox.clock.speed = 0
    sandbox.clock.advance(600)  # instances in service and healthy
    warm = Reconciler(aws=aws, resolver=ImageResolver(aws))
    fleet.converge(warm, made.specs, sandbox.clock)
    return made


def cold(aws: Aws, made: fleet.Fleet) -> tuple[dict[str, ServiceOutcome], Counter[str]]:
    """A new process's one-shot ``diff``: a new reconciler, no memory, no writes."""
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    aws.reset_counts()
    outcomes = reconciler.compute(made.specs)
    return {o.name: o for o in outcomes}, Counter(aws.calls)


def target_group_count(aws: Aws) -> int:
    pages = aws.pages("elbv2", "describe_target_groups")
    return sum(len(page["TargetGroups"]) for page in pages)


def test_the_first_pass_records_each_group_and_a_cold_diff_then_costs_the_floor(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    assert sandbox.seeded is not None
    made = fleet.create_fleet(aws, sandbox.seeded, tmp_path / "desired", COUNT)
    sandbox.clock.speed = 0
    sandbox.clock.advance(600)
    outcomes, calls = cold(aws, made)
    assert fleet.in_sync(list(outcomes.values()))
    assert [calls[op] for op in PER_GROUP] == [COUNT, COUNT]  # no records yet: read in full

    fleet.converge(Reconciler(aws=aws, resolver=ImageResolver(aws)), made.specs, sandbox.clock)
    for page in aws.pages("autoscaling", "describe_auto_scaling_groups"):
        for group in page["AutoScalingGroups"]:
            if group["AutoScalingGroupName"].startswith("svc-"):
                value = {t["Key"]: t["Value"] for t in group["Tags"]}[TAG_PINNED]
                record = parse_pinned(value)
                assert record is not None and record.version == 1
                assert record.template_id == group["LaunchTemplate"]["LaunchTemplateId"]

    outcomes, calls = cold(aws, made)
    assert fleet.in_sync(list(outcomes.values()))
    floor = floor_calls(COUNT, target_groups=target_group_count(aws))
    assert calls == Counter({**floor, "DescribeImages": 1})  # the resolver's one image
    assert sum(floor.values()) == 6  # 1 + 1 + 1 + ceil(25/20) + ceil(25/50)


def test_a_second_pass_writes_no_record_again(sandbox: Sandbox, aws: Aws, tmp_path: Path) -> None:
    made = recorded_fleet(sandbox, aws, tmp_path)
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    aws.reset_counts()
    fleet.tick(reconciler, made.specs)
    assert not aws.writes()


def test_a_version_pinned_by_hand_is_read_and_shown(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    made = recorded_fleet(sandbox, aws, tmp_path)
    by_hand = sandbox.aws()
    script = base64.b64encode(b"#!/bin/bash\necho hand-made\n").decode()
    by_hand.call(
        "ec2",
        "create_launch_template_version",
        LaunchTemplateName="svc-004-lt",
        SourceVersion="1",
        LaunchTemplateData={"UserData": script},
    )
    by_hand.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName="svc-004-asg",
        LaunchTemplate={"LaunchTemplateName": "svc-004-lt", "Version": "2"},
    )
    outcomes, calls = cold(aws, made)
    assert [calls[op] for op in PER_GROUP] == [1, 1]  # that group alone, in full
    found = outcomes["svc-004"].diff
    assert found is not None and not found.in_sync
    # Version 1 still holds the desired content: the diff pins the group back to it.
    assert [(c.field, c.old, c.new) for c in found.changes] == [
        ("launchTemplate.version", "2", "1")
    ]
    assert all(o.diff and o.diff.in_sync for n, o in outcomes.items() if n != "svc-004")


def test_a_group_moved_to_latest_by_hand_is_read_and_pinned_again(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    made = recorded_fleet(sandbox, aws, tmp_path)
    sandbox.aws().call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName="svc-007-asg",
        LaunchTemplate={"LaunchTemplateName": "svc-007-lt", "Version": "$Latest"},
    )
    outcomes, calls = cold(aws, made)
    assert [calls[op] for op in PER_GROUP] == [1, 1]
    found = outcomes["svc-007"].diff
    assert found is not None and [c.field for c in found.changes] == ["launchTemplate.version"]


def test_a_refresh_started_by_hand_is_seen_by_a_cold_diff(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    made = recorded_fleet(sandbox, aws, tmp_path)
    started = sandbox.aws().call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName="svc-002-asg",
        Preferences={"MinHealthyPercentage": 0},
    )["InstanceRefreshId"]
    sandbox.clock.advance(30)  # its first batch is being replaced
    outcomes, calls = cold(aws, made)
    assert calls["DescribeInstanceRefreshes"] == 1
    observed, found = outcomes["svc-002"].observed, outcomes["svc-002"].diff
    assert observed is not None and observed.refreshes[0].refresh_id == started
    assert found is not None and found.phase is Phase.PROGRESSING


def test_a_changed_desired_file_reads_the_history_of_the_services_it_changes(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    recorded_fleet(sandbox, aws, tmp_path)
    assert sandbox.seeded is not None
    changed = fleet.write_desired(
        tmp_path / "next", COUNT, repository=sandbox.seeded.repository_uri, tag="v1.1"
    )
    text = changed.read_text(encoding="utf-8")
    # svc-003 only: another UserData, so another fingerprint (the image stays).
    first = text.index("name: svc-003-lt")
    text = text[:first] + text[first:].replace("userData: app-userdata.sh", "userData: other.sh", 1)
    changed.write_text(text, encoding="utf-8")
    (tmp_path / "next" / "other.sh").write_text(
        (tmp_path / "next" / "app-userdata.sh").read_text(encoding="utf-8") + "# changed\n",
        encoding="utf-8",
    )
    specs = desired.load([changed]).services
    outcomes, calls = cold(aws, fleet.Fleet(specs=specs, path=changed))
    assert [calls[op] for op in PER_GROUP] == [1, 1]
    found = outcomes["svc-003"].diff
    assert found is not None and found.phase is Phase.OUT_OF_SYNC
