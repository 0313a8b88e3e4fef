"""reference: THE image reference grammar, as pure data in and out (no registry is contacted)."""

from __future__ import annotations

import pytest

from reconciler.images import reference
from reconciler.images.reference import ImageError, ImageReference, InvalidReference

SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "cd" * 64


# ----------------------------------------------------------------------------------------------
# parse: registry, path, tag and digest, split the way docker splits them
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageReference("nginx", "docker.io", "library/nginx")),
        ("nginx:1.25", ImageReference("nginx", "docker.io", "library/nginx", "1.25")),
        ("myorg/api:v1", ImageReference("myorg/api", "docker.io", "myorg/api", "v1")),
        (
            "docker.io/library/nginx",
            ImageReference("docker.io/library/nginx", "docker.io", "library/nginx"),
        ),
        (
            "index.docker.io/nginx",
            ImageReference("index.docker.io/nginx", "docker.io", "library/nginx"),
        ),
        (
            "ghcr.io/owner/app:sha-1a2b3c4",
            ImageReference("ghcr.io/owner/app", "ghcr.io", "owner/app", "sha-1a2b3c4"),
        ),
        ("localhost/app", ImageReference("localhost/app", "localhost", "app")),
        (
            "localhost:5000/team/app",
            ImageReference("localhost:5000/team/app", "localhost:5000", "team/app"),
        ),
        (
            "localhost:5000/app:dev",
            ImageReference("localhost:5000/app", "localhost:5000", "app", "dev"),
        ),
        (
            "127.0.0.1:5000/a/b@" + SHA256,
            ImageReference("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", None, SHA256),
        ),
        ("[::1]:5000/app", ImageReference("[::1]:5000/app", "[::1]:5000", "app")),
        (
            "registry.example.com:8443/x/y/z:v2",
            ImageReference(
                "registry.example.com:8443/x/y/z", "registry.example.com:8443", "x/y/z", "v2"
            ),
        ),
        (
            "Registry.Example.com/app",
            ImageReference("Registry.Example.com/app", "Registry.Example.com", "app"),
        ),
        (
            "ghcr.io/x/api:v1@" + SHA256,
            ImageReference("ghcr.io/x/api", "ghcr.io", "x/api", "v1", SHA256),
        ),
        (
            "nginx@" + SHA256,
            ImageReference("nginx", "docker.io", "library/nginx", None, SHA256),
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            ImageReference(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "app",
                "latest",
            ),
        ),
        (
            "a__b/c.d/e_f/g---h",
            ImageReference("a__b/c.d/e_f/g---h", "docker.io", "a__b/c.d/e_f/g---h"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_parse(text: str, expected: ImageReference) -> None:
    assert reference.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "host", "key"),
    [
        ("nginx", "registry-1.docker.io", "registry-1.docker.io/library/nginx"),
        ("docker.io/library/nginx:1", "registry-1.docker.io", "registry-1.docker.io/library/nginx"),
        ("myorg/api", "registry-1.docker.io", "registry-1.docker.io/myorg/api"),
        ("ghcr.io/o/a", "ghcr.io", "ghcr.io/o/a"),
        ("localhost:5000/a", "localhost:5000", "localhost:5000/a"),
    ],
)
def test_host_and_key(text: str, host: str, key: str) -> None:
    ref = reference.parse(text)
    assert (ref.host, ref.key) == (host, key)


def test_short_and_long_docker_hub_names_share_one_key() -> None:
    keys = {
        reference.parse(n).key
        for n in ("nginx", "docker.io/library/nginx", "index.docker.io/library/nginx")
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Nginx",
        "ghcr.io/x/Y",
        "MyOrg/api",  # no '.' or ':' in the first part: Docker Hub, where paths are lowercase
        "-bad.io/x",
        "ghcr.io/x//y",
        "a/",
        "/a",
        "a b",
        "a..b",
        "a._b",
        "a-",
        "ghcr.io:x/app",
        "https://ghcr.io/x",
        "nginx:",
        "nginx@",
        "nginx:-x",
        "nginx:.x",
        "nginx:" + "a" * 129,
        "nginx@sha256:abc",
        "nginx@" + SHA512,
        "nginx@md5:" + "0" * 32,
        "nginx@sha256:" + "AB" * 32,
        "a" * 256,
        "ü/app",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidReference, match="invalid"):
        reference.parse(text)


def test_image_reference_from_parts() -> None:
    ref = reference.image_reference("myorg/api", "v1", SHA256)
    assert ref == ImageReference("myorg/api", "docker.io", "myorg/api", "v1", SHA256)
    with pytest.raises(InvalidReference, match="invalid tag"):
        reference.image_reference("myorg/api", "bad tag")
    with pytest.raises(InvalidReference, match="invalid digest"):
        reference.image_reference("myorg/api", digest="sha256:abc")


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        ("ghcr.io/x/api:v1@" + SHA256, "ghcr.io/x/api@" + SHA256),
        ("localhost:5000/app@" + SHA256, "localhost:5000/app@" + SHA256),
        ("myorg/api:v1", None),
        ("nginx", None),
    ],
)
def test_pinned_is_repository_at_digest(text: str, pinned: str | None) -> None:
    assert reference.parse(text).pinned == pinned


@pytest.mark.parametrize(
    "text",
    [
        "nginx",
        "myorg/api:v1",
        "localhost:5000/app:dev",
        "ghcr.io/x/api:v1@" + SHA256,
        "a@" + SHA256,
    ],
)
def test_str_round_trips(text: str) -> None:
    assert str(reference.parse(text)) == text
    assert reference.parse(str(reference.parse(text))) == reference.parse(text)


def test_content_digest_is_sha256_of_the_bytes() -> None:
    assert reference.content_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert reference.is_digest(reference.content_digest(b"manifest"))


# ----------------------------------------------------------------------------------------------
# the checks desired state and render use
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "nginx",
        "library/nginx",
        "ghcr.io/johnhuh619/simple-api",
        "localhost:5000/team/app",
        "[::1]:5000/app",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
        "Registry.Example.com/app",
        "a__b/c.d/e_f/g---h",
        "a" * 255,
    ],
)
def test_valid_repositories(name: str) -> None:
    assert reference.repository_error(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "is not a valid repository"),
        ("ghcr.io/App", "must be lowercase"),
        ("a..b", "is not a valid repository"),
        ("a._b", "is not a valid repository"),
        ("-a", "is not a valid repository"),
        ("a-", "is not a valid repository"),
        ("a/", "is not a valid repository"),
        ("/a", "is not a valid repository"),
        ("a//b", "is not a valid repository"),
        ("a b", "is not a valid repository"),
        ("ghcr.io:x/app", "is not a valid repository"),
        ("a" * 256, "is 256 characters long"),
        ("app:latest", "holds a tag: put it in image.tag"),
        ("app@sha256:00", "holds a digest: put it in image.digest"),
    ],
)
def test_invalid_repositories(name: str, reason: str) -> None:
    found = reference.repository_error(name)
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "tag", ["latest", "previous", "sha-1a2b3c4", "v1.2.3", "_x", "1.25", "A" * 128, "UPPER_ok"]
)
def test_valid_tags(tag: str) -> None:
    assert reference.tag_error(tag) is None


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a/b", "a:b", "a@b", "a b", "A" * 129, "ü"])
def test_invalid_tags(tag: str) -> None:
    assert reference.tag_error(tag) == f"{tag!r} is not a valid tag"


@pytest.mark.parametrize(
    "digest", [SHA256, "sha256:" + "0" * 64, "sha256:" + "0123456789abcdef" * 4]
)
def test_valid_digests(digest: str) -> None:
    assert reference.digest_error(digest) is None
    assert reference.is_digest(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "0" * 63,
        "sha256:" + "0" * 65,
        "sha256:" + "A" * 64,  # the OCI spec: the hex of a registered algorithm is lowercase
        "SHA256:" + "0" * 64,
        SHA512,  # registered by OCI, but optional, and served by none of our registries
        "sha384:" + "0" * 96,
        "md5:" + "0" * 32,
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "0" * 64,
        "sha256:",
        "",
    ],
)
def test_invalid_digests(digest: str) -> None:
    assert reference.digest_error(digest) == f"{digest!r} is not a valid digest"
    assert not reference.is_digest(digest)


def test_image_errors_names_each_part_and_skips_absent_ones() -> None:
    assert reference.image_errors("ghcr.io/x/api", "v1", SHA256) == []
    assert reference.image_errors("ghcr.io/x/api", None, None) == []
    assert reference.image_errors("Bad", "-x", SHA512) == [
        ImageError(
            "repository",
            "'Bad' is not a valid repository: path components must be lowercase",
            reference.REPOSITORY_ALLOWED,
        ),
        ImageError("tag", "'-x' is not a valid tag", reference.TAG_ALLOWED),
        ImageError("digest", f"{SHA512!r} is not a valid digest", reference.DIGEST_ALLOWED),
    ]
