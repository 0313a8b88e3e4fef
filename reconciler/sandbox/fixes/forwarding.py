"""Weighted forward actions on listeners and rules, written, checked and read back as ELB does.

moto 5.2.5, found by experiment over HTTP (tests/test_sandbox_forward.py checks each fixed):
- ModifyListener checks nothing in its actions: an unknown target group, a weight of 1000 or
  -1, six target groups, one target group twice, a ``TargetGroupArn`` that disagrees with its
  ``ForwardConfig``, a TCP target group behind an Application Load Balancer are all stored.
  CreateListener, CreateRule and ModifyRule check only that target groups exist;
- several target groups without weights are given weight 1 each; AWS refuses them;
- a forward to one target group is read back with ``TargetGroupArn`` alone, without the
  ``ForwardConfig`` AWS adds (getmoto/moto#4716);
- ``LoadBalancerArns`` of a target group grows by one on every CreateListener and CreateRule
  that names it (one probe's feedback-tg listed its load balancer eight times) and never
  shrinks, and ModifyListener and ModifyRule associate nothing: a target group put in a
  listener's ForwardConfig at weight 0 shows no load balancer. AWS associates a
  target group with the load balancer whose listener or rule forwards to it, at any weight
  ([M TargetGroup.LoadBalancerArns]), and a target group serves one load balancer only;
- the default rule's ARN ends in a Python object id (``/139800354084496``), not the 16 hex
  digits of every other rule ARN;
- ModifyRule on the default rule changes the rule and not the listener, so DescribeRules and
  DescribeListeners disagree (and traffic follows the listener); AWS refuses it with
  ``OperationNotPermitted``, "Default rule '…' cannot be modified" (seen by a weight-switching
  tool, github.com/FeLvi-zzz/tentez/pull/32; [M ModifyRule] lists the error): the default rule
  changes through ModifyListener. DeleteRule on it answers HTTP 500 (a KeyError in moto); here
  it is OperationNotPermitted too, "Default rule '…' cannot be deleted" (the sandbox's words).

Here the four writes refuse what ``forward_rules`` refuses, with AWS's codes, before moto sees
the request, and hand moto the actions in the form ELB keeps them (``forward_rules.canonical``),
so DescribeListeners, DescribeRules and the writes' own answers show every ``TargetGroupArn``
and ``Weight`` as written. ``LoadBalancerArns`` is read from the listeners and rules that
forward to the target group at the time of the call. Sources: API_ForwardActionConfig.html,
API_TargetGroupTuple.html, API_Action.html, API_ModifyListener.html, API_ModifyRule.html,
API_DescribeRules.html (docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/) and
"Forward actions" in the ALB guide's listener page.

What moto already does like AWS is kept: ModifyListener answers with the modified listener and
writes the listener's default rule, which DescribeRules lists (``IsDefault`` true, ``Priority``
``default``, the listener's default actions) after the rules created on it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeTargetGroup, elbv2_backends
from moto.moto_api._internal import mock_random

from reconciler.sandbox import forward_rules
from reconciler.sandbox.errors import ElbError
from reconciler.sandbox.forward_rules import TargetGroupFacts
from reconciler.sandbox.patching import original, patch

# The writes and the name of their actions argument in moto's backend.
_WRITES = {
    "create_listener": "actions",
    "modify_listener": "actions",
    "create_rule": "actions",
    "modify_rule": "actions",
}


def install() -> None:
    for name, argument in _WRITES.items():
        patch(ELBv2Backend, name, _checked(name, argument))
    patch(ELBv2Backend, "delete_rule", _delete_rule)
    patch(FakeTargetGroup, "load_balancer_arns", property(associated, _ignore))


def associated(target_group: Any) -> list[str]:
    """The load balancers whose listeners or rules forward to this target group, any weight."""
    backend = elbv2_backends[target_group.account_id][target_group.region_name]
    return [
        balancer.arn
        for balancer in backend.load_balancers.values()
        if any(target_group.arn in _forwarded(rule) for rule in _rules(balancer))
    ]


def _ignore(target_group: Any, value: Any) -> None:
    # moto assigns [] at creation and appends to it on create; the association is derived.
    return None


def _rules(balancer: Any) -> Iterator[Any]:
    for listener in balancer.listeners.values():
        yield from listener.rules.values()


def _forwarded(rule: Any) -> set[str]:
    found: set[str] = set()
    for action in rule.actions:
        found.update(forward_rules.target_group_arns(getattr(action, "data", {}) or {}))
    return found


def _checked(name: str, argument: str) -> Callable[..., Any]:
    moto_write = original(ELBv2Backend, name)
    signature = inspect.signature(moto_write)

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        if name == "modify_rule":
            _refuse_default(self, bound.arguments.get("rule_arn"), "modified")
        actions = bound.arguments.get(argument) or []
        balancer = _balancer(self, name, bound.arguments)
        if balancer is not None and actions:
            _refuse(self, balancer, actions)
            bound.arguments[argument] = [forward_rules.canonical(a) for a in actions]
        result = moto_write(*bound.args, **bound.kwargs)
        if name == "create_listener":
            _name_default_rule(result)
        return result

    return write


def _delete_rule(self: Any, arn: str) -> None:
    _refuse_default(self, arn, "deleted")
    original(ELBv2Backend, "delete_rule")(self, arn)


def _refuse_default(backend: Any, rule_arn: Any, done: str) -> None:
    for balancer in backend.load_balancers.values():
        if any(rule.is_default and rule.arn == rule_arn for rule in _rules(balancer)):
            raise ElbError("OperationNotPermitted", f"Default rule '{rule_arn}' cannot be {done}")


def _balancer(backend: Any, name: str, arguments: dict[str, Any]) -> Any | None:
    """The load balancer the write is for; None when moto will refuse the write itself."""
    if name == "create_listener":
        return backend.load_balancers.get(arguments.get("load_balancer_arn"))
    if name == "modify_rule":
        listener_arn = _listener_of_rule(backend, arguments.get("rule_arn"))
    else:
        listener_arn = arguments.get("listener_arn" if name == "create_rule" else "arn")
    for balancer in backend.load_balancers.values():
        if listener_arn in balancer.listeners:
            return balancer
    return None


def _listener_of_rule(backend: Any, rule_arn: Any) -> str | None:
    for balancer in backend.load_balancers.values():
        for listener in balancer.listeners.values():
            if any(rule.arn == rule_arn for rule in listener.rules.values()):
                return str(listener.arn)
    return None


def _refuse(backend: Any, balancer: Any, actions: list[dict[str, Any]]) -> None:
    known = {
        arn: TargetGroupFacts(group.protocol, tuple(associated(group)))
        for arn, group in backend.target_groups.items()
    }
    found = forward_rules.refusal(
        actions,
        balancer_arn=balancer.arn,
        balancer_type=getattr(balancer, "type", "application"),
        known=known,
    )
    if found is not None:
        raise ElbError(found.code, found.message)


def _name_default_rule(listener: Any) -> None:
    """A default rule ARN like every other: ``listener-rule/…/<listener id>/<16 hex digits>``."""
    prefix = listener.arn.replace(":listener/", ":listener-rule/")
    for rule in listener.rules.values():
        if rule.is_default:
            rule.arn = f"{prefix}/{mock_random.get_random_hex(16)}"
