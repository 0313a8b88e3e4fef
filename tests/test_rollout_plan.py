"""The rollout plan a diff shows for the pull request: built from plain data (``pipeline.diff``),
then rendered (``cli.rollout_plan``, ``cli.render``), each case a spec or a plan and what it says.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from reconciler.cli import render
from reconciler.cli.rollout_plan import (
    NO_ROLLOUT,
    markdown_lines,
    plan_lines,
    running,
    span,
    text_lines,
)
from reconciler.model import (
    AnalysisSpec,
    BlueGreenPlan,
    BlueGreenSpec,
    Change,
    Checkpoint,
    Color,
    DesiredService,
    Diff,
    ImageMove,
    ImageSpec,
    ListenerRef,
    ObservedService,
    Phase,
    Resource,
    RollbackMethod,
    RollbackPlan,
    RollingPlan,
    RolloutPlan,
    SideRef,
    Strategy,
    TrafficStep,
)
from reconciler.pipeline.diff import diff
from reconciler.pipeline.diff.rollout_plan import (
    blue_green_plan,
    checkpoints,
    instance_seconds,
    no_rollout,
    replaced_at_a_time,
    rolling_plan,
)
from tests.factories import (
    DIGEST_A,
    DIGEST_B,
    DIGEST_C,
    OWNER,
    REPOSITORY,
    SEED_USER_DATA,
    desired_service,
    foreign_version,
    group_spec,
    health_check,
    observed_group,
    observed_service,
    observed_template,
    refresh,
    resolved_image,
    rollout_spec,
    service_spec,
    target_group_spec,
    with_group,
)


def planned(desired: DesiredService, observed: ObservedService) -> RolloutPlan:
    group, template = observed.auto_scaling_group, observed.launch_template
    assert group is not None and template is not None
    return rolling_plan(desired, group=group, template=template)


def new_image(**rollout: Any) -> DesiredService:
    return desired_service(
        rollout=rollout_spec(**rollout), image=resolved_image(tag="v2.1", digest=DIGEST_B)
    )


# ------------------------------------------------------------------------------------------------
# Numbers: batches, one replacement's time, checkpoints
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "min_healthy", "max_healthy", "batch"),
    [
        (2, 90, None, 1),  # 2 x 90% rounds up to 2: no room, still one at a time
        (2, 50, None, 1),
        (4, 50, None, 2),
        (4, 50, 100, 2),
        (4, 100, 150, 2),  # launch before terminating
        (10, 90, 110, 2),
        (10, 0, 100, 10),
        (1, 100, None, 1),
        (0, 90, None, 1),
    ],
)
def test_instances_replaced_at_a_time(
    size: int, min_healthy: int, max_healthy: int | None, batch: int
) -> None:
    assert replaced_at_a_time(size, min_healthy, max_healthy) == batch


@pytest.mark.parametrize(
    ("warmup", "health_type", "grace", "threshold", "interval", "seconds"),
    [
        (300, "ELB", 300, 2, 30, 360),
        (60, "ELB", 300, 5, 10, 110),
        (300, "EC2", 300, 2, 30, 300),  # EC2 health checks: no target group to wait for
        (None, "ELB", 120, 2, 30, 180),  # no warmup declared: the grace period
        (None, "EC2", 45, 2, 30, 45),
    ],
)
def test_one_replacement_takes_health_checks_then_warmup(
    warmup: int | None, health_type: str, grace: int, threshold: int, interval: int, seconds: int
) -> None:
    spec = service_spec(
        rollout=rollout_spec(instance_warmup=warmup),
        auto_scaling_group=group_spec(
            health_check_type=health_type, health_check_grace_period=grace
        ),
        target_group=target_group_spec(
            health_check=health_check(healthy_threshold=threshold, interval_seconds=interval)
        ),
    )
    assert instance_seconds(spec) == seconds


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        ({}, (Checkpoint(50, 60, True),)),  # gated: held at 50, AWS holds at none at 100
        (
            {"checkpoint_percentages": (25, 50, 100)},
            (Checkpoint(25, 60, True), Checkpoint(50, 60, True)),
        ),
        ({"checkpoint_delay": None}, (Checkpoint(50, 3600, True),)),  # AWS's own delay
        (
            {"analysis": AnalysisSpec(enabled=False)},  # no analysis: AWS's pause, not a gate
            (Checkpoint(50, 60, False), Checkpoint(100, 60, False)),
        ),
        ({"checkpoint_percentages": (100,)}, (Checkpoint(100, 60, False),)),
        ({"checkpoint_percentages": ()}, ()),
    ],
)
def test_checkpoints_say_which_are_gates(
    rollout: dict[str, Any], expected: tuple[Checkpoint, ...]
) -> None:
    assert checkpoints(rollout_spec(**rollout)) == expected


# ------------------------------------------------------------------------------------------------
# Building the plan from what desired.yaml asks and what AWS holds
# ------------------------------------------------------------------------------------------------


def test_a_new_image_plans_a_refresh_back_to_the_version_running_now() -> None:
    desired = new_image(bake_time=600)
    observed = observed_service()
    plan = planned(desired, observed)
    assert plan.image == ImageMove(desired.image, ImageSpec(REPOSITORY, "latest", DIGEST_A))
    assert plan.rolling == RollingPlan(
        min_healthy_percentage=50,
        max_healthy_percentage=100,
        instance_warmup=300,
        checkpoints=(Checkpoint(50, 60, True),),
        bake_time=600,
        auto_rollback=True,
        instances=2,
        batch=1,
    )
    each = instance_seconds(desired.spec)
    assert plan.rollback == RollbackPlan(
        RollbackMethod.ROLLBACK_REFRESH, 3, ImageSpec(REPOSITORY, "latest", DIGEST_A), 2 * each
    )
    assert plan.checks[0].startswith("new instances: fails when 2 new instances")


@pytest.mark.parametrize(
    ("group", "rollout", "method", "rounds"),
    [
        ({}, {}, RollbackMethod.ROLLBACK_REFRESH, 2),
        (
            {"desired_capacity": 4},
            {"min_healthy_percentage": 50},
            RollbackMethod.ROLLBACK_REFRESH,
            2,
        ),
        (
            {"desired_capacity": 6},
            {"min_healthy_percentage": 90},
            RollbackMethod.ROLLBACK_REFRESH,
            6,
        ),
        ({}, {"auto_rollback": False}, RollbackMethod.CANCEL_REFRESH, 2),
        ({"desired_capacity": 0, "instances": ()}, {}, RollbackMethod.ROLLBACK_REFRESH, 0),
    ],
)
def test_the_rollback_method_and_how_long_it_takes(
    group: dict[str, Any], rollout: dict[str, Any], method: RollbackMethod, rounds: int
) -> None:
    desired = new_image(**rollout)
    observed = with_group(observed_service(), **group)
    plan = planned(desired, observed)
    assert plan.rollback is not None
    assert plan.rollback.method is method
    assert plan.rollback.seconds == rounds * instance_seconds(desired.spec)


@pytest.mark.parametrize(
    ("versions", "group_version", "running", "number"),
    [
        # The seed's launch template version: a mutable tag, never pinned.
        ((foreign_version(1, user_data=SEED_USER_DATA),), "1", ImageSpec(REPOSITORY, "latest"), 1),
        # A version nobody can read the image of.
        ((foreign_version(1, user_data="#!/bin/sh\necho hi\n"),), "1", None, 1),
        # The group points at a version AWS did not return.
        ((foreign_version(1, user_data=SEED_USER_DATA),), "7", None, 7),
    ],
)
def test_what_runs_now_as_far_as_aws_says(
    versions: tuple[Any, ...], group_version: str, running: ImageSpec | None, number: int
) -> None:
    desired = new_image()
    template = observed_template(versions=versions)
    group = observed_group(launch_template_version=group_version)
    plan = rolling_plan(desired, group=group, template=template)
    assert plan.image is not None and plan.image.running == running
    assert plan.rollback is not None and plan.rollback.version == number


def test_the_diff_carries_the_plan_of_a_rollout_it_would_start() -> None:
    desired = new_image()
    observed = observed_service()
    result = diff(desired, observed, owner=OWNER)
    assert result.phase is Phase.OUT_OF_SYNC
    assert result.rollout_plan == planned(desired, observed)


@pytest.mark.parametrize(
    ("observed", "plan"),
    [
        # Capacity alone: no rollout.
        (lambda d: with_group(observed_service(d), max_size=9), no_rollout(Strategy.ROLLING)),
        # In sync: nothing to plan.
        (lambda d: observed_service(d), None),
        # A refresh for it under way: it is not a plan any more.
        (lambda d: observed_service(d, refreshes=(refresh(),)), None),
    ],
)
def test_no_rollout_when_only_settings_change(observed: Any, plan: RolloutPlan | None) -> None:
    desired = desired_service()
    result = diff(desired, observed(desired), owner=OWNER)
    assert result.rollout_plan == plan


def _blue_green(**spec: Any) -> DesiredService:
    values: dict[str, Any] = {
        "listener": ListenerRef("feedback-alb", 80),
        "green": SideRef("feedback-green-asg", "feedback-green-tg"),
    }
    return desired_service(
        strategy=Strategy.BLUE_GREEN,
        blue_green=BlueGreenSpec(**{**values, **spec}),
        image=resolved_image(tag="v2.1", digest=DIGEST_B),
    )


@pytest.mark.parametrize(
    ("spec", "steps", "expected"),
    [
        ({}, (10, 50, 100), (TrafficStep(10, 300), TrafficStep(50, 300), TrafficStep(100, 3600))),
        (
            {"step_pause": 180, "scale_down_delay": 600},
            (25, 100),
            (TrafficStep(25, 180), TrafficStep(100, 600)),
        ),
        ({}, (100,), (TrafficStep(100, 3600),)),
    ],
)
def test_blue_green_steps_each_with_its_hold(
    spec: dict[str, Any], steps: tuple[int, ...], expected: tuple[TrafficStep, ...]
) -> None:
    desired = _blue_green(**spec)
    template = observed_service().launch_template
    assert template is not None
    plan = blue_green_plan(
        desired, live=Color.GREEN, live_group=observed_group(), template=template, steps=steps
    )
    assert plan.blue_green is not None
    assert (plan.blue_green.live, plan.blue_green.target) == (Color.GREEN, Color.BLUE)
    assert plan.blue_green.steps == expected
    assert plan.blue_green.listener == "feedback-alb:80"
    assert plan.rollback == RollbackPlan(
        RollbackMethod.LISTENER_FLIP, 3, ImageSpec(REPOSITORY, "latest", DIGEST_A), 0, Color.GREEN
    )


@pytest.mark.parametrize(
    ("analysis", "first_check"),
    [
        (AnalysisSpec(), "new instances: fails when"),
        (AnalysisSpec(enabled=False), "analysis off: each step waits out the pause"),
    ],
)
def test_blue_green_checks_follow_the_analysis(analysis: AnalysisSpec, first_check: str) -> None:
    desired = _blue_green()
    desired = desired_service(
        strategy=Strategy.BLUE_GREEN,
        blue_green=desired.spec.blue_green,
        rollout=rollout_spec(analysis=analysis, checkpoint_percentages=()),
    )
    template = observed_service().launch_template
    assert template is not None
    plan = blue_green_plan(
        desired, live=Color.BLUE, live_group=observed_group(), template=template, steps=(100,)
    )
    assert plan.checks[0].startswith(first_check)


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------

_RUNNING = ImageSpec(REPOSITORY, "v1.1", DIGEST_A)
_ROLLING = RollingPlan(
    min_healthy_percentage=90,
    max_healthy_percentage=None,
    instance_warmup=None,
    checkpoints=(Checkpoint(50, 60, True),),
    bake_time=None,
    auto_rollback=True,
    instances=2,
    batch=1,
)
_BLUE_GREEN = BlueGreenPlan(
    live=Color.BLUE,
    target=Color.GREEN,
    listener="feedback-alb:80",
    steps=(TrafficStep(10, 180), TrafficStep(50, 180), TrafficStep(100, 3600)),
    scale_down_delay=3600,
    warm_standby=0,
)


def rolling(**changes: Any) -> RolloutPlan:
    values: dict[str, Any] = {
        "strategy": Strategy.ROLLING,
        "image": ImageMove(resolved_image(tag="v2.1", digest=DIGEST_B), _RUNNING),
        "checks": ("5xx rate: at most 5%",),
        "rolling": _ROLLING,
        "rollback": RollbackPlan(RollbackMethod.ROLLBACK_REFRESH, 3, _RUNNING, 720),
    }
    return RolloutPlan(**{**values, **changes})


def blue_green(**changes: Any) -> RolloutPlan:
    values: dict[str, Any] = {
        "strategy": Strategy.BLUE_GREEN,
        "image": ImageMove(resolved_image(tag="v2.1", digest=DIGEST_B), _RUNNING),
        "checks": ("5xx rate: at most 5%",),
        "blue_green": _BLUE_GREEN,
        "rollback": RollbackPlan(RollbackMethod.LISTENER_FLIP, 2, _RUNNING, 0, Color.BLUE),
    }
    return RolloutPlan(**{**values, **changes})


def _rolling_with(**changes: Any) -> RolloutPlan:
    return rolling(rolling=dataclasses.replace(_ROLLING, **changes))


@pytest.mark.parametrize(
    ("plan", "lines"),
    [
        (
            rolling(),
            [
                f"image: v2.1 → {REPOSITORY}@{DIGEST_B} (running now: v1.1 ({DIGEST_A}))",
                "refresh: min healthy 90%, instance warmup: the group's default, autoRollback on;"
                " replaces 2 instances, 1 at a time",
                "checkpoint 50%: held until the gates below pass, and at least 60 s",
                "gates, judged all along the refresh; each checkpoint waits for them to pass:",
                "5xx rate: at most 5%",
                f"if this goes wrong: RollbackInstanceRefresh back to launch template version 3"
                f" (v1.1 ({DIGEST_A})), about 720 s (12 min) plus boot time",
            ],
        ),
        (
            _rolling_with(
                max_healthy_percentage=150,
                instance_warmup=45,
                bake_time=600,
                checkpoints=(Checkpoint(50, 3600, False), Checkpoint(100, 3600, False)),
                instances=1,
            ),
            [
                "refresh: min healthy 90%, max healthy 150%, instance warmup 45 s, autoRollback"
                " on; replaces 1 instance, 1 at a time",
                "checkpoint 50%: AWS pauses 3600 s (60 min), then goes on by itself (not a gate)",
                "checkpoint 100%: AWS pauses 3600 s (60 min), then goes on by itself (not a gate)",
                "bake: 600 s (10 min) after the last replacement, judged",
                "gates, judged all along the refresh:",
            ],
        ),
        (
            rolling(
                rollback=RollbackPlan(RollbackMethod.CANCEL_REFRESH, 3, _RUNNING, 90),
                image=ImageMove(resolved_image(tag=None, digest=DIGEST_B), None),
            ),
            [
                f"image: {REPOSITORY}@{DIGEST_B} (running now: unknown)",
                "if this goes wrong: CancelInstanceRefresh (autoRollback is off); new instances"
                f" keep the new image until a revert rolls back to launch template version 3"
                f" (v1.1 ({DIGEST_A})), about 90 s plus boot time",
            ],
        ),
        (
            rolling(
                image=ImageMove(resolved_image(tag="v2.1"), ImageSpec(REPOSITORY, "latest")),
                rollback=RollbackPlan(
                    RollbackMethod.ROLLBACK_REFRESH, None, ImageSpec(REPOSITORY, None, DIGEST_C), 0
                ),
            ),
            [
                "image: v2.1 → ghcr.io/johnhuh619/simple-api@sha256:1a2b3c4d5e6f"
                + "0" * 52
                + " (running now: latest (unpinned: whatever the tag named at each boot))",
                f"if this goes wrong: RollbackInstanceRefresh back to what runs now ({DIGEST_C}),"
                " about 0 s plus boot time",
            ],
        ),
        (
            blue_green(),
            [
                "first: deploy to green (idle), scale it to blue's capacity, wait until its"
                " targets are healthy",
                "step 1: 10% to green, held 180 s (3 min)",
                "step 2: 50% to green, held 180 s (3 min)",
                "step 3: 100% to green; blue stays at full capacity for 3600 s (60 min), still"
                " judged, then scales down to 0",
                "gates, judged at every step; a step goes on only once they pass:",
                "if this goes wrong: a listener flip, all traffic back to blue on launch template"
                f" version 2 (v1.1 ({DIGEST_A})) in one write, within seconds (after the"
                " scale-down delay a revert scales blue up first)",
            ],
        ),
    ],
)
def test_plan_lines_say_it(plan: RolloutPlan, lines: list[str]) -> None:
    shown = [words for _, words in plan_lines(plan)]
    for line in lines:
        assert line in shown, "\n".join(shown)


@pytest.mark.parametrize(
    ("plan", "headline"),
    [
        (rolling(), "rollout plan (rolling: one instance refresh):"),
        (
            blue_green(),
            "rollout plan (blueGreen: green takes the traffic from blue on feedback-alb:80):",
        ),
        (no_rollout(Strategy.ROLLING), f"rollout plan (rolling): {NO_ROLLOUT}"),
        (no_rollout(Strategy.BLUE_GREEN), f"rollout plan (blueGreen): {NO_ROLLOUT}"),
    ],
)
def test_the_headline_names_the_strategy(plan: RolloutPlan, headline: str) -> None:
    assert plan_lines(plan)[0] == (0, headline)


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        (ImageSpec(REPOSITORY, "v1.1", DIGEST_A), f"v1.1 ({DIGEST_A})"),
        (ImageSpec(REPOSITORY, None, DIGEST_A), DIGEST_A),
        (ImageSpec(REPOSITORY, "latest"), "latest (unpinned: whatever the tag named at each boot)"),
        (ImageSpec(REPOSITORY), "unknown"),
        (None, "unknown"),
    ],
)
def test_what_runs_now_reads_as_a_digest_or_an_unpinned_tag(
    image: ImageSpec | None, shown: str
) -> None:
    assert running(image) == shown


def test_warm_standby_is_what_the_old_side_keeps() -> None:
    plan = blue_green(
        blue_green=BlueGreenPlan(
            Color.GREEN, Color.BLUE, "alb:443 rule 10", (TrafficStep(100, 60),), 60, 2
        )
    )
    shown = [words for _, words in plan_lines(plan)]
    assert (
        "step 1: 100% to blue; green stays at full capacity for 60 s, still judged, then"
        " scales down to 2 (warm standby)" in shown
    )


def test_checks_nest_under_the_gates_line() -> None:
    plan = rolling(checks=("a", "b"))
    depths = {words: depth for depth, words in plan_lines(plan)}
    assert (depths["a"], depths["b"]) == (2, 2)
    assert text_lines(plan)[-2:] == [
        "      b",
        f"    if this goes wrong: RollbackInstanceRefresh back to launch template version 3"
        f" (v1.1 ({DIGEST_A})), about 720 s (12 min) plus boot time",
    ]


@pytest.mark.parametrize(
    ("checks", "item"),
    [
        (("limit a|b",), "  - limit a|b"),
        (("two\nlines",), "  - two lines"),
    ],
)
def test_markdown_items_stay_one_line_each(checks: tuple[str, ...], item: str) -> None:
    assert item in markdown_lines(rolling(checks=checks))


def test_markdown_shows_digests_as_code() -> None:
    lines = markdown_lines(rolling())
    assert lines[0] == "**Rollout plan (rolling: one instance refresh):**"
    assert f"- image: v2.1 → `{REPOSITORY}@{DIGEST_B}` (running now: v1.1 (`{DIGEST_A}`))" in lines


def test_no_rollout_in_markdown_is_one_line() -> None:
    assert markdown_lines(no_rollout(Strategy.ROLLING)) == [
        f"**Rollout plan (rolling): {NO_ROLLOUT}**"
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (119, "119 s"),
        (120, "120 s (2 min)"),
        (720, "720 s (12 min)"),
        (7200, "7200 s (2 h)"),
        (172800, "172800 s (48 h)"),
        (5400, "5400 s (90 min)"),
    ],
)
def test_spans_read_in_minutes_or_hours(seconds: int, text: str) -> None:
    assert span(seconds) == text


# ------------------------------------------------------------------------------------------------
# In the diff's text and markdown, and within GitHub's comment limit
# ------------------------------------------------------------------------------------------------


def _diff(
    plan: RolloutPlan | None, *, gates: tuple[str, ...] = ("old gate",), name: str = "feedback"
) -> Diff:
    change = Change(Resource.LAUNCH_TEMPLATE, "feedback-app-template", "image", "v1.1", "v2.1")
    return Diff(name, (change,), Phase.OUT_OF_SYNC, "1 change", gates=gates, rollout_plan=plan)


@pytest.mark.parametrize(
    ("plan", "on_a_terminal"),
    [(rolling(), True), (blue_green(), True), (no_rollout(Strategy.ROLLING), False)],
)
def test_the_plan_takes_the_place_of_the_gate_lines(plan: RolloutPlan, on_a_terminal: bool) -> None:
    shown = render.text([_diff(plan)])
    assert ("  rollout plan (" in shown) is on_a_terminal
    assert "gate: old gate" not in shown
    page = render.markdown([_diff(plan)])
    assert "**Rollout plan (" in page and "Gates:" not in page


def test_without_a_plan_the_gates_are_still_shown() -> None:
    assert "  gate: old gate" in render.text([_diff(None)])
    assert "- old gate" in render.markdown([_diff(None)])


def test_many_plans_stay_within_the_comment_limit_and_say_they_were_cut() -> None:
    checks = tuple(f"check {n}: " + "x" * 200 for n in range(10))
    diffs = [_diff(rolling(checks=checks), name=f"service-{n}") for n in range(100)]
    page = render.markdown(diffs)
    assert len(render.markdown(diffs, limit=10**7)) > render.MARKDOWN_LIMIT  # it had to cut
    assert len(page) <= render.MARKDOWN_LIMIT < 65536
    assert page.rstrip().endswith("run `reconciler diff` for the full plan._")
    assert page.count("<details>") == page.count("</details>")
    assert "**Rollout plan (rolling: one instance refresh):**" in page


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (no_rollout(Strategy.ROLLING), {"strategy": "rolling", "image": None, "rolling": None}),
        (
            rolling(),
            {
                "image": {
                    "desired": {"repository": REPOSITORY, "tag": "v2.1", "digest": DIGEST_B},
                    "running": {"repository": REPOSITORY, "tag": "v1.1", "digest": DIGEST_A},
                },
                "rollback": {
                    "method": "RollbackInstanceRefresh",
                    "version": 3,
                    "image": {"repository": REPOSITORY, "tag": "v1.1", "digest": DIGEST_A},
                    "seconds": 720,
                    "side": None,
                },
            },
        ),
        (
            blue_green(),
            {
                "strategy": "blueGreen",
                "rolling": None,
                "rollback": {
                    "method": "listener flip",
                    "version": 2,
                    "image": {"repository": REPOSITORY, "tag": "v1.1", "digest": DIGEST_A},
                    "seconds": 0,
                    "side": "blue",
                },
            },
        ),
    ],
)
def test_json_carries_the_plan_as_data(plan: RolloutPlan, expected: dict[str, Any]) -> None:
    (service,) = json.loads(render.json([_diff(plan)]))["services"]
    shown = service["rollout_plan"]
    assert {key: shown[key] for key in expected} == expected


def test_json_without_a_plan_says_null() -> None:
    (service,) = json.loads(render.json([_diff(None)]))["services"]
    assert service["rollout_plan"] is None
