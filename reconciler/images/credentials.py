"""Who the reconciler is to a registry: docker's credentials, and the challenges it answers.

- ``DockerConfigCredentials``: credentials from the docker config of the ops host (``auths``,
  ``credsStore``, ``credHelpers``) through the docker SDK, so ``docker login`` is all a user does.
- ``parse_www_authenticate``: the RFC 7235 challenges a registry answers a 401 with, and ``pick``
  the one to answer (bearer over basic).
- ``basic_authorization`` and ``parse_token``: the two answers, a basic header and a bearer token
  (from the token service's JSON body) with the deadline it is cached until.

Credentials never appear in a message, a repr or a log line: ``Credentials`` and ``Token`` hide
their secrets from ``repr``, and every error names the registry only.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker.auth
import docker.errors

from reconciler import errors

# How long to wait before retrying when credentials are missing or refused: a human has to act.
CREDENTIALS_DELAY = 60.0
SERVER_ERROR_DELAY = 15.0

# A token this close to its expiry is fetched anew rather than risked.
_TOKEN_MARGIN = 10.0
# Registries that give no lifetime: the token spec's default.
_DEFAULT_TOKEN_LIFETIME = 60.0


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


def pick(challenges: list[Challenge]) -> Challenge | None:
    """The challenge to answer: bearer when offered (it scopes access), else basic."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


# -- answers -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Token:
    """A bearer token and the clock reading after which it is fetched anew."""

    value: str = field(repr=False)
    deadline: float


def parse_token(body: object, *, registry: str, started: float) -> Token:
    """The token in a token service's JSON ``body``, good until shortly before it expires."""
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
    return Token(value=value, deadline=started + lifetime - margin)


def basic_authorization(creds: Credentials) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    pair = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")
