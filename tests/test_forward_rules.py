"""What ELB refuses in a forward action and the form it keeps one in (``forward_rules``):
plain-data cases, no sandbox. The same rules against the running sandbox are in
tests/test_sandbox_forward.py."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox.forward_rules import (
    MISMATCH,
    NOWHERE,
    STICKINESS,
    TOO_MANY,
    WEIGHT_RANGE,
    TargetGroupFacts,
    canonical,
    refusal,
)

LB = "arn:lb/app/feedback-alb/1"
OTHER_LB = "arn:lb/app/other/2"
KNOWN = {
    "a": TargetGroupFacts("HTTP", (LB,)),
    "b": TargetGroupFacts("HTTP"),
    "c": TargetGroupFacts("HTTPS"),
    "d": TargetGroupFacts("HTTP"),
    "e": TargetGroupFacts("HTTP"),
    "f": TargetGroupFacts("HTTP"),
    "lambda": TargetGroupFacts(None),
    "tcp": TargetGroupFacts("TCP"),
    "taken": TargetGroupFacts("HTTP", (OTHER_LB,)),
}


def tuples(*weights: tuple[str, Any]) -> dict[str, Any]:
    """A forward over (arn, weight) pairs; a weight of None is left out."""
    groups = [
        {"TargetGroupArn": arn} | ({} if weight is None else {"Weight": weight})
        for arn, weight in weights
    ]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


def sticky(action: dict[str, Any], **stickiness: Any) -> dict[str, Any]:
    action["ForwardConfig"]["TargetGroupStickinessConfig"] = stickiness
    return action


def both(arn: str, *weights: tuple[str, Any]) -> dict[str, Any]:
    """A forward with a TargetGroupArn and a ForwardConfig over ``weights``."""
    return tuples(*weights) | {"TargetGroupArn": arn}


def kept(*weights: tuple[str, int], arn: str | None = None, **stickiness: Any) -> dict[str, Any]:
    """A forward as ELB keeps it: the ForwardConfig, stickiness off unless given, and ``arn``."""
    groups = [{"TargetGroupArn": a, "Weight": w} for a, w in weights]
    config = {"TargetGroups": groups, "TargetGroupStickinessConfig": stickiness or NO_STICKINESS}
    return {"Type": "forward", "ForwardConfig": config} | ({"TargetGroupArn": arn} if arn else {})


NO_STICKINESS = {"Enabled": False}


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("one target group by ARN", {"Type": "forward", "TargetGroupArn": "a"}),
    ("one tuple without weight", tuples(("a", None))),
    ("blue 100 green 0", tuples(("a", 100), ("b", 0))),
    ("weights at the bounds", tuples(("a", 0), ("b", 999))),
    ("every weight 0", tuples(("a", 0), ("b", 0))),
    ("five target groups", tuples(("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1))),
    ("ARN and the same one in ForwardConfig", both("a", ("a", 5))),
    (
        "stickiness on for a week",
        sticky(tuples(("a", 1), ("b", 1)), Enabled=True, DurationSeconds=604800),
    ),
    ("stickiness off", sticky(tuples(("a", 1), ("b", 1)), Enabled=False)),
    ("a Lambda target group", tuples(("lambda", 1), ("a", 1))),
    ("an HTTPS target group", tuples(("c", 1))),
    ("not a forward", {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}),
]  # fmt: skip


@pytest.mark.parametrize("action", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_what_elb_accepts(action: dict[str, Any]) -> None:
    assert refusal([action], balancer_arn=LB, balancer_type="application", known=KNOWN) is None


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("weight 1000", tuples(("a", 1000), ("b", 0)), "ValidationError", WEIGHT_RANGE),
    ("weight -1", tuples(("a", -1), ("b", 1)), "ValidationError", WEIGHT_RANGE),
    ("lone weight 1000", tuples(("a", 1000)), "ValidationError", WEIGHT_RANGE),
    ("two without weights", tuples(("a", None), ("b", None)), "ValidationError", WEIGHT_RANGE),
    ("one of two without", tuples(("a", 1), ("b", None)), "ValidationError", WEIGHT_RANGE),
    ("a weight that is text", tuples(("a", "1"), ("b", 1)), "ValidationError", WEIGHT_RANGE),
    (
        "six target groups",
        tuples(("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1)),
        "ValidationError", TOO_MANY,
    ),
    ("the same twice", tuples(("a", 1), ("a", 2)), "ValidationError", "more than once"),
    ("ARN and another in ForwardConfig", both("a", ("b", 1)), "ValidationError", MISMATCH),
    ("ARN and two in ForwardConfig", both("a", ("a", 1), ("b", 1)), "ValidationError", MISMATCH),
    ("neither ARN nor ForwardConfig", {"Type": "forward"}, "ValidationError", NOWHERE),
    ("an empty ForwardConfig", tuples(), "ValidationError", NOWHERE),
    (
        "stickiness on without a duration",
        sticky(tuples(("a", 1)), Enabled=True), "ValidationError", STICKINESS,
    ),
    (
        "stickiness of 0 s",
        sticky(tuples(("a", 1)), Enabled=True, DurationSeconds=0), "ValidationError", STICKINESS,
    ),
    (
        "stickiness over a week",
        sticky(tuples(("a", 1)), Enabled=True, DurationSeconds=604801),
        "ValidationError", STICKINESS,
    ),
    ("an unknown target group", tuples(("a", 1), ("nope", 1)), "TargetGroupNotFound", "'nope'"),
    (
        "an unknown ARN alone",
        {"Type": "forward", "TargetGroupArn": "nope"}, "TargetGroupNotFound", "nope",
    ),
    ("a TCP target group", tuples(("a", 1), ("tcp", 1)), "IncompatibleProtocols", "not valid"),
    (
        "another load balancer's target group",
        tuples(("a", 1), ("taken", 0)),
        "TargetGroupAssociationLimit", "with more than one load balancer: 'taken'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "code", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_what_elb_refuses(action: dict[str, Any], code: str, message: str) -> None:
    found = refusal([action], balancer_arn=LB, balancer_type="application", known=KNOWN)
    assert found is not None
    assert found.code == code
    assert message in found.message


def test_a_network_load_balancer_may_forward_to_tcp() -> None:
    action = tuples(("tcp", 1))
    assert refusal([action], balancer_arn=LB, balancer_type="network", known=KNOWN) is None


def test_the_first_refused_action_decides() -> None:
    actions = [tuples(("a", 1)), tuples(("nope", 1)), tuples(("a", 1000))]
    found = refusal(actions, balancer_arn=LB, balancer_type="application", known=KNOWN)
    assert found is not None and found.code == "TargetGroupNotFound"


REDIRECT = {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}
KEPT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("an ARN gets its ForwardConfig", {"Type": "forward", "TargetGroupArn": "a"},
     kept(("a", 1), arn="a")),
    ("a lone tuple gets its ARN, weight kept", tuples(("a", 0)), kept(("a", 0), arn="a")),
    ("two tuples: ForwardConfig only, weights as written", tuples(("a", 100), ("b", 0)),
     kept(("a", 100), ("b", 0))),
    (
        "stickiness as written, Order kept",
        sticky(tuples(("a", 90), ("b", 10)), Enabled=True, DurationSeconds=300) | {"Order": 1},
        kept(("a", 90), ("b", 10), Enabled=True, DurationSeconds=300) | {"Order": 1},
    ),
    ("not a forward: as written", REDIRECT, REDIRECT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "kept"), [c[1:] for c in KEPT], ids=[c[0] for c in KEPT]
)  # fmt: skip
def test_the_form_elb_keeps(written: dict[str, Any], kept: dict[str, Any]) -> None:
    before = repr(written)
    assert canonical(written) == kept
    assert repr(written) == before  # a copy: the request is not changed
