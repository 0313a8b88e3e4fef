"""Judge a rollout from what AWS and CloudWatch say about it: new-instance health, the target
group's 5xx rate and p99 against its baseline, and the named alarms. Pure: no I/O, no clock.

``judge(spec, inputs, alarm_names=...)`` returns the ``AnalysisResult``; ``now`` is
``inputs.observed_at``, so a daemon restarted mid-rollout reaches the same verdict from the
same reads. ``metric_range`` and ``baseline_range`` say which CloudWatch periods to read
(``Period = spec.interval``); ``traffic_start`` and ``new_instances`` say which instances the
rollout brought and from when they take traffic; ``percent`` and ``seconds`` format numbers as
the messages do.

The rules, numbered as the product documents them, live beside their code: 1-3 in
``instances``, 4-5 in ``metrics`` (the periods in ``window``), 6 in ``alarms``, 7 in
``verdict``; ``text`` formats the numbers.
"""

from __future__ import annotations

from reconciler.pipeline.analysis.instances import new_instances, traffic_start
from reconciler.pipeline.analysis.text import percent, seconds
from reconciler.pipeline.analysis.verdict import judge
from reconciler.pipeline.analysis.window import baseline_range, metric_range

__all__ = [
    "baseline_range",
    "judge",
    "metric_range",
    "new_instances",
    "percent",
    "seconds",
    "traffic_start",
]
