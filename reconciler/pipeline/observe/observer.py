"""The Observer: one tick's batched reads per region, tied into one ``ObservedService`` each.

It owns what is remembered between ticks (versions, refreshes, tags, policies) and forgets it
as services leave the desired files or as our own writes change it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws
from reconciler.model import (
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    ServiceSpec,
)
from reconciler.model.pinned import PinnedRecord
from reconciler.pipeline.observe import writes
from reconciler.pipeline.observe.analysis import observe_analysis
from reconciler.pipeline.observe.bluegreen import observe_blue_green
from reconciler.pipeline.observe.groups import describe_groups
from reconciler.pipeline.observe.policies import PolicyCache, observe_policies
from reconciler.pipeline.observe.records import trusted
from reconciler.pipeline.observe.refreshes import (
    RefreshMemory,
    Signature,
    describe_refreshes,
    quiet_signature,
)
from reconciler.pipeline.observe.target_groups import TagCache, observe_target_groups
from reconciler.pipeline.observe.templates import (
    VersionCache,
    describe_templates,
    referenced_versions,
    with_versions,
)

REFRESH_RECHECK_SECONDS = 300.0
RECHECKS_PER_TICK = 1
TAGS_TTL_SECONDS = 300.0
POLICIES_TTL_SECONDS = 300.0


@dataclass
class _Memory:
    """What the Observer keeps between ticks besides launch template versions."""

    refreshes: RefreshMemory = field(default_factory=RefreshMemory)
    target_group_tags: TagCache = field(default_factory=TagCache)
    policies: PolicyCache = field(default_factory=PolicyCache)


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

    def saw_write(self, region: str, operation: str, params: Mapping[str, Any]) -> None:
        """Forget what ``operation`` (about to be sent with ``params``) may change."""
        if operation in writes.GROUP_WRITES:
            for group in writes.groups_named(params):
                self._memory.refreshes.written(region, group)
        elif operation in writes.POLICY_WRITES:
            self._memory.policies.drop(region, str(params.get("AutoScalingGroupName", "")))
        elif operation in writes.TARGET_GROUP_TAG_WRITES:
            for arn in params.get("ResourceArns", []):
                self._memory.target_group_tags.drop(region, str(arn))

    def _observe_region(
        self, region: str, specs: Sequence[ServiceSpec], *, wanted: Mapping[str, str]
    ) -> dict[str, ObservedService]:
        reads = self._read(region, specs, wanted=wanted)
        self._forget_unused(region, specs, target_groups=reads.target_groups)
        services = {
            spec.name: self._service(region, spec, reads, fingerprint=wanted.get(spec.name))
            for spec in specs
        }
        # Read again every tick while a refresh runs: nothing about an analysis is remembered.
        rolling = [(s, services[s.name]) for s in specs if s.blue_green is None]
        inputs = observe_analysis(self.aws, region, rolling)
        for name, found in inputs.items():
            services[name] = dataclasses.replace(services[name], analysis=found)
        return services

    def _read(
        self, region: str, specs: Sequence[ServiceSpec], *, wanted: Mapping[str, str]
    ) -> _Reads:
        """One region's batched reads, skipping what the memory still holds."""
        now = self.clock()
        groups = describe_groups(self.aws, region, [g for s in specs for g in _group_names(s)])
        templates = describe_templates(self.aws, region, [s.launch_template.name for s in specs])
        target_groups = observe_target_groups(
            self.aws,
            region,
            {t for s in specs for t in _target_group_names(s)},
            tags=self._memory.target_group_tags,
            now=now,
            ttl=self.tags_ttl,
        )
        policies = observe_policies(
            self.aws,
            region,
            [g for s in specs for g in _group_names(s)],
            cache=self._memory.policies,
            now=now,
            ttl=self.policies_ttl,
        )
        pictures, rollout_due = self._pictures(specs, groups, templates, wanted=wanted)
        running = _running_versions(specs, groups, templates)
        records = _records(specs, groups, templates, wanted=wanted)
        rollout_due -= set(records)  # the record says the group runs the wanted fingerprint
        for name in records:
            # The record stands for the first read; after it, the picture rules as before.
            self._memory.refreshes.vouch(region, name, now=now, picture=pictures.get(name))
        refreshes = self._refreshes(
            region, pictures, rollout_due=rollout_due, now=now, running=running
        )
        return _Reads(groups, templates, target_groups, policies, refreshes, records)

    def _service(
        self, region: str, spec: ServiceSpec, reads: _Reads, *, fingerprint: str | None
    ) -> ObservedService:
        group = reads.groups.get(spec.auto_scaling_group.name)
        refreshes = reads.refreshes.get(group.name, ()) if group else ()
        target = reads.target_groups.get(spec.target_group.name)
        green = _green(spec, reads)
        template = reads.templates.get(spec.launch_template.name)
        record = reads.records.get(spec.auto_scaling_group.name)
        if template is not None and record is not None and not self.cache.has(template.id):
            template = dataclasses.replace(template, versions=(record.stands_for(),))
        elif template is not None:
            referenced = referenced_versions(template, group, refreshes)
            referenced |= referenced_versions(template, green[0], ())
            template = with_versions(self.aws, self.cache, region, template, referenced=referenced)
        blue_green = None
        if spec.blue_green is not None:
            blue_green = observe_blue_green(
                self.aws, spec, blue=(group, target), green=green, fingerprint=fingerprint
            )
            green_policies = tuple(reads.policies.get(spec.blue_green.green.auto_scaling_group, ()))
            blue_green = dataclasses.replace(blue_green, green_scaling_policies=green_policies)
        return ObservedService(
            name=spec.name,
            auto_scaling_group=group,
            launch_template=template,
            target_group=target,
            scaling_policies=tuple(reads.policies.get(spec.auto_scaling_group.name, ())),
            refreshes=refreshes,
            blue_green=blue_green,
        )

    # -- instance refreshes ------------------------------------------------------------------

    def _pictures(
        self,
        specs: Sequence[ServiceSpec],
        groups: Mapping[str, ObservedAutoScalingGroup],
        templates: Mapping[str, ObservedLaunchTemplate],
        *,
        wanted: Mapping[str, str],
    ) -> tuple[dict[str, Signature | None], set[str]]:
        """Each group's quiet picture, and the groups a rollout is due for (by fingerprint)."""
        pictures: dict[str, Signature | None] = {}
        rollout_due: set[str] = set()
        for spec in specs:
            group = groups.get(spec.auto_scaling_group.name)
            if group is None:
                continue
            template = templates.get(spec.launch_template.name)
            pictures[group.name] = quiet_signature(group, template)
            fingerprint = wanted.get(spec.name)
            if fingerprint is not None and not self.cache.runs(group, template, fingerprint):
                rollout_due.add(group.name)
        return pictures, rollout_due

    def _refreshes(
        self,
        region: str,
        pictures: Mapping[str, Signature | None],
        *,
        rollout_due: set[str],
        now: float,
        running: Mapping[str, int],
    ) -> dict[str, tuple[ObservedRefresh, ...]]:
        memory = self._memory.refreshes
        to_read = rollout_due | memory.to_read(
            region, pictures, now=now, recheck=self.refresh_recheck, rechecks=self.rechecks_per_tick
        )
        found: dict[str, tuple[ObservedRefresh, ...]] = {}
        for name, picture in pictures.items():
            if name in to_read:
                # Status shows the outcome of the version the group runs: read back to it.
                wanted = (running[name],) if name in running else ()
                found[name] = describe_refreshes(self.aws, region, name, wanted=wanted)
                memory.remember(region, name, found[name], now=now, picture=picture)
            else:
                found[name] = memory.recalled(region, name)
        return found

    # -- memory ------------------------------------------------------------------------------

    def _forget_unused(
        self,
        region: str,
        specs: Sequence[ServiceSpec],
        *,
        target_groups: Mapping[str, ObservedTargetGroup],
    ) -> None:
        """Memory follows the desired files: a removed service's entries go (no growth)."""
        self._memory.refreshes.keep_only(region, {s.auto_scaling_group.name for s in specs})
        groups = {g for s in specs for g in _group_names(s)}
        self._memory.policies.keep_only(region, groups)
        self._memory.target_group_tags.keep_only(region, {t.arn for t in target_groups.values()})

    def _watch_writes(self, region: str) -> None:
        """Hear every write this process makes through ``aws``'s clients for ``region``."""
        if region not in self._watched:
            writes.listen(self.aws, region, self)
            self._watched.add(region)


def _running_versions(
    specs: Sequence[ServiceSpec],
    groups: Mapping[str, ObservedAutoScalingGroup],
    templates: Mapping[str, ObservedLaunchTemplate],
) -> dict[str, int]:
    """The launch template version number each group launches, by group name, where known."""
    found: dict[str, int] = {}
    for spec in specs:
        template = templates.get(spec.launch_template.name)
        for name in _group_names(spec):
            group = groups.get(name)
            if group is not None and template is not None:
                number = template.resolve(group.launch_template_version)
                if number is not None:
                    found[name] = number
    return found


def _group_names(spec: ServiceSpec) -> tuple[str, ...]:
    green = (spec.blue_green.green.auto_scaling_group,) if spec.blue_green else ()
    return (spec.auto_scaling_group.name, *green)


def _target_group_names(spec: ServiceSpec) -> tuple[str, ...]:
    green = (spec.blue_green.green.target_group,) if spec.blue_green else ()
    return (spec.target_group.name, *green)


def _records(
    specs: Sequence[ServiceSpec],
    groups: Mapping[str, ObservedAutoScalingGroup],
    templates: Mapping[str, ObservedLaunchTemplate],
    *,
    wanted: Mapping[str, str],
) -> dict[str, PinnedRecord]:
    """The groups whose pinned record stands for reading their refreshes and version.

    Blue/green pairs never: which side serves, and what it verified, is in their history.
    """
    found: dict[str, PinnedRecord] = {}
    for spec in specs:
        group = groups.get(spec.auto_scaling_group.name)
        if spec.blue_green is not None or group is None:
            continue
        template = templates.get(spec.launch_template.name)
        record = trusted(group, template, fingerprint=wanted.get(spec.name))
        if record is not None:
            found[group.name] = record
    return found


def _green(
    spec: ServiceSpec, reads: _Reads
) -> tuple[ObservedAutoScalingGroup | None, ObservedTargetGroup | None]:
    if spec.blue_green is None:
        return None, None
    side = spec.blue_green.green
    return reads.groups.get(side.auto_scaling_group), reads.target_groups.get(side.target_group)


@dataclass(frozen=True)
class _Reads:
    """One region's reads, by resource name."""

    groups: Mapping[str, ObservedAutoScalingGroup]
    templates: Mapping[str, ObservedLaunchTemplate]
    target_groups: Mapping[str, ObservedTargetGroup]
    policies: Mapping[str, list[ObservedScalingPolicy]]
    refreshes: Mapping[str, tuple[ObservedRefresh, ...]]
    records: Mapping[str, PinnedRecord]
