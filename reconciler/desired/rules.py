"""The rules a schema cannot express: ranges across fields, grammars, names unique across files.

Each rule reads values through ``Doc``'s typed accessors, so a value of the wrong type (already
reported by the schema) is skipped rather than crashing the rule, and each returns its problems
located like the schema's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from reconciler.desired import service_schema
from reconciler.desired.document import IMAGE, Doc
from reconciler.desired.yamlload import FieldPath
from reconciler.images import reference
from reconciler.model import Problem

CHECKPOINT_DELAY_DEFAULT = 3600  # what AWS waits at a checkpoint when no delay is given

_ASG = ("spec", "autoScalingGroup")
_HEALTH = ("spec", "targetGroup", "healthCheck")
_ROLLOUT = ("spec", "rollout")
_ANALYSIS = (*_ROLLOUT, "analysis")
# The names that must be unique across services.
_AWS_NAMES: tuple[tuple[str, FieldPath], ...] = (
    ("Auto Scaling group", ("spec", "autoScalingGroup", "name")),
    ("launch template", ("spec", "launchTemplate", "name")),
    ("target group", ("spec", "targetGroup", "name")),
    ("Auto Scaling group", ("spec", "blueGreen", "green", "autoScalingGroup")),
    ("target group", ("spec", "blueGreen", "green", "targetGroup")),
)


def check(doc: Doc) -> list[Problem]:
    """Every rule's problems with one document."""
    return [problem for rule in _RULES for problem in rule(doc)]


def integer(doc: Doc, path: FieldPath, *, default: bool = False) -> int | None:
    """The integer at ``path`` (or the schema's default there).

    None when absent, not an integer, or outside the schema's own bounds: the schema reports
    those, and a rule relating two fields has nothing sound to say about them.
    """
    value = doc.get(path)
    if value is None and default:
        value = service_schema.default(path)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if service_schema.within_bounds(path, value) else None


def _capacity(doc: Doc) -> list[Problem]:
    low = integer(doc, (*_ASG, "minSize"))
    high = integer(doc, (*_ASG, "maxSize"))
    want = integer(doc, (*_ASG, "desiredCapacity"))
    if low is not None and high is not None and low > high:
        allowed = f"at least minSize ({low})"
        return [doc.at((*_ASG, "maxSize"), f"maxSize {high} is below minSize {low}", allowed)]
    if want is None:
        return []
    span = "minSize ≤ desiredCapacity ≤ maxSize"
    if low is not None and want < low:
        return [doc.at((*_ASG, "desiredCapacity"), f"{want} is below minSize {low}", span)]
    if high is not None and want > high:
        return [doc.at((*_ASG, "desiredCapacity"), f"{want} is above maxSize {high}", span)]
    return []


def _health_check_timing(doc: Doc) -> list[Problem]:
    interval = integer(doc, (*_HEALTH, "intervalSeconds"), default=True)
    timeout = integer(doc, (*_HEALTH, "timeoutSeconds"), default=True)
    if interval is None or timeout is None or timeout < interval:
        return []
    field = (
        "timeoutSeconds" if doc.get((*_HEALTH, "timeoutSeconds")) is not None else "intervalSeconds"
    )
    message = f"timeoutSeconds ({timeout}) must be less than intervalSeconds ({interval})"
    allowed = f"timeoutSeconds from 2 to {min(120, interval - 1)}, below intervalSeconds"
    return [doc.at((*_HEALTH, field), message, allowed)]


def _health_check_port(doc: Doc) -> list[Problem]:
    port = doc.text((*_HEALTH, "port"))
    if port is None or not port.isdigit() or 1 <= int(port) <= 65535:
        return []
    allowed = 'a port number 1-65535 or "traffic-port"'
    return [doc.at((*_HEALTH, "port"), f"port {port} is out of range", allowed)]


_MATCHER_ALLOWED = 'HTTP codes 200-499: a code ("200"), a list ("200,302") or a range ("200-299")'
_MATCHER_ITEM = re.compile(r"([0-9]{3})(?:-([0-9]{3}))?")


def _matcher_error(text: str) -> str | None:
    for item in text.split(","):
        match = _MATCHER_ITEM.fullmatch(item)
        if not match:
            return f"{item!r} is not an HTTP code or a range of codes"
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not (200 <= low <= 499 and 200 <= high <= 499):
            return f"{item} is outside 200-499"
        if low > high:
            return f"the range {item} runs backwards"
    return None


def _matcher(doc: Doc) -> list[Problem]:
    matcher = doc.text((*_HEALTH, "matcher"))
    reason = _matcher_error(matcher) if matcher else None
    return [doc.at((*_HEALTH, "matcher"), reason, _MATCHER_ALLOWED)] if reason else []


def _checkpoints(doc: Doc) -> list[Problem]:
    path = (*_ROLLOUT, "checkpointPercentages")
    values = doc.get(path)
    if not isinstance(values, list) or not values:
        return []
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return []
    allowed = "strictly ascending percentages ending with 100, e.g. [50, 100]"
    for index in range(1, len(values)):
        if values[index] <= values[index - 1]:
            message = f"{values[index]} follows {values[index - 1]}: percentages must increase"
            return [doc.at((*path, index), message, allowed)]
    if values[-1] < 100:  # above 100 is the schema's to report
        message = f"the last checkpoint is {values[-1]}, so the refresh would stop short of 100%"
        return [doc.at((*path, len(values) - 1), message, allowed)]
    return []


def _healthy_percentages(doc: Doc) -> list[Problem]:
    low = integer(doc, (*_ROLLOUT, "minHealthyPercentage"), default=True)
    high = integer(doc, (*_ROLLOUT, "maxHealthyPercentage"), default=True)
    if low is None or high is None or high - low <= 100:
        return []
    message = f"maxHealthyPercentage {high} is more than 100 above minHealthyPercentage {low}"
    allowed = f"at most {low + 100} (minHealthyPercentage + 100)"
    return [doc.at((*_ROLLOUT, "maxHealthyPercentage"), message, allowed)]


def _alarms(doc: Doc) -> list[Problem]:
    """Each alarm named once: AWS would watch it once anyway, so a repeat is a typo."""
    path = (*_ROLLOUT, "alarms")
    names = doc.get(path)
    if not isinstance(names, list):
        return []
    problems, seen = [], set()
    for index, name in enumerate(names):
        if not isinstance(name, str):
            continue  # the schema reports it
        if name in seen:
            message = f"alarm {name!r} is named twice"
            problems.append(doc.at((*path, index), message, "each alarm name once"))
        seen.add(name)
    return problems


def _protected_ignored_warning(doc: Doc) -> list[Problem]:
    path = (*_ROLLOUT, "scaleInProtectedInstances")
    if doc.get(path) != "Ignore":
        return []
    message = (
        "Ignore leaves instances protected from scale in on the old version: the reconciler "
        "finds them on another version and starts a refresh for them on every pass"
    )
    allowed = "Refresh (the default) to replace them too, or remove their protection"
    return [doc.at(path, message, allowed, warning=True)]


def _alarms_without_bake_time_warning(doc: Doc) -> list[Problem]:
    # An alarm fails the refresh only while it is active (aws-facts 1.7, 1.9): without a bake
    # time the last batch's alarm comes after the refresh has already succeeded.
    if doc.get((*_ROLLOUT, "alarms")) is None or doc.get((*_ROLLOUT, "bakeTime")):
        return []
    message = (
        "alarms are watched only while the refresh runs: without bakeTime an alarm raised by "
        "the last replaced instances comes too late to fail or roll back the refresh"
    )
    allowed = "set bakeTime (0 to 172800 seconds), e.g. 600"
    return [doc.at((*_ROLLOUT, "alarms"), message, allowed, warning=True)]


def _image(doc: Doc) -> list[Problem]:
    # The resolver's own grammar, so a file that validates is a file the daemon can resolve.
    parts = [doc.text((*IMAGE, part)) for part in ("repository", "tag", "digest")]
    return [doc.at((*IMAGE, e.field), e.reason, e.allowed) for e in reference.image_errors(*parts)]


def _checkpoint_delay_warning(doc: Doc) -> list[Problem]:
    if doc.get((*_ROLLOUT, "checkpointPercentages")) is None:
        return []
    if doc.get((*_ROLLOUT, "checkpointDelay")) is not None:
        return []
    message = (
        "checkpointPercentages is set without checkpointDelay: "
        f"AWS waits its default {CHECKPOINT_DELAY_DEFAULT} s at each checkpoint"
    )
    allowed = "set checkpointDelay (0 to 172800 seconds)"
    return [doc.at((*_ROLLOUT, "checkpointPercentages"), message, allowed, warning=True)]


def _checkpoint_gate_warning(doc: Doc) -> list[Problem]:
    # A checkpoint gates the rollout on the analysis, but AWS moves past it once the warmup and
    # the delay are over (there is no call to hold it longer, aws-facts 1.4): the analysis needs
    # that long to judge the instances replaced so far.
    if doc.get((*_ROLLOUT, "checkpointPercentages")) is None:
        return []
    if doc.get((*_ANALYSIS, "enabled")) is False:
        return []
    delay = integer(doc, (*_ROLLOUT, "checkpointDelay"))
    warmup = integer(doc, (*_ROLLOUT, "instanceWarmup"))
    if warmup is None:  # AWS's fallback, UG-defaults
        warmup = integer(doc, (*_ASG, "healthCheckGracePeriod"), default=True)
    interval = integer(doc, (*_ANALYSIS, "interval"), default=True)
    limit = integer(doc, (*_ANALYSIS, "failureLimit"), default=True)
    if None in (delay, warmup, interval, limit):
        return []
    assert delay is not None and warmup is not None and interval is not None and limit is not None
    needed = interval * (limit + 1)
    if warmup + delay >= needed:
        return []
    message = (
        f"the refresh moves past a checkpoint {warmup + delay} s after its instances went in"
        f" service (warmup {warmup} s + checkpointDelay {delay} s), before the analysis can"
        f" judge them ({limit + 1} samples of {interval} s = {needed} s)"
    )
    allowed = f"checkpointDelay of at least {needed - warmup} s"
    return [doc.at((*_ROLLOUT, "checkpointDelay"), message, allowed, warning=True)]


_RULES: tuple[Callable[[Doc], list[Problem]], ...] = (
    _capacity,
    _health_check_timing,
    _health_check_port,
    _matcher,
    _checkpoints,
    _healthy_percentages,
    _alarms,
    _image,
    _checkpoint_delay_warning,
    _protected_ignored_warning,
    _alarms_without_bake_time_warning,
    _checkpoint_gate_warning,
)


def duplicate_names(documents: Sequence[Doc]) -> list[Problem]:
    """The second use of a service name, or of an AWS resource name in one account and Region,
    is an error (two accounts may each hold a group of the same name)."""
    problems = []
    services: dict[str, Doc] = {}
    resources: dict[tuple[str, str | None, str | None, str], Doc] = {}
    for doc in documents:
        name = doc.text(("metadata", "name"))
        if name is not None:
            first = services.setdefault(name, doc)
            if first is not doc:
                message = f"service {name!r} is already declared at {first.file}:{first.line}"
                problems.append(doc.at(("metadata", "name"), message, "a name used once"))
        region = doc.text(("spec", "region"))
        role = doc.text(("spec", "aws", "roleArn"))
        account = role.split(":")[4] if role and role.count(":") >= 5 else None
        in_account = f" of account {account}" if account else ""
        for what, path in _AWS_NAMES:
            value = doc.text(path)
            if value is None:
                continue
            first = resources.setdefault((what, account, region, value), doc)
            if first is not doc:
                where = f"{first.file}:{first.document.line_of(path)}"
                message = f"{what} {value!r} is already used in {region}{in_account} at {where}"
                problems.append(doc.at(path, message, "one service per resource"))
    return problems
