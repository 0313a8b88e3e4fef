"""Every way a user can misuse the CLI ends in one clear line and a documented exit code (issue 17
#17, #19): checked at parse time where argparse can, at start where only the machine can tell
(a busy port, a directory that cannot be written), and never as ``internal error: <exception>``.

In-process runs call ``reconciler.cli.main(argv)``, the real entry point; the ones whose point
is the process (a closed pipe, a busy port) run ``python -m reconciler`` in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.cli.parser import build_parser
from reconciler.sandbox import Sandbox
from tests.test_e2e_core import ROOT, sandbox_copy

DESIRED = str(ROOT / "desired")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- refused at parse time: exit 2, the flag named, what is allowed -------------------------------

MISUSE = [
    # (argv, words the message must hold)
    (["--log-level", "loud", "validate", DESIRED], ["--log-level", "loud", "debug, info"]),
    (["--owner", "", "validate", DESIRED], ["--owner", "tag value"]),
    (["--owner", "a" * 257, "validate", DESIRED], ["--owner", "1-256"]),
    (["--owner", "team<x>", "validate", DESIRED], ["--owner", "tag value"]),
    (["--region", "mars", "validate", DESIRED], ["--region", "us-east-1"]),
    (["--endpoint-url", "localhost:4566", "validate", DESIRED], ["--endpoint-url", "http(s)"]),
    (
        ["--endpoint-url", "http://h:99999", "validate", DESIRED],
        ["--endpoint-url", "Port out of range"],
    ),
    (["sandbox", "--speed", "-5"], ["--speed", "more than 0"]),
    (["sandbox", "--speed", "0"], ["--speed", "more than 0"]),
    (["sandbox", "--speed", "nan"], ["--speed", "finite"]),
    (["sandbox", "--speed", "fast"], ["--speed", "not a number"]),
    (["sandbox", "--port", "99999"], ["--port", "1 to 65535"]),
    (["sandbox", "--port", "0"], ["--port", "1 to 65535"]),
    (["sandbox", "--port", "-1"], ["--port", "1 to 65535"]),
    (["sandbox", "--traffic", "-1"], ["--traffic", "0 or more"]),
    (["apply", DESIRED, "--wait", "--timeout", "0"], ["--timeout", "more than 0"]),
    (["apply", DESIRED, "--wait", "--timeout", "-5"], ["--timeout", "more than 0"]),
    (["apply", DESIRED, "--wait", "--timeout", "inf"], ["--timeout", "finite"]),
    (["apply", DESIRED, "--timeout", "60"], ["--timeout", "--wait"]),
    (["run", "--repo", ".", "--interval", "0"], ["--interval", "30s"]),
    (["run", "--repo", ".", "--interval", "soon"], ["--interval", "30s"]),
    (["run", "--repo", ".", "--listen", "9090"], ["--listen", "HOST:PORT"]),
    (["run", "--repo", ".", "--listen", "h:70000"], ["--listen", "HOST:PORT"]),
    (["run", "--repo", ".", "--lease-table", "x"], ["--lease-table", "3-255"]),
    (["run", "--repo", ".", "--external-url", "status.example"], ["--external-url", "http(s)"]),
    (["status", DESIRED, "-o", "yaml"], ["--output", "invalid choice"]),
    (["history"], ["service"]),
    (["nonsense"], ["invalid choice"]),
    ([], ["COMMAND"]),
]


@pytest.mark.parametrize(
    ("argv", "words"), MISUSE, ids=[" ".join(a) or "(none)" for a, _ in MISUSE]
)
def test_misuse_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert "internal error" not in err and "Traceback" not in err
    for word in words:
        assert word in err, err
    assert len(err.strip().splitlines()) == 1, err  # one line, not a usage dump


def test_a_bad_owner_from_the_environment_is_refused_as_the_flag_would_be(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_OWNER", "")
    code, _, err = run(capsys, "validate", DESIRED)
    assert code == 2 and "--owner" in err


def test_diff_keeps_its_2_for_changes_so_its_bad_arguments_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "diff", DESIRED, "-o", "yaml")
    assert code == 1 and "invalid choice" in err


@pytest.mark.parametrize("level", ["debug", "info", "WARNING", "error"])
def test_every_documented_log_level_is_accepted(
    capsys: pytest.CaptureFixture[str], level: str
) -> None:
    code, out, _ = run(capsys, "--log-level", level, "validate", DESIRED)
    assert code == 0 and out.startswith("valid:")


# -- --version and --help -------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert re.fullmatch(r"reconciler \d+\.\d+\.\d+\S*\n", out), out


def test_every_command_and_option_is_described() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert commands.choices
    for name, command in commands.choices.items():
        assert command.description, f"{name} --help has no description"
        for action in command._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
    for action in parser._actions:
        assert action.help, f"reconciler {action.option_strings}: no help text"


def test_help_lists_every_command_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("validate", "diff", "apply", "status", "history", "retry", "rollback", "pause"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert len(line.split()) > 1, f"{name} has no description in --help"


# -- the process: a closed pipe, a busy port, a directory that cannot be written -------------------


def reconciler(*argv: str, endpoint: str | None = None, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint or "http://127.0.0.1:9"}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "reconciler", *argv], text=True, env=env, cwd=ROOT, **kwargs
    )


@pytest.mark.parametrize("argv", [["validate", DESIRED], ["status", "-o", "json"]])
def test_a_closed_pipe_exits_141_quietly(sandbox: Sandbox, tmp_path: Path, argv: list[str]) -> None:
    """``reconciler status ... | true``: the reader has gone before the first write."""
    if argv[0] == "status":
        argv = [*argv, str(sandbox_copy(tmp_path).parent)]
    read, write = os.pipe()
    os.close(read)
    try:
        proc = reconciler(*argv, endpoint=sandbox.endpoint, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    for noise in ("internal error", "Traceback", "Exception ignored", "BrokenPipe", "error:"):
        assert noise not in err, err  # a validation warning may be there; nothing about the pipe


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_run_on_a_busy_port_says_so_and_exits_1(busy_port: int, tmp_path: Path) -> None:
    desired = sandbox_copy(tmp_path).parent.parent
    proc = reconciler(
        "run", "--repo", str(desired), "--listen", f"127.0.0.1:{busy_port}",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert f"error: --listen 127.0.0.1:{busy_port}: cannot listen there" in err
    assert "internal error" not in err and "Traceback" not in err


def test_sandbox_on_a_busy_port_says_so_and_exits_1(busy_port: int) -> None:
    proc = reconciler(
        "sandbox", "--port", str(busy_port), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert str(busy_port) in err and "internal error" not in err and "Traceback" not in err


def test_an_unwritable_cache_dir_is_refused_at_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A directory under a file: no write could ever succeed there (root passes mode bits, so
    a read-only mode would not tell)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    repo = sandbox_copy(tmp_path).parent.parent
    code, _, err = run(
        capsys, "run", "--once", "--repo", str(repo), "--cache-dir", str(blocker / "git")
    )
    assert code == 2
    assert f"--cache-dir {blocker / 'git'}: cannot write there" in err
    assert "internal error" not in err
