"""A commit whose image does not resolve is refused like an invalid file (issue 17 #3).

The daemon keeps reconciling the last good revision (hand-made drift is still put back), and
``/status``, the metrics and the log name the refused commit and why, with file:line:field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reconciler import errors
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import ImageSpec
from reconciler.pipeline.admit import admit_images
from reconciler.sandbox import Sandbox
from tests.factories import service_spec
from tests.test_loop import converge, deploy, desired_repo, git_source, make_daemon

TG = "feedback-tg"


def health_check_path(aws: Aws) -> str:
    found = aws.call("elbv2", "describe_target_groups", Names=[TG])["TargetGroups"][0]
    return str(found["HealthCheckPath"])


def drift_health_check(aws: Aws) -> None:
    arn = aws.call("elbv2", "describe_target_groups", Names=[TG])["TargetGroups"][0]
    aws.call(
        "elbv2", "modify_target_group", TargetGroupArn=arn["TargetGroupArn"], HealthCheckPath="/x"
    )


def test_an_unresolvable_image_refuses_the_commit_and_the_last_good_stays_reconciled(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v1.1")
    good = repo.head()
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    converge(daemon, clock=sandbox.clock)
    path = health_check_path(aws)

    bad = deploy(repo, "v9.9")  # no such tag in the sandbox's registry
    drift_health_check(aws)
    with capture_logs() as logs:
        daemon.tick()

    report = daemon.report()
    assert report["revision"] == bad
    assert report["lastGoodRevision"] == good
    error = report["desiredError"]
    assert error["revision"] == bad and error["reason"] == "UnresolvableImage"
    problem = error["problems"][0]
    assert problem["file"] == "desired/desired.yaml" and problem["line"] > 1
    assert problem["field"] == "spec.image.tag"
    assert "v9.9" in problem["message"] and "not found" in problem["message"]
    assert health_check_path(aws) == path  # the last good revision's drift is still corrected
    assert daemon.ready()  # as for an invalid file: the last good revision was reconciled
    stalled = daemon.statuses()["feedback"].condition("Stalled")
    assert stalled.status and stalled.reason == "UnresolvableImage"
    assert f"commit {bad[:12]} refused" in stalled.message
    refused = [e for e in logs if e["event"] == "desired_refused"]
    assert refused and refused[0]["revision"] == bad
    assert refused[0]["last_good_revision"] == good
    metrics = daemon.metrics.render()[0].decode()
    assert "reconciler_desired_valid 0.0" in metrics
    applied = daemon.statuses()["feedback"].applied
    assert applied is not None and applied.revision == good[:12]

    fixed = deploy(repo, "v1.0")
    converge(daemon, clock=sandbox.clock)
    assert daemon.report()["desiredError"] is None
    assert daemon.report()["lastGoodRevision"] == fixed


def test_a_first_commit_with_an_unresolvable_image_reconciles_nothing(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git", tag="v9.9")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    aws.reset_counts()
    assert not daemon.tick().ok
    assert daemon.report()["desiredError"]["reason"] == "UnresolvableImage"
    assert daemon.report()["lastGoodRevision"] is None
    assert not daemon.ready()
    assert aws.calls["DescribeAutoScalingGroups"] == 0  # nothing to reconcile, nothing read


@pytest.mark.parametrize(
    ("image", "field", "words"),
    [
        (ImageSpec(repository="{registry}/simple-api", tag="v9.9"), "spec.image.tag", "not found"),
        (
            ImageSpec(repository="{registry}/simple-api", digest="sha256:" + "0" * 64),
            "spec.image.digest",
            "not found",
        ),
        (ImageSpec(repository="{registry}/nope", tag="v1.1"), "spec.image.tag", "not found"),
    ],
)
def test_each_unresolvable_image_is_a_located_problem(
    sandbox: Sandbox, aws: Aws, image: ImageSpec, field: str, words: str
) -> None:
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    wanted = ImageSpec(
        repository=image.repository.format(registry=registry), tag=image.tag, digest=image.digest
    )
    good = ImageSpec(repository=f"{registry}/simple-api", tag="v1.1")
    specs = [service_spec(name="ok", image=good), service_spec(name="broken", image=wanted)]
    with pytest.raises(errors.UnresolvableImage) as caught:
        admit_images(specs, ImageResolver(aws))
    (problem,) = caught.value.problems
    assert problem.field == field and words in problem.message
    assert "broken" in problem.message
    assert problem.allowed
