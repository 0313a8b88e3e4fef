"""`reconciler demo`, the README's main command, as a user runs it: it must pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def run_demo(*args: str) -> tuple[str, list[str]]:
    """``reconciler demo ARGS`` as a user runs it, no sandbox endpoint inherited: its output,
    and that output cut at each step's ``===`` heading. Fails unless it exits 0 cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=170,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in done.stderr
    return out, out.split("\n=== ")[1:]


def test_demo_tells_the_whole_story_and_exits_0() -> None:
    out, steps = run_demo()
    assert [s.splitlines()[0][:2] for s in steps] == ["1.", "2.", "3.", "4.", "5."]
    deploy, broken, revert, incident, revert_again = steps
    assert "→ ready" in deploy and "v1.1 (sha256:" in deploy
    # v2.0 never passes a health check: caught once its grace period is over, not after AWS's hour.
    assert (
        "→ failed" in broken and "failed its health checks after the 300 s grace period" in broken
    )
    assert "rollout writes none (no retry loop)" in broken
    assert detected_minutes(broken) < 10
    assert "→ ready" in revert
    # v2.1 passes its health check and answers 500s: only the 5xx rate can catch it.
    assert "→ failed" in incident and "analysis failed: 5xx rate" in incident
    assert detected_minutes(incident) < 10
    assert "only good version: never" not in incident
    served = re.search(r"blast radius:\s+(\d+) requests", incident)
    assert served is not None and 0 < int(served.group(1)) < 5000
    assert "→ ready" in revert_again
    assert "Every step behaved" in out


def detected_minutes(step: str) -> float:
    found = re.search(r"detected:\s+([\d.]+) sandbox minutes", step)
    assert found is not None, step
    return float(found.group(1))


def test_the_blue_green_demo_catches_v2_1_at_its_first_step_and_exits_0() -> None:
    out, steps = run_demo("--strategy", "blue-green")
    assert [s.splitlines()[0][:2] for s in steps] == ["1.", "2.", "3."]
    deploy, canary, revert = steps
    assert "→ ready" in deploy
    for share in ("green takes 10%", "green takes 50%", "green takes 100%"):
        assert share in deploy
    # v2.1 never gets past its first step, and traffic is back on green in the same tick.
    assert "blue takes 10%" in canary and "blue takes 50%" not in canary
    assert "→ failed" in canary and "the analysis failed blue at 10% (5xx rate" in canary
    detected = detected_minutes(canary)
    flipped = re.search(r"bad side's traffic:\s+([\d.]+) sandbox minutes", canary)
    assert flipped is not None and float(flipped.group(1)) == detected
    assert "rollout writes none (no retry loop)" in canary
    served = re.search(r"blast radius:\s+(\d+) requests", canary)
    assert served is not None and 0 < int(served.group(1)) < 400
    assert "→ ready after 0.0 sandbox minutes" in revert
    assert "Every step behaved" in out
