"""images: tag to digest against real protocols on 127.0.0.1.

ECR through moto's server; every other registry through Debian's docker-registry (the real
distribution registry) in anonymous, htpasswd and token-auth modes. Nothing in reconciler is mocked.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.images.credentials import Challenge, Credentials, parse_www_authenticate
from reconciler.images.reference import parse
from reconciler.images.registry import RegistryClient, is_loopback, scheme
from reconciler.images.resolver import ImageResolver
from reconciler.model import ImageSpec, ResolvedImage
from tests.registry_fixtures import (
    HTPASSWD_BIN,
    REGISTRY_BIN,
    Proxy,
    PushedManifest,
    RegistryServer,
    TokenService,
    free_port,
    require_tools,
    sha256,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com"
USER = "alice"
PASSWORD = "pa55-Very-Secret-ABC123"
WRONG_PASSWORD = "wr0ng-Secret-XYZ987"
IDENTITY_TOKEN = "refresh-Token-QWE456"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingSession(requests.Session):
    """A real Session that records each request it sends (a response hook sees every one)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.sent.append(f"{response.request.method} {response.status_code}")


def unique(prefix: str = "app") -> str:
    return f"team/{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _no_host_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep the machine's own ~/.docker out of every test.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session() -> CountingSession:
    return CountingSession()


def write_docker_config(directory: Path, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def auths(host: str, user: str, password: str) -> dict[str, Any]:
    blob = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"auths": {host: {"auth": blob}}}


def write_helper(bin_dir: Path, name: str, *, username: str, secret: str) -> Path:
    """A docker credential helper: answers `get` with JSON, records which server was asked."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    asked = bin_dir / f"{name}.asked"
    script = bin_dir / f"docker-credential-{name}"
    answer = {"Username": username, "Secret": secret}
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(asked)!r}, 'a').write(server + '\\n')\n"
        "if sys.argv[1:] != ['get']:\n"
        "    sys.exit(1)\n"
        f"answer = {answer!r}\n"
        "answer['ServerURL'] = server\n"
        "print(json.dumps(answer))\n"
    )
    script.chmod(0o755)
    return asked


def assert_no_secret(err: BaseException, *secrets: str, output: str = "") -> None:
    text = "".join(traceback.format_exception(err))
    for secret in secrets:
        blob = base64.b64encode(f"{USER}:{secret}".encode()).decode()
        for leak in (secret, blob):
            assert leak not in str(err)
            assert leak not in repr(err)
            assert leak not in repr(err.args)
            assert leak not in text
            assert leak not in output


# -- references and challenges (pure parsing; hosts here are never contacted) -----------------


@pytest.mark.parametrize(
    ("repository", "registry", "host", "name"),
    [
        ("nginx", "docker.io", "registry-1.docker.io", "library/nginx"),
        ("docker.io/library/nginx", "docker.io", "registry-1.docker.io", "library/nginx"),
        ("index.docker.io/nginx", "docker.io", "registry-1.docker.io", "library/nginx"),
        ("johnhuh619/simple-api", "docker.io", "registry-1.docker.io", "johnhuh619/simple-api"),
        ("ghcr.io/johnhuh619/simple-api", "ghcr.io", "ghcr.io", "johnhuh619/simple-api"),
        ("localhost:5000/a/b", "localhost:5000", "localhost:5000", "a/b"),
        ("[::1]:5000/a", "[::1]:5000", "[::1]:5000", "a"),
    ],
)
def test_repository_names_normalise_like_docker(
    repository: str, registry: str, host: str, name: str
) -> None:
    ref = parse(repository)
    assert (ref.registry, ref.host, ref.path) == (registry, host, name)


def test_nginx_and_its_long_name_share_one_cache_key() -> None:
    assert parse("nginx").key == parse("docker.io/library/nginx").key


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("127.0.0.1:5000/a", "http"),
        ("127.0.0.2/a", "http"),
        ("localhost/a", "http"),
        ("[::1]:443/a", "http"),
        ("ghcr.io/a/b", "https"),
        ("nginx", "https"),
        ("10.0.0.1:5000/a", "https"),
    ],
)
def test_only_loopback_registries_use_plain_http(repository: str, expected: str) -> None:
    assert scheme(parse(repository).host) == expected


@pytest.mark.parametrize(
    "repository", ["Nginx", "ghcr.io/x/Y", "ghcr.io/x/y:v1", "-bad.io/x", "ghcr.io/x//y", "a/b@c"]
)
def test_invalid_repositories_are_permanent_errors(repository: str) -> None:
    with pytest.raises(errors.PermanentError, match="invalid"):
        ImageResolver(None).resolve(ImageSpec(repository, tag="v1"), region=REGION)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("LOCALHOST") and is_loopback("[::1]:1")
    assert not is_loopback("ghcr.io") and not is_loopback("192.168.1.1:5000")


def test_bearer_challenge_with_commas_in_quoted_values() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert parse_www_authenticate(header) == [
        Challenge(
            scheme="bearer",
            params={
                "realm": "https://auth.example/token",
                "service": "registry.example",
                "scope": "repository:samalba/my-app:pull,push",
            },
        )
    ]


def test_several_challenges_spacing_escapes_and_bare_values() -> None:
    header = (
        'Basic realm="a \\"quoted\\" realm" , BEARER  realm=https://auth.example/t, '
        'service = reg, error="insufficient_scope"'
    )
    basic, bearer = parse_www_authenticate(header)
    assert basic == Challenge(scheme="basic", params={"realm": 'a "quoted" realm'})
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example/t",
        "service": "reg",
        "error": "insufficient_scope",
    }
    assert parse_www_authenticate("") == []


def test_credentials_hide_secrets_from_repr() -> None:
    creds = Credentials(username=USER, password=PASSWORD, identity_token=IDENTITY_TOKEN)
    assert PASSWORD not in repr(creds) and IDENTITY_TOKEN not in repr(creds)


def test_invalid_tag_and_digest_are_permanent_errors() -> None:
    resolver = ImageResolver(None)
    with pytest.raises(errors.PermanentError, match="invalid tag"):
        resolver.resolve(ImageSpec("127.0.0.1:1/a", tag="bad tag"), region=REGION)
    with pytest.raises(errors.PermanentError, match="invalid digest"):
        resolver.resolve(ImageSpec("127.0.0.1:1/a", digest="sha256:abc"), region=REGION)


# The OCI image spec registers sha256 and sha512; only sha256 is pinned (see images.reference).
AGREEMENT_DIGESTS = [
    ("sha256:" + "0123456789abcdef" * 4, True),
    ("sha512:" + "0123456789abcdef" * 8, False),
    ("sha256:" + "0" * 63, False),
    ("sha256:" + "A" * 64, False),
    ("md5:" + "0" * 32, False),
]


@pytest.mark.parametrize(("digest", "valid"), AGREEMENT_DIGESTS)
def test_validate_and_resolve_agree_on_digests(tmp_path: Path, digest: str, valid: bool) -> None:
    """`reconciler validate` accepts a digest exactly when the resolver does (issue 10: sha512)."""
    root = Path(__file__).resolve().parent.parent / "desired"
    text = (root / "desired.yaml").read_text()
    text = text.replace("    tag: latest", f"    digest: {digest}", 1)
    (tmp_path / "desired.yaml").write_text(text)
    (tmp_path / "feedback-userdata.sh").write_text((root / "feedback-userdata.sh").read_text())
    try:
        (service,) = desired.load([tmp_path / "desired.yaml"]).services
        validated = True
    except errors.InvalidDesiredState:
        validated = False
    resolver = ImageResolver(None, verify_digests=False)  # no registry: the grammar alone
    try:
        resolver.resolve(ImageSpec("127.0.0.1:1/a", digest=digest), region=REGION)
        resolved = True
    except errors.PermanentError as exc:
        assert "invalid digest" in str(exc)
        resolved = False
    assert validated == resolved == valid
    if validated:
        assert service.image.digest == digest


# -- ECR through moto --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_aws() -> Iterator[Aws]:
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            mp.setenv(key, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield Aws(region=REGION, endpoint_url=f"http://{host}:{port}", max_attempts=1)
        finally:
            server.stop()


def ecr_push(aws: Aws, name: str, tag: str, *, seed: str) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "x", "size": 1, "digest": sha256(seed.encode())},
            "layers": [{"mediaType": "y", "size": 2, "digest": sha256(f"l{seed}".encode())}],
        }
    )
    # Real ECR's imageDigest is the manifest's sha256; moto takes it when given.
    digest = sha256(manifest.encode())
    response = aws.call(
        "ecr",
        "put_image",
        region="us-west-2",
        repositoryName=name,
        imageManifest=manifest,
        imageTag=tag,
        imageDigest=digest,
    )
    assert response["image"]["imageId"]["imageDigest"] == digest
    return digest


@pytest.fixture
def ecr_repo(moto_aws: Aws) -> str:
    name = unique("feedback")
    moto_aws.call("ecr", "create_repository", region="us-west-2", repositoryName=name)
    return name


def test_ecr_tags_resolve_through_describe_images(moto_aws: Aws, ecr_repo: str) -> None:
    latest = ecr_push(moto_aws, ecr_repo, "latest", seed="1")
    sha = ecr_push(moto_aws, ecr_repo, "sha-1a2b3c4", seed="2")
    resolver = ImageResolver(moto_aws, poll_interval=300)
    repository = f"{ECR_HOST}/{ecr_repo}"
    moto_aws.reset_counts()

    got = resolver.resolve(ImageSpec(repository, tag="latest"), region=REGION)
    assert got == ResolvedImage(repository=repository, tag="latest", digest=latest)
    assert resolver.resolve(ImageSpec(repository, tag="sha-1a2b3c4"), region=REGION).digest == sha
    assert resolver.resolve(ImageSpec(repository, tag="latest"), region=REGION).digest == latest
    # The region comes from the host (us-west-2), not the service's; the third call was cached.
    assert moto_aws.calls["DescribeImages"] == 2


def test_ecr_missing_tag_and_repository_are_image_not_found(moto_aws: Aws, ecr_repo: str) -> None:
    ecr_push(moto_aws, ecr_repo, "latest", seed="3")
    resolver = ImageResolver(moto_aws)
    repository = f"{ECR_HOST}/{ecr_repo}"
    with pytest.raises(errors.ImageNotFound) as missing_tag:
        resolver.resolve(ImageSpec(repository, tag="v9"), region=REGION)
    assert str(missing_tag.value) == f"image {repository}:v9 not found in registry {ECR_HOST}"
    with pytest.raises(errors.ImageNotFound, match="nope:latest not found"):
        resolver.resolve(ImageSpec(f"{ECR_HOST}/nope", tag="latest"), region=REGION)


def test_ecr_pinned_digest_is_verified_once(moto_aws: Aws, ecr_repo: str) -> None:
    digest = ecr_push(moto_aws, ecr_repo, "latest", seed="4")
    resolver = ImageResolver(moto_aws)
    repository = f"{ECR_HOST}/{ecr_repo}"
    moto_aws.reset_counts()
    for _ in range(3):
        got = resolver.resolve(ImageSpec(repository, digest=digest), region=REGION)
        assert got == ResolvedImage(repository=repository, tag=None, digest=digest)
    assert moto_aws.calls["DescribeImages"] == 1
    with pytest.raises(errors.ImageNotFound, match=r"@sha256:0{64} not found"):
        resolver.resolve(ImageSpec(repository, digest="sha256:" + "0" * 64), region=REGION)


# -- the real registry -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    require_tools(str(REGISTRY_BIN))
    server = RegistryServer(directory=tmp_path_factory.mktemp("registry"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    require_tools(str(REGISTRY_BIN), HTPASSWD_BIN)
    server = RegistryServer(
        directory=tmp_path_factory.mktemp("basic"), mode="htpasswd", users={USER: PASSWORD}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RegistryServer, TokenService]]:
    require_tools(str(REGISTRY_BIN))
    directory = tmp_path_factory.mktemp("token")
    tokens = TokenService(
        directory=directory,
        users={USER: PASSWORD},
        identity_tokens={IDENTITY_TOKEN: USER},
        expires_in=120,
    )
    server = RegistryServer(directory=directory, mode="token", token_service=tokens)
    tokens.start()
    server.start()
    yield server, tokens
    server.stop()
    tokens.stop()


def resolver_for(
    clock: FakeClock, session: requests.Session, *, docker_config: Path | None = None
) -> ImageResolver:
    return ImageResolver(
        None,
        poll_interval=300,
        clock=clock,
        session=session,
        docker_config=str(docker_config) if docker_config else None,
    )


def test_tag_resolves_to_the_manifest_digest(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    pushed = registry.push_image(name, "v1", seed="a")
    resolver = resolver_for(clock, session)
    got = resolver.resolve(ImageSpec(f"{registry.host}/{name}", tag="v1"), region=REGION)
    assert got.digest == pushed.digest
    assert got.pinned == f"{registry.host}/{name}@{pushed.digest}"
    assert session.sent == ["HEAD 200"]


def test_oci_index_resolves_to_the_index_digest_not_a_child(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    amd = registry.push_image(name, "amd64", seed="amd", oci=True)
    arm = registry.push_image(name, "arm64", seed="arm", oci=True)
    index = registry.push_index(name, "multi", [amd, arm])
    resolver = resolver_for(clock, session)
    repository = f"{registry.host}/{name}"

    multi = resolver.resolve(ImageSpec(repository, tag="multi"), region=REGION)
    single = resolver.resolve(ImageSpec(repository, tag="amd64"), region=REGION)
    assert multi.digest == index
    assert multi.digest not in (amd.digest, arm.digest)
    assert single.digest == amd.digest


def test_moved_tag_is_seen_only_after_the_poll_interval(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    first = registry.push_image(name, "latest", seed="first")
    resolver = resolver_for(clock, session)
    image = ImageSpec(f"{registry.host}/{name}", tag="latest")
    assert resolver.resolve(image, region=REGION).digest == first.digest
    assert len(session.sent) == 1

    second = registry.push_image(name, "latest", seed="second")
    clock.advance(299)
    assert resolver.resolve(image, region=REGION).digest == first.digest
    assert len(session.sent) == 1, "within the interval: no HTTP request at all"

    clock.advance(1)
    assert resolver.resolve(image, region=REGION).digest == second.digest
    assert len(session.sent) == 2
    assert resolver.requests[registry.host] == 2


def test_a_service_poll_interval_overrides_the_default(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    first = registry.push_image(name, "latest", seed="first")
    resolver = resolver_for(clock, session)
    image = ImageSpec(f"{registry.host}/{name}", tag="latest")
    assert resolver.resolve(image, region=REGION, max_age=60).digest == first.digest
    second = registry.push_image(name, "latest", seed="second")
    clock.advance(59)
    assert resolver.resolve(image, region=REGION, max_age=60).digest == first.digest
    clock.advance(1)
    assert resolver.resolve(image, region=REGION, max_age=60).digest == second.digest
    assert len(session.sent) == 2


def test_services_sharing_an_image_share_one_request(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    pushed = registry.push_image(name, "latest", seed="shared")
    resolver = resolver_for(clock, session)
    results: list[str] = []
    barrier = threading.Barrier(6)

    def tick() -> None:
        barrier.wait()
        spec = ImageSpec(f"{registry.host}/{name}", tag="latest")
        results.append(resolver.resolve(spec, region=REGION).digest)

    threads = [threading.Thread(target=tick) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [pushed.digest] * 6
    assert session.sent == ["HEAD 200"]


def test_missing_tag_and_repository_are_image_not_found(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    registry.push_image(name, "v1", seed="m")
    resolver = resolver_for(clock, session)
    repository = f"{registry.host}/{name}"
    with pytest.raises(errors.ImageNotFound) as missing:
        resolver.resolve(ImageSpec(repository, tag="v9"), region=REGION)
    assert str(missing.value) == f"image {repository}:v9 not found in registry {registry.host}"
    assert isinstance(missing.value, errors.PermanentError)
    with pytest.raises(errors.ImageNotFound, match="no/such:v1 not found"):
        resolver.resolve(ImageSpec(f"{registry.host}/no/such", tag="v1"), region=REGION)
    # A failure is not cached: once pushed, the tag resolves at the next call.
    pushed = registry.push_image(name, "v9", seed="m9")
    assert resolver.resolve(ImageSpec(repository, tag="v9"), region=REGION).digest == pushed.digest


def test_registry_down_is_unavailable_quickly(clock: FakeClock, session: CountingSession) -> None:
    resolver = resolver_for(clock, session)
    started = time.monotonic()
    with pytest.raises(errors.RegistryUnavailable, match="unreachable") as down:
        resolver.resolve(ImageSpec(f"127.0.0.1:{free_port()}/a/b", tag="v1"), region=REGION)
    assert time.monotonic() - started < 2
    assert isinstance(down.value, errors.TemporaryError) and down.value.delay > 0


def test_registry_5xx_is_unavailable(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    proxy = Proxy(upstream=registry.url, fail=503)
    proxy.start()
    try:
        resolver = resolver_for(clock, session)
        with pytest.raises(errors.RegistryUnavailable, match="answered 503"):
            resolver.resolve(ImageSpec(f"{proxy.host}/a/b", tag="v1"), region=REGION)
    finally:
        proxy.stop()


def test_head_without_digest_header_falls_back_to_get(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    amd = registry.push_image(name, "amd64", seed="g1", oci=True)
    index = registry.push_index(name, "multi", [amd])
    proxy = Proxy(upstream=registry.url, strip_digest_on_head=True)
    proxy.start()
    try:
        resolver = resolver_for(clock, session)
        got = resolver.resolve(ImageSpec(f"{proxy.host}/{name}", tag="multi"), region=REGION)
    finally:
        proxy.stop()
    assert got.digest == index
    assert [s.split(" ")[0] for s in proxy.seen] == ["HEAD", "GET"]


def test_pinned_digest_with_matching_and_mismatching_tag(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    v1 = registry.push_image(name, "v1", seed="p1")
    v2 = registry.push_image(name, "v2", seed="p2")
    resolver = resolver_for(clock, session)
    repository = f"{registry.host}/{name}"

    got = resolver.resolve(ImageSpec(repository, tag="v1", digest=v1.digest), region=REGION)
    assert got == ResolvedImage(repository=repository, tag="v1", digest=v1.digest)
    with pytest.raises(errors.PermanentError) as mismatch:
        resolver.resolve(ImageSpec(repository, tag="v2", digest=v1.digest), region=REGION)
    assert not isinstance(mismatch.value, errors.TemporaryError)
    assert v1.digest in str(mismatch.value) and v2.digest in str(mismatch.value)
    assert f"{repository}:v2" in str(mismatch.value)


def test_digest_alone_is_checked_once_then_trusted(
    registry: RegistryServer, clock: FakeClock, session: CountingSession
) -> None:
    name = unique()
    pushed = registry.push_image(name, "v1", seed="d1")
    resolver = resolver_for(clock, session)
    image = ImageSpec(f"{registry.host}/{name}", digest=pushed.digest)
    for _ in range(3):
        clock.advance(1000)
        got = resolver.resolve(image, region=REGION)
        assert got == ResolvedImage(repository=image.repository, tag=None, digest=pushed.digest)
    assert session.sent == ["HEAD 200"]
    absent = "sha256:" + "1" * 64
    with pytest.raises(errors.ImageNotFound, match=f"{name}@{absent} not found"):
        resolver.resolve(ImageSpec(image.repository, digest=absent), region=REGION)


# -- basic auth (htpasswd) ---------------------------------------------------------------------


def test_docker_config_auths_from_DOCKER_CONFIG(
    basic_registry: RegistryServer,
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique()
    pushed = basic_registry.push_image(name, "latest", seed="b1")
    config = write_docker_config(tmp_path / "dc", auths(basic_registry.host, USER, PASSWORD))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    resolver = resolver_for(clock, session)  # no docker_config: the SDK reads DOCKER_CONFIG
    image = ImageSpec(f"{basic_registry.host}/{name}", tag="latest")

    assert resolver.resolve(image, region=REGION).digest == pushed.digest
    assert session.sent == ["HEAD 401", "HEAD 200"]
    clock.advance(300)
    assert resolver.resolve(image, region=REGION).digest == pushed.digest
    # The registry's scheme is remembered: later polls authenticate up front.
    assert session.sent == ["HEAD 401", "HEAD 200", "HEAD 200"]


def test_wrong_password_is_refused_without_echoing_it(
    basic_registry: RegistryServer,
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    name = unique()
    basic_registry.push_image(name, "latest", seed="b2")
    config = write_docker_config(tmp_path / "dc", auths(basic_registry.host, USER, WRONG_PASSWORD))
    resolver = resolver_for(clock, session, docker_config=config)
    with pytest.raises(errors.RegistryUnavailable, match="credentials refused") as refused:
        resolver.resolve(ImageSpec(f"{basic_registry.host}/{name}", tag="latest"), region=REGION)
    captured = capsys.readouterr()
    assert_no_secret(
        refused.value, WRONG_PASSWORD, output=caplog.text + captured.out + captured.err
    )
    assert refused.value.delay > 0


def test_no_credentials_says_to_docker_login(
    basic_registry: RegistryServer, clock: FakeClock, session: CountingSession, tmp_path: Path
) -> None:
    name = unique()
    basic_registry.push_image(name, "latest", seed="b3")
    resolver = resolver_for(clock, session, docker_config=write_docker_config(tmp_path, {}))
    with pytest.raises(errors.RegistryUnavailable, match="requires credentials") as refused:
        resolver.resolve(ImageSpec(f"{basic_registry.host}/{name}", tag="latest"), region=REGION)
    assert f"docker login {basic_registry.host}" in str(refused.value)


def test_credential_helper_from_credHelpers(
    basic_registry: RegistryServer,
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique()
    pushed = basic_registry.push_image(name, "latest", seed="b4")
    asked = write_helper(tmp_path / "bin", "testhelper", username=USER, secret=PASSWORD)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = write_docker_config(
        tmp_path / "dc", {"credHelpers": {basic_registry.host: "testhelper"}}
    )
    resolver = resolver_for(clock, session, docker_config=config / "config.json")
    got = resolver.resolve(ImageSpec(f"{basic_registry.host}/{name}", tag="latest"), region=REGION)
    assert got.digest == pushed.digest
    assert asked.read_text().split() == [basic_registry.host]


def test_missing_credential_helper_is_named(
    basic_registry: RegistryServer, clock: FakeClock, session: CountingSession, tmp_path: Path
) -> None:
    config = write_docker_config(tmp_path, {"credHelpers": {basic_registry.host: "nosuchhelper"}})
    resolver = resolver_for(clock, session, docker_config=config)
    with (
        pytest.warns(UserWarning),
        pytest.raises(
            errors.RegistryUnavailable, match="docker-credential-nosuchhelper is not on PATH"
        ),
    ):
        resolver.resolve(ImageSpec(f"{basic_registry.host}/a/b", tag="latest"), region=REGION)


# -- bearer tokens -----------------------------------------------------------------------------


def test_bearer_flow_caches_the_token_until_it_expires(
    token_registry: tuple[RegistryServer, TokenService],
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
) -> None:
    server, tokens = token_registry
    name = unique()
    pushed = server.push_image(name, "latest", seed="t1")
    config = write_docker_config(tmp_path, auths(server.host, USER, PASSWORD))
    resolver = ImageResolver(
        None, poll_interval=30, clock=clock, session=session, docker_config=str(config)
    )
    image = ImageSpec(f"{server.host}/{name}", tag="latest")
    tokens.requests.clear()

    assert resolver.resolve(image, region=REGION).digest == pushed.digest
    assert session.sent == ["HEAD 401", "GET 200", "HEAD 200"]
    assert tokens.requests == [f"GET {USER}"]

    clock.advance(31)  # a new poll, the token (120 s) still good: one HEAD, no token request
    assert resolver.resolve(image, region=REGION).digest == pushed.digest
    assert session.sent[3:] == ["HEAD 200"]
    assert tokens.requests == [f"GET {USER}"]

    clock.advance(120)  # past the token's lifetime: a new token first, then the HEAD
    assert resolver.resolve(image, region=REGION).digest == pushed.digest
    assert session.sent[4:] == ["GET 200", "HEAD 200"]
    assert tokens.requests == [f"GET {USER}", f"GET {USER}"]


def test_bearer_wrong_password_is_refused_without_echoing_it(
    token_registry: tuple[RegistryServer, TokenService],
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server, _ = token_registry
    config = write_docker_config(tmp_path, auths(server.host, USER, WRONG_PASSWORD))
    resolver = resolver_for(clock, session, docker_config=config)
    with pytest.raises(errors.RegistryUnavailable, match="credentials refused") as refused:
        resolver.resolve(ImageSpec(f"{server.host}/{unique()}", tag="latest"), region=REGION)
    captured = capsys.readouterr()
    assert_no_secret(
        refused.value, WRONG_PASSWORD, output=caplog.text + captured.out + captured.err
    )


def test_bearer_anonymous_token_without_access_needs_login(
    token_registry: tuple[RegistryServer, TokenService],
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
) -> None:
    server, _ = token_registry
    name = unique()
    server.push_image(name, "latest", seed="t3")
    resolver = resolver_for(clock, session, docker_config=write_docker_config(tmp_path, {}))
    with pytest.raises(errors.RegistryUnavailable, match="requires credentials"):
        resolver.resolve(ImageSpec(f"{server.host}/{name}", tag="latest"), region=REGION)


def test_identity_token_from_creds_store_uses_the_oauth2_flow(
    token_registry: tuple[RegistryServer, TokenService],
    clock: FakeClock,
    session: CountingSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, tokens = token_registry
    name = unique()
    pushed = server.push_image(name, "latest", seed="t4")
    # `docker login` against an OAuth2 registry stores Username "<token>" and a refresh token.
    write_helper(tmp_path / "bin", "store", username="<token>", secret=IDENTITY_TOKEN)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = write_docker_config(tmp_path / "dc", {"credsStore": "store"})
    resolver = resolver_for(clock, session, docker_config=config)
    tokens.requests.clear()
    got = resolver.resolve(ImageSpec(f"{server.host}/{name}", tag="latest"), region=REGION)
    assert got.digest == pushed.digest
    assert tokens.requests == [f"POST {USER}"]
    assert session.sent == ["HEAD 401", "POST 200", "HEAD 200"]


def test_pushed_manifest_digests_are_content_digests(registry: RegistryServer) -> None:
    # Guards the fixture: what the registry reports is the sha256 of the bytes pushed.
    name = unique()
    pushed = registry.push_image(name, "x", seed="z")
    body = requests.get(
        f"{registry.url}/v2/{name}/manifests/x",
        headers={"Accept": pushed.media_type},
        timeout=5,
    ).content
    assert sha256(body) == pushed.digest
    assert isinstance(pushed, PushedManifest)


def test_credentials_are_never_sent_over_plain_http_beyond_loopback() -> None:
    # A token realm on plain HTTP elsewhere would expose the password: refuse before sending.
    with pytest.raises(errors.RegistryUnavailable, match="refusing to send them"):
        RegistryClient._check_transport("ghcr.io", url="http://auth.example/token")
    RegistryClient._check_transport("ghcr.io", url="https://auth.example/token")
    RegistryClient._check_transport("127.0.0.1:5000", url="http://127.0.0.1:5001/token")
