"""Instance refreshes: one call a group, so read only when a group may have one under way.

``quiet_signature`` is the picture of a group that cannot be rolling out; ``RefreshMemory``
keeps each group's refreshes as last read with that picture, and which groups we wrote to, and
decides from them which groups a tick reads again (see the package docstring for why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.aws import Aws
from reconciler.model import ObservedAutoScalingGroup, ObservedLaunchTemplate, ObservedRefresh
from reconciler.pipeline.observe.memory import Key, RegionStore
from reconciler.pipeline.observe.shapes import parse_refresh

Signature = tuple[Any, ...]


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


@dataclass
class _RefreshMemo:
    """A group's refreshes as last read, and the group's picture then (None: not quiet)."""

    refreshes: tuple[ObservedRefresh, ...]
    read_at: float
    quiet: Signature | None


@dataclass
class RefreshMemory(RegionStore[_RefreshMemo]):
    """Each group's refreshes as last read, and the groups this process wrote to since."""

    _dirty: set[Key] = field(default_factory=set)

    def to_read(
        self,
        region: str,
        pictures: Mapping[str, Signature | None],
        *,
        now: float,
        recheck: float,
        rechecks: int,
    ) -> set[str]:
        """Groups whose refreshes must be read: not quiet, changed, written to, or due.

        Of the due ones (last read ``recheck`` seconds ago or more), only the ``rechecks``
        oldest, so the safety net costs a bounded number of calls a tick.
        """
        must: set[str] = set()
        due: list[tuple[float, str]] = []
        with self._lock:
            for name, picture in pictures.items():
                memo = self._entries.get((region, name))
                if (
                    memo is None
                    or picture is None
                    or memo.quiet != picture
                    or (region, name) in self._dirty
                ):
                    must.add(name)
                elif now - memo.read_at >= recheck:
                    due.append((memo.read_at, name))
        return must | {name for _, name in sorted(due)[: max(0, rechecks)]}

    def remember(
        self,
        region: str,
        group: str,
        refreshes: tuple[ObservedRefresh, ...],
        *,
        now: float,
        picture: Signature | None,
    ) -> None:
        # An active refresh may move on without changing the picture: never quiet.
        active = any(r.status.active for r in refreshes)
        with self._lock:
            self._entries[(region, group)] = _RefreshMemo(
                refreshes=refreshes, read_at=now, quiet=None if active else picture
            )
            self._dirty.discard((region, group))

    def vouch(self, region: str, group: str, *, now: float, picture: Signature | None) -> None:
        """A trusted pinned record stands for a first read that found no refresh: only where
        nothing was read yet and this process has not written to the group since."""
        with self._lock:
            key = (region, group)
            if key in self._entries or key in self._dirty:
                return
            self._entries[key] = _RefreshMemo(refreshes=(), read_at=now, quiet=picture)

    def recalled(self, region: str, group: str) -> tuple[ObservedRefresh, ...]:
        with self._lock:
            return self._entries[(region, group)].refreshes

    def written(self, region: str, group: str) -> None:
        with self._lock:
            self._dirty.add((region, group))


_FIRST_PAGE = 10  # what a tick needs: the newest refreshes
_LATER_PAGE = 100  # AWS's largest MaxRecords for DescribeInstanceRefreshes
MAX_PAGES = 10  # at most 910 refreshes back: a bound on one read, however old the history


def describe_refreshes(
    aws: Aws, region: str, group: str, *, wanted: Collection[int] = ()
) -> tuple[ObservedRefresh, ...]:
    """The group's refreshes, newest first: the first page, and more (NextToken) only until a
    refresh to each of the ``wanted`` launch template versions is among them (issue 17 #13:
    an outcome older than the tenth refresh was lost). A version never refreshed to reads on
    to the end of AWS's history, at most ``MAX_PAGES`` calls."""
    found: list[ObservedRefresh] = []
    missing = set(wanted)
    token: str | None = None
    for page in range(MAX_PAGES):
        params: dict[str, Any] = {"MaxRecords": _FIRST_PAGE if page == 0 else _LATER_PAGE}
        if token:
            params["NextToken"] = token
        response = aws.call(
            "autoscaling",
            "describe_instance_refreshes",
            region=region,
            resource=group,
            AutoScalingGroupName=group,
            **params,
        )
        read = [with_preferences(raw) for raw in response.get("InstanceRefreshes", [])]
        found += read
        versions = (r.desired_version or "" for r in read)
        missing -= {int(v) for v in versions if v.isdigit()}
        token = response.get("NextToken")
        if not token or not missing:
            break
    return tuple(found)


def with_preferences(raw: Mapping[str, Any]) -> ObservedRefresh:
    """One refresh, with the preferences the checkpoint gate reads: where AWS pauses and for
    how long ([M InstanceRefresh.Preferences], returned by DescribeInstanceRefreshes)."""
    prefs = raw.get("Preferences") or {}
    delay, warmup = prefs.get("CheckpointDelay"), prefs.get("InstanceWarmup")
    return dataclasses.replace(
        parse_refresh(raw),
        checkpoint_percentages=tuple(int(p) for p in prefs.get("CheckpointPercentages") or ()),
        checkpoint_delay=int(delay) if delay is not None else None,
        skip_matching=bool(prefs.get("SkipMatching", False)),
        instance_warmup=int(warmup) if warmup is not None else None,
    )
