"""What a failed rollout left running: the failed refresh, and the group's instances by launch
template version with the image and git revision each version records (``apply --wait``'s last
word, and the demo's). Pure: over what one pass observed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reconciler.images.description import parse_description
from reconciler.model import ObservedRefresh, ObservedService, RefreshStatus, ServiceOutcome
from reconciler.pipeline.diff.failure import group_marker, reason
from reconciler.pipeline.status import (
    Revision,
    applied_revision,
    history,
    last_failed_refresh,
)


@dataclass(frozen=True, slots=True)
class Running:
    """Instances of the group on one launch template version (None: not from a template)."""

    version: int | None
    count: int
    tag: str | None = None  # the image tag recorded in the version's description, if ours
    image: str | None = None  # repository@sha256:...
    revision: str | None = None  # the git revision recorded for the version


@dataclass(frozen=True, slots=True)
class Aftermath:
    """How a failed rollout left a service: the refresh, and what the instances run now."""

    service: str
    refresh: ObservedRefresh | None  # the failed refresh; None when only the failure tag says so
    running: tuple[Running, ...] = ()  # most instances first
    launches: int | None = None  # the version the group launches new instances from
    message: str = ""  # the diff's word on the failure
    auto_rollback: bool = True  # what the desired state asked of AWS
    why: str = ""  # why the refresh failed: the reconciler's record (analysis), else AWS's reason

    @property
    def mixed(self) -> bool:
        """Instances on more than one version: AWS neither finished nor undid the rollout."""
        return len(self.running) > 1

    @property
    def ended(self) -> RefreshStatus | None:
        return self.refresh.status if self.refresh is not None else None


# Instances on their way out are no longer what the group runs.
_GONE = ("Terminat", "Detach")


def aftermath(outcome: ServiceOutcome) -> Aftermath:
    observed = outcome.observed
    message = outcome.diff.message if outcome.diff is not None else ""
    auto_rollback = outcome.spec.rollout.auto_rollback
    if observed is None:
        return Aftermath(outcome.name, None, message=message, auto_rollback=auto_rollback)
    applied = applied_revision(observed)
    refresh = _failed_refresh(observed)
    why = reason(refresh, observed.auto_scaling_group) if refresh is not None else ""
    return Aftermath(
        service=outcome.name,
        refresh=refresh,
        running=running_now(observed),
        launches=applied.launch_template_version if applied else None,
        message=message,
        auto_rollback=auto_rollback,
        why=why.removeprefix(": "),
    )


def _failed_refresh(observed: ObservedService) -> ObservedRefresh | None:
    """The refresh the group's failed tag names (one the analysis cancelled looks, to AWS,
    like any cancel), else the newest refresh AWS reports failed."""
    group = observed.auto_scaling_group
    marker = group_marker(group) if group is not None else None
    if marker is not None and marker.refresh_id:
        named = next((r for r in observed.refreshes if r.refresh_id == marker.refresh_id), None)
        if named is not None:
            return named
    return last_failed_refresh(observed)


def running_now(observed: ObservedService) -> tuple[Running, ...]:
    """The group's instances by launch template version, as AWS lists them, most first."""
    group = observed.auto_scaling_group
    if group is None:
        return ()
    counts = Counter(
        _version_number(i.launch_template_version)
        for i in group.instances
        if not i.lifecycle_state.startswith(_GONE)
    )
    known = _revisions(observed)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], -(item[0] or 0)))
    return tuple(_running(number, count, known, observed) for number, count in ordered)


def _version_number(ref: str | None) -> int | None:
    return int(ref) if ref is not None and ref.isdigit() else None


def _revisions(observed: ObservedService) -> dict[int, Revision]:
    """What status and history know of each version: ours, and the one the group is on."""
    known = {r.launch_template_version: r for r in history(observed)}
    applied = applied_revision(observed)
    if applied is not None:
        known.setdefault(applied.launch_template_version, applied)
    return {number: r for number, r in known.items() if number is not None}


def _running(
    number: int | None, count: int, known: dict[int, Revision], observed: ObservedService
) -> Running:
    revision = known.get(number) if number is not None else None
    template = observed.launch_template
    version = template.version(number) if template is not None and number is not None else None
    tag = parse_description(version.description).get("tag") if version is not None else None
    return Running(
        version=number,
        count=count,
        tag=tag,
        image=revision.image if revision else None,
        revision=revision.revision if revision else None,
    )
