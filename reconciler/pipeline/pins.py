"""Write each group's pinned record (``TAG_PINNED``) once a full read has seen it in sync.

The record is what lets a later cold observation (a restart, a pull-request ``diff``) skip the
group's refresh history and launch template version (``pipeline.observe.records``). It is
written only from a full read, never from a trusted record, so a record cannot vouch for
itself; and once per change: a group whose record already says it is left alone, so a no-op
tick writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import TAG_PINNED, ServiceOutcome
from reconciler.model.pinned import PinnedRecord
from reconciler.pipeline.diff import version_fingerprint

log = structlog.get_logger(__name__)


def due_record(outcome: ServiceOutcome) -> PinnedRecord | None:
    """The record to write on ``outcome``'s group, or None (nothing to record, or recorded)."""
    observed, desired, found = outcome.observed, outcome.desired, outcome.diff
    if observed is None or desired is None or found is None or outcome.error is not None:
        return None
    group, template = observed.auto_scaling_group, observed.launch_template
    if not found.in_sync or outcome.spec.blue_green is not None:
        return None
    if group is None or template is None or group.launch_template_id != template.id:
        return None
    if group.launch_template_version is None or not group.launch_template_version.isdigit():
        return None  # $Latest / $Default move: nothing to pin
    version = template.version(int(group.launch_template_version))
    if version is None or version.recorded or version_fingerprint(version) != desired.fingerprint:
        return None
    if any(r.status.active for r in observed.refreshes):
        return None
    record = PinnedRecord(template.id, version.version_number, version.description)
    return None if group.tags.get(TAG_PINNED) == record.value() else record


def record_pins(aws: Aws, outcomes: Sequence[ServiceOutcome]) -> int:
    """Write the due records, one CreateOrUpdateTags a group (the API tags "the specified
    Auto Scaling group"); a refused write is logged and retried next tick. Returns how many."""
    written = 0
    for outcome in outcomes:
        record = due_record(outcome)
        group = outcome.observed.auto_scaling_group if outcome.observed else None
        if record is None or group is None:
            continue
        try:
            aws.call(
                "autoscaling",
                "create_or_update_tags",
                region=outcome.spec.region,
                resource=group.name,
                Tags=[
                    {
                        "ResourceId": group.name,
                        "ResourceType": "auto-scaling-group",
                        "Key": TAG_PINNED,
                        "Value": record.value(),
                        "PropagateAtLaunch": False,
                    }
                ],
            )
        except errors.ReconcilerError as exc:
            # Only an optimisation: a missing record costs the next cold read two calls.
            log.warning("pinned record not written", service=outcome.name, error=str(exc))
            continue
        written += 1
    return written
