"""What the boot script runs besides ``docker pull``: the registry login and the app's environment.

Pure text, rendered into the UserData template as ``${REGISTRY_LOGIN}`` and ``${DOCKER_ENV}``.

The login runs with the instance's role, never with a secret in the UserData (which anyone
allowed ``ec2:DescribeLaunchTemplateVersions`` can read):

- ECR: ``aws ecr get-login-password --region R | docker login --username AWS --password-stdin
  <registry>``, the command the Amazon ECR User Guide gives ("Private registry authentication").
  ECR always needs it, even in the instance's own account. R is the registry's region, from its
  host name, as the guide's command writes it (the token is fetched from that Region's endpoint).
- any other registry with ``spec.image.pullCredentials``: the token read from SSM Parameter Store
  (``ssm:GetParameter`` with decryption, a SecureString) or from Secrets Manager
  (``secretsmanager:GetSecretValue``, the secret's string), piped into ``docker login`` so it is
  never on a command line or in a file.
- any other registry without: no login (a public image); the line says so.

Every value is checked against its grammar first and shell-quoted too, so nothing from a desired
file can carry shell syntax into a boot script.
"""

from __future__ import annotations

import re
import shlex

from reconciler.images.reference import DOCKER_HUB_INDEX, InvalidReference, ecr_registry, parse
from reconciler.model import BootSpec, PullCredentials

SSM_PARAMETER = "ssmParameter"
SECRETS_MANAGER = "secretsManager"

# An environment variable name a shell and docker both accept (POSIX: portable names).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}", re.ASCII)
ENV_NAME_ALLOWED = "letters, digits and '_', not starting with a digit, at most 255 characters"
# docker run -e takes one line; a control character would break it or hide in a review.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ENV_VALUE_ALLOWED = "text without control characters (no newline, tab or NUL)"
# Parameter Store: letters, digits and . - _ in '/'-separated parts; "aws" and "ssm" prefixes are
# reserved (Systems Manager User Guide, "Parameter naming requirements and constraints").
_SSM_NAME = re.compile(r"/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", re.ASCII)
SSM_ALLOWED = (
    "a Parameter Store name: letters, digits, '_', '.', '-' in '/'-separated parts, at most 1011"
    " characters, not starting with aws or ssm"
)
# Secrets Manager: a name of letters, digits and /_+=.@-, or the secret's ARN (cross-account).
_SECRET_ID = re.compile(
    r"[A-Za-z0-9/_+=.@-]{1,512}"
    r"|arn:aws[a-z-]*:secretsmanager:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+",
    re.ASCII,
)
SECRET_ALLOWED = "a secret's name (letters, digits and /_+=.@-, at most 512) or its ARN"
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}", re.ASCII)
USERNAME_ALLOWED = "letters, digits and . _ @ + -, starting with a letter or digit"


def env_name_error(name: str) -> str | None:
    return None if _ENV_NAME.fullmatch(name) else f"{name!r} is not a valid variable name"


def env_value_error(value: str) -> str | None:
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"the value holds the control character {found.group()!r}"


def credentials_error(credentials: PullCredentials) -> tuple[str, str, str] | None:
    """(field, reason, allowed) for the first part of ``credentials`` outside its grammar."""
    if not _USERNAME.fullmatch(credentials.username):
        return "username", f"{credentials.username!r} is not valid", USERNAME_ALLOWED
    name = credentials.name
    if credentials.source == SSM_PARAMETER:
        reserved = name.lstrip("/").lower().startswith(("aws", "ssm"))
        if reserved or len(name) > 1011 or not _SSM_NAME.fullmatch(name):
            return SSM_PARAMETER, f"{name!r} is not a valid parameter name", SSM_ALLOWED
        return None
    if credentials.source == SECRETS_MANAGER:
        if not _SECRET_ID.fullmatch(name):
            return SECRETS_MANAGER, f"{name!r} is not a valid secret name or ARN", SECRET_ALLOWED
        return None
    return "source", f"unknown source {credentials.source!r}", f"{SSM_PARAMETER}, {SECRETS_MANAGER}"


def registry_of(repository: str) -> str:
    """The registry ``docker login`` takes for ``repository``: ``ghcr.io``, ``docker.io``.

    A repository outside the grammar (reported by its own check) gives its first component.
    """
    try:
        return parse(repository).registry
    except InvalidReference:
        return repository.partition("/")[0]


def login_command(repository: str, *, region: str, credentials: PullCredentials | None) -> str:
    """One shell pipeline that logs docker in to ``repository``'s registry (see the docstring).

    ``region`` is the service's, where a parameter or a secret named without an ARN lives.
    """
    registry = registry_of(repository)
    ecr = ecr_registry(registry)
    if ecr is not None:
        token = f"aws ecr get-login-password --region {shlex.quote(ecr.region)}"
        return f"{token} | {_docker_login('AWS', registry)}"
    if credentials is None:
        return f": no registry login: {shlex.quote(registry)} is public to this service"
    if credentials.source == SSM_PARAMETER:
        token = (
            f"aws ssm get-parameter --region {shlex.quote(region)}"
            f" --name {shlex.quote(credentials.name)} --with-decryption"
            " --query Parameter.Value --output text"
        )
    else:
        where = _secret_region(credentials.name, region)
        token = (
            f"aws secretsmanager get-secret-value --region {shlex.quote(where)}"
            f" --secret-id {shlex.quote(credentials.name)}"
            " --query SecretString --output text"
        )
    return f"{token} | {_docker_login(credentials.username, registry)}"


def _docker_login(username: str, registry: str) -> str:
    server = "" if registry == DOCKER_HUB_INDEX else f" {shlex.quote(registry)}"
    return f"docker login --username {shlex.quote(username)} --password-stdin{server}"


def _secret_region(secret: str, region: str) -> str:
    """A secret's ARN names its region; a bare name is in the service's."""
    return secret.split(":")[3] if secret.startswith("arn:") else region


def docker_env(boot: BootSpec) -> str:
    """``-e NAME=value`` for each variable, shell-quoted, on one line: ``docker run``'s options."""
    return " ".join(f"-e {shlex.quote(f'{name}={value}')}" for name, value in boot.env)
