"""Requests through the sandbox's Application Load Balancers, as ELB routes and counts them.

A load balancer's requests are split evenly over its listeners whose default action forwards,
then over the action's target groups by ``ForwardConfig`` weight (aws-facts 7: in proportion
to the weights, 0 sends nothing, so a weight-0 target group gets no request even with healthy
targets). The weights are read for every piece of traffic (``traffic``), so a ModifyListener
takes effect for the requests of the next simulation step; AWS does not say how long a change
takes to reach every load balancer node (aws-facts 7, unconfirmed), the sandbox takes none.

Where this differs from AWS, on purpose: every request is routed by the listener's *default*
action. Rules (CreateRule) are stored, checked and described like AWS does
(``fixes.forwarding``), but their conditions are never matched against requests, because the
sandbox's requests have no host, path or headers to match: a rule, even one whose condition
matches every request, sends nothing. Blue/green weights therefore belong on the default action
(ModifyListener) to move simulated traffic. ``TargetGroupStickinessConfig`` is kept and read
back but does not route: the sandbox has no clients to keep on a target group, so a weight
change moves the whole share at once, where AWS keeps sticky clients until the duration ends.

A target group spreads its share evenly (round robin) over
its *healthy* registered targets; draining, initial and unhealthy ones get none. With no
healthy target it fails open and routes to all registered targets (aws-facts 3.2, ELB-hc).
With no registered target ELB answers 503 itself. A chosen target whose app does not listen
(image that never starts, not booted yet, stopped) refuses the connection: ELB answers 502;
one the security groups do not let in times out: 504; both count a
``TargetConnectionErrorCount``. A target that answers returns 500 for its image's share of
requests (``behaviour``) and 200 otherwise, after a lognormal ``TargetResponseTime``.

What each request adds, with AWS's names and dimensions (aws-facts 6; ELB-metrics):
``RequestCount`` (requests for which a target was chosen, so not the no-target 503s, derived
from ELB-metrics' "the load balancer node was able to choose a target"),
``HTTPCode_Target_2XX_Count`` / ``HTTPCode_Target_5XX_Count``, ``TargetResponseTime`` and
``TargetConnectionErrorCount`` on TargetGroup+LoadBalancer and on LoadBalancer;
``HTTPCode_ELB_5XX_Count`` and ``HTTPCode_ELB_502/503/504_Count`` on LoadBalancer only.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.sandbox import app, behaviour, instance_index, launches, sampling, timing
from reconciler.sandbox.behaviour import Behaviours
from reconciler.sandbox.fixes.target_health import book
from reconciler.sandbox.metric_store import MetricStore, key

NAMESPACE = "AWS/ApplicationELB"


def balancer_dimension(arn: str) -> str:
    """``app/<name>/<id>``: the ARN's tail after ``loadbalancer/`` (aws-facts 6)."""
    return arn.split(":loadbalancer/", 1)[-1]


def target_group_dimension(arn: str) -> str:
    """``targetgroup/<name>/<id>``: the ARN's last field (aws-facts 6)."""
    return arn.rsplit(":", 1)[-1]


@dataclass(slots=True)
class Recorder:
    """Adds one moment's data points to the store, for one load balancer."""

    store: MetricStore
    moment: datetime
    balancer: str  # the LoadBalancer dimension
    served: Counter[str] = field(default_factory=Counter)  # answered requests by image tag

    def count(self, metric: str, n: int, group: str | None = None) -> None:
        if n <= 0:  # a zero count is not reported (aws-facts 6)
            return
        for dimensions in self._scopes(group):
            self.store.bucket(key(metric, dimensions), self.moment).add_ones(n)

    def values(self, metric: str, samples: list[float], group: str | None = None) -> None:
        for dimensions in self._scopes(group):
            self.store.bucket(key(metric, dimensions), self.moment).add_values(samples)

    def _scopes(self, group: str | None) -> list[Mapping[str, str]]:
        scopes: list[Mapping[str, str]] = [{"LoadBalancer": self.balancer}]
        if group is not None:
            scopes.append({"LoadBalancer": self.balancer, "TargetGroup": group})
        return scopes


def forwards(balancer: Any) -> list[tuple[str, float]]:
    """(target group ARN, share of the balancer's requests) from its listeners' default
    forward actions, as they are now (rules are not routed: see the module docstring); shares
    add up to 1 when any listener forwards."""
    listeners = [_weights(listener) for listener in balancer.listeners.values()]
    listeners = [weights for weights in listeners if sum(weights.values()) > 0]
    shares: dict[str, float] = {}
    for weights in listeners:
        total = sum(weights.values())
        for arn, weight in weights.items():
            shares[arn] = shares.get(arn, 0.0) + weight / total / len(listeners)
    return list(shares.items())


def _weights(listener: Any) -> dict[str, float]:
    weights: dict[str, float] = {}
    for action in listener.default_actions:
        data = getattr(action, "data", {}) or {}
        if data.get("Type") != "forward":
            continue
        config = data.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or []
        if groups:
            for group in groups:
                arn = group["TargetGroupArn"]
                weights[arn] = weights.get(arn, 0.0) + float(group.get("Weight", 1))
        elif data.get("TargetGroupArn"):
            weights[data["TargetGroupArn"]] = 1.0
    return weights


@dataclass(frozen=True, slots=True)
class Target:
    target_id: str
    port: int
    instance: Any | None
    registered_at: datetime
    state: str  # as DescribeTargetHealth reports it now


def targets(elbv2: Any, target_group: Any, now: datetime) -> list[Target]:
    """The group's registered targets and their health at ``now`` (the runtime's moment)."""
    records = book(target_group)
    found = []
    for target_id, target in target_group.targets.items():
        instance = (
            instance_index.find(elbv2.ec2_backend, target_id)
            if target_id.startswith("i-")
            else None
        )
        state = str(target_group.health_for(target, elbv2.ec2_backend).status)
        registered = records.registered_at.get(target_id, now)
        found.append(Target(target_id, int(target["Port"]), instance, registered, state))
    return found


def serve_balancer(
    rng: random.Random, elbv2: Any, balancer: Any, requests: int, record: Recorder,
    behaviours: Behaviours,
) -> None:  # fmt: skip
    routes = forwards(balancer)
    counts = sampling.split(rng, requests, [share for _, share in routes])
    for (arn, _), count in zip(routes, counts, strict=True):
        target_group = elbv2.target_groups.get(arn)
        if count and target_group is not None:
            serve_group(rng, elbv2, target_group, count, record, behaviours)


def serve_group(
    rng: random.Random, elbv2: Any, target_group: Any, requests: int, record: Recorder,
    behaviours: Behaviours,
) -> None:  # fmt: skip
    registered = targets(elbv2, target_group, record.moment)
    if not registered:
        record.count("HTTPCode_ELB_503_Count", requests)
        record.count("HTTPCode_ELB_5XX_Count", requests)
        return
    healthy = [t for t in registered if t.state == "healthy"]
    chosen = healthy or registered  # fail-open (aws-facts 3.2)
    group = target_group_dimension(target_group.arn)
    record.count("RequestCount", requests, group)
    for target, count in zip(chosen, sampling.even(rng, requests, len(chosen)), strict=True):
        if count:
            _serve_target(rng, target, count, record, group, behaviours)


def _serve_target(
    rng: random.Random, target: Target, requests: int, record: Recorder, group: str,
    behaviours: Behaviours,
) -> None:  # fmt: skip
    refused = _connection_error(target, record.moment, behaviours)
    if refused is not None:
        record.count("TargetConnectionErrorCount", requests, group)
        record.count(refused, requests)
        record.count("HTTPCode_ELB_5XX_Count", requests)
        return
    does = behaviour.of(target.instance, behaviours) if target.instance else behaviours.default
    for tag in behaviour.image_tags(target.instance) if target.instance else ():
        record.served[tag] += requests
    errors = sampling.binomial(rng, requests, does.error_rate)
    record.count("HTTPCode_Target_5XX_Count", errors, group)
    record.count("HTTPCode_Target_2XX_Count", requests - errors, group)
    mu, sigma = math.log(does.median), does.sigma
    times = [rng.lognormvariate(mu, sigma) for _ in range(requests)]
    record.values("TargetResponseTime", times, group)


def _connection_error(target: Target, now: datetime, behaviours: Behaviours) -> str | None:
    """The ELB code a request to this target gets when it cannot connect, else None."""
    instance = target.instance
    if instance is None:
        return None  # an IP target: nothing in the sandbox says it does not answer
    if app.admits(instance, target.port) is False:
        return "HTTPCode_ELB_504_Count"
    # The app boots once, after the instance goes in service (``timing``); a target group
    # that registers it later finds it up.
    started = launches.in_service_at(instance) or target.registered_at
    booted = min(started, target.registered_at) + timedelta(seconds=timing.APP_BOOT_SECONDS)
    listening = (
        instance.state == "running"
        and target.port == app.APP_PORT
        and now >= booted
        and behaviour.of(instance, behaviours).healthy
    )
    return None if listening else "HTTPCode_ELB_502_Count"


def host_counts(elbv2: Any, target_group: Any, now: datetime) -> tuple[int, int]:
    """(HealthyHostCount, UnHealthyHostCount): registered targets ``healthy`` / ``unhealthy``."""
    states = [t.state for t in targets(elbv2, target_group, now)]
    return states.count("healthy"), states.count("unhealthy")
