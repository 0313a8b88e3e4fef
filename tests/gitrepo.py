"""Real git repositories for tests: a bare "origin" and a work clone, driven by the git CLI.

    repo = GitRepo.create(tmp_path)
    repo.write("desired/desired.yaml", text)
    first = repo.commit("deploy v1.1")          # commits and pushes to origin
    repo.revert(first)                           # git revert, pushed
    repo.force_push(first)                       # reset --hard + push --force
    key = SigningKey.create(tmp_path / "keys")   # ssh-keygen ed25519, for commit -S

Every git call gets a config of its own (no global or system config), so the tests behave the
same on any machine.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

AUTHOR = "Test Author"
EMAIL = "author@example.com"


def git_env(home: Path) -> dict[str, str]:
    """An environment where git reads no config but its own and never prompts."""
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": AUTHOR,
        "GIT_AUTHOR_EMAIL": EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR,
        "GIT_COMMITTER_EMAIL": EMAIL,
    }


def run_git(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass(frozen=True)
class SigningKey:
    """An ed25519 key for SSH commit signatures and the allowed-signers file that trusts it."""

    private: Path
    allowed_signers: Path

    @classmethod
    def create(cls, directory: Path, *, email: str = EMAIL) -> SigningKey:
        directory.mkdir(parents=True, exist_ok=True)
        private = directory / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(private)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        public = private.with_suffix(".pub").read_text().split()
        allowed = directory / "allowed_signers"
        allowed.write_text(f'{email} namespaces="git" {public[0]} {public[1]}\n')
        return cls(private=private, allowed_signers=allowed)


@dataclass(frozen=True)
class GitRepo:
    origin: Path  # bare, what the daemon fetches
    work: Path  # a clone where commits are made and pushed from
    env: dict[str, str]
    branch: str = "main"

    @classmethod
    def create(cls, root: Path, *, branch: str = "main") -> GitRepo:
        root.mkdir(parents=True, exist_ok=True)
        home = root / "home"
        home.mkdir(exist_ok=True)
        env = git_env(home)
        origin = root / "origin.git"
        work = root / "work"
        run_git("init", "--quiet", "--bare", "-b", branch, str(origin), cwd=root, env=env)
        run_git("init", "--quiet", "-b", branch, str(work), cwd=root, env=env)
        run_git("remote", "add", "origin", str(origin), cwd=work, env=env)
        return cls(origin=origin, work=work, env=env, branch=branch)

    @property
    def url(self) -> str:
        return f"file://{self.origin}"

    def git(self, *args: str) -> str:
        return run_git(*args, cwd=self.work, env=self.env)

    def write(self, relative: str, text: str) -> Path:
        path = self.work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str, *, key: SigningKey | None = None, push: bool = True) -> str:
        """Commit everything in the work tree (signed with ``key`` if given) and push it."""
        self.git("add", "--all")
        signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key.private}"] if key else []
        self.git(
            *signing, "commit", "--quiet", "--allow-empty", "-m", message, *(["-S"] if key else [])
        )
        if push:
            self.push()
        return self.head()

    def revert(self, sha: str, *, push: bool = True) -> str:
        self.git("revert", "--no-edit", sha)
        if push:
            self.push()
        return self.head()

    def force_push(self, sha: str) -> str:
        """Move the branch back (or anywhere) and force-push it: history rewritten."""
        self.git("reset", "--quiet", "--hard", sha)
        self.git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{self.branch}")
        return self.head()

    def push(self) -> None:
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")
