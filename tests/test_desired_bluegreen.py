"""strategy: blueGreen in desired.yaml: the shipped example loads, and every bad value is refused
with its file, line and field, and what is allowed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler import desired
from reconciler.model import BlueGreenSpec, ListenerRef, SideRef, Strategy
from tests.test_desired import errors_of, line_of, load_errors, write_service

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PATH = ROOT / "desired" / "examples" / "blue-green.yaml"
EXAMPLE = EXAMPLE_PATH.read_text()
TEMPLATE = (ROOT / "desired" / "examples" / "feedback-userdata.sh").read_text()


def swap(old: str, new: str, text: str = EXAMPLE) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def test_the_shipped_example_loads_to_its_spec() -> None:
    loaded = desired.load([EXAMPLE_PATH])
    (service,) = loaded.services
    assert service.strategy is Strategy.BLUE_GREEN
    assert service.blue_green is not None
    assert dataclasses.replace(service.blue_green, lines=()) == BlueGreenSpec(
        listener=ListenerRef("feedback-alb", 80, None),
        green=SideRef("feedback-green-asg", "feedback-green-tg"),
        traffic_steps=(10, 50, 100),
        step_pause=180,
        scale_down_delay=3600,
        warm_standby=0,
    )
    assert not loaded.warnings
    # The fields only AWS can confirm keep their lines, for the errors that name them.
    assert service.blue_green.line_of("spec.blueGreen.listener", 0) == line_of(EXAMPLE, "listener:")


def test_a_rolling_file_has_no_blue_green() -> None:
    (service,) = desired.load([ROOT / "desired" / "desired.yaml"]).services
    assert service.strategy is Strategy.ROLLING
    assert service.blue_green is None


def test_defaults_fill_what_blue_green_omits(tmp_path: Path) -> None:
    text = swap("    trafficSteps: [10, 50, 100]\n", "")
    text = "".join(line for line in text.splitlines(True) if "stepPause" not in line)
    path = write_service(tmp_path, text, template=TEMPLATE)
    (service,) = desired.load([path]).services
    assert service.blue_green is not None
    assert service.blue_green.traffic_steps == (10, 50, 100)
    assert service.blue_green.step_pause == 300


BAD = [
    # (old, new, the line's needle, field, words in the message)
    (
        "trafficSteps: [10, 50, 100]",
        "trafficSteps: [10, 50, 90]",
        "trafficSteps",
        "spec.blueGreen.trafficSteps[2]",
        "never take all traffic",
    ),
    (
        "trafficSteps: [10, 50, 100]",
        "trafficSteps: [50, 10, 100]",
        "trafficSteps",
        "spec.blueGreen.trafficSteps[1]",
        "must increase",
    ),
    (
        "trafficSteps: [10, 50, 100]",
        "trafficSteps: [0, 100]",
        "trafficSteps",
        "spec.blueGreen.trafficSteps[0]",
        "out of range",
    ),
    (
        "trafficSteps: [10, 50, 100]",
        "trafficSteps: [10, 1000]",
        "trafficSteps",
        "spec.blueGreen.trafficSteps[1]",
        "out of range",
    ),
    (
        "trafficSteps: [10, 50, 100]",
        "trafficSteps: []",
        "trafficSteps",
        "spec.blueGreen.trafficSteps",
        "",
    ),
    (
        "autoScalingGroup: feedback-green-asg",
        "autoScalingGroup: feedback-asg",
        "autoScalingGroup: feedback-asg",
        "spec.blueGreen.green.autoScalingGroup",
        "both sides",
    ),
    (
        "targetGroup: feedback-green-tg",
        "targetGroup: feedback-tg",
        "targetGroup: feedback-tg",
        "spec.blueGreen.green.targetGroup",
        "both sides",
    ),
    ("port: 80  ", "port: 70000  ", "port: 70000", "spec.blueGreen.listener.port", ""),
    (
        "warmStandby: 0",
        "warmStandby: 5",
        "warmStandby",
        "spec.blueGreen.warmStandby",
        "above autoScalingGroup.maxSize",
    ),
    ("  strategy: blueGreen\n", "  strategy: canary\n", "strategy: canary", "spec.strategy", ""),
    ("  strategy: blueGreen\n", "", "blueGreen:", "spec.blueGreen", "strategy is rolling"),
]


@pytest.mark.parametrize(("old", "new", "needle", "field", "words"), BAD)
def test_a_bad_value_is_refused_with_its_line_and_field(
    tmp_path: Path, old: str, new: str, needle: str, field: str, words: str
) -> None:
    text = swap(old, new)
    problems = load_errors([write_service(tmp_path, text, template=TEMPLATE)])
    found = [p for p in problems if p.field == field]
    assert found, [str(p) for p in problems]
    assert found[0].line == line_of(text, needle)
    assert words in found[0].message
    assert found[0].allowed or not words


def test_blue_green_without_its_section_is_refused(tmp_path: Path) -> None:
    start = EXAMPLE.index("  blueGreen:\n")
    end = EXAMPLE.index("  rollout:\n")
    text = EXAMPLE[:start] + EXAMPLE[end:]
    problems = load_errors([write_service(tmp_path, text, template=TEMPLATE)])
    assert [p.field for p in problems] == ["spec.strategy"]
    assert "needs spec.blueGreen" in problems[0].message


def test_a_scaling_policy_is_accepted_with_blue_green(tmp_path: Path) -> None:
    text = swap("  rollout:\n", "  scaling:\n    targetCpuUtilization: 70\n  rollout:\n")
    loaded = desired.load([write_service(tmp_path, text, template=TEMPLATE)])
    (service,) = loaded.services
    assert service.scaling is not None
    assert service.scaling.target_cpu_utilization == 70


def test_refresh_only_preferences_are_warned_about(tmp_path: Path) -> None:
    text = swap(
        "  rollout:\n",
        "  rollout:\n    checkpointPercentages: [50, 100]\n    checkpointDelay: 600\n",
    )
    loaded = desired.load([write_service(tmp_path, text, template=TEMPLATE)])
    fields = sorted(p.field for p in loaded.warnings)
    assert fields == ["spec.rollout.checkpointDelay", "spec.rollout.checkpointPercentages"]


@pytest.mark.parametrize(("pause", "warned"), [(60, True), (179, True), (180, False), (600, False)])
def test_a_step_pause_shorter_than_the_analysis_needs_is_warned_about(
    tmp_path: Path, pause: int, warned: bool
) -> None:
    text = swap("stepPause: 180", f"stepPause: {pause}")
    loaded = desired.load([write_service(tmp_path, text, template=TEMPLATE)])
    assert [p.field for p in loaded.warnings] == (["spec.blueGreen.stepPause"] if warned else [])
    assert not errors_of(tuple(loaded.warnings))


def test_a_green_group_used_by_another_service_is_refused(tmp_path: Path) -> None:
    other = swap("name: feedback\n", "name: other\n")
    other = swap("name: feedback-asg\n", "name: feedback-green-asg\n", other)
    other = swap(
        "autoScalingGroup: feedback-green-asg\n", "autoScalingGroup: other-green-asg\n", other
    )
    other = swap("targetGroup: feedback-green-tg\n", "targetGroup: other-green-tg\n", other)
    other = swap("    name: feedback-tg\n", "    name: other-tg\n", other)
    other = swap("name: feedback-app-template ", "name: other-template ", other)
    write_service(tmp_path, EXAMPLE, template=TEMPLATE, name="a.yaml")
    write_service(tmp_path, other, template=TEMPLATE, name="b.yaml")
    problems = load_errors([tmp_path])
    assert [p.field for p in problems] == ["spec.autoScalingGroup.name"]
    assert "feedback-green-asg" in problems[0].message
