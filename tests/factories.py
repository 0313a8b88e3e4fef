"""Plain-data builders for the model: the seed's "feedback" service, desired and observed.

Every builder returns a model object with the seed architecture's values; keyword arguments
replace fields (``group_spec(max_size=6)``). ``observed_service(desired)`` builds what AWS holds
when it already matches ``desired`` exactly, so a test states only the one thing it changes::

    d = desired_service()
    o = with_group(observed_service(d), max_size=6)

No I/O and no reconciler module beyond ``model``: UserData is rendered by ``user_data`` here,
a stand-in for ``reconciler.images.userdata.render`` with the same ``${IMAGE}`` → ``repo@sha256:…``
rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from reconciler.images.description import description
from reconciler.model import (
    DEFAULT_OWNER,
    POLICY_METRIC,
    POLICY_TYPE,
    TAG_FAILED_FINGERPRINT,
    TAG_OWNER,
    TAG_SERVICE,
    AutoScalingGroupSpec,
    DesiredService,
    HealthCheckSpec,
    ImageSpec,
    LaunchTemplateSpec,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    RefreshStatus,
    ResolvedImage,
    RolloutSpec,
    ScalingSpec,
    ServiceSpec,
    SourceRef,
    TargetGroupSpec,
    scaling_policy_name,
)

OWNER = DEFAULT_OWNER
SERVICE = "feedback"
REGION = "us-east-1"
REPOSITORY = "ghcr.io/johnhuh619/simple-api"
GROUP = "feedback-asg"
TEMPLATE = "feedback-app-template"
TEMPLATE_ID = "lt-0123456789abcdef0"
TARGET_GROUP = "feedback-tg"
TARGET_GROUP_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/feedback-tg/0123456789abcdef"
)
GROUP_ARN = (
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"
    "11111111-2222-3333-4444-555555555555:autoScalingGroupName/feedback-asg"
)
REVISION = "0f877b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f70"
POLICY = scaling_policy_name(SERVICE)
# Digests whose short forms (first 12 hex) are easy to spot in assertions.
DIGEST_A = "sha256:1a2b3c4d5e6f" + "0" * 52
DIGEST_B = "sha256:9f8e7d6c5b4a" + "1" * 52
DIGEST_C = "sha256:c0ffee000000" + "2" * 52

USER_DATA_TEMPLATE = """#!/bin/bash
set -euo pipefail
IMAGE="${IMAGE}"
docker pull "$IMAGE"
docker run -d --name feedback --restart always -p 8080:8080 "$IMAGE"
"""
# What the seed's workflow renders: a mutable tag, pulled at boot.
SEED_USER_DATA = """#!/bin/bash
IMAGE_TAG="latest"
docker pull ghcr.io/johnhuh619/simple-api:$IMAGE_TAG
docker run -d -p 8080:8080 ghcr.io/johnhuh619/simple-api:$IMAGE_TAG
"""


# ------------------------------------------------------------------------------------------------
# Desired
# ------------------------------------------------------------------------------------------------


def health_check(**overrides: Any) -> HealthCheckSpec:
    values: dict[str, Any] = {
        "path": "/actuator/health",
        "port": "8080",
        "interval_seconds": 30,
        "timeout_seconds": 5,
        "healthy_threshold": 2,
        "unhealthy_threshold": 2,
        "matcher": "200",
        "protocol": "HTTP",
    }
    return HealthCheckSpec(**{**values, **overrides})


def target_group_spec(**overrides: Any) -> TargetGroupSpec:
    values: dict[str, Any] = {"name": TARGET_GROUP, "health_check": health_check()}
    return TargetGroupSpec(**{**values, **overrides})


def launch_template_spec(**overrides: Any) -> LaunchTemplateSpec:
    values: dict[str, Any] = {
        "name": TEMPLATE,
        "user_data": "feedback-userdata.sh",
        "user_data_path": Path("desired/feedback-userdata.sh"),
        "template": USER_DATA_TEMPLATE,
    }
    return LaunchTemplateSpec(**{**values, **overrides})


def group_spec(**overrides: Any) -> AutoScalingGroupSpec:
    values: dict[str, Any] = {
        "name": GROUP,
        "min_size": 2,
        "max_size": 4,
        "desired_capacity": 2,
        "health_check_type": "ELB",
        "health_check_grace_period": 300,
    }
    return AutoScalingGroupSpec(**{**values, **overrides})


def rollout_spec(**overrides: Any) -> RolloutSpec:
    values: dict[str, Any] = {
        "min_healthy_percentage": 50,
        "max_healthy_percentage": 100,
        "instance_warmup": 300,
        "checkpoint_percentages": (50, 100),
        "checkpoint_delay": 60,
        "auto_rollback": True,
        "skip_matching": False,
    }
    return RolloutSpec(**{**values, **overrides})


def source_ref(**overrides: Any) -> SourceRef:
    values: dict[str, Any] = {"file": "desired/desired.yaml", "line": 1, "revision": REVISION}
    return SourceRef(**{**values, **overrides})


def service_spec(**overrides: Any) -> ServiceSpec:
    values: dict[str, Any] = {
        "name": SERVICE,
        "region": REGION,
        "image": ImageSpec(repository=REPOSITORY, tag="latest"),
        "launch_template": launch_template_spec(),
        "auto_scaling_group": group_spec(),
        "target_group": target_group_spec(),
        "rollout": rollout_spec(),
        "scaling": ScalingSpec(target_cpu_utilization=70.0),
        "source": source_ref(),
    }
    return ServiceSpec(**{**values, **overrides})


def resolved_image(**overrides: Any) -> ResolvedImage:
    values: dict[str, Any] = {"repository": REPOSITORY, "tag": "latest", "digest": DIGEST_A}
    return ResolvedImage(**{**values, **overrides})


def user_data(image: ResolvedImage | str, *, template: str = USER_DATA_TEMPLATE) -> str:
    """Render ``template`` for ``image`` (a ResolvedImage, or any reference string)."""
    reference = image.pinned if isinstance(image, ResolvedImage) else image
    return template.replace("${IMAGE}", reference)


def fingerprint(template_name: str, rendered: str) -> str:
    """Same recipe as ``reconciler.images.userdata.fingerprint``: sha256 of name, NUL, UserData."""
    return hashlib.sha256(f"{template_name}\0{rendered}".encode()).hexdigest()[:16]


def desired_service(
    *,
    image: ResolvedImage | None = None,
    rendered: str | None = None,
    **spec_overrides: Any,
) -> DesiredService:
    """A DesiredService; ``spec_overrides`` go to ``service_spec`` (``scaling=None``, ...)."""
    spec = service_spec(**spec_overrides)
    image = image or resolved_image()
    text = (
        rendered
        if rendered is not None
        else user_data(image, template=spec.launch_template.template)
    )
    return DesiredService(
        spec=spec,
        image=image,
        user_data=text,
        fingerprint=fingerprint(spec.launch_template.name, text),
    )


# ------------------------------------------------------------------------------------------------
# Observed
# ------------------------------------------------------------------------------------------------


def owned_tags(*, owner: str = OWNER, service: str = SERVICE, **extra: str) -> dict[str, str]:
    return {TAG_OWNER: owner, TAG_SERVICE: service, **extra}


def version_of(desired: DesiredService, number: int, **overrides: Any) -> LaunchTemplateVersion:
    """A launch template version the reconciler created for ``desired``."""
    values: dict[str, Any] = {
        "version_number": number,
        "user_data": desired.user_data,
        "description": description(
            fingerprint=desired.fingerprint, revision=REVISION, image=desired.image
        ),
        "create_time": f"2024-05-0{min(number, 9)}T10:00:00Z",
    }
    return LaunchTemplateVersion(**{**values, **overrides})


def foreign_version(number: int, *, user_data: str, description: str = "") -> LaunchTemplateVersion:
    """A version someone else made (the seed's workflow, the console)."""
    return LaunchTemplateVersion(
        version_number=number, user_data=user_data, description=description
    )


def observed_template(**overrides: Any) -> ObservedLaunchTemplate:
    versions = overrides.get("versions", ())
    top = max((v.version_number for v in versions), default=1)
    values: dict[str, Any] = {
        "id": TEMPLATE_ID,
        "name": TEMPLATE,
        "default_version": top,
        "latest_version": top,
        "tags": owned_tags(),
        "versions": versions,
    }
    return ObservedLaunchTemplate(**{**values, **overrides})


def instance(instance_id: str = "i-0000000000000001", **overrides: Any) -> ObservedInstance:
    values: dict[str, Any] = {
        "instance_id": instance_id,
        "availability_zone": "us-east-1a",
        "lifecycle_state": "InService",
        "health_status": "Healthy",
        "launch_template_version": "3",
    }
    return ObservedInstance(**{**values, **overrides})


def instances(version: str = "3", *, count: int = 2) -> tuple[ObservedInstance, ...]:
    zones = ("us-east-1a", "us-east-1c")
    return tuple(
        instance(f"i-{n:017x}", availability_zone=zones[n % 2], launch_template_version=version)
        for n in range(1, count + 1)
    )


def observed_group(**overrides: Any) -> ObservedAutoScalingGroup:
    values: dict[str, Any] = {
        "name": GROUP,
        "arn": GROUP_ARN,
        "min_size": 2,
        "max_size": 4,
        "desired_capacity": 2,
        "health_check_type": "ELB",
        "health_check_grace_period": 300,
        "launch_template_id": TEMPLATE_ID,
        "launch_template_name": TEMPLATE,
        "launch_template_version": "3",
        "target_group_arns": (TARGET_GROUP_ARN,),
        "tags": owned_tags(),
        "instances": instances("3"),
    }
    return ObservedAutoScalingGroup(**{**values, **overrides})


def observed_target_group(**overrides: Any) -> ObservedTargetGroup:
    values: dict[str, Any] = {
        "arn": TARGET_GROUP_ARN,
        "name": TARGET_GROUP,
        "health_check": health_check(),
        "tags": owned_tags(),
    }
    return ObservedTargetGroup(**{**values, **overrides})


def cpu_policy(**overrides: Any) -> ObservedScalingPolicy:
    values: dict[str, Any] = {
        "name": POLICY,
        "policy_type": POLICY_TYPE,
        "metric": POLICY_METRIC,
        "target_value": 70.0,
    }
    return ObservedScalingPolicy(**{**values, **overrides})


def refresh(**overrides: Any) -> ObservedRefresh:
    values: dict[str, Any] = {
        "refresh_id": "rf-0001",
        "status": RefreshStatus.IN_PROGRESS,
        "percentage_complete": 50,
        "instances_to_update": 1,
        "status_reason": "",
        "desired_version": "3",
        "start_time": "2024-05-03T10:00:00Z",
    }
    return ObservedRefresh(**{**values, **overrides})


def observed_service(desired: DesiredService | None = None, **overrides: Any) -> ObservedService:
    """What AWS holds when it matches ``desired``: the group on version 3, which holds it.

    Versions 1 and 2 are older deploys (the seed's mutable tag, then DIGEST_C).
    """
    desired = desired or desired_service()
    older = desired_service(image=resolved_image(tag="previous", digest=DIGEST_C))
    versions = (
        foreign_version(1, user_data=SEED_USER_DATA),
        version_of(older, 2),
        version_of(desired, 3),
    )
    scaling = desired.spec.scaling
    policies = (cpu_policy(target_value=scaling.target_cpu_utilization),) if scaling else ()
    values: dict[str, Any] = {
        "name": desired.name,
        "auto_scaling_group": observed_group(),
        "launch_template": observed_template(versions=versions),
        "target_group": observed_target_group(),
        "scaling_policies": policies,
        "refreshes": (),
    }
    return ObservedService(**{**values, **overrides})


def with_group(observed: ObservedService, **overrides: Any) -> ObservedService:
    assert observed.auto_scaling_group is not None
    group = dataclasses.replace(observed.auto_scaling_group, **overrides)
    return dataclasses.replace(observed, auto_scaling_group=group)


def with_template(observed: ObservedService, **overrides: Any) -> ObservedService:
    assert observed.launch_template is not None
    template = dataclasses.replace(observed.launch_template, **overrides)
    return dataclasses.replace(observed, launch_template=template)


def with_target_group(observed: ObservedService, **overrides: Any) -> ObservedService:
    assert observed.target_group is not None
    target = dataclasses.replace(observed.target_group, **overrides)
    return dataclasses.replace(observed, target_group=target)


def add_versions(observed: ObservedService, *versions: LaunchTemplateVersion) -> ObservedService:
    """Append versions: latest moves to the newest, the default stays, as in EC2."""
    assert observed.launch_template is not None
    template = observed.launch_template
    merged = (*template.versions, *versions)
    top = max(v.version_number for v in merged)
    return with_template(observed, versions=merged, latest_version=top)


def failed_tags(desired: DesiredService) -> dict[str, str]:
    """Group tags after MARK_FAILED for ``desired``."""
    return {**owned_tags(), TAG_FAILED_FINGERPRINT: desired.fingerprint}
