"""What ``plan`` decides and ``apply`` carries out: one frozen dataclass per kind of action, in a
``Plan``.

Each action holds everything apply needs, already decided: apply makes no decisions. Every kind
names the resource it acts on (``resource_name``), says why (``reason``), and has a class-level
``kind`` whose value is the apply order. ``Action`` is the union of the kinds, so mypy checks
that plan builds and apply reads the same fields, and that apply handles every kind.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from reconciler.model.changes import Phase, Resource, Value
from reconciler.model.spec import HealthCheckSpec


class ActionKind(enum.IntEnum):
    """What apply does, in the order it must be done: the value is the sort key."""

    CLEAR_FAILED = 5  # `reconciler retry`: forget a failed fingerprint
    # Adoption tags come before any other write, so a policy that allows writes only on
    # resources tagged as ours (deploy/iam/reconciler-daemon.json) allows them from the first tick.
    TAG_RESOURCE = 10
    MODIFY_TARGET_GROUP = 15
    CREATE_LAUNCH_TEMPLATE_VERSION = 20
    # Never carries a launch template change while a refresh is active: plan defers the pin,
    # since AWS refuses it during a refresh with a DesiredConfiguration (aws-facts 1.12).
    UPDATE_AUTO_SCALING_GROUP = 30
    # Blue/green: after any pin or scale of the same plan; a flip never waits for either.
    SET_FORWARD_WEIGHTS = 35
    PUT_SCALING_POLICY = 40
    DELETE_SCALING_POLICY = 41
    CANCEL_INSTANCE_REFRESH = 50
    START_INSTANCE_REFRESH = 51
    # The analysis failed the rollout under way: AWS puts the previous version back. Before
    # MARK_FAILED, so a tag write that fails cannot hold up the rollback.
    ROLLBACK_INSTANCE_REFRESH = 52
    # Blue/green's record of what happened (a side verified, a side retired): after the weights,
    # so a tag write that fails can never hold up a flip.
    RECORD_SIDE = 55
    MARK_FAILED = 60


# Placeholder for "the launch template version created earlier in this same plan".
NewVersion = Literal["$New"]
NEW_VERSION: NewVersion = "$New"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Action:
    kind: ClassVar[ActionKind]
    resource_name: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearFailed(_Action):
    """Forget the group's failed fingerprint (`reconciler retry`); ``resource_name``: the group.

    ``retried_refresh`` is the failed refresh whose failure no longer counts, tagged on the group
    so the diff does not find the failure again in the refresh history.
    """

    kind: ClassVar[ActionKind] = ActionKind.CLEAR_FAILED
    retried_refresh: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TagResource(_Action):
    """Adopt a resource by writing the tags it lacks; each type is tagged by its own kind of id
    (group name, launch template id, target group ARN) through its own API.
    """

    kind: ClassVar[ActionKind] = ActionKind.TAG_RESOURCE
    resource_type: Resource
    resource_id: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyTargetGroup(_Action):
    """Set the target group's health check; ``resource_name``: the target group."""

    kind: ClassVar[ActionKind] = ActionKind.MODIFY_TARGET_GROUP
    target_group_arn: str
    health_check: HealthCheckSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateLaunchTemplateVersion(_Action):
    """A new version copied from ``source_version`` with the rendered UserData (plain text)."""

    kind: ClassVar[ActionKind] = ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION
    launch_template_id: str
    source_version: int
    user_data: str
    description: str
    client_token: str


@dataclass(frozen=True, slots=True)
class VersionPin:
    """Pin the group to an explicit launch template version instead of a floating reference;
    ``NEW_VERSION``: the version created earlier in the same plan (blue/green's idle side)."""

    launch_template_id: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateAutoScalingGroup(_Action):
    """Change only what differs: ``settings`` maps ``fields.GROUP`` attributes to their new
    values; ``pin`` replaces a floating version reference.
    """

    kind: ClassVar[ActionKind] = ActionKind.UPDATE_AUTO_SCALING_GROUP
    settings: Mapping[str, Value]
    pin: VersionPin | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PutScalingPolicy(_Action):
    """Target tracking on the group's average CPU (``markers.POLICY_METRIC``)."""

    kind: ClassVar[ActionKind] = ActionKind.PUT_SCALING_POLICY
    policy_name: str
    target_value: float
    enabled: bool = True
    disable_scale_in: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteScalingPolicy(_Action):
    kind: ClassVar[ActionKind] = ActionKind.DELETE_SCALING_POLICY
    policy_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelInstanceRefresh(_Action):
    """Cancel the group's refresh in flight; one that already ended counts as done."""

    kind: ClassVar[ActionKind] = ActionKind.CANCEL_INSTANCE_REFRESH


@dataclass(frozen=True, slots=True, kw_only=True)
class StartInstanceRefresh(_Action):
    """Roll the group onto ``version``: a number, or ``NEW_VERSION`` for the version created
    earlier in the same plan. ``preferences`` is in StartInstanceRefresh's ``Preferences`` shape.
    """

    kind: ClassVar[ActionKind] = ActionKind.START_INSTANCE_REFRESH
    launch_template_id: str
    version: int | NewVersion
    preferences: Mapping[str, Any]
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkFailed(_Action):
    """Tag the group with the fingerprint whose rollout failed, so the failure outlives the
    refresh history and restarts.
    """

    kind: ClassVar[ActionKind] = ActionKind.MARK_FAILED
    fingerprint: str  # the marker; ``reason`` is tagged beside it (TAG_FAILED_REASON)


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackInstanceRefresh(_Action):
    """Roll back the group's refresh under way (RollbackInstanceRefresh): the analysis failed
    it. ``resource_name``: the group; ``refresh_id``: the refresh judged, for the record."""

    kind: ClassVar[ActionKind] = ActionKind.ROLLBACK_INSTANCE_REFRESH
    refresh_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetForwardWeights(_Action):
    """Write the weights of the forward action that splits a blue/green service's traffic
    (ModifyListener's DefaultActions, or ModifyRule's Actions when ``rule_arn`` is set), then
    read them back and fail unless AWS holds exactly them. ``weights``: target group ARN →
    weight; ``resource_name``: the listener (or rule) as desired.yaml names it."""

    kind: ClassVar[ActionKind] = ActionKind.SET_FORWARD_WEIGHTS
    listener_arn: str
    rule_arn: str | None
    weights: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSide(_Action):
    """Write blue/green tags on a side's group after the traffic moved (``resource_name``: the
    group); unlike ``TagResource``, ordered after the weights."""

    kind: ClassVar[ActionKind] = ActionKind.RECORD_SIDE
    tags: Mapping[str, str]


Action = (
    ClearFailed
    | TagResource
    | ModifyTargetGroup
    | CreateLaunchTemplateVersion
    | UpdateAutoScalingGroup
    | SetForwardWeights
    | PutScalingPolicy
    | DeleteScalingPolicy
    | CancelInstanceRefresh
    | StartInstanceRefresh
    | RollbackInstanceRefresh
    | RecordSide
    | MarkFailed
)


def stops_refresh(phase: Phase, actions: Iterable[Action]) -> bool:
    """Whether ``actions`` stop the rollout the analysis failed: only a FAILED plan rolls a
    refresh back, cancels it, or (blue/green) moves the traffic back for that (a cancel in
    SUPERSEDING makes way for a newer state)."""
    stops = (RollbackInstanceRefresh, CancelInstanceRefresh, SetForwardWeights)
    return phase is Phase.FAILED and any(isinstance(a, stops) for a in actions)


@dataclass(frozen=True, slots=True)
class Plan:
    service: str
    actions: tuple[Action, ...]
    phase: Phase
    message: str = ""

    @property
    def empty(self) -> bool:
        return not self.actions
