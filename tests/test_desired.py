"""desired.load: the canonical file, several services, directories, and every way a file is wrong.

Invalid cases are edits of the canonical file (or small standalone documents). Each names the
field and the line it must be reported at, and a piece of the message; the line is given as a
number or as a unique piece of text whose line it is, so the table reads like the file.
"""

from __future__ import annotations

import base64
import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler import desired
from reconciler.desired import yamlload
from reconciler.errors import InvalidDesiredState
from reconciler.images import scripts, userdata
from reconciler.model import (
    AutoScalingGroupSpec,
    BootSpec,
    HealthCheckSpec,
    ImageSpec,
    LaunchTemplateSpec,
    Problem,
    PullCredentials,
    ResolvedImage,
    RolloutSpec,
    ScalingSpec,
    ServiceSpec,
    SourceRef,
    TargetGroupSpec,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "desired"
CANONICAL_PATH = ROOT / "desired" / "desired.yaml"
CANONICAL = CANONICAL_PATH.read_text()
TEMPLATE = (ROOT / "desired" / "feedback-userdata.sh").read_text()
DIGEST = "sha256:" + "0123456789abcdef" * 4


def edit(old: str, new: str, text: str = CANONICAL) -> str:
    """The canonical file with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(lines) == 1, f"{needle!r} is on lines {lines}"
    return lines[0]


def errors_of(problems: tuple[Problem, ...]) -> list[Problem]:
    return [p for p in problems if not p.warning]


def write_service(
    directory: Path,
    text: str | bytes,
    *,
    template: str | bytes | None = TEMPLATE,
    name: str = "desired.yaml",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    if template is not None:
        data = template.encode() if isinstance(template, str) else template
        (directory / "feedback-userdata.sh").write_bytes(data)
    return path


def load_errors(paths: list[Path]) -> list[Problem]:
    with pytest.raises(InvalidDesiredState) as raised:
        desired.load(paths)
    return errors_of(raised.value.problems)


# ----------------------------------------------------------------------------------------------
# Valid files.
# ----------------------------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(desired.schema())


def _walk_properties(
    node: dict[str, object], path: str = ""
) -> list[tuple[str, dict[str, object]]]:
    found = []
    properties = node.get("properties", {})
    assert isinstance(properties, dict)
    for name, sub in properties.items():
        found.append((f"{path}.{name}".lstrip("."), sub))
        found += _walk_properties(sub, f"{path}.{name}")
    return found


def test_every_schema_property_is_described_and_closed() -> None:
    for field, sub in _walk_properties(desired.schema()):
        assert sub.get("description"), f"{field} has no description"
        # A map (spec.env) names what its values are; every other mapping is closed.
        if sub.get("type") == "object" and not isinstance(sub.get("additionalProperties"), dict):
            assert sub.get("additionalProperties") is False, f"{field} accepts unknown fields"


def test_canonical_file_loads_to_the_expected_spec() -> None:
    loaded = desired.load([CANONICAL_PATH], revision="c0ffee" * 6)
    assert loaded.warnings == ()
    expected = ServiceSpec(
        name="feedback",
        region="us-east-1",
        image=ImageSpec("ghcr.io/johnhuh619/simple-api", "latest", None),
        launch_template=LaunchTemplateSpec(
            name="feedback-app-template",
            user_data="feedback-userdata.sh",
            user_data_path=(ROOT / "desired" / "feedback-userdata.sh").resolve(),
            template=TEMPLATE,
        ),
        auto_scaling_group=AutoScalingGroupSpec(
            name="feedback-asg",
            min_size=2,
            max_size=4,
            desired_capacity=2,
            health_check_type="ELB",
            health_check_grace_period=300,
        ),
        target_group=TargetGroupSpec(
            "feedback-tg",
            HealthCheckSpec(
                path="/actuator/health",
                port="8080",
                interval_seconds=30,
                timeout_seconds=5,
                healthy_threshold=2,
                unhealthy_threshold=2,
                matcher="200",
                protocol="HTTP",
            ),
            unmanaged=frozenset({"protocol"}),  # the file leaves it out: not managed
        ),
        rollout=RolloutSpec(
            min_healthy_percentage=50,
            max_healthy_percentage=100,
            instance_warmup=300,
            checkpoint_percentages=(50, 100),
            checkpoint_delay=60,
            auto_rollback=True,
            skip_matching=False,
        ),
        scaling=ScalingSpec(70.0),
        source=SourceRef(str(CANONICAL_PATH), 2, "c0ffee" * 6),
        paused=False,
        image_poll_interval=300,
        boot=BootSpec(
            env=(("SPRING_PROFILES_ACTIVE", "prod"),),
            pull_credentials=PullCredentials("johnhuh619", "ssmParameter", "/feedback/ghcr-token"),
        ),
    )
    assert loaded.services == (expected,)


def test_canonical_template_renders_and_reads_back() -> None:
    (service,) = desired.load([CANONICAL_PATH]).services
    image = ResolvedImage(service.image.repository, service.image.tag, DIGEST)
    rendered = userdata.render_service(service, image)
    assert f"docker pull {image.pinned} ||" in rendered
    assert "--name feedback " in rendered
    assert scripts.parse_image(rendered) == ImageSpec(image.repository, None, DIGEST)


def test_several_documents_in_one_file() -> None:
    path = DATA / "multi" / "services.yaml"
    text = path.read_text()
    loaded = desired.load([path], revision="abc")
    feedback, orders = loaded.services
    assert (feedback.name, orders.name) == ("feedback", "orders")
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("apiVersion:")]
    assert feedback.source == SourceRef(str(path), starts[0], "abc")
    assert orders.source.line == starts[1]
    # Numbers written unquoted become AWS's strings; omitted fields take the schema's defaults.
    assert feedback.target_group.health_check == HealthCheckSpec(
        path="/actuator/health",
        port="8080",
        interval_seconds=30,
        timeout_seconds=5,
        healthy_threshold=5,
        unhealthy_threshold=2,
        matcher="200",
        protocol="HTTP",
    )
    assert feedback.rollout == RolloutSpec()
    assert feedback.scaling is None
    assert feedback.auto_scaling_group.desired_capacity is None
    assert (feedback.paused, feedback.image_poll_interval) == (False, 300)
    assert orders.image == ImageSpec(
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/orders",
        None,
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    assert (orders.paused, orders.image_poll_interval) == (True, 60)
    assert orders.rollout == RolloutSpec(
        max_healthy_percentage=150, skip_matching=True, auto_rollback=False
    )
    assert orders.target_group.health_check.protocol == "HTTPS"
    assert orders.target_group.health_check.matcher == "200-299"
    assert orders.launch_template.template == (DATA / "multi" / "app-userdata.sh").read_text()


def test_directory_loads_yaml_and_yml_sorted_and_skips_hidden_and_other_files() -> None:
    loaded = desired.load([DATA / "dir"])
    assert [s.name for s in loaded.services] == ["feedback", "orders"]
    assert [Path(s.source.file).name for s in loaded.services] == [
        "10-feedback.yaml",
        "20-orders.yml",
    ]
    orders = loaded.services[1]
    assert orders.target_group.health_check.path == "/"
    assert orders.target_group.health_check.port == "traffic-port"


def test_files_in_is_the_rule_load_reads_a_directory_by() -> None:
    listed = desired.files_in(DATA / "dir")
    assert [p.name for p in listed] == ["10-feedback.yaml", "20-orders.yml"]
    loaded = desired.load([DATA / "dir"])
    assert [Path(s.source.file) for s in loaded.services] == listed


def test_files_in_names_entries_without_checking_them(tmp_path: Path) -> None:
    (tmp_path / "b.yml").symlink_to(tmp_path / "gone.yaml")
    (tmp_path / "a.yaml").mkdir()
    (tmp_path / "c.YAML").write_text("")  # any case: a *.YAML file is never skipped silently
    assert [p.name for p in desired.files_in(tmp_path)] == ["a.yaml", "b.yml", "c.YAML"]


def test_a_file_given_twice_is_loaded_once() -> None:
    loaded = desired.load([DATA / "dir", DATA / "dir" / "10-feedback.yaml"])
    assert [s.name for s in loaded.services] == ["feedback", "orders"]


def test_directory_and_file_together(tmp_path: Path) -> None:
    other = edit("name: feedback\n", "name: other\n")
    for old, new in [("feedback-asg", "other-asg"), ("feedback-tg", "other-tg")]:
        other = edit(old, new, other)
    other = edit("name: feedback-app-template", "name: other-template", other)
    write_service(tmp_path / "more", other)
    loaded = desired.load([CANONICAL_PATH, tmp_path / "more"])
    assert [s.name for s in loaded.services] == ["feedback", "other"]


def test_symlink_inside_the_directory_is_followed(tmp_path: Path) -> None:
    write_service(tmp_path, CANONICAL, name="real.yml.txt")
    (tmp_path / "link.yaml").symlink_to("real.yml.txt")
    (service,) = desired.load([tmp_path]).services
    assert service.name == "feedback"


def test_same_resource_names_in_different_regions_are_fine(tmp_path: Path) -> None:
    write_service(tmp_path, CANONICAL, name="a.yaml")
    other = edit("name: feedback\n", "name: feedback-eu\n")
    write_service(tmp_path, edit("region: us-east-1", "region: eu-west-1", other), name="b.yaml")
    assert len(desired.load([tmp_path]).services) == 2


def test_merge_keys_are_supported() -> None:
    text = "base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\n"
    (document,) = yamlload.parse(text, file="f").documents
    assert document.data["svc"] == {"x": 1, "y": 3}
    assert document.line_of(("svc", "y")) == 4
    assert document.line_of(("svc", "x")) == 1  # where the merged value is written


# ----------------------------------------------------------------------------------------------
# Invalid files: one table, each case one mistake, located exactly.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    text: str | bytes
    field: str
    line: int | str  # a line number, or a unique piece of text on that line
    message: str  # must appear in str(problem): message or allowed
    template: str | bytes | None = TEMPLATE
    only: bool = True  # the only error reported

    def expected_line(self) -> int:
        if isinstance(self.line, int):
            return self.line
        text = self.text.decode(errors="replace") if isinstance(self.text, bytes) else self.text
        return line_of(text, self.line)


HC = "spec.targetGroup.healthCheck"
RO = "spec.rollout"
ASG = "spec.autoScalingGroup"
IMG = "spec.image"
UD = "spec.launchTemplate.userData"
LAUGHS = """apiVersion: reconciler/v1
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
"""
LONG_TEMPLATE = "#!/bin/bash\ndocker run ${IMAGE}\n" + "#" * userdata.MAX_USER_DATA_BYTES + "\n"

CASES = [
    # --- YAML ----------------------------------------------------------------------------------
    Case(
        "duplicate-key",
        edit("    minSize: 2\n", "    minSize: 2\n    minSize: 3\n"),
        f"{ASG}.minSize",
        "minSize: 3",
        f"duplicate key 'minSize' (first at line {line_of(CANONICAL, 'minSize: 2')})",
    ),
    Case(
        "python-tag",
        edit("tag: latest", 'tag: !!python/object/apply:os.system ["id"]'),
        f"{IMG}.tag",
        "!!python",
        "!!python/object/apply:os.system is not allowed",
    ),
    Case(
        "python-name-tag-on-scalar",
        edit("minSize: 2", "minSize: !!python/name:os.system"),
        f"{ASG}.minSize",
        "minSize",
        "!!python/name:os.system is not allowed",
    ),
    Case(
        "custom-tag",
        edit("minSize: 2", "minSize: !int 2"),
        f"{ASG}.minSize",
        "minSize",
        "!int is not allowed",
    ),
    Case(
        "binary-tag",
        edit("tag: latest", "tag: !!binary aGVsbG8="),
        f"{IMG}.tag",
        "!!binary",
        "!!binary is not allowed",
    ),
    Case(
        "set-tag-on-mapping",
        edit("  scaling:\n", "  scaling: !!set\n"),
        "spec.scaling",
        "scaling:",
        "!!set is not allowed",
    ),
    Case(
        "tab-indentation",
        edit("    minSize: 2\n", "\tminSize: 2\n"),
        "(yaml)",
        "\tminSize",
        "YAML syntax error",
    ),
    Case(
        "undefined-alias",
        edit("minSize: 2", "minSize: *two"),
        "(yaml)",
        "*two",
        "undefined alias 'two'",
    ),
    Case(
        "duplicate-anchor",
        edit("minSize: 2", "minSize: &n 2").replace("maxSize: 4", "maxSize: &n 4"),
        "(yaml)",
        "maxSize",
        "duplicate anchor",
    ),
    Case(
        "not-utf-8",
        CANONICAL.encode().replace(b"feedback-tg", b"feedback-t\xe9g"),
        "(file)",
        line_of(CANONICAL, "name: feedback-tg"),
        f"byte 0xe9 at byte offset {CANONICAL.encode().index(b'feedback-tg') + 10}",
    ),
    Case(
        "latin-1-file",
        CANONICAL.replace("# desired/desired.yaml", "# désiré").encode("latin-1"),
        "(file)",
        1,
        "not UTF-8: byte 0xe9 at byte offset 3",
    ),
    Case(
        "control-character",
        edit("name: feedback-asg", "name: feedback\x07asg"),
        "(yaml)",
        "feedback\x07asg",
        "#x0007 is not allowed",
    ),
    Case(
        "too-large",
        CANONICAL + "#" * yamlload.MAX_FILE_BYTES + "\n",
        "(file)",
        0,
        f"the limit is {yamlload.MAX_FILE_BYTES} bytes",
    ),
    Case("billion-laughs", LAUGHS, "e[0]", 6, "expands to more than 10000 values"),
    Case(
        "deep-nesting",
        "apiVersion: reconciler/v1\nx: " + "[" * 40 + "]" * 40 + "\n",
        "(yaml)",
        2,
        "nesting is deeper than 32 levels",
    ),
    Case(
        "deep-nesting-block-style",
        "".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "v\n",
        "(yaml)",
        33,
        "nesting is deeper than 32 levels",
    ),
    Case("recursive-alias", "a: &a [1, *a]\n", "a[1]", 1, "refers to a node that contains it"),
    Case(
        "not-a-number",
        edit("targetCpuUtilization: 70", "targetCpuUtilization: .nan"),
        "spec.scaling.targetCpuUtilization",
        "targetCpuUtilization",
        "'.nan' is not a finite number",
    ),
    Case(
        "infinity",
        edit("targetCpuUtilization: 70", "targetCpuUtilization: -.inf"),
        "spec.scaling.targetCpuUtilization",
        "targetCpuUtilization",
        "not a finite number",
    ),
    Case(
        "complex-key",
        edit("kind: Service\n", "kind: Service\n? [a, b]\n: 1\n"),
        "(yaml)",
        "? [a, b]",
        "a mapping key must be plain text",
    ),
    # --- Schema --------------------------------------------------------------------------------
    Case(
        "document-is-a-list",
        "- apiVersion: reconciler/v1\n- kind: Service\n",
        "(document)",
        1,
        "is a list, expected a mapping",
    ),
    Case(
        "missing-api-version",
        edit("apiVersion: reconciler/v1\n", ""),
        "apiVersion",
        2,
        "is required",
    ),
    Case(
        "wrong-api-version",
        edit("reconciler/v1", "reconciler/v2"),
        "apiVersion",
        2,
        '"reconciler/v2" is not allowed (allowed: reconciler/v1)',
    ),
    Case("wrong-kind", edit("kind: Service", "kind: Deployment"), "kind", 3, "allowed: Service"),
    Case(
        "missing-metadata-name",
        edit("  name: feedback\n", "  {}\n").replace("metadata:\n  {}", "metadata: {}"),
        "metadata.name",
        "metadata: {}",
        "is required",
    ),
    Case(
        "name-uppercase",
        edit("name: feedback\n", "name: Feedback\n"),
        "metadata.name",
        5,
        "lowercase letters",
    ),
    Case(
        "name-too-long",
        edit("name: feedback\n", f"name: {'a' * 64}\n"),
        "metadata.name",
        5,
        "is 64 characters long",
    ),
    Case(
        "name-with-trailing-newline",
        edit("name: feedback\n", 'name: "feedback\\n"\n'),
        "metadata.name",
        5,
        "is not valid",
    ),
    Case(
        "unknown-field-typo",
        edit("timeoutSeconds: 5", "timeoutSecond: 5"),
        f"{HC}.timeoutSecond",
        "timeoutSecond",
        "did you mean 'timeoutSeconds'?",
    ),
    Case(
        "unknown-top-level-field",
        edit("kind: Service\n", "kind: Service\nstatus: {}\n"),
        "status",
        "status",
        "unknown field 'status'",
    ),
    Case(
        "health-check-type",
        edit("healthCheckType: ELB", "healthCheckType: ALB"),
        f"{ASG}.healthCheckType",
        "healthCheckType",
        "allowed: EC2, ELB",
    ),
    Case(
        "protocol",
        edit('port: "8080"\n', 'port: "8080"\n      protocol: TCP\n'),
        f"{HC}.protocol",
        "protocol",
        "allowed: HTTP, HTTPS",
    ),
    Case(
        "min-size-not-a-number",
        edit("minSize: 2", "minSize: two"),
        f"{ASG}.minSize",
        "minSize",
        "is text, expected a whole number",
    ),
    Case(
        "min-size-negative",
        edit("minSize: 2", "minSize: -1"),
        f"{ASG}.minSize",
        "minSize",
        "-1 is out of range (allowed: 0 to 2147483647)",
    ),
    Case(
        "grace-period-negative",
        edit("healthCheckGracePeriod: 300", "healthCheckGracePeriod: -5"),
        f"{ASG}.healthCheckGracePeriod",
        "healthCheckGracePeriod",
        "-5 is out of range (allowed: 0 to 2147483647)",
    ),
    Case(
        "interval-above-300",
        edit("intervalSeconds: 30", "intervalSeconds: 301"),
        f"{HC}.intervalSeconds",
        "intervalSeconds",
        "301 is out of range (allowed: 5 to 300)",
    ),
    Case(
        "timeout-below-2",
        edit("timeoutSeconds: 5", "timeoutSeconds: 1"),
        f"{HC}.timeoutSeconds",
        "timeoutSeconds",
        "allowed: 2 to 120",
    ),
    Case(
        "healthy-threshold-above-10",
        edit(" healthyThreshold: 2", " healthyThreshold: 11"),
        f"{HC}.healthyThreshold",
        " healthyThreshold",
        "allowed: 2 to 10",
    ),
    Case(
        "unhealthy-threshold-below-2",
        edit("unhealthyThreshold: 2", "unhealthyThreshold: 1"),
        f"{HC}.unhealthyThreshold",
        "unhealthyThreshold",
        "allowed: 2 to 10",
    ),
    Case(
        "image-without-tag-or-digest",
        edit("    tag: latest", "    # no tag"),
        IMG,
        "image:",
        "needs image.tag, image.digest, or both",
    ),
    Case(
        "image-without-repository",
        edit("    repository: ghcr.io/johnhuh619/simple-api\n", ""),
        f"{IMG}.repository",
        "image:",
        "is required",
    ),
    Case(
        "region",
        edit("region: us-east-1", "region: US East"),
        "spec.region",
        "region",
        "an AWS Region code",
    ),
    Case(
        "target-group-name-33-characters",
        edit("name: feedback-tg", f"name: {'t' * 33}"),
        "spec.targetGroup.name",
        "t" * 33,
        "is 33 characters long",
    ),
    Case(
        "target-group-name-underscore",
        edit("name: feedback-tg", "name: feedback_tg"),
        "spec.targetGroup.name",
        "feedback_tg",
        "letters, digits and '-'",
    ),
    Case(
        "target-group-name-leading-hyphen",
        edit("name: feedback-tg", "name: -feedback-tg"),
        "spec.targetGroup.name",
        "-feedback-tg",
        "not starting or ending with '-'",
    ),
    Case(
        "launch-template-name-space",
        edit("name: feedback-app-template", "name: feedback app template"),
        "spec.launchTemplate.name",
        "feedback app template",
        "letters, digits and ( ) . - / _",
    ),
    Case(
        "launch-template-name-too-short",
        edit("name: feedback-app-template", "name: ab"),
        "spec.launchTemplate.name",
        "name: ab",
        "is 2 characters long (allowed: 3-128 characters",
    ),
    Case(
        "asg-name-colon",
        edit("name: feedback-asg", "name: feedback:asg"),
        f"{ASG}.name",
        "feedback:asg",
        "without spaces or ':'",
    ),
    Case(
        "health-check-path-relative",
        edit("path: /actuator/health", "path: actuator/health"),
        f"{HC}.path",
        "actuator/health",
        "starting with '/'",
    ),
    Case(
        "tag-read-as-a-number",
        edit("tag: latest", "tag: 1.10"),
        f"{IMG}.tag",
        "tag: 1.10",
        "quote the value so YAML reads it as text",
    ),
    Case(
        "paused-not-boolean",
        edit("  region: us-east-1\n", '  region: us-east-1\n  paused: "yes"\n'),
        "spec.paused",
        "paused",
        "expected true or false",
    ),
    Case(
        "image-poll-interval-too-short",
        edit("  region: us-east-1\n", "  region: us-east-1\n  imagePollInterval: 5\n"),
        "spec.imagePollInterval",
        "imagePollInterval",
        "30 to 86400",
    ),
    Case(
        "checkpoint-zero",
        edit("[50, 100]", "[0, 100]"),
        f"{RO}.checkpointPercentages[0]",
        "checkpointPercentages",
        "allowed: 1 to 100",
    ),
    Case(
        "checkpoint-above-100",
        edit("[50, 100]", "[50, 101]"),
        f"{RO}.checkpointPercentages[1]",
        "checkpointPercentages",
        "101 is out of range",
    ),
    Case(
        "checkpoints-empty",
        edit("[50, 100]", "[]"),
        f"{RO}.checkpointPercentages",
        "checkpointPercentages",
        "empty list",
    ),
    Case(
        "checkpoint-delay-above-two-days",
        edit("checkpointDelay: 60", "checkpointDelay: 172801"),
        f"{RO}.checkpointDelay",
        "checkpointDelay",
        "0 to 172800",
    ),
    Case(
        "checkpoint-delay-without-percentages",
        edit("    checkpointPercentages: [50, 100]\n", ""),
        f"{RO}.checkpointDelay",
        "checkpointDelay",
        "checkpointDelay is set without checkpointPercentages",
    ),
    Case(
        "min-healthy-above-100",
        edit("minHealthyPercentage: 50", "minHealthyPercentage: 101"),
        f"{RO}.minHealthyPercentage",
        "minHealthyPercentage",
        "0 to 100",
    ),
    Case(
        "max-healthy-below-100",
        edit("maxHealthyPercentage: 100", "maxHealthyPercentage: 99"),
        f"{RO}.maxHealthyPercentage",
        "maxHealthyPercentage",
        "100 to 200",
    ),
    Case(
        "max-healthy-above-200",
        edit("maxHealthyPercentage: 100", "maxHealthyPercentage: 201"),
        f"{RO}.maxHealthyPercentage",
        "maxHealthyPercentage",
        "100 to 200",
    ),
    Case(
        "port-number-out-of-range",
        edit('port: "8080"', "port: 70000"),
        f"{HC}.port",
        "port",
        "70000 is out of range",
    ),
    Case(
        "port-text-out-of-range",
        edit('port: "8080"', 'port: "99999"'),
        f"{HC}.port",
        "port",
        "port 99999 is out of range",
    ),
    Case("port-word", edit('port: "8080"', "port: http"), f"{HC}.port", "port", "traffic-port"),
    Case(
        "cpu-target-zero",
        edit("targetCpuUtilization: 70", "targetCpuUtilization: 0"),
        "spec.scaling.targetCpuUtilization",
        "targetCpuUtilization",
        "greater than 0 and at most 100",
    ),
    Case(
        "cpu-target-above-100",
        edit("targetCpuUtilization: 70", "targetCpuUtilization: 150"),
        "spec.scaling.targetCpuUtilization",
        "targetCpuUtilization",
        "150 is out of range",
    ),
    Case(
        "scaling-without-target",
        edit("    targetCpuUtilization: 70\n", "    {}\n").replace(
            "scaling:\n    {}", "scaling: {}"
        ),
        "spec.scaling.targetCpuUtilization",
        "scaling: {}",
        "is required",
    ),
    # --- Rules the schema cannot express -------------------------------------------------------
    Case(
        "max-size-below-min-size",
        edit("maxSize: 4", "maxSize: 1"),
        f"{ASG}.maxSize",
        "maxSize",
        "maxSize 1 is below minSize 2",
    ),
    Case(
        "desired-below-min",
        edit("desiredCapacity: 2", "desiredCapacity: 1"),
        f"{ASG}.desiredCapacity",
        "desiredCapacity",
        "1 is below minSize 2",
    ),
    Case(
        "desired-above-max",
        edit("desiredCapacity: 2", "desiredCapacity: 5"),
        f"{ASG}.desiredCapacity",
        "desiredCapacity",
        "5 is above maxSize 4",
    ),
    Case(
        "timeout-not-below-interval",
        edit("timeoutSeconds: 5", "timeoutSeconds: 30"),
        f"{HC}.timeoutSeconds",
        "timeoutSeconds",
        "timeoutSeconds (30) must be less than intervalSeconds (30)",
    ),
    Case(
        "default-timeout-not-below-interval",
        edit("intervalSeconds: 30", "intervalSeconds: 5").replace("      timeoutSeconds: 5\n", ""),
        f"{HC}.intervalSeconds",
        "intervalSeconds",
        "timeoutSeconds (5) must be less than intervalSeconds (5)",
    ),
    Case(
        "matcher-below-200",
        edit('matcher: "200"', 'matcher: "199"'),
        f"{HC}.matcher",
        "matcher",
        "199 is outside 200-499",
    ),
    Case(
        "matcher-number-500",
        edit('matcher: "200"', "matcher: 500"),
        f"{HC}.matcher",
        "matcher",
        "500 is out of range",
    ),
    Case(
        "matcher-range-backwards",
        edit('matcher: "200"', 'matcher: "299-200"'),
        f"{HC}.matcher",
        "matcher",
        "the range 299-200 runs backwards",
    ),
    Case(
        "matcher-range-above-499",
        edit('matcher: "200"', 'matcher: "200-500"'),
        f"{HC}.matcher",
        "matcher",
        "200-500 is outside 200-499",
    ),
    Case(
        "matcher-empty-item",
        edit('matcher: "200"', 'matcher: "200,,302"'),
        f"{HC}.matcher",
        "matcher",
        "'' is not an HTTP code",
    ),
    Case(
        "matcher-words",
        edit('matcher: "200"', "matcher: ok"),
        f"{HC}.matcher",
        "matcher",
        "'ok' is not an HTTP code",
    ),
    Case(
        "checkpoints-not-ascending",
        edit("[50, 100]", "[60, 50, 100]"),
        f"{RO}.checkpointPercentages[1]",
        "checkpointPercentages",
        "50 follows 60",
    ),
    Case(
        "checkpoints-repeated",
        edit("[50, 100]", "\n      - 50\n      - 50  # again\n      - 100"),
        f"{RO}.checkpointPercentages[1]",
        "# again",
        "50 follows 50",
    ),
    Case(
        "checkpoints-not-ending-at-100",
        edit("[50, 100]", "[25, 50]"),
        f"{RO}.checkpointPercentages[1]",
        "checkpointPercentages",
        "stop short of 100%",
    ),
    Case(
        "healthy-span-above-100",
        edit("maxHealthyPercentage: 100", "maxHealthyPercentage: 200"),
        f"{RO}.maxHealthyPercentage",
        "maxHealthyPercentage",
        "more than 100 above minHealthyPercentage 50",
    ),
    Case(
        "repository-uppercase",
        edit("ghcr.io/johnhuh619/simple-api", "ghcr.io/JohnHuh619/simple-api"),
        f"{IMG}.repository",
        "repository:",
        "must be lowercase",
    ),
    Case(
        "repository-with-tag",
        edit("ghcr.io/johnhuh619/simple-api", "ghcr.io/johnhuh619/simple-api:latest"),
        f"{IMG}.repository",
        "repository:",
        "put it in image.tag",
    ),
    Case(
        "repository-with-digest",
        edit("ghcr.io/johnhuh619/simple-api", f"ghcr.io/johnhuh619/simple-api@{DIGEST}"),
        f"{IMG}.repository",
        "repository:",
        "put it in image.digest",
    ),
    Case(
        "repository-empty-component",
        edit("ghcr.io/johnhuh619/simple-api", "ghcr.io//simple-api"),
        f"{IMG}.repository",
        "repository:",
        "is not a valid repository",
    ),
    Case(
        "repository-trailing-separator",
        edit("ghcr.io/johnhuh619/simple-api", "ghcr.io/johnhuh619/simple-api-"),
        f"{IMG}.repository",
        "repository:",
        "is not a valid repository",
    ),
    Case(
        "repository-too-long",
        edit("ghcr.io/johnhuh619/simple-api", "ghcr.io/" + "a" * 250),
        f"{IMG}.repository",
        "repository:",
        "is 258 characters long",
    ),
    Case(
        "tag-starting-with-hyphen",
        edit("tag: latest", "tag: -latest"),
        f"{IMG}.tag",
        "tag:",
        "'-latest' is not a valid tag",
    ),
    Case(
        "tag-shell-injection",
        edit("tag: latest", 'tag: "v1;rm -rf /"'),
        f"{IMG}.tag",
        "tag:",
        "is not a valid tag",
    ),
    Case(
        "tag-129-characters",
        edit("tag: latest", f"tag: {'t' * 129}"),
        f"{IMG}.tag",
        "tag:",
        "1-128 characters",
    ),
    Case(
        "digest-too-short",
        edit("    tag: latest", "    digest: sha256:abc"),
        f"{IMG}.digest",
        "digest:",
        "'sha256:abc' is not a valid digest",
    ),
    Case(
        "digest-uppercase-hex",
        edit("    tag: latest", f"    digest: {DIGEST.upper().replace('SHA256', 'sha256')}"),
        f"{IMG}.digest",
        "digest:",
        "64 lowercase hex digits",
    ),
    Case(
        "digest-unknown-algorithm",
        edit("    tag: latest", "    digest: md5:" + "0" * 32),
        f"{IMG}.digest",
        "digest:",
        "is not a valid digest",
    ),
    Case(
        "template-missing",
        CANONICAL,
        UD,
        "userData",
        "the template 'feedback-userdata.sh' does not exist",
        template=None,
    ),
    Case(
        "template-escapes-directory",
        edit("userData: feedback-userdata.sh", "userData: ../feedback-userdata.sh"),
        UD,
        "userData",
        "outside",
    ),
    Case(
        "template-absolute-path",
        edit("userData: feedback-userdata.sh", "userData: /etc/hostname"),
        UD,
        "userData",
        "is an absolute path",
    ),
    Case(
        "template-is-a-directory",
        edit("userData: feedback-userdata.sh", "userData: ."),
        UD,
        "userData",
        "is not a regular file",
    ),
    Case(
        "template-without-image",
        CANONICAL,
        UD,
        "userData",
        "never uses ${IMAGE}",
        template="#!/bin/bash\ndocker run ghcr.io/johnhuh619/simple-api:latest\n",
    ),
    Case(
        "template-unknown-placeholder",
        CANONICAL,
        UD,
        "userData",
        "template line 3: unknown placeholder ${FOO}",
        template="#!/bin/bash\ndocker pull ${IMAGE}\necho ${FOO}\n",
    ),
    Case(
        "template-unclosed-placeholder",
        CANONICAL,
        UD,
        "userData",
        "template line 2: unclosed placeholder '${IMAGE'",
        template="#!/bin/bash\ndocker pull ${IMAGE\ndocker run ${IMAGE}\n",
    ),
    Case(
        "template-too-large",
        CANONICAL,
        UD,
        "userData",
        f"AWS limits UserData to {userdata.MAX_USER_DATA_BYTES} bytes before base64",
        template=LONG_TEMPLATE,
    ),
    Case(
        "template-not-utf-8",
        CANONICAL,
        UD,
        "userData",
        "not UTF-8: byte 0xff at byte offset 12 (template line 2)",
        template=b"#!/bin/bash\n\xff ${IMAGE}\n",
    ),
]


def with_rollout(*lines: str) -> str:
    """The canonical file with ``lines`` added to its rollout block."""
    added = "".join(f"    {line}\n" for line in lines)
    return edit("    autoRollback: true\n", "    autoRollback: true\n" + added)


TWICE = with_rollout("alarms:", "  - cpu-high", "  - p99-latency", "  - cpu-high")
ELEVEN_ALARMS = ", ".join(f"alarm-{n}" for n in range(11))
# The new rollout preferences of issue 11 (aws-facts 1.8-1.10): every way each one is wrong.
ROLLOUT_CASES = [
    Case(
        "protected-unknown-value",
        with_rollout("scaleInProtectedInstances: Replace"),
        f"{RO}.scaleInProtectedInstances",
        "scaleInProtectedInstances",
        '"Replace" is not allowed (allowed: Refresh, Ignore, Wait)',
    ),
    Case(
        "protected-lower-case",
        with_rollout("scaleInProtectedInstances: refresh"),
        f"{RO}.scaleInProtectedInstances",
        "scaleInProtectedInstances",
        '"refresh" is not allowed',
    ),
    Case(
        "protected-boolean",
        with_rollout("scaleInProtectedInstances: true"),
        f"{RO}.scaleInProtectedInstances",
        "scaleInProtectedInstances",
        "true is not allowed",
    ),
    Case(
        "protected-null",
        with_rollout("scaleInProtectedInstances:"),
        f"{RO}.scaleInProtectedInstances",
        "scaleInProtectedInstances",
        "null is not allowed",
    ),
    Case(
        "protected-terminate-is-standby-only",
        with_rollout("scaleInProtectedInstances: Terminate"),
        f"{RO}.scaleInProtectedInstances",
        "scaleInProtectedInstances",
        '"Terminate" is not allowed',
    ),
    Case(
        "standby-refresh-is-protected-only",
        with_rollout("standbyInstances: Refresh"),
        f"{RO}.standbyInstances",
        "standbyInstances",
        '"Refresh" is not allowed (allowed: Terminate, Ignore, Wait)',
    ),
    Case(
        "standby-empty-text",
        with_rollout('standbyInstances: ""'),
        f"{RO}.standbyInstances",
        "standbyInstances",
        '"" is not allowed',
    ),
    Case(
        "standby-list",
        with_rollout("standbyInstances: [Ignore]"),
        f"{RO}.standbyInstances",
        "standbyInstances",
        "a list is not allowed",
    ),
    Case(
        "bake-time-negative",
        with_rollout("bakeTime: -1"),
        f"{RO}.bakeTime",
        "bakeTime",
        "-1 is out of range (allowed: 0 to 172800)",
    ),
    Case(
        "bake-time-above-two-days",
        with_rollout("bakeTime: 172801"),
        f"{RO}.bakeTime",
        "bakeTime",
        "172801 is out of range (allowed: 0 to 172800)",
    ),
    Case(
        "bake-time-with-unit",
        with_rollout("bakeTime: 10m"),
        f"{RO}.bakeTime",
        "bakeTime",
        "is text, expected a whole number",
    ),
    Case(
        "bake-time-fraction",
        with_rollout("bakeTime: 1.5"),
        f"{RO}.bakeTime",
        "bakeTime",
        "is a number, expected a whole number",
    ),
    Case(
        "bake-time-boolean",
        with_rollout("bakeTime: true"),
        f"{RO}.bakeTime",
        "bakeTime",
        "is true or false, expected a whole number",
    ),
    Case(
        "bake-time-misspelt",
        with_rollout("bakeTimes: 600"),
        f"{RO}.bakeTimes",
        "bakeTimes",
        "did you mean 'bakeTime'?",
    ),
    Case(
        "alarms-empty",
        with_rollout("alarms: []"),
        f"{RO}.alarms",
        "alarms",
        "is an empty list; leave the field out instead",
    ),
    Case(
        "alarms-eleven",
        with_rollout(f"alarms: [{ELEVEN_ALARMS}]"),
        f"{RO}.alarms",
        "alarms",
        "has 11 items (allowed: a list of 1 to 10 distinct CloudWatch alarm names)",
    ),
    Case(
        "alarms-one-name-not-a-list",
        with_rollout("alarms: cpu-high"),
        f"{RO}.alarms",
        "alarms",
        "is text, expected a list",
    ),
    Case(
        "alarms-mapping",
        with_rollout("alarms: {name: cpu-high}"),
        f"{RO}.alarms",
        "alarms",
        "is a mapping, expected a list",
    ),
    Case(
        "alarm-name-number",
        with_rollout("alarms: [cpu-high, 5]"),
        f"{RO}.alarms[1]",
        "alarms",
        "is a whole number, expected text",
    ),
    Case(
        "alarm-name-null",
        with_rollout("alarms:", "  - cpu-high", "  - ~"),
        f"{RO}.alarms[1]",
        "  - ~",
        "is empty (null), expected text",
    ),
    Case(
        "alarm-name-empty",
        with_rollout('alarms: [cpu-high, ""]'),
        f"{RO}.alarms[1]",
        "alarms",
        "is 0 characters long",
    ),
    Case(
        "alarm-name-too-long",
        with_rollout(f"alarms: [{'a' * 256}]"),
        f"{RO}.alarms[0]",
        "alarms",
        "is 256 characters long (allowed: a CloudWatch alarm name, 1-255 characters",
    ),
    Case(
        "alarm-name-control-character",
        with_rollout('alarms: ["cpu\\thigh"]'),
        f"{RO}.alarms[0]",
        "alarms",
        "without control characters",
    ),
    Case(
        "alarm-named-twice",
        TWICE,
        f"{RO}.alarms[2]",
        len(TWICE.splitlines()) - TWICE.splitlines()[::-1].index("      - cpu-high"),
        "alarm 'cpu-high' is named twice",
    ),
]
CASES += ROLLOUT_CASES


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_file_is_reported_at_its_field_and_line(case: Case, tmp_path: Path) -> None:
    path = write_service(tmp_path / "desired", case.text, template=case.template)
    if case.id == "template-escapes-directory":
        (tmp_path / "feedback-userdata.sh").write_text(TEMPLATE)  # it exists, but outside
    errors = load_errors([path])
    line = case.expected_line()
    located = [
        p for p in errors if p.file == str(path) and p.field == case.field and p.line == line
    ]
    assert located, f"no error at {case.field} line {line}; got:\n" + "\n".join(map(str, errors))
    assert any(case.message in str(p) for p in located), "\n".join(map(str, located))
    if case.only:
        assert len(errors) == 1, "\n".join(map(str, errors))


def test_enough_invalid_cases() -> None:
    assert len(CASES) >= 40


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = edit("minSize: 2", "minSize: two")
    text = edit("timeoutSeconds: 5", "timeoutSeconds: 30", text)
    text = edit("tag: latest", "tag: -bad", text)
    text = edit("    checkpointDelay: 60\n", "", text)
    path = write_service(tmp_path, text)
    with pytest.raises(InvalidDesiredState) as raised:
        desired.load([path])
    problems = raised.value.problems
    assert {p.field for p in problems if not p.warning} == {
        f"{ASG}.minSize",
        f"{HC}.timeoutSeconds",
        f"{IMG}.tag",
    }
    # The warning travels with the errors, and the errors are in file order.
    assert [p.field for p in problems if p.warning] == [f"{RO}.checkpointPercentages"]
    lines = [p.line for p in problems]
    assert lines == sorted(lines)
    assert str(raised.value).startswith(f"{path}:")


# ----------------------------------------------------------------------------------------------
# Files and directories.
# ----------------------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    (error,) = load_errors([missing])
    assert (error.file, error.line, error.field) == (str(missing), 0, "(file)")
    assert "does not exist" in error.message


def test_empty_directory(tmp_path: Path) -> None:
    (error,) = load_errors([tmp_path])
    assert (error.file, error.line, error.field) == (str(tmp_path), 0, "(file)")
    assert "no *.yaml or *.yml files" in error.message


def test_file_without_documents(tmp_path: Path) -> None:
    path = write_service(tmp_path, "# nothing here\n---\n...\n")
    (error,) = load_errors([path])
    assert "no Service documents found" in error.message


def test_symlink_out_of_the_directory_is_rejected(tmp_path: Path) -> None:
    outside = write_service(tmp_path / "elsewhere", CANONICAL)
    directory = tmp_path / "desired"
    write_service(directory, edit("name: feedback\n", "name: inside\n"), name="a.yaml")
    (directory / "b.yaml").symlink_to(outside)
    errors = load_errors([directory])
    assert [(p.file, p.line, p.field) for p in errors] == [(str(directory / "b.yaml"), 0, "(file)")]
    assert "outside the directory" in errors[0].message


def test_dangling_symlink_in_the_directory(tmp_path: Path) -> None:
    write_service(tmp_path, CANONICAL, name="a.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "gone.yaml")
    (error,) = load_errors([tmp_path])
    assert error.file == str(tmp_path / "b.yaml")
    assert "symlink to nothing" in error.message


def test_template_symlink_out_of_the_directory_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "secret.sh").write_text(TEMPLATE)
    path = write_service(tmp_path / "desired", CANONICAL, template=None)
    (tmp_path / "desired" / "feedback-userdata.sh").symlink_to(tmp_path / "secret.sh")
    (error,) = load_errors([path])
    assert (error.field, error.line) == (UD, line_of(CANONICAL, "userData"))
    assert "outside" in error.message


def test_template_in_a_subdirectory_is_allowed(tmp_path: Path) -> None:
    path = write_service(tmp_path, edit("userData: feedback-userdata.sh", "userData: boot/app.sh"))
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "app.sh").write_text(TEMPLATE)
    (service,) = desired.load([path]).services
    assert service.launch_template.user_data_path == (tmp_path / "boot" / "app.sh").resolve()


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "desired.yaml"
    with path.open("wb") as handle:  # sparse: large on disk, cheap to create
        handle.truncate(50 * 1024 * 1024)
    (error,) = load_errors([path])
    assert (error.line, error.field) == (0, "(file)")
    assert str(50 * 1024 * 1024) in error.message


def test_a_device_is_not_read(tmp_path: Path) -> None:
    (error,) = load_errors([Path(os.devnull)])
    assert "not a regular file" in error.message


@pytest.mark.parametrize(
    "extra, limit_ok",
    [(0, True), (1, False)],
    ids=["exactly-16384-bytes", "one-byte-more"],
)
def test_user_data_limit_is_exact(tmp_path: Path, extra: int, limit_ok: bool) -> None:
    image = "ghcr.io/johnhuh619/simple-api@" + "sha256:" + "0" * 64
    head = "docker run ${IMAGE}\n"
    rendered_head = f"docker run {image}\n"
    padding = userdata.MAX_USER_DATA_BYTES - len(rendered_head) + extra
    path = write_service(tmp_path, CANONICAL, template=head + "#" * padding)
    # AWS counts bytes before base64: the limit is on the raw text, 21848 base64 characters.
    assert len(base64.b64encode(b"x" * userdata.MAX_USER_DATA_BYTES)) == 21848
    if limit_ok:
        assert desired.load([path]).services
    else:
        (error,) = load_errors([path])
        assert f"is {userdata.MAX_USER_DATA_BYTES + 1} bytes" in error.message


# ----------------------------------------------------------------------------------------------
# Across files.
# ----------------------------------------------------------------------------------------------


def _renamed(name: str, **names: str) -> str:
    text = edit("name: feedback\n", f"name: {name}\n")
    replacements = {
        "asg": ("name: feedback-asg", "name: {}"),
        "lt": ("name: feedback-app-template", "name: {}"),
        "tg": ("name: feedback-tg", "name: {}"),
    }
    for key, (old, new) in replacements.items():
        text = edit(old, new.format(names.get(key, f"{name}-{key}")), text)
    return text


LINE_LT = line_of(CANONICAL, "name: feedback-app-template")
LINE_ASG = line_of(CANONICAL, "name: feedback-asg")
LINE_TG = line_of(CANONICAL, "name: feedback-tg")


@pytest.mark.parametrize(
    "second, field, line, what",
    [
        (
            _renamed("feedback", asg="b-asg", lt="b-template", tg="b-tg"),
            "metadata.name",
            5,
            "service 'feedback' is already declared at {first}:2",
        ),
        (
            _renamed("two", asg="feedback-asg"),
            f"{ASG}.name",
            LINE_ASG,
            "Auto Scaling group 'feedback-asg' is already used in us-east-1"
            f" at {{first}}:{LINE_ASG}",
        ),
        (
            _renamed("two", lt="feedback-app-template"),
            "spec.launchTemplate.name",
            LINE_LT,
            "launch template 'feedback-app-template' is already used in us-east-1"
            f" at {{first}}:{LINE_LT}",
        ),
        (
            _renamed("two", tg="feedback-tg"),
            "spec.targetGroup.name",
            LINE_TG,
            f"target group 'feedback-tg' is already used in us-east-1 at {{first}}:{LINE_TG}",
        ),
    ],
    ids=["service-name", "asg-name", "launch-template-name", "target-group-name"],
)
def test_names_are_unique_across_files(
    tmp_path: Path, second: str, field: str, line: int, what: str
) -> None:
    first = write_service(tmp_path, CANONICAL, name="a.yaml")
    path = write_service(tmp_path, second, name="b.yaml")
    (error,) = load_errors([tmp_path])
    assert (error.file, error.field, error.line) == (str(path), field, line)
    assert what.format(first=first) in error.message


def test_duplicate_names_within_one_file(tmp_path: Path) -> None:
    path = write_service(tmp_path, CANONICAL + "---\n" + CANONICAL)
    errors = load_errors([path])
    second_doc = len(CANONICAL.splitlines()) + 1
    assert [(p.field, p.line) for p in errors] == [
        ("metadata.name", second_doc + 5),
        ("spec.launchTemplate.name", second_doc + LINE_LT),
        (f"{ASG}.name", second_doc + LINE_ASG),
        ("spec.targetGroup.name", second_doc + LINE_TG),
    ]


# ----------------------------------------------------------------------------------------------
# Warnings.
# ----------------------------------------------------------------------------------------------


def test_checkpoints_without_delay_warn(tmp_path: Path) -> None:
    text = edit("    checkpointDelay: 60\n", "")
    loaded = desired.load([write_service(tmp_path, text)])
    (warning,) = loaded.warnings
    assert warning.warning
    assert (warning.field, warning.line) == (
        f"{RO}.checkpointPercentages",
        line_of(text, "checkpointP"),
    )
    assert "AWS waits its default 3600 s at each checkpoint" in warning.message
    assert loaded.services[0].rollout.checkpoint_delay is None


def test_no_warning_without_checkpoints(tmp_path: Path) -> None:
    text = edit("    checkpointPercentages: [50, 100]\n    checkpointDelay: 60\n", "")
    assert desired.load([write_service(tmp_path, text)]).warnings == ()


# ----------------------------------------------------------------------------------------------
# Never a traceback: whatever the bytes, the result is specs or InvalidDesiredState.
# ----------------------------------------------------------------------------------------------

GARBAGE = [
    "[",
    "{",
    "]",
    "*x",
    "&a",
    "!!python/name:os.system",
    "~",
    "-1",
    '""',
    "1e999",
    ".nan",
    "true",
    "[]",
    "{}",
    "? x",
    "- a",
    "'",
    '"\\x"',
    "%YAML 1.1",
    "---",
    "@",
    "`",
    "|",
    ">",
]


def _mutations() -> list[tuple[str, str]]:
    lines = CANONICAL.splitlines(keepends=True)
    out = []
    for index, line in enumerate(lines):
        out.append((f"drop-{index + 1}", "".join(lines[:index] + lines[index + 1 :])))
        out.append((f"repeat-{index + 1}", "".join(lines[: index + 1] + lines[index:])))
        key, colon, _ = line.partition(":")
        if colon:
            for n, junk in enumerate(GARBAGE):
                mutated = f"{key}: {junk}\n"
                out.append(
                    (
                        f"value-{index + 1}-{n}",
                        "".join([*lines[:index], mutated, *lines[index + 1 :]]),
                    )
                )
    return out


def _assert_loads_or_reports(path: Path) -> None:
    try:
        desired.load([path])
    except InvalidDesiredState as error:
        assert error.problems
        for problem in error.problems:
            assert problem.file == str(path)
            assert problem.field and problem.message
            assert 0 <= problem.line <= len(CANONICAL.splitlines()) + 2


def test_mutated_files_never_raise_anything_else(tmp_path: Path) -> None:
    mutations = _mutations()
    assert len(mutations) > 500
    for _, text in mutations:
        _assert_loads_or_reports(write_service(tmp_path, text))


def test_random_bytes_never_raise_anything_else(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    data = CANONICAL.encode()
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        _assert_loads_or_reports(write_service(tmp_path, bytes(mutated)))


# --- The rollout preferences of issue 11 ----------------------------------------------------


def test_new_rollout_fields_load(tmp_path: Path) -> None:
    text = with_rollout(
        "scaleInProtectedInstances: Wait",
        "standbyInstances: Terminate",
        "bakeTime: 900",
        "alarms: [feedback-5xx, 'p99 latency > 1s']",
    )
    (service,) = desired.load([write_service(tmp_path, text)]).services
    rollout = service.rollout
    assert (rollout.scale_in_protected_instances, rollout.standby_instances) == (
        "Wait",
        "Terminate",
    )
    assert (rollout.bake_time, rollout.alarms) == (900, ("feedback-5xx", "p99 latency > 1s"))


@pytest.mark.parametrize("value", ["Refresh", "Ignore", "Wait"])
def test_every_protected_choice_loads(tmp_path: Path, value: str) -> None:
    text = with_rollout(f"scaleInProtectedInstances: {value}")
    (service,) = desired.load([write_service(tmp_path, text)]).services
    assert service.rollout.scale_in_protected_instances == value


@pytest.mark.parametrize("value", ["Terminate", "Ignore", "Wait"])
def test_every_standby_choice_loads(tmp_path: Path, value: str) -> None:
    text = with_rollout(f"standbyInstances: {value}")
    (service,) = desired.load([write_service(tmp_path, text)]).services
    assert service.rollout.standby_instances == value


@pytest.mark.parametrize(
    ("lines", "bake_time", "alarms"),
    [
        (("bakeTime: 0",), 0, ()),
        (("bakeTime: 172800",), 172800, ()),
        (
            (f"alarms: [{', '.join(f'a{n}' for n in range(10))}]",),
            None,
            tuple(f"a{n}" for n in range(10)),
        ),
        (("alarms: ['" + "x" * 255 + "']",), None, ("x" * 255,)),
    ],
    ids=["bake-zero", "bake-two-days", "ten-alarms", "alarm-name-255"],
)
def test_rollout_limits_are_inclusive(
    tmp_path: Path, lines: tuple[str, ...], bake_time: int | None, alarms: tuple[str, ...]
) -> None:
    (service,) = desired.load([write_service(tmp_path, with_rollout(*lines))]).services
    assert (service.rollout.bake_time, service.rollout.alarms) == (bake_time, alarms)


def test_omitted_preferences_stay_undeclared(tmp_path: Path) -> None:
    # R2: an omitted maximum is not the same as 100 on AWS (aws-facts 1.2), so it stays None.
    text = edit("    maxHealthyPercentage: 100\n", "")
    (service,) = desired.load([write_service(tmp_path, text)]).services
    rollout = service.rollout
    assert (rollout.max_healthy_percentage, rollout.bake_time, rollout.alarms) == (None, None, ())
    # The two documented choices that differ from the SDK's Wait (aws-facts 1.10).
    assert (rollout.scale_in_protected_instances, rollout.standby_instances) == (
        "Refresh",
        "Ignore",
    )


def test_ignoring_protected_instances_is_warned_about(tmp_path: Path) -> None:
    text = with_rollout("scaleInProtectedInstances: Ignore")
    path = write_service(tmp_path, text)
    (warning,) = desired.load([path]).warnings
    assert (warning.field, warning.line) == (
        f"{RO}.scaleInProtectedInstances",
        line_of(text, "scaleInProtectedInstances"),
    )
    assert "starts a refresh for them on every pass" in warning.message


@pytest.mark.parametrize("value", ["Refresh", "Wait"])
def test_no_warning_for_other_protected_choices(tmp_path: Path, value: str) -> None:
    text = with_rollout(f"scaleInProtectedInstances: {value}")
    assert desired.load([write_service(tmp_path, text)]).warnings == ()


def test_reference_says_what_aws_does_with_an_omitted_maximum() -> None:
    reference = (ROOT / "docs" / "desired-reference.md").read_text()
    row = next(
        line for line in reference.splitlines() if "`spec.rollout.maxHealthyPercentage`" in line
    )
    assert "Sent only when set" in row
    assert "terminates an old instance and launches its replacement at the same time" in row
    assert "| `100` |" not in row  # no default: omitted is not 100


@pytest.mark.parametrize("bake", [None, "bakeTime: 0"], ids=["no-bake-time", "bake-time-zero"])
def test_alarms_without_bake_time_are_warned_about(tmp_path: Path, bake: str | None) -> None:
    text = with_rollout("alarms: [feedback-5xx]", *([bake] if bake else []))
    (warning,) = desired.load([write_service(tmp_path, text)]).warnings
    assert (warning.field, warning.line) == (f"{RO}.alarms", line_of(text, "alarms:"))
    assert "without bakeTime" in warning.message and "set bakeTime" in warning.allowed


def test_alarms_with_bake_time_load_without_a_warning(tmp_path: Path) -> None:
    text = with_rollout("alarms: [feedback-5xx]", "bakeTime: 600")
    assert desired.load([write_service(tmp_path, text)]).warnings == ()
