"""What StartInstanceRefresh and RollbackInstanceRefresh refuse, with AWS's error codes.

Sources (shared/aws-facts.md): the ranges and enums of [M RefreshPreferences] (botocore's model
checks only lower bounds on the client, so the rest is the server's job), the CheckpointDelay
rule of [M RefreshPreferences.CheckpointDelay] and UG-defaults, the ten alarms of
[M AlarmSpecification], and the rollback preconditions of [M RefreshPreferences.AutoRollback],
[M RollbackInstanceRefresh] and UG-rollback (section 1.6): no desired configuration, an SSM
parameter as the group's ImageId, or a group on ``$Latest``/``$Default``.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox import groups, validation
from reconciler.sandbox.errors import IrreversibleInstanceRefresh, ValidationError
from reconciler.sandbox.groups import TemplateRef

MAX_DELAY = 172_800  # CheckpointDelay and BakeTime, [M CheckpointDelay], [M BakeTime]
MAX_ALARMS = 10
SSM_PREFIX = "resolve:ssm:"
# AWS's order in its enum messages (TF-33377), not the model's.
SCALE_IN_PROTECTED = ("Ignore", "Wait", "Refresh")
STANDBY = ("Terminate", "Ignore", "Wait")
# Preference -> (lowest, highest or None) as in [M RefreshPreferences].
_RANGES: dict[str, tuple[int, int | None]] = {
    "MinHealthyPercentage": (0, 100),
    "MaxHealthyPercentage": (100, 200),
    "InstanceWarmup": (0, None),
    "CheckpointDelay": (0, MAX_DELAY),
    "BakeTime": (0, MAX_DELAY),
}
_ENUMS = {"ScaleInProtectedInstances": SCALE_IN_PROTECTED, "StandbyInstances": STANDBY}

AUTO_ROLLBACK_WITHOUT_DESIRED = (
    "The request isn't valid. The AutoRollback parameter cannot be set to true when the "
    "DesiredConfiguration parameter is empty. Set AutoRollback to false or specify a desired "
    "configuration and try again."
)  # TF-29830, AWS's own text


def check_preferences(given: dict[str, Any]) -> None:
    """Refuse what the service model does not allow, then the rules between preferences."""
    validation.refuse(_model_violations(given))
    low = given.get("MinHealthyPercentage")
    high = given.get("MaxHealthyPercentage")
    if high is not None:
        if low is None:
            raise ValidationError(
                "MinHealthyPercentage must be specified when MaxHealthyPercentage is."
            )
        if high - low > 100:
            raise ValidationError(
                "The difference between MaxHealthyPercentage and MinHealthyPercentage cannot "
                "be greater than 100."
            )
    checkpoints = given.get("CheckpointPercentages") or []
    if any(not 1 <= p <= 100 for p in checkpoints) or checkpoints != sorted(set(checkpoints)):
        raise ValidationError(
            "CheckpointPercentages must be increasing percentages between 1 and 100."
        )
    if "CheckpointDelay" in given and not checkpoints:
        raise ValidationError(
            "CheckpointDelay can only be specified together with CheckpointPercentages."
        )


def _model_violations(given: dict[str, Any]) -> list[str]:
    problems = []
    for name, (low, high) in _RANGES.items():
        if given.get(name) is not None:
            problem = validation.in_range(int(given[name]), _path(name), low, high)
            if problem:
                problems.append(problem)
    for name, allowed in _ENUMS.items():
        if name in given and given[name] not in allowed:
            problems.append(validation.not_in(given[name], _path(name), allowed))
    alarms = (given.get("AlarmSpecification") or {}).get("Alarms") or []
    if len(alarms) > MAX_ALARMS:
        problems.append(
            validation.too_long(alarms, "preferences.alarmSpecification.alarms", MAX_ALARMS)
        )
    return problems


def _path(name: str) -> str:
    return "preferences." + name[0].lower() + name[1:]


def check_auto_rollback(
    group: Any, given: dict[str, Any], *, desired: TemplateRef | None, previous: TemplateRef | None
) -> None:
    """AutoRollback needs something to return to; AWS refuses the refresh up front otherwise."""
    if not given.get("AutoRollback"):
        return
    if desired is None:
        raise ValidationError(AUTO_ROLLBACK_WITHOUT_DESIRED)
    why = irreversible(group, previous)
    if why:
        raise ValidationError(f"The request isn't valid. AutoRollback is not supported {why}.")


def check_rollback(
    group: Any, *, desired: TemplateRef | None, previous: TemplateRef | None
) -> None:
    """RollbackInstanceRefresh's IrreversibleInstanceRefresh cases [M RollbackInstanceRefresh]."""
    if desired is None:
        raise IrreversibleInstanceRefresh(
            "The instance refresh can't be rolled back because it was started without a "
            "desired configuration."
        )
    why = irreversible(group, previous)
    if why:
        raise IrreversibleInstanceRefresh(f"The instance refresh can't be rolled back {why}.")


def irreversible(group: Any, previous: TemplateRef | None) -> str | None:
    """Why the group's pre-refresh configuration cannot be restored, or None if it can."""
    if previous is None or not previous.numbered:
        return (
            "when the Auto Scaling group uses the $Latest or $Default launch template version "
            "(or no launch template)"
        )
    image_id = str(groups.resolve(group, previous).image_id or "")
    if image_id.startswith(SSM_PREFIX):
        return (
            "when the Auto Scaling group's launch template uses a Systems Manager parameter "
            f"({image_id}) instead of an AMI ID for ImageId"
        )
    return None
