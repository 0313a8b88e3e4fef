"""The OCI distribution API, as far as the reconciler needs it: which digest does a tag name now?

``images`` is the entry point; this module holds the HTTP side of it:

- ``parse_repository``: a repository as docker spells it (``nginx``, ``ghcr.io/x/y``,
  ``localhost:5000/a``) becomes a ``Reference`` (the registry docker keys credentials by, the host
  serving the API, the remote name, and the scheme: plain HTTP only on loopback, like docker).
- ``DockerConfigCredentials``: credentials from the docker config of the ops host (``auths``,
  ``credsStore``, ``credHelpers``) through the docker SDK, so ``docker login`` is all a user does.
- ``RegistryClient.manifest_digest``: ``HEAD /v2/<name>/manifests/<ref>`` with the anonymous,
  basic or bearer-token flow, bearer tokens cached until they expire.

Credentials never appear in a message, a repr or a log line: ``Credentials`` hides its secrets
from ``repr``, and every error names the registry and the repository only.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import docker.auth
import docker.errors
import requests

from reconciler import errors

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

# Docker Hub: credentials are keyed by the index name, the API lives elsewhere.
DOCKER_HUB_INDEX = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"

# How long to wait before retrying, by cause: a human has to act on refused credentials.
UNREACHABLE_DELAY = 15.0
SERVER_ERROR_DELAY = 15.0
CREDENTIALS_DELAY = 60.0

# The distribution reference grammar (distribution/reference/regexp.go).
_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")

# A token this close to its expiry is fetched anew rather than risked.
_TOKEN_MARGIN = 10.0
# Registries that give no lifetime: the token spec's default.
_DEFAULT_TOKEN_LIFETIME = 60.0


# -- references --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a repository lives and what it is called there."""

    repository: str  # as written in desired.yaml, for messages
    registry: str  # what docker keys credentials by: "docker.io", "ghcr.io", "127.0.0.1:5000"
    host: str  # where the API is served: "registry-1.docker.io", "ghcr.io"
    name: str  # the remote name: "library/nginx"

    @property
    def scheme(self) -> str:
        return "http" if is_loopback(self.host) else "https"

    @property
    def key(self) -> str:
        """The canonical name: ``nginx`` and ``docker.io/library/nginx`` share one."""
        return f"{self.host}/{self.name}"

    def manifest_url(self, reference: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.name}/manifests/{reference}"


def parse_repository(repository: str) -> Reference:
    """Split and normalise a repository the way docker does; raise PermanentError if invalid."""
    try:
        registry, name = docker.auth.resolve_repository_name(repository)
    except docker.errors.DockerException as exc:
        raise errors.PermanentError(f"invalid image repository {repository!r}: {exc}") from None
    host = registry
    if registry == DOCKER_HUB_INDEX:
        host = DOCKER_HUB_HOST
        if "/" not in name:
            name = f"library/{name}"
    if not _HOST.fullmatch(host):
        raise errors.PermanentError(f"invalid registry host {registry!r} in image {repository!r}")
    if not _NAME.fullmatch(name):
        raise errors.PermanentError(
            f"invalid image repository {repository!r}: the name must be lowercase path "
            "components of letters, digits and separators (no tag: give it as `tag`)"
        )
    return Reference(repository=repository, registry=registry, host=host, name=name)


def check_tag(tag: str, *, repository: str) -> None:
    if not _TAG.fullmatch(tag):
        raise errors.PermanentError(f"invalid tag {tag!r} for image {repository}")


def check_digest(digest: str, *, repository: str) -> None:
    if not _DIGEST.fullmatch(digest):
        raise errors.PermanentError(
            f"invalid digest {digest!r} for image {repository}: expected sha256:<64 hex digits>"
        )


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost with any port: docker's own insecure default."""
    bare = host
    if bare.startswith("["):
        bare = bare[1 : bare.find("]")]
    elif bare.count(":") == 1:
        bare = bare.split(":", 1)[0]
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


# -- credentials -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    # An OAuth2 refresh token some registries hand `docker login` instead of keeping a password.
    identity_token: str = field(default="", repr=False)


class CredentialSource(Protocol):
    def lookup(self, registry: str) -> Credentials | None: ...


class DockerConfigCredentials:
    """Credentials as the docker CLI of this host has them, read anew at each lookup.

    ``docker_config`` is a directory holding ``config.json`` (like ``DOCKER_CONFIG``) or the file
    itself; by default the docker SDK looks at ``DOCKER_CONFIG`` and then ``~/.docker``.
    """

    def __init__(self, *, docker_config: str | None = None) -> None:
        self._path = _config_file(docker_config)

    def lookup(self, registry: str) -> Credentials | None:
        try:
            config = docker.auth.load_config(config_path=self._path)
            store = config.get_credential_store(registry)
        except docker.errors.DockerException as exc:
            raise errors.RegistryUnavailable(
                f"cannot read the docker config for registry {registry}: {exc}",
                delay=CREDENTIALS_DELAY,
            ) from None
        except (ValueError, UnicodeError):
            # A malformed `auth` blob: its text is a secret, so only say where it is.
            raise errors.RegistryUnavailable(
                f"the docker config has a malformed `auth` entry for registry {registry}",
                delay=CREDENTIALS_DELAY,
            ) from None
        try:
            found = config.resolve_authconfig(registry)
        except docker.errors.DockerException:
            raise _helper_failed(store, registry) from None
        return _credentials(found) if found else None


def _config_file(docker_config: str | None) -> str | None:
    if docker_config is None:
        return None
    path = Path(docker_config)
    return str(path / "config.json") if path.is_dir() else str(path)


def _credentials(found: Mapping[str, Any]) -> Credentials | None:
    # The docker SDK spells keys in lower case for `auths` and capitalised for helpers.
    username = found.get("username") or found.get("Username") or ""
    password = found.get("password") or found.get("Password") or ""
    token = found.get("IdentityToken") or found.get("identitytoken") or ""
    if not (username or password or token):
        return None
    return Credentials(username=str(username), password=str(password), identity_token=str(token))


def _helper_failed(store: str | None, registry: str) -> errors.RegistryUnavailable:
    # The helper's own output is not echoed: a misbehaving helper could print a secret.
    program = f"docker-credential-{store}"
    if shutil.which(program) is None:
        why = f"credential helper {program} is not on PATH"
    else:
        why = f"credential helper {program} failed (try `{program} get`)"
    return errors.RegistryUnavailable(
        f"no credentials for registry {registry}: {why}", delay=CREDENTIALS_DELAY
    )


# -- WWW-Authenticate --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic"
    params: Mapping[str, str] = field(default_factory=dict)


_CHALLENGE_TOKEN = re.compile(
    r"""\s*,?\s*(?:
        (?P<key>[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*
            (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s,]*))
      | (?P<scheme>[!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|,|$)
    )""",
    re.VERBOSE,
)


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse RFC 7235 challenges: quoted values may hold commas (``scope="a:b:pull,push"``)."""
    challenges: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while pos < len(header):
        match = _CHALLENGE_TOKEN.match(header, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        if match["scheme"]:
            challenges.append((match["scheme"].lower(), {}))
        elif challenges:
            value = match["bare"] if match["quoted"] is None else _unquote(match["quoted"])
            challenges[-1][1][match["key"].lower()] = value
    return [Challenge(scheme=s, params=p) for s, p in challenges]


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _pick(challenges: list[Challenge]) -> Challenge | None:
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


# -- the client --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Token:
    value: str = field(repr=False)
    deadline: float


class RegistryClient:
    """Reads manifest digests over the OCI distribution API; thread-safe."""

    def __init__(
        self,
        *,
        credentials: CredentialSource,
        clock: Callable[[], float],
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._session = session or requests.Session()
        self._timeout = timeout
        self._lock = threading.Lock()
        # host -> the challenge it answered last: lets the next request authenticate up front.
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._creds: dict[str, Credentials | None] = {}
        self.requests: Counter[str] = Counter()  # HTTP requests sent, by host

    def manifest_digest(self, ref: Reference, reference: str) -> str:
        """The digest of the manifest (or index) ``reference`` names, as the registry serves it."""
        response = self._get_manifest(ref, reference, method="HEAD")
        digest = response.headers.get("Docker-Content-Digest", "")
        if _DIGEST.fullmatch(digest):
            return digest
        # Some registries leave the header off HEAD answers: the digest is then the body's.
        response = self._get_manifest(ref, reference, method="GET")
        return "sha256:" + hashlib.sha256(response.content).hexdigest()

    def forget(self) -> None:
        """Drop cached tokens, challenges and credentials."""
        with self._lock:
            self._challenges.clear()
            self._tokens.clear()
            self._creds.clear()

    # -- requests ------------------------------------------------------------------------------

    def _get_manifest(self, ref: Reference, reference: str, *, method: str) -> requests.Response:
        url = ref.manifest_url(reference)
        image = _display(ref, reference)
        response = self._authorized(ref, method=method, url=url)
        status = response.status_code
        if status == 200:
            return response
        if status == 404:
            raise errors.ImageNotFound(f"image {image} not found in registry {ref.registry}")
        if status == 429:
            delay = _retry_after(response) or SERVER_ERROR_DELAY
            raise errors.RegistryUnavailable(
                f"registry {ref.registry} is rate limiting requests for {image}", delay=delay
            )
        if status >= 500:
            raise errors.RegistryUnavailable(
                f"registry {ref.registry} answered {status} for {image}", delay=SERVER_ERROR_DELAY
            )
        if status in (400, 405):
            raise errors.PermanentError(
                f"registry {ref.registry} rejected the request for {image} ({status})"
            )
        raise errors.RegistryUnavailable(
            f"registry {ref.registry} answered {status} for {image}", delay=SERVER_ERROR_DELAY
        )

    def _authorized(self, ref: Reference, *, method: str, url: str) -> requests.Response:
        """Send with whatever auth the registry asked for last; on a 401, answer it once."""
        fresh = False
        sent_credentials = False
        for _ in range(2):
            with self._lock:
                challenge = self._challenges.get(ref.host)
            headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
            if challenge is not None:
                auth, sent_credentials = self._authorization(ref, challenge, fresh=fresh)
                if fresh and challenge.scheme == "basic" and not sent_credentials:
                    break  # asked for a password we don't have: asking again is no answer
                headers.update(auth)
            response = self._send(ref, method=method, url=url, headers=headers)
            if response.status_code not in (401, 403):
                return response
            new = _pick(parse_www_authenticate(response.headers.get("WWW-Authenticate", "")))
            if new is None or (fresh and new == challenge):
                break
            # Either the first contact, or a cached token or password went stale: start over.
            with self._lock:
                self._challenges[ref.host] = new
            self._drop_credentials(ref.registry)
            fresh = True
        raise _refused(ref, sent_credentials=sent_credentials)

    def _authorization(
        self, ref: Reference, challenge: Challenge, *, fresh: bool
    ) -> tuple[dict[str, str], bool]:
        creds = self._lookup(ref.registry)
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                return {}, False
            self._check_transport(ref.registry, url=ref.manifest_url(""))
            return {"Authorization": _basic(creds)}, True
        token = self._bearer_token(ref, challenge, creds=creds, fresh=fresh)
        return {"Authorization": f"Bearer {token}"}, creds is not None

    def _send(
        self, ref: Reference, *, method: str, url: str, headers: Mapping[str, str]
    ) -> requests.Response:
        with self._lock:
            self.requests[ref.host] += 1
        try:
            return self._session.request(
                method, url, headers=dict(headers), timeout=self._timeout, allow_redirects=True
            )
        except requests.RequestException as exc:
            raise _unreachable(exc, what=f"registry {ref.registry}") from None

    # -- bearer tokens -------------------------------------------------------------------------

    def _bearer_token(
        self, ref: Reference, challenge: Challenge, *, creds: Credentials | None, fresh: bool
    ) -> str:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise errors.RegistryUnavailable(
                f"registry {ref.registry} sent a bearer challenge without a usable realm",
                delay=SERVER_ERROR_DELAY,
            )
        service = challenge.params.get("service", "")
        # Ask for exactly what resolving needs, whatever scope the challenge offered.
        scope = f"repository:{ref.name}:pull"
        key = (realm, service, scope)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and not fresh and cached.deadline > self._clock():
            return cached.value
        token = self._fetch_token(ref, realm=realm, service=service, scope=scope, creds=creds)
        with self._lock:
            self._tokens[key] = token
        return token.value

    def _fetch_token(
        self, ref: Reference, *, realm: str, service: str, scope: str, creds: Credentials | None
    ) -> _Token:
        params = {"scope": scope, **({"service": service} if service else {})}
        host = urlsplit(realm).netloc
        with self._lock:
            self.requests[host] += 1
        started = self._clock()
        try:
            if creds is not None and creds.identity_token:
                # docker login's OAuth2 flow: trade the refresh token for an access token.
                self._check_transport(ref.registry, url=realm)
                form = {
                    **params,
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "client_id": "asg-reconciler",
                }
                response = self._session.post(realm, data=form, timeout=self._timeout)
            else:
                headers: dict[str, str] = {}
                if creds is not None and creds.username:
                    self._check_transport(ref.registry, url=realm)
                    headers["Authorization"] = _basic(creds)
                response = self._session.get(
                    realm, params=params, headers=headers, timeout=self._timeout
                )
        except requests.RequestException as exc:
            raise _unreachable(exc, what=f"token service of registry {ref.registry}") from None
        if response.status_code in (401, 403):
            self._drop_credentials(ref.registry)
            raise _refused(ref, sent_credentials=creds is not None)
        if response.status_code != 200:
            raise errors.RegistryUnavailable(
                f"token service of registry {ref.registry} answered {response.status_code}",
                delay=SERVER_ERROR_DELAY,
            )
        return _parse_token(response, registry=ref.registry, started=started)

    # -- credentials ---------------------------------------------------------------------------

    def _lookup(self, registry: str) -> Credentials | None:
        # Kept until refused: a helper is a process per call, and `docker login` after a
        # refusal is picked up by the next attempt.
        with self._lock:
            if registry in self._creds:
                return self._creds[registry]
        creds = self._credentials.lookup(registry)
        with self._lock:
            self._creds[registry] = creds
        return creds

    def _drop_credentials(self, registry: str) -> None:
        with self._lock:
            self._creds.pop(registry, None)

    @staticmethod
    def _check_transport(registry: str, *, url: str) -> None:
        parsed = urlsplit(url)
        if parsed.scheme != "https" and not is_loopback(parsed.netloc):
            raise errors.RegistryUnavailable(
                f"registry {registry} asks for credentials over plain HTTP ({parsed.netloc}): "
                "refusing to send them",
                delay=CREDENTIALS_DELAY,
            )


def _parse_token(response: requests.Response, *, registry: str, started: float) -> _Token:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    # The token spec says `token`; OAuth2 answers (and some registries) say `access_token`.
    value = body.get("token") or body.get("access_token")
    if not isinstance(value, str) or not value:
        raise errors.RegistryUnavailable(
            f"token service of registry {registry} returned no token", delay=SERVER_ERROR_DELAY
        )
    try:
        lifetime = float(body.get("expires_in") or _DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        lifetime = _DEFAULT_TOKEN_LIFETIME
    margin = min(_TOKEN_MARGIN, lifetime / 2)
    return _Token(value=value, deadline=started + lifetime - margin)


def _basic(creds: Credentials) -> str:
    pair = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _display(ref: Reference, reference: str) -> str:
    sep = "@" if reference.startswith("sha256:") else ":"
    return f"{ref.repository}{sep}{reference}"


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _refused(ref: Reference, *, sent_credentials: bool) -> errors.RegistryUnavailable:
    if sent_credentials:
        message = (
            f"registry {ref.registry}: credentials refused for repository {ref.name} "
            f"(check `docker login {ref.registry}` on this host)"
        )
    else:
        message = (
            f"registry {ref.registry} requires credentials for repository {ref.name}, or it "
            f"does not exist: run `docker login {ref.registry}` on this host"
        )
    return errors.RegistryUnavailable(message, delay=CREDENTIALS_DELAY)


def _unreachable(exc: requests.RequestException, *, what: str) -> errors.RegistryUnavailable:
    if isinstance(exc, requests.Timeout):
        why = "timed out"
    elif isinstance(exc, requests.ConnectionError):
        why = "connection failed"
    else:
        why = type(exc).__name__
    return errors.RegistryUnavailable(f"{what} unreachable: {why}", delay=UNREACHABLE_DELAY)
