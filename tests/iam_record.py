"""Record every AWS call the reconciler makes, with the resources it acts on as they are then.

The recorder hangs on the product's own hooks: botocore's ``before-parameter-build`` event of
each client ``Aws.client`` builds (the parameters), and ``Aws.on_call`` (a count that proves no
call went around the recorder). It looks the resources up with its own boto3 clients before the
call is sent, so the tags are the ones AWS would evaluate (``aws:ResourceTag`` is the state before
the request).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3

from reconciler.aws import Aws
from tests.iam_calls import PREFIX, Call, Launch, Resource


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
