"""The sandbox: a local AWS (moto, extended to behave like AWS on the reconciler's path).

Public surface::

    Sandbox(port=0, region="us-east-1", clock=None, health=None)   start/stop/reset/seed/aws
        .traffic: TrafficSettings (rate, seed)   .behaviours: Behaviours (set, get, reset)
    serve(port=4566, region="us-east-1", speed=1.0, traffic=None) -> int   `reconciler sandbox`
    seed(aws) -> Seeded                                              the seed's architecture
    image_digests(aws, repository="simple-api") -> dict[tag, digest]
    SandboxClock                                                     simulated time
    TargetHealthModel, TargetView, TargetHealth                      how targets report health
    HealthChecks (default), RunningIsHealthy                         two health models
    Behaviour, Behaviours, TrafficSettings                           images and traffic

Time. Everything that takes time is simulated on ``Sandbox.clock`` (a ``SandboxClock``), in
sandbox seconds (the durations and their justification are in ``timing``):

- instances are ``Pending`` for 60 s, then ``InService`` and registered with the target groups;
- targets pass or fail the target group's health checks (interval x thresholds) from then on:
  the app answers ``GET /actuator/health`` on 8080 over HTTP 90 s after boot (images tagged
  ``v2.0`` in the sandbox's ECR never do); a path, port, protocol or matcher that does not fit
  fails with ELB's reason codes (``app``);
- with ``HealthCheckType: ELB`` an unhealthy instance is replaced once the grace period, counted
  from ``InService``, is over, during an instance refresh too (the refresh counts the
  replacement); a stopped instance is marked Unhealthy and replaced at once, whatever the
  health check type;
- an instance the group terminates (scale-in, healing, refresh, rollback, a user request) stays
  listed as ``Terminating``, its HealthStatus kept and its target ``draining``, for the target
  group's deregistration delay, then goes; it no longer counts toward desired capacity;
- every launch and termination is a scaling activity (DescribeScalingActivities), with AWS's
  Cause texts; a launch ends when the instance goes InService;
- instance refreshes replace instances in batches (Min/MaxHealthyPercentage), wait for warmup and
  health, pause at checkpoints (CheckpointDelay, 3600 s when absent), and cancel after
  in-flight launches settle. The seed's refresh takes 13 sandbox minutes;
- a new instance that fails its health checks during a refresh is terminated and replaced from
  the refresh's desired configuration; after one hour of that the refresh fails, or rolls back
  with AutoRollback (AWS's "one-hour timeout"): a broken v2.0 is InProgress about 65 minutes;
- desired capacity counts Pending instances as well as InService ones, and instances launched
  to reach it during a refresh use the refresh's configuration;
- a refresh with BakeTime is ``Baking`` that long before ``Successful``; an alarm named in its
  AlarmSpecification that goes to ALARM (``cloudwatch set_alarm_state``) fails it, or rolls it
  back with AutoRollback;
- Standby and scale-in-protected instances follow StandbyInstances / ScaleInProtectedInstances;
  with AWS's default ``Wait`` the refresh waits an hour for them, then fails;
- images behave by tag (``behaviour``): ``v2.0`` never starts, ``v2.1`` passes its health check
  but answers 30% of requests with 500 (the seed's incident), ``v1.2-slow`` has a p99 of 3 s,
  every other image 0.1% 500s, median 0.05 s, p99 0.25 s (lognormal);
- traffic (``traffic``, ``serving``): Poisson requests at ``traffic.rate`` per second to every
  ALB, minute by minute on the sandbox clock (each whole minute of a jump is served with that
  minute's target health), split over forwarding listeners and ``ForwardConfig`` weights (read
  anew for every step, so a weight change moves the next step's requests), round
  robin over the target group's healthy targets, failing open to all registered targets when
  none is healthy (aws-facts 3.2): a target that does not listen gets ELB 502s and
  ``TargetConnectionErrorCount``, an empty target group ELB 503s;
- ALB metrics (aws-facts 6) in ``AWS/ApplicationELB``, per minute, on LoadBalancer and
  TargetGroup+LoadBalancer: RequestCount, HTTPCode_Target_2XX/5XX_Count, TargetResponseTime,
  TargetConnectionErrorCount, HTTPCode_ELB_5XX/502/503/504_Count (LoadBalancer only),
  Healthy/UnHealthyHostCount; zero counts and minutes without requests are absent. They are read
  with GetMetricData, GetMetricStatistics (``pNN.NN`` included) and ListMetrics;
- metric alarms on those metrics are evaluated at every period boundary (``alarm_rules``:
  EvaluationPeriods, DatapointsToAlarm, TreatMissingData), start ``INSUFFICIENT_DATA``, keep a
  history (DescribeAlarmHistory), and a state forced with SetAlarmState lasts until the next
  evaluation, as on AWS;
- listeners' and rules' forward actions are checked, kept and described as ELB does
  (``fixes.forwarding``): weights 0-999, at most 5 target groups, each existing, HTTP(S), on
  one load balancer only, listed once; ``LoadBalancerArns`` follows the forwards, weight 0
  included;
- the seed has a blue/green pair for the feedback service: ``feedback-green-asg`` (0
  instances, same launch template) behind ``feedback-green-tg``, at weight 0 beside
  ``feedback-tg``'s 100;
- requests AWS refuses (out-of-range or unknown preference values, CheckpointDelay without
  CheckpointPercentages, AutoRollback with nothing to return to, MaxRecords over 100) get AWS's
  ValidationError.

Where it still differs from AWS (rows of aws-facts section 8), each kinder or cruder than AWS:

- ``Terminating`` lasts the whole deregistration delay, though ELB completes a deregistration at
  once for a target with no in-flight requests, and lifecycle hooks (``Terminating:Wait``) are
  not modeled (C4);
  impaired EC2 status checks are not modeled, only stopped instances (C3);
- a scaling activity's Progress figures, the refresh's launch Cause ("in response to an instance
  refresh") and which activity texts AWS writes for rollbacks are unconfirmed; activities of
  deleted groups are kept but IncludeDeletedGroups is not honoured;
- a rollback terminates launch-first surplus instances still in flight rather than replacing
  them: AWS does not document this case; it is derived from aws-facts 1.2 and 1.7;
- StatusReason texts are the sandbox's own beyond the one AWS example in aws-facts 1.5;
- traffic and metrics are cruder than AWS: only listeners' default actions route (rules, even
  one matching every request, redirects and fixed responses are not modelled; target group
  stickiness is kept but routes nothing), the rate is split evenly over listeners, no
  AvailabilityZone dimensions, no RequestCountPerTarget or other ALB metrics, 500s take as long
  as 200s, host counts are sampled once a minute, and a deregistered target serves nothing
  while it drains (in-flight requests are not modelled). Data points appear when their minute
  is complete, without AWS's reporting delay;
- alarm evaluation covers metric alarms on ``AWS/ApplicationELB`` only (not other namespaces,
  metric math or anomaly detection), looks back exactly EvaluationPeriods periods, ignores
  EvaluateLowSampleCountPercentile and Unit, and words StateReason after AWS's examples;
- PutMetricData into ``AWS/ApplicationELB`` is accepted and lands among the sandbox's own data.

Controlling it::

    sandbox.clock.speed = 0          # frozen: time moves only when told (what tests do)
    sandbox.clock.advance(300)       # five sandbox minutes pass
    sandbox.clock.speed = 60         # one wall second is a sandbox minute
    serve(speed=60)                  # `reconciler sandbox --speed 60`

Nothing runs in the background: the next request to the sandbox replays the time since the last
one (in 5 s steps while anything is under way), so every answer sees one consistent moment, and a
test that advances an hour pays for it only on its next call.
"""

from __future__ import annotations

from reconciler.errors import SandboxError
from reconciler.sandbox.behaviour import Behaviour, Behaviours
from reconciler.sandbox.clock import SandboxClock
from reconciler.sandbox.health import (
    HealthChecks,
    RunningIsHealthy,
    TargetHealth,
    TargetHealthModel,
    TargetView,
)
from reconciler.sandbox.images import image_digests
from reconciler.sandbox.seed import Seeded, seed
from reconciler.sandbox.server import Sandbox, install, serve
from reconciler.sandbox.traffic_settings import TrafficSettings

__all__ = [
    "Behaviour",
    "Behaviours",
    "HealthChecks",
    "RunningIsHealthy",
    "Sandbox",
    "SandboxClock",
    "SandboxError",
    "Seeded",
    "TargetHealth",
    "TargetHealthModel",
    "TargetView",
    "TrafficSettings",
    "image_digests",
    "install",
    "seed",
    "serve",
]
