"""Read what AWS holds for a set of services, in batches, into ``ObservedService`` records.

Rule 7: a steady-state tick with nothing to do costs a handful of AWS calls in all, not a
handful per service. What a tick calls, and why each skip stays correct:

- **Every tick, batched:** ``DescribeAutoScalingGroups`` (100 names a call, with
  ``MaxRecords=100``, which AWS requires above 50 names), ``DescribeLaunchTemplates`` (200 names
  a filter) and ``DescribeTargetGroups`` (all of them, 400 a page). These hold what drifts by
  hand (capacity, health check, the group's version, its instances), so they are never cached.
  At 100 services that is 3 calls; at 500, 10 (5 + 3 + 2).
- **Launch template versions** are immutable: read once (``VersionCache``), new ones when
  ``LatestVersionNumber`` moves, and a referenced number the cache lacks.
- **Instance refreshes** (``DescribeInstanceRefreshes`` takes one group a call) are read for a
  group only when something says one may have started or moved on. A group is *quiet* when
  all its instances are InService and Healthy on the group's own launch template version, as
  many as its desired capacity, and the last read showed no active refresh; the refreshes read
  then are reused while the group looks exactly the same (same instances, states and versions).
  A group is read again when
  - the caller says which fingerprint each service wants (``observe(..., fingerprints=...)``,
    optional) and the version the group launches is not known to hold it: a rollout is due,
    and the diff needs the refresh history to decide it (rule 4: a failed fingerprint is not
    retried);
  - it is not quiet, or anything in that picture changed (a refresh started by hand replaces
    or detaches an instance within its first batch, which changes the picture);
  - this process wrote to it (``StartInstanceRefresh``, ``CancelInstanceRefresh``,
    ``UpdateAutoScalingGroup``, tags...), seen through botocore's ``before-parameter-build``
    event on the clients ``apply`` shares with us, so the tick after a write always reads it;
    a ``StartInstanceRefresh`` that AWS refuses because of an unseen refresh also counts, so
    the next tick sees that refresh and supersedes it;
  - its last read is older than ``refresh_recheck`` (5 minutes): a safety net for a refresh
    that changes no instance (e.g. one waiting at a checkpoint with every instance already
    replaced on the same version). At most ``rechecks_per_tick`` (1) such reads a tick, oldest
    first, so the net costs one call a tick at any scale instead of a spike of N; with N
    groups, each is re-read at least every max(5 minutes, N ticks).
- **Target group tags and the reconciler's own scaling policies** change only through us or
  by rare hand edits: cached for ``tags_ttl`` / ``policies_ttl`` (5 minutes), so drift on them
  is still caught within the TTL; a write this process makes to them (``AddTags``,
  ``RemoveTags``, ``PutScalingPolicy``, ``DeletePolicy``) drops the entry at once.

A new ``Observer`` (a restart, a CLI run) has no memory and reads everything, so nothing above
can outlive the process that learned it.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import errors
from reconciler.aws import Aws
from reconciler.images.userdata import parse_description
from reconciler.model import (
    DESCRIPTION_MARKER,
    HealthCheckSpec,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    RefreshStatus,
    ServiceSpec,
    fields,
)

# How many of its own launch template versions per template the reconciler remembers: enough to
# reuse a recent version on revert, without holding every UserData ever deployed in memory.
KEEP_OWN_VERSIONS = 20
_ASG_NAMES_PER_CALL = 100  # with MaxRecords=100; AWS allows 50 names without it
_TAG_ARNS_PER_CALL = 20
_POLICY_NAMES_PER_CALL = 50
_LT_NAMES_PER_FILTER = 200

REFRESH_RECHECK_SECONDS = 300.0
RECHECKS_PER_TICK = 1
TAGS_TTL_SECONDS = 300.0
POLICIES_TTL_SECONDS = 300.0

# Auto Scaling writes after which a group's refreshes must be read again.
_GROUP_WRITES = frozenset(
    {
        "StartInstanceRefresh",
        "CancelInstanceRefresh",
        "RollbackInstanceRefresh",
        "UpdateAutoScalingGroup",
        "CreateOrUpdateTags",
        "DeleteTags",
        "SetDesiredCapacity",
        "TerminateInstanceInAutoScalingGroup",
        "DetachInstances",
        "AttachInstances",
    }
)
_POLICY_WRITES = frozenset({"PutScalingPolicy", "DeletePolicy"})
_TARGET_GROUP_TAG_WRITES = frozenset({"AddTags", "RemoveTags"})

Signature = tuple[Any, ...]


def scaling_policy_name(service: str) -> str:
    return f"asg-reconciler-{service}-cpu"


@dataclass
class VersionCache:
    """Launch template versions by template id. Versions are immutable, so never re-read."""

    versions: dict[str, dict[int, LaunchTemplateVersion]] = field(default_factory=dict)
    seen_up_to: dict[str, int] = field(default_factory=dict)

    def known(self, template_id: str) -> dict[int, LaunchTemplateVersion]:
        return self.versions.setdefault(template_id, {})

    def add(self, template_id: str, version: LaunchTemplateVersion) -> None:
        self.known(template_id)[version.version_number] = version

    def trim(self, template_id: str, *, keep: Iterable[int]) -> None:
        """Forget all but our newest versions and the ones still referenced."""
        known = self.known(template_id)
        ours = sorted(
            (n for n, v in known.items() if v.description.startswith(DESCRIPTION_MARKER)),
            reverse=True,
        )
        wanted = set(ours[:KEEP_OWN_VERSIONS]) | set(keep)
        for number in [n for n in known if n not in wanted]:
            del known[number]

    def forget_except(self, template_ids: Iterable[str]) -> None:
        """Drop templates no service names any more (a service removed from the desired files)."""
        keep = set(template_ids)
        for gone in [t for t in self.versions if t not in keep]:
            del self.versions[gone]
            self.seen_up_to.pop(gone, None)


@dataclass
class _RefreshMemo:
    """A group's refreshes as last read, and the group's picture then (None: not quiet)."""

    refreshes: tuple[ObservedRefresh, ...]
    read_at: float
    quiet: Signature | None


@dataclass
class _Expiring:
    value: Any
    fetched_at: float


@dataclass
class _Memory:
    """What the Observer keeps between ticks besides launch template versions."""

    refreshes: dict[tuple[str, str], _RefreshMemo] = field(default_factory=dict)
    dirty_groups: set[tuple[str, str]] = field(default_factory=set)
    target_group_tags: dict[tuple[str, str], _Expiring] = field(default_factory=dict)
    policies: dict[tuple[str, str], _Expiring] = field(default_factory=dict)


@dataclass
class Observer:
    """Observes services; keeps the version cache and the memory above between ticks."""

    aws: Aws
    cache: VersionCache = field(default_factory=VersionCache)
    clock: Callable[[], float] = time.monotonic
    refresh_recheck: float = REFRESH_RECHECK_SECONDS
    rechecks_per_tick: int = RECHECKS_PER_TICK
    tags_ttl: float = TAGS_TTL_SECONDS
    policies_ttl: float = POLICIES_TTL_SECONDS
    _memory: _Memory = field(default_factory=_Memory, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _watched: set[str] = field(default_factory=set, init=False, repr=False)

    def observe(
        self, specs: Sequence[ServiceSpec], *, fingerprints: Mapping[str, str] | None = None
    ) -> dict[str, ObservedService]:
        """What AWS holds for ``specs``. ``fingerprints`` (service name → the desired
        fingerprint), when given, makes every group that does not run it read its refreshes."""
        wanted = dict(fingerprints or {})
        by_region: dict[str, list[ServiceSpec]] = {}
        for spec in specs:
            by_region.setdefault(spec.region, []).append(spec)
        observed: dict[str, ObservedService] = {}
        for region, group in by_region.items():
            self._watch_writes(region)
            observed.update(self._observe_region(region, group, wanted=wanted))
        # Versions follow the desired files: a removed service's template is forgotten.
        self.cache.forget_except(
            o.launch_template.id for o in observed.values() if o.launch_template is not None
        )
        return observed

    def _observe_region(
        self, region: str, specs: Sequence[ServiceSpec], *, wanted: Mapping[str, str]
    ) -> dict[str, ObservedService]:
        groups = describe_groups(self.aws, region, [s.auto_scaling_group.name for s in specs])
        templates = describe_templates(self.aws, region, [s.launch_template.name for s in specs])
        target_groups = self._target_groups(region, {s.target_group.name for s in specs})
        policies = self._policies(region, [scaling_policy_name(s.name) for s in specs])
        refreshes = self._refreshes(
            region, specs, groups=groups, templates=templates, wanted=wanted
        )
        self._forget_unused(region, specs, target_groups=target_groups)
        result: dict[str, ObservedService] = {}
        for spec in specs:
            group = groups.get(spec.auto_scaling_group.name)
            group_refreshes = refreshes.get(group.name, ()) if group else ()
            template = templates.get(spec.launch_template.name)
            if template is not None:
                template = self._with_versions(region, template, group, group_refreshes)
            result[spec.name] = ObservedService(
                name=spec.name,
                auto_scaling_group=group,
                launch_template=template,
                target_group=target_groups.get(spec.target_group.name),
                scaling_policies=tuple(policies.get(spec.auto_scaling_group.name, ())),
                refreshes=group_refreshes,
            )
        return result

    # -- instance refreshes ------------------------------------------------------------------

    def _refreshes(
        self,
        region: str,
        specs: Sequence[ServiceSpec],
        *,
        groups: Mapping[str, ObservedAutoScalingGroup],
        templates: Mapping[str, ObservedLaunchTemplate],
        wanted: Mapping[str, str],
    ) -> dict[str, tuple[ObservedRefresh, ...]]:
        now = self.clock()
        pictures: dict[str, Signature | None] = {}
        rollout_due: set[str] = set()
        for spec in specs:
            group = groups.get(spec.auto_scaling_group.name)
            if group is None:
                continue
            template = templates.get(spec.launch_template.name)
            pictures[group.name] = quiet_signature(group, template)
            fingerprint = wanted.get(spec.name)
            if fingerprint is not None and not self._runs(group, template, fingerprint):
                rollout_due.add(group.name)
        to_read = self._groups_to_read(region, pictures, now=now) | rollout_due
        found: dict[str, tuple[ObservedRefresh, ...]] = {}
        for name, picture in pictures.items():
            if name in to_read:
                found[name] = describe_refreshes(self.aws, region, name)
                active = any(r.status.active for r in found[name])
                with self._lock:
                    self._memory.refreshes[(region, name)] = _RefreshMemo(
                        refreshes=found[name], read_at=now, quiet=None if active else picture
                    )
                    self._memory.dirty_groups.discard((region, name))
            else:
                found[name] = self._memory.refreshes[(region, name)].refreshes
        return found

    def _runs(
        self,
        group: ObservedAutoScalingGroup,
        template: ObservedLaunchTemplate | None,
        fingerprint: str,
    ) -> bool:
        """Whether the version ``group`` launches is known (cached) to hold ``fingerprint``."""
        if template is None or group.launch_template_id != template.id:
            return False
        number = template.resolve(group.launch_template_version)
        version = self.cache.known(template.id).get(number) if number is not None else None
        return version is not None and parse_description(version.description).get("fp") == (
            fingerprint
        )

    def _groups_to_read(
        self, region: str, pictures: Mapping[str, Signature | None], *, now: float
    ) -> set[str]:
        """Groups whose refreshes must be read: not quiet, changed, written to, or due."""
        must: set[str] = set()
        due: list[tuple[float, str]] = []
        with self._lock:
            for name, picture in pictures.items():
                memo = self._memory.refreshes.get((region, name))
                if (
                    memo is None
                    or picture is None
                    or memo.quiet != picture
                    or (region, name) in self._memory.dirty_groups
                ):
                    must.add(name)
                elif now - memo.read_at >= self.refresh_recheck:
                    due.append((memo.read_at, name))
        return must | {name for _, name in sorted(due)[: max(0, self.rechecks_per_tick)]}

    # -- target groups and policies: cached with a TTL ---------------------------------------

    def _target_groups(self, region: str, names: set[str]) -> dict[str, ObservedTargetGroup]:
        raw_groups = list_target_groups(self.aws, region, names)
        now = self.clock()
        with self._lock:
            stale = [
                arn
                for arn in raw_groups
                if not _fresh(self._memory.target_group_tags.get((region, arn)), now, self.tags_ttl)
            ]
        fetched = describe_target_group_tags(self.aws, region, stale)
        with self._lock:
            for arn in stale:
                entry = _Expiring(fetched.get(arn, {}), now)
                self._memory.target_group_tags[(region, arn)] = entry
            tags = {arn: self._memory.target_group_tags[(region, arn)].value for arn in raw_groups}
        return {
            raw["TargetGroupName"]: parse_target_group(raw, tags[arn])
            for arn, raw in raw_groups.items()
        }

    def _policies(
        self, region: str, names: Sequence[str]
    ) -> dict[str, list[ObservedScalingPolicy]]:
        """The reconciler's own policies by group name, each name read at most once a TTL."""
        now = self.clock()
        with self._lock:
            stale = [
                n
                for n in sorted(set(names))
                if not _fresh(self._memory.policies.get((region, n)), now, self.policies_ttl)
            ]
        fetched = describe_policies_by_name(self.aws, region, stale)
        by_group: dict[str, list[ObservedScalingPolicy]] = {}
        with self._lock:
            for name in stale:
                self._memory.policies[(region, name)] = _Expiring(fetched.get(name, []), now)
            for name in sorted(set(names)):
                for group, policy in self._memory.policies[(region, name)].value:
                    by_group.setdefault(group, []).append(policy)
        return by_group

    def _forget_unused(
        self,
        region: str,
        specs: Sequence[ServiceSpec],
        *,
        target_groups: Mapping[str, ObservedTargetGroup],
    ) -> None:
        """Memory follows the desired files: a removed service's entries go (no growth)."""
        groups = {s.auto_scaling_group.name for s in specs}
        policies = {scaling_policy_name(s.name) for s in specs}
        arns = {t.arn for t in target_groups.values()}
        memory = self._memory
        with self._lock:
            for key in [k for k in memory.refreshes if k[0] == region and k[1] not in groups]:
                del memory.refreshes[key]
            for key in [k for k in memory.policies if k[0] == region and k[1] not in policies]:
                del memory.policies[key]
            for key in [k for k in memory.target_group_tags if k[0] == region and k[1] not in arns]:
                del memory.target_group_tags[key]

    # -- our own writes, seen through botocore's events --------------------------------------

    def _watch_writes(self, region: str) -> None:
        """Hear every write this process makes through ``aws``'s clients for ``region``."""
        if region in self._watched:
            return
        for service in ("autoscaling", "elbv2"):
            self.aws.client(service, region).meta.events.register(
                "before-parameter-build",
                _WriteListener(self, region),
                unique_id=f"asg-reconciler-observer-{id(self)}-{service}-{region}",
            )
        self._watched.add(region)

    def saw_write(self, region: str, operation: str, params: Mapping[str, Any]) -> None:
        """Forget what ``operation`` (about to be sent with ``params``) may change."""
        with self._lock:
            if operation in _GROUP_WRITES:
                for group in _groups_named(params):
                    self._memory.dirty_groups.add((region, group))
            elif operation in _POLICY_WRITES:
                self._memory.policies.pop((region, str(params.get("PolicyName", ""))), None)
            elif operation in _TARGET_GROUP_TAG_WRITES:
                for arn in params.get("ResourceArns", []):
                    self._memory.target_group_tags.pop((region, str(arn)), None)

    # -- launch template versions ------------------------------------------------------------

    def _with_versions(
        self,
        region: str,
        template: ObservedLaunchTemplate,
        group: ObservedAutoScalingGroup | None,
        refreshes: Sequence[ObservedRefresh],
    ) -> ObservedLaunchTemplate:
        referenced = referenced_versions(template, group, refreshes)
        self._fetch_new_versions(region, template)
        missing = [n for n in referenced if n not in self.cache.known(template.id)]
        if missing:
            for version in describe_versions(self.aws, region, template.id, versions=missing):
                self.cache.add(template.id, version)
        self.cache.trim(template.id, keep=referenced)
        known = self.cache.known(template.id)
        versions = tuple(known[n] for n in sorted(known, reverse=True))
        return ObservedLaunchTemplate(
            id=template.id,
            name=template.name,
            default_version=template.default_version,
            latest_version=template.latest_version,
            tags=template.tags,
            versions=versions,
        )

    def _fetch_new_versions(self, region: str, template: ObservedLaunchTemplate) -> None:
        """Read versions newer than any seen before; none in a steady state."""
        seen = self.cache.seen_up_to.get(template.id, 0)
        if template.latest_version <= seen:
            return
        for version in describe_versions(self.aws, region, template.id, min_version=seen + 1):
            self.cache.add(template.id, version)
        self.cache.seen_up_to[template.id] = template.latest_version


@dataclass(frozen=True)
class _WriteListener:
    """botocore ``before-parameter-build`` handler: tells the Observer about writes."""

    observer: Observer
    region: str

    def __call__(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.observer.saw_write(self.region, str(model.name), params)


def _groups_named(params: Mapping[str, Any]) -> set[str]:
    named = {str(params["AutoScalingGroupName"])} if "AutoScalingGroupName" in params else set()
    # CreateOrUpdateTags / DeleteTags name their groups per tag.
    named |= {str(t["ResourceId"]) for t in params.get("Tags", []) if "ResourceId" in t}
    return named


def _fresh(entry: _Expiring | None, now: float, ttl: float) -> bool:
    return entry is not None and now - entry.fetched_at < ttl


def quiet_signature(
    group: ObservedAutoScalingGroup, template: ObservedLaunchTemplate | None
) -> Signature | None:
    """The group's picture when it is quiet (no rollout can be under way), else None.

    Quiet: every instance InService and Healthy on the version the group launches, and exactly
    the desired capacity of them. The picture names each instance, so any replacement, a state
    change or a new version makes it differ from the one remembered.
    """
    if template is None or group.launch_template_id != template.id:
        return None
    number = template.resolve(group.launch_template_version)
    instances = group.instances
    if number is None or len(instances) != group.desired_capacity:
        return None
    for instance in instances:
        if (
            instance.launch_template_version is None
            or instance.lifecycle_state != "InService"
            or instance.health_status != "Healthy"
            or template.resolve(instance.launch_template_version) != number
        ):
            return None
    return (
        template.id,
        group.launch_template_version,
        group.desired_capacity,
        tuple(sorted(i.instance_id for i in instances)),
    )


def referenced_versions(
    template: ObservedLaunchTemplate,
    group: ObservedAutoScalingGroup | None,
    refreshes: Sequence[ObservedRefresh],
) -> set[int]:
    refs: list[str | None] = []
    if group is not None and group.launch_template_id == template.id:
        refs.append(group.launch_template_version)
        refs.extend(i.launch_template_version for i in group.instances)
    refs.extend(r.desired_version for r in refreshes[:5])
    numbers = {template.resolve(ref) for ref in refs if ref is not None}
    return {n for n in numbers if n is not None}


# ------------------------------------------------------------------------------------------------
# Batched describes. Each returns records keyed by resource name.
# ------------------------------------------------------------------------------------------------


def describe_groups(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedAutoScalingGroup]:
    found: dict[str, ObservedAutoScalingGroup] = {}
    for chunk in _chunks(sorted(set(names)), _ASG_NAMES_PER_CALL):
        for page in aws.pages(
            "autoscaling",
            "describe_auto_scaling_groups",
            region=region,
            AutoScalingGroupNames=chunk,
            PaginationConfig={"PageSize": 100},
        ):
            for raw in page.get("AutoScalingGroups", []):
                group = parse_group(raw)
                found[group.name] = group
    return found


def describe_templates(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedLaunchTemplate]:
    found: dict[str, ObservedLaunchTemplate] = {}
    # A name filter, unlike LaunchTemplateNames, does not fail the whole call for one missing name.
    for chunk in _chunks(sorted(set(names)), _LT_NAMES_PER_FILTER):
        for page in aws.pages(
            "ec2",
            "describe_launch_templates",
            region=region,
            Filters=[{"Name": "launch-template-name", "Values": chunk}],
            PaginationConfig={"PageSize": _LT_NAMES_PER_FILTER},
        ):
            for raw in page.get("LaunchTemplates", []):
                template = parse_template(raw)
                found[template.name] = template
    return found


def describe_versions(
    aws: Aws,
    region: str,
    template_id: str,
    *,
    versions: Sequence[int] = (),
    min_version: int | None = None,
) -> Iterator[LaunchTemplateVersion]:
    params: dict[str, Any] = {"LaunchTemplateId": template_id}
    if versions:
        params["Versions"] = [str(v) for v in versions]
    if min_version is not None:
        params["MinVersion"] = str(min_version)
    while True:
        page = aws.call(
            "ec2",
            "describe_launch_template_versions",
            region=region,
            resource=template_id,
            **params,
        )
        for raw in page.get("LaunchTemplateVersions", []):
            yield parse_version(raw)
        token = page.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def list_target_groups(aws: Aws, region: str, names: set[str]) -> dict[str, dict[str, Any]]:
    """The raw target groups named in ``names``, by ARN."""
    raw_groups: dict[str, dict[str, Any]] = {}
    # Listing all is one call for most accounts, and unlike Names it tolerates a missing group.
    for page in aws.pages(
        "elbv2", "describe_target_groups", region=region, PaginationConfig={"PageSize": 400}
    ):
        for raw in page.get("TargetGroups", []):
            if raw["TargetGroupName"] in names:
                raw_groups[raw["TargetGroupArn"]] = raw
    return raw_groups


def describe_target_group_tags(
    aws: Aws, region: str, arns: Sequence[str]
) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for chunk in _chunks(list(arns), _TAG_ARNS_PER_CALL):
        response = aws.call("elbv2", "describe_tags", region=region, ResourceArns=chunk)
        for desc in response.get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = _tag_map(desc.get("Tags", []))
    return tags


def describe_policies_by_name(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, list[tuple[str, ObservedScalingPolicy]]]:
    """The reconciler's own policies, by policy name, as (group name, policy) pairs.

    Other policies are not ours to manage. A name is unique within a group, not an account.
    """
    found: dict[str, list[tuple[str, ObservedScalingPolicy]]] = {}
    for chunk in _chunks(sorted(set(names)), _POLICY_NAMES_PER_CALL):
        for page in aws.pages(
            "autoscaling",
            "describe_policies",
            region=region,
            PolicyNames=chunk,
            PaginationConfig={"PageSize": 100},
        ):
            for raw in page.get("ScalingPolicies", []):
                policy = parse_policy(raw)
                found.setdefault(policy.name, []).append((raw["AutoScalingGroupName"], policy))
    return found


def describe_refreshes(aws: Aws, region: str, group: str) -> tuple[ObservedRefresh, ...]:
    response = aws.call(
        "autoscaling",
        "describe_instance_refreshes",
        region=region,
        resource=group,
        AutoScalingGroupName=group,
        MaxRecords=10,
    )
    return tuple(parse_refresh(raw) for raw in response.get("InstanceRefreshes", []))


# ------------------------------------------------------------------------------------------------
# Parsing AWS's response shapes into model records.
# ------------------------------------------------------------------------------------------------


def parse_group(raw: Mapping[str, Any]) -> ObservedAutoScalingGroup:
    spec = _group_template_ref(raw)
    return ObservedAutoScalingGroup(
        name=raw["AutoScalingGroupName"],
        arn=raw.get("AutoScalingGroupARN", ""),
        **fields.from_aws(fields.GROUP, raw),
        launch_template_id=spec.get("LaunchTemplateId"),
        launch_template_name=spec.get("LaunchTemplateName"),
        launch_template_version=spec.get("Version"),
        target_group_arns=tuple(raw.get("TargetGroupARNs", [])),
        tags=_tag_map(raw.get("Tags", [])),
        instances=tuple(parse_instance(i) for i in raw.get("Instances", [])),
    )


def _group_template_ref(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    if "LaunchTemplate" in raw:
        return dict(raw["LaunchTemplate"])
    mixed = raw.get("MixedInstancesPolicy", {})
    return dict(mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {}))


def parse_instance(raw: Mapping[str, Any]) -> ObservedInstance:
    return ObservedInstance(
        instance_id=raw["InstanceId"],
        availability_zone=raw.get("AvailabilityZone", ""),
        lifecycle_state=raw.get("LifecycleState", ""),
        health_status=raw.get("HealthStatus", ""),
        launch_template_version=raw.get("LaunchTemplate", {}).get("Version"),
    )


def parse_template(raw: Mapping[str, Any]) -> ObservedLaunchTemplate:
    return ObservedLaunchTemplate(
        id=raw["LaunchTemplateId"],
        name=raw["LaunchTemplateName"],
        default_version=int(raw.get("DefaultVersionNumber", 1)),
        latest_version=int(raw.get("LatestVersionNumber", 1)),
        tags=_tag_map(raw.get("Tags", [])),
    )


def parse_version(raw: Mapping[str, Any]) -> LaunchTemplateVersion:
    return LaunchTemplateVersion(
        version_number=int(raw["VersionNumber"]),
        user_data=decode_user_data(raw.get("LaunchTemplateData", {}).get("UserData", "")),
        description=raw.get("VersionDescription", "") or "",
        create_time=str(raw.get("CreateTime", "")),
    )


def decode_user_data(encoded: str) -> str:
    if not encoded:
        return ""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.PermanentError(
            f"launch template UserData is not base64 UTF-8: {exc}"
        ) from None


def parse_target_group(raw: Mapping[str, Any], tags: Mapping[str, str]) -> ObservedTargetGroup:
    return ObservedTargetGroup(
        arn=raw["TargetGroupArn"],
        name=raw["TargetGroupName"],
        health_check=HealthCheckSpec(**fields.from_aws(fields.HEALTH_CHECK, raw)),
        tags=dict(tags),
    )


def parse_policy(raw: Mapping[str, Any]) -> ObservedScalingPolicy:
    config = raw.get("TargetTrackingConfiguration", {})
    metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    target = config.get("TargetValue")
    return ObservedScalingPolicy(
        name=raw["PolicyName"],
        policy_type=raw.get("PolicyType", ""),
        metric=metric,
        target_value=float(target) if target is not None else None,
    )


def parse_refresh(raw: Mapping[str, Any]) -> ObservedRefresh:
    template = raw.get("DesiredConfiguration", {}).get("LaunchTemplate", {})
    return ObservedRefresh(
        refresh_id=raw["InstanceRefreshId"],
        status=RefreshStatus(raw["Status"]),
        percentage_complete=int(raw.get("PercentageComplete", 0) or 0),
        instances_to_update=int(raw.get("InstancesToUpdate", 0) or 0),
        status_reason=raw.get("StatusReason", "") or "",
        desired_version=template.get("Version"),
        start_time=str(raw.get("StartTime", "")),
        end_time=str(raw.get("EndTime", "")),
    )


def _tag_map(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
