"""The rollout plan as a pull request shows it: the real ``reconciler diff`` in a subprocess,
against the sandbox over HTTP, its digests checked against what the sandbox's ECR says the tags
name."""

from __future__ import annotations

from pathlib import Path

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox
from tests.bluegreen_harness import example_copy
from tests.test_commands import apply_wait, cli
from tests.test_e2e_core import SANDBOX_IMAGE
from tests.test_scenarios import GROUP, desired_file


def digest(aws: Aws, tag: str) -> str:
    found: str = aws.call(
        "ecr", "describe_images", repositoryName="simple-api", imageIds=[{"imageTag": tag}]
    )["imageDetails"][0]["imageDigest"]
    return found


def plan_of(page: str) -> str:
    """The markdown's rollout plan section, up to the end of its list."""
    start = page.index("**Rollout plan")
    end = page.find("\n\n", page.index("\n- ", start) + 1)
    return page[start : end if end >= 0 else None]


def test_the_pull_request_comment_shows_a_rolling_rollout_plan(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    broken = desired_file(tmp_path, "v2.1")
    code, out, err = cli(frozen, "diff", "--output", "markdown", str(broken))
    assert code == 2, out + err
    plan = plan_of(out)
    v21, v11 = digest(aws, "v2.1"), digest(aws, "v1.1")
    assert plan.startswith("**Rollout plan (rolling: one instance refresh):**"), plan
    assert f"- image: v2.1 → `{SANDBOX_IMAGE}@{v21}` (running now: latest (unpinned" in plan
    assert "- refresh: min healthy 50%, max healthy 100%, instance warmup 300 s (5 min)," in plan
    assert "- checkpoint 50%: held until the gates below pass, and at least" in plan
    assert "  - 5xx rate: at most" in plan and "  - p99 latency: at most" in plan
    # The seed's version 1 is what a failure goes back to, pulling its mutable tag.
    assert "- if this goes wrong: RollbackInstanceRefresh back to launch template version 1" in plan
    assert "Gates:" not in out

    good = desired_file(tmp_path, "v1.1")
    assert apply_wait(frozen, good).code == 0

    code, out, err = cli(frozen, "diff", str(broken))
    assert code == 2, out + err
    assert f"(running now: v1.1 ({v11}))" in out
    rollback = next(line.strip() for line in out.splitlines() if "if this goes wrong" in line)
    assert rollback.startswith(
        f"if this goes wrong: RollbackInstanceRefresh back to launch template version 2"
        f" (v1.1 ({v11})), about "
    ), rollback

    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=7)
    code, out, err = cli(frozen, "diff", "--output", "markdown", str(good))
    assert code == 2, out + err
    assert "**Rollout plan (rolling): no rollout: only settings change" in out


def test_the_pull_request_comment_shows_a_blue_green_rollout_plan(
    frozen: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    path = example_copy(tmp_path, tag="v1.1")
    code, out, err = cli(frozen, "diff", "--output", "markdown", str(path))
    assert code == 2, out + err
    plan = plan_of(out)
    assert plan.startswith(
        "**Rollout plan (blueGreen: green takes the traffic from blue on feedback-alb:80):**"
    ), plan
    assert f"- image: v1.1 → `{SANDBOX_IMAGE}@{digest(aws, 'v1.1')}`" in plan
    steps = [line for line in plan.splitlines() if line.startswith("- step ")]
    assert steps == [
        "- step 1: 10% to green, held 180 s (3 min)",
        "- step 2: 50% to green, held 180 s (3 min)",
        "- step 3: 100% to green; blue stays at full capacity for 3600 s (60 min), still judged,"
        " then scales down to 0",
    ]
    assert "- gates, judged at every step; a step goes on only once they pass:" in plan
    assert (
        "- if this goes wrong: a listener flip, all traffic back to blue on launch template" in plan
    )
