"""What each rule of deploy/prometheus/alerts.yaml looks like when it fires: its labels and its
rendered annotations, as promtool's ``exp_alerts`` entries (the contract an on-call reads in
Alertmanager), and the deliberately broken copies of the rules that the same cases must fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.promtool_harness import ALERTS, INSTANCE, firing


def condition(kind: str, name: str, reason: str, severity: str, description: str) -> dict[str, Any]:
    """A condition alert: ``kind`` True for ``name`` with ``reason``."""
    return firing(
        {"name": name, "type": kind, "status": "True", "reason": reason, "severity": severity},
        {"summary": f"{name} is {kind.lower()} ({reason})", "description": description},
    )


def stalled(name: str, reason: str) -> dict[str, Any]:
    text = (
        f"Service {name} on {INSTANCE} cannot be reconciled until the desired state or AWS"
        f" changes: reason {reason}. Run `reconciler status` for the message."
    )
    return condition("Stalled", name, reason, "critical", text)


def degraded(name: str, reason: str) -> dict[str, Any]:
    text = f"Service {name} on {INSTANCE} has been Degraded for 5 minutes: reason {reason}."
    return condition("Degraded", name, reason, "warning", text)


def rollout_failed(name: str, outcome: str) -> dict[str, Any]:
    return firing(
        {"name": name, "outcome": outcome, "severity": "critical"},
        {
            "summary": f"{name}: a rollout {outcome}",
            "description": f"A rollout of {name} ended {outcome} in the last 15 minutes; the"
            " revision is marked failed and is not retried until a new commit or"
            " `reconciler retry`.",
        },
    )


def not_reconciled(name: str) -> dict[str, Any]:
    return firing(
        {"name": name, "severity": "warning"},
        {
            "summary": f"{name} has not been reconciled for 3 intervals",
            "description": f"No pass of {name} on {INSTANCE} succeeded for more than 3"
            " reconcile intervals: AWS or the desired state is drifting unwatched.",
        },
    )


def reconciler_down() -> dict[str, Any]:
    return firing(
        {"severity": "warning"},
        {
            "summary": f"the reconciler on {INSTANCE} is down",
            "description": f"{INSTANCE} cannot be scraped, so no service is reconciled: AWS or"
            " the desired state is drifting unwatched.",
        },
    )


def desired_invalid(revision: str, last_good: str) -> dict[str, Any]:
    return firing(
        {"revision": revision, "last_good_revision": last_good, "severity": "warning"},
        {
            "summary": f"commit {revision} is refused",
            "description": f"The newest desired commit {revision} cannot be applied; every"
            f" service stays at {last_good} until it is fixed. Run `reconciler status` for"
            " the file, line and field.",
        },
    )


def aws_errors(aws_service: str, operation: str, code: str) -> dict[str, Any]:
    labels = {"aws_service": aws_service, "operation": operation, "code": code}
    return firing(
        {**labels, "severity": "warning"},
        {
            "summary": f"AWS {aws_service} {operation} fails: {code}",
            "description": f"{operation} ({aws_service}) failed with {code} on {INSTANCE} in"
            " the last 10 minutes; the services it observes or changes are stalled or"
            " retrying.",
        },
    )


# Mistakes a rule could be edited into, one per rule: (alert, text in its rule, replacement).
# Each is a rule that looks plausible and passes `promtool check rules`, but alerts wrongly.
BREAKAGES = {
    "ReconcilerServiceStalled": ('status="True"', 'status="False"'),
    "ReconcilerServiceDegraded": (
        'reconciler_service_condition_reason{type="Degraded"}',
        'reconciler_service_condition_reason{type="Stalled"}',
    ),
    "ReconcilerRolloutFailed": ('outcome=~"failed|rolled_back"', 'outcome="failed"'),
    # a stale series is no series: without the range the down arm never fires
    "ReconcilerNotReconciled": (
        "present_over_time(reconciler_build_info[1h])",
        "reconciler_build_info",
    ),
    "ReconcilerDesiredInvalid": (
        "group_left (revision, last_good_revision)",
        "group_left (revision)",
    ),
    # without the arm for a new series, the first error is invisible to increase()
    "ReconcilerAwsErrors": (
        "\n            or\n            (reconciler_aws_api_errors_total unless"
        " reconciler_aws_api_errors_total offset 10m)",
        "",
    ),
}


def broken_rules(tmp_path: Path, alert: str) -> Path:
    """A copy of alerts.yaml with ``BREAKAGES[alert]`` applied to that rule alone."""
    old, new = BREAKAGES[alert]
    head, marker, rest = ALERTS.read_text().partition(f"      - alert: {alert}\n")
    rule, next_marker, tail = rest.partition("      - alert: ")
    assert marker and rule.count(old) == 1, f"{alert}: {old!r} is not once in its rule"
    path = tmp_path / f"broken-{alert}.yaml"
    path.write_text(head + marker + rule.replace(old, new) + next_marker + tail)
    return path
