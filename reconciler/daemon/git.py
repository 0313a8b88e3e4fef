"""The one way the reconciler runs git, and reads what git hands it.

Every git call of the product goes through ``Git.run``, so these hold everywhere:

- git never prompts: ``GIT_TERMINAL_PROMPT=0`` and standard input closed (or the text we pass).
  Unless the caller is an operator at a terminal (``terminal=True``), git also runs in a new
  session, without a controlling terminal, so ssh cannot ask for a passphrase on one either.
- every call has a timeout; a hung remote or a stuck lock must not hang the daemon's loop.
- a URL's ``user:password@`` part never reaches a log or an exception (``redact``), nor git's
  argv, where ``ps`` shows it to every user of the machine: ``move_credentials`` takes it out of
  ``--repo`` and hands it to git through a credential helper that reads it from the environment.
- a local repository owned by another user (a checkout mounted into the daemon's container) is
  readable by trusting exactly that one path (``trust``), never ``safe.directory=*``.
- ``extract`` unpacks ``git archive`` output only when no member could write or point outside the
  directory it is unpacked into.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shlex
import subprocess
import tarfile
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from reconciler import errors
from reconciler.model import Problem

GIT_TIMEOUT = 120.0  # seconds for any one git call
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


@dataclass(frozen=True, slots=True)
class Output:
    """What one git call returned."""

    returncode: int
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Git:
    """git pointed at one repository: a work tree (``-C``) or a bare repository (``--git-dir``)."""

    location: tuple[str, ...]  # the options before the command that say which repository
    timeout: float = GIT_TIMEOUT
    terminal: bool = False  # True: ssh may still ask the operator on their terminal

    @classmethod
    def work_tree(
        cls,
        path: Path,
        *,
        timeout: float = GIT_TIMEOUT,
        trusted: bool = False,
        terminal: bool = False,
    ) -> Git:
        """git in the work tree at ``path``; ``trusted``: even if another user owns it."""
        options = trust(path.resolve()) if trusted else []
        return cls((*options, "-C", str(path)), timeout=timeout, terminal=terminal)

    @classmethod
    def bare(cls, git_dir: Path, *, timeout: float = GIT_TIMEOUT) -> Git:
        return cls(("--git-dir", str(git_dir)), timeout=timeout)

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> Output:
        """Run ``git ARGS``; ``check``: raise ``errors.GitError`` when git exits non-zero."""
        output = self._call(["git", *self.location, *args], stdin=stdin, verb=verb(args))
        if check and not output.ok:
            raise errors.GitError(f"git {verb(args)} failed: {redact(reason(output.stderr))}")
        return output

    def text(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """``run``'s standard output, stripped."""
        return self.run(*args, check=check, stdin=stdin).text.strip()

    def _call(self, argv: list[str], *, stdin: str | None, verb: str) -> Output:
        try:
            done = subprocess.run(
                argv,
                input=stdin.encode() if stdin is not None else None,
                stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
                timeout=self.timeout,
                start_new_session=not self.terminal,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise errors.GitError(f"git {verb} timed out after {self.timeout:g}s") from None
        except OSError as exc:
            raise errors.GitError(f"cannot run git: {exc}") from None
        return Output(done.returncode, done.stdout, done.stderr.decode(errors="replace"))


def verb(args: Sequence[str]) -> str:
    """The git command in ``args``: the first word that is neither an option nor its value."""
    return next((a for a in args if not a.startswith("-") and "=" not in a), "")


def reason(stderr: str) -> str:
    """git's verdict in one line: its last ``fatal:``/``error:`` line, after hints and warnings."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [""])[-1]


# The credential helper git runs for the --repo host: a shell function (git's "!" form) that
# answers "get" with the two variables, so the secret is in no argv and in no file.
_USER_VAR, _PASSWORD_VAR = "ASG_RECONCILER_GIT_USERNAME", "ASG_RECONCILER_GIT_PASSWORD"
_HELPER = (
    '!f() { test "$1" = get || return 0; '
    f'printf "username=%s\\n" "${_USER_VAR}"; '
    f'test -n "${_PASSWORD_VAR}" && printf "password=%s\\n" "${_PASSWORD_VAR}"; '
    "return 0; }; f"
)


def move_credentials(repo: str, env: MutableMapping[str, str]) -> str:
    """``repo`` without its ``user:password@``; the credentials go into ``env`` as a
    credential helper for that scheme and host, which every git the process starts inherits
    (``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``, git 2.31+). A URL without them is unchanged."""
    parts = urlsplit(repo)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return repo
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    env[_USER_VAR], env[_PASSWORD_VAR] = unquote(user), unquote(password)
    scope = f"{parts.scheme}://{host}"
    count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    # An empty helper first clears any helper configured before for that URL (gitcredentials(7)).
    for offset, value in enumerate(("", _HELPER)):
        env[f"GIT_CONFIG_KEY_{count + offset}"] = f"credential.{scope}.helper"
        env[f"GIT_CONFIG_VALUE_{count + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + 2)
    return urlunsplit(parts._replace(netloc=host))


def redact(text: str) -> str:
    """``https://user:token@host/x`` → ``https://host/x``, anywhere in ``text``."""
    return _USERINFO.sub(r"\1", text)


# ------------------------------------------------------------------------------------------------
# Trusting the one local repository the operator named
# ------------------------------------------------------------------------------------------------


def local_path(repo: str | Path) -> str | None:
    """The absolute path of a local repository (a path or file:// URL); None for a remote."""
    text = str(repo)
    if "://" in text and not text.startswith("file://"):
        return None
    path = text.removeprefix("file://")
    return path if path.startswith("/") else str(Path(path).resolve())


def trust(repo: str | Path) -> list[str]:
    """``-c safe.directory`` options for a local repository the operator named.

    git refuses a repository owned by another user ("dubious ownership"), which is the usual case
    for a checkout mounted into the daemon's container. Only that one path is trusted, never `*`.
    """
    path = local_path(repo)
    if path is None:
        return []
    return ["-c", f"safe.directory={path}", "-c", f"safe.directory={path}/.git"]


def trusted_upload_pack(repo: str) -> list[str]:
    """The same trust for a local fetch: git 2.39 does not pass ``-c`` on to upload-pack."""
    if local_path(repo) is None:
        return []
    return ["--upload-pack=" + shlex.join(["git", *trust(repo), "upload-pack"])]


# ------------------------------------------------------------------------------------------------
# Unpacking ``git archive`` output
# ------------------------------------------------------------------------------------------------

# Python 3.11.4 added extraction filters; Debian 12's 3.11.2 lacks them, and our own checks in
# _unsafe_member cover what "data" refuses, so the filter is belt and braces where it exists.
_DATA_FILTER: dict[str, str] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def extract(archive: bytes, *, into: Path) -> None:
    """Unpack a tar archive into ``into``, refusing it whole if any member could leave it."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
        for member in members:
            why = _unsafe_member(member)
            if why:
                raise errors.InvalidDesiredState(
                    [
                        Problem(
                            file=member.name,
                            line=1,
                            field="(file)",
                            message=why,
                            allowed="files, directories and links that stay in the repository",
                        )
                    ]
                )
        tar.extractall(into, members=members, **_DATA_FILTER)  # type: ignore[arg-type]


def _unsafe_member(member: tarfile.TarInfo) -> str:
    """Why extracting ``member`` could write or point outside the checkout; "" when safe."""
    if _leaves(member.name):
        return "path leaves the repository"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "special files are not allowed"
    if member.issym():
        target = posixpath.join(posixpath.dirname(member.name), member.linkname)
        if member.linkname.startswith("/") or _leaves(target):
            return f"symlink points outside the repository ({member.linkname})"
    if member.islnk() and _leaves(member.linkname):
        return "hard link points outside the repository"
    return ""


def _leaves(name: str) -> bool:
    clean = posixpath.normpath(name)
    return name.startswith("/") or clean == ".." or clean.startswith("../")
