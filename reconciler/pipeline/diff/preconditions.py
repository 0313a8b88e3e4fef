"""What AWS refuses before a rollout can start, found in the observed state so the service says
so (Blocked, with what to do) instead of failing every tick on StartInstanceRefresh.

Only the diff can find these: they depend on what AWS holds, and ``reconciler validate`` reads no
AWS. Today that is AutoRollback against a launch template version whose ImageId is a Systems
Manager parameter (aws-facts 1.6): AWS cannot roll back to it, so the refresh is refused.
"""

from __future__ import annotations

from reconciler.model import DesiredService, ObservedAutoScalingGroup, ObservedLaunchTemplate
from reconciler.pipeline.diff.versions import current_version


def refused_rollout(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> str:
    """Why AWS would refuse the refresh this rollout needs, or "" when nothing is known to stop it.

    The rollback target is the version the group runs before the refresh, and a new version
    copies its ImageId from it too; a version not observed is not guessed at.
    """
    if not desired.spec.rollout.auto_rollback:
        return ""
    number = current_version(group, template)
    version = template.version(number) if number is not None else None
    if version is None or not version.image_from_ssm:
        return ""
    return (
        f"AutoRollback can't be used with an SSM-parameter AMI: launch template {template.name}"
        f" version {number} takes its ImageId from {version.image_id}, and AWS cannot roll back"
        " to such a version, so it refuses the instance refresh. Set rollout.autoRollback: false"
        " in desired.yaml (a failed rollout then stays failed until fixed), or pin an AMI id"
        " (ami-...) as the launch template's ImageId"
    )
