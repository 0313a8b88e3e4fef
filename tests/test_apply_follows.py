"""``apply`` finishes what it starts and applies only what it showed (issue 17 #5 and #6).

The real ``reconciler`` command in a subprocess against the sandbox, its clock frozen and
stepped once per printed line (``test_commands.drive``'s rule):

- a plain ``apply`` over an older in-flight refresh waits for the cancel to end and starts the
  new refresh, so no group is left on mixed versions with no refresh running;
- ``apply --wait`` never re-applies silently: drift made while it waits is printed and asked
  about (a real terminal on its stdin), and when refused it stops with exit 1, leaving AWS
  alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox
from tests.test_commands import STEP, WALL, cli, mid_rollout, newest_refresh, step_until
from tests.test_scenarios import GROUP, desired_file

TG = "feedback-tg"


def refreshes(aws: Aws) -> list[dict[str, object]]:
    found = aws.call("autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP)
    return list(found["InstanceRefreshes"])


def start_v11_rollout(frozen: Sandbox, aws: Aws, tmp_path: Path) -> None:
    code, out, err = cli(frozen, "apply", "--yes", str(desired_file(tmp_path, "v1.1")))
    assert code == 0, out + err
    step_until(frozen, lambda: mid_rollout(aws))


def test_plain_apply_over_an_older_refresh_waits_for_the_cancel_and_starts_the_new_one(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    start_v11_rollout(frozen, aws, tmp_path)
    older = newest_refresh(aws)["InstanceRefreshId"]

    done = drive_lines(
        frozen, "apply", "--yes", "--poll", "0.05", str(desired_file(tmp_path, "v1.0"))
    )

    assert done[0] == 0, done[1]
    assert "waiting for the older refresh to be cancelled" in done[1]
    found = refreshes(aws)
    assert next(r for r in found if r["InstanceRefreshId"] == older)["Status"] == "Cancelled"
    newest = found[0]
    assert (
        newest["InstanceRefreshId"] != older
    )  # the new refresh is started, not left to a later run
    assert newest["Status"] in ("Pending", "InProgress")


def drive_lines(
    sandbox: Sandbox,
    *args: str,
    answers: str | None = None,
    on_line: dict[str, object] | None = None,
) -> tuple[int, str]:
    """Run ``reconciler ARGS``, stepping the sandbox clock once per line; with ``answers``,
    stdin is a real terminal with those lines typed ahead. ``on_line[text]()`` runs once, at
    the first line that contains ``text`` (a line number would move with the diff's length)."""
    stdin: int | None = None
    master = -1
    if answers is not None:
        master, stdin = os.openpty()
        os.write(master, answers.encode())
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": sandbox.endpoint},
    )
    guard = threading.Timer(WALL, proc.kill)
    guard.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            for text in [t for t in (on_line or {}) if t in line]:
                hook = (on_line or {}).pop(text)
                if callable(hook):
                    hook()
            sandbox.clock.advance(STEP)
            assert len(lines) < 2000, "".join(lines)
        code = proc.wait()
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()
        if stdin is not None:
            os.close(stdin)
            os.close(master)
    out = "".join(lines)
    assert "Traceback" not in out, out
    return code, out


def matcher(aws: Aws) -> str:
    return str(
        aws.call("elbv2", "describe_target_groups", Names=[TG])["TargetGroups"][0]["Matcher"][
            "HttpCode"
        ]
    )


DRIFTED = "200-399"


def drift(aws: Aws) -> None:
    arn = aws.call("elbv2", "describe_target_groups", Names=[TG])["TargetGroups"][0][
        "TargetGroupArn"
    ]
    # A drift that keeps the targets healthy: the rollout's own outcome must not hang on how
    # many lines (each a sandbox step) the output takes before the drift is put back.
    aws.call("elbv2", "modify_target_group", TargetGroupArn=arn, Matcher={"HttpCode": DRIFTED})


def test_apply_wait_asks_before_applying_drift_made_while_it_waits_and_stops_when_refused(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    # "yes" to the diff it shows first; anything else to what it finds later.
    code, out = drive_lines(
        frozen,
        "apply",
        "--wait",
        "--poll",
        "0.05",
        str(path),
        answers="yes\nno\n",
        on_line={"applied 8 of 8 action(s)": lambda: drift(aws)},
    )
    assert code == 1, out
    assert "new changes found while following the rollout" in out
    assert f"matcher: {DRIFTED} → 200" in out  # the change it wanted is printed
    assert "apply --wait: stopped: new changes were not applied" in out
    assert matcher(aws) == DRIFTED  # and not applied


def test_apply_wait_yes_prints_what_it_finds_before_applying_it(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    code, out = drive_lines(
        frozen,
        "apply",
        "--yes",
        "--wait",
        "--poll",
        "0.05",
        str(path),
        on_line={"applied 8 of 8 action(s)": lambda: drift(aws)},
    )
    assert code == 0, out
    printed = out.index("new changes found while following the rollout")
    assert f"matcher: {DRIFTED} → 200" in out[printed:]
    assert matcher(aws) == "200"  # shown, then applied
