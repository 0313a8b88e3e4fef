"""Scaling policies: one per (group, name), and their ``Enabled`` flag.

moto 5.2.5 keeps policies by name alone, so a second group's policy of the same name replaces
the first group's, and ``DeletePolicy`` removes whichever one holds the name. In AWS a policy
name is unique within its group ([API PutScalingPolicy.PolicyName]: "The name of the policy";
[API DeletePolicy] takes ``AutoScalingGroupName`` and a ``PolicyName`` that is a name or an
ARN). Blue/green puts one policy of the same name on each side, so here the key is the pair.

moto also drops ``Enabled``: [API PutScalingPolicy.Enabled] "Indicates whether the scaling policy
is enabled or disabled. The default is enabled.", returned as ``ScalingPolicy.Enabled`` by
DescribePolicies. It is stored and returned here. The sandbox does not evaluate target tracking
(nothing scales on CPU by itself), so a disabled policy differs from an enabled one only in
what Describe says; the reconciler's decisions rest on that.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.models import AutoScalingBackend, FakeScalingPolicy
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

from reconciler.sandbox.errors import ValidationError
from reconciler.sandbox.patching import patch

Key = tuple[str, str]  # (group name, policy name)


def install() -> None:
    setattr(FakeScalingPolicy, "enabled", True)  # noqa: B010  (moto's class has no such field)
    patch(AutoScalingBackend, "put_scaling_policy", _backend_put)
    patch(AutoScalingResponse, "put_scaling_policy", _put_scaling_policy)
    patch(AutoScalingResponse, "delete_policy", _delete_policy)
    patch(AutoScalingResponse, "execute_policy", _execute_policy)


_original_backend_put = AutoScalingBackend.put_scaling_policy
_original_put = AutoScalingResponse.put_scaling_policy


def _backend_put(self: AutoScalingBackend, name: str, *args: Any, **kwargs: Any) -> Any:
    """moto's put, keyed by (group, name): the name alone is moto's key, so it is moved."""
    kept: dict[Any, FakeScalingPolicy] = self.policies  # keys: (group, name) pairs here
    replaced = kept.pop(name, None)
    policy = _original_backend_put(self, name, *args, **kwargs)
    kept.pop(name, None)
    if replaced is not None:
        kept[name] = replaced
    kept[(policy.auto_scaling_group_name, name)] = policy
    return policy


def _put_scaling_policy(self: Any) -> ActionResult:
    group = self._get_param("AutoScalingGroupName")
    if group not in self.autoscaling_backend.autoscaling_groups:
        raise ValidationError(f"AutoScalingGroup name not found - {group}")
    result = _original_put(self)
    policy = self.autoscaling_backend.policies[(group, self._get_param("PolicyName"))]
    policy.enabled = self._get_bool_param("Enabled", True)
    return result


def _delete_policy(self: Any) -> EmptyResult:
    key = _find(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self)
    self.autoscaling_backend.policies.pop(key, None)
    return EmptyResult()


def _execute_policy(self: Any) -> EmptyResult:
    key = _find(self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self)
    policy: FakeScalingPolicy | None = self.autoscaling_backend.policies.get(key)
    if policy is None:
        raise ValidationError(f"No scaling policy found for {self._get_param('PolicyName')}")
    policy.execute()
    return EmptyResult()


def _find(backend: AutoScalingBackend, group: str | None, response: Any) -> Key | None:
    """The policy a name or an ARN names, within ``group`` when given."""
    wanted = response._get_param("PolicyName")
    kept: dict[Any, FakeScalingPolicy] = backend.policies
    for key, policy in kept.items():
        if wanted not in (policy.name, policy.arn):
            continue
        if group in (None, "", policy.auto_scaling_group_name):
            return key  # type: ignore[no-any-return]
    return None
