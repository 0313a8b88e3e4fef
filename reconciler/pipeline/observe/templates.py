"""Launch templates, read every tick, and their versions, read once: a version never changes.

``VersionCache`` keeps the versions seen; a tick reads only versions newer than
``LatestVersionNumber`` last time, and a referenced number the cache lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws
from reconciler.model import (
    DESCRIPTION_MARKER,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
)
from reconciler.pipeline.diff import version_fingerprint
from reconciler.pipeline.observe.batches import Pages, batched
from reconciler.pipeline.observe.shapes import parse_template, parse_version

# How many of its own launch template versions per template the reconciler remembers: enough to
# reuse a recent version on revert, without holding every UserData ever deployed in memory.
KEEP_OWN_VERSIONS = 20
LT_NAMES_PER_FILTER = 200


@dataclass
class VersionCache:
    """Launch template versions by template id. Versions are immutable, so never re-read."""

    versions: dict[str, dict[int, LaunchTemplateVersion]] = field(default_factory=dict)
    seen_up_to: dict[str, int] = field(default_factory=dict)

    def known(self, template_id: str) -> dict[int, LaunchTemplateVersion]:
        return self.versions.setdefault(template_id, {})

    def has(self, template_id: str) -> bool:
        """Whether this template's versions were read (by ``with_versions``) in this process."""
        return template_id in self.seen_up_to

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

    def runs(
        self,
        group: ObservedAutoScalingGroup,
        template: ObservedLaunchTemplate | None,
        fingerprint: str,
    ) -> bool:
        """Whether the version ``group`` launches is known (cached) to hold ``fingerprint``."""
        if template is None or group.launch_template_id != template.id:
            return False
        number = template.resolve(group.launch_template_version)
        version = self.known(template.id).get(number) if number is not None else None
        return version is not None and version_fingerprint(version) == fingerprint


def with_versions(
    aws: Aws,
    cache: VersionCache,
    region: str,
    template: ObservedLaunchTemplate,
    *,
    referenced: set[int],
) -> ObservedLaunchTemplate:
    """``template`` with the versions worth keeping: ours, the newest, and the ``referenced``."""
    _fetch_new_versions(aws, cache, region, template)
    missing = [n for n in referenced if n not in cache.known(template.id)]
    if missing:
        for version in describe_versions(aws, region, template.id, versions=missing):
            cache.add(template.id, version)
    cache.trim(template.id, keep=referenced)
    known = cache.known(template.id)
    versions = tuple(known[n] for n in sorted(known, reverse=True))
    return ObservedLaunchTemplate(
        id=template.id,
        name=template.name,
        default_version=template.default_version,
        latest_version=template.latest_version,
        tags=template.tags,
        versions=versions,
    )


def _fetch_new_versions(
    aws: Aws, cache: VersionCache, region: str, template: ObservedLaunchTemplate
) -> None:
    """Read versions newer than any seen before; none in a steady state."""
    seen = cache.seen_up_to.get(template.id, 0)
    if template.latest_version <= seen:
        return
    for version in describe_versions(aws, region, template.id, min_version=seen + 1):
        cache.add(template.id, version)
    cache.seen_up_to[template.id] = template.latest_version


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


def describe_templates(
    aws: Aws, region: str, names: Sequence[str]
) -> dict[str, ObservedLaunchTemplate]:
    def read(chunk: list[str]) -> Pages:
        # A name filter, unlike LaunchTemplateNames, does not fail the call for one missing name.
        params: dict[str, Any] = {
            "Filters": [{"Name": "launch-template-name", "Values": chunk}],
            "PaginationConfig": {"PageSize": LT_NAMES_PER_FILTER},
        }
        return aws.pages("ec2", "describe_launch_templates", region=region, **params)

    raws = batched(names, LT_NAMES_PER_FILTER, read, member="LaunchTemplates")
    return {template.name: template for template in map(parse_template, raws)}


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
