"""A token in ``--repo`` never reaches git's argv, where ``ps`` shows it to every user of the
machine (issue 17 #21): ``reconciler run`` hands it to git through a credential helper that reads
the environment.

End to end: a git smart-HTTP server on 127.0.0.1 that wants basic auth (tests/git_http.py), a
``git`` on PATH that records each argv before running the real git, and a real ``reconciler run
--once`` against the sandbox. The fetch must succeed (so the credentials did reach the server)
while no recorded argv holds the token.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.daemon.git import move_credentials
from reconciler.sandbox import Sandbox
from tests.git_http import git_http_server
from tests.test_e2e_core import ROOT
from tests.test_loop import desired_repo

TOKEN = "ghp_s3cretTOKENvalue"


def recording_git(directory: Path, log: Path) -> Path:
    """A ``git`` that appends its argv to ``log``, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    directory.mkdir()
    script = directory / "git"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return directory


def test_a_token_in_repo_reaches_the_server_but_not_gits_argv(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.0")
    log = tmp_path / "argv.log"
    wrapper = recording_git(tmp_path / "bin", log)
    with git_http_server(repo.origin.parent, user="bot", password=TOKEN) as served:
        url = f"{served.url}/{repo.origin.name}"
        host = served.url.removeprefix("http://")
        done = subprocess.run(
            [
                sys.executable, "-m", "reconciler", "run", "--once",
                "--repo", f"http://bot:{TOKEN}@{host}/{repo.origin.name}",
                "--path", "desired", "--cache-dir", str(tmp_path / "cache"), "--listen", "off",
            ],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
            env={
                **os.environ, **repo.env,
                "PATH": f"{wrapper}{os.pathsep}{os.environ['PATH']}",
                "AWS_ENDPOINT_URL": sandbox.endpoint,
            },
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"event": "desired_loaded"' in done.stderr
    assert any(TOKEN in _basic(header) for header in served.seen)  # the credentials arrived
    calls = log.read_text().splitlines()
    assert any(line.startswith("--git-dir") and "fetch" in line and url in line for line in calls)
    leaked = [line for line in calls if TOKEN in line]
    assert leaked == [], leaked
    assert TOKEN not in done.stderr and TOKEN not in done.stdout
    # nothing on disk either: the cache's config has no credentials
    for config in (tmp_path / "cache").rglob("config"):
        assert TOKEN not in config.read_text()


def _basic(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode()


@pytest.mark.parametrize(
    ("repo", "stripped", "user", "password"),
    [
        ("https://bot:tok@github.com/o/r.git", "https://github.com/o/r.git", "bot", "tok"),
        ("https://tok@github.com/o/r.git", "https://github.com/o/r.git", "tok", ""),
        ("http://a%40b:p%3Aq@127.0.0.1:8080/r", "http://127.0.0.1:8080/r", "a@b", "p:q"),
        (
            "https://x-access-token:ghs_1@ghe.example/o/r",
            "https://ghe.example/o/r",
            "x-access-token",
            "ghs_1",
        ),
    ],
)
def test_credentials_move_from_the_url_to_a_helper(
    repo: str, stripped: str, user: str, password: str
) -> None:
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "1"}
    assert move_credentials(repo, env) == stripped
    scope = stripped.split("/")[0] + "//" + stripped.split("/")[2]
    assert env["GIT_CONFIG_COUNT"] == "3"  # appended after what was configured before
    assert env["GIT_CONFIG_KEY_0"] == "core.x"
    assert env["GIT_CONFIG_KEY_1"] == env["GIT_CONFIG_KEY_2"] == f"credential.{scope}.helper"
    assert env["GIT_CONFIG_VALUE_1"] == ""  # clears helpers configured before for that host
    helper = env["GIT_CONFIG_VALUE_2"]
    assert user not in helper and (not password or password not in helper)
    # git itself asks the helper: the answer is the credentials
    answer = subprocess.run(
        ["git", "credential", "fill"],
        input=f"url={stripped}\n\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"},
        timeout=30,
        check=False,
    )
    if password:
        assert f"username={user}\npassword={password}\n" in answer.stdout, answer
    else:  # the user came from the helper; git then wants a password, and may not prompt
        assert f"could not read Password for '{scope.replace('://', f'://{user}@')}'" in (
            answer.stderr
        ), answer


@pytest.mark.parametrize(
    "repo",
    [
        "ssh://git@github.com/o/r.git",
        "git@github.com:o/r.git",
        "/srv/git/desired.git",
        "file:///srv/git/desired.git",
        "https://github.com/o/r.git",
    ],
)
def test_urls_without_credentials_are_left_alone(repo: str) -> None:
    env: dict[str, str] = {}
    assert move_credentials(repo, env) == repo
    assert env == {}
