"""What the instance refresh is asked to do: a ``RolloutSpec`` in StartInstanceRefresh's
``Preferences`` shape. Pure: no I/O.

Only what desired.yaml declares is sent, plus the values the product chooses on purpose, each
documented in the schema's descriptions (docs/desired-reference.md). AWS treats an omitted
preference differently from any value of it (an explicit MaxHealthyPercentage, even 100, makes
Auto Scaling launch before terminating; aws-facts 1.2), so a default is never filled in by
accident.

With the checkpoint gate (``diff.checkpoint``: analysis on and a checkpoint below 100) the
``CheckpointDelay`` sent is AWS's maximum, so AWS holds at each checkpoint until the reconciler
moves the rollout past it; the declared delay is then the least time the reconciler holds.
``continuation_preferences`` is the refresh that goes past a checkpoint, ``restore_preferences``
the one that puts the previous version back on instances a rollback left (``diff.restore``).
"""

from __future__ import annotations

from typing import Any

from reconciler.model import RolloutSpec
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY, gated


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
        if gated(rollout):
            preferences["CheckpointDelay"] = HOLD_DELAY  # the reconciler lets it go on
        elif rollout.checkpoint_delay is not None:
            preferences["CheckpointDelay"] = rollout.checkpoint_delay
    if rollout.alarms:
        preferences["AlarmSpecification"] = {"Alarms": list(rollout.alarms)}
    return preferences


def continuation_preferences(rollout: RolloutSpec, remaining: tuple[int, ...]) -> dict[str, Any]:
    """The refresh that goes on past a held checkpoint: the same preferences, SkipMatching so
    the instances already on the version stay (UG-skip), and only the checkpoints ahead. With
    none below 100 left, none are sent, nor a delay (AWS refuses a delay alone, 1.4)."""
    preferences = refresh_preferences(rollout)
    preferences["SkipMatching"] = True
    ahead = [p for p in remaining if p < 100]
    if ahead:
        preferences["CheckpointPercentages"] = list(remaining)
    else:
        preferences.pop("CheckpointPercentages", None)
        preferences.pop("CheckpointDelay", None)
    return preferences


def restore_preferences(rollout: RolloutSpec) -> dict[str, Any]:
    """Back to the group's own version on every instance still on another: SkipMatching, no
    checkpoints, no bake, no alarms and no AutoRollback (there is nothing earlier to go to)."""
    preferences = refresh_preferences(rollout)
    for key in ("CheckpointPercentages", "CheckpointDelay", "BakeTime", "AlarmSpecification"):
        preferences.pop(key, None)
    preferences["SkipMatching"] = True
    preferences["AutoRollback"] = False
    return preferences
