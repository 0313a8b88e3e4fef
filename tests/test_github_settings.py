"""Where GitHub reporting's settings come from: the token, the repository, the URLs; and the
clear error for a configuration given by half."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import errors
from reconciler.daemon.github.settings import github_settings, repository_from_url
from reconciler.daemon.run import external_url


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/acme/deploys.git", "acme/deploys"),
        ("https://github.com/acme/deploys", "acme/deploys"),
        ("https://x-access-token:t@github.com/acme/deploys.git", "acme/deploys"),
        ("git@github.com:acme/deploys.git", "acme/deploys"),
        ("ssh://git@github.com/acme/my.repo.git", "acme/my.repo"),
        ("https://gitlab.com/acme/deploys.git", None),
        ("/srv/git/deploys", None),
        ("https://github.com/acme", None),
    ],
)
def test_repository_from_url(url: str, repository: str | None) -> None:
    assert repository_from_url(url) == repository


def test_settings_from_a_token_file_or_the_environment(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_abc\n")
    url = "git@github.com:acme/deploys.git"
    found = github_settings(repo_url=url, repository=None, token_file=str(token), env={})
    assert found is not None and (found.repository, found.token) == ("acme/deploys", "ghp_abc")
    assert "ghp_abc" not in repr(found)
    from_env = github_settings(
        repo_url="/srv/git", repository="acme/x", token_file=None, env={"GITHUB_TOKEN": "t"}
    )
    assert from_env is not None and from_env.repository == "acme/x"
    # CI's own GITHUB_TOKEN, with a repository not on GitHub: off, quietly.
    off = github_settings(
        repo_url="/srv/git", repository=None, token_file=None, env={"GITHUB_TOKEN": "t"}
    )
    assert off is None
    assert github_settings(repo_url=url, repository=None, token_file=None, env={}) is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"token_file": "/nonexistent/token"}, "--github-token-file: No such file"),
        ({"repository": "acme"}, "--github-repository: 'acme': use OWNER/NAME"),
        ({"repository": "acme/x", "env": {}}, "--github-repository needs a token"),
        ({"repo_url": "/srv/git"}, "is not a github.com URL"),
        ({"api_url": "api.github.com"}, "--github-api-url"),
    ],
)
def test_half_given_settings_are_a_clear_error(
    tmp_path: Path, changes: dict[str, object], says: str
) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_abc")
    given: dict[str, object] = {
        "repo_url": "https://github.com/acme/deploys",
        "repository": None,
        "token_file": str(token),
        "env": {"GITHUB_TOKEN": "t"},
    }
    if changes.get("env") == {}:
        given["token_file"] = None
    given.update(changes)
    with pytest.raises(errors.UsageError, match=says.replace("(", r"\(")):
        github_settings(**given)  # type: ignore[arg-type]


def test_the_external_url_is_an_http_url() -> None:
    assert external_url("https://reconciler.example.com/") == "https://reconciler.example.com/"
    assert external_url(None) is None
    with pytest.raises(errors.UsageError, match=r"--external-url: 'status\.example\.com'"):
        external_url("status.example.com")
