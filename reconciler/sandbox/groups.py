"""Operations on moto's Auto Scaling groups that the fixes and the refresh simulation share.

moto launches a group's instances without remembering which launch template version each came
from, puts them all in the group's first subnet, and registers only some of them with the group's
target groups. Everything here launches from an explicit version, spreads instances over the
group's Availability Zones like AWS, and keeps target group membership equal to the group's
in-service instances.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.autoscaling.models import InstanceState

from reconciler.sandbox import activities, launches, runtime
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.fixes.target_health import deregistration_delay
from reconciler.sandbox.state import attached

ASG_NAME_TAG = "aws:autoscaling:groupName"
# AWS tags every instance launched from a launch template with these two.
TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id"
TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A launch template configuration: what a group points at, or what a refresh deploys."""

    template_id: str
    template_name: str
    version: str | None  # as configured: "3", "$Latest", "$Default", or None (means $Default)

    @property
    def numbered(self) -> bool:
        return self.version is not None and self.version.isdigit()

    def spec(self) -> dict[str, str]:
        """The LaunchTemplateSpecification shape, as AWS echoes it."""
        spec = {"LaunchTemplateId": self.template_id, "LaunchTemplateName": self.template_name}
        if self.version is not None:
            spec["Version"] = self.version
        return spec


def template_ref(group: Any) -> TemplateRef | None:
    """The launch template the group points at, or None for a launch configuration group."""
    template = group.ec2_launch_template
    if template is None:
        return None
    version = getattr(group, "provided_launch_template_version", group.launch_template_version)
    return TemplateRef(template.id, template.name, version)


def resolve(group: Any, ref: TemplateRef) -> Any:
    """The moto LaunchTemplateVersion that ``ref`` means right now."""
    template = group.ec2_backend.get_launch_template(ref.template_id)
    return template.get_version(ref.version or "$Default")


def launched_from(instance: Any) -> tuple[str, int] | None:
    """(template id, version number) an instance was launched from, read from its AWS tags."""
    tags = instance.ec2_backend.tags.get(instance.id, {})
    template_id = tags.get(TEMPLATE_ID_TAG)
    version = tags.get(TEMPLATE_VERSION_TAG)
    if template_id is None or version is None or not version.isdigit():
        return None
    return template_id, int(version)


def instance_template_spec(instance: Any) -> dict[str, str] | None:
    """Instances[].LaunchTemplate as AWS reports it: the version this instance runs."""
    source = launched_from(instance)
    if source is None:
        return None
    template_id, version = source
    template = instance.ec2_backend.launch_templates.get(template_id)
    name = template.name if template is not None else ""
    return {"LaunchTemplateId": template_id, "LaunchTemplateName": name, "Version": str(version)}


def live_states(group: Any) -> list[Any]:
    """Members that count: pending, in service or in standby, not on their way out."""
    return [
        s
        for s in group.instance_states
        if s.instance.state in ("pending", "running") and s.lifecycle_state != launches.TERMINATING
    ]


def leaving_states(group: Any) -> list[Any]:
    """Members the group is terminating: listed as ``Terminating`` while their targets drain."""
    return [s for s in group.instance_states if s.lifecycle_state == launches.TERMINATING]


def launch(group: Any, count: int, version: Any, cause: Cause) -> list[Any]:
    """Launch ``count`` instances from ``version`` into the group, one AZ at a time.

    Each gets a scaling activity for ``cause``, complete once it goes InService.
    """
    launched = []
    before = len(live_states(group))
    for _ in range(count):
        subnet_id, zone = _least_used_zone(group)
        reservation = group.ec2_backend.run_instances(
            version.image_id,
            1,
            version.user_data,
            version.security_groups,
            instance_type=version.instance_type,
            tags={"instance": _launch_tags(group, version)},
            placement=zone,
            launch_config=None,
            launch_template={
                "LaunchTemplateId": version.template.id,
                "Version": str(version.number),
            },
            is_instance_type_default=False,
            associate_public_ip=None,
            subnet_id=subnet_id,
        )
        for instance in reservation.instances:
            instance.autoscaling_group = group
            state = InstanceState(
                instance, protected_from_scale_in=group.new_instances_protected_from_scale_in
            )
            launches.record(state, runtime.current().now())
            group.instance_states.append(state)
            launched.append(state)
            activities.record(group, state, cause, before=before, after=before + count)
    return launched


def terminate(
    group: Any, instance_ids: Iterable[str], cause: Cause, **numbers: Any
) -> list[activities.Activity]:
    """Start terminating instances (no replacement: the caller decides).

    Each gets a scaling activity for ``cause`` (``numbers`` fill its capacity figures). AWS first
    deregisters a terminating instance from its target groups and waits out the deregistration
    delay (connection draining) while it still runs, listed as ``Terminating``, and only then
    terminates it (UG-hooks, UG-health "waits for in-flight requests … before terminating";
    aws-facts 2, 3.3; row C4). It no longer counts toward desired capacity meanwhile, and keeps
    its HealthStatus. Without target groups it goes at once.
    """
    doomed = set(instance_ids)
    leaving = [
        s
        for s in group.instance_states
        if s.instance.id in doomed
        and s.lifecycle_state != launches.TERMINATING
        and s.instance.state != "terminated"
    ]
    if not leaving:
        return []
    recorded = [activities.record(group, state, cause, **numbers) for state in leaving]
    delay = drain_seconds(group)
    if delay <= 0:
        _remove(group, leaving)
        return recorded
    until = runtime.current().now() + timedelta(seconds=delay)
    for state in leaving:
        launches.leave_at(state, until)
    sync_target_groups(group)  # deregisters them: their targets drain
    return recorded


def release(group: Any, now: datetime | None = None) -> None:
    """Terminate the instances whose draining is over (all of them when ``now`` is None)."""
    done = [
        s
        for s in leaving_states(group)
        if now is None or (launches.leaves_at(s.instance) or now) <= now
    ]
    if done:
        _remove(group, done)


def drain_seconds(group: Any) -> int:
    """The longest deregistration delay among the group's target groups (0 without any)."""
    elb = group.autoscaling_backend.elbv2_backend
    found = [elb.target_groups.get(arn) for arn in group.target_group_arns]
    return max((deregistration_delay(t) for t in found if t is not None), default=0)


def _remove(group: Any, states: list[Any]) -> None:
    ids = {s.instance.id for s in states}
    group.instance_states = [s for s in group.instance_states if s.instance.id not in ids]
    group.ec2_backend.terminate_instances(sorted(ids))
    for instance_id in sorted(ids):
        activities.finish(group.autoscaling_backend, instance_id, launch=False)


def set_template(group: Any, ref: TemplateRef) -> None:
    spec = {"LaunchTemplateId": ref.template_id}
    if ref.version is not None:
        spec["Version"] = ref.version
    group._set_launch_configuration(None, spec, group.mixed_instances_policy)


def sync_target_groups(group: Any) -> None:
    """Register the group's in-service instances with its target groups; deregister the rest.

    AWS deregisters an instance when it leaves the group (terminated, detached, in standby) and
    registers every instance that enters service, whichever process launched it.
    """
    backend = group.autoscaling_backend
    members = {
        s.instance.id
        for s in group.instance_states
        if s.lifecycle_state == "InService" and s.instance.state == "running"
    }
    registrations: dict[str, dict[str, set[str]]] = attached(backend, "tg_members", dict)
    before = registrations.get(group.name, {})
    after: dict[str, set[str]] = {}
    for arn in group.target_group_arns:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        if target_group is None:  # deleted before the group, as AWS allows
            continue
        _register(target_group, members - set(target_group.targets))
        _deregister(target_group, before.get(arn, set()) - members)
        after[arn] = set(members)
    for arn, had in before.items():
        detached = backend.elbv2_backend.target_groups.get(arn)
        if arn not in after and detached is not None:
            _deregister(detached, had)
    registrations[group.name] = after


def _register(target_group: Any, instance_ids: set[str]) -> None:
    if instance_ids:
        target_group.register([{"Id": i, "Port": target_group.port} for i in sorted(instance_ids)])


def _deregister(target_group: Any, instance_ids: set[str]) -> None:
    registered = sorted(i for i in instance_ids if i in target_group.targets)
    if registered:
        target_group.deregister([{"Id": i} for i in registered])


def _launch_tags(group: Any, version: Any) -> dict[str, str]:
    tags: dict[str, str] = dict(group.get_propagated_tags())
    tags[ASG_NAME_TAG] = group.name
    tags.update(version.instance_tags)
    return tags


def _least_used_zone(group: Any) -> tuple[str | None, str]:
    """(subnet id, AZ) with the fewest live instances: AWS balances a group across its AZs."""
    zones = _subnets_by_zone(group)
    used = Counter(s.availability_zone for s in live_states(group))
    zone = min(zones, key=lambda z: used[z])
    return zones[zone], zone


def _subnets_by_zone(group: Any) -> dict[str, str | None]:
    """AZ -> subnet id, in the group's order (AZ -> None for a group without subnets)."""
    if not group.vpc_zone_identifier:
        return dict.fromkeys(group.availability_zones)
    zones: dict[str, str | None] = {}
    for subnet_id in group.vpc_zone_identifier.split(","):
        subnet = group.ec2_backend.get_subnet(subnet_id.strip())
        zones.setdefault(subnet.availability_zone, subnet.id)
    return zones
