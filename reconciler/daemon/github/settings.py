"""Where to report to GitHub, and with what token: the ``--github-*`` options.

Reporting is on when a token and a repository are both known. The token comes from
``--github-token-file`` or the environment (``RECONCILER_GITHUB_TOKEN``, then ``GITHUB_TOKEN``);
the repository from ``--github-repository`` or, when the followed repository is on github.com,
from its URL. A token from the environment alone, with a repository that is not on GitHub,
leaves reporting off (CI jobs carry a ``GITHUB_TOKEN`` of their own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler import errors
from reconciler.daemon.secrets import read_secret

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = ("RECONCILER_GITHUB_TOKEN", "GITHUB_TOKEN")
_NAME = r"[A-Za-z0-9_.-]+"
_REPOSITORY = re.compile(rf"^{_NAME}/{_NAME}$")
# https://github.com/o/n(.git), git@github.com:o/n(.git), ssh://git@github.com/o/n(.git)
_GITHUB_URL = re.compile(
    rf"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    rf"(?P<owner>{_NAME})/(?P<name>{_NAME}?)(?:\.git)?/?$"
)


@dataclass(frozen=True)
class GitHubSettings:
    repository: str  # owner/name
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL


def valid_repository(text: str) -> bool:
    """Whether ``text`` is ``OWNER/NAME``."""
    return _REPOSITORY.match(text) is not None


def repository_from_url(url: str) -> str | None:
    """``owner/name`` of a github.com remote URL; None for anything else."""
    match = _GITHUB_URL.match(url.strip())
    if match is None:
        return None
    return f"{match['owner']}/{match['name'].removesuffix('.git')}"


def read_token(*, file: str | None, env: Mapping[str, str]) -> str | None:
    return read_secret(option="--github-token-file", file=file, env=env, names=TOKEN_ENV)


def github_settings(
    *,
    repo_url: str,
    repository: str | None,
    token_file: str | None,
    env: Mapping[str, str],
    api_url: str = DEFAULT_API_URL,
) -> GitHubSettings | None:
    """The settings, or None (reporting off); a clear error for a half-given configuration."""
    if repository is not None and not valid_repository(repository):
        raise errors.UsageError(f"--github-repository: {repository!r}: use OWNER/NAME")
    if not api_url.startswith(("http://", "https://")):
        raise errors.UsageError(f"--github-api-url: {api_url!r}: use an http(s) URL")
    token = read_token(file=token_file, env=env)
    found = repository or repository_from_url(repo_url)
    if token is None:
        if repository is not None:
            raise errors.UsageError(
                "--github-repository needs a token: --github-token-file or env "
                + " or ".join(TOKEN_ENV)
            )
        return None
    if found is None:
        if token_file is not None:
            raise errors.UsageError(
                f"--github-token-file: {repo_url} is not a github.com URL: "
                "name the repository with --github-repository OWNER/NAME"
            )
        return None
    return GitHubSettings(repository=found, token=token, api_url=api_url.rstrip("/"))
