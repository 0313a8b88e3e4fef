"""The observed side: what AWS holds for a service, as ``observe`` reads it. A missing resource
is ``None``; nothing here is fetched lazily.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.model.analysis import AnalysisInputs
from reconciler.model.spec import HealthCheckSpec

SSM_IMAGE_PREFIX = "resolve:ssm:"


@dataclass(frozen=True, slots=True)
class LaunchTemplateVersion:
    version_number: int
    user_data: str  # decoded from base64; "" when absent
    description: str = ""
    create_time: str = ""
    # LaunchTemplateData.ImageId as stored: an AMI id, or "resolve:ssm:<parameter>" (aws-facts 4).
    image_id: str = ""
    # Known only from the group's pinned record (``model.pinned``): the description is the
    # version's own, its UserData and ImageId were not read.
    recorded: bool = False

    @property
    def image_from_ssm(self) -> bool:
        """AWS refuses rollback, and AutoRollback, for a group launching such a version (1.6)."""
        return self.image_id.startswith(SSM_IMAGE_PREFIX)


@dataclass(frozen=True, slots=True)
class ObservedLaunchTemplate:
    id: str
    name: str
    default_version: int
    latest_version: int
    tags: Mapping[str, str] = field(default_factory=dict)
    # Versions the diff may need: the one the group uses, and those the reconciler created.
    versions: tuple[LaunchTemplateVersion, ...] = ()

    def version(self, number: int) -> LaunchTemplateVersion | None:
        return next((v for v in self.versions if v.version_number == number), None)

    def resolve(self, ref: str | None) -> int | None:
        """Turn a group's version reference ("3", "$Latest", "$Default") into a number."""
        if ref in (None, "$Default"):
            return self.default_version
        if ref == "$Latest":
            return self.latest_version
        return int(ref) if ref.isdigit() else None


@dataclass(frozen=True, slots=True)
class ObservedInstance:
    instance_id: str
    availability_zone: str
    lifecycle_state: str  # "InService", "Pending", ...
    health_status: str  # "Healthy" | "Unhealthy"
    launch_template_version: str | None
    launch_template_id: str | None = None


@dataclass(frozen=True, slots=True)
class ObservedAutoScalingGroup:
    name: str
    arn: str
    min_size: int
    max_size: int
    desired_capacity: int
    health_check_type: str
    health_check_grace_period: int
    launch_template_id: str | None
    launch_template_name: str | None
    launch_template_version: str | None  # as AWS reports it: "3", "$Latest" or "$Default"
    target_group_arns: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    instances: tuple[ObservedInstance, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedTargetGroup:
    arn: str
    name: str
    health_check: HealthCheckSpec
    tags: Mapping[str, str] = field(default_factory=dict)
    # The load balancers that route to it: a per-target-group ALB metric is published per
    # (TargetGroup, LoadBalancer) pair and must be queried with both (aws-facts 6).
    load_balancer_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedScalingPolicy:
    name: str
    policy_type: str
    metric: str | None  # predefined metric type, e.g. "ASGAverageCPUUtilization"
    target_value: float | None
    enabled: bool = True  # a disabled policy keeps its settings and scales nothing
    disable_scale_in: bool = False  # target tracking that only ever adds capacity


class RefreshStatus(enum.StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    ROLLBACK_IN_PROGRESS = "RollbackInProgress"
    ROLLBACK_FAILED = "RollbackFailed"
    ROLLBACK_SUCCESSFUL = "RollbackSuccessful"
    BAKING = "Baking"
    # Not an AWS value: a status this release does not know (AWS adds values over time; Baking
    # came with BakeTime). ``ObservedRefresh.reported_status`` keeps what AWS sent.
    UNKNOWN = "Unknown"

    @classmethod
    def parse(cls, value: str) -> RefreshStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @property
    def active(self) -> bool:
        """AWS refuses a new refresh while one of these is under way. An unknown status counts
        as active: starting or cancelling around a refresh we cannot read is not safe."""
        return self in _ACTIVE_REFRESH

    @property
    def failed(self) -> bool:
        """The refresh failed: AWS rolls back only on failure or on request, so one rolling back
        has failed already, and `reconciler retry` may forgive it before the rollback ends.
        """
        return self in _FAILED_REFRESH


_ACTIVE_REFRESH = frozenset(
    {
        RefreshStatus.PENDING,
        RefreshStatus.IN_PROGRESS,
        RefreshStatus.CANCELLING,
        RefreshStatus.ROLLBACK_IN_PROGRESS,
        RefreshStatus.BAKING,
        RefreshStatus.UNKNOWN,
    }
)
_FAILED_REFRESH = frozenset(
    {
        RefreshStatus.FAILED,
        RefreshStatus.ROLLBACK_IN_PROGRESS,
        RefreshStatus.ROLLBACK_SUCCESSFUL,
        RefreshStatus.ROLLBACK_FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class RollbackDetails:
    """AWS's ``RollbackDetails``: present once a rollback of the refresh began, the documented
    signal that one happened (aws-facts 1.14); ``StatusReason`` is free text."""

    reason: str = ""  # RollbackReason, e.g. manual or automatic
    start_time: str = ""
    percentage_complete_on_rollback: int = 0
    instances_to_update_on_rollback: int = 0


@dataclass(frozen=True, slots=True)
class ObservedRefresh:
    refresh_id: str
    status: RefreshStatus
    percentage_complete: int = 0
    instances_to_update: int = 0
    status_reason: str = ""
    # DesiredConfiguration's launch template version, from LaunchTemplate or from
    # MixedInstancesPolicy; None when the refresh has no DesiredConfiguration.
    desired_version: str | None = None
    start_time: str = ""
    end_time: str = ""
    rollback: RollbackDetails | None = None
    reported_status: str = ""  # Status exactly as AWS sent it ("" means status.value)
    # Preferences as DescribeInstanceRefreshes reports them: where AWS pauses, for how long.
    checkpoint_percentages: tuple[int, ...] = ()
    checkpoint_delay: int | None = None
    skip_matching: bool = False
    instance_warmup: int | None = None

    @property
    def failed(self) -> bool:
        """A failure by its status, or a rollback that was cancelled: RollbackDetails, not the
        free-text reason, says a rollback happened (aws-facts 1.14)."""
        return self.status.failed or (
            self.status is RefreshStatus.CANCELLED and self.rollback is not None
        )

    @property
    def status_text(self) -> str:
        """The status as AWS reported it, also when this release does not know the value."""
        return self.reported_status or self.status.value


# ------------------------------------------------------------------------------------------------
# Blue/green: the listener's forward and the second side
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservedForward:
    """The listener's default action, or the rule's action, as AWS reads it back.

    ``weights`` maps each target group ARN of the forward action to its weight. A forward with
    one ``TargetGroupArn`` and no ``ForwardConfig`` reads as weight 1 for it: all traffic.
    ``action_type`` is the type of the action that routes ("forward", "redirect", ...).
    """

    listener_arn: str
    load_balancer_arn: str
    rule_arn: str | None  # None: the listener's default action
    action_type: str
    weights: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetState:
    """One target of a side's target group: DescribeTargetHealth's State for an instance."""

    instance_id: str
    state: str  # healthy | unhealthy | initial | draining | unused | unavailable


@dataclass(frozen=True, slots=True)
class ObservedBlueGreen:
    """What AWS holds beyond the blue side (``ObservedService``'s group and target group): the
    green group and target group, the forward, each side's targets, and the time AWS said it
    was (a response's Date), which the step pause is measured against. A missing resource is
    ``None``."""

    forward: ObservedForward | None
    green_group: ObservedAutoScalingGroup | None
    green_target_group: ObservedTargetGroup | None
    blue_targets: tuple[TargetState, ...] = ()
    green_targets: tuple[TargetState, ...] = ()
    observed_at: float = 0.0
    # The side taking canary traffic, judged with the other side's target group's metrics of
    # the same minutes as its baseline; None when no side is being stepped.
    analysis: AnalysisInputs | None = None
    # The green group's scaling policies (the blue group's are ``ObservedService``'s).
    green_scaling_policies: tuple[ObservedScalingPolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservedService:
    """What AWS holds for one service. A missing resource is None."""

    name: str
    auto_scaling_group: ObservedAutoScalingGroup | None
    launch_template: ObservedLaunchTemplate | None
    target_group: ObservedTargetGroup | None
    scaling_policies: tuple[ObservedScalingPolicy, ...] = ()
    refreshes: tuple[ObservedRefresh, ...] = ()  # newest first
    # What the rollout analysis reads, while a refresh is active and analysis is on.
    analysis: AnalysisInputs | None = None
    blue_green: ObservedBlueGreen | None = None  # strategy blueGreen only

    def last_failed_refresh(self) -> ObservedRefresh | None:
        return next((r for r in self.refreshes if r.failed), None)
