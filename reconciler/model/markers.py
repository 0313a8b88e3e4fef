"""The names the reconciler writes into AWS to recognise what it manages, each defined once.

AWS is the reconciler's only memory, so these are part of its persistent format: tags on the
resources, the marker at the start of its launch template version descriptions, and the name and
shape of the one scaling policy it owns on a group. Changing one orphans what earlier releases
wrote.
"""

from __future__ import annotations

# Tag keys the reconciler writes on what it manages. AWS tag keys may contain '/' and ':'.
TAG_OWNER = "asg-reconciler/owner"
TAG_SERVICE = "asg-reconciler/service"
# The spec fingerprint whose rollout failed; see rule 4 of the brief.
TAG_FAILED_FINGERPRINT = "asg-reconciler/failed-fingerprint"
# Set by `reconciler retry`: the failed refresh whose failure no longer counts.
TAG_RETRIED_REFRESH = "asg-reconciler/retried-refresh"
DEFAULT_OWNER = "asg-reconciler"
# Marks launch template versions the reconciler created, at the start of their description.
DESCRIPTION_MARKER = "asg-reconciler"

# The scaling policy the reconciler owns: target tracking on the group's average CPU.
POLICY_TYPE = "TargetTrackingScaling"
POLICY_METRIC = "ASGAverageCPUUtilization"


def scaling_policy_name(service: str) -> str:
    """The one scaling policy on a group that the reconciler owns."""
    return f"asg-reconciler-{service}-cpu"
