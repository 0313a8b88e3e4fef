"""userdata: render templates safely, fingerprints and launch template version descriptions.

The image grammar is tested in test_image_reference.py, the reader of images in UserData in
test_image_scripts.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.errors import InvalidDesiredState
from reconciler.images import description, userdata
from reconciler.model import Problem, ResolvedImage

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "desired" / "feedback-userdata.sh").read_text()
REPO = "ghcr.io/johnhuh619/simple-api"
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
IMAGE = ResolvedImage(REPO, "latest", DIGEST)


# ----------------------------------------------------------------------------------------------
# render
# ----------------------------------------------------------------------------------------------


def test_render_substitutes_every_placeholder() -> None:
    template = "a=${IMAGE}\nb=${IMAGE_TAG}\nc=${IMAGE_DIGEST}\nd=${SERVICE}\ne=${IMAGE}\n"
    rendered = userdata.render(template, image=IMAGE, service="feedback", region="us-east-1")
    assert rendered == (f"a={REPO}@{DIGEST}\nb=latest\nc={DIGEST}\nd=feedback\ne={REPO}@{DIGEST}\n")


def test_render_without_a_tag_leaves_image_tag_empty() -> None:
    image = ResolvedImage(REPO, None, DIGEST)
    assert userdata.render(
        "${IMAGE} [${IMAGE_TAG}]", image=image, service="x", region="us-east-1"
    ) == (f"{REPO}@{DIGEST} []")


def test_double_dollar_writes_a_literal_placeholder() -> None:
    template = 'docker run ${IMAGE}\necho "$${HOME} $$ ${SERVICE}"\n'
    rendered = userdata.render(template, image=IMAGE, service="feedback", region="us-east-1")
    assert rendered.splitlines()[1] == 'echo "${HOME} $ feedback"'


def test_render_the_canonical_template() -> None:
    # What it does when run is tested in test_boot_script_run.py; here: every placeholder filled.
    rendered = userdata.render(TEMPLATE, image=IMAGE, service="feedback", region="us-east-1")
    assert rendered.startswith("#!/bin/bash\n")
    assert "set -euo pipefail\n" in rendered
    assert f"docker pull {REPO}@{DIGEST} ||" in rendered
    assert ": no registry login: ghcr.io is public to this service ||" in rendered
    assert "${" not in rendered


def test_substitution_is_one_pass() -> None:
    # A value that looks like a placeholder is never expanded again.
    assert userdata.substitute("${IMAGE}", {"IMAGE": "${SERVICE}", "SERVICE": "x"}) == "${SERVICE}"


INJECTIONS = [
    "v1;rm -rf /",
    "v1;reboot",
    "$HOME",
    "a>b",
    "$(curl x)",
    "`curl x`",
    "latest\nrm -rf /",
    "latest\n",
    "a b",
    "x'y",
    'x"y',
    "${SERVICE}",
    "a|sh",
    "a&&b",
    "l\u0430test",  # a Cyrillic letter that looks like 'a'
    "",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize(
    "field",
    ["spec.image.repository", "spec.image.tag", "spec.image.digest", "metadata.name"],
)
def test_render_refuses_values_outside_their_grammar(field: str, value: str) -> None:
    image, service = IMAGE, "feedback"
    if field == "spec.image.repository":
        image = ResolvedImage(value, "latest", DIGEST)
    elif field == "spec.image.tag":
        image = ResolvedImage(REPO, value, DIGEST)
    elif field == "spec.image.digest":
        image = ResolvedImage(REPO, "latest", f"sha256:{value}")
    else:
        service = value
    with pytest.raises(InvalidDesiredState) as raised:
        userdata.render(TEMPLATE, image=image, service=service, region="us-east-1")
    assert [p.field for p in raised.value.problems] == [field]


def test_render_refuses_unknown_placeholders() -> None:
    template = "#!/bin/bash\ndocker run ${IMAGE}\necho ${FOO}\n"
    with pytest.raises(InvalidDesiredState) as raised:
        userdata.render(template, image=IMAGE, service="feedback", region="us-east-1")
    (problem,) = raised.value.problems
    assert problem.field == "spec.launchTemplate.userData"
    assert "template line 3: unknown placeholder ${FOO}" in problem.message


def test_render_refuses_user_data_over_16_kb() -> None:
    head = "docker run ${IMAGE}\n"
    fits = head + "#" * (userdata.MAX_USER_DATA_BYTES - len(f"docker run {IMAGE.pinned}\n"))
    assert (
        len(userdata.render(fits, image=IMAGE, service="x", region="us-east-1").encode()) == 16384
    )
    with pytest.raises(InvalidDesiredState, match="AWS limits UserData to 16384 bytes"):
        userdata.render(fits + "#", image=IMAGE, service="x", region="us-east-1")


def test_size_counts_bytes_not_characters() -> None:
    text = "é" * (userdata.MAX_USER_DATA_BYTES // 2)
    assert userdata.check_size(text, file="f", field="x", line=1) is None
    problem = userdata.check_size(text + "é", file="f", field="x", line=1)
    assert problem is not None
    assert "16386 bytes (21848 characters once base64-encoded)" in problem.message


# ----------------------------------------------------------------------------------------------
# check_template
# ----------------------------------------------------------------------------------------------


def test_check_template_accepts_the_canonical_template() -> None:
    assert userdata.check_template(TEMPLATE, file="d.yaml", field="f", line=13) == []


@pytest.mark.parametrize(
    "template, message",
    [
        ("docker run ${IMAGE}\n${FOO}\n", "template line 2: unknown placeholder ${FOO}"),
        ("docker run ${IMAGE}\n\n${image}\n", "template line 3: unknown placeholder ${image}"),
        ("docker run ${IMAGE}\n${IMAGE:-x}\n", "template line 2: unknown placeholder ${IMAGE:-x}"),
        ("docker run ${IMAGE}\n${}\n", "template line 2: unknown placeholder ${}"),
        ("docker run ${IMAGE}\n${IMAGE\n", "template line 2: unclosed placeholder '${IMAGE'"),
        ("docker run $IMAGE\n", "never uses ${IMAGE}"),
        ("docker run ${IMAGE_TAG}\n", "never uses ${IMAGE}"),
        ("docker run $${IMAGE}\n", "never uses ${IMAGE}"),
    ],
)
def test_check_template_problems(template: str, message: str) -> None:
    (problem,) = userdata.check_template(template, file="d.yaml", field="spec.x", line=13)
    assert (problem.file, problem.line, problem.field) == ("d.yaml", 13, "spec.x")
    assert message in problem.message
    assert "${IMAGE}" in problem.allowed


def test_check_template_reports_every_unknown_placeholder() -> None:
    problems = userdata.check_template("${A}\n${IMAGE}\n${B}", file="f", field="x", line=1)
    assert [p.message for p in problems] == [
        "template line 1: unknown placeholder ${A}",
        "template line 3: unknown placeholder ${B}",
    ]
    assert all(isinstance(p, Problem) and not p.warning for p in problems)


# ----------------------------------------------------------------------------------------------
# fingerprint and description
# ----------------------------------------------------------------------------------------------


def test_fingerprint_is_the_first_16_hex_of_sha256_over_name_nul_user_data() -> None:
    expected = hashlib.sha256(b"feedback-app-template\0#!/bin/bash\n").hexdigest()[:16]
    value = userdata.fingerprint(
        launch_template_name="feedback-app-template", user_data="#!/bin/bash\n"
    )
    assert value == expected


def test_fingerprint_is_stable_and_sensitive() -> None:
    rendered = userdata.render(TEMPLATE, image=IMAGE, service="feedback", region="us-east-1")
    first = userdata.fingerprint(launch_template_name="lt", user_data=rendered)
    again = userdata.render(TEMPLATE, image=IMAGE, service="feedback", region="us-east-1")
    assert userdata.fingerprint(launch_template_name="lt", user_data=again) == first
    other_image = userdata.render(
        TEMPLATE,
        image=ResolvedImage(REPO, "latest", OTHER_DIGEST),
        service="feedback",
        region="us-east-1",
    )
    others = {
        userdata.fingerprint(launch_template_name="lt2", user_data=rendered),
        userdata.fingerprint(launch_template_name="lt", user_data=other_image),
        userdata.fingerprint(launch_template_name="lt", user_data=rendered + "\n"),
    }
    assert first not in others and len(others) == 3
    # The NUL keeps name and content apart: ("ab", "c") is not ("a", "bc").
    assert userdata.fingerprint(launch_template_name="ab", user_data="c") != userdata.fingerprint(
        launch_template_name="a", user_data="bc"
    )


def test_description_format_and_round_trip() -> None:
    text = description.description(fingerprint="0123456789abcdef", revision="f" * 40, image=IMAGE)
    assert text == (
        f"asg-reconciler fp=0123456789abcdef rev={'f' * 12} tag={IMAGE.tag} image={REPO}@{DIGEST}"
    )
    assert description.parse_description(text) == {
        "fp": "0123456789abcdef",
        "rev": "f" * 12,
        "tag": IMAGE.tag,
        "image": f"{REPO}@{DIGEST}",
    }


@pytest.mark.parametrize(
    ("revision", "shown"),
    [("0f877b1c2d3e4f5a", "rev=0f877b1c2d3e"), ("abc", "rev=abc"), (None, "rev=-"), ("", "rev=-")],
)
def test_description_revision(revision: str | None, shown: str) -> None:
    text = description.description(fingerprint="f" * 16, revision=revision, image=IMAGE)
    assert f" {shown} " in text


@pytest.mark.parametrize(("tag", "shown"), [("v1.1", "tag=v1.1"), (None, "tag=-")])
def test_description_tag(tag: str | None, shown: str) -> None:
    image = ResolvedImage(REPO, tag, DIGEST)
    text = description.description(fingerprint="f" * 16, revision=None, image=image)
    assert f" {shown} image=" in text
    assert description.parse_description(text).get("tag") == tag


def test_description_without_revision() -> None:
    text = description.description(fingerprint="0123456789abcdef", revision=None, image=IMAGE)
    assert " rev=- " in text
    assert description.parse_description(text) == {
        "fp": "0123456789abcdef",
        "tag": IMAGE.tag,
        "image": IMAGE.pinned,
    }


def test_description_is_cut_to_255_characters() -> None:
    long_repo = "registry.example.com/" + "/".join(["team"] * 45)
    image = ResolvedImage(long_repo, None, DIGEST)
    text = description.description(fingerprint="0123456789abcdef", revision="abc", image=image)
    assert len(text) == 255
    # A truncated image is not reported as if it were whole; the fingerprint still is.
    assert description.parse_description(text) == {"fp": "0123456789abcdef", "rev": "abc"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "created by hand",
        "asg-reconciler",
        "asg-reconciler fp=xyz rev=abc",
        "asg-reconcilerfp=0123456789abcdef",
        "other fp=0123456789abcdef",
    ],
)
def test_parse_description_of_foreign_text_is_empty(text: str) -> None:
    assert description.parse_description(text) == {}
