"""deploy/prometheus/alerts.yaml, proven with Prometheus's own ``promtool`` (2.42, Debian's
``prometheus`` package) on series a real daemon exported.

Each scenario runs a daemon against the frozen sandbox, scrapes its /metrics over HTTP after
every tick (tests/promtool_harness.py turns the scrapes into promtool input series), and then
asks ``promtool test rules`` which alerts fire when, with which labels and annotations
(tests/alert_cases.py). The cases are written here, at times taken from what the daemon did
(the scrape where a service stalled, a rollout failed). Every rule is also broken on purpose
(alert_cases.BREAKAGES), and the same cases must then fail. ``promtool check metrics`` lints
the same /metrics text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.aws import Aws
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox
from tests.access_denied import AccessDenied
from tests.alert_cases import (
    aws_errors,
    broken_rules,
    degraded,
    desired_invalid,
    not_reconciled,
    reconciler_down,
    rollout_failed,
    stalled,
)
from tests.analysis_harness import BASELINE
from tests.promtool_harness import (
    ALERTS,
    TARGET,
    Recorder,
    at,
    case,
    input_series,
    promtool_test,
    run_promtool,
    samples,
)
from tests.test_e2e_core import sandbox_copy

# A second service whose group, launch template and target group do not exist in AWS.
MISSING = {
    "name: feedback": "name: billing",
    "feedback-app-template": "billing-app-template",
    "feedback-asg": "billing-asg",
    "feedback-tg": "billing-tg",
}


def two_services(tmp_path: Path) -> Path:
    """desired/: feedback (the seed's, v1.1) and billing (named resources AWS lacks)."""
    path = sandbox_copy(tmp_path, tag="v1.1")
    billing = path.read_text()
    for old, new in MISSING.items():
        billing = billing.replace(old, new)
    path.write_text(path.read_text() + "---\n" + billing)
    return path.parent


def condition(statuses: dict[str, ServiceStatus], name: str, kind: str) -> tuple[bool, str]:
    found = statuses[name].condition(kind) if name in statuses else None
    return (found.status, str(found.reason)) if found else (False, "")


def promtool_passes(result: Any) -> None:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def each_breakage_is_caught(
    tmp_path: Path, recorder: Recorder, cases: list[dict[str, Any]], alerts: list[str]
) -> None:
    """The same cases against a copy of the rules with one of ``alerts`` broken must fail,
    and promtool must say it is that alert's case."""
    for name in alerts:
        result = promtool_test(tmp_path, recorder, cases, rules=broken_rules(tmp_path, name))
        assert result.returncode != 0, f"{name} broken, yet every case passed"
        assert f"alertname: {name}," in result.stdout + result.stderr, result.stdout


def metrics_lint_clean(recorder: Recorder) -> None:
    """``promtool check metrics`` (names, units, help, counter suffixes) on the newest scrape
    the daemon answered, process and Python collectors included."""
    text = next(text for _, text in reversed(recorder.scrapes) if text is not None)
    result = run_promtool("check", "metrics", stdin=text)
    assert (result.returncode, result.stdout + result.stderr) == (0, ""), result.stdout


# ------------------------------------------------------------------------------------------------
# The rules file itself, and the lint
# ------------------------------------------------------------------------------------------------


def test_the_rules_pass_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    promtool_passes(result)
    assert "SUCCESS: 6 rules found" in result.stdout


def test_promtool_check_metrics_reads_what_it_is_given() -> None:
    """The lint the scenarios run is live: a badly named counter is reported (exit 3)."""
    result = run_promtool(
        "check", "metrics", stdin="# TYPE x_milliseconds counter\nx_milliseconds 1\n"
    )
    assert result.returncode == 3
    assert 'use base unit "seconds"' in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------
# Stalled by a missing group, then by AccessDenied: the first AWS error fires
# ------------------------------------------------------------------------------------------------


def explore(sandbox: Sandbox, tmp_path: Path) -> tuple[Recorder, int, int]:
    """billing is Stalled (its group is missing) from the first pass; after 6 passes every
    DescribeAutoScalingGroups is denied. The recorder, and the scrape indexes of both."""
    with AccessDenied(sandbox.endpoint, denied=frozenset({"DescribeAutoScalingGroups"})) as proxy:
        recorder = Recorder(
            sandbox,
            two_services(tmp_path),
            aws=Aws(region="us-east-1", endpoint_url=proxy.endpoint),
        )
        try:
            blocked = recorder.until(
                lambda s: condition(s, "billing", "Stalled") == (True, "Blocked")
            )
            recorder.ticks(5)
            proxy.armed.set()
            denied = recorder.until(lambda s: condition(s, "feedback", "Stalled")[0])
            recorder.ticks(12)
        finally:
            recorder.stop()
    assert proxy.refused > 0
    return recorder, blocked, denied


def test_stalled_and_the_first_aws_error_fire_and_not_reconciled_follows(
    frozen: Sandbox, tmp_path: Path
) -> None:
    recorder, blocked, denied = explore(frozen, tmp_path)
    assert condition(recorder.daemon.statuses(), "feedback", "Stalled") == (True, "AccessDenied")
    calm = at(denied - 1)
    cases = [
        # Stalled holds for 2 minutes before it fires; a new reason is a new alert.
        case(at(blocked, plus=90), "ReconcilerServiceStalled"),
        case(at(blocked, plus=120), "ReconcilerServiceStalled", stalled("billing", "Blocked")),
        case(at(denied, plus=90), "ReconcilerServiceStalled"),
        case(
            at(denied, plus=120),
            "ReconcilerServiceStalled",
            stalled("billing", "AccessDenied"),
            stalled("feedback", "AccessDenied"),
        ),
        # The series of the first AccessDenied is born at 1: fires 2 minutes on, not before.
        case(calm, "ReconcilerAwsErrors"),
        case(at(denied, plus=90), "ReconcilerAwsErrors"),
        case(
            at(denied, plus=120),
            "ReconcilerAwsErrors",
            aws_errors("autoscaling", "DescribeAutoScalingGroups", "AccessDenied"),
        ),
        # The last good pass was the one before; 3 intervals and the rule's minute later:
        case(at(denied, plus=120), "ReconcilerNotReconciled"),
        case(
            at(denied, plus=150),
            "ReconcilerNotReconciled",
            not_reconciled("billing"),
            not_reconciled("feedback"),
        ),
        *(
            case(at(recorder.last), name)
            for name in (
                "ReconcilerServiceDegraded",
                "ReconcilerRolloutFailed",
                "ReconcilerDesiredInvalid",
            )
        ),
    ]
    promtool_passes(promtool_test(tmp_path, recorder, cases))
    each_breakage_is_caught(
        tmp_path, recorder, cases, ["ReconcilerServiceStalled", "ReconcilerAwsErrors"]
    )
    metrics_lint_clean(recorder)
    first_permanent_error_is_an_increase(tmp_path, recorder, denied)


ISSUE_EXAMPLE = 'increase(reconciler_reconcile_total{result="permanent_error"}[5m]) > 0'


def first_permanent_error_is_an_increase(tmp_path: Path, recorder: Recorder, denied: int) -> None:
    """The issue's example: ``increase(...{result="permanent_error"}[5m]) > 0`` fires on the
    pass of the first error, because the counter was exported at 0 before it. The same series
    with those zeros left out (a counter born at its first event) do not fire it."""
    rules = tmp_path / "first_error.yaml"
    rule = {"alert": "FirstPermanentError", "expr": ISSUE_EXAMPLE}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "issue-14", "rules": [rule]}]}))
    labels = {"result": "permanent_error", **TARGET}
    cases = [
        case(at(denied - 1), "FirstPermanentError"),
        case(
            at(denied),
            "FirstPermanentError",
            *({"exp_labels": {"name": n, **labels}} for n in ("billing", "feedback")),
        ),
    ]
    promtool_passes(promtool_test(tmp_path, recorder, cases, rules=rules))
    series = input_series(recorder.scrapes)
    for each in series:
        if 'result="permanent_error"' in each["series"]:
            each["values"] = re.sub(r"^(?:0 )+", lambda m: "_ " * (len(m[0]) // 2), each["values"])
    born_at_one = promtool_test(tmp_path, recorder, cases, rules=rules, series=series)
    assert born_at_one.returncode != 0
    assert "alertname: FirstPermanentError" in born_at_one.stdout + born_at_one.stderr


# ------------------------------------------------------------------------------------------------
# A release's life: healthy v1.1, a refused commit, the seed's v2.1, a stuck loop, a dead daemon
# ------------------------------------------------------------------------------------------------

EVERY_ALERT = (
    "ReconcilerServiceStalled",
    "ReconcilerServiceDegraded",
    "ReconcilerRolloutFailed",
    "ReconcilerNotReconciled",
    "ReconcilerDesiredInvalid",
    "ReconcilerAwsErrors",
)


@dataclass
class Release:
    recorder: Recorder
    ready: int  # the scrape where v1.1 was Ready (its rollout began at 0)
    refused: int  # the first scrape with the refused commit
    fixed: int  # the first scrape after it was put right
    failed: int  # the first scrape with v2.1's rollout rolled back
    hung: int  # the first scrape after the loop stopped
    down: int  # the first refused scrape


def release(sandbox: Sandbox, tmp_path: Path) -> Release:
    sandbox.clock.advance(BASELINE)  # traffic before the rollout: the analysis's baseline
    path = sandbox_copy(tmp_path, tag="v1.1")
    good = path.read_text()
    r = Recorder(sandbox, path.parent)
    try:
        ready = r.until(lambda s: s["feedback"].condition("Ready").status)
        r.ticks(4)
        path.write_text(good.replace("name: feedback", "name: Feedback!", 1))
        refused = r.until(lambda s: condition(s, "feedback", "Stalled")[0])
        r.ticks(5)
        path.write_text(good)
        fixed = r.until(lambda s: not condition(s, "feedback", "Stalled")[0])
        path.write_text(good.replace("tag: v1.1", "tag: v2.1"))
        failed = r.until(lambda s: condition(s, "feedback", "Degraded") == (True, "RolloutFailed"))
        r.ticks(11)
        hung = r.last + 1
        r.hang(6)
        down = r.last + 1
        r.down(4)
    finally:
        r.stop()
    assert r.scrapes[down][1] is None and r.scrapes[down - 1][1] is not None
    return Release(r, ready, refused, fixed, failed, hung, down)


def desired_labels(recorder: Recorder, index: int) -> tuple[str, str]:
    """(revision, last_good_revision) of reconciler_desired_revision_info in a scrape."""
    text = recorder.scrapes[index][1] or ""
    (found,) = [
        labels for name, labels, _ in samples(text) if name == "reconciler_desired_revision_info"
    ]
    return found["revision"], found["last_good_revision"]


def test_a_release_fires_each_alert_when_it_should_and_a_healthy_rollout_none(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = release(frozen, tmp_path)
    recorder = story.recorder
    revision, last_good = desired_labels(recorder, story.refused)
    assert revision != last_good and last_good
    healthy = sorted({*range(0, story.ready + 5, 3), story.ready + 4})
    cases = [
        # v1.1 rolls out and is Ready: nothing fires at any point.
        *(case(at(i), name) for i in healthy for name in EVERY_ALERT),
        # A refused commit: DesiredInvalid after its minute, Stalled after its two.
        case(at(story.refused, plus=30), "ReconcilerDesiredInvalid"),
        case(
            at(story.refused, plus=60),
            "ReconcilerDesiredInvalid",
            desired_invalid(revision, last_good),
        ),
        case(at(story.refused, plus=90), "ReconcilerServiceStalled"),
        case(
            at(story.refused, plus=120),
            "ReconcilerServiceStalled",
            stalled("feedback", "InvalidDesiredState"),
        ),
        case(at(story.fixed), "ReconcilerDesiredInvalid"),
        case(at(story.fixed), "ReconcilerServiceStalled"),
        # v2.1, 30% 500s: rolled back; the outcome fires at once, Degraded after 5 minutes.
        case(at(story.failed - 1), "ReconcilerRolloutFailed"),
        case(
            at(story.failed), "ReconcilerRolloutFailed", rollout_failed("feedback", "rolled_back")
        ),
        case(at(story.failed, plus=270), "ReconcilerServiceDegraded"),
        case(
            at(story.failed, plus=300),
            "ReconcilerServiceDegraded",
            degraded("feedback", "RolloutFailed"),
        ),
        case(at(story.failed, plus=300), "ReconcilerNotReconciled"),
        # The loop stops, /metrics still answers: 3 intervals since the last pass, then 1m.
        case(at(story.hung, plus=120), "ReconcilerNotReconciled"),
        case(at(story.hung, plus=150), "ReconcilerNotReconciled", not_reconciled("feedback")),
        # The daemon is gone: its series are stale, its target down.
        case(at(story.down, plus=30), "ReconcilerNotReconciled"),
        case(at(story.down, plus=60), "ReconcilerNotReconciled", reconciler_down()),
        case(at(story.down, plus=60), "ReconcilerAwsErrors"),
    ]
    promtool_passes(promtool_test(tmp_path, recorder, cases))
    each_breakage_is_caught(
        tmp_path,
        recorder,
        cases,
        [
            "ReconcilerServiceDegraded",
            "ReconcilerRolloutFailed",
            "ReconcilerNotReconciled",
            "ReconcilerDesiredInvalid",
        ],
    )
    metrics_lint_clean(recorder)
