"""diff where the reconciler must get AWS right (issue 11, aws-facts 1.1, 1.6, 1.7, 1.14, 9):
SSM-parameter images and AutoRollback, refresh statuses it does not know, version drift repaired
by re-pinning, and the failed-rollout memory keyed on everything the rollout's success depends
on. Pure data in, a Diff out, in the style of tests/test_diff.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_FAILED_FINGERPRINT,
    TAG_RETRIED_REFRESH,
    Change,
    DesiredService,
    Diff,
    ObservedService,
    Phase,
    RefreshStatus,
    Resource,
    RolloutSpec,
)
from reconciler.model.markers import failed_marker, parse_failed_marker, rollout_key
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import diff
from tests.factories import (
    DIGEST_B,
    GROUP,
    OWNER,
    add_versions,
    desired_service,
    failed_tags,
    group_spec,
    health_check,
    instance,
    instances,
    observed_service,
    owned_tags,
    refresh,
    resolved_image,
    rollout_spec,
    target_group_spec,
    version_of,
    with_group,
    with_template,
)

SSM_IMAGE = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def run(desired: DesiredService, observed: ObservedService) -> Diff:
    return diff(desired, observed, owner=OWNER)


def new_image(**spec_overrides: Any) -> DesiredService:
    return desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B), **spec_overrides)


def fields(result: Diff) -> list[str]:
    return [c.field for c in result.changes]


def with_image_id(observed: ObservedService, number: int, image_id: str) -> ObservedService:
    assert observed.launch_template is not None
    versions = tuple(
        dataclasses.replace(v, image_id=image_id) if v.version_number == number else v
        for v in observed.launch_template.versions
    )
    return with_template(observed, versions=versions)


# ------------------------------------------------------------------------------------------------
# 4. AutoRollback with an SSM-parameter AMI (aws-facts 1.6, R4)
# ------------------------------------------------------------------------------------------------


def test_ssm_image_with_auto_rollback_blocks_the_rollout_and_says_what_to_do() -> None:
    observed = with_image_id(observed_service(), 3, SSM_IMAGE)
    result = run(new_image(), observed)
    assert result.phase is Phase.BLOCKED
    assert "AutoRollback can't be used with an SSM-parameter AMI" in result.message
    assert SSM_IMAGE in result.message and "version 3" in result.message
    assert "rollout.autoRollback: false" in result.message
    assert "pin an AMI id" in result.message
    assert fields(result) == ["image"]  # reported, but plan does nothing while BLOCKED


@pytest.mark.parametrize(
    ("image_id", "auto_rollback", "phase"),
    [
        (SSM_IMAGE, False, Phase.OUT_OF_SYNC),
        ("ami-0123456789abcdef0", True, Phase.OUT_OF_SYNC),
        ("", True, Phase.OUT_OF_SYNC),  # not read (an older cache entry): not guessed at
        ("resolve:ssm:my-ami-parameter:3", True, Phase.BLOCKED),
        ("resolve:ssm:arn:aws:ssm:us-east-1:123456789012:parameter/golden", True, Phase.BLOCKED),
    ],
)
def test_only_auto_rollback_on_an_ssm_image_is_refused(
    image_id: str, auto_rollback: bool, phase: Phase
) -> None:
    desired = new_image(rollout=rollout_spec(auto_rollback=auto_rollback))
    observed = with_image_id(observed_service(), 3, image_id)
    assert run(desired, observed).phase is phase


def test_ssm_image_in_sync_is_in_sync() -> None:
    desired = desired_service()
    assert run(desired, with_image_id(observed_service(desired), 3, SSM_IMAGE)).in_sync


def test_ssm_image_blocks_a_refresh_for_stale_instances_too() -> None:
    desired = desired_service()
    observed = with_group(observed_service(desired), instances=instances("2"))
    result = run(desired, with_image_id(observed, 3, SSM_IMAGE))
    assert result.phase is Phase.BLOCKED
    assert fields(result) == ["instances"]


def test_ssm_image_of_the_floating_default_is_the_rollback_target() -> None:
    # The group on $Default (the seed) is pinned before the refresh: that version is checked.
    observed = with_group(observed_service(), launch_template_version="$Default")
    result = run(new_image(), with_image_id(observed, 3, SSM_IMAGE))
    assert result.phase is Phase.BLOCKED


def test_ssm_image_only_on_the_target_version_is_not_refused() -> None:
    # AWS checks the configuration the group runs before the refresh, the rollback target.
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4, image_id=SSM_IMAGE))
    assert run(desired, observed).phase is Phase.OUT_OF_SYNC


def test_ssm_block_is_decided_before_cancelling_another_refresh() -> None:
    observed = with_image_id(observed_service(), 3, SSM_IMAGE)
    observed = dataclasses.replace(observed, refreshes=(refresh(desired_version="2"),))
    result = run(new_image(), observed)
    assert result.phase is Phase.BLOCKED
    assert Resource.INSTANCE_REFRESH not in [c.resource for c in result.changes]


def test_a_recorded_failure_is_reported_before_the_ssm_block() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    assert run(desired, with_image_id(observed, 3, SSM_IMAGE)).phase is Phase.FAILED


# ------------------------------------------------------------------------------------------------
# 5. Refresh statuses this release does not know (aws-facts 1.1, R7)
# ------------------------------------------------------------------------------------------------


def unknown(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "status": RefreshStatus.UNKNOWN,
        "reported_status": "Paused",
        "desired_version": "2",
    }
    return refresh(**{**values, **overrides})


@pytest.mark.parametrize("desired_version", ["2", "3", "4", None])
def test_newest_refresh_with_an_unknown_status_blocks_and_names_it(
    desired_version: str | None,
) -> None:
    observed = dataclasses.replace(
        observed_service(), refreshes=(unknown(desired_version=desired_version),)
    )
    result = run(new_image(), observed)
    assert result.phase is Phase.BLOCKED
    assert "'Paused'" in result.message and "does not know" in result.message
    assert Resource.INSTANCE_REFRESH not in [c.resource for c in result.changes]


def test_an_older_refresh_with_an_unknown_status_has_ended() -> None:
    history = (
        refresh(refresh_id="rf-2", status=RefreshStatus.SUCCESSFUL, desired_version="3"),
        unknown(refresh_id="rf-1"),
    )
    observed = dataclasses.replace(observed_service(), refreshes=history)
    assert run(new_image(), observed).phase is Phase.OUT_OF_SYNC


# ------------------------------------------------------------------------------------------------
# 5. A MixedInstancesPolicy refresh is attributed to its own version (R9), via observe's parse
# ------------------------------------------------------------------------------------------------


def test_a_foreign_refresh_for_another_version_is_superseded() -> None:
    # observe now reads the MIP's version ("2"); before, None made it "the group's version".
    observed = dataclasses.replace(observed_service(), refreshes=(refresh(desired_version="2"),))
    result = run(new_image(), observed)
    assert result.phase is Phase.SUPERSEDING


# ------------------------------------------------------------------------------------------------
# 6. The group's version drifted while the instances run the desired one: re-pin, no refresh
# ------------------------------------------------------------------------------------------------


def repin(old: str, new: str = "3") -> Change:
    return Change(Resource.AUTO_SCALING_GROUP, GROUP, "launchTemplate.version", old, new)


@pytest.mark.parametrize("ref", ["$Latest", "$Default", "2", "1", "4"])
def test_drifted_version_with_instances_on_the_desired_one_is_repinned(ref: str) -> None:
    desired = desired_service()
    other = new_image()
    observed = add_versions(observed_service(desired), version_of(other, 4))
    observed = with_template(observed, default_version=2)
    observed = with_group(observed, launch_template_version=ref)
    result = run(desired, observed)
    assert result.changes == (repin(ref),)
    assert result.phase is Phase.OUT_OF_SYNC
    assert "rollout" not in result.message


def test_repin_targets_the_version_the_instances_run_when_two_hold_the_desired_content() -> None:
    desired = desired_service()
    observed = add_versions(observed_service(desired), version_of(desired, 5))
    observed = with_group(observed, launch_template_version="$Latest")
    assert run(desired, observed).changes == (repin("$Latest", "3"),)


@pytest.mark.parametrize(
    "fleet",
    [
        instances("2"),  # the instances run something else: a refresh is needed
        (
            instance("i-1", launch_template_version="3"),
            instance("i-2", launch_template_version="2"),
        ),
        instances("$Latest"),  # says nothing about what it launched
    ],
    ids=["other-version", "mixed", "floating"],
)
def test_no_repin_unless_every_instance_runs_one_desired_version(fleet: Any) -> None:
    desired = desired_service()
    observed = with_group(observed_service(desired), launch_template_version="2", instances=fleet)
    result = run(desired, observed)
    assert repin("2") not in result.changes
    assert any(c.field in ("userData", "image", "instances") for c in result.changes)


def test_repin_is_not_held_back_by_a_recorded_failure() -> None:
    # Nothing is rolled out: the failure of the rollout does not concern the pin.
    desired = desired_service()
    observed = with_group(
        observed_service(desired), launch_template_version="$Latest", tags=failed_tags(desired)
    )
    observed = add_versions(observed, version_of(new_image(), 4))
    result = run(desired, observed)
    assert result.phase is Phase.OUT_OF_SYNC
    assert result.changes == (repin("$Latest"),)


# ------------------------------------------------------------------------------------------------
# 7. The failed-rollout memory: the rollout key
# ------------------------------------------------------------------------------------------------


def hc(**overrides: Any) -> Any:
    return target_group_spec(health_check=health_check(**overrides))


CHANGED = {
    "health-check-path": {"target_group": hc(path="/healthz")},
    "health-check-port": {"target_group": hc(port="9090")},
    "health-check-matcher": {"target_group": hc(matcher="200-299")},
    "grace-period": {"auto_scaling_group": group_spec(health_check_grace_period=600)},
    "health-check-type": {"auto_scaling_group": group_spec(health_check_type="EC2")},
    "min-healthy": {"rollout": rollout_spec(min_healthy_percentage=90)},
    "warmup": {"rollout": rollout_spec(instance_warmup=120)},
    "auto-rollback": {"rollout": rollout_spec(auto_rollback=False)},
}
NOT_CHANGED = {
    "group-size": {"auto_scaling_group": group_spec(max_size=9)},
    "scaling": {"scaling": None},
}


@pytest.mark.parametrize("overrides", CHANGED.values(), ids=CHANGED.keys())
def test_the_rollout_key_covers_what_success_depends_on(overrides: dict[str, Any]) -> None:
    before, after = new_image(), new_image(**overrides)
    assert after.fingerprint == before.fingerprint  # the same launch template version content
    assert rollout_key(after) != rollout_key(before)


@pytest.mark.parametrize("overrides", NOT_CHANGED.values(), ids=NOT_CHANGED.keys())
def test_the_rollout_key_ignores_what_success_does_not_depend_on(
    overrides: dict[str, Any],
) -> None:
    assert rollout_key(new_image(**overrides)) == rollout_key(new_image())


@dataclasses.dataclass(frozen=True, slots=True)
class LaterRolloutSpec(RolloutSpec):
    """RolloutSpec as a later release may grow it (bakeTime is on its way)."""

    bake_time: int | None = None


def test_a_field_added_later_keeps_the_keys_already_written() -> None:
    # Fields equal to their defaults are left out, and RolloutSpec is hashed whole.
    now = rollout_spec()
    later = LaterRolloutSpec(**{f.name: getattr(now, f.name) for f in dataclasses.fields(now)})
    assert rollout_key(new_image(rollout=later)) == rollout_key(new_image(rollout=now))
    baked = dataclasses.replace(later, bake_time=600)
    assert rollout_key(new_image(rollout=baked)) != rollout_key(new_image(rollout=now))


@pytest.mark.parametrize(
    ("value", "fingerprint", "key", "refresh_id"),
    [
        ("63445381d588f2ec", "63445381d588f2ec", None, None),  # an earlier release's tag
        ("6344.ab12", "6344", "6344.ab12", None),
        ("6344.ab12@rf-9", "6344", "6344.ab12", "rf-9"),
    ],
)
def test_the_failed_tag_formats_are_read(
    value: str, fingerprint: str, key: str | None, refresh_id: str | None
) -> None:
    marker = parse_failed_marker(value)
    assert (marker.fingerprint, marker.key, marker.refresh_id) == (fingerprint, key, refresh_id)


def test_the_marker_is_a_valid_tag_value_and_reads_back() -> None:
    desired = new_image()
    value = failed_marker(desired, refresh_id="a" * 36)
    assert len(value) <= 256  # [M Tag.Value]
    marker = parse_failed_marker(value)
    assert marker.fingerprint == desired.fingerprint and marker.fails(desired)


def failed_once(desired: DesiredService, *, tag: str | None, **refresh_overrides: Any) -> Any:
    """Version 4 holds ``desired``; its refresh rf-4 failed; the group is back on version 3."""
    values: dict[str, Any] = {
        "refresh_id": "rf-4",
        "status": RefreshStatus.ROLLBACK_SUCCESSFUL,
        "desired_version": "4",
        "status_reason": "instances failed health checks",
    }
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = dataclasses.replace(
        observed, refreshes=(refresh(**{**values, **refresh_overrides}),)
    )
    tags = owned_tags(**({TAG_FAILED_FINGERPRINT: tag} if tag is not None else {}))
    return with_group(observed, tags=tags)


def test_a_failed_refresh_is_marked_with_the_rollout_key_and_the_refresh() -> None:
    desired = new_image()
    result = run(desired, failed_once(desired, tag=None))
    assert result.phase is Phase.FAILED
    assert result.failed_marker == failed_marker(desired, refresh_id="rf-4")


def test_the_identical_spec_is_still_not_retried() -> None:
    desired = new_image()
    tag = failed_marker(desired, refresh_id="rf-4")
    result = run(desired, failed_once(desired, tag=tag))
    assert result.phase is Phase.FAILED
    assert result.failed_marker == tag  # already written: plan writes nothing


@pytest.mark.parametrize("overrides", CHANGED.values(), ids=CHANGED.keys())
def test_a_commit_changing_what_success_depends_on_rolls_out_again(
    overrides: dict[str, Any],
) -> None:
    failed = new_image()
    fixed = new_image(**overrides)
    observed = failed_once(failed, tag=failed_marker(failed, refresh_id="rf-4"))
    result = run(fixed, observed)
    assert result.phase is Phase.OUT_OF_SYNC
    assert "image" in fields(result) and "version 4" in result.message  # the same version


def test_the_fixed_spec_failing_again_is_a_new_failure() -> None:
    # rf-5 (the fix) failed too: the tag still names rf-4, so rf-5's failure counts.
    failed, fixed = new_image(), new_image(target_group=hc(path="/healthz"))
    observed = failed_once(failed, tag=failed_marker(failed, refresh_id="rf-4"), refresh_id="rf-5")
    result = run(fixed, observed)
    assert result.phase is Phase.FAILED
    assert result.failed_marker == failed_marker(fixed, refresh_id="rf-5")


def test_a_tag_from_an_earlier_release_keeps_its_failure() -> None:
    # The old tag held only the version fingerprint: a health check fix is still held back.
    failed = new_image()
    fixed = new_image(target_group=hc(path="/healthz"))
    result = run(fixed, failed_once(failed, tag=failed.fingerprint))
    assert result.phase is Phase.FAILED
    assert result.failed_marker == failed.fingerprint  # kept as it is, not rewritten


def test_a_tag_for_an_old_key_with_no_history_does_not_hold_a_changed_spec() -> None:
    # The refresh history aged out (six weeks): the tag alone decides.
    failed, fixed = new_image(), new_image(rollout=rollout_spec(min_healthy_percentage=90))
    observed = failed_once(failed, tag=failed_marker(failed, refresh_id="rf-4"))
    observed = dataclasses.replace(observed, refreshes=())
    assert run(fixed, observed).phase is Phase.OUT_OF_SYNC
    assert run(failed, observed).phase is Phase.FAILED


def test_a_rollback_of_a_failure_recorded_for_another_key_is_waited_on() -> None:
    # A health check fix committed while the failed refresh still rolls back.
    failed, fixed = new_image(), new_image(target_group=hc(path="/healthz"))
    observed = failed_once(
        failed,
        tag=failed_marker(failed, refresh_id="rf-4"),
        status=RefreshStatus.ROLLBACK_IN_PROGRESS,
        rollback=RollbackDetails(reason="automatic"),
    )
    result = run(fixed, observed)
    assert result.phase is Phase.PROGRESSING
    assert "desired state changed" in result.message
    rolling = run(failed, observed)
    assert rolling.phase is Phase.FAILED


def test_a_rollback_in_progress_is_marked_with_its_refresh() -> None:
    desired = new_image()
    observed = failed_once(desired, tag=None, status=RefreshStatus.ROLLBACK_IN_PROGRESS)
    result = run(desired, observed)
    assert result.phase is Phase.FAILED
    assert result.failed_marker == failed_marker(desired, refresh_id="rf-4")


def test_retry_still_forgives_the_refresh() -> None:
    desired = new_image()
    observed = failed_once(desired, tag=None)
    retried = with_group(observed, tags=owned_tags(**{TAG_RETRIED_REFRESH: "rf-4"}))
    assert run(desired, retried).phase is Phase.OUT_OF_SYNC


def test_retry_finds_a_cancelled_rollback_as_the_failure_to_forgive() -> None:
    # R6: the refresh `reconciler retry` tags is found by RollbackDetails too, or the diff would
    # find the same failure again right after the retry.
    desired = new_image()
    observed = failed_once(
        desired,
        tag=None,
        status=RefreshStatus.CANCELLED,
        rollback=RollbackDetails(reason="manual"),
    )
    assert run(desired, observed).phase is Phase.FAILED
    found = observed.last_failed_refresh()
    assert found is not None and found.refresh_id == "rf-4"
    retried = with_group(observed, tags=owned_tags(**{TAG_RETRIED_REFRESH: found.refresh_id}))
    assert run(desired, retried).phase is Phase.OUT_OF_SYNC
