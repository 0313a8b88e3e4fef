"""The OCI distribution API, as far as the reconciler needs it: which digest does a tag name now?

``resolver`` is the entry point; this module holds the HTTP side of it:
``RegistryClient.manifest_digest`` sends ``HEAD /v2/<path>/manifests/<ref>`` for an
``ImageReference`` (``reference``), with the anonymous, basic or bearer-token flow
(``credentials``), bearer tokens cached until they expire. Plain HTTP is used only for loopback
registries, like docker.

Credentials never appear in a message, a repr or a log line: every error names the registry and
the repository only.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import requests

from reconciler import errors
from reconciler.images.credentials import (
    CREDENTIALS_DELAY,
    SERVER_ERROR_DELAY,
    Challenge,
    Credentials,
    CredentialSource,
    Token,
    basic_authorization,
    parse_token,
    parse_www_authenticate,
    pick,
)
from reconciler.images.reference import ImageReference, content_digest, is_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

UNREACHABLE_DELAY = 15.0


def scheme(host: str) -> str:
    """``http`` for a loopback registry (docker's own insecure default), else ``https``."""
    return "http" if is_loopback(host) else "https"


def manifest_url(ref: ImageReference, reference: str) -> str:
    return f"{scheme(ref.host)}://{ref.host}/v2/{ref.path}/manifests/{reference}"


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


# -- the client --------------------------------------------------------------------------------


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
        self._tokens: dict[tuple[str, str, str], Token] = {}
        self._creds: dict[str, Credentials | None] = {}
        self.requests: Counter[str] = Counter()  # HTTP requests sent, by host

    def manifest_digest(self, ref: ImageReference, reference: str) -> str:
        """The digest of the manifest (or index) ``reference`` names, as the registry serves it."""
        response = self._get_manifest(ref, reference, method="HEAD")
        digest = response.headers.get("Docker-Content-Digest", "")
        if is_digest(digest):
            return digest
        # Some registries leave the header off HEAD answers: the digest is then the body's.
        response = self._get_manifest(ref, reference, method="GET")
        return content_digest(response.content)

    # -- requests ------------------------------------------------------------------------------

    def _get_manifest(
        self, ref: ImageReference, reference: str, *, method: str
    ) -> requests.Response:
        url = manifest_url(ref, reference)
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

    def _authorized(self, ref: ImageReference, *, method: str, url: str) -> requests.Response:
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
            new = pick(parse_www_authenticate(response.headers.get("WWW-Authenticate", "")))
            if new is None or (fresh and new == challenge):
                break
            # Either the first contact, or a cached token or password went stale: start over.
            with self._lock:
                self._challenges[ref.host] = new
            self._drop_credentials(ref.registry)
            fresh = True
        raise _refused(ref, sent_credentials=sent_credentials)

    def _authorization(
        self, ref: ImageReference, challenge: Challenge, *, fresh: bool
    ) -> tuple[dict[str, str], bool]:
        creds = self._lookup(ref.registry)
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                return {}, False
            self._check_transport(ref.registry, url=manifest_url(ref, ""))
            return {"Authorization": basic_authorization(creds)}, True
        token = self._bearer_token(ref, challenge, creds=creds, fresh=fresh)
        return {"Authorization": f"Bearer {token}"}, creds is not None

    def _send(
        self, ref: ImageReference, *, method: str, url: str, headers: Mapping[str, str]
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
        self, ref: ImageReference, challenge: Challenge, *, creds: Credentials | None, fresh: bool
    ) -> str:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise errors.RegistryUnavailable(
                f"registry {ref.registry} sent a bearer challenge without a usable realm",
                delay=SERVER_ERROR_DELAY,
            )
        service = challenge.params.get("service", "")
        # Ask for exactly what resolving needs, whatever scope the challenge offered.
        scope = f"repository:{ref.path}:pull"
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
        self,
        ref: ImageReference,
        *,
        realm: str,
        service: str,
        scope: str,
        creds: Credentials | None,
    ) -> Token:
        params = {"scope": scope, **({"service": service} if service else {})}
        host = urlsplit(realm).netloc
        with self._lock:
            self.requests[host] += 1
        started = self._clock()
        try:
            response = self._token_request(ref, realm=realm, params=params, creds=creds)
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
        return parse_token(_json(response), registry=ref.registry, started=started)

    def _token_request(
        self,
        ref: ImageReference,
        *,
        realm: str,
        params: Mapping[str, str],
        creds: Credentials | None,
    ) -> requests.Response:
        if creds is not None and creds.identity_token:
            # docker login's OAuth2 flow: trade the refresh token for an access token.
            self._check_transport(ref.registry, url=realm)
            form = {
                **params,
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "asg-reconciler",
            }
            return self._session.post(realm, data=form, timeout=self._timeout)
        headers: dict[str, str] = {}
        if creds is not None and creds.username:
            self._check_transport(ref.registry, url=realm)
            headers["Authorization"] = basic_authorization(creds)
        return self._session.get(realm, params=params, headers=headers, timeout=self._timeout)

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


def _display(ref: ImageReference, reference: str) -> str:
    sep = "@" if is_digest(reference) else ":"
    return f"{ref.repository}{sep}{reference}"


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _refused(ref: ImageReference, *, sent_credentials: bool) -> errors.RegistryUnavailable:
    if sent_credentials:
        message = (
            f"registry {ref.registry}: credentials refused for repository {ref.path} "
            f"(check `docker login {ref.registry}` on this host)"
        )
    else:
        message = (
            f"registry {ref.registry} requires credentials for repository {ref.path}, or it "
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
