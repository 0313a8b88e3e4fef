"""``diff`` shows a UserData change as the unified diff of the rendered scripts, images folded
(issue 15: ``image: a → b`` hid every script change): pure cases over data, the text, JSON and
markdown renderings, and ``reconciler diff`` against the sandbox's seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import render
from reconciler.model import Change, ChangeKind, Diff, Phase, Resource
from reconciler.pipeline.diff import diff
from reconciler.pipeline.diff.script_diff import Scripts, first_difference, fold, unified
from reconciler.sandbox import Sandbox, Seeded
from tests.factories import (
    DIGEST_A,
    DIGEST_B,
    OWNER,
    REPOSITORY,
    USER_DATA_TEMPLATE,
    desired_service,
    launch_template_spec,
    observed_service,
    resolved_image,
    user_data,
)
from tests.test_e2e_core import run_cli, sandbox_copy

WITH_ENV = USER_DATA_TEMPLATE.replace("-p 8080:8080", "-p 8080:8080 -e SPRING_PROFILES_ACTIVE=prod")
PINNED_A = f"{REPOSITORY}@{DIGEST_A}"


@pytest.mark.parametrize(
    ("script", "images", "folded"),
    [
        (f"docker pull {PINNED_A}", (PINNED_A,), ["docker pull ${IMAGE}"]),
        (f"docker pull {PINNED_A}", (), ["docker pull ghcr.io/johnhuh619/simple-api@sha256:…"]),
        (
            f"x {REPOSITORY}:v1@{DIGEST_A}",
            (f"{REPOSITORY}:v1@{DIGEST_A}", PINNED_A),
            ["x ${IMAGE}"],
        ),
        (f"a\n{DIGEST_B}\nb", (PINNED_A,), ["a", "sha256:…", "b"]),
        ("sha256:" + "a" * 63, (), ["sha256:" + "a" * 63]),  # not a digest: left alone
        ("a\r\nb\r\n", (), ["a", "b"]),
        ("", (), []),
    ],
)
def test_fold(script: str, images: tuple[str, ...], folded: list[str]) -> None:
    assert fold(script, images) == folded


@pytest.mark.parametrize(
    ("old", "new", "first"),
    [
        ("a\nb\n", "a\nc\n", (2, "b", "c")),
        ("a\n", "a\nb\n", (2, "", "b")),
        ("a\nb\n", "a\n", (2, "b", "")),
        (f"run {DIGEST_A}\n", f"run {DIGEST_B}\n", None),  # digests only
        ("a\nb\n", "a\r\nb\r\n", None),  # line endings only
    ],
)
def test_first_difference_is_past_the_digests(
    old: str, new: str, first: tuple[int, str, str] | None
) -> None:
    assert first_difference(Scripts(old, new)) == first


def test_unified_is_a_real_unified_diff() -> None:
    lines = unified(
        Scripts("a\nb\nc\nd\ne\nf\n", "a\nb\nC\nd\ne\nf\ng\n"), old_label="x", new_label="y"
    )
    assert lines == (
        "--- x",
        "+++ y",
        "@@ -1,6 +1,7 @@",
        " a",
        " b",
        "-c",
        "+C",
        " d",
        " e",
        " f",
        "+g",
    )


def run(desired_template: str, *, digest: str) -> Diff:
    """The diff of a group on version 3 (DIGEST_A, USER_DATA_TEMPLATE) against a desired state
    rendering ``desired_template`` with ``digest``."""
    observed = observed_service(desired_service())
    image = resolved_image(digest=digest)
    desired = desired_service(
        image=image,
        launch_template=launch_template_spec(template=desired_template),
        rendered=user_data(image, template=desired_template),
    )
    return diff(desired, observed, owner=OWNER)


def test_an_image_change_no_longer_hides_a_script_change() -> None:
    result = run(WITH_ENV, digest=DIGEST_B)
    image, script = result.changes
    assert (image.field, image.new) == ("image", "latest (sha256:9f8e7d6c5b4a)")
    assert script.field == "userData"
    assert script.old == "line 5: docker run -d --name feedback --restart always -p 8080:8080…"
    assert '-docker run -d --name feedback --restart always -p 8080:8080 "$IMAGE"' in script.detail
    added = "+docker run -d --name feedback --restart always -p 8080:8080 -e SPRING_PROFILES_ACTIVE"
    assert any(line.startswith(added) for line in script.detail)
    # The lines that moved with the image alone are folded away: no digest is shown anywhere.
    assert not any("sha256:" in line for line in script.detail)
    assert ' IMAGE="${IMAGE}"' in script.detail  # unchanged context, folded


def test_an_image_change_alone_is_one_change() -> None:
    (image,) = run(USER_DATA_TEMPLATE, digest=DIGEST_B).changes
    assert (image.field, image.detail) == ("image", ())


def test_a_script_change_alone_carries_its_diff() -> None:
    (script,) = run(WITH_ENV, digest=DIGEST_A).changes
    assert script.field == "userData" and script.detail[:2] == (
        "--- userData (version 3)",
        "+++ userData (desired)",
    )


def test_line_endings_alone_are_a_change_without_a_diff() -> None:
    (script,) = run(USER_DATA_TEMPLATE.replace("\n", "\r\n"), digest=DIGEST_A).changes
    assert script.field == "userData" and script.detail == ()
    assert isinstance(script.new, str) and script.new.endswith(" bytes")


def test_no_change_when_the_script_is_the_same() -> None:
    assert run(USER_DATA_TEMPLATE, digest=DIGEST_A).changes == ()


# -- rendering -----------------------------------------------------------------------------------

DETAIL = ("--- a", "+++ b", "@@ -1 +1 @@", "-x", "+y ```code```")
CHANGE = Change(Resource.LAUNCH_TEMPLATE, "lt", "userData", "line 1: x", "line 1: y", detail=DETAIL)
DIFFS = [Diff("feedback", (CHANGE,), Phase.OUT_OF_SYNC)]


def test_text_shows_the_diff_under_its_change() -> None:
    lines = render.text(DIFFS).splitlines()
    at = lines.index("  ~ launch_template lt userData: line 1: x → line 1: y")
    assert lines[at + 1 : at + 6] == [f"      {line}" for line in DETAIL]


def test_json_carries_the_diff() -> None:
    (change,) = json.loads(render.json(DIFFS))["services"][0]["changes"]
    assert change["diff"] == list(DETAIL)


def test_markdown_fences_the_diff_longer_than_its_backticks() -> None:
    text = render.markdown(DIFFS)
    assert "````diff\n--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y ```code```\n````\n" in text
    assert "<summary>userData of lt, as a diff</summary>" in text


@pytest.mark.parametrize("limit", [400, 450, 500, 520, 560, 600])
def test_markdown_cut_inside_the_diff_closes_the_fence_and_the_details(limit: int) -> None:
    long = Change(
        Resource.LAUNCH_TEMPLATE,
        "lt",
        "userData",
        "a",
        "b",
        detail=tuple(f"+line {n}" for n in range(200)),
    )
    text = render.markdown([Diff("feedback", (long,), Phase.OUT_OF_SYNC)], limit=limit)
    assert len(text) <= limit
    fences = [line for line in text.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, text
    assert text.count("<details>") == text.count("</details>"), text
    assert text.endswith("run `reconciler diff` for the full plan._")


def test_a_change_without_detail_renders_as_before() -> None:
    plain = Change(Resource.AUTO_SCALING_GROUP, "g", "maxSize", 4, 6, ChangeKind.UPDATE)
    text = render.markdown([Diff("feedback", (plain,), Phase.OUT_OF_SYNC)])
    assert "```" not in text and "as a diff" not in text


# -- reconciler diff against the sandbox -----------------------------------------------------------


def test_diff_of_the_seed_shows_the_boot_script_it_replaces(
    sandbox: Sandbox, seeded: Seeded, tmp_path: Path
) -> None:
    path = sandbox_copy(tmp_path)
    done = run_cli("diff", str(path), endpoint=sandbox.endpoint)
    assert done.returncode == 2, done.stdout + done.stderr
    out = done.stdout
    assert "image: latest (unpinned) → v1.1 (sha256:" in out
    assert "userData: line 2: # feedback service (simple-api) boot script" in out
    assert '      -IMAGE_TAG="latest"' in out
    registry = seeded.repository_uri.partition("/")[0]
    login = f"docker login --username AWS --password-stdin {registry}"
    assert any(
        line.startswith("      +aws ecr get-login-password") and login in line
        for line in out.splitlines()
    )
    assert "      +docker pull ${IMAGE} || boot_failed" in out

    as_json = run_cli("diff", "--output", "json", str(path), endpoint=sandbox.endpoint)
    (service,) = json.loads(as_json.stdout)["services"]
    (script,) = [c for c in service["changes"] if c["field"] == "userData"]
    assert script["diff"][:2] == ["--- userData (version 1)", "+++ userData (desired)"]
    assert "+set -euo pipefail" not in script["diff"]  # the seed had it too: context, not a change
