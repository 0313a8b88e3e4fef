"""The names the reconciler writes into AWS to recognise what it manages, each defined once.

AWS is the reconciler's only memory, so these are part of its persistent format: tags on the
resources, the marker at the start of its launch template version descriptions, and the name and
shape of the one scaling policy it owns on a group. Changing one orphans what earlier releases
wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from reconciler.model.spec import DesiredService

# Tag keys the reconciler writes on what it manages. AWS tag keys may contain '/' and ':'.
TAG_OWNER = "asg-reconciler/owner"
TAG_SERVICE = "asg-reconciler/service"
# The rollout whose failure is remembered (rule 4 of the brief): ``failed_marker``'s value. An
# earlier release wrote the bare version fingerprint; ``parse_failed_marker`` still reads it.
TAG_FAILED_FINGERPRINT = "asg-reconciler/failed-fingerprint"
# Why that rollout failed, in words (at most AWS's 256 characters of a tag value): the
# analysis's numbers, which AWS's own refresh history does not hold.
TAG_FAILED_REASON = "asg-reconciler/failed-reason"
TAG_VALUE_LIMIT = 256
# Written just before the reconciler cancels a refresh it held at a checkpoint, to go past it
# (``pipeline.diff.checkpoint``): which refresh, which checkpoint, and the chain's first refresh.
TAG_CHECKPOINT = "asg-reconciler/checkpoint-passed"
# Set by `reconciler retry`: the failed refresh whose failure no longer counts.
TAG_RETRIED_REFRESH = "asg-reconciler/retried-refresh"
# What the reconciler last saw the group hold, in sync, after a full read (``model.pinned``):
# the launch template id and version number it pinned and that version's description (which
# carries the fingerprint). A cold observation trusts it only while AWS's batched state agrees.
TAG_PINNED = "asg-reconciler/pinned"
# Blue/green's memory on each side's group (``model.traffic.SideMarks`` reads them back).
TAG_BG_ROLLOUT = "asg-reconciler/bg-rollout"  # "<fingerprint>@<epoch>": pinned for a rollout
TAG_BG_STEP = "asg-reconciler/bg-step"  # "<step index>@<epoch>": written before the weights
TAG_BG_VERIFIED = "asg-reconciler/bg-verified"  # "<fingerprint>": reached 100% and passed
TAG_BG_RETIRED = "asg-reconciler/bg-retired"  # "<epoch>": lost its traffic at this time
# TAG_BG_VERIFIED on a side that carried all the traffic before the first rollout on the pair:
# production ran it, so a rollback may return to it, though no fingerprint of ours names it.
BG_ADOPTED = "adopted"
# Who last wrote to the service's group, and at which revision (``pipeline.writers``):
# "<owner>@<revision, 12 characters> by=<daemon|cli> t=<the commit's epoch seconds, or ->".
TAG_WRITER = "asg-reconciler/writer"
DEFAULT_OWNER = "asg-reconciler"
# Marks launch template versions the reconciler created, at the start of their description.
DESCRIPTION_MARKER = "asg-reconciler"

# The scaling policy the reconciler owns: target tracking on the group's average CPU.
POLICY_TYPE = "TargetTrackingScaling"
POLICY_METRIC = "ASGAverageCPUUtilization"


def scaling_policy_name(service: str) -> str:
    """The one scaling policy on a group that the reconciler owns."""
    return f"asg-reconciler-{service}-cpu"


# ------------------------------------------------------------------------------------------------
# The failed-rollout memory
# ------------------------------------------------------------------------------------------------

_KEY_SEPARATOR = "."  # a version fingerprint is hex, so the first "." starts the rollout part
_REFRESH_SEPARATOR = "@"
_ROLLOUT_HASH_LENGTH = 16


@dataclasses.dataclass(frozen=True, slots=True)
class FailedMarker:
    """The failed tag's value, read: whose rollout failed, and in which refresh."""

    fingerprint: str  # the launch template version fingerprint
    key: str | None = None  # the rollout key; None when an earlier release wrote the tag
    refresh_id: str | None = None  # the refresh that failed, when recorded

    def fails(self, desired: DesiredService) -> bool:
        """Whether this marker says ``desired``'s rollout failed. The old format knew only the
        version fingerprint, so a group tagged by an earlier release keeps its failure."""
        if self.key is None:
            return self.fingerprint == desired.fingerprint
        return self.key == rollout_key(desired)


def rollout_key(desired: DesiredService) -> str:
    """Everything a rollout's success depends on, as one key: THE recipe.

    The launch template version fingerprint (image and UserData), the target group's health
    check, the group's health check type and grace period, and the rollout preferences. Only the
    fingerprint shapes the launch template version, so a health check fix reuses the version
    and still counts as a new rollout. Values equal to their dataclass default are left out, so a
    field added later with a default does not change the keys already written.
    """
    spec = desired.spec
    group = spec.auto_scaling_group
    parts = {
        "healthCheck": _declared(spec.target_group.health_check),
        "healthCheckType": group.health_check_type,
        "gracePeriod": group.health_check_grace_period,
        "rollout": _declared(spec.rollout),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:_ROLLOUT_HASH_LENGTH]
    return f"{desired.fingerprint}{_KEY_SEPARATOR}{digest}"


def failed_marker(desired: DesiredService, *, refresh_id: str | None) -> str:
    """The failed tag's value for ``desired``'s rollout, failed in ``refresh_id``.

    The refresh id tells a later diff which failure the tag accounts for: a failure of the same
    launch template version under another rollout key is a new one, not this one.
    """
    key = rollout_key(desired)
    return f"{key}{_REFRESH_SEPARATOR}{refresh_id}" if refresh_id else key


def parse_failed_marker(value: str) -> FailedMarker:
    key, _, refresh_id = value.partition(_REFRESH_SEPARATOR)
    fingerprint, separator, _ = key.partition(_KEY_SEPARATOR)
    if not separator:
        return FailedMarker(fingerprint=value)  # an earlier release's bare fingerprint
    return FailedMarker(fingerprint=fingerprint, key=key, refresh_id=refresh_id or None)


def _declared(value: Any) -> dict[str, Any]:
    """A dataclass's fields that differ from their defaults (a field without one always counts)."""
    found: dict[str, Any] = {}
    for item in dataclasses.fields(value):
        current = getattr(value, item.name)
        if item.default is not dataclasses.MISSING and current == item.default:
            continue
        if item.default_factory is not dataclasses.MISSING and current == item.default_factory():
            continue
        found[item.name] = current
    return found
