"""diff: pure data in, Changes and a Phase out. Each case changes one thing from "in sync"."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_OWNER,
    TAG_RETRIED_REFRESH,
    TAG_SERVICE,
    Change,
    ChangeKind,
    DesiredService,
    Diff,
    ObservedService,
    Phase,
    RefreshStatus,
    Resource,
    ScalingSpec,
    Value,
)
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import desired_version, diff
from reconciler.pipeline.status import last_failed_refresh
from tests.factories import (
    DIGEST_A,
    DIGEST_B,
    DIGEST_C,
    GROUP,
    OWNER,
    POLICY,
    REPOSITORY,
    SEED_USER_DATA,
    TARGET_GROUP,
    TEMPLATE,
    add_versions,
    cpu_policy,
    desired_service,
    failed_tags,
    foreign_version,
    group_spec,
    health_check,
    instance,
    instances,
    observed_service,
    owned_tags,
    refresh,
    resolved_image,
    target_group_spec,
    user_data,
    version_of,
    with_group,
    with_target_group,
    with_template,
)


def run(desired: DesiredService, observed: ObservedService, *, owner: str = OWNER) -> Diff:
    return diff(desired, observed, owner=owner)


def new_image() -> DesiredService:
    """The next deploy: v1.1 at DIGEST_B, not yet in any launch template version."""
    return desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B))


def fields(result: Diff) -> list[str]:
    return [c.field for c in result.changes]


def rolling_out(desired: DesiredService, **refresh_overrides: Any) -> ObservedService:
    """AWS after plan created version 4 for ``desired`` and started a refresh to it."""
    observed = add_versions(observed_service(), version_of(desired, 4))
    return dataclasses.replace(
        observed, refreshes=(refresh(desired_version="4", **refresh_overrides),)
    )


# ------------------------------------------------------------------------------------------------
# In sync
# ------------------------------------------------------------------------------------------------


def test_in_sync_has_no_changes() -> None:
    desired = desired_service()
    result = run(desired, observed_service(desired))
    assert result.phase is Phase.IN_SYNC
    assert result.changes == ()
    assert result.in_sync
    assert "version 3" in result.message


def test_in_sync_without_scaling_policy() -> None:
    desired = desired_service(scaling=None)
    result = run(desired, observed_service(desired))
    assert result.in_sync


def test_other_owner_id_is_ours_when_passed_as_owner() -> None:
    tags = owned_tags(owner="team-b")
    observed = with_group(observed_service(), tags=tags)
    observed = with_template(observed, tags=tags)
    observed = with_target_group(observed, tags=tags)
    assert run(desired_service(), observed, owner="team-b").in_sync


# ------------------------------------------------------------------------------------------------
# Target group health check: one change per differing field
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "field", "observed_value", "desired_value"),
    [
        ("path", "healthCheck.path", "/health", "/actuator/health"),
        ("port", "healthCheck.port", "traffic-port", "8080"),
        ("protocol", "healthCheck.protocol", "HTTPS", "HTTP"),
        ("interval_seconds", "healthCheck.intervalSeconds", 10, 30),
        ("timeout_seconds", "healthCheck.timeoutSeconds", 6, 5),
        ("healthy_threshold", "healthCheck.healthyThreshold", 5, 2),
        ("unhealthy_threshold", "healthCheck.unhealthyThreshold", 3, 2),
        ("matcher", "healthCheck.matcher", "200-299", "200"),
    ],
)
def test_each_health_check_field(
    attr: str, field: str, observed_value: Value, desired_value: Value
) -> None:
    observed = with_target_group(
        observed_service(), health_check=health_check(**{attr: observed_value})
    )
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(Resource.TARGET_GROUP, TARGET_GROUP, field, observed_value, desired_value),
    )
    assert result.phase is Phase.OUT_OF_SYNC


def test_several_health_check_fields_in_declared_order() -> None:
    drifted = health_check(matcher="200,302", interval_seconds=10, path="/")
    observed = with_target_group(observed_service(), health_check=drifted)
    result = run(desired_service(), observed)
    assert fields(result) == [
        "healthCheck.path",
        "healthCheck.intervalSeconds",
        "healthCheck.matcher",
    ]
    assert "3 changes" in result.message


def test_desired_health_check_change_is_detected_too() -> None:
    desired = desired_service(
        target_group=target_group_spec(health_check=health_check(timeout_seconds=10))
    )
    result = run(desired, observed_service())
    assert result.changes == (
        Change(Resource.TARGET_GROUP, TARGET_GROUP, "healthCheck.timeoutSeconds", 5, 10),
    )


# ------------------------------------------------------------------------------------------------
# Group settings and capacity (rule 5)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "field", "observed_value", "desired_value"),
    [
        ("min_size", "minSize", 1, 2),
        ("max_size", "maxSize", 6, 4),
        ("health_check_type", "healthCheckType", "EC2", "ELB"),
        ("health_check_grace_period", "healthCheckGracePeriod", 0, 300),
    ],
)
def test_each_group_setting(
    attr: str, field: str, observed_value: Value, desired_value: Value
) -> None:
    observed = with_group(observed_service(), **{attr: observed_value})
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(Resource.AUTO_SCALING_GROUP, GROUP, field, observed_value, desired_value),
    )


def test_desired_capacity_enforced_without_scaling_policy() -> None:
    desired = desired_service(scaling=None)
    observed = with_group(observed_service(desired), desired_capacity=3)
    result = run(desired, observed)
    assert result.changes == (Change(Resource.AUTO_SCALING_GROUP, GROUP, "desiredCapacity", 3, 2),)


def test_desired_capacity_belongs_to_the_scaling_policy() -> None:
    observed = with_group(observed_service(), desired_capacity=4)
    assert run(desired_service(), observed).in_sync


def test_desired_capacity_not_declared_is_left_alone() -> None:
    desired = desired_service(scaling=None, auto_scaling_group=group_spec(desired_capacity=None))
    observed = with_group(observed_service(desired), desired_capacity=3)
    assert run(desired, observed).in_sync


@pytest.mark.parametrize(
    ("min_size", "max_size", "observed_capacity"),
    [(3, 4, 2), (1, 2, 4)],
    ids=["raised-min-above-capacity", "lowered-max-below-capacity"],
)
def test_capacity_outside_new_bounds_is_left_to_aws_clamping(
    min_size: int, max_size: int, observed_capacity: int
) -> None:
    desired = desired_service(auto_scaling_group=group_spec(min_size=min_size, max_size=max_size))
    observed = with_group(
        observed_service(desired), min_size=2, max_size=4, desired_capacity=observed_capacity
    )
    result = run(desired, observed)
    assert "desiredCapacity" not in fields(result)
    assert set(fields(result)) <= {"minSize", "maxSize"}


def test_capacity_and_bounds_change_together_without_scaling() -> None:
    desired = desired_service(
        scaling=None, auto_scaling_group=group_spec(min_size=3, max_size=6, desired_capacity=3)
    )
    result = run(desired, observed_service(desired))
    assert fields(result) == ["minSize", "maxSize", "desiredCapacity"]


# ------------------------------------------------------------------------------------------------
# Scaling policy
# ------------------------------------------------------------------------------------------------


def test_scaling_policy_missing_is_created() -> None:
    observed = dataclasses.replace(observed_service(), scaling_policies=())
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(
            Resource.SCALING_POLICY, POLICY, "targetCpuUtilization", None, 70.0, ChangeKind.CREATE
        ),
    )


def test_scaling_policy_target_updated() -> None:
    desired = desired_service(scaling=ScalingSpec(target_cpu_utilization=50))
    result = run(desired, observed_service())
    assert result.changes == (
        Change(Resource.SCALING_POLICY, POLICY, "targetCpuUtilization", 70.0, 50.0),
    )


def test_scaling_policy_removed_from_desired_is_deleted() -> None:
    desired = desired_service(scaling=None)
    observed = dataclasses.replace(observed_service(desired), scaling_policies=(cpu_policy(),))
    result = run(desired, observed)
    assert result.changes == (
        Change(
            Resource.SCALING_POLICY, POLICY, "targetCpuUtilization", 70.0, None, ChangeKind.DELETE
        ),
    )


@pytest.mark.parametrize("scaling", [ScalingSpec(70), None], ids=["declared", "not-declared"])
def test_policies_we_do_not_own_are_ignored(scaling: ScalingSpec | None) -> None:
    desired = desired_service(scaling=scaling)
    base = observed_service(desired)
    others = (cpu_policy(name="ops-step-scale-out", policy_type="StepScaling", target_value=None),)
    observed = dataclasses.replace(base, scaling_policies=(*base.scaling_policies, *others))
    assert run(desired, observed).in_sync


def test_our_policy_name_with_another_metric_is_updated() -> None:
    wrong = cpu_policy(metric="ALBRequestCountPerTarget", target_value=1000.0)
    observed = dataclasses.replace(observed_service(), scaling_policies=(wrong,))
    (change,) = run(desired_service(), observed).changes
    assert change.resource is Resource.SCALING_POLICY
    assert change.new == 70.0
    assert "ALBRequestCountPerTarget" in str(change.old)


def test_integer_target_equals_float_target() -> None:
    desired = desired_service(scaling=ScalingSpec(target_cpu_utilization=70))
    assert run(desired, observed_service()).in_sync


# ------------------------------------------------------------------------------------------------
# Launch template: image, UserData, pinning (rule 2)
# ------------------------------------------------------------------------------------------------


def test_image_change_shows_short_digests() -> None:
    result = run(new_image(), observed_service())
    assert result.changes == (
        Change(
            Resource.LAUNCH_TEMPLATE,
            TEMPLATE,
            "image",
            "latest (sha256:1a2b3c4d5e6f)",
            "v1.1 (sha256:9f8e7d6c5b4a)",
        ),
    )
    assert result.phase is Phase.OUT_OF_SYNC
    assert "new launch template version" in result.message


def test_old_image_from_our_description_shows_its_tag() -> None:
    old = desired_service()
    result = run(new_image(), observed_service(old))
    change = next(c for c in result.changes if c.field == "image")
    assert change.old == old.image.describe()
    assert change.old.startswith(f"{old.image.tag} (sha256:")


def test_same_tag_new_digest_is_an_image_change() -> None:
    # `latest` moved: the diff compares digests, not tag names.
    desired = desired_service(image=resolved_image(tag="latest", digest=DIGEST_B))
    (change,) = run(desired, observed_service()).changes
    assert (change.field, change.old, change.new) == (
        "image",
        "latest (sha256:1a2b3c4d5e6f)",
        "latest (sha256:9f8e7d6c5b4a)",
    )


@pytest.mark.parametrize(
    ("current_user_data", "shown"),
    [
        (SEED_USER_DATA, "latest (unpinned)"),
        (user_data(f"{REPOSITORY}@{DIGEST_C}"), "sha256:c0ffee000000"),
        (user_data(f"{REPOSITORY}:v0.9"), "v0.9 (unpinned)"),
        (user_data(f"ghcr.io/someone/else@{DIGEST_C}"), "ghcr.io/someone/else@sha256:c0ffee000000"),
        (user_data(f"nginx@{DIGEST_C}"), "nginx@sha256:c0ffee000000"),
        ("#!/bin/bash\necho hello\n", "unknown"),
    ],
    ids=[
        "seed-image-tag",
        "pinned-without-description",
        "literal-tag",
        "other-repository",
        "bare-name",
        "no-image",
    ],
)
def test_old_image_read_from_foreign_user_data(current_user_data: str, shown: str) -> None:
    observed = add_versions(observed_service(), foreign_version(4, user_data=current_user_data))
    observed = with_group(observed, launch_template_version="4", instances=instances("4"))
    image, *script = run(desired_service(), observed).changes
    assert image == Change(
        Resource.LAUNCH_TEMPLATE, TEMPLATE, "image", shown, "latest (sha256:1a2b3c4d5e6f)"
    )
    # The scripts written like ours differ only in their image, which is folded away; the seed's
    # and one without an image are other scripts, and the diff says how (issue 15).
    differs = "docker run -d --name feedback" not in current_user_data
    assert [(c.field, bool(c.detail)) for c in script] == ([("userData", True)] if differs else [])


def test_description_image_cut_by_the_length_limit_falls_back_to_user_data() -> None:
    cut = f"asg-reconciler fp={'0' * 16} rev=- image={REPOSITORY}@sha256:c0ff"
    pinned = user_data(f"{REPOSITORY}@{DIGEST_C}")
    observed = add_versions(
        observed_service(), foreign_version(4, user_data=pinned, description=cut)
    )
    observed = with_group(observed, launch_template_version="4", instances=instances("4"))
    (change,) = run(desired_service(), observed).changes
    assert change.old == "sha256:c0ffee000000"


@pytest.mark.parametrize(
    ("script", "shown"),
    [
        # -p takes a value: "8080:8080" is the port mapping, "app" the image (Docker Hub's).
        ("docker run -p 8080:8080 app", "app:latest (unpinned)"),
        # A Docker Hub short name: status named it while diff said "unknown".
        ("docker run -d myorg/api:v1", "myorg/api:v1 (unpinned)"),
        (
            "docker pull localhost:5000/api:dev\ndocker run localhost:5000/api:dev",
            "localhost:5000/api:dev (unpinned)",
        ),
        ("echo no container here", "unknown"),
    ],
)
def test_a_foreign_scripts_image_is_read_by_the_one_reader(script: str, shown: str) -> None:
    observed = add_versions(
        observed_service(), foreign_version(4, user_data=f"#!/bin/bash\n{script}\n")
    )
    observed = with_group(observed, launch_template_version="4", instances=instances("4"))
    change, rewritten = run(desired_service(), observed).changes
    assert change.old == shown
    assert rewritten.field == "userData" and f"-{script_line(rewritten)}" in rewritten.detail


def script_line(change: Change) -> str:
    """The removed line the change's one-line summary names."""
    assert isinstance(change.old, str)
    return change.old.partition(": ")[2]


def test_user_data_only_change_when_image_matches() -> None:
    template = (
        '#!/bin/bash\nIMAGE="${IMAGE}"\ndocker run -d -p 8080:8080 -e JAVA_OPTS=-Xmx512m "$IMAGE"\n'
    )
    desired = desired_service(
        launch_template=dataclasses.replace(
            desired_service().spec.launch_template, template=template
        )
    )
    result = run(desired, observed_service())
    (change,) = result.changes
    assert (change.resource, change.field) == (Resource.LAUNCH_TEMPLATE, "userData")
    assert isinstance(change.old, str)
    assert isinstance(change.new, str)
    assert change.old.startswith("line 2: ")
    assert change.new.startswith("line 2: ")
    assert result.phase is Phase.OUT_OF_SYNC


def test_user_data_long_lines_are_shortened() -> None:
    template = '#!/bin/bash\nIMAGE="${IMAGE}"\n# ' + "x" * 200 + "\n"
    desired = desired_service(
        launch_template=dataclasses.replace(
            desired_service().spec.launch_template, template=template
        )
    )
    (change,) = run(desired, observed_service()).changes
    assert isinstance(change.new, str)
    assert len(change.new) < 80


@pytest.mark.parametrize("ref", ["$Default", "$Latest"])
def test_floating_reference_on_desired_content_is_pinned(ref: str) -> None:
    observed = with_group(observed_service(), launch_template_version=ref)
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(Resource.AUTO_SCALING_GROUP, GROUP, "launchTemplate.version", ref, "3"),
    )
    assert result.phase is Phase.OUT_OF_SYNC


@pytest.mark.parametrize(("ref", "runs"), [("$Latest", "3"), ("$Default", "2")])
def test_floating_reference_is_pinned_to_what_it_runs_before_a_rollout(ref: str, runs: str) -> None:
    # AWS refuses AutoRollback on a group using $Latest/$Default: pin first, the refresh moves it.
    observed = with_template(observed_service(), default_version=2)
    observed = with_group(observed, launch_template_version=ref)
    result = run(new_image(), observed)
    assert result.changes[0] == Change(
        Resource.AUTO_SCALING_GROUP, GROUP, "launchTemplate.version", ref, runs
    )
    assert fields(result) == ["launchTemplate.version", "image"]


def test_group_on_another_template_needs_a_rollout() -> None:
    observed = with_group(
        observed_service(),
        launch_template_id="lt-0fffffffffffffff0",
        launch_template_name="legacy-template",
    )
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(Resource.AUTO_SCALING_GROUP, GROUP, "launchTemplate", "legacy-template", TEMPLATE),
    )


def test_current_version_not_observed_is_shown_as_unknown() -> None:
    observed = with_group(observed_service(), launch_template_version="9", instances=instances("9"))
    (change,) = run(desired_service(), observed).changes
    assert change.field == "image"
    assert "not observed" in str(change.old)


def test_revert_targets_the_existing_version() -> None:
    previous = desired_service(image=resolved_image(tag="previous", digest=DIGEST_C))
    result = run(previous, observed_service())
    assert fields(result) == ["image"]
    assert "launch template version 2" in result.message


def test_desired_version_found_by_user_data_without_description() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), foreign_version(7, user_data=desired.user_data))
    template = observed.launch_template
    assert template is not None
    found = desired_version(desired, template)
    assert found is not None
    assert found.version_number == 7


def test_desired_version_prefers_the_newest() -> None:
    desired = desired_service()
    observed = add_versions(observed_service(desired), version_of(desired, 5))
    assert observed.launch_template is not None
    found = desired_version(desired, observed.launch_template)
    assert found is not None
    assert found.version_number == 5


# ------------------------------------------------------------------------------------------------
# Instances on another version
# ------------------------------------------------------------------------------------------------


def test_instances_on_another_version_need_a_refresh() -> None:
    mixed = (
        instance("i-1", launch_template_version="3"),
        instance("i-2", launch_template_version="2"),
    )
    observed = with_group(observed_service(), instances=mixed)
    result = run(desired_service(), observed)
    assert result.changes == (
        Change(
            Resource.AUTO_SCALING_GROUP,
            GROUP,
            "instances",
            "1 of 2 on another version",
            "all on version 3",
        ),
    )
    assert result.phase is Phase.OUT_OF_SYNC


@pytest.mark.parametrize(
    "other",
    [
        instance("i-2", launch_template_version="2", lifecycle_state="Terminating"),
        instance("i-2", launch_template_version="2", lifecycle_state="Pending"),
        instance("i-2", launch_template_version=None),
    ],
    ids=["terminating", "pending", "version-unknown"],
)
def test_instances_not_counted(other: Any) -> None:
    observed = with_group(observed_service(), instances=(instance("i-1"), other))
    # A default other than the group's pinned version: "unknown" must not resolve to it.
    observed = with_template(observed, default_version=2)
    assert run(desired_service(), observed).in_sync


def test_pin_and_stale_instances_together() -> None:
    mixed = (
        instance("i-1", launch_template_version="3"),
        instance("i-2", launch_template_version="1"),
    )
    observed = with_group(observed_service(), launch_template_version="$Default", instances=mixed)
    assert fields(run(desired_service(), observed)) == ["launchTemplate.version", "instances"]


# ------------------------------------------------------------------------------------------------
# Blocked: missing resources, ownership (rule 6), paused
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "words"),
    [
        ("auto_scaling_group", "auto scaling group feedback-asg"),
        ("launch_template", "launch template feedback-app-template"),
        ("target_group", "target group feedback-tg"),
    ],
)
def test_missing_resource_blocks(attr: str, words: str) -> None:
    missing: dict[str, Any] = {attr: None}
    observed = dataclasses.replace(observed_service(), **missing)
    result = run(desired_service(), observed)
    assert result.phase is Phase.BLOCKED
    assert result.changes == ()
    assert words in result.message
    assert "not found" in result.message
    assert "infrastructure tool" in result.message


def test_everything_missing_is_named_at_once() -> None:
    observed = dataclasses.replace(
        observed_service(), auto_scaling_group=None, launch_template=None, target_group=None
    )
    message = run(desired_service(), observed).message
    assert all(name in message for name in (GROUP, TEMPLATE, TARGET_GROUP))


@pytest.mark.parametrize("builder", [with_group, with_template, with_target_group])
def test_foreign_owner_blocks(builder: Any) -> None:
    observed = builder(observed_service(), tags=owned_tags(owner="team-b"))
    result = run(new_image(), observed)
    assert result.phase is Phase.BLOCKED
    assert "owned by team-b" in result.message
    assert result.changes == ()


def test_resource_claimed_by_another_service_blocks() -> None:
    observed = with_group(observed_service(), tags=owned_tags(service="billing"))
    result = run(desired_service(), observed)
    assert result.phase is Phase.BLOCKED
    assert "billing" in result.message


@pytest.mark.parametrize(
    ("builder", "resource", "name"),
    [
        (with_group, Resource.AUTO_SCALING_GROUP, GROUP),
        (with_template, Resource.LAUNCH_TEMPLATE, TEMPLATE),
        (with_target_group, Resource.TARGET_GROUP, TARGET_GROUP),
    ],
)
def test_untagged_resource_is_adopted(builder: Any, resource: Resource, name: str) -> None:
    observed = builder(observed_service(), tags={"Name": "feedback"})
    result = run(desired_service(), observed)
    (change,) = result.changes
    assert (change.resource, change.resource_name, change.field, change.kind) == (
        resource,
        name,
        "tags",
        ChangeKind.CREATE,
    )
    assert change.old is None
    assert f"{TAG_OWNER}={OWNER}" in str(change.new)
    assert result.phase is Phase.OUT_OF_SYNC


def test_adoption_adds_only_the_missing_tag() -> None:
    observed = with_group(observed_service(), tags={TAG_OWNER: OWNER})
    (change,) = run(desired_service(), observed).changes
    assert change.new == f"{TAG_SERVICE}=feedback"


def test_adopting_the_seed_everything_at_once() -> None:
    # The seed's architecture as first met: untagged, group on the workflow's version 1.
    observed = with_group(
        observed_service(), tags={}, launch_template_version="1", instances=instances("1")
    )
    observed = with_template(observed, tags={})
    observed = with_target_group(observed, tags={})
    result = run(desired_service(), observed)
    assert [(c.resource, c.field) for c in result.changes] == [
        (Resource.TARGET_GROUP, "tags"),
        (Resource.AUTO_SCALING_GROUP, "tags"),
        (Resource.LAUNCH_TEMPLATE, "tags"),
        (Resource.LAUNCH_TEMPLATE, "image"),
        (Resource.LAUNCH_TEMPLATE, "userData"),
    ]
    assert result.changes[-2].old == "latest (unpinned)"


def test_paused_keeps_changes_but_blocks() -> None:
    desired = desired_service(paused=True, image=resolved_image(tag="v1.1", digest=DIGEST_B))
    observed = with_group(observed_service(), max_size=6)
    result = run(desired, observed)
    assert result.phase is Phase.BLOCKED
    assert result.message == "paused"
    assert fields(result) == ["maxSize", "image"]


def test_paused_in_sync_is_still_blocked() -> None:
    desired = desired_service(paused=True)
    result = run(desired, observed_service(desired))
    assert (result.phase, result.message, result.changes) == (Phase.BLOCKED, "paused", ())


def test_missing_wins_over_paused() -> None:
    desired = desired_service(paused=True)
    observed = dataclasses.replace(observed_service(desired), target_group=None)
    assert "not found" in run(desired, observed).message


# ------------------------------------------------------------------------------------------------
# Rollout phase: progressing, superseding (rule 3)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [RefreshStatus.PENDING, RefreshStatus.IN_PROGRESS, RefreshStatus.BAKING]
)
def test_refresh_for_desired_version_is_progressing(status: RefreshStatus) -> None:
    desired = new_image()
    observed = rolling_out(desired, status=status, percentage_complete=40)
    result = run(desired, observed)
    assert result.phase is Phase.PROGRESSING
    assert result.refresh is not None
    assert result.refresh.refresh_id == "rf-0001"
    assert "40%" in result.message
    assert result.changes == ()


def test_progressing_still_reports_settings_drift() -> None:
    desired = new_image()
    observed = with_group(rolling_out(desired), max_size=6)
    result = run(desired, observed)
    assert result.phase is Phase.PROGRESSING
    assert fields(result) == ["maxSize"]


def test_refresh_without_desired_configuration_for_stale_instances() -> None:
    mixed = (
        instance("i-1", launch_template_version="3"),
        instance("i-2", launch_template_version="2"),
    )
    observed = with_group(observed_service(), instances=mixed)
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version=None),))
    assert run(desired_service(), observed).phase is Phase.PROGRESSING


@pytest.mark.parametrize(
    "status", [RefreshStatus.IN_PROGRESS, RefreshStatus.PENDING, RefreshStatus.ROLLBACK_IN_PROGRESS]
)
def test_refresh_for_an_older_state_is_superseded(status: RefreshStatus) -> None:
    # A bad deploy (version 2) is rolling out; the revert to what version 3 holds must not wait.
    observed = dataclasses.replace(
        observed_service(),
        refreshes=(refresh(refresh_id="rf-bad", desired_version="2", status=status),),
    )
    result = run(new_image(), observed)
    assert result.phase is Phase.SUPERSEDING
    assert result.refresh is not None
    assert result.changes[-1] == Change(
        Resource.INSTANCE_REFRESH, "rf-bad", "status", status.value, "Cancelled", ChangeKind.DELETE
    )
    assert fields(result)[0] == "image"


def test_superseding_even_when_group_already_matches() -> None:
    observed = dataclasses.replace(observed_service(), refreshes=(refresh(desired_version="2"),))
    result = run(desired_service(), observed)
    assert result.phase is Phase.SUPERSEDING
    assert [c.resource for c in result.changes] == [Resource.INSTANCE_REFRESH]


def test_rollback_restoring_the_desired_version_is_waited_on() -> None:
    # A revert arrived while the bad deploy (version 2) rolls back to version 3, the desired
    # state: cancelling the rollback would strand the group half-way.
    observed = dataclasses.replace(
        observed_service(),
        refreshes=(
            refresh(
                refresh_id="rf-bad", desired_version="2", status=RefreshStatus.ROLLBACK_IN_PROGRESS
            ),
        ),
    )
    result = run(desired_service(), observed)
    assert result.phase is Phase.PROGRESSING
    assert result.changes == ()
    assert "rolling back to launch template version 3" in result.message


def test_cancelling_refresh_is_waited_on() -> None:
    observed = dataclasses.replace(
        observed_service(),
        refreshes=(refresh(desired_version="2", status=RefreshStatus.CANCELLING),),
    )
    result = run(new_image(), observed)
    assert result.phase is Phase.SUPERSEDING
    assert "waiting for cancel" in result.message
    assert Resource.INSTANCE_REFRESH not in [c.resource for c in result.changes]


def test_finished_refreshes_do_not_block_a_new_rollout() -> None:
    history = (
        refresh(refresh_id="rf-2", status=RefreshStatus.SUCCESSFUL, desired_version="3"),
        refresh(refresh_id="rf-1", status=RefreshStatus.CANCELLED, desired_version="2"),
    )
    observed = dataclasses.replace(observed_service(), refreshes=history)
    result = run(new_image(), observed)
    assert result.phase is Phase.OUT_OF_SYNC
    assert result.refresh is None


# ------------------------------------------------------------------------------------------------
# Failure (rule 4)
# ------------------------------------------------------------------------------------------------


def test_failed_fingerprint_tag_freezes_the_rollout() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert desired.fingerprint in result.message
    assert "not retried" in result.message
    assert fields(result) == ["image"]


def test_failed_tag_keeps_the_refresh_reason() -> None:
    # Found by the sandbox scenarios: once tagged, Degraded no longer said why it failed.
    desired = new_image()
    observed = rolling_out(
        desired,
        refresh_id="rf-4",
        status=RefreshStatus.ROLLBACK_SUCCESSFUL,
        status_reason="rf-4 failed health checks",
    )
    observed = with_group(observed, tags=failed_tags(desired))
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert "marked failed" in result.message
    assert "rf-4 ended RollbackSuccessful: rf-4 failed health checks" in result.message


def test_failed_tag_for_another_fingerprint_is_ignored() -> None:
    observed = with_group(observed_service(), tags=failed_tags(desired_service()))
    assert run(new_image(), observed).phase is Phase.OUT_OF_SYNC


def test_failed_tag_when_group_already_matches_is_in_sync() -> None:
    desired = desired_service()
    observed = with_group(observed_service(desired), tags=failed_tags(desired))
    assert run(desired, observed).phase is Phase.IN_SYNC


def test_failed_tag_wins_over_superseding() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="2"),))
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert Resource.INSTANCE_REFRESH not in [c.resource for c in result.changes]


ROLLED_BACK = RollbackDetails(reason="automatic", start_time="2024-05-03T10:20:00Z")


@pytest.mark.parametrize(
    ("status", "reason", "rollback"),
    [
        (RefreshStatus.FAILED, "instances failed to become healthy", None),
        (RefreshStatus.ROLLBACK_SUCCESSFUL, "rolled back after health check failures", None),
        (RefreshStatus.ROLLBACK_FAILED, "", None),
        # R6: a rollback that was cancelled; RollbackDetails says so, whatever the reason says.
        (RefreshStatus.CANCELLED, "Cancelled due to a rollback", ROLLED_BACK),
        (RefreshStatus.CANCELLED, "", ROLLED_BACK),
        (RefreshStatus.CANCELLED, "Cancelled by user", ROLLED_BACK),
    ],
)
def test_failed_refresh_for_desired_version_is_detected(
    status: RefreshStatus, reason: str, rollback: RollbackDetails | None
) -> None:
    desired = new_image()
    observed = rolling_out(
        desired, status=status, status_reason=reason, refresh_id="rf-4", rollback=rollback
    )
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert "rf-4" in result.message
    assert status.value in result.message
    assert fields(result) == ["image"]


def test_rollback_in_progress_for_desired_version_is_a_failure() -> None:
    desired = new_image()
    result = run(desired, rolling_out(desired, status=RefreshStatus.ROLLBACK_IN_PROGRESS))
    assert result.phase is Phase.FAILED
    assert "rolling back" in result.message


def test_retry_during_rollback_waits_for_it_then_rolls_out_again() -> None:
    # Found by the sandbox scenarios: `apply --wait` exits 3 as soon as the rollback starts, and
    # a `retry` run then was undone by the next tick tagging the fingerprint failed again.
    desired = new_image()
    retried = {TAG_RETRIED_REFRESH: "rf-4"}
    rolling = rolling_out(desired, refresh_id="rf-4", status=RefreshStatus.ROLLBACK_IN_PROGRESS)
    waiting = run(desired, with_group(rolling, tags=retried))
    assert waiting.phase is Phase.PROGRESSING
    assert "retry requested" in waiting.message
    ended = rolling_out(desired, refresh_id="rf-4", status=RefreshStatus.ROLLBACK_SUCCESSFUL)
    assert run(desired, with_group(ended, tags=retried)).phase is Phase.OUT_OF_SYNC


def test_retry_forgives_a_refresh_that_is_rolling_back() -> None:
    desired = new_image()
    rolling = rolling_out(desired, refresh_id="rf-4", status=RefreshStatus.ROLLBACK_IN_PROGRESS)
    found = last_failed_refresh(rolling)
    assert found is not None and found.refresh_id == "rf-4"


@pytest.mark.parametrize(
    "reason", ["", "Cancelled by user", "Cancelled due to a rollback", "rollback requested"]
)
def test_our_own_cancel_is_not_a_failure(reason: str) -> None:
    # R6: without RollbackDetails no rollback happened, whatever the free-text reason says.
    desired = new_image()
    cancelled = rolling_out(desired, status=RefreshStatus.CANCELLED, status_reason=reason)
    result = run(desired, cancelled)
    assert result.phase is Phase.OUT_OF_SYNC


def test_only_the_newest_finished_refresh_for_the_version_counts() -> None:
    desired = new_image()
    observed = rolling_out(desired, refresh_id="rf-old", status=RefreshStatus.FAILED)
    newer = refresh(refresh_id="rf-new", status=RefreshStatus.SUCCESSFUL, desired_version="4")
    observed = dataclasses.replace(observed, refreshes=(newer, *observed.refreshes))
    assert run(desired, observed).phase is Phase.OUT_OF_SYNC


def test_failed_refresh_for_another_version_is_not_ours() -> None:
    observed = dataclasses.replace(
        observed_service(), refreshes=(refresh(status=RefreshStatus.FAILED, desired_version="2"),)
    )
    assert run(new_image(), observed).phase is Phase.OUT_OF_SYNC


def test_failed_refresh_but_group_on_desired_is_in_sync() -> None:
    desired = desired_service()
    observed = dataclasses.replace(
        observed_service(desired),
        refreshes=(refresh(status=RefreshStatus.FAILED, desired_version="3"),),
    )
    assert run(desired, observed).phase is Phase.IN_SYNC


def test_failure_still_reports_settings_drift() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired), min_size=1)
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert fields(result) == ["minSize", "image"]


def test_digest_a_is_what_the_default_desired_runs() -> None:
    # Guards the factories the other cases lean on.
    assert desired_service().image.digest == DIGEST_A
