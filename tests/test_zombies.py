"""tini as PID 1: the ssh of a git fetch that timed out is reaped, not left a zombie.

The image's ENTRYPOINT is ``tini --``. Without it the daemon is PID 1, and PID 1 inherits every
orphan: git, killed at its timeout, leaves its ssh behind, and when that exits nobody waits for
it. The control runs the fetch as a subreaper itself (prctl PR_SET_CHILD_SUBREAPER, which is what
PID 1 is to its namespace) and finds the zombie; the same fetch under ``tini -s`` (tini as the
subreaper, as it is PID 1 in the image) leaves none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINI = shutil.which("tini") or "/usr/bin/tini"

FAKE_SSH = """#!/bin/sh
# git's ssh that hangs past git's timeout, then exits: as a stalled connection would
sleep 2
exit 255
"""


def fetch(tmp_path: Path, prefix: list[str], *args: str) -> dict[str, Any]:
    ssh = tmp_path / "ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    env = {**os.environ, "GIT_SSH_COMMAND": str(ssh), "GIT_CONFIG_GLOBAL": "/dev/null"}
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.zombie_fetch", *args, str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "timed out after 1s" in str(result["error"])  # the fetch really timed out
    return result


def test_without_an_init_the_timed_out_fetch_leaves_a_zombie(tmp_path: Path) -> None:
    result = fetch(tmp_path, [], "--subreaper")
    assert [comm for _, _, comm in result["zombies"]] == ["ssh"]


def test_under_tini_the_timed_out_fetch_leaves_no_zombie(tmp_path: Path) -> None:
    if not os.access(TINI, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("tini missing: scripts/install-system-packages.sh installs it")
        pytest.skip("tini not installed (apt-get install tini)")
    result = fetch(tmp_path, [TINI, "-s", "--"])
    assert result["zombies"] == []


def test_the_image_runs_the_daemon_under_tini() -> None:
    entrypoint = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("ENTRYPOINT ")
    )  # fmt: skip
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT "))[:2] == ["/usr/bin/tini", "--"]
