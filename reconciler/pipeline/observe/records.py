"""When a cold observation may trust a group's pinned record instead of reading its refreshes
and its launch template version: the cold diff's O(N/100) calls. Pure: no I/O.

Launch template versions are immutable and numbered in creation order; the number cannot be
chosen (aws-facts 4, [M CreateLaunchTemplateVersion]), so a template id and a version number pin
the content the record describes. ``$Latest``/``$Default`` do not, and are never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.images.description import parse_description
from reconciler.model import (
    TAG_BG_ROLLOUT,
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    TAG_PINNED,
    TAG_RETRIED_REFRESH,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
)
from reconciler.model.markers import parse_failed_marker
from reconciler.model.pinned import PinnedRecord, parse_pinned

# Tags that hold a rollout's memory: what they mean is decided against the refresh history.
_ROLLOUT_MEMORY = (TAG_CHECKPOINT, TAG_RETRIED_REFRESH, TAG_BG_ROLLOUT)


def trusted(
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate | None,
    *,
    fingerprint: str | None,
) -> PinnedRecord | None:
    """The group's record when its refreshes and its version need not be read; else None.

    Every condition is checked on what DescribeAutoScalingGroups and DescribeLaunchTemplates
    returned this tick; when one fails, the group is read in full as if it had no record:

    - the record parses and names the template that the service's template name resolves to
      (a template deleted and recreated under the same name has a new id) and the group's own;
    - the group pins that number exactly, not ``$Latest``/``$Default`` (they move);
    - ``fingerprint`` (what the service wants) is known and is the one in the record's
      description: otherwise a rollout is due, and its refresh history decides it (a failed
      fingerprint is not retried);
    - no rollout can be under way: exactly the desired capacity of instances, every one
      InService, Healthy and launched from that template and number. A refresh replaces or adds
      instances within its first batch, and AWS writes a desired configuration into the group's
      settings only once the refresh succeeds (aws-facts 1.1, [M StartInstanceRefresh.
      DesiredConfiguration]), so while one runs or bakes the group still pins the old number;
    - no rollout memory is on the group (checkpoint, retry, blue/green marks), and no failure
      marker for that fingerprint: those are judged against the refresh history.
    """
    record = parse_pinned(group.tags.get(TAG_PINNED))
    if record is None or template is None or fingerprint is None:
        return None
    if parse_description(record.description).get("fp") != fingerprint:
        return None
    if not record.template_id == template.id == group.launch_template_id:
        return None
    if group.launch_template_version != str(record.version):
        return None
    if not _settled(group, record):
        return None
    if any(key in group.tags for key in _ROLLOUT_MEMORY):
        return None
    if _failed(group.tags, fingerprint):
        return None
    return record


def _settled(group: ObservedAutoScalingGroup, record: PinnedRecord) -> bool:
    if len(group.instances) != group.desired_capacity:
        return False
    return all(
        i.lifecycle_state == "InService"
        and i.health_status == "Healthy"
        and i.launch_template_version == str(record.version)
        and i.launch_template_id == record.template_id
        for i in group.instances
    )


def _failed(tags: Mapping[str, str], fingerprint: str) -> bool:
    value = tags.get(TAG_FAILED_FINGERPRINT)
    return value is not None and parse_failed_marker(value).fingerprint == fingerprint
