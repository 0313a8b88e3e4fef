"""How long things take in the sandbox, in sandbox seconds, checked against the seed's timeline.

The seed measures one replacement as "Instance3 시작 (3분)" (start: 3 min) and "Warmup (5분)",
and draws a two-instance refresh as t=0 start, t=6 first replaced, t=12 done. The split of the
three minutes below is ours; the totals are the seed's:

- ``LAUNCH_SECONDS`` (60): EC2 boots the instance; the group shows it ``Pending``. At the end it
  goes ``InService``, is registered with the target groups, and its warmup starts.
- ``APP_BOOT_SECONDS`` (90): docker pull and Spring Boot start-up after ``InService``. The health
  checks that run before then fail (a slow boot shows ``unhealthy`` for a moment, as on AWS).
- checks run every ``intervalSeconds`` from registration (at 90 and 120 s they fail, and two
  failures make the target ``unhealthy``); from 150 s they pass, and ``healthyThreshold`` (2)
  passes make it ``healthy`` at 180 s after launch: the seed's "3 minutes" to start.
- the refresh counts an instance replaced when its warmup (300 s from ``InService``) is over and
  it is healthy: 360 s per batch, so 6 + 1 (checkpoint delay) + 6 = 13 minutes for the seed.

A terminated instance stays listed as ``Terminating`` while its target drains for the target
group's deregistration delay, then leaves (row C4); it no longer counts toward capacity, so the
drain (the seed's "종료 (1분)") overlaps the next launch and adds nothing to the refresh's
duration.
"""

from __future__ import annotations

LAUNCH_SECONDS = 60
APP_BOOT_SECONDS = 90
# The simulation moves in steps of this many sandbox seconds when something is under way.
TICK_SECONDS = 5.0
# Instances launched by the seed are this old: booted, registered and healthy long ago.
SETTLED_AGE_SECONDS = 86_400
