"""deploy/prometheus/alerts.yaml, proven with Prometheus's own ``promtool`` (2.42, Debian's
``prometheus`` package) on series a real daemon exported.

Each scenario runs a daemon against the frozen sandbox, scrapes its /metrics over HTTP after
every tick (tests/promtool_harness.py turns the scrapes into promtool input series), and then
asks ``promtool test rules`` which alerts fire when, with which labels and annotations. The
cases are written here, at times taken from what the daemon did (the tick a service stalled, a
rollout failed). ``promtool check metrics`` lints the same /metrics text.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, ClassVar

from reconciler.aws import Aws
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox
from tests.faults import error_body
from tests.promtool_harness import (
    ALERTS,
    Recorder,
    run_promtool,
)
from tests.proxy import LoopbackProxy, ProxyHandler
from tests.test_e2e_core import sandbox_copy

_ACTION = re.compile(rb"(?:^|&)Action=(?P<action>[A-Za-z0-9]+)")

# A second service whose group, launch template and target group do not exist in AWS.
MISSING = {
    "name: feedback": "name: billing",
    "feedback-app-template": "billing-app-template",
    "feedback-asg": "billing-asg",
    "feedback-tg": "billing-tg",
}


class _Denying(ProxyHandler):
    proxy: ClassVar[AccessDenied]

    def answer(self, body: bytes, service: str) -> None:
        action = _ACTION.search(body)
        if self.proxy.armed.is_set() and action and action["action"].decode() in self.proxy.denied:
            self.proxy.refused += 1
            text = error_body(
                service,
                code="AccessDenied",
                message="User is not authorized to perform this action",
                request_id=f"denied-{self.proxy.refused}",
                sender=True,
            )
            self.reply(403, text, [("Content-Type", "text/xml")])
            return
        super().answer(body, service)


class AccessDenied(LoopbackProxy):
    """Forwards everything; once armed, answers ``denied`` operations as IAM would refuse
    them: 403 ``AccessDenied`` in the query protocol's error shape."""

    handler = _Denying

    def __init__(self, upstream: str, *, denied: frozenset[str]) -> None:
        super().__init__(upstream)
        self.denied = denied
        self.armed = threading.Event()
        self.refused = 0


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


# ------------------------------------------------------------------------------------------------
# The rules file itself
# ------------------------------------------------------------------------------------------------


def test_the_rules_pass_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    promtool_passes(result)
    assert "SUCCESS: 6 rules found" in result.stdout


# ------------------------------------------------------------------------------------------------
# Stalled by a missing group, then by AccessDenied: the first AWS error fires
# ------------------------------------------------------------------------------------------------


def explore(sandbox: Sandbox, tmp_path: Path) -> Recorder:
    with AccessDenied(sandbox.endpoint, denied=frozenset({"DescribeAutoScalingGroups"})) as proxy:
        recorder = Recorder(
            sandbox,
            two_services(tmp_path),
            aws=Aws(region="us-east-1", endpoint_url=proxy.endpoint),
        )
        try:
            recorder.ticks(6)
            proxy.armed.set()
            recorder.ticks(12)
        finally:
            recorder.stop()
    return recorder
