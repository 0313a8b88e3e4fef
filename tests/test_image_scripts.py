"""scripts: THE reader of which image a UserData script or launch template version runs.

Pure data in and out: scripts as text, references as values."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.images import description, scripts, userdata
from reconciler.images.reference import ImageReference, parse
from reconciler.model import ImageSpec, LaunchTemplateVersion, ResolvedImage

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = (ROOT / "desired" / "feedback-userdata.sh").read_text()
REPO = "ghcr.io/johnhuh619/simple-api"
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
IMAGE = ResolvedImage(REPO, "latest", DIGEST)

# The seed's boot script, as its GitHub Actions workflow writes it into the launch template.
SEED = """#!/bin/bash
IMAGE_TAG="latest"
yum update -y
yum install -y docker
systemctl start docker
docker pull ghcr.io/johnhuh619/simple-api:${IMAGE_TAG}
docker run -d --name feedback --restart always -p 8080:8080 \\
  -e SPRING_PROFILES_ACTIVE=prod \\
  ghcr.io/johnhuh619/simple-api:${IMAGE_TAG}
"""

# ----------------------------------------------------------------------------------------------
# parse_image: the reader as ImageSpec (what status and the sandbox use)
# ----------------------------------------------------------------------------------------------


def test_parse_image_reads_the_seed_script() -> None:
    assert scripts.parse_image(SEED) == ImageSpec(REPO, "latest", None)


def test_parse_image_reads_the_seed_rollback_script() -> None:
    rollback = SEED.replace('IMAGE_TAG="latest"', 'IMAGE_TAG="previous"')
    assert scripts.parse_image(rollback) == ImageSpec(REPO, "previous", None)


@pytest.mark.parametrize(
    "image",
    [
        ResolvedImage(REPO, "latest", DIGEST),
        ResolvedImage(REPO, None, OTHER_DIGEST),
        ResolvedImage("localhost:5000/team/app", "sha-1a2b3c4", DIGEST),
    ],
)
def test_parse_image_reads_rendered_scripts(image: ResolvedImage) -> None:
    rendered = userdata.render(TEMPLATE, image=image, service="feedback", region="us-east-1")
    assert scripts.parse_image(rendered) == ImageSpec(image.repository, None, image.digest)


def test_parse_image_takes_the_tag_of_a_rendered_image_tag_assignment() -> None:
    template = 'IMAGE_TAG="${IMAGE_TAG}"\ndocker pull ${IMAGE}\n'
    rendered = userdata.render(template, image=IMAGE, service="feedback", region="us-east-1")
    assert scripts.parse_image(rendered) == ImageSpec(REPO, "latest", DIGEST)


@pytest.mark.parametrize(
    "script, expected",
    [
        (
            "docker run -d -p 8080:8080 --name api ghcr.io/x/api:v1.2\n",
            ImageSpec("ghcr.io/x/api", "v1.2", None),
        ),
        (
            "sudo docker pull ghcr.io/x/api:sha-1a2b3c4\n",
            ImageSpec("ghcr.io/x/api", "sha-1a2b3c4", None),
        ),
        (
            "docker run -d -v /data:/data --env-file /etc/app.env -e A=b:c ghcr.io/x/api:2\n",
            ImageSpec("ghcr.io/x/api", "2", None),
        ),
        (
            "docker run --rm -it localhost:5000/app:dev sh\n",
            ImageSpec("localhost:5000/app", "dev", None),
        ),
        ("docker pull nginx\n", ImageSpec("nginx", "latest", None)),
        ("docker container run -d --publish=80:80 nginx:1.25\n", ImageSpec("nginx", "1.25", None)),
        ("podman run -d quay.io/org/app:v9\n", ImageSpec("quay.io/org/app", "v9", None)),
        (
            "docker pull ghcr.io/x/api:v1@" + DIGEST + "\n",
            ImageSpec("ghcr.io/x/api", "v1", DIGEST),
        ),
        (
            'IMAGE=ghcr.io/x/api:v3\ndocker pull "$IMAGE"\ndocker run -d $IMAGE\n',
            ImageSpec("ghcr.io/x/api", "v3", None),
        ),
        (
            "export REPO='ghcr.io/x/api'\nTAG=v4 # pinned by hand\ndocker run -d ${REPO}:${TAG}\n",
            ImageSpec("ghcr.io/x/api", "v4", None),
        ),
        (
            "# docker pull ghcr.io/x/old:v0\ndocker pull ghcr.io/x/new:v1\n",
            ImageSpec("ghcr.io/x/new", "v1", None),
        ),
        (
            f"# ran ghcr.io/x/old@{OTHER_DIGEST} before\ndocker pull ghcr.io/x/new@{DIGEST}\n",
            ImageSpec("ghcr.io/x/new", None, DIGEST),
        ),
    ],
    ids=[
        "run-with-options",
        "sudo-pull",
        "options-with-colons",
        "registry-port",
        "pull-implicit-latest",
        "container-run",
        "podman",
        "tag-and-digest",
        "image-variable",
        "repo-and-tag-variables",
        "commented-out-pull",
        "commented-out-digest",
    ],
)
def test_parse_image_reads_hand_written_scripts(script: str, expected: ImageSpec) -> None:
    assert scripts.parse_image(script) == expected


@pytest.mark.parametrize(
    "script",
    [
        "",
        "#!/bin/bash\necho hello\n",
        "docker ps\n",
        "docker run -d -p 8080:8080\n",
        'docker pull "ghcr.io/x/api:${UNKNOWN}"\n',
        "docker pull ghcr.io/X/api:v1\n",
    ],
)
def test_parse_image_returns_none_without_an_image(script: str) -> None:
    assert scripts.parse_image(script) is None


def test_parse_image_never_takes_a_port_mapping_for_an_image() -> None:
    script = "docker run -d -p 8080:8080 ghcr.io/x/api:v1\n"
    assert scripts.parse_image(script) == ImageSpec("ghcr.io/x/api", "v1", None)
    assert scripts.parse_image("docker run -p 8080:8080\n") is None


# ----------------------------------------------------------------------------------------------
# script_image: the full reference, registry and path included
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("docker run myorg/api:v1\n", "myorg/api:v1"),
        ("docker run -d -p 8080:8080 myorg/api:v1\n", "myorg/api:v1"),
        ("docker pull myorg/api\n", "myorg/api:latest"),
        ("docker pull nginx\n", "nginx:latest"),
        ("docker run --rm nginx:1.25-alpine\n", "nginx:1.25-alpine"),
        ("docker run docker.io/library/nginx:1\n", "docker.io/library/nginx:1"),
        ("docker pull localhost:5000/app:dev\n", "localhost:5000/app:dev"),
        ("docker pull localhost:5000/app\n", "localhost:5000/app:latest"),
        ("docker pull 127.0.0.1:5000/team/app:v2\n", "127.0.0.1:5000/team/app:v2"),
        ("docker pull registry.example.com:8443/x/y:v3\n", "registry.example.com:8443/x/y:v3"),
        (f"docker pull myorg/api@{DIGEST}\n", f"myorg/api@{DIGEST}"),
        (f"docker pull localhost:5000/app:dev@{DIGEST}\n", f"localhost:5000/app:dev@{DIGEST}"),
        (f"IMAGE=ghcr.io/x/api@{DIGEST}\ndocker run $IMAGE\n", f"ghcr.io/x/api@{DIGEST}"),
        ('IMAGE_TAG="latest"\ndocker pull myorg/api:$IMAGE_TAG\n', "myorg/api:latest"),
        ("IMAGE_TAG='v7'\ndocker run -d myorg/api:${IMAGE_TAG}\n", "myorg/api:v7"),
        ('export IMAGE_TAG="v8"\ndocker pull ghcr.io/x/api:"$IMAGE_TAG"\n', "ghcr.io/x/api:v8"),
        (
            f'IMAGE_TAG="v9"\ndocker pull ghcr.io/x/api@{DIGEST}\n',
            f"ghcr.io/x/api:v9@{DIGEST}",
        ),
        ("docker run -p 8080:8080 app\n", "app:latest"),
    ],
    ids=[
        "hub-short-name-run",
        "hub-short-name-with-port-mapping",
        "hub-short-name-implicit-latest",
        "official-image",
        "official-image-tag",
        "hub-long-name",
        "localhost-port",
        "localhost-port-implicit-latest",
        "loopback-ip-port",
        "registry-port",
        "hub-short-name-pinned",
        "localhost-port-tag-and-digest",
        "pinned-variable",
        "seed-image-tag-hub",
        "image-tag-braces",
        "image-tag-exported-quoted",
        "image-tag-names-the-pinned-tag",
        "port-mapping-then-image",
    ],
)
def test_script_image(script: str, expected: str) -> None:
    assert scripts.script_image(script) == parse(expected)


def test_script_image_of_the_seed_names_registry_and_path() -> None:
    found = scripts.script_image(SEED)
    assert found == ImageReference(REPO, "ghcr.io", "johnhuh619/simple-api", "latest")


@pytest.mark.parametrize(
    "script",
    [
        "docker run -p 8080:8080\n",
        "docker pull myorg/API:v1\n",
        "docker pull myorg/api:-v1\n",
        "docker pull myorg/api:" + "a" * 129 + "\n",
        "docker pull myorg/api@sha512:" + "ab" * 64 + "\n",
        "docker pull " + "a" * 256 + ":v1\n",
        'IMAGE_TAG="latest"\necho $IMAGE_TAG\n',
    ],
    ids=[
        "port-mapping-only",
        "uppercase-path",
        "bad-tag",
        "tag-too-long",
        "sha512-digest",
        "name-too-long",
        "image-tag-without-image",
    ],
)
def test_script_image_finds_nothing(script: str) -> None:
    assert scripts.script_image(script) is None


# ----------------------------------------------------------------------------------------------
# version_image: our description first, the UserData otherwise
# ----------------------------------------------------------------------------------------------


def _ours(image: ResolvedImage, *, user_data: str = "") -> LaunchTemplateVersion:
    text = description.description(fingerprint="0" * 16, revision="abc", image=image)
    return LaunchTemplateVersion(3, user_data, text)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (_ours(IMAGE), f"{REPO}:latest@{DIGEST}"),
        (_ours(ResolvedImage(REPO, None, DIGEST)), f"{REPO}@{DIGEST}"),
        (_ours(ResolvedImage("myorg/api", "v1", DIGEST)), f"myorg/api:v1@{DIGEST}"),
        # The description wins over the script: it is what the reconciler rendered.
        (_ours(IMAGE, user_data="docker pull other/app:v0\n"), f"{REPO}:latest@{DIGEST}"),
        (LaunchTemplateVersion(1, "docker run myorg/api:v1\n"), "myorg/api:v1"),
        (LaunchTemplateVersion(1, SEED, "written by hand"), f"{REPO}:latest"),
        (
            LaunchTemplateVersion(
                1,
                f"docker pull {REPO}@{OTHER_DIGEST}\n",
                f"asg-reconciler fp={'0' * 16} rev=- image={REPO}@sha256:c0ff",
            ),
            f"{REPO}@{OTHER_DIGEST}",
        ),
    ],
    ids=[
        "ours",
        "ours-digest-only",
        "ours-hub-short-name",
        "ours-over-script",
        "foreign",
        "seed",
        "cut-description",
    ],
)
def test_version_image(version: LaunchTemplateVersion, expected: str) -> None:
    assert scripts.version_image(version) == parse(expected)


def test_version_image_without_an_image_is_none() -> None:
    assert scripts.version_image(LaunchTemplateVersion(1, "#!/bin/bash\necho hello\n")) is None


# ----------------------------------------------------------------------------------------------
# describe: how the diff shows the image a version runs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "shown"),
    [
        (None, "unknown"),
        (f"{REPO}:latest@{DIGEST}", "latest (sha256:abababababab)"),
        (f"{REPO}@{DIGEST}", "sha256:abababababab"),
        (f"{REPO}:v0.9", "v0.9 (unpinned)"),
        (f"ghcr.io/someone/else@{DIGEST}", "ghcr.io/someone/else@sha256:abababababab"),
        (f"nginx@{DIGEST}", "nginx@sha256:abababababab"),
        ("myorg/api:v1", "myorg/api:v1 (unpinned)"),
    ],
)
def test_describe(found: str | None, shown: str) -> None:
    image = parse(found) if found else None
    assert scripts.describe(image, repository=REPO) == shown


def test_describe_matches_resolved_image_describe() -> None:
    image = parse(f"{REPO}:latest@{DIGEST}")
    assert scripts.describe(image, repository=REPO) == IMAGE.describe()
