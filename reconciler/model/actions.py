"""What ``plan`` decides and ``apply`` carries out: ``Action``s in a ``Plan``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.model.changes import Phase


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


@dataclass(frozen=True, slots=True)
class Plan:
    service: str
    actions: tuple[Action, ...]
    phase: Phase
    message: str = ""

    @property
    def empty(self) -> bool:
        return not self.actions
