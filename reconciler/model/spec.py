"""The desired side: a service as desired.yaml declares it (``ServiceSpec`` and its parts), the
problems found while loading it, and ``DesiredService``, the spec ready to compare (image pinned
to a digest, UserData rendered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reconciler.model.analysis import AnalysisSpec
from reconciler.model.bluegreen import BlueGreenSpec, Strategy


@dataclass(frozen=True, slots=True)
class ImageSpec:
    repository: str
    tag: str | None = None
    digest: str | None = None  # "sha256:<64 hex>" when pinned explicitly


@dataclass(frozen=True, slots=True)
class PullCredentials:
    """Where an instance reads its registry token at boot, for ``docker login`` to a registry
    other than ECR (ECR logs in with the instance role alone)."""

    username: str
    source: str  # "ssmParameter" | "secretsManager", as desired.yaml names it
    name: str  # the parameter's name, or the secret's name or ARN


@dataclass(frozen=True, slots=True)
class BootSpec:
    """What the boot script needs besides the image: the app's environment and the login."""

    env: tuple[tuple[str, str], ...] = ()  # (name, value), in the file's order
    pull_credentials: PullCredentials | None = None


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
    # healthCheck keys the file omits: not managed, left as AWS has them (their values in
    # ``health_check`` are AWS's defaults, for estimates only, never compared or written).
    unmanaged: frozenset[str] = frozenset()


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
    # Keys the file omits (``desired_capacity`` omitted is None instead): not managed, left as
    # AWS has them; their values here are AWS's defaults, never compared or written.
    unmanaged: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """The instance refresh's preferences. ``None`` and ``()`` mean "not declared": plan leaves
    those out of the request, because AWS treats an omitted value differently from any value
    (an explicit MaxHealthyPercentage, even 100, launches before terminating; aws-facts 1.2).
    """

    min_healthy_percentage: int = 90
    max_healthy_percentage: int | None = None
    instance_warmup: int | None = None
    checkpoint_percentages: tuple[int, ...] = ()
    checkpoint_delay: int | None = None
    auto_rollback: bool = True
    skip_matching: bool = False
    # Not the SDK's Wait, which fails a good image after an hour (aws-facts 1.10); see the schema.
    scale_in_protected_instances: str = "Refresh"  # "Refresh" | "Ignore" | "Wait"
    standby_instances: str = "Ignore"  # "Terminate" | "Ignore" | "Wait"
    bake_time: int | None = None  # seconds, 0-172800
    alarms: tuple[str, ...] = ()  # CloudWatch alarm names, at most 10
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)  # judged by the reconciler


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
    strategy: Strategy = Strategy.ROLLING
    blue_green: BlueGreenSpec | None = None  # set exactly when strategy is BLUE_GREEN
    boot: BootSpec = field(default_factory=BootSpec)


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
        short = short_digest(self.digest)
        return f"{self.tag} ({short})" if self.tag else short


def short_digest(digest: str) -> str:
    """``sha256:<64 hex>`` → ``sha256:<12 hex>``: enough for a person to tell digests apart."""
    algorithm, _, hex_digits = digest.partition(":")
    return f"{algorithm}:{hex_digits[:12]}"


@dataclass(frozen=True, slots=True)
class DesiredService:
    spec: ServiceSpec
    image: ResolvedImage
    user_data: str  # rendered, plain text (not base64)
    fingerprint: str  # short hash of what a launch template version holds; see userdata.fingerprint

    @property
    def name(self) -> str:
        return self.spec.name
