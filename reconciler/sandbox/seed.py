"""The seed's architecture, created through the real AWS API (``reconciler.aws.Aws``).

Going through HTTP rather than moto's backends means the seed exercises the same code paths, and
the same fixes, as the reconciler does. The CIDRs and rules are data inside moto only.

The instances get an instance profile: their boot script logs in to ECR (``aws ecr
get-login-password``), which on AWS needs credentials on the instance, and an instance role is how
an Auto Scaling group's instances get them (Auto Scaling user guide, "IAM role for applications
that run on Amazon EC2 instances"). It also makes every launch from the template pass that role,
so the daemon's ``iam:PassRole`` grant is exercised (deploy/iam/README.md).

The feedback service has a second, idle side for blue/green (issue 13): ``feedback-green-tg``,
checked like ``feedback-tg``, and ``feedback-green-asg``, on the same launch template as
``feedback-asg`` but at 0 instances. The listener forwards by weight, feedback-tg 100 and
feedback-green-tg 0 (ForwardConfig, "Forward actions" in
docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html), so
until a weight changes all traffic, metrics and alarms are those of the seed's architecture.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws
from reconciler.sandbox import boot_script, images

VPC_CIDR = "10.0.0.0/16"
# AZ letter -> subnet CIDR: the seed runs in AZs a and c of whatever region the sandbox serves.
SUBNETS: Mapping[str, str] = {"a": "10.0.1.0/24", "c": "10.0.2.0/24"}
LOAD_BALANCER = "feedback-alb"
TARGET_GROUP = "feedback-tg"
GREEN_TARGET_GROUP = "feedback-green-tg"
LAUNCH_TEMPLATE = "feedback-app-template"
GROUP = "feedback-asg"
GREEN_GROUP = "feedback-green-asg"
# The seed group's sizes; the green side may grow to the same maximum.
MIN_SIZE, MAX_SIZE, DESIRED_CAPACITY = 2, 4, 2
# The seed's listener weights: all traffic on the blue side, the green side idle.
BLUE_WEIGHT, GREEN_WEIGHT = 100, 0
# feedback-tg's health check (the seed's architecture), and so the green side's too.
HEALTH_CHECK: Mapping[str, Any] = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPath": "/actuator/health",
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200"},
}
# Amazon Linux 2 (amzn2-ami-hvm-2.0.20180810-x86_64-gp2), one of the AMIs moto knows.
AMI_ID = "ami-04681a1dbd79675a5"
INSTANCE_TYPE = "t3.small"
ANYWHERE = "0.0.0.0/0"
# The instances' role, named as deploy/iam/reconciler-daemon.json expects it, and its profile.
INSTANCE_ROLE = "feedback-app-instance-role"
INSTANCE_PROFILE = "feedback-app-instance-profile"
# Only EC2 may assume it: the trust policy of every instance role.
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# What the boot script needs: an ECR login token and the image's layers, nothing else.
ECR_PULL = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ],
            "Resource": "arn:aws:ecr:*:*:repository/simple-api",
        },
    ],
}


@dataclass(frozen=True, slots=True)
class Seeded:
    """Identifiers of what ``seed`` created."""

    region: str
    account_id: str
    vpc_id: str
    subnet_ids: Mapping[str, str]  # AZ -> subnet id
    security_group_ids: Mapping[str, str]  # name -> group id
    load_balancer_arn: str
    listener_arn: str
    target_group_arn: str
    launch_template_id: str
    group_name: str
    repository_uri: str  # <account>.dkr.ecr.<region>.amazonaws.com/simple-api
    image_digests: Mapping[str, str] = field(default_factory=dict)  # tag -> digest
    instance_profile_arn: str = ""  # the launch template's IamInstanceProfile
    instance_role_arn: str = ""  # the role in it, the one a launch passes to EC2
    green_group_name: str = GREEN_GROUP  # the blue/green idle side: 0 instances at first
    green_target_group_arn: str = ""  # its target group, weight 0 in the listener


def seed(aws: Aws) -> Seeded:
    """Create the seed's network, load balancer, images, launch template and group."""
    zones = _zones(aws.region)
    vpc_id = aws.call("ec2", "create_vpc", CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet_ids = {
        zone: aws.call("ec2", "create_subnet", VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for zone, cidr in zones.items()
    }
    groups = _security_groups(aws, vpc_id)
    balancer_arn = _load_balancer(aws, list(subnet_ids.values()), groups["alb-sg"])
    target_group_arn = _target_group(aws, TARGET_GROUP, vpc_id)
    green_arn = _target_group(aws, GREEN_TARGET_GROUP, vpc_id)
    listener_arn = _listener(aws, balancer_arn, target_group_arn, green_arn)
    repository = aws.call("ecr", "create_repository", repositoryName=images.REPOSITORY)
    repository_uri = repository["repository"]["repositoryUri"]
    digests = images.push(aws)
    role_arn, profile_arn = _instance_profile(aws)
    template_id = _launch_template(aws, repository_uri, groups["app-sg"], profile_arn)
    subnets = list(subnet_ids.values())
    _group(aws, GROUP, subnets, target_group_arn, template_id, desired=DESIRED_CAPACITY)
    _group(aws, GREEN_GROUP, subnets, green_arn, template_id, desired=0)
    return Seeded(
        region=aws.region,
        account_id=repository["repository"]["registryId"],
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_ids=groups,
        load_balancer_arn=balancer_arn,
        listener_arn=listener_arn,
        target_group_arn=target_group_arn,
        launch_template_id=template_id,
        group_name=GROUP,
        repository_uri=repository_uri,
        image_digests=digests,
        instance_profile_arn=profile_arn,
        instance_role_arn=role_arn,
        green_group_name=GREEN_GROUP,
        green_target_group_arn=green_arn,
    )


def _group(
    aws: Aws, name: str, subnet_ids: list[str], target_group_arn: str, template_id: str, *,
    desired: int,
) -> None:  # fmt: skip
    # The seed's group: 2 instances on ELB health checks, launching the template's $Default.
    # The green side is the same group at 0 (MinSize 0 lets it stay there).
    aws.call(
        "autoscaling",
        "create_auto_scaling_group",
        AutoScalingGroupName=name,
        MinSize=min(MIN_SIZE, desired),
        MaxSize=MAX_SIZE,
        DesiredCapacity=desired,
        HealthCheckType="ELB",
        HealthCheckGracePeriod=300,
        VPCZoneIdentifier=",".join(subnet_ids),
        TargetGroupARNs=[target_group_arn],
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
    )


def _zones(region: str) -> dict[str, str]:
    return {f"{region}{letter}": cidr for letter, cidr in SUBNETS.items()}


def _security_groups(aws: Aws, vpc_id: str) -> dict[str, str]:
    ids: dict[str, str] = {}

    def create(name: str, description: str, rules: Sequence[dict[str, Any]]) -> None:
        ids[name] = aws.call(
            "ec2", "create_security_group", GroupName=name, Description=description, VpcId=vpc_id
        )["GroupId"]
        aws.call("ec2", "authorize_security_group_ingress", GroupId=ids[name], IpPermissions=rules)

    create("alb-sg", "feedback load balancer", [_from_cidr(80), _from_cidr(443)])
    create(
        "app-sg",
        "feedback application instances",
        [_from_group(8080, ids["alb-sg"]), _from_cidr(9100), _from_cidr(22)],
    )
    create("db-sg", "feedback MySQL host", [_from_group(3306, ids["app-sg"]), _from_cidr(22)])
    return ids


def _from_cidr(port: int) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": ANYWHERE}],
    }


def _from_group(port: int, group_id: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": group_id}],
    }


def _load_balancer(aws: Aws, subnet_ids: list[str], security_group_id: str) -> str:
    balancer_arn: str = aws.call(
        "elbv2",
        "create_load_balancer",
        Name=LOAD_BALANCER,
        Subnets=subnet_ids,
        SecurityGroups=[security_group_id],
        Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return balancer_arn


def _target_group(aws: Aws, name: str, vpc_id: str) -> str:
    arn: str = aws.call(
        "elbv2",
        "create_target_group",
        Name=name,
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc_id,
        TargetType="instance",
        **HEALTH_CHECK,
    )["TargetGroups"][0]["TargetGroupArn"]
    return arn


def forward(weights: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """A forward action splitting by ``(target group ARN, weight)`` (ForwardConfig)."""
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


def _listener(aws: Aws, balancer_arn: str, blue_arn: str, green_arn: str) -> str:
    listener_arn: str = aws.call(
        "elbv2",
        "create_listener",
        LoadBalancerArn=balancer_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[forward([(blue_arn, BLUE_WEIGHT), (green_arn, GREEN_WEIGHT)])],
    )["Listeners"][0]["ListenerArn"]
    return listener_arn


def _instance_profile(aws: Aws) -> tuple[str, str]:
    """The instances' role with its ECR pull policy in an instance profile: (role, profile)."""
    role_arn: str = aws.call(
        "iam",
        "create_role",
        RoleName=INSTANCE_ROLE,
        AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
        Description="feedback application instances: pull the image from ECR",
    )["Role"]["Arn"]
    aws.call(
        "iam",
        "put_role_policy",
        RoleName=INSTANCE_ROLE,
        PolicyName="ecr-pull",
        PolicyDocument=json.dumps(ECR_PULL),
    )
    profile = aws.call("iam", "create_instance_profile", InstanceProfileName=INSTANCE_PROFILE)
    aws.call(
        "iam",
        "add_role_to_instance_profile",
        InstanceProfileName=INSTANCE_PROFILE,
        RoleName=INSTANCE_ROLE,
    )
    profile_arn: str = profile["InstanceProfile"]["Arn"]
    return role_arn, profile_arn


def _launch_template(
    aws: Aws, repository_uri: str, security_group_id: str, profile_arn: str
) -> str:
    registry = repository_uri.split("/", 1)[0]
    script = boot_script.render(registry=registry, repository=repository_uri, region=aws.region)
    response = aws.call(
        "ec2",
        "create_launch_template",
        LaunchTemplateName=LAUNCH_TEMPLATE,
        VersionDescription="seed: pulls the mutable tag latest at boot",
        LaunchTemplateData={
            "ImageId": AMI_ID,
            "InstanceType": INSTANCE_TYPE,
            "SecurityGroupIds": [security_group_id],
            # By ARN: for a group, AWS takes the profile's name or its ARN, not both.
            "IamInstanceProfile": {"Arn": profile_arn},
            "UserData": base64.b64encode(script.encode()).decode(),
        },
    )
    template_id: str = response["LaunchTemplate"]["LaunchTemplateId"]
    return template_id
