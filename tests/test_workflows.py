"""The GitHub Actions workflows: this repository's CI and the examples in deploy/github/.

- Every action pinned by a full commit SHA with its ``# vX.Y.Z``, one version per action;
  ``permissions: {}`` at workflow level and each job's own; no credentials left in a checkout; no
  dependency or build cache where an image is published; no ``${{ }}`` inside a ``run:`` script.
- The scripts the workflows run are run here: the deploy repository's comment builder (65,536
  characters at most, a cut said so, with links to the full output) and the application
  repository's tag editor (only the tag line changes).
- actionlint and zizmor (--offline, pedantic) are clean, and each still catches what it should
  in the seed's old workflow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_deploy_files import ROOT, linter

CI = ROOT / ".github" / "workflows"
EXAMPLES = ROOT / "deploy" / "github"
APP = EXAMPLES / "app-repo" / "build-and-propose.yml"
PR_DIFF = EXAMPLES / "deploy-repo" / "pr-diff.yml"
ROLLBACK = EXAMPLES / "deploy-repo" / "rollback.yml"
ALL = sorted([*CI.glob("*.yml"), *EXAMPLES.glob("*/*.yml")])
GITHUB_LIMIT = 65_536  # the longest comment body GitHub accepts, in characters
MARKER = "<!-- asg-reconciler-diff -->"
PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(data: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in data["jobs"].values():
        yield from job["steps"]


def step(path: Path, name: str) -> dict[str, Any]:
    return next(s for s in steps(load(path)) if s.get("name") == name)


def script(path: Path, name: str) -> str:
    found = re.search(r"python3 - <<'PY'\n(.*?)\nPY", step(path, name)["run"], re.S)
    assert found is not None
    return found.group(1)


def test_the_workflows_are_where_users_copy_them_from() -> None:
    assert [p.relative_to(ROOT).as_posix() for p in ALL] == [
        ".github/workflows/ci.yml",
        "deploy/github/app-repo/build-and-propose.yml",
        "deploy/github/deploy-repo/pr-diff.yml",
        "deploy/github/deploy-repo/rollback.yml",
    ]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_its_version(path: Path) -> None:
    uses = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert uses
    for line in uses:
        assert PINNED.match(line), line


def test_each_action_is_at_one_version_everywhere() -> None:
    seen: dict[str, set[tuple[str, str]]] = {}
    for path in ALL:
        for line in path.read_text().splitlines():
            found = PINNED.match(line)
            if found:
                seen.setdefault(found[1], set()).add((found[2], found[3]))
    assert {action: len(pins) for action, pins in seen.items()} == dict.fromkeys(seen, 1)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_permissions_are_per_job_and_none_at_the_top(path: Path) -> None:
    data = load(path)
    assert data["permissions"] == {}
    for name, job in data["jobs"].items():
        assert isinstance(job.get("permissions"), dict), name
        assert "write-all" not in str(job["permissions"])
        assert job.get("timeout-minutes"), name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_credentials_persist_and_no_cache_is_restored(path: Path) -> None:
    for s in steps(load(path)):
        uses = s.get("uses", "")
        if uses.startswith("actions/checkout@"):
            assert s["with"]["persist-credentials"] is False
        if uses.startswith(("actions/setup-", "docker/build-push-action@")):
            assert not {"cache", "cache-from", "cache-to"} & set(s.get("with", {})), s


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_expression_is_expanded_inside_a_script(path: Path) -> None:
    """Inputs, outputs and variables reach ``run:`` scripts through ``env:``, never pasted into
    the script, where a value could become code (template injection)."""
    for s in steps(load(path)):
        assert "${{" not in s.get("run", ""), s.get("name")


def test_ci_tests_on_debian_and_publishes_the_image_with_provenance_and_sbom() -> None:
    data = load(CI / "ci.yml")
    assert set(data["on"]) == {"push", "pull_request"}
    test = data["jobs"]["test"]
    assert re.fullmatch(r"debian:trixie@sha256:[0-9a-f]{64}", test["container"]["image"])
    assert step(CI / "ci.yml", "Lint, test, smoke-test the image")["run"] == "./.ci/run"
    image = data["jobs"]["image"]
    assert image["needs"] == "test"
    assert image["permissions"] == {"contents": "read", "packages": "write"}
    build = step(CI / "ci.yml", "Build (and push, except on pull requests)")["with"]
    assert build["provenance"] == "mode=max" and build["sbom"] is True
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert build["labels"] == "${{ steps.meta.outputs.labels }}"
    meta = next(s for s in steps(data) if s.get("id") == "meta")["with"]
    assert meta["images"].endswith("/asg-reconciler")
    assert "type=sha,format=long" in meta["tags"]


def test_the_app_repository_proposes_the_deploy_with_an_app_token() -> None:
    data = load(APP)
    build, propose = data["jobs"]["build"], data["jobs"]["propose"]
    assert build["permissions"] == {"contents": "read", "packages": "write"}
    assert propose["permissions"] == {} and propose["environment"] == "deploy-proposals"
    app = next(s for s in steps(data) if s.get("id") == "app")
    assert app["uses"].startswith("actions/create-github-app-token@")
    assert app["with"]["permission-contents"] == "write"
    assert app["with"]["permission-pull-requests"] == "write"
    opened = step(APP, "Open the pull request")
    assert opened["env"]["GH_TOKEN"] == "${{ steps.app.outputs.token }}"
    assert "gh pr create" in opened["run"]
    assert "GITHUB_TOKEN" not in str(propose)  # it could not start the pull request's checks
    assert step(APP, "Image tag")["run"] == 'echo "tag=sha-${GITHUB_SHA}" >> "$GITHUB_OUTPUT"'
    pushed = step(APP, "Build and push")["with"]
    assert pushed["provenance"] == "mode=max" and pushed["sbom"] is True
    assert ":latest" not in APP.read_text() and ":previous" not in APP.read_text()


def edit_tag(tmp_path: Path, text: str, tag: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "desired.yaml").write_text(text)
    env = {**os.environ, "FILE": str(tmp_path / "desired.yaml"), "TAG": tag}
    return subprocess.run(
        [sys.executable, "-c", script(APP, "Set the tag")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tag_editor_changes_only_the_tag_line(tmp_path: Path) -> None:
    text = (ROOT / "desired" / "desired.yaml").read_text()
    done = edit_tag(tmp_path, text, "sha-" + "a" * 40)
    assert done.returncode == 0, done.stderr
    after = (tmp_path / "desired.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(text.splitlines(), after, strict=True) if a != b]
    assert len(changed) == 1
    old, new = changed[0]
    assert re.match(r"^\s+tag: latest\s+#", old)
    assert new == old.replace("tag: latest", "tag: sha-" + "a" * 40)  # the comment stays
    assert yaml.safe_load("\n".join(after))["spec"]["image"]["tag"] == "sha-" + "a" * 40


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("spec:\n  image:\n    repository: r\n    digest: sha256:abc\n", "found 0 tags, 1 digests"),
        ("spec:\n  image:\n    repository: r\n    tag: a\n    digest: d\n", "found 1 tags"),
        ("a:\n  image:\n    tag: a\nb:\n  image:\n    tag: b\n", "found 2 tags"),
        ("spec:\n  image:\n    repository: r\n  other:\n    tag: x\n", "found 0 tags"),
    ],
)
def test_the_tag_editor_refuses_what_it_cannot_change_alone(
    tmp_path: Path, text: str, why: str
) -> None:
    done = edit_tag(tmp_path, text, "sha-1")
    assert done.returncode != 0 and why in done.stderr
    assert (tmp_path / "desired.yaml").read_text() == text  # nothing written


def test_the_pr_diff_splits_aws_access_from_the_comment() -> None:
    data = load(PR_DIFF)
    assert data["on"]["pull_request"]["paths"] == ["desired/**"]
    diff, comment = data["jobs"]["diff"], data["jobs"]["comment"]
    assert diff["permissions"] == {"contents": "read", "id-token": "write"}
    assert comment["permissions"] == {"pull-requests": "write"}
    aws = next(s for s in diff["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"]["role-to-assume"] == "${{ vars.RECONCILER_DIFF_ROLE_ARN }}"
    run = step(PR_DIFF, "Diff")["run"]
    assert "validate /desired" in run and "diff /desired --output markdown > diff.md" in run
    assert "GITHUB_STEP_SUMMARY" in run
    assert not any("checkout" in s.get("uses", "") for s in comment["steps"])


def write_comment(
    tmp_path: Path, diff: str, *, errors: str = "", code: str = "2"
) -> tuple[str, int]:
    (tmp_path / "diff.md").write_text(diff, encoding="utf-8")
    (tmp_path / "diff.err").write_text(errors, encoding="utf-8")
    env = {
        **os.environ,
        "MARKER": MARKER,
        "EXIT_CODE": code,
        "ARTIFACT_URL": "https://github.example/artifact/1",
        "RUN_URL": "https://github.example/runs/1",
        "HEAD_SHA": "0123456789abcdef",
    }
    subprocess.run(
        [sys.executable, "-c", script(PR_DIFF, "Write the comment")],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=60,
    )
    comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
    return comment, len(comment)


def table(rows: int, cell: str = "b") -> str:
    return "## diff\n| service | field | from | to |\n|---|---|---|---|\n" + "".join(
        f"| feedback | image | a{i} | {cell}{i} |\n" for i in range(rows)
    )


@pytest.mark.parametrize(
    ("diff", "cut"),
    [
        (table(3), False),
        (table(800), False),
        (table(20_000), True),
        (table(2_000, "ü" * 40), True),  # characters, not bytes, are what GitHub counts
        ("<details>\n```diff\n" + "+ line\n" * 30_000 + "```\n</details>\n", True),
        ("_… output truncated: run `reconciler diff` for the full plan._\n", True),
        ("x" * 70_000 + "\n", True),  # one line longer than the limit
    ],
)
def test_the_comment_fits_githubs_limit_and_says_when_it_was_cut(
    tmp_path: Path, diff: str, cut: bool
) -> None:
    comment, length = write_comment(tmp_path, diff)
    assert comment.startswith(MARKER + "\n### asg-reconciler diff: changes pending\n")
    assert length <= GITHUB_LIMIT
    assert ("65,536-character comment limit" in comment) is cut
    assert (
        "https://github.example/artifact/1" in comment
        and "https://github.example/runs/1" in comment
    )
    assert comment.count("```") % 2 == 0
    assert comment.count("<details>") == comment.count("</details>")
    if not cut:
        assert diff in comment


@pytest.mark.parametrize(("code", "verdict"), [("0", "no changes"), ("1", "error (exit 1)")])
def test_the_comment_carries_the_verdict_and_the_errors(
    tmp_path: Path, code: str, verdict: str
) -> None:
    errors = "desired/desired.yaml:7: spec.image.tag: ```bad``` value\n" if code != "0" else ""
    comment, _ = write_comment(tmp_path, "", errors=errors, code=code)
    assert f"asg-reconciler diff: {verdict}" in comment
    if errors:
        assert "desired/desired.yaml:7: spec.image.tag: '''bad''' value" in comment


def test_rollback_needs_the_word_and_pushes_a_commit() -> None:
    data = load(ROLLBACK)
    inputs = data["on"]["workflow_dispatch"]["inputs"]
    assert inputs["confirm"]["required"] is True and inputs["to"]["default"] == "previous"
    assert data["jobs"]["rollback"]["permissions"] == {"contents": "write"}
    assert step(ROLLBACK, "Check the confirmation")["if"] == "inputs.confirm != 'rollback'"
    run = step(ROLLBACK, "Commit the rollback")["run"]
    assert 'rollback "$SERVICE"' in run and "--push" not in run  # the runner pushes
    assert "git push" in step(ROLLBACK, "Push it")["run"]


# -- the linters ---------------------------------------------------------------------------------


def run_linter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_actionlint_is_clean() -> None:
    done = run_linter(linter("actionlint"), "-color=false", "-oneline", *map(str, ALL))
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_is_clean_offline_even_pedantic() -> None:
    done = run_linter(linter("zizmor"), "--offline", "--persona", "pedantic", *map(str, ALL))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout


OLD_WORKFLOW = """\
name: build image
on:
  push:
    branches: [main]
permissions:
  contents: write
  packages: write
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-java@v5
        with:
          distribution: temurin
          java-version: "17"
          cache: gradle
      - run: ./gradlew build
      - uses: docker/build-push-action@v7
        with:
          push: true
"""


def test_zizmor_still_finds_what_the_old_workflows_had(tmp_path: Path) -> None:
    """The seed's build-image.yml in short: a lint that passes it would prove nothing."""
    (tmp_path / "old.yml").write_text(OLD_WORKFLOW)
    done = run_linter(
        linter("zizmor"), "--offline", "--persona", "pedantic", str(tmp_path / "old.yml")
    )
    assert done.returncode != 0
    for audit in ("unpinned-uses", "excessive-permissions", "cache-poisoning", "artipacked"):
        assert audit in done.stdout, audit


@pytest.mark.parametrize("path", [APP, PR_DIFF, ROLLBACK], ids=lambda p: p.name)
def test_the_reconciler_runs_only_by_digest(path: Path, tmp_path: Path) -> None:
    """Each step that runs vars.RECONCILER_IMAGE first refuses a tag: the diff a reviewer reads
    is made by the very reconciler that applies it. Its guard is run here, on a tag and a digest."""
    runners = [
        s
        for s in steps(load(path))
        if s.get("env", {}).get("IMAGE", "").endswith("vars.RECONCILER_IMAGE }}")
    ]
    assert runners
    for s in runners:
        guard = re.search(r'case "\$IMAGE" in\n.*?esac\n', s["run"], re.S)
        assert guard is not None, s.get("name")
        for image, ok in [
            ("ghcr.io/o/asg-reconciler:1.0", False),
            ("ghcr.io/o/asg-reconciler@sha256:" + "a" * 64, True),
        ]:
            done = subprocess.run(
                ["bash", "-c", guard.group(0)],
                env={**os.environ, "IMAGE": image},
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            assert (done.returncode == 0) is ok, (image, done.stdout)
