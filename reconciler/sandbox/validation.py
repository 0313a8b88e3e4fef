"""AWS's own wording for a request that breaks a constraint of the service model.

AWS checks ranges and enums of the service model on the server and answers ``ValidationError``
with one sentence per broken constraint, for example (TF-33377 in shared/aws-facts.md)::

    2 validation errors detected: Value '' at 'preferences.scaleInProtectedInstances' failed to
    satisfy constraint: Member must satisfy enum value set: [Ignore, Wait, Refresh]; Value ''
    at 'preferences.standbyInstances' failed to satisfy constraint: Member must satisfy enum
    value set: [Terminate, Ignore, Wait]

botocore checks only the lower bound of a range on the client, so upper bounds and enums reach
the sandbox and must be refused here, as AWS does.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.sandbox.errors import ValidationError


def above(value: object, path: str, high: int) -> str:
    return _broken(value, path, f"Member must have value less than or equal to {high}")


def below(value: object, path: str, low: int) -> str:
    return _broken(value, path, f"Member must have value greater than or equal to {low}")


def not_in(value: object, path: str, allowed: Sequence[str]) -> str:
    return _broken(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")


def too_long(value: Sequence[object], path: str, most: int) -> str:
    return _broken(
        "[" + ", ".join(str(v) for v in value) + "]",
        path,
        f"Member must have length less than or equal to {most}",
    )


def refuse(problems: Sequence[str]) -> None:
    """Raise AWS's ValidationError for the broken constraints, if there are any."""
    if not problems:
        return
    count = len(problems)
    noun = "validation error" if count == 1 else "validation errors"
    raise ValidationError(f"{count} {noun} detected: " + "; ".join(problems))


def in_range(value: int, path: str, low: int, high: int | None) -> str | None:
    """The broken constraint of ``low <= value <= high`` (no upper bound for None), if any."""
    if value < low:
        return below(value, path, low)
    if high is not None and value > high:
        return above(value, path, high)
    return None


def _broken(value: object, path: str, rule: str) -> str:
    return f"Value '{value}' at '{path}' failed to satisfy constraint: {rule}"
