"""What the instance refresh is asked to do: a ``RolloutSpec`` in StartInstanceRefresh's
``Preferences`` shape. Pure: no I/O.

Only what desired.yaml declares is sent, plus the values the product chooses on purpose, each
documented in the schema's descriptions (docs/desired-reference.md). AWS treats an omitted
preference differently from any value of it (an explicit MaxHealthyPercentage, even 100, makes
Auto Scaling launch before terminating; aws-facts 1.2), so a default is never filled in by
accident.
"""

from __future__ import annotations

from typing import Any

from reconciler.model import RolloutSpec


def refresh_preferences(rollout: RolloutSpec) -> dict[str, Any]:
    """RolloutSpec in StartInstanceRefresh's ``Preferences`` shape.

    Sent: what the file declares, and the product's documented choices (schema descriptions):
    MinHealthyPercentage, AutoRollback, SkipMatching, ScaleInProtectedInstances and
    StandbyInstances always carry a value. Anything else left out of the file is left out of the
    request, because AWS's omitted value can differ from every explicit one (aws-facts 1.2).
    """
    preferences: dict[str, Any] = {
        "MinHealthyPercentage": rollout.min_healthy_percentage,
        "AutoRollback": rollout.auto_rollback,
        "SkipMatching": rollout.skip_matching,
        "ScaleInProtectedInstances": rollout.scale_in_protected_instances,
        "StandbyInstances": rollout.standby_instances,
    }
    declared = {
        "MaxHealthyPercentage": rollout.max_healthy_percentage,
        "InstanceWarmup": rollout.instance_warmup,
        "BakeTime": rollout.bake_time,
    }
    preferences.update({key: value for key, value in declared.items() if value is not None})
    if rollout.checkpoint_percentages:
        preferences["CheckpointPercentages"] = list(rollout.checkpoint_percentages)
        # AWS rejects a CheckpointDelay without CheckpointPercentages, so it only rides along.
        if rollout.checkpoint_delay is not None:
            preferences["CheckpointDelay"] = rollout.checkpoint_delay
    if rollout.alarms:
        preferences["AlarmSpecification"] = {"Alarms": list(rollout.alarms)}
    return preferences
