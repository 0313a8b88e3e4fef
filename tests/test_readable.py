"""At start, ``reconciler run`` checks that it can read each secret and key file it was given.

Plain data: which files a ``GIT_SSH_COMMAND`` names, and the message. Then the daemon itself,
run as the image's uid/gid 10001 (the tests run as root; without root, as ourselves with a mode
that denies us): a ``chmod 600`` file of another owner, as compose bind-mounts it, stops it
with exit 2 and a message naming the file, its owner and mode, and the fix; after that fix
(``chgrp 10001`` and ``chmod 0640``) the same command runs a tick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.daemon import readable
from tests.test_loop import desired_yaml

ROOT = Path(__file__).resolve().parent.parent
IMAGE_UID = 10001

ENV = {"CREDENTIALS_DIRECTORY": "/run/credentials/asg-reconciler.service", "HOME": "/home/r"}


@pytest.mark.parametrize(
    ("command", "files"),
    [
        ("ssh", []),
        ("ssh -i /run/ssh/id_ed25519", ["/run/ssh/id_ed25519"]),
        ("ssh -i/run/ssh/key -oIdentitiesOnly=yes", ["/run/ssh/key"]),
        (
            "ssh -i /run/ssh/id_ed25519 -o UserKnownHostsFile=/run/ssh/known_hosts"
            " -o IdentitiesOnly=yes",
            ["/run/ssh/id_ed25519", "/run/ssh/known_hosts"],
        ),
        (
            'ssh -i "$CREDENTIALS_DIRECTORY/ssh-key"'
            ' -o "UserKnownHostsFile=${CREDENTIALS_DIRECTORY}/known-hosts"',
            [
                "/run/credentials/asg-reconciler.service/ssh-key",
                "/run/credentials/asg-reconciler.service/known-hosts",
            ],
        ),
        ("ssh -o 'userknownhostsfile=/a /b' -i ~/.ssh/k", ["/a", "/b", "/home/r/.ssh/k"]),
        ("ssh -o StrictHostKeyChecking=yes -p 2222", []),
        ("ssh -o UserKnownHostsFile=", []),
        ("ssh -i", []),  # ssh itself rejects it; not a file to check
        ("'/usr/bin/ssh' -i '/keys/a key'", ["/keys/a key"]),
    ],
)  # fmt: skip
def test_ssh_files(command: str, files: list[str]) -> None:
    assert [str(p) for _, p in readable.ssh_files(command, ENV)] == files


def test_an_unparsable_ssh_command_is_a_usage_error() -> None:
    with pytest.raises(errors.UsageError, match="GIT_SSH_COMMAND"):
        readable.ssh_files("ssh -i 'unclosed", ENV)


@pytest.mark.parametrize(
    ("repo", "ssh"),
    [
        ("git@github.com:johnhuh619/simple-api.git", True),
        ("github.com:org/repo", True),
        ("ssh://git@github.com/org/repo.git", True),
        ("git+ssh://git@host:2222/repo", True),
        ("https://github.com/org/repo.git", False),
        ("http://127.0.0.1:8080/repo.git", False),
        ("file:///srv/git/desired.git", False),
        ("/srv/git/desired.git", False),
        ("./desired:old", False),  # a path with a colon, not host:path
        ("desired", False),
    ],
)
def test_is_ssh_url(repo: str, ssh: bool) -> None:
    assert readable.is_ssh_url(repo) is ssh


def test_an_https_repository_does_not_need_the_ssh_key() -> None:
    env = {"GIT_SSH_COMMAND": "ssh -i /run/ssh/id_ed25519"}
    assert readable.configured([], env, repo="https://github.com/o/r.git") == []
    assert readable.configured([], env, repo="git@github.com:o/r.git") != []


@pytest.mark.parametrize(
    ("named", "env", "expected"),
    [
        ([("--webhook-secret-file", None)], {}, []),
        ([("--webhook-secret-file", "/run/secrets/w")], {}, ["/run/secrets/w"]),
        ([], {"GIT_SSH_COMMAND": "ssh -i /k"}, ["/k"]),
        ([], {"GIT_SSH_COMMAND": "  "}, []),
        ([], {"DOCKER_CONFIG": "/nonexistent-docker-config"}, []),  # anonymous pulls
    ],
)
def test_configured(
    named: list[tuple[str, str | None]], env: dict[str, str], expected: list[str]
) -> None:
    repo = "git@github.com:o/r.git"
    assert [str(p) for _, p in readable.configured(named, env, repo=repo)] == expected


def test_a_docker_config_is_checked_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    files = readable.configured([], {"DOCKER_CONFIG": str(tmp_path)}, repo="/srv/git/d.git")
    assert files == [("DOCKER_CONFIG config.json", tmp_path / "config.json")]


@pytest.mark.parametrize(
    ("mode", "owner"), [(0o600, (0, 0)), (0o400, (1000, 1000)), (0o640, (0, 0))]
)
def test_the_denied_message_names_owner_mode_and_fix(
    tmp_path: Path, mode: int, owner: tuple[int, int]
) -> None:
    path = tmp_path / "secret"
    path.write_text("s")
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, *owner)
    else:
        owner = (os.getuid(), os.getgid())
    text = readable.denied(path, uid=10001, gid=10001)
    assert f"owner {owner[0]}:{owner[1]}, mode {mode:04o}" in text
    assert "for uid 10001 (gid 10001)" in text
    assert f"chgrp 10001 {path} && chmod 0640 {path}" in text


def test_missing_and_directory_are_named(tmp_path: Path) -> None:
    assert readable.problem(tmp_path / "nope") == f"no such file: {tmp_path / 'nope'}"
    assert readable.problem(tmp_path) == f"a directory, not a file: {tmp_path}"
    with pytest.raises(errors.UsageError) as raised:
        readable.check([("--allowed-signers", tmp_path / "nope"), ("--x", tmp_path)])
    assert str(raised.value).count("\n") == 2  # both, one line each


# ------------------------------------------------------------------------------------------------
# The daemon, as the image's user
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory uid 10001 may enter (pytest's tmp_path is root's own, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="asg-reconciler-readable-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def run_daemon(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    as_image_user: list[str] = []
    if os.geteuid() == 0:  # util-linux's setpriv, as a container engine's USER 10001:10001
        uid = str(IMAGE_UID)
        as_image_user = ["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups"]
    return subprocess.run(
        [*as_image_user, sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "HOME": "/nonexistent", **env},
        check=False,
    )


def deny(path: Path) -> None:
    """As a host's ``chmod 600`` file of another owner is to the container's user."""
    path.chmod(0o600)
    if os.geteuid() != 0:
        path.chmod(0o000)  # we own it: only no bits at all keep us out


def grant(path: Path) -> None:
    """The fix the message gives: group-readable for the daemon's group."""
    if os.geteuid() == 0:
        os.chown(path, 0, IMAGE_UID)
    path.chmod(0o640)


def test_the_daemon_refuses_to_start_on_an_unreadable_secret_and_runs_after_the_fix(
    sandbox, shared_dir: Path
) -> None:
    desired = shared_dir / "desired"
    desired.mkdir()
    (desired / "desired.yaml").write_text(desired_yaml())
    shutil.copy(ROOT / "desired" / "feedback-userdata.sh", desired)
    for path in (desired, *desired.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    secret = shared_dir / "webhook-secret"
    secret.write_text("s3cret\n")
    key = shared_dir / "id_ed25519"
    key.write_text("checked only for an SSH repository\n")
    deny(secret)
    deny(key)
    args = [
        "--endpoint-url", sandbox.endpoint,
        "run", "--repo", str(shared_dir), "--path", "desired", "--once",
        "--webhook-secret-file", str(secret),
    ]  # fmt: skip
    env = {"GIT_SSH_COMMAND": f"ssh -i {key} -o IdentitiesOnly=yes"}

    refused = run_daemon(args, env)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines[0] == "cannot read what the daemon was given:"
    uid, gid = (IMAGE_UID, IMAGE_UID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    owner = f"owner {os.getuid()}:{os.getgid()}" if os.geteuid() else "owner 0:0"
    secret_line = next(line for line in lines if line.strip().startswith("--webhook-secret-file"))
    assert f"{secret}: permission denied for uid {uid} (gid {gid})" in secret_line
    assert owner in secret_line and "mode 0" in secret_line
    assert f"chgrp {gid} {secret} && chmod 0640 {secret}" in secret_line
    assert not any("GIT_SSH_COMMAND" in line for line in lines)  # a directory needs no key
    ssh_args = ["run", "--repo", "git@127.0.0.1:desired.git", "--once"]
    ssh_refused = run_daemon(ssh_args, env)
    assert ssh_refused.returncode == 2, ssh_refused.stderr
    assert f"GIT_SSH_COMMAND -i (the SSH key): {key}: permission denied" in ssh_refused.stderr
    refreshes = sandbox.aws().call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )
    assert refreshes["InstanceRefreshes"] == []  # nothing done in AWS

    grant(secret)
    grant(key)
    assert "cannot read" not in run_daemon(ssh_args, env).stderr  # on to the fetch, which fails
    ran = run_daemon(args, env)
    assert "cannot read" not in ran.stderr
    assert ran.returncode == 0, ran.stderr[-2000:]
