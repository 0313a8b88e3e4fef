"""The CLI under random misuse (issue 17): hypothesis draws commands, flags, values and paths, good
and bad, and the real entry point must answer each with a documented exit code and never a
traceback or an ``internal error``. Most runs are in-process (``reconciler.cli.main(argv)``); a
few are ``python -m reconciler`` subprocesses, so the process's own exit path is covered too.

The oracle is ``exits.COMMAND_EXITS``: the codes each command may return. The README's command
table is checked against the same table, so a code added in one place and not the other fails.

Bounded: AWS is the sandbox (loopback), ``apply --wait`` is only drawn with a ``--timeout`` that
is refused at parse time (a valid one would follow a rollout), and the long-running commands
(``run``, ``sandbox``, ``demo``) only with a flag value that must be refused.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.cli.exits import _EVERY, COMMAND_EXITS, EXIT_CODES, EXIT_USAGE
from reconciler.sandbox import Sandbox
from tests.test_e2e_core import ROOT, sandbox_copy
from tests.test_loop import desired_repo

JUNK = st.one_of(
    st.sampled_from(["", "-", "--", "-x", "--nope", "=", "nan", "-1", "0", "1e999", "☃", "\x00x"]),
    st.text(max_size=12),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def paths_pool(root: Path) -> list[str]:
    """Desired inputs: a good one, and the bad kinds a user hands the CLI."""
    good = sandbox_copy(root / "good").parent
    bad = root / "bad"
    bad.mkdir()
    (bad / "garbage.yaml").write_text("spec: [unclosed\n  - {")
    (bad / "empty.yaml").write_text("")
    (bad / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01" * 8)
    (bad / "scalar.yml").write_text("42\n")
    (bad / "deep").mkdir()
    (bad / "deep" / "x.yaml").write_text("apiVersion: nope\n")
    return [
        str(good),
        str(good / "desired.yaml"),
        str(bad / "garbage.yaml"),
        str(bad / "empty.yaml"),
        str(bad / "binary.yaml"),
        str(bad / "scalar.yml"),
        str(bad),
        str(root / "missing"),
        str(ROOT / "README.md"),
    ]


def global_flags() -> st.SearchStrategy[list[str]]:
    flag = st.one_of(
        st.tuples(st.just("--region"), st.one_of(st.just("us-east-1"), JUNK)),
        st.tuples(st.just("--owner"), st.one_of(st.just("team-a"), JUNK)),
        st.tuples(st.just("--log-level"), st.one_of(st.sampled_from(["info", "error"]), JUNK)),
        st.tuples(st.just("--endpoint-url"), st.sampled_from(["ftp://x", "127.0.0.1", "http://"])),
    )
    return st.lists(flag, max_size=2).map(lambda pairs: [x for pair in pairs for x in pair])


@st.composite
def one_shot(draw: st.DrawFn, pool: list[str], repo: str) -> list[str]:
    """validate, diff, apply, status, history, retry, rollback, pause: with anything."""
    command = draw(
        st.sampled_from(
            ["validate", "diff", "apply", "status", "history", "retry", "rollback", "pause"]
        )
    )
    argv = [command]
    if command in ("history", "retry", "rollback", "pause"):
        argv.append(draw(st.one_of(st.just("feedback"), JUNK)))
    else:
        argv += draw(st.lists(st.sampled_from(pool), min_size=0, max_size=2))
    options: dict[str, st.SearchStrategy[list[str]]] = {
        "-o": st.one_of(st.sampled_from(["text", "json", "markdown"]), JUNK).map(
            lambda v: ["-o", v]
        ),
        "--yes": st.just(["--yes"]),
        "--wait": st.sampled_from(["0", "-3", "nan", "inf", "soon", ""]).map(
            lambda v: ["--wait", "--timeout", v]  # refused: a valid one would follow a rollout
        ),
        "--timeout": st.one_of(st.sampled_from(["5", "0"]), JUNK).map(lambda v: ["--timeout", v]),
        "-f": st.sampled_from(pool).map(lambda v: ["-f", v]),
        "--to": st.one_of(st.sampled_from(["previous", "HEAD~1", "nope"]), JUNK).map(
            lambda v: ["--to", v]
        ),
        "--repo": st.sampled_from([repo, pool[0], "/nonexistent"]).map(lambda v: ["--repo", v]),
        "--flags": st.sampled_from([["--resume"], ["--dry-run"], ["--reason", "why"]]),
        "junk": JUNK.map(lambda v: [v]),
    }
    names = draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True))
    if "--wait" in names and "--timeout" in names:
        names.remove("--timeout")  # a later valid --timeout would win over the refused one
    for name in names:
        argv += draw(options[name])
    return draw(global_flags()) + argv


@st.composite
def long_running(draw: st.DrawFn) -> list[str]:
    """run, sandbox, demo: always with a value that must be refused before anything starts."""
    bad = {
        "run": st.sampled_from(
            [
                ["--interval", "0"],
                ["--interval", "-5s"],
                ["--listen", "nope"],
                ["--listen", "127.0.0.1:70000"],
                ["--lease-table", "a"],
                ["--external-url", "ftp://x"],
                ["--github-api-url", "x"],
            ]
        ),
        "sandbox": st.sampled_from(
            [
                ["--port", "99999"],
                ["--port", "0"],
                ["--speed", "-5"],
                ["--speed", "0"],
                ["--traffic", "-1"],
                ["--port", "x"],
            ]
        ),
        "demo": st.sampled_from([["--strategy", "sideways"], ["--nope"]]),
    }
    command = draw(st.sampled_from(sorted(bad)))
    extra = ["--repo", "/nonexistent"] if command == "run" else []
    return [*draw(global_flags()), command, *extra, *draw(bad[command])]


def command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if a in COMMAND_EXITS), None)


def check(argv: list[str], code: int, err: str) -> None:
    assert "Traceback" not in err, (argv, err)
    assert "internal error" not in err, (argv, err)
    command = command_of(argv)
    allowed = COMMAND_EXITS[command] if command else {EXIT_USAGE: "usage"}
    assert code in allowed, (argv, code, err)
    if code == EXIT_USAGE and command != "diff":
        assert err.strip(), argv  # a usage error says what was wrong


def run_in_process(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@pytest.fixture(scope="module")
def inputs(
    sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], str]]:
    """The pool of paths and a desired repository; the working directory is a scratch one, so
    ``rollback``/``pause`` without ``--repo`` and ``history`` without ``-f`` find nothing there
    (never this checkout, never the example's images on a public registry)."""
    sandbox_server.reseed()
    root = tmp_path_factory.mktemp("fuzz")
    repo = desired_repo(root / "git", tag="v1.0")
    scratch = root / "cwd"
    scratch.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in repo.env.items():
            if name.startswith("GIT_") or name == "HOME":
                patch.setenv(name, value)
        patch.setenv("AWS_ENDPOINT_URL", sandbox_server.endpoint)
        patch.chdir(scratch)
        yield paths_pool(root), str(repo.work)


def test_random_command_lines_exit_with_a_documented_code(inputs: tuple[list[str], str]) -> None:
    pool, repo = inputs
    started = time.monotonic()
    seen: set[int] = set()

    @settings(
        max_examples=120,
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure reproduces
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(argv=st.one_of(one_shot(pool, repo), long_running(), st.lists(JUNK, max_size=4)))
    def fuzz(argv: list[str]) -> None:
        code, err = run_in_process(argv)
        check(argv, code, err)
        seen.add(code)

    fuzz()
    assert {0, 1, 2} <= seen, seen  # not only usage errors: the commands themselves ran
    assert time.monotonic() - started < 50


def test_random_command_lines_in_a_subprocess(inputs: tuple[list[str], str]) -> None:
    pool, repo = inputs

    @settings(max_examples=3, deadline=None, derandomize=True)
    @given(argv=st.one_of(one_shot(pool, repo), long_running()))
    def fuzz(argv: list[str]) -> None:
        if any("\x00" in a for a in argv):  # not expressible in a real argv
            return
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        check(argv, done.returncode, done.stderr)

    fuzz()


# -- the README's command table lists every code --------------------------------------------------


def readme_rows() -> dict[str, str]:
    """``reconciler COMMAND``'s row in the README's command table → its exit codes column."""
    text = (ROOT / "README.md").read_text()
    rows: dict[str, str] = {}
    for line in text.splitlines():
        found = re.match(r"\| `reconciler (\w+)[^|]*(?:\\\|[^|]*)*\|.*\| ([^|]+) \|$", line)
        if found:
            rows[found.group(1)] = found.group(2)
    return rows


def test_every_exit_code_is_in_the_readme_table() -> None:
    assert set().union(*COMMAND_EXITS.values()) == EXIT_CODES  # one table, no stray code
    rows = readme_rows()
    assert set(rows) == set(COMMAND_EXITS), set(rows) ^ set(COMMAND_EXITS)
    for command, codes in COMMAND_EXITS.items():
        items = re.split(r"[,;] ", rows[command])  # "0 ok, 1 error ..., 2 usage (...)"
        listed = {int(m.group()) for item in items if (m := re.match(r"\d+", item.strip()))}
        own = set(codes) - set(_EVERY)
        assert own <= listed, (command, own - listed, rows[command])
    text = (ROOT / "README.md").read_text()
    for code in _EVERY:
        assert re.search(rf"Every command also exits [^.]*\b{code}\b", text), code
