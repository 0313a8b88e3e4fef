"""Move the emulated world to the sandbox clock's "now" before any request sees it.

Instances boot, health checks run and refreshes progress as functions of sandbox time. Before
every Auto Scaling, ELB, EC2 and CloudWatch request the simulation replays the time since the
last request, in steps of ``TICK_SECONDS`` while anything is under way (a refresh, a booting or
recently launched instance) and in one jump when the world is at rest, so every answer, read or
write, sees the same moment: DescribeAutoScalingGroups never shows old instances while
DescribeInstanceRefreshes, read a moment later, says the refresh has succeeded.

Only the groups with something under way are stepped between the first and the last moment
(``advance``). Each step, per group: booted instances go in service (and are registered),
instances that have drained after termination leave, refreshes move on, and ELB health
replaces instances that fail their checks (during refreshes too: row A5).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.cloudwatch.responses import CloudWatchResponse
from moto.ec2.responses import EC2Response
from moto.elbv2.responses import ELBV2Response

from reconciler.sandbox import (
    groups,
    healing,
    launches,
    lifecycle,
    refresh_service,
    runtime,
    timing,
    traffic,
)
from reconciler.sandbox.patching import original, patch
from reconciler.sandbox.state import attached

# CloudWatch too: an alarm set to ALARM must meet a world already moved to its moment.
_HANDLERS: tuple[type, ...] = (AutoScalingResponse, ELBV2Response, EC2Response, CloudWatchResponse)
# An instance launched this recently may still change health (boot, checks, grace period).
_SETTLING = timedelta(seconds=900)


@dataclass(slots=True)
class _Timeline:
    last: datetime | None = None  # the moment the world was last moved to


def install() -> None:
    for cls in _HANDLERS:
        patch(cls, "call_action", _after_advancing(cls))
    patch(AutoScalingResponse, "update_auto_scaling_group", _update_auto_scaling_group)


def advance(backend: Any) -> None:
    """Replay time up to the clock's now for every group in this autoscaling backend.

    Every group is stepped at the first moment (the last request's, which may have changed any
    of them) and at the last (now); in between, only the groups with something under way, each
    every ``TICK_SECONDS`` from the first moment, taken from a queue of next-step times (a
    heap), so a replay costs what is in flight, not the whole fleet at every step. A group at
    rest is thus stepped exactly as if the world were at rest: in one jump to now.
    """
    context = runtime.current()
    with context.lock:
        now = context.clock.now()
        timeline = attached(backend, "timeline", _Timeline)
        first = timeline.last or now
        tick = timedelta(seconds=timing.TICK_SECONDS)
        queue: list[tuple[datetime, str]] = []
        with context.at(first):
            for group in step(backend, first):
                heapq.heappush(queue, (first + tick, group.name))
        while queue and queue[0][0] < now:
            moment = queue[0][0]
            due: list[Any] = []
            while queue and queue[0][0] == moment:
                group = backend.autoscaling_groups.get(heapq.heappop(queue)[1])
                if group is not None:  # deleted meanwhile
                    due.append(group)
            with context.at(moment):
                for group in step(backend, moment, due):
                    heapq.heappush(queue, (moment + tick, group.name))
        if now > first:
            with context.at(now):
                step(backend, now)
        timeline.last = now


def step(backend: Any, now: datetime, only: list[Any] | None = None) -> list[Any]:
    """Step ``only`` these groups (every group when None) to ``now``; the ones still busy."""
    busy = []
    for group in list(backend.autoscaling_groups.values()) if only is None else only:
        lifecycle.promote(group, now)
        groups.release(group, now)  # drained: the Terminating instances go (row C4)
        refresh_service.step(backend, group.name, now)
        # AWS keeps healing during a refresh (1.13, row A5); the refresh takes the replacements on.
        healing.heal(group, now, refresh_service.active(backend, group.name))
        if _busy(backend, group, now):
            busy.append(group)
    traffic.step(backend, now)
    return busy


def _busy(backend: Any, group: Any, now: datetime) -> bool:
    if refresh_service.active(backend, group.name) is not None or lifecycle.pending(group):
        return True
    if groups.leaving_states(group):
        return True
    grace = timedelta(seconds=int(group.health_check_grace_period or 0))
    for state in groups.live_states(group):
        launched = launches.launched_at(state.instance)
        if launched is not None and now < launched + grace + _SETTLING:
            return True
    return False


def _after_advancing(cls: type) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        # One request at a time: a handler that launches or terminates instances must not run
        # while another request's replay is changing the same group.
        with runtime.current().lock:
            backends = autoscaling_backends[self.current_account]
            if self.region in backends:
                advance(backends[self.region])
            return original(cls, "call_action")(self)

    return call_action


def _update_auto_scaling_group(self: Any) -> Any:
    name = self._get_param("AutoScalingGroupName")
    backend = self.autoscaling_backend
    with runtime.current().lock:
        group = backend.autoscaling_groups.get(name)
        if group is not None:
            refresh_service.check_update(
                backend, group_name=name, changes_launch_template=_changes_template(self, group)
            )
        return original(AutoScalingResponse, "update_auto_scaling_group")(self)


def _changes_template(response: Any, group: Any) -> bool:
    if response._get_param("MixedInstancesPolicy") or response._get_param(
        "LaunchConfigurationName"
    ):
        return True
    spec = response._get_param("LaunchTemplate") or {}
    if not spec:
        return False
    current = groups.template_ref(group)
    if current is None:
        return True
    named = spec.get("LaunchTemplateId") in (None, current.template_id) and spec.get(
        "LaunchTemplateName"
    ) in (None, current.template_name)
    return not named or spec.get("Version") != current.version
