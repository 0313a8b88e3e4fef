"""Blue/green's scaling policy, pure: which side's policy is enabled, and what differs."""

from __future__ import annotations

import pytest

from reconciler.model import ChangeKind, Color, ObservedScalingPolicy
from reconciler.pipeline.diff.bluegreen_scaling import WantedPolicy, side_changes, wanted_policies

BLUE, GREEN = Color.BLUE, Color.GREEN
ON, OFF = True, False


@pytest.mark.parametrize(
    ("target", "share", "blue", "green"),
    [
        # (enabled, disable_scale_in) per side
        pytest.param(GREEN, 0, (ON, False), (OFF, False), id="idle-green-blue-owns"),
        pytest.param(GREEN, 10, (ON, True), (OFF, True), id="canary-blue-owns-no-scale-in"),
        pytest.param(GREEN, 50, (ON, True), (OFF, True), id="half-blue-still-owns"),
        pytest.param(GREEN, 75, (ON, True), (OFF, True), id="most-on-green-blue-still-owns"),
        pytest.param(GREEN, 99, (ON, True), (OFF, True), id="99-blue-still-owns"),
        pytest.param(GREEN, 100, (OFF, False), (ON, False), id="all-on-green-green-owns"),
        pytest.param(BLUE, 0, (OFF, False), (ON, False), id="idle-blue-green-owns"),
        pytest.param(BLUE, 10, (OFF, True), (ON, True), id="blue-canary-green-owns"),
        pytest.param(BLUE, 100, (ON, False), (OFF, False), id="all-on-blue-blue-owns"),
    ],
)
def test_one_side_owns_capacity(
    target: Color, share: int, blue: tuple[bool, bool], green: tuple[bool, bool]
) -> None:
    wanted = wanted_policies(60.0, target=target, share=share)
    assert wanted[BLUE] == WantedPolicy(60.0, enabled=blue[0], disable_scale_in=blue[1])
    assert wanted[GREEN] == WantedPolicy(60.0, enabled=green[0], disable_scale_in=green[1])


@pytest.mark.parametrize("share", [0, 10, 100])
@pytest.mark.parametrize("target", [BLUE, GREEN])
def test_no_scaling_declared_wants_no_policy(target: Color, share: int) -> None:
    assert wanted_policies(None, target=target, share=share) == {BLUE: None, GREEN: None}


@pytest.mark.parametrize("share", [0, 1, 10, 50, 99, 100])
@pytest.mark.parametrize("target", [BLUE, GREEN])
def test_exactly_one_side_is_enabled(target: Color, share: int) -> None:
    wanted = wanted_policies(50.0, target=target, share=share)
    assert sum(1 for w in wanted.values() if w is not None and w.enabled) == 1


def policy(
    target: float | None = 60.0,
    *,
    enabled: bool = True,
    scale_in_off: bool = False,
    kind: str = "TargetTrackingScaling",
    metric: str | None = "ASGAverageCPUUtilization",
) -> ObservedScalingPolicy:
    return ObservedScalingPolicy("feedback-cpu", kind, metric, target, enabled, scale_in_off)


WANT = WantedPolicy(60.0, enabled=True, disable_scale_in=False)


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        pytest.param(None, None, [], id="none-none"),
        pytest.param(policy(), WANT, [], id="same"),
        pytest.param(
            None, WANT, [("targetCpuUtilization", None, 60.0, ChangeKind.CREATE)], id="create"
        ),
        pytest.param(
            policy(), None, [("targetCpuUtilization", 60.0, None, ChangeKind.DELETE)], id="delete"
        ),
        pytest.param(
            policy(50.0),
            WANT,
            [("targetCpuUtilization", 50.0, 60.0, ChangeKind.UPDATE)],
            id="target",
        ),
        pytest.param(
            policy(None),
            WANT,
            [("targetCpuUtilization", None, 60.0, ChangeKind.UPDATE)],
            id="no-target-value",
        ),
        pytest.param(
            policy(enabled=False),
            WANT,
            [("scaling.enabled", False, True, ChangeKind.UPDATE)],
            id="enable",
        ),
        pytest.param(
            policy(),
            WantedPolicy(60.0, enabled=False, disable_scale_in=True),
            [
                ("scaling.enabled", True, False, ChangeKind.UPDATE),
                ("scaling.disableScaleIn", False, True, ChangeKind.UPDATE),
            ],
            id="disable-and-no-scale-in",
        ),
        pytest.param(
            policy(kind="StepScaling", metric=None),
            WANT,
            [("targetCpuUtilization", "StepScaling - 60.0", 60.0, ChangeKind.UPDATE)],
            id="other-kind-overwritten",
        ),
        pytest.param(
            policy(45.0, enabled=False, scale_in_off=True),
            WANT,
            [
                ("targetCpuUtilization", 45.0, 60.0, ChangeKind.UPDATE),
                ("scaling.enabled", False, True, ChangeKind.UPDATE),
                ("scaling.disableScaleIn", True, False, ChangeKind.UPDATE),
            ],
            id="everything",
        ),
    ],
)
def test_side_changes(
    have: ObservedScalingPolicy | None,
    want: WantedPolicy | None,
    expected: list[tuple[str, object, object, ChangeKind]],
) -> None:
    changes = side_changes("feedback-green-asg", have, want)
    assert [(c.field, c.old, c.new, c.kind) for c in changes] == expected
    assert all(c.resource_name == "feedback-green-asg" for c in changes)
