"""``judge``: every signal of a rollout's analysis, combined into one verdict.

Rule 7 (the product's documented semantics): FAIL if any signal fails, the message being the
failing signals' messages joined by "; "; PASS only if every signal passes; PENDING if any is
pending; otherwise INCONCLUSIVE, so missing data never passes. The message of a verdict other
than FAIL joins the messages of the signals that decided it. ``traffic_start`` is when the
first new instance could take traffic; ``next_sample_at`` the end of the next metric period,
``None`` once the rollout has ended.

The reconciler does not call ``judge`` for an analysis turned off (``enabled: false``): AWS
alone watches the alarms then, through the refresh's AlarmSpecification. Given such a spec,
``judge`` itself judges the alarms alone; with no alarm either it PASSes with no signal, saying
so.
"""

from __future__ import annotations

from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisResult,
    AnalysisSpec,
    SignalResult,
    Verdict,
)
from reconciler.pipeline.analysis import window
from reconciler.pipeline.analysis.alarms import judge_alarms
from reconciler.pipeline.analysis.instances import judge_instances, traffic_start
from reconciler.pipeline.analysis.metrics import judge_error_rate, judge_latency


def _signals(
    spec: AnalysisSpec, inputs: AnalysisInputs, alarm_names: tuple[str, ...]
) -> tuple[SignalResult, ...]:
    traffic = traffic_start(inputs)
    found: list[SignalResult | None] = []
    if spec.enabled:
        found += [
            judge_instances(spec, inputs),
            judge_error_rate(spec, inputs, traffic=traffic),
            judge_latency(spec, inputs, traffic=traffic),
        ]
    found.append(judge_alarms(inputs, alarm_names))
    return tuple(s for s in found if s is not None)


def combine(signals: tuple[SignalResult, ...]) -> tuple[Verdict, str]:
    """The overall verdict and its message (rule 7)."""
    if not signals:
        return Verdict.PASS, "analysis off and no alarm named: nothing to judge"
    verdicts = {s.verdict for s in signals}
    if Verdict.FAIL in verdicts:
        overall = Verdict.FAIL
    elif verdicts == {Verdict.PASS}:
        overall = Verdict.PASS
    elif Verdict.PENDING in verdicts:
        overall = Verdict.PENDING
    else:
        overall = Verdict.INCONCLUSIVE
    return overall, "; ".join(s.message for s in signals if s.verdict is overall)


def judge(
    spec: AnalysisSpec, inputs: AnalysisInputs, *, alarm_names: tuple[str, ...]
) -> AnalysisResult:
    """The rollout's verdict at ``inputs.observed_at``, from the inputs alone."""
    signals = _signals(spec, inputs, alarm_names)
    verdict, message = combine(signals)
    return AnalysisResult(
        verdict=verdict,
        signals=signals,
        message=message,
        traffic_start=traffic_start(inputs),
        next_sample_at=window.next_sample_at(spec, inputs),
    )
