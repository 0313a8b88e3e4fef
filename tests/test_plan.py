"""plan: a Diff (and the data it came from) in, Actions in apply order out."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import pytest

from reconciler.model import (
    NEW_VERSION,
    TAG_OWNER,
    TAG_SERVICE,
    Action,
    ActionKind,
    CancelInstanceRefresh,
    CreateLaunchTemplateVersion,
    DeleteScalingPolicy,
    DesiredService,
    MarkFailed,
    ModifyTargetGroup,
    ObservedService,
    Phase,
    Plan,
    PutScalingPolicy,
    RefreshStatus,
    Resource,
    ScalingSpec,
    StartInstanceRefresh,
    TagResource,
    UpdateAutoScalingGroup,
    VersionPin,
)
from reconciler.model.markers import failed_marker
from reconciler.pipeline.diff import diff
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY
from reconciler.pipeline.plan import CLIENT_TOKEN_LIMIT, client_token, plan
from reconciler.pipeline.preferences import refresh_preferences
from tests.factories import (
    DIGEST_B,
    DIGEST_C,
    GROUP,
    OWNER,
    POLICY,
    REVISION,
    TARGET_GROUP,
    TARGET_GROUP_ARN,
    TEMPLATE,
    TEMPLATE_ID,
    add_versions,
    cpu_policy,
    desired_service,
    failed_tags,
    health_check,
    instance,
    observed_service,
    owned_tags,
    refresh,
    resolved_image,
    rollout_spec,
    service_spec,
    source_ref,
    version_of,
    with_group,
    with_target_group,
    with_template,
)

A = TypeVar("A")


def run(desired: DesiredService, observed: ObservedService, **kwargs: Any) -> Plan:
    return plan(desired, observed, diff(desired, observed, owner=OWNER), owner=OWNER, **kwargs)


def kinds(result: Plan) -> list[ActionKind]:
    return [a.kind for a in result.actions]


def only(result: Plan, kind: type[A]) -> A:
    (action,) = [a for a in result.actions if isinstance(a, kind)]
    return action


def new_image(**spec_overrides: Any) -> DesiredService:
    return desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B), **spec_overrides)


def previous_image() -> DesiredService:
    """A revert: what launch template version 2 already holds."""
    return desired_service(image=resolved_image(tag="previous", digest=DIGEST_C))


# ------------------------------------------------------------------------------------------------
# Nothing to do
# ------------------------------------------------------------------------------------------------


def test_every_kind_of_action_has_its_own_class() -> None:
    classes = typing.get_args(Action)
    assert sorted(c.kind for c in classes) == list(ActionKind)
    assert len(classes) == len(ActionKind)


def test_in_sync_plans_nothing() -> None:
    desired = desired_service()
    result = run(desired, observed_service(desired))
    assert result.empty
    assert result.phase is Phase.IN_SYNC


def test_plan_carries_phase_and_message() -> None:
    desired = new_image()
    observed = observed_service()
    changes = diff(desired, observed, owner=OWNER)
    result = plan(desired, observed, changes, owner=OWNER)
    assert (result.service, result.phase, result.message) == (
        "feedback",
        changes.phase,
        changes.message,
    )


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


def test_health_check_drift_modifies_the_target_group() -> None:
    observed = with_target_group(observed_service(), health_check=health_check(interval_seconds=10))
    desired = desired_service()
    result = run(desired, observed)
    action = only(result, ModifyTargetGroup)
    assert action.resource_name == TARGET_GROUP
    assert (action.target_group_arn, action.health_check) == (
        TARGET_GROUP_ARN,
        desired.spec.target_group.health_check,
    )
    assert "10 → 30" in action.reason
    assert kinds(result) == [ActionKind.MODIFY_TARGET_GROUP]


@pytest.mark.parametrize(
    ("attr", "observed_value", "desired_value"),
    [
        ("min_size", 1, 2),
        ("max_size", 8, 4),
        ("health_check_type", "EC2", "ELB"),
        ("health_check_grace_period", 60, 300),
    ],
)
def test_group_setting_updates_only_that_field(
    attr: str, observed_value: Any, desired_value: Any
) -> None:
    observed = with_group(observed_service(), **{attr: observed_value})
    action = only(run(desired_service(), observed), UpdateAutoScalingGroup)
    assert action.resource_name == GROUP
    assert (action.settings, action.pin) == ({attr: desired_value}, None)


def test_desired_capacity_without_scaling() -> None:
    desired = desired_service(scaling=None)
    observed = with_group(observed_service(desired), desired_capacity=5)
    action = only(run(desired, observed), UpdateAutoScalingGroup)
    assert action.settings == {"desired_capacity": 2}


def test_several_group_settings_in_one_call() -> None:
    observed = with_group(observed_service(), min_size=1, max_size=8)
    result = run(desired_service(), observed)
    assert kinds(result) == [ActionKind.UPDATE_AUTO_SCALING_GROUP]
    assert only(result, UpdateAutoScalingGroup).settings == {"min_size": 2, "max_size": 4}


@pytest.mark.parametrize("ref", ["$Default", "$Latest"])
def test_floating_reference_is_pinned_without_a_refresh(ref: str) -> None:
    observed = with_group(observed_service(), launch_template_version=ref)
    result = run(desired_service(), observed)
    assert kinds(result) == [ActionKind.UPDATE_AUTO_SCALING_GROUP]
    action = only(result, UpdateAutoScalingGroup)
    assert (action.settings, action.pin) == ({}, VersionPin(TEMPLATE_ID, "3"))


@pytest.mark.parametrize("ref", ["$Latest", "$Default"])
def test_floating_group_is_pinned_to_its_current_version_before_the_refresh(ref: str) -> None:
    # The seed's group: AutoRollback needs a numbered version, so pin to what it runs now.
    observed = with_group(observed_service(), launch_template_version=ref)
    result = run(new_image(), observed)
    assert kinds(result) == [
        ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION,
        ActionKind.UPDATE_AUTO_SCALING_GROUP,
        ActionKind.START_INSTANCE_REFRESH,
    ]
    assert only(result, UpdateAutoScalingGroup).pin == VersionPin(TEMPLATE_ID, "3")
    assert only(result, StartInstanceRefresh).version == NEW_VERSION


def test_rollout_never_sets_the_group_launch_template() -> None:
    observed = with_group(observed_service(), max_size=6)
    result = run(new_image(), observed)
    action = only(result, UpdateAutoScalingGroup)
    assert (action.settings, action.pin) == ({"max_size": 4}, None)


def test_scaling_policy_created() -> None:
    observed = dataclasses.replace(observed_service(), scaling_policies=())
    action = only(run(desired_service(), observed), PutScalingPolicy)
    assert (action.resource_name, action.policy_name, action.target_value) == (
        GROUP,
        POLICY,
        70.0,
    )


def test_scaling_policy_target_updated() -> None:
    desired = desired_service(scaling=ScalingSpec(target_cpu_utilization=55))
    action = only(run(desired, observed_service()), PutScalingPolicy)
    assert (action.policy_name, action.target_value) == (POLICY, 55.0)
    assert isinstance(action.target_value, float)


def test_scaling_policy_deleted() -> None:
    desired = desired_service(scaling=None)
    observed = dataclasses.replace(observed_service(desired), scaling_policies=(cpu_policy(),))
    result = run(desired, observed)
    assert kinds(result) == [ActionKind.DELETE_SCALING_POLICY]
    action = only(result, DeleteScalingPolicy)
    assert (action.resource_name, action.policy_name) == (GROUP, POLICY)


@pytest.mark.parametrize(
    ("builder", "resource", "name", "resource_id"),
    [
        (with_group, Resource.AUTO_SCALING_GROUP, GROUP, GROUP),
        (with_template, Resource.LAUNCH_TEMPLATE, TEMPLATE, TEMPLATE_ID),
        (with_target_group, Resource.TARGET_GROUP, TARGET_GROUP, TARGET_GROUP_ARN),
    ],
)
def test_adoption_tags_by_the_right_id(
    builder: Any, resource: Resource, name: str, resource_id: str
) -> None:
    observed = builder(observed_service(), tags={"Name": "feedback"})
    result = run(desired_service(), observed)
    action = only(result, TagResource)
    assert action.resource_name == name
    assert (action.resource_type, action.resource_id, action.tags) == (
        resource,
        resource_id,
        {TAG_OWNER: OWNER, TAG_SERVICE: "feedback"},
    )


def test_adoption_writes_only_missing_tags() -> None:
    observed = with_template(observed_service(), tags={TAG_OWNER: OWNER})
    action = only(run(desired_service(), observed), TagResource)
    assert action.tags == {TAG_SERVICE: "feedback"}


# ------------------------------------------------------------------------------------------------
# Rollout
# ------------------------------------------------------------------------------------------------


def test_new_image_creates_a_version_and_refreshes_to_it() -> None:
    desired = new_image()
    result = run(desired, observed_service())
    assert kinds(result) == [
        ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION,
        ActionKind.START_INSTANCE_REFRESH,
    ]
    create = only(result, CreateLaunchTemplateVersion)
    assert create == CreateLaunchTemplateVersion(
        resource_name=TEMPLATE,
        reason=create.reason,
        launch_template_id=TEMPLATE_ID,
        source_version=3,
        user_data=desired.user_data,
        description=(
            f"asg-reconciler fp={desired.fingerprint} rev={REVISION[:12]}"
            f" tag={desired.image.tag} image={desired.image.pinned}"
        ),
        client_token=f"asgr-{desired.fingerprint}-{TEMPLATE}",
    )
    start = only(result, StartInstanceRefresh)
    assert start == StartInstanceRefresh(
        resource_name=GROUP,
        reason=start.reason,
        launch_template_id=TEMPLATE_ID,
        version=NEW_VERSION,
        preferences={
            "MinHealthyPercentage": 50,
            "MaxHealthyPercentage": 100,
            "InstanceWarmup": 300,
            "CheckpointPercentages": [50, 100],
            "CheckpointDelay": HOLD_DELAY,
            "AutoRollback": True,
            "SkipMatching": False,
            "ScaleInProtectedInstances": "Refresh",
            "StandbyInstances": "Ignore",
        },
        fingerprint=desired.fingerprint,
    )


def test_user_data_change_rolls_out_like_an_image_change() -> None:
    base = desired_service()
    template = base.spec.launch_template.template + "echo tuned\n"
    desired = desired_service(
        launch_template=dataclasses.replace(base.spec.launch_template, template=template)
    )
    result = run(desired, observed_service())
    assert kinds(result) == [
        ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION,
        ActionKind.START_INSTANCE_REFRESH,
    ]


@pytest.mark.parametrize(
    ("ref", "source"),
    [("3", 3), ("$Latest", 3), ("$Default", 2)],
)
def test_source_version_is_what_the_group_runs(ref: str, source: int) -> None:
    observed = with_template(observed_service(), default_version=2)
    observed = with_group(observed, launch_template_version=ref)
    create = only(run(new_image(), observed), CreateLaunchTemplateVersion)
    assert create.source_version == source


def test_group_on_another_template_copies_our_default_version() -> None:
    observed = with_group(
        observed_service(), launch_template_id="lt-0fff", launch_template_name="legacy"
    )
    observed = with_template(observed, default_version=2)
    result = run(desired_service(), observed)
    # Version 3 already holds the desired content: reuse it, no create needed.
    assert kinds(result) == [ActionKind.START_INSTANCE_REFRESH]
    assert only(result, StartInstanceRefresh).version == 3


def test_revert_reuses_the_existing_version() -> None:
    result = run(previous_image(), observed_service())
    assert kinds(result) == [ActionKind.START_INSTANCE_REFRESH]
    assert only(result, StartInstanceRefresh).version == 2


def test_crash_after_create_reuses_the_new_version() -> None:
    # The create went through, the refresh never started: the next tick must not create again.
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    result = run(desired, observed)
    assert kinds(result) == [ActionKind.START_INSTANCE_REFRESH]
    assert only(result, StartInstanceRefresh).version == 4


def test_stale_instances_refresh_to_the_current_version() -> None:
    mixed = (
        instance("i-1", launch_template_version="3"),
        instance("i-2", launch_template_version="2"),
    )
    observed = with_group(observed_service(), instances=mixed)
    result = run(desired_service(), observed)
    assert kinds(result) == [ActionKind.START_INSTANCE_REFRESH]
    assert only(result, StartInstanceRefresh).version == 3


def test_apply_twice_is_a_no_op() -> None:
    # Tick 1 created version 4 and started a refresh; tick 2 only waits.
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="4"),))
    result = run(desired, observed)
    assert result.phase is Phase.PROGRESSING
    assert result.empty


def test_after_a_successful_refresh_nothing_is_left() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = with_group(observed, launch_template_version="4", instances=())
    observed = dataclasses.replace(
        observed, refreshes=(refresh(desired_version="4", status=RefreshStatus.SUCCESSFUL),)
    )
    assert run(desired, observed).empty


def test_everything_at_once_is_in_apply_order() -> None:
    desired = new_image()
    observed = with_target_group(observed_service(), health_check=health_check(path="/"))
    observed = with_group(observed, max_size=6, tags={})
    observed = dataclasses.replace(observed, scaling_policies=())
    result = run(desired, observed)
    assert kinds(result) == [
        ActionKind.TAG_RESOURCE,
        ActionKind.MODIFY_TARGET_GROUP,
        ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION,
        ActionKind.UPDATE_AUTO_SCALING_GROUP,
        ActionKind.PUT_SCALING_POLICY,
        ActionKind.START_INSTANCE_REFRESH,
    ]
    assert kinds(result) == sorted(kinds(result))


# ------------------------------------------------------------------------------------------------
# Description, ClientToken and preferences
# ------------------------------------------------------------------------------------------------


def test_client_token_is_cut_to_64() -> None:
    token = client_token(fingerprint="a" * 16, template_name="t" * 100)
    assert len(token) == CLIENT_TOKEN_LIMIT == 64
    assert token.startswith(f"asgr-{'a' * 16}-ttt")


def test_client_token_is_deterministic_per_content() -> None:
    desired = new_image()
    first = only(run(desired, observed_service()), CreateLaunchTemplateVersion)
    other_commit = new_image(source=source_ref(revision="f" * 40))
    second = only(run(other_commit, observed_service()), CreateLaunchTemplateVersion)
    assert first.client_token == second.client_token
    assert first.description != second.description


def test_long_template_name_in_plan() -> None:
    base = desired_service()
    name = "feedback-" + "x" * 120
    desired = desired_service(
        image=resolved_image(digest=DIGEST_B),
        launch_template=dataclasses.replace(base.spec.launch_template, name=name),
    )
    observed = with_template(observed_service(), name=name)
    create = only(run(desired, observed), CreateLaunchTemplateVersion)
    assert len(create.client_token) == 64
    assert len(create.description) <= 255


@pytest.mark.parametrize(
    ("revision", "shown"), [("1234567890abcdef", "rev=1234567890ab"), (None, "rev=0f877b1c2d3e")]
)
def test_revision_argument_overrides_the_loaded_one(revision: str | None, shown: str) -> None:
    create = only(
        run(new_image(), observed_service(), revision=revision),
        CreateLaunchTemplateVersion,
    )
    assert shown in create.description


def test_no_revision_anywhere_is_a_dash() -> None:
    desired = new_image(source=source_ref(revision=None))
    create = only(run(desired, observed_service()), CreateLaunchTemplateVersion)
    assert " rev=- " in create.description


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {},
            {
                "MinHealthyPercentage": 50,
                "MaxHealthyPercentage": 100,
                "InstanceWarmup": 300,
                "CheckpointPercentages": [50, 100],
                "CheckpointDelay": HOLD_DELAY,
                "AutoRollback": True,
                "SkipMatching": False,
                "ScaleInProtectedInstances": "Refresh",
                "StandbyInstances": "Ignore",
            },
        ),
        (
            {"checkpoint_delay": None},
            {
                "MinHealthyPercentage": 50,
                "MaxHealthyPercentage": 100,
                "InstanceWarmup": 300,
                "CheckpointPercentages": [50, 100],
                "CheckpointDelay": HOLD_DELAY,
                "AutoRollback": True,
                "SkipMatching": False,
                "ScaleInProtectedInstances": "Refresh",
                "StandbyInstances": "Ignore",
            },
        ),
        (
            {"checkpoint_percentages": (), "checkpoint_delay": 60},
            {
                "MinHealthyPercentage": 50,
                "MaxHealthyPercentage": 100,
                "InstanceWarmup": 300,
                "AutoRollback": True,
                "SkipMatching": False,
                "ScaleInProtectedInstances": "Refresh",
                "StandbyInstances": "Ignore",
            },
        ),
        (
            {"instance_warmup": None, "auto_rollback": False, "skip_matching": True},
            {
                "MinHealthyPercentage": 50,
                "MaxHealthyPercentage": 100,
                "CheckpointPercentages": [50, 100],
                "CheckpointDelay": HOLD_DELAY,
                "AutoRollback": False,
                "SkipMatching": True,
                "ScaleInProtectedInstances": "Refresh",
                "StandbyInstances": "Ignore",
            },
        ),
        (
            {"min_healthy_percentage": 100, "max_healthy_percentage": 200},
            {
                "MinHealthyPercentage": 100,
                "MaxHealthyPercentage": 200,
                "InstanceWarmup": 300,
                "CheckpointPercentages": [50, 100],
                "CheckpointDelay": HOLD_DELAY,
                "AutoRollback": True,
                "SkipMatching": False,
                "ScaleInProtectedInstances": "Refresh",
                "StandbyInstances": "Ignore",
            },
        ),
    ],
    ids=["seed", "no-delay", "delay-without-checkpoints", "no-warmup-no-rollback", "surge"],
)
def test_refresh_preferences(overrides: dict[str, Any], expected: dict[str, Any]) -> None:
    assert refresh_preferences(rollout_spec(**overrides)) == expected
    desired = new_image(rollout=rollout_spec(**overrides))
    start = only(run(desired, observed_service()), StartInstanceRefresh)
    assert start.preferences == expected


# ------------------------------------------------------------------------------------------------
# Phases: blocked, progressing, superseding, failed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "observed",
    [
        dataclasses.replace(observed_service(), auto_scaling_group=None),
        dataclasses.replace(observed_service(), launch_template=None),
        dataclasses.replace(observed_service(), target_group=None),
        with_group(observed_service(), tags=owned_tags(owner="team-b"), max_size=9),
        with_target_group(
            observed_service(),
            tags=owned_tags(owner="team-b"),
            health_check=health_check(path="/"),
        ),
    ],
    ids=["no-group", "no-template", "no-target-group", "foreign-group", "foreign-target-group"],
)
def test_blocked_plans_nothing(observed: ObservedService) -> None:
    result = run(new_image(), observed)
    assert result.phase is Phase.BLOCKED
    assert result.empty


def test_paused_plans_nothing_even_with_changes() -> None:
    desired = new_image(paused=True)
    observed = with_group(observed_service(), max_size=9)
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="2"),))
    result = run(desired, observed)
    assert (result.phase, result.message, result.actions) == (Phase.BLOCKED, "paused", ())


def test_progressing_corrects_only_settings_drift() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = with_group(observed, max_size=6)
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="4"),))
    result = run(desired, observed)
    assert result.phase is Phase.PROGRESSING
    assert kinds(result) == [ActionKind.UPDATE_AUTO_SCALING_GROUP]


def test_superseding_cancels_before_anything_else_rolls_out() -> None:
    observed = dataclasses.replace(observed_service(), refreshes=(refresh(desired_version="2"),))
    observed = with_group(observed, min_size=1)
    result = run(new_image(), observed)
    assert result.phase is Phase.SUPERSEDING
    assert kinds(result) == [
        ActionKind.UPDATE_AUTO_SCALING_GROUP,
        ActionKind.CANCEL_INSTANCE_REFRESH,
    ]
    assert result.actions[-1] == CancelInstanceRefresh(
        resource_name=GROUP, reason=result.actions[-1].reason
    )


def test_revert_supersedes_a_broken_rollout_then_reuses_the_old_version() -> None:
    # Tick 1: the bad deploy (version 4) is rolling out and the revert arrives: cancel it.
    bad = new_image()
    observed = add_versions(observed_service(), version_of(bad, 4))
    rolling = dataclasses.replace(observed, refreshes=(refresh(desired_version="4"),))
    assert kinds(run(previous_image(), rolling)) == [ActionKind.CANCEL_INSTANCE_REFRESH]
    # Tick 2: the cancel settled; roll out version 2 again, no new version.
    cancelled = dataclasses.replace(
        observed, refreshes=(refresh(desired_version="4", status=RefreshStatus.CANCELLED),)
    )
    result = run(previous_image(), cancelled)
    assert kinds(result) == [ActionKind.START_INSTANCE_REFRESH]
    assert only(result, StartInstanceRefresh).version == 2


def test_cancelling_waits_without_acting() -> None:
    observed = dataclasses.replace(
        observed_service(),
        refreshes=(refresh(desired_version="2", status=RefreshStatus.CANCELLING),),
    )
    result = run(new_image(), observed)
    assert result.phase is Phase.SUPERSEDING
    assert result.empty


def test_failed_refresh_is_marked_once() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = dataclasses.replace(
        observed,
        refreshes=(refresh(desired_version="4", status=RefreshStatus.ROLLBACK_SUCCESSFUL),),
    )
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert kinds(result) == [ActionKind.MARK_FAILED]
    action = only(result, MarkFailed)
    marker = failed_marker(desired, refresh_id="rf-0001")
    assert (action.resource_name, action.fingerprint) == (GROUP, marker)
    # Tick 2: tagged now, so nothing more to do.
    tagged = with_group(observed, tags=failed_tags(desired))
    again = run(desired, tagged)
    assert again.phase is Phase.FAILED
    assert again.empty


def test_failed_still_corrects_settings_but_never_rolls_out() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired), max_size=6)
    observed = with_target_group(observed, health_check=health_check(matcher="200-399"))
    observed = dataclasses.replace(observed, scaling_policies=())
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert kinds(result) == [
        ActionKind.MODIFY_TARGET_GROUP,
        ActionKind.UPDATE_AUTO_SCALING_GROUP,
        ActionKind.PUT_SCALING_POLICY,
    ]


def test_failed_does_not_cancel_another_refresh() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="2"),))
    assert run(desired, observed).empty


def test_rollback_in_progress_marks_failed() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = dataclasses.replace(
        observed,
        refreshes=(refresh(desired_version="4", status=RefreshStatus.ROLLBACK_IN_PROGRESS),),
    )
    assert kinds(run(desired, observed)) == [ActionKind.MARK_FAILED]


def test_new_commit_after_failure_rolls_out() -> None:
    # The failed fingerprint stays tagged, but the desired state moved on (rule 4).
    failed = new_image()
    fixed = desired_service(image=resolved_image(tag="v1.2", digest="sha256:" + "ab" * 32))
    observed = with_group(observed_service(), tags=failed_tags(failed))
    result = run(fixed, observed)
    assert result.phase is Phase.OUT_OF_SYNC
    assert ActionKind.START_INSTANCE_REFRESH in kinds(result)


def test_service_spec_factory_defaults_match_seed() -> None:
    # Guards the factories: the seed's rollout is what the preference cases start from.
    assert service_spec().rollout == rollout_spec()


# ------------------------------------------------------------------------------------------------
# Order of writes: AWS's update restriction, and adoption before anything else (issue 11)
# ------------------------------------------------------------------------------------------------

# A status this release does not know blocks the service instead (test_diff_aws_facts.py).
_ACTIVE = [s for s in RefreshStatus if s.active and s is not RefreshStatus.UNKNOWN]
_ENDED = [s for s in RefreshStatus if not s.active]


def _floating(ref: str, *refreshes: Any, **group: Any) -> ObservedService:
    observed = with_group(observed_service(), launch_template_version=ref, **group)
    return dataclasses.replace(observed, refreshes=tuple(refreshes))


def _pins(result: Plan) -> list[VersionPin]:
    return [a.pin for a in result.actions if isinstance(a, UpdateAutoScalingGroup) and a.pin]


@pytest.mark.parametrize("status", _ACTIVE)
@pytest.mark.parametrize("ref", ["$Default", "$Latest"])
@pytest.mark.parametrize(
    ("desired_version", "make"),
    [("2", new_image), ("4", new_image), ("3", desired_service), (None, new_image)],
    ids=["foreign-older", "foreign-newer", "own-version", "no-desired-configuration"],
)
def test_no_launch_template_change_while_a_refresh_is_active(
    status: RefreshStatus, ref: str, desired_version: str | None, make: Any
) -> None:
    # aws-facts 1.12 (R1): AWS refuses it during a refresh with a DesiredConfiguration, and
    # apply stops at the first error, which would keep the cancel from ever being sent.
    observed = _floating(ref, refresh(desired_version=desired_version, status=status))
    desired = make()
    result = run(desired, observed)
    assert _pins(result) == []
    assert ActionKind.START_INSTANCE_REFRESH not in kinds(result)
    assert ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION not in kinds(result)
    pinned = [
        c for c in diff(desired, observed, owner=OWNER).changes if c.field.endswith("version")
    ]
    if pinned and result.phase is not Phase.BLOCKED:
        assert "waits until instance refresh rf-0001 is no longer active" in result.message


@pytest.mark.parametrize("ref", ["$Default", "$Latest"])
@pytest.mark.parametrize("status", [RefreshStatus.IN_PROGRESS, RefreshStatus.PENDING])
def test_the_seed_with_a_foreign_refresh_cancels_first_and_pins_later(
    ref: str, status: RefreshStatus
) -> None:
    # The seed's starting state: on $Default, another refresh running, a new image desired.
    running = refresh(desired_version="2", status=status)
    tick1 = run(new_image(), _floating(ref, running))
    assert (tick1.phase, kinds(tick1)) == (Phase.SUPERSEDING, [ActionKind.CANCEL_INSTANCE_REFRESH])
    # Tick 2: still Cancelling, which is active: nothing may touch the launch template yet.
    cancelling = dataclasses.replace(running, status=RefreshStatus.CANCELLING)
    assert run(new_image(), _floating(ref, cancelling)).empty
    # Tick 3: the refresh is gone: pin to what the group runs, then roll out.
    cancelled = dataclasses.replace(running, status=RefreshStatus.CANCELLED)
    tick3 = run(new_image(), _floating(ref, cancelled))
    assert kinds(tick3) == [
        ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION,
        ActionKind.UPDATE_AUTO_SCALING_GROUP,
        ActionKind.START_INSTANCE_REFRESH,
    ]
    assert _pins(tick3) == [VersionPin(TEMPLATE_ID, "3")]


@pytest.mark.parametrize("status", _ACTIVE)
def test_settings_outside_the_restriction_are_still_updated(status: RefreshStatus) -> None:
    observed = _floating(
        "$Default", refresh(desired_version="2", status=status), min_size=1, health_check_type="EC2"
    )
    result = run(new_image(), observed)
    update = only(result, UpdateAutoScalingGroup)
    assert (update.settings, update.pin) == ({"min_size": 2, "health_check_type": "ELB"}, None)
    assert "launchTemplate.version" not in update.reason


@pytest.mark.parametrize("status", _ENDED)
@pytest.mark.parametrize("make", [new_image, desired_service], ids=["rollout", "in-sync-content"])
def test_pin_goes_out_once_no_refresh_is_active(status: RefreshStatus, make: Any) -> None:
    observed = _floating("$Default", refresh(desired_version="2", status=status))
    result = run(make(), observed)
    if result.phase is Phase.FAILED or result.phase is Phase.OUT_OF_SYNC:
        assert _pins(result) == [VersionPin(TEMPLATE_ID, "3")]
    assert "waits until" not in result.message


def test_pin_is_sent_in_failed_before_mark_failed() -> None:
    # R1 in FAILED: once the rollback has ended, the pin no longer blocks MARK_FAILED.
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    ended = refresh(desired_version="4", status=RefreshStatus.ROLLBACK_SUCCESSFUL)
    observed = with_group(observed, launch_template_version="$Default")
    result = run(desired, dataclasses.replace(observed, refreshes=(ended,)))
    assert result.phase is Phase.FAILED
    assert kinds(result) == [ActionKind.UPDATE_AUTO_SCALING_GROUP, ActionKind.MARK_FAILED]


def test_rolling_back_defers_the_pin_but_still_marks_failed() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    rolling_back = refresh(desired_version="4", status=RefreshStatus.ROLLBACK_IN_PROGRESS)
    observed = with_group(observed, launch_template_version="$Latest")
    result = run(desired, dataclasses.replace(observed, refreshes=(rolling_back,)))
    assert kinds(result) == [ActionKind.MARK_FAILED]


@pytest.mark.parametrize(
    ("builder", "resource", "drift"),
    [
        (with_target_group, Resource.TARGET_GROUP, {"health_check": health_check(path="/")}),
        (with_group, Resource.AUTO_SCALING_GROUP, {"max_size": 9}),
        (with_group, Resource.AUTO_SCALING_GROUP, {"launch_template_version": "$Default"}),
        (with_template, Resource.LAUNCH_TEMPLATE, {}),
    ],
    ids=["target-group-health-check", "group-size", "group-pin", "template-new-version"],
)
def test_an_adopted_resource_is_tagged_before_any_other_write(
    builder: Any, resource: Resource, drift: dict[str, Any]
) -> None:
    # deploy/iam/reconciler-daemon.json allows these writes only on resources tagged as ours.
    observed = builder(observed_service(), tags={"Name": "feedback"}, **drift)
    result = run(new_image(), observed)
    tag = only(result, TagResource)
    assert tag.resource_type is resource
    assert result.actions[0] is tag
    writes_to_it = [
        a for a in result.actions if a is not tag and a.resource_name == tag.resource_name
    ]
    assert writes_to_it, "the case must make another write to the adopted resource"
    assert all(a.kind > tag.kind for a in writes_to_it)


def test_every_write_kind_sorts_after_adoption_except_retry() -> None:
    later = [k for k in ActionKind if k is not ActionKind.CLEAR_FAILED]
    assert min(later) is ActionKind.TAG_RESOURCE
