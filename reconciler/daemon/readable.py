"""At start, every secret and key file the daemon was given must be readable by its user.

In a container the daemon runs as uid/gid 10001, and compose's file secrets and bind mounts keep
the host's owner and mode: a ``chmod 600`` webhook secret owned by root cannot be read, and
neither can a docker config or an SSH deploy key. Found at the first fetch, that is a restart
loop with a git error; found here, it is one message naming the file, its owner and mode, and
the fix (group-readable for gid 10001, see deploy/README.md).

The files: those named by options (``--webhook-secret-file`` and the other secrets,
``--allowed-signers``), the SSH identity and known-hosts files in ``$GIT_SSH_COMMAND``
(``-i FILE``, ``-o UserKnownHostsFile=FILE``; git runs it through the shell, so ``$VAR`` is
expanded, as systemd's ``$CREDENTIALS_DIRECTORY``), and ``$DOCKER_CONFIG/config.json``.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from reconciler import errors

FIX = "chgrp {gid} {path} && chmod 0640 {path}"


def problem(path: Path) -> str | None:
    """Why this process cannot read ``path``; None when it can."""
    try:
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return f"no such file: {path}"
    except IsADirectoryError:
        return f"a directory, not a file: {path}"
    except PermissionError:
        return denied(path, uid=os.geteuid(), gid=os.getegid())
    except OSError as exc:
        return f"{exc.strerror}: {path}"


def denied(path: Path, *, uid: int, gid: int) -> str:
    """The message for a file ``uid``/``gid`` may not read: its owner and mode, and the fix."""
    try:
        info = path.stat()
    except OSError:  # a directory on the way that this user may not enter
        where = f"the directory {path.parent} is not searchable"
        return f"{path}: permission denied for uid {uid} (gid {gid}): {where}"
    mode = stat.S_IMODE(info.st_mode)
    fix = FIX.format(gid=gid, path=path)
    return (
        f"{path}: permission denied for uid {uid} (gid {gid}): owner {info.st_uid}:{info.st_gid},"
        f" mode {mode:04o}; make it group-readable for gid {gid}: {fix}"
    )


def ssh_files(command: str, env: Mapping[str, str]) -> list[tuple[str, Path]]:
    """The identity and known-hosts files named in a ``GIT_SSH_COMMAND``, variables expanded."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise errors.UsageError(f"GIT_SSH_COMMAND: cannot be parsed ({exc}): {command}") from None
    found: list[tuple[str, Path]] = []
    for option, value in _ssh_options(words):
        if option == "-i":
            found.append(("GIT_SSH_COMMAND -i (the SSH key)", _expand(value, env)))
        elif option == "-o":
            key, _, setting = value.partition("=")
            if key.strip().lower() == "userknownhostsfile" and setting.strip():
                for name in setting.split():  # ssh allows several, space-separated
                    found.append(("GIT_SSH_COMMAND UserKnownHostsFile", _expand(name, env)))
    return found


def _ssh_options(words: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(-i, FILE)`` and ``(-o, Key=value)`` pairs, joined (``-iFILE``) or apart (``-i FILE``)."""
    rest = iter(words[1:])
    for word in rest:
        if word in ("-i", "-o"):
            value = next(rest, "")
            if value:
                yield word, value
        elif word.startswith(("-i", "-o")) and len(word) > 2:
            yield word[:2], word[2:]


def _expand(value: str, env: Mapping[str, str]) -> Path:
    text = value
    for name in sorted(env, key=len, reverse=True):  # longest first: $A_B before $A
        text = text.replace(f"${{{name}}}", env[name]).replace(f"${name}", env[name])
    if text.startswith("~/") and env.get("HOME"):  # the shell git runs it with expands it so
        text = env["HOME"] + text[1:]
    return Path(text)


def is_ssh_url(repo: str) -> bool:
    """Whether git reaches ``repo`` over SSH: ``ssh://``, or scp-like ``[user@]host:path``."""
    if repo.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        return True
    return re.match(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)", repo) is not None


def configured(
    named: Sequence[tuple[str, str | Path | None]], env: Mapping[str, str], *, repo: str
) -> list[tuple[str, Path]]:
    """The files to check: ``(option, path)`` pairs given (None: not given), SSH's (only for an
    SSH repository: compose sets GIT_SSH_COMMAND for everyone), docker's."""
    files = [(what, Path(path)) for what, path in named if path is not None]
    if is_ssh_url(repo) and env.get("GIT_SSH_COMMAND", "").strip():
        files += ssh_files(env["GIT_SSH_COMMAND"], env)
    docker = env.get("DOCKER_CONFIG", "").strip()
    if docker and Path(docker, "config.json").exists():  # absent is fine: anonymous pulls
        files.append(("DOCKER_CONFIG config.json", Path(docker, "config.json")))
    return files


def check(files: Sequence[tuple[str, Path]]) -> None:
    """UsageError listing every file of ``files`` this process cannot read."""
    problems = [f"{what}: {why}" for what, path in files if (why := problem(path)) is not None]
    if problems:
        listed = "\n  ".join(problems)
        raise errors.UsageError(f"cannot read what the daemon was given:\n  {listed}")
