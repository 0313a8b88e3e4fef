"""Advance every active instance refresh to "now" before a client reads what it changes.

A refresh's progress is a function of time, so every read of the state it changes must see the
same moment: DescribeAutoScalingGroups must not show the old instances while
DescribeInstanceRefreshes, read a moment later, says the refresh has succeeded. Each API read
below first steps the active refreshes of its account and region to the sandbox clock's now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.elbv2.responses import ELBV2Response

from reconciler.sandbox import refresh_service, runtime
from reconciler.sandbox.patching import original, patch

# (handler class, action) pairs whose answers depend on refresh progress.
_READS: tuple[tuple[type, str], ...] = (
    (AutoScalingResponse, "describe_auto_scaling_groups"),
    (AutoScalingResponse, "describe_auto_scaling_instances"),
    (ELBV2Response, "describe_target_health"),
)


def install() -> None:
    for cls, action in _READS:
        patch(cls, action, _after_advancing(cls, action))


def advance(backend: Any) -> None:
    """Step the active refreshes of every group in this autoscaling backend to now."""
    context = runtime.current()
    with context.lock:
        now = context.clock.now()
        for name in list(backend.autoscaling_groups):
            refresh_service.step(backend, name, now)


def _after_advancing(cls: type, action: str) -> Callable[[Any], Any]:
    def handler(self: Any) -> Any:
        advance(autoscaling_backends[self.current_account][self.region])
        return original(cls, action)(self)

    handler.__name__ = action
    return handler
