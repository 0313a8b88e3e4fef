"""The data the pipeline passes along: frozen dataclasses and enums, and nothing that does I/O.

Flow: ``ServiceSpec`` (from desired.yaml) → ``DesiredService`` (image resolved, UserData rendered)
and ``ObservedService`` (from AWS) → ``diff`` → ``Change``s → ``plan`` → ``Plan`` of ``Action``s.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# ----------------------------------------------------------------------------------------------
# Desired state, as written in desired.yaml (after schema and rule validation).
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSpec:
    repository: str
    tag: str | None = None
    digest: str | None = None  # "sha256:<64 hex>" when pinned explicitly


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    path: str
    port: str  # "traffic-port" or a port number, as a string like AWS
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str  # ALB HttpCode matcher: "200", "200,302", "200-299"
    protocol: str = "HTTP"


@dataclass(frozen=True, slots=True)
class TargetGroupSpec:
    name: str
    health_check: HealthCheckSpec


@dataclass(frozen=True, slots=True)
class LaunchTemplateSpec:
    name: str
    user_data: str  # template file name as written in desired.yaml
    user_data_path: Path  # resolved next to the desired file
    template: str  # the template's text, read at load time so a tick sees one revision


@dataclass(frozen=True, slots=True)
class AutoScalingGroupSpec:
    name: str
    min_size: int
    max_size: int
    desired_capacity: int | None
    health_check_type: str  # "EC2" | "ELB"
    health_check_grace_period: int


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    min_healthy_percentage: int = 90
    max_healthy_percentage: int = 100
    instance_warmup: int | None = None
    checkpoint_percentages: tuple[int, ...] = ()
    checkpoint_delay: int | None = None
    auto_rollback: bool = True
    skip_matching: bool = False


@dataclass(frozen=True, slots=True)
class ScalingSpec:
    target_cpu_utilization: float


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a service was declared: for error messages and revision history."""

    file: str
    line: int = 1
    revision: str | None = None  # git commit SHA, or a content hash outside git


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    region: str
    image: ImageSpec
    launch_template: LaunchTemplateSpec
    auto_scaling_group: AutoScalingGroupSpec
    target_group: TargetGroupSpec
    rollout: RolloutSpec
    scaling: ScalingSpec | None
    source: SourceRef
    paused: bool = False
    image_poll_interval: int = 300


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in a desired file, located precisely."""

    file: str
    line: int
    field: str  # dotted path, e.g. "spec.targetGroup.healthCheck.timeoutSeconds"
    message: str
    allowed: str = ""
    warning: bool = False

    def __str__(self) -> str:
        level = "warning" if self.warning else "error"
        where = f"{self.file}:{self.line}"
        text = f"{where}: {level}: {self.field}: {self.message}"
        return f"{text} (allowed: {self.allowed})" if self.allowed else text


# ----------------------------------------------------------------------------------------------
# Desired state ready to compare: the image resolved to a digest, the UserData rendered.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    repository: str
    tag: str | None
    digest: str  # "sha256:..."

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"

    def describe(self) -> str:
        """``latest (sha256:1a2b3c4d5e6f)``: how the diff shows an image."""
        short = self.digest.removeprefix("sha256:")[:12]
        return f"{self.tag} (sha256:{short})" if self.tag else f"sha256:{short}"


@dataclass(frozen=True, slots=True)
class DesiredService:
    spec: ServiceSpec
    image: ResolvedImage
    user_data: str  # rendered, plain text (not base64)
    fingerprint: str  # short hash of what a launch template version holds; see userdata.fingerprint

    @property
    def name(self) -> str:
        return self.spec.name


# ----------------------------------------------------------------------------------------------
# Observed state, read from AWS by `observe`.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchTemplateVersion:
    version_number: int
    user_data: str  # decoded from base64; "" when absent
    description: str = ""
    create_time: str = ""


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


@dataclass(frozen=True, slots=True)
class ObservedScalingPolicy:
    name: str
    policy_type: str
    metric: str | None  # predefined metric type, e.g. "ASGAverageCPUUtilization"
    target_value: float | None


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

    @property
    def active(self) -> bool:
        """AWS refuses a new refresh while one of these is under way."""
        return self in _ACTIVE_REFRESH


_ACTIVE_REFRESH = frozenset(
    {
        RefreshStatus.PENDING,
        RefreshStatus.IN_PROGRESS,
        RefreshStatus.CANCELLING,
        RefreshStatus.ROLLBACK_IN_PROGRESS,
        RefreshStatus.BAKING,
    }
)


@dataclass(frozen=True, slots=True)
class ObservedRefresh:
    refresh_id: str
    status: RefreshStatus
    percentage_complete: int = 0
    instances_to_update: int = 0
    status_reason: str = ""
    desired_version: str | None = None  # DesiredConfiguration.LaunchTemplate.Version
    start_time: str = ""
    end_time: str = ""


@dataclass(frozen=True, slots=True)
class ObservedService:
    """What AWS holds for one service. A missing resource is None."""

    name: str
    auto_scaling_group: ObservedAutoScalingGroup | None
    launch_template: ObservedLaunchTemplate | None
    target_group: ObservedTargetGroup | None
    scaling_policies: tuple[ObservedScalingPolicy, ...] = ()
    refreshes: tuple[ObservedRefresh, ...] = ()  # newest first


# ----------------------------------------------------------------------------------------------
# Diff and plan.
# ----------------------------------------------------------------------------------------------


class Resource(enum.StrEnum):
    TARGET_GROUP = "target_group"
    LAUNCH_TEMPLATE = "launch_template"
    AUTO_SCALING_GROUP = "auto_scaling_group"
    SCALING_POLICY = "scaling_policy"
    INSTANCE_REFRESH = "instance_refresh"


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


Value = str | int | float | bool | None | tuple[Any, ...]


def value_text(value: Value) -> str:
    """A field value as the diff and the plan show it: ``(none)``, ``true``, ``[50, 100]``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if value == "":
        return '""'
    return str(value)


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs: ``resource`` named ``resource_name`` has ``old``, wants ``new``."""

    resource: Resource
    resource_name: str
    field: str  # desired.yaml field path, e.g. "healthCheck.intervalSeconds", "image"
    old: Value
    new: Value
    kind: ChangeKind = ChangeKind.UPDATE


class ActionKind(enum.IntEnum):
    """What apply does, in the order it must be done: the value is the sort key."""

    CLEAR_FAILED = 5  # `reconciler retry`: forget a failed fingerprint
    MODIFY_TARGET_GROUP = 10
    TAG_RESOURCE = 15
    CREATE_LAUNCH_TEMPLATE_VERSION = 20
    UPDATE_AUTO_SCALING_GROUP = 30
    PUT_SCALING_POLICY = 40
    DELETE_SCALING_POLICY = 41
    CANCEL_INSTANCE_REFRESH = 50
    START_INSTANCE_REFRESH = 51
    MARK_FAILED = 60


# Placeholder for "the launch template version created earlier in this same plan".
NEW_VERSION = "$New"


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    resource_name: str
    # Everything apply needs, already decided: apply makes no decisions.
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


class Phase(enum.StrEnum):
    """Where a service's rollout stands after the diff: drives plan and status."""

    IN_SYNC = "InSync"
    OUT_OF_SYNC = "OutOfSync"
    PROGRESSING = "Progressing"  # a refresh for the desired state is under way
    SUPERSEDING = "Superseding"  # a refresh for an older state is being cancelled
    FAILED = "Failed"  # the desired fingerprint failed before; not retried
    BLOCKED = "Blocked"  # cannot act: missing resource, owned by another reconciler, paused


@dataclass(frozen=True, slots=True)
class Diff:
    service: str
    changes: tuple[Change, ...]
    phase: Phase
    message: str = ""
    refresh: ObservedRefresh | None = None  # the refresh in flight, if any

    @property
    def in_sync(self) -> bool:
        return not self.changes and self.phase is Phase.IN_SYNC


@dataclass(frozen=True, slots=True)
class Plan:
    service: str
    actions: tuple[Action, ...]
    phase: Phase
    message: str = ""

    @property
    def empty(self) -> bool:
        return not self.actions
