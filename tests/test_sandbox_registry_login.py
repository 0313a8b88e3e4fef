"""The sandbox checks that a boot script logs in to ECR before it pulls, as EC2 would find out.

Pure cases of ``registry_login.refusal`` first; then instances launched over HTTP through the
sandbox with scripts both ways; then ``reconciler apply --wait`` with a template that forgot the
login, which the rollout analysis fails and rolls back, and the shipped one, which goes through.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded, boot_script, registry_login
from tests.sandbox_calls import pin_group, pinned, version_with
from tests.test_commands import apply_wait, newest_refresh
from tests.test_sandbox import target_states
from tests.test_scenarios import desired_file

REG = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMG = f"{REG}/simple-api@sha256:{'ab' * 32}"
TOKEN = "aws ecr get-login-password --region us-east-1"
STDIN = f"--password-stdin {REG}"
LOGIN = f"{TOKEN} | docker login --username AWS {STDIN}"
PULL = f"docker pull {IMG}"


@pytest.mark.parametrize(
    "script",
    [
        f"{LOGIN}\ndocker pull {IMG}\ndocker run -d {IMG}",
        f"{LOGIN} || exit 1\ndocker run -d -p 8080:8080 {IMG}",
        f"set -e; {LOGIN}; docker pull {IMG}",
        f"{TOKEN} \\\n  | docker login -u AWS --password-stdin https://{REG}\n{PULL}",
        f'R="{REG}"\n{TOKEN} | docker login --username AWS --password-stdin "$R"\n{PULL}',
        f"sudo {LOGIN.replace('| docker', '| sudo docker')}\nsudo docker pull {IMG}",
        f"{LOGIN}\ndocker image pull {IMG}",
        # The Amazon ECR credential helper authenticates every pull from ECR.
        f"echo '{{\"credsStore\": \"ecr-login\"}}' > /root/.docker/config.json\ndocker pull {IMG}",
        # Nothing from ECR: not the sandbox's to judge.
        "docker pull ghcr.io/owner/app@sha256:" + "cd" * 32,
        "docker run -d nginx",
        "echo no container at all",
        # A commented-out pull is not a pull.
        f"# docker pull {IMG}\n{LOGIN}\ndocker pull {IMG}",
    ],
)  # fmt: skip
def test_scripts_that_log_in_first_or_pull_nothing_from_ecr_start(script: str) -> None:
    assert registry_login.refusal("#!/bin/bash\n" + script + "\n") is None


@pytest.mark.parametrize(
    ("script", "verb"),
    [
        (f"docker pull {IMG}\ndocker run -d {IMG}", "pull"),
        (f"docker run -d -p 8080:8080 {IMG}", "run"),  # run pulls, with the same credentials
        (f"docker create {IMG}", "create"),
        (f"docker pull {IMG}\n{LOGIN}", "pull"),  # logged in too late
        (f"# {LOGIN}\ndocker pull {IMG}", "pull"),  # a commented-out login
        (f"docker login --username AWS {STDIN} < /tmp/token\n{PULL}", "pull"),
        (f"docker login -u AWS -p hunter2 {REG}\n{PULL}", "pull"),  # a password in UserData
        (f"echo x | docker login --username AWS {STDIN}\n{PULL}", "pull"),
        (f"{TOKEN} | docker login --username me {STDIN}\n{PULL}", "pull"),
        # Logged in to another registry, or another ECR registry, only.
        (f"{LOGIN.replace('123456789012', '210987654321')}\ndocker pull {IMG}", "pull"),
        (f"echo t | docker login --username u --password-stdin ghcr.io\n{PULL}", "pull"),
        # The seed's script without its login.
        (f'REGISTRY="{REG}"\nTAG="latest"\ndocker pull $REGISTRY/simple-api:$TAG', "pull"),
    ],
)  # fmt: skip
def test_scripts_that_pull_from_ecr_without_logging_in_never_start(script: str, verb: str) -> None:
    reason = registry_login.refusal("#!/bin/bash\n" + script + "\n")
    assert reason is not None
    assert reason.startswith(f"docker {verb} of an image in {REG} without logging in")
    assert "no basic auth credentials" in reason


def _no_login(seeded: Seeded, tag: str) -> str:
    return "\n".join(line for line in pinned(seeded, tag).splitlines() if "login" not in line)


@pytest.mark.parametrize("logs_in", [True, False], ids=["logs-in", "no-login"])
def test_a_launched_instance_starts_only_if_its_script_logged_in(
    frozen: Sandbox, aws: Aws, seeded: Seeded, logs_in: bool
) -> None:
    script = pinned(seeded, "v1.1") if logs_in else _no_login(seeded, "v1.1")
    assert ("docker login" in script) is logs_in
    before = set(target_states(aws, seeded.target_group_arn))
    pin_group(aws, seeded, version_with(aws, seeded, script))
    aws.call(
        "autoscaling",
        "set_desired_capacity",
        AutoScalingGroupName="feedback-asg",
        DesiredCapacity=3,
    )
    frozen.clock.advance(600)  # boot (60 s) and enough health checks either way
    states = target_states(aws, seeded.target_group_arn)
    added = {states[i] for i in set(states) - before}
    if logs_in:
        assert added == {"healthy"}
    else:  # never healthy; the group replaces each one that fails its checks, as in AWS
        assert "unhealthy" in added and "healthy" not in added
    assert {states[i] for i in before} == {"healthy"}  # the seed's own script logs in


def test_the_seeds_own_boot_script_logs_in(seeded: Seeded) -> None:
    # Launch template version 1, the seed's architecture: its instances serve from the start.
    registry = seeded.repository_uri.partition("/")[0]
    script = boot_script.render(
        registry=registry, repository=seeded.repository_uri, region=seeded.region
    )
    assert registry_login.refusal(script) is None
    assert registry_login.refusal(script.replace("| docker login", "| cat")) is not None


def _template_without_login(path: Path) -> None:
    template = path.parent / "feedback-userdata.sh"
    text = template.read_text()
    assert "${REGISTRY_LOGIN} || boot_failed" in text
    template.write_text(text.replace("${REGISTRY_LOGIN} || boot_failed", ": || boot_failed"))


def test_apply_wait_with_a_template_that_forgot_the_login_fails_and_rolls_back(
    frozen: Sandbox, aws: Aws, seeded: Seeded, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    _template_without_login(path)
    done = apply_wait(frozen, path)
    assert done.code == 3, done.out
    assert done.out.strip().splitlines()[-1] == "apply --wait: failed"
    assert newest_refresh(aws)["Status"] in ("RollbackSuccessful", "Cancelled")


def test_apply_wait_with_the_shipped_template_goes_through(
    frozen: Sandbox, aws: Aws, seeded: Seeded, tmp_path: Path
) -> None:
    path = desired_file(tmp_path, "v1.1")
    shutil.copy(
        Path(__file__).resolve().parent.parent / "desired" / "feedback-userdata.sh", path.parent
    )
    done = apply_wait(frozen, path)
    assert done.code == 0, done.out
    assert done.out.strip().splitlines()[-1] == "apply --wait: ready"
    assert newest_refresh(aws)["Status"] == "Successful"
