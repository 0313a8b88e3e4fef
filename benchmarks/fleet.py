"""Shared by the benchmarks and tests/test_observe.py: a fleet of N services in the sandbox.

Each service has its own Auto Scaling group, launch template and target group, created through
``Aws.call`` already in sync with a desired file written next to them (tags, pinned UserData,
health check, scaling policy), so the reconciler converges in a pass or two instead of running
N instance refreshes. Also: a naive per-service observer to compare with, a sandbox started
in-process with fake credentials, and the BENCHMARKS.md section writer.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import desired
from reconciler.aws import Aws
from reconciler.cli import logs
from reconciler.images.description import description
from reconciler.images.resolver import ImageResolver
from reconciler.model import (
    DEFAULT_OWNER,
    POLICY_METRIC,
    POLICY_TYPE,
    TAG_OWNER,
    TAG_SERVICE,
    ServiceSpec,
    scaling_policy_name,
)
from reconciler.pipeline.apply import health_check_params
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome, prepare
from reconciler.sandbox import Sandbox, SandboxClock, Seeded

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
AMI_ID = "ami-04681a1dbd79675a5"  # one of the AMIs moto knows (the seed uses it too)
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def quiet_logs() -> None:
    """Warnings only, on stderr: stdout is for the figures."""
    logs.configure(level="warning", json=True)


def fake_credentials() -> None:
    """Fake credentials only: no profile or config file that could name a real account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(_FAKE_ENV)


@contextmanager
def sandbox(*, speed: float = 0.0) -> Iterator[Sandbox]:
    """A seeded sandbox in this process, its clock frozen unless ``speed`` says otherwise."""
    fake_credentials()
    quiet_logs()
    with Sandbox(port=0, region=REGION, clock=SandboxClock(speed=speed)) as server:
        server.seed()
        yield server


def service_name(index: int) -> str:
    return f"svc-{index:03d}"


def service_yaml(name: str, *, repository: str, tag: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: Service
metadata:
  name: {name}
spec:
  region: {REGION}
  image:
    repository: {repository}
    tag: {tag}
  launchTemplate:
    name: {name}-lt
    userData: app-userdata.sh
  autoScalingGroup:
    name: {name}-asg
    minSize: 1
    maxSize: 2
    desiredCapacity: 1
    healthCheckType: ELB
    healthCheckGracePeriod: 300
  targetGroup:
    name: {name}-tg
    healthCheck:
      path: /actuator/health
      port: "8080"
      intervalSeconds: 30
      timeoutSeconds: 5
      healthyThreshold: 2
      unhealthyThreshold: 2
      matcher: "200"
  rollout:
    minHealthyPercentage: 50
    maxHealthyPercentage: 100
    instanceWarmup: 300
    checkpointPercentages: [50, 100]
    checkpointDelay: 60
    autoRollback: true
  scaling:
    targetCpuUtilization: 70
"""


def write_desired(directory: Path, count: int, *, repository: str, tag: str = "v1.1") -> Path:
    """One desired.yaml with ``count`` services (one YAML document each) and its UserData."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "desired" / "feedback-userdata.sh", directory / "app-userdata.sh")
    docs = [service_yaml(service_name(i), repository=repository, tag=tag) for i in range(count)]
    path = directory / "desired.yaml"
    path.write_text("---\n".join(docs), encoding="utf-8")
    return path


@dataclass
class Fleet:
    """N services created in the sandbox and the specs that describe them."""

    specs: tuple[ServiceSpec, ...]
    path: Path


def create_fleet(aws: Aws, seeded: Seeded, directory: Path, count: int) -> Fleet:
    """Write the desired file for ``count`` services and create their resources, in sync."""
    path = write_desired(directory, count, repository=seeded.repository_uri)
    specs = desired.load([path]).services
    resolver = ImageResolver(aws)
    subnets = fleet_subnets(aws, seeded)
    for spec in specs:
        _create_service(aws, seeded, spec, resolver, subnets=subnets)
    return Fleet(specs=specs, path=path)


def fleet_subnets(aws: Aws, seeded: Seeded) -> str:
    """Two /20 subnets of the seed's VPC: the seed's /24s hold ~500 instances, not enough."""
    ids = []
    for index, zone in enumerate(sorted(seeded.subnet_ids)):
        cidr = f"10.0.{16 * (index + 1)}.0/20"
        subnet = aws.call(
            "ec2", "create_subnet", VpcId=seeded.vpc_id, CidrBlock=cidr, AvailabilityZone=zone
        )
        ids.append(subnet["Subnet"]["SubnetId"])
    return ",".join(ids)


def _create_service(
    aws: Aws, seeded: Seeded, spec: ServiceSpec, resolver: ImageResolver, *, subnets: str
) -> None:
    wanted = prepare(spec, resolver)
    tags = {TAG_OWNER: DEFAULT_OWNER, TAG_SERVICE: spec.name}
    listed = [{"Key": k, "Value": v} for k, v in tags.items()]
    target_group_arn = aws.call(
        "elbv2",
        "create_target_group",
        Name=spec.target_group.name,
        Protocol="HTTP",
        Port=8080,
        VpcId=seeded.vpc_id,
        TargetType="instance",
        **health_check_params(spec.target_group.health_check),
        Tags=listed,
    )["TargetGroups"][0]["TargetGroupArn"]
    template_id = aws.call(
        "ec2",
        "create_launch_template",
        LaunchTemplateName=spec.launch_template.name,
        VersionDescription=description(
            fingerprint=wanted.fingerprint, revision=spec.source.revision, image=wanted.image
        ),
        LaunchTemplateData={
            "ImageId": AMI_ID,
            "InstanceType": "t3.small",
            "SecurityGroupIds": [seeded.security_group_ids["app-sg"]],
            "UserData": base64.b64encode(wanted.user_data.encode()).decode(),
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": listed}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    group = spec.auto_scaling_group
    aws.call(
        "autoscaling",
        "create_auto_scaling_group",
        AutoScalingGroupName=group.name,
        MinSize=group.min_size,
        MaxSize=group.max_size,
        DesiredCapacity=group.desired_capacity or group.min_size,
        HealthCheckType=group.health_check_type,
        HealthCheckGracePeriod=group.health_check_grace_period,
        VPCZoneIdentifier=subnets,
        TargetGroupARNs=[target_group_arn],
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"},
        Tags=[
            {
                "ResourceId": group.name,
                "ResourceType": "auto-scaling-group",
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": False,
            }
            for k, v in tags.items()
        ],
    )
    if spec.scaling is not None:
        aws.call(
            "autoscaling",
            "put_scaling_policy",
            AutoScalingGroupName=group.name,
            PolicyName=scaling_policy_name(spec.name),
            PolicyType=POLICY_TYPE,
            TargetTrackingConfiguration={
                "PredefinedMetricSpecification": {"PredefinedMetricType": POLICY_METRIC},
                "TargetValue": float(spec.scaling.target_cpu_utilization),
            },
        )


def tick(reconciler: Reconciler, specs: Sequence[ServiceSpec]) -> list[ServiceOutcome]:
    """One daemon pass: compute, then apply what was planned."""
    outcomes = reconciler.compute(specs)
    reconciler.apply(outcomes)
    return outcomes


def in_sync(outcomes: Sequence[ServiceOutcome]) -> bool:
    return all(o.error is None and o.diff is not None and o.diff.in_sync for o in outcomes)


def converge(
    reconciler: Reconciler,
    specs: Sequence[ServiceSpec],
    clock: SandboxClock,
    *,
    ticks: int = 12,
    step: float = 300.0,
) -> int:
    """Tick (moving sandbox time ``step`` seconds between ticks) until every service is in sync.

    Returns the number of ticks it took; raises when ``ticks`` are not enough.
    """
    for done in range(1, ticks + 1):
        outcomes = tick(reconciler, specs)
        if in_sync(outcomes):
            return done
        clock.advance(step)
    stuck = [(o.name, o.error or (o.diff.message if o.diff else "")) for o in outcomes]
    raise RuntimeError(f"no convergence after {ticks} ticks: {stuck[:5]}")


def naive_tick(aws: Aws, specs: Sequence[ServiceSpec]) -> None:
    """What a per-service script does: describe the group, its template version, its TG."""
    for spec in specs:
        group = aws.call(
            "autoscaling",
            "describe_auto_scaling_groups",
            AutoScalingGroupNames=[spec.auto_scaling_group.name],
        )["AutoScalingGroups"][0]
        template: dict[str, Any] = group["LaunchTemplate"]
        aws.call(
            "ec2",
            "describe_launch_template_versions",
            LaunchTemplateId=template["LaunchTemplateId"],
            Versions=[str(template["Version"])],
        )
        aws.call("elbv2", "describe_target_groups", Names=[spec.target_group.name])


# ------------------------------------------------------------------------------------------------
# BENCHMARKS.md: each script owns one section between markers and replaces only that.
# ------------------------------------------------------------------------------------------------

_HEADER = """# Benchmarks

Written by the scripts in `benchmarks/` (`scripts/bench.sh` runs them all); each replaces only
its own section. Figures come from the sandbox on the machine that ran them: compare ratios,
not absolute times. The scripts print figures and assert nothing.
"""


def write_section(name: str, markdown: str, *, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def section_data(name: str, *, path: Path = BENCHMARKS_MD) -> list[dict[str, Any]]:
    """The figures a section keeps in its hidden data line (to merge runs of different sizes)."""
    if not path.exists():
        return []
    found = re.search(rf"<!-- {re.escape(name)} data: (.*?) -->", path.read_text(encoding="utf-8"))
    if found is None:
        return []
    data: list[dict[str, Any]] = json.loads(found.group(1))
    return data


def data_line(name: str, data: Sequence[dict[str, Any]]) -> str:
    return f"<!-- {name} data: {json.dumps(list(data), sort_keys=True)} -->"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
