"""The pinned record (``TAG_PINNED``) on a group: what it says, written and read back.

The record says: "after a full read, this group was in sync on launch template ``template_id``
version ``version``, whose description was ``description``". Launch template versions are
immutable and numbered in creation order (aws-facts 4), so an id and a number pin the content;
a ``$Latest``/``$Default`` reference does not.

The record stands in for the two per-group reads (DescribeInstanceRefreshes and
DescribeLaunchTemplateVersions) only while what DescribeAutoScalingGroups returns anyway agrees
with it (``pipeline.observe.records.trusted``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model.markers import TAG_VALUE_LIMIT
from reconciler.model.observed import LaunchTemplateVersion


@dataclass(frozen=True, slots=True)
class PinnedRecord:
    template_id: str
    version: int
    description: str  # the version's own description (ours carries fp=, rev=, tag=, image=)

    def value(self) -> str:
        """The tag value, cut to AWS's 256 characters (the description's tail goes first:
        ``parse_description`` drops an image the cut went through)."""
        return f"{self.template_id} {self.version} {self.description}"[:TAG_VALUE_LIMIT]

    def stands_for(self) -> LaunchTemplateVersion:
        """The version as the record knows it: its description, its UserData not read."""
        return LaunchTemplateVersion(
            version_number=self.version, user_data="", description=self.description, recorded=True
        )


def parse_pinned(value: str | None) -> PinnedRecord | None:
    """The record in a tag value; None when absent or not in the format (never trusted)."""
    if not value:
        return None
    template_id, _, rest = value.partition(" ")
    number, _, description = rest.partition(" ")
    if not template_id.startswith("lt-") or not number.isdigit() or int(number) < 1:
        return None
    return PinnedRecord(template_id=template_id, version=int(number), description=description)
