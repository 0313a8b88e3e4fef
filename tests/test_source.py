"""source: shallow git fetches, reading at the commit, signatures, rewrites and redaction."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.daemon.git import redact
from reconciler.daemon.source import (
    HISTORY_LIMIT,
    Checkout,
    GitSettings,
    GitSource,
    LocalSource,
    cache_key,
    check_repo_path,
    is_git_repository,
    revision_of,
)
from reconciler.errors import FetchError, UnverifiedCommit
from reconciler.model import Problem
from tests.gitrepo import GitRepo, SigningKey


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "git")
    repo.write("desired/service.yaml", "version: 1\n")
    repo.write("README.md", "not desired state\n")
    repo.commit("first")
    return repo


def source_for(
    repo: GitRepo,
    tmp_path: Path,
    *,
    branch: str = "main",
    path: str = "desired",
    allowed_signers: Path | None = None,
    history_limit: int = HISTORY_LIMIT,
) -> GitSource:
    settings = GitSettings(
        repo=repo.url,
        cache_dir=tmp_path / "cache",
        branch=branch,
        path=path,
        allowed_signers=allowed_signers,
        history_limit=history_limit,
    )
    return GitSource(settings)


def read_at(source: GitSource, revision: str) -> str:
    with source.checkout(revision) as checkout:
        return (checkout.paths[0] / "service.yaml").read_text()


def is_shallow(source: GitSource) -> bool:
    done = subprocess.run(
        ["git", "--git-dir", str(source.cache), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip() == "true"


# -- fetch and checkout ------------------------------------------------------------------------


def test_fetch_takes_the_branch_tip_as_revision_and_reads_files_at_it(
    repo: GitRepo, tmp_path: Path
) -> None:
    repo.write("desired/service.yaml", "version: 2\n")
    second = repo.commit("second")
    source = source_for(repo, tmp_path)

    fetched = source.fetch()

    assert fetched.revision == second
    assert fetched.previous is None and not fetched.rewritten
    assert read_at(source, second) == "version: 2\n"
    assert is_shallow(source)  # depth 1: one commit, not the whole history


def test_checkout_holds_only_the_desired_path_and_is_removed_after(
    repo: GitRepo, tmp_path: Path
) -> None:
    source = source_for(repo, tmp_path)
    revision = source.fetch().revision
    with source.checkout(revision) as checkout:
        root = checkout.root
        assert sorted(p.name for p in checkout.paths[0].iterdir()) == ["service.yaml"]
        assert not (root / "README.md").exists()
    assert not root.exists()


@pytest.mark.parametrize(
    ("target", "allowed"),
    [("/etc/passwd", False), ("../../README.md", False), ("../README.md", True)],
)
def test_a_committed_symlink_must_stay_in_the_repository(
    repo: GitRepo, tmp_path: Path, target: str, allowed: bool
) -> None:
    (repo.work / "desired" / "link.yaml").symlink_to(target)
    revision = repo.commit("a symlink")
    source = source_for(repo, tmp_path)
    source.fetch()
    if allowed:
        with source.checkout(revision) as checkout:
            assert (checkout.paths[0] / "link.yaml").is_symlink()
        return
    with pytest.raises(errors.InvalidDesiredState) as caught, source.checkout(revision):
        pass
    (problem,) = caught.value.problems
    assert problem.file == "desired/link.yaml"
    assert "outside the repository" in problem.message


def test_a_repository_owned_by_another_user_is_still_read(repo: GitRepo, tmp_path: Path) -> None:
    # The daemon's container runs as its own user; the mounted repository belongs to another.
    for path in [repo.origin, *repo.origin.rglob("*")]:
        os.chown(path, 12345, 12345, follow_symlinks=False)
    assert is_git_repository(repo.origin)
    source = GitSource(GitSettings(repo=str(repo.origin), cache_dir=tmp_path / "cache"))
    assert source.fetch().revision == repo.head()


def test_a_plain_path_remote_is_fetched_shallow_too(repo: GitRepo, tmp_path: Path) -> None:
    source = GitSource(GitSettings(repo=str(repo.origin), cache_dir=tmp_path / "cache"))
    assert source.fetch().revision == repo.head()
    assert is_shallow(source)


def test_the_revision_read_is_the_commit_not_the_work_tree(repo: GitRepo, tmp_path: Path) -> None:
    source = source_for(repo, tmp_path)
    first = source.fetch().revision
    repo.write("desired/service.yaml", "version: 2\n")
    repo.commit("second")  # pushed after the fetch: the fetched revision must not see it
    assert read_at(source, first) == "version: 1\n"


def test_a_path_missing_at_the_commit_is_an_invalid_desired_state(
    repo: GitRepo, tmp_path: Path
) -> None:
    source = source_for(repo, tmp_path, path="elsewhere")
    revision = source.fetch().revision
    with pytest.raises(errors.InvalidDesiredState) as caught, source.checkout(revision):
        pass
    assert "elsewhere" in str(caught.value) and revision[:12] in str(caught.value)


@pytest.mark.parametrize("path", ["../outside", "/etc"])
def test_a_path_outside_the_repository_is_a_usage_error(path: str) -> None:
    with pytest.raises(errors.UsageError):
        check_repo_path(path)


# -- history: fast-forwards, reverts and force pushes ------------------------------------------


def test_fast_forward_over_several_commits_is_not_a_rewrite(repo: GitRepo, tmp_path: Path) -> None:
    source = source_for(repo, tmp_path)
    first = source.fetch().revision
    for n in range(3):
        repo.write("desired/service.yaml", f"version: {n + 2}\n")
        repo.commit(f"change {n}")
    fetched = source.fetch()
    assert (fetched.previous, fetched.revision, fetched.rewritten) == (first, repo.head(), False)


def test_a_revert_is_a_new_commit_not_a_rewrite(repo: GitRepo, tmp_path: Path) -> None:
    source = source_for(repo, tmp_path)
    repo.write("desired/service.yaml", "version: 2\n")
    bad = repo.commit("second")
    source.fetch()
    reverted = repo.revert(bad)
    fetched = source.fetch()
    assert fetched.revision == reverted and not fetched.rewritten
    assert read_at(source, reverted) == "version: 1\n"


def test_force_push_to_an_older_commit_is_reported_as_rewritten(
    repo: GitRepo, tmp_path: Path
) -> None:
    first = repo.head()
    repo.write("desired/service.yaml", "version: 2\n")
    second = repo.commit("second")
    source = source_for(repo, tmp_path)
    assert source.fetch().revision == second

    repo.force_push(first)
    fetched = source.fetch()

    assert (fetched.previous, fetched.revision, fetched.rewritten) == (second, first, True)
    assert read_at(source, first) == "version: 1\n"


def test_rewrite_detection_survives_a_restart_through_the_cache(
    repo: GitRepo, tmp_path: Path
) -> None:
    first = repo.head()
    repo.write("desired/service.yaml", "version: 2\n")
    repo.commit("second")
    source_for(repo, tmp_path).fetch()
    repo.force_push(first)
    assert source_for(repo, tmp_path).fetch().rewritten


def test_beyond_the_history_limit_a_commit_counts_as_rewritten(
    repo: GitRepo, tmp_path: Path
) -> None:
    source = source_for(repo, tmp_path, history_limit=2)
    source.fetch()
    for n in range(4):
        repo.write("desired/service.yaml", f"version: {n + 2}\n")
        repo.commit(f"change {n}")
    assert source.fetch().rewritten


# -- signatures --------------------------------------------------------------------------------


def test_signed_commit_is_accepted_and_unsigned_or_unknown_refused(
    repo: GitRepo, tmp_path: Path
) -> None:
    trusted = SigningKey.create(tmp_path / "trusted")
    stranger = SigningKey.create(tmp_path / "stranger")
    source = source_for(repo, tmp_path, allowed_signers=trusted.allowed_signers)

    repo.write("desired/service.yaml", "version: 2\n")
    repo.commit("signed", key=trusted)
    source.verify(source.fetch().revision)  # does not raise

    repo.write("desired/service.yaml", "version: 3\n")
    unsigned = repo.commit("unsigned")
    with pytest.raises(UnverifiedCommit) as caught:
        source.verify(source.fetch().revision)
    assert caught.value.revision == unsigned
    assert "no signature" in str(caught.value)

    repo.write("desired/service.yaml", "version: 4\n")
    repo.commit("signed by someone else", key=stranger)
    with pytest.raises(errors.InvalidDesiredState, match="No principal matched"):
        source.verify(source.fetch().revision)


def test_without_allowed_signers_nothing_is_verified(repo: GitRepo, tmp_path: Path) -> None:
    source = source_for(repo, tmp_path)
    source.verify(source.fetch().revision)


# -- failures ----------------------------------------------------------------------------------


def test_a_missing_branch_is_a_temporary_fetch_error(repo: GitRepo, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="nope"):
        source_for(repo, tmp_path, branch="nope").fetch()


def test_credentials_in_the_url_never_reach_an_error_or_description(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"https://deploy:s3cret-token@127.0.0.1:{port}/team/desired.git"
    source = GitSource(GitSettings(repo=url, cache_dir=tmp_path / "cache"))
    with pytest.raises(FetchError) as caught:
        source.fetch()
    assert "s3cret" not in str(caught.value) and "deploy:" not in str(caught.value)
    assert "s3cret" not in source.description
    assert "s3cret" not in str(source.cache)
    assert cache_key(repo=url, branch="main") == cache_key(
        repo=f"https://127.0.0.1:{port}/team/desired.git", branch="main"
    )


def test_redact_strips_userinfo_anywhere_in_a_text() -> None:
    text = "fatal: unable to access 'https://u:p@h.example/x.git/' and ssh://git@h/y"
    assert redact(text) == "fatal: unable to access 'https://h.example/x.git/' and ssh://h/y"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung git remote."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_hung_remote_times_out_instead_of_hanging(silent_server: int, tmp_path: Path) -> None:
    source = GitSource(
        GitSettings(
            repo=f"git://127.0.0.1:{silent_server}/x.git", cache_dir=tmp_path / "c", timeout=1.0
        )
    )
    with pytest.raises(FetchError, match="timed out"):
        source.fetch()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- local directories and revision_of ----------------------------------------------------------


def test_local_source_revision_is_a_content_hash_that_follows_the_content(tmp_path: Path) -> None:
    directory = tmp_path / "desired"
    directory.mkdir()
    (directory / "service.yaml").write_text("version: 1\n")
    source = LocalSource(paths=[directory])
    first = source.fetch().revision
    assert first.startswith("sha256-") and source.fetch().revision == first
    (directory / "service.yaml").write_text("version: 2\n")
    assert source.fetch().revision != first
    with source.checkout(first) as checkout:
        assert checkout.paths == (directory.resolve(),)


def test_local_source_missing_directory_is_a_temporary_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        LocalSource(paths=[tmp_path / "absent"]).fetch()


def test_revision_of_a_clean_and_a_dirty_work_tree(repo: GitRepo) -> None:
    desired = repo.work / "desired"
    assert revision_of([desired]) == repo.head()
    (desired / "service.yaml").write_text("version: 9\n")
    assert revision_of([desired]) == f"{repo.head()}-dirty"


def test_problems_are_shown_relative_to_the_repository(tmp_path: Path) -> None:
    checkout = Checkout(revision="abc", paths=(tmp_path / "desired",), root=tmp_path)
    problem = Problem(str(tmp_path / "desired" / "service.yaml"), 3, "spec.image", "bad")
    assert checkout.relocate([problem])[0].file == "desired/service.yaml"
