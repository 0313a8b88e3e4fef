"""Claims without a service (issue 17 #14): resources tagged as ours for a service that is no
longer in the desired files, and releasing such a claim.

When a service leaves git (removed or renamed), the reconciler stops managing it: nothing is
deleted or scaled down, and its resources keep our tags (``TAG_OWNER``, ``TAG_SERVICE``, the
failure, writer and rollout tags), which keeps any other owner away. ``claims`` finds the groups
still tagged for this owner; ``orphans`` are those whose service git no longer declares, for
``/status`` and ``reconciler_orphaned_service``. ``release`` removes every ``asg-reconciler/``
tag from the group, its launch template and its target group, so the resources are nobody's
(``reconciler release SERVICE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.aws import Aws
from reconciler.model import TAG_OWNER, TAG_SERVICE

PREFIX = "asg-reconciler/"


@dataclass(frozen=True, slots=True)
class Claim:
    """A group the tags say belongs to ``service`` of this owner."""

    service: str
    group: str
    region: str
    tags: tuple[str, ...]  # our tag keys on the group


def claims(aws: Aws, region: str, *, owner: str) -> list[Claim]:
    """Every group in ``region`` tagged for ``owner``, with the service it names."""
    found: list[Claim] = []
    pages = aws.pages(
        "autoscaling",
        "describe_auto_scaling_groups",
        region=region,
        Filters=[{"Name": f"tag:{TAG_OWNER}", "Values": [owner]}],
    )
    for page in pages:
        for group in page.get("AutoScalingGroups", []):
            tags = {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", [])}
            service = tags.get(TAG_SERVICE, "")
            ours = tuple(sorted(k for k in tags if k.startswith(PREFIX)))
            found.append(Claim(service, str(group["AutoScalingGroupName"]), region, ours))
    return found


def orphans(found: Iterable[Claim], *, known: Iterable[str]) -> list[Claim]:
    """The claims whose service the desired files no longer declare. Blue/green's second side
    names the same service, so it is an orphan exactly when its service is."""
    names = set(known)
    return sorted((c for c in found if c.service not in names), key=lambda c: (c.service, c.group))


@dataclass(frozen=True, slots=True)
class Released:
    resource: str  # "auto-scaling-group feedback-asg", "launch-template lt-…", "target-group …"
    keys: tuple[str, ...]


def release(aws: Aws, claim: Claim) -> list[Released]:
    """Remove our tags from the claim's group, its launch template and its target groups."""
    region = claim.region
    group = aws.call(
        "autoscaling", "describe_auto_scaling_groups", region=region,
        AutoScalingGroupNames=[claim.group],
    )["AutoScalingGroups"]  # fmt: skip
    done: list[Released] = []
    if not group:
        return done
    if claim.tags:
        aws.call(
            "autoscaling",
            "delete_tags",
            region=region,
            Tags=[
                {"ResourceId": claim.group, "ResourceType": "auto-scaling-group", "Key": key}
                for key in claim.tags
            ],
        )
        done.append(Released(f"auto-scaling-group {claim.group}", claim.tags))
    template = (group[0].get("LaunchTemplate") or {}).get("LaunchTemplateId")
    if template:
        done += _release_template(aws, region, str(template))
    done += _release_target_groups(aws, region, group[0].get("TargetGroupARNs", []))
    return done


def _release_template(aws: Aws, region: str, template: str) -> list[Released]:
    found = aws.call(
        "ec2", "describe_launch_templates", region=region, LaunchTemplateIds=[template]
    )["LaunchTemplates"]
    keys = _ours(found[0].get("Tags", [])) if found else ()
    if not keys:
        return []
    aws.call(
        "ec2", "delete_tags", region=region, Resources=[template],
        Tags=[{"Key": key} for key in keys],
    )  # fmt: skip
    return [Released(f"launch-template {template}", keys)]


def _release_target_groups(aws: Aws, region: str, arns: Sequence[str]) -> list[Released]:
    if not arns:
        return []
    described = aws.call("elbv2", "describe_tags", region=region, ResourceArns=list(arns))
    done: list[Released] = []
    for entry in described.get("TagDescriptions", []):
        keys = _ours(entry.get("Tags", []))
        if keys:
            arn = str(entry["ResourceArn"])
            aws.call("elbv2", "remove_tags", region=region, ResourceArns=[arn], TagKeys=list(keys))
            done.append(Released(f"target-group {arn}", keys))
    return done


def _ours(tags: Iterable[dict[str, str]]) -> tuple[str, ...]:
    return tuple(sorted(str(t["Key"]) for t in tags if str(t["Key"]).startswith(PREFIX)))
