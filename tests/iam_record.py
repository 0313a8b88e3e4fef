"""Record every AWS call the reconciler makes, with the resources it acts on as they are then.

The recorder hangs on the product's own hooks: botocore's ``before-parameter-build`` event of
each client ``Aws.client`` builds (the parameters), and ``Aws.on_call`` (a count that proves no
call went around the recorder). It looks the resources up with its own boto3 clients before the
call is sent, so the tags are the ones AWS would evaluate (``aws:ResourceTag`` is the state before
the request). ``record_scenario`` drives the six phases the policy tests judge.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import boto3

from reconciler import desired
from reconciler.aws import Aws
from reconciler.pipeline.apply import apply
from reconciler.pipeline.plan import retry
from tests.conftest import REGION
from tests.iam_calls import PREFIX, Call, Launch, Resource
from tests.test_scenarios import GROUP, TICK, World, degraded, desired_file


class Recorder:
    """Attach to an ``Aws``; ``phase`` labels the calls made from now on."""

    def __init__(self, aws: Aws, *, endpoint: str, account: str) -> None:
        self.calls: list[Call] = []
        self.counted = 0
        self.phase = ""
        self._account = account
        self._lock = threading.Lock()
        session = boto3.session.Session()
        self._look = {
            name: session.client(name, region_name=aws.region, endpoint_url=endpoint)
            for name in ("autoscaling", "ec2", "elbv2", "iam")
        }
        aws.on_call(self._count)
        for service in PREFIX:  # every client the reconciler uses, built now to be hooked
            aws.client(service).meta.events.register("before-parameter-build.*.*", self._record)

    def _count(self, service: str, operation: str) -> None:
        with self._lock:
            self.counted += 1

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = str(model.service_model.service_name)
        operation = str(model.name)
        region = self._look["ec2"].meta.region_name
        resources, launch = self._resolve(service, operation, params, region)
        call = Call(
            phase=self.phase,
            service=service,
            operation=operation,
            params=dict(params),
            region=region,
            account=self._account,
            resources=tuple(resources),
            launch=launch,
        )
        with self._lock:
            self.calls.append(call)

    # -- resources as they are now ------------------------------------------------------------

    def _resolve(
        self, service: str, operation: str, params: dict[str, Any], region: str
    ) -> tuple[list[Resource], Launch | None]:
        if operation.startswith("Describe") and service in ("autoscaling", "ec2", "elbv2"):
            return [], None  # these describes support no resource-level permission (iam_calls)
        if service == "autoscaling":
            return self._groups(operation, params)
        if service == "ec2":
            ids = params.get("Resources") or [params["LaunchTemplateId"]]
            return [self._template(i) for i in ids], None
        if service == "elbv2":
            arns = params.get("ResourceArns") or [params["TargetGroupArn"]]
            return [self._target_group(a) for a in arns], None
        if service == "cloudwatch":
            if operation != "DescribeAlarms":
                return [], None  # GetMetricData & co. support no resource-level permission
            arn = f"arn:aws:cloudwatch:{region}:{self._account}:alarm:"
            return [Resource(arn + n) for n in params.get("AlarmNames") or ["*"]], None
        if service == "ecr":
            registry = params.get("registryId", self._account)
            name = params["repositoryName"]
            return [Resource(f"arn:aws:ecr:{region}:{registry}:repository/{name}")], None
        table = params["TableName"]
        return [Resource(f"arn:aws:dynamodb:{region}:{self._account}:table/{table}")], None

    def _groups(
        self, operation: str, params: dict[str, Any]
    ) -> tuple[list[Resource], Launch | None]:
        names = [params["AutoScalingGroupName"]] if "AutoScalingGroupName" in params else []
        names += [t["ResourceId"] for t in params.get("Tags", []) if t["ResourceId"] not in names]
        groups = self._look["autoscaling"].describe_auto_scaling_groups(
            AutoScalingGroupNames=names
        )["AutoScalingGroups"]
        resources = [
            Resource(g["AutoScalingGroupARN"], {t["Key"]: t["Value"] for t in g["Tags"]})
            for g in groups
        ]
        pointed = params.get("LaunchTemplate")
        if operation == "StartInstanceRefresh":
            pointed = params.get("DesiredConfiguration", {}).get("LaunchTemplate")
        if not pointed:
            return resources, None
        return resources, self._launch(pointed, groups[0])

    def _launch(self, pointed: dict[str, Any], group: dict[str, Any]) -> Launch:
        ec2 = self._look["ec2"]
        template_id = pointed["LaunchTemplateId"]
        version = ec2.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=[str(pointed.get("Version", "$Default"))]
        )["LaunchTemplateVersions"][0]
        data = version["LaunchTemplateData"]
        region = ec2.meta.region_name
        subnets = [
            f"arn:aws:ec2:{region}:{self._account}:subnet/{s}"
            for s in group.get("VPCZoneIdentifier", "").split(",")
            if s
        ]
        return Launch(self._template(template_id), data, subnets, self._role(data))

    def _role(self, data: dict[str, Any]) -> str | None:
        profile = data.get("IamInstanceProfile")
        if not profile:
            return None
        name = profile.get("Name") or profile["Arn"].rsplit("/", 1)[-1]
        found = self._look["iam"].get_instance_profile(InstanceProfileName=name)
        return str(found["InstanceProfile"]["Roles"][0]["Arn"])

    def _template(self, template_id: str) -> Resource:
        ec2 = self._look["ec2"]
        template = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])[
            "LaunchTemplates"
        ][0]
        arn = f"arn:aws:ec2:{ec2.meta.region_name}:{self._account}:launch-template/{template_id}"
        return Resource(arn, {t["Key"]: t["Value"] for t in template.get("Tags", [])})

    def _target_group(self, arn: str) -> Resource:
        described = self._look["elbv2"].describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return Resource(arn, {t["Key"]: t["Value"] for t in described[0]["Tags"]})


# -- the scenario ---------------------------------------------------------------------------


def record_scenario(world: World, recorder: Recorder) -> None:
    """Deploy → broken deploy → rollback → drift correction → retry → pause, each call labelled
    with its phase (the scenario of tests/test_scenarios.py, driven by the real reconciler)."""
    recorder.phase = "deploy"
    world.converge("v1.1")
    recorder.phase = "broken deploy"
    v2 = world.specs("v2.0")
    world.until(v2, degraded, limit=80)  # AWS retries failing new instances for an hour first
    recorder.phase = "rollback"
    world.until(v2, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    recorder.phase = "drift correction"
    _drift(world)
    world.sandbox.clock.advance(TICK)
    world.tick(v2)
    recorder.phase = "retry"
    (outcome,) = world.reconciler.compute(v2)
    planned = retry(outcome)
    assert planned is not None, "nothing to retry: the broken deploy was not recorded as failed"
    apply(world.aws, planned, region=outcome.spec.region)  # what `reconciler retry` does
    world.tick(v2)  # rolls v2.0 out again
    recorder.phase = "pause"
    paused = _paused(world, "v2.0")
    for _ in range(3):
        world.sandbox.clock.advance(TICK)
        world.tick(paused)


def _drift(world: World) -> None:
    """Someone else changes the group and the target group (not recorded: another client)."""
    other = Aws(region=REGION, endpoint_url=world.sandbox.endpoint)
    seeded = world.sandbox.seeded
    assert seeded is not None
    other.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=seeded.target_group_arn,
        HealthCheckIntervalSeconds=10,
    )
    other.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=7)


def _paused(world: World, tag: str) -> Sequence[Any]:
    """The spec with ``spec.paused: true``, the line ``reconciler pause`` commits."""
    path = desired_file(world.tmp_path, tag)
    text = path.read_text()
    if "  paused: true\n" not in text:
        path.write_text(text.replace("\nspec:\n", "\nspec:\n  paused: true\n", 1))
    specs = desired.load([path]).services
    assert all(s.paused for s in specs)
    return specs
