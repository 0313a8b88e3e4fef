"""`reconciler demo`, the README's main command, as a user runs it: it must pass."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_tells_the_whole_story_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=170,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in done.stderr
    steps = out.split("\n=== ")[1:]
    assert [s.splitlines()[0][:2] for s in steps] == ["1.", "2.", "3."]
    deploy, broken, revert = steps
    assert "→ ready" in deploy and "v1.1 (sha256:" in deploy
    assert "→ failed" in broken and "rolled back automatically" in broken
    assert "rollout writes none (no retry loop)" in broken
    assert "→ ready" in revert
    assert "Every step behaved" in out
