"""The pinned record (``TAG_PINNED``): its format, when a cold observation trusts it, and when a
pass writes it. Plain data: each case changes one thing from a group that is trusted."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_BG_ROLLOUT,
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    TAG_PINNED,
    TAG_RETRIED_REFRESH,
    TAG_VALUE_LIMIT,
    BlueGreenSpec,
    Diff,
    ObservedAutoScalingGroup,
    ObservedInstance,
    Phase,
    ServiceOutcome,
)
from reconciler.model.bluegreen import ListenerRef, SideRef
from reconciler.model.markers import failed_marker
from reconciler.model.pinned import PinnedRecord, parse_pinned
from reconciler.pipeline.observe.records import trusted
from reconciler.pipeline.pins import due_record
from tests import factories as f

DESIRED = f.desired_service()
OTHER = f.desired_service(image=f.resolved_image(tag="v2", digest=f.DIGEST_B))
VERSION = f.version_of(DESIRED, 3)
RECORD = PinnedRecord(f.TEMPLATE_ID, 3, VERSION.description)
TEMPLATE = f.observed_template(versions=(VERSION,))


def settled(number: str = "3", count: int = 2, **overrides: Any) -> tuple[ObservedInstance, ...]:
    return tuple(
        dataclasses.replace(i, **{"launch_template_id": f.TEMPLATE_ID, **overrides})
        for i in f.instances(number, count=count)
    )


def group(**overrides: Any) -> ObservedAutoScalingGroup:
    values: dict[str, Any] = {
        "tags": f.owned_tags(**{TAG_PINNED: RECORD.value()}),
        "instances": settled(),
    }
    return f.observed_group(**{**values, **overrides})


def tags(**extra: str) -> dict[str, str]:
    return {**f.owned_tags(**{TAG_PINNED: RECORD.value()}), **extra}


# ------------------------------------------------------------------------------------------------
# The format
# ------------------------------------------------------------------------------------------------


def test_a_record_reads_back_as_written() -> None:
    assert parse_pinned(RECORD.value()) == RECORD
    stands = RECORD.stands_for()
    assert (
        stands.version_number == 3 and stands.recorded and stands.description == VERSION.description
    )


def test_a_long_description_is_cut_to_the_tag_limit_and_keeps_the_fingerprint() -> None:
    record = PinnedRecord(f.TEMPLATE_ID, 12345, VERSION.description + " " + "x" * 300)
    value = record.value()
    assert len(value) == TAG_VALUE_LIMIT
    back = parse_pinned(value)
    assert back is not None and back.version == 12345
    assert f"fp={DESIRED.fingerprint}" in back.description


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "lt-0123 3",  # no description: parses, but has no fingerprint to trust (see below)
        "lt-0123 $Latest asg-reconciler fp=0123456789abcdef",
        "lt-0123 0 asg-reconciler fp=0123456789abcdef",
        "lt-0123 -1 asg-reconciler fp=0123456789abcdef",
        "sg-0123 3 asg-reconciler fp=0123456789abcdef",
        "3 lt-0123 asg-reconciler fp=0123456789abcdef",
        "garbage",
    ],
)
def test_a_record_not_in_the_format_is_never_trusted(value: str | None) -> None:
    tagged = {**f.owned_tags(), **({TAG_PINNED: value} if value is not None else {})}
    assert trusted(group(tags=tagged), TEMPLATE, fingerprint=DESIRED.fingerprint) is None


# ------------------------------------------------------------------------------------------------
# When a cold observation trusts it
# ------------------------------------------------------------------------------------------------


def test_a_settled_group_on_the_recorded_version_is_trusted() -> None:
    assert trusted(group(), TEMPLATE, fingerprint=DESIRED.fingerprint) == RECORD


@pytest.mark.parametrize(
    ("why", "changes", "template", "fingerprint"),
    [
        ("the service wants another fingerprint", {}, TEMPLATE, OTHER.fingerprint),
        ("the caller did not say what it wants", {}, TEMPLATE, None),
        ("the template was not found", {}, None, DESIRED.fingerprint),
        (
            "the template was deleted and recreated under its name (new id)",
            {},
            dataclasses.replace(TEMPLATE, id="lt-0fffffffffffffff0"),
            DESIRED.fingerprint,
        ),
        (
            "the group was pointed at another template",
            {"launch_template_id": "lt-0fffffffffffffff0"},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "$Latest moves with the template",
            {"launch_template_version": "$Latest"},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "$Default moves too",
            {"launch_template_version": "$Default"},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "no reference at all is $Default",
            {"launch_template_version": None},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "the group was pinned by hand to another number",
            {"launch_template_version": "4", "instances": settled("4")},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        ("an instance is missing", {"instances": settled(count=1)}, TEMPLATE, DESIRED.fingerprint),
        ("an instance too many", {"instances": settled(count=3)}, TEMPLATE, DESIRED.fingerprint),
        (
            "an instance is launching",
            {"instances": settled()[:1] + settled(lifecycle_state="Pending")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance is terminating",
            {"instances": settled()[:1] + settled(lifecycle_state="Terminating")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance is unhealthy",
            {"instances": settled()[:1] + settled(health_status="Unhealthy")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance runs another version (a refresh under way)",
            {"instances": settled()[:1] + settled("4")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance runs the number of another template",
            {"instances": settled()[:1] + settled(launch_template_id="lt-0fffffffffffffff0")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance does not say its template",
            {"instances": settled()[:1] + settled(launch_template_id=None)[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "an instance is on $Latest",
            {"instances": settled()[:1] + settled("$Latest")[1:]},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "a checkpoint was passed: the chain is in the refresh history",
            {"tags": tags(**{TAG_CHECKPOINT: "rf-1:50:rf-0"})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "a retry is recorded",
            {"tags": tags(**{TAG_RETRIED_REFRESH: "rf-1"})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "a blue/green rollout mark",
            {"tags": tags(**{TAG_BG_ROLLOUT: f"{DESIRED.fingerprint}@1"})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "this fingerprint's rollout failed",
            {"tags": tags(**{TAG_FAILED_FINGERPRINT: failed_marker(DESIRED, refresh_id="rf-9")})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "this fingerprint failed, tagged by an earlier release (bare fingerprint)",
            {"tags": tags(**{TAG_FAILED_FINGERPRINT: DESIRED.fingerprint})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "the record's description is not ours (no fingerprint)",
            {"tags": tags(**{TAG_PINNED: f"{f.TEMPLATE_ID} 3 made by hand"})},
            TEMPLATE,
            DESIRED.fingerprint,
        ),
        (
            "the record names another number than the group pins",
            {
                "tags": tags(
                    **{TAG_PINNED: PinnedRecord(f.TEMPLATE_ID, 2, VERSION.description).value()}
                )
            },
            TEMPLATE,
            DESIRED.fingerprint,
        ),
    ],
)
def test_the_record_is_not_trusted_when(
    why: str, changes: dict[str, Any], template: Any, fingerprint: str | None
) -> None:
    assert trusted(group(**changes), template, fingerprint=fingerprint) is None, why


def test_a_failure_of_another_fingerprint_does_not_stop_the_trust() -> None:
    """v2 failed and was rolled back; the files went back to v3's content, which runs."""
    marked = group(tags=tags(**{TAG_FAILED_FINGERPRINT: failed_marker(OTHER, refresh_id="rf-9")}))
    assert trusted(marked, TEMPLATE, fingerprint=DESIRED.fingerprint) == RECORD


def test_foreign_tags_do_not_matter() -> None:
    assert trusted(group(tags=tags(team="payments")), TEMPLATE, fingerprint=DESIRED.fingerprint)


# ------------------------------------------------------------------------------------------------
# When a pass writes it
# ------------------------------------------------------------------------------------------------


def outcome(observed: Any, *, in_sync: bool = True, **spec: Any) -> ServiceOutcome:
    desired = f.desired_service(**spec) if spec else DESIRED
    phase = Phase.IN_SYNC if in_sync else Phase.OUT_OF_SYNC
    return ServiceOutcome(
        spec=desired.spec, desired=desired, observed=observed, diff=Diff(DESIRED.name, (), phase)
    )


BASE = f.with_group(f.observed_service(DESIRED), instances=settled())


def test_a_group_seen_in_sync_in_full_gets_its_record() -> None:
    assert due_record(outcome(BASE)) == RECORD


@pytest.mark.parametrize(
    ("why", "observed", "in_sync"),
    [
        ("already recorded", f.with_group(BASE, tags=tags()), True),
        ("not in sync", BASE, False),
        ("no group", dataclasses.replace(BASE, auto_scaling_group=None), True),
        ("no template", dataclasses.replace(BASE, launch_template=None), True),
        ("on $Latest", f.with_group(BASE, launch_template_version="$Latest"), True),
        (
            "on another template",
            f.with_group(BASE, launch_template_id="lt-0fffffffffffffff0"),
            True,
        ),
        (
            "the version was not read, only recorded: a record never vouches for itself",
            f.with_template(BASE, versions=(RECORD.stands_for(),)),
            True,
        ),
        (
            "the version holds the UserData but not our fingerprint",
            f.with_template(BASE, versions=(f.foreign_version(3, user_data=DESIRED.user_data),)),
            True,
        ),
        ("a refresh is active", dataclasses.replace(BASE, refreshes=(f.refresh(),)), True),
    ],
)
def test_no_record_is_written_when(why: str, observed: Any, in_sync: bool) -> None:
    assert due_record(outcome(observed, in_sync=in_sync)) is None, why


def test_a_stale_record_is_rewritten() -> None:
    stale = PinnedRecord(f.TEMPLATE_ID, 2, "asg-reconciler fp=0123456789abcdef")
    observed = f.with_group(BASE, tags=tags(**{TAG_PINNED: stale.value()}))
    assert due_record(outcome(observed)) == RECORD


def test_a_blue_green_service_gets_no_record() -> None:
    spec = f.service_spec()
    pair = BlueGreenSpec(
        ListenerRef("feedback-alb", 80), SideRef("feedback-green", "feedback-tg-g")
    )
    paired = dataclasses.replace(spec, blue_green=pair)
    found = ServiceOutcome(
        spec=paired, desired=DESIRED, observed=BASE, diff=Diff(DESIRED.name, (), Phase.IN_SYNC)
    )
    assert due_record(found) is None
