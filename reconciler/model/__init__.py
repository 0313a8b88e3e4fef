"""The data the pipeline passes along: frozen dataclasses and enums, and nothing that does I/O.

Flow: ``ServiceSpec`` (from desired.yaml) → ``DesiredService`` (image resolved, UserData rendered)
and ``ObservedService`` (from AWS) → ``diff`` → ``Change``s → ``plan`` → ``Plan`` of ``Action``s.

One module per concern; this package re-exports the names the rest of the reconciler uses, so
``from reconciler.model import X`` is the one way in:

=============  ===============================================================================
analysis       rollout analysis: ``AnalysisSpec``, ``AnalysisInputs``, ``AnalysisResult``
spec           desired side: ``ServiceSpec`` and its parts, ``Problem``, ``DesiredService``
observed       what AWS holds: ``ObservedService`` and its parts, ``RefreshStatus``
changes        the diff: ``Change``, ``Phase``, ``Diff``, ``value_text``
actions        the plan: one dataclass per kind of action, ``Action`` (their union), ``Plan``
outcome        one pass's record of a service: ``ServiceOutcome``, ``ApplyResult``
conditions     status conditions: ``Condition``, ``ConditionType``, ``Reason``
markers        what the reconciler writes into AWS to recognise its own: tags, policy name
fields         THE table of managed settings
=============  ===============================================================================
"""

from __future__ import annotations

from reconciler.model import fields
from reconciler.model.actions import (
    NEW_VERSION,
    Action,
    ActionKind,
    CancelInstanceRefresh,
    ClearFailed,
    CreateLaunchTemplateVersion,
    DeleteScalingPolicy,
    MarkFailed,
    ModifyTargetGroup,
    NewVersion,
    Plan,
    PutScalingPolicy,
    RollbackInstanceRefresh,
    StartInstanceRefresh,
    TagResource,
    UpdateAutoScalingGroup,
    VersionPin,
    stops_refresh,
)
from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisResult,
    AnalysisSpec,
    ErrorRateSpec,
    InstanceHistory,
    LatencySpec,
    MetricPoint,
    Sample,
    Signal,
    SignalResult,
    Verdict,
)
from reconciler.model.changes import (
    Change,
    ChangeKind,
    Diff,
    Phase,
    Resource,
    Value,
    value_text,
)
from reconciler.model.conditions import Condition, ConditionType, Reason
from reconciler.model.markers import (
    DEFAULT_OWNER,
    DESCRIPTION_MARKER,
    POLICY_METRIC,
    POLICY_TYPE,
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    TAG_FAILED_REASON,
    TAG_OWNER,
    TAG_RETRIED_REFRESH,
    TAG_SERVICE,
    TAG_VALUE_LIMIT,
    scaling_policy_name,
)
from reconciler.model.observed import (
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedScalingPolicy,
    ObservedService,
    ObservedTargetGroup,
    RefreshStatus,
)
from reconciler.model.outcome import ApplyResult, ServiceOutcome
from reconciler.model.spec import (
    AutoScalingGroupSpec,
    DesiredService,
    HealthCheckSpec,
    ImageSpec,
    LaunchTemplateSpec,
    Problem,
    ResolvedImage,
    RolloutSpec,
    ScalingSpec,
    ServiceSpec,
    SourceRef,
    TargetGroupSpec,
    short_digest,
)

__all__ = [
    "DEFAULT_OWNER",
    "DESCRIPTION_MARKER",
    "NEW_VERSION",
    "POLICY_METRIC",
    "POLICY_TYPE",
    "TAG_CHECKPOINT",
    "TAG_FAILED_FINGERPRINT",
    "TAG_FAILED_REASON",
    "TAG_OWNER",
    "TAG_RETRIED_REFRESH",
    "TAG_SERVICE",
    "TAG_VALUE_LIMIT",
    "Action",
    "ActionKind",
    "AnalysisInputs",
    "AnalysisResult",
    "AnalysisSpec",
    "ApplyResult",
    "AutoScalingGroupSpec",
    "CancelInstanceRefresh",
    "Change",
    "ChangeKind",
    "ClearFailed",
    "Condition",
    "ConditionType",
    "CreateLaunchTemplateVersion",
    "DeleteScalingPolicy",
    "DesiredService",
    "Diff",
    "ErrorRateSpec",
    "HealthCheckSpec",
    "ImageSpec",
    "InstanceHistory",
    "LatencySpec",
    "LaunchTemplateSpec",
    "LaunchTemplateVersion",
    "MarkFailed",
    "MetricPoint",
    "ModifyTargetGroup",
    "NewVersion",
    "ObservedAutoScalingGroup",
    "ObservedInstance",
    "ObservedLaunchTemplate",
    "ObservedRefresh",
    "ObservedScalingPolicy",
    "ObservedService",
    "ObservedTargetGroup",
    "Phase",
    "Plan",
    "Problem",
    "PutScalingPolicy",
    "Reason",
    "RefreshStatus",
    "ResolvedImage",
    "Resource",
    "RollbackInstanceRefresh",
    "RolloutSpec",
    "Sample",
    "ScalingSpec",
    "ServiceOutcome",
    "ServiceSpec",
    "Signal",
    "SignalResult",
    "SourceRef",
    "StartInstanceRefresh",
    "TagResource",
    "TargetGroupSpec",
    "UpdateAutoScalingGroup",
    "Value",
    "Verdict",
    "VersionPin",
    "fields",
    "scaling_policy_name",
    "short_digest",
    "stops_refresh",
    "value_text",
]
