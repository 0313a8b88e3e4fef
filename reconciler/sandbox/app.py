"""The sandbox's application as the load balancer's health check meets it.

The seed's app (Spring Boot in a container, ``docker run -p 8080:8080``) listens on port 8080
once booted and answers ``GET /actuator/health`` with 200; any other path gets Spring's 404. An
image that never starts (``behaviour``: v2.0) leaves nothing listening. A check is judged as
ELB judges it (aws-facts 3.1 and 3.2, [M TargetHealth.Reason], ELB-hc):

- a status code outside ``Matcher.HttpCode`` (``"200"``, ``"200,202"``, ``"200-299"``):
  ``Target.ResponseCodeMismatch``, "Health checks failed with these codes: [404]";
- a port the instance's security groups do not open: the packets are dropped and the check
  times out, ``Target.Timeout`` (the seed's ``app-sg`` opens 8080 to the load balancer only);
- a port that is open but where nothing listens (refused), an HTTPS check against the app's
  plain HTTP, or an app that is not up: ``Target.FailedHealthChecks`` ("an error while
  establishing a connection to the target").

The rule source of a security group is not checked: any ingress rule covering the port counts.
The app answers well within the shortest allowed timeout (2 s), so the timeout setting never
fails a check that reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

APP_PORT = 8080
HEALTH_PATH = "/actuator/health"
NOT_FOUND = 404


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    description: str


FAILED = Failure("Target.FailedHealthChecks", "Health checks failed")
TIMED_OUT = Failure("Target.Timeout", "Request timed out")


@dataclass(frozen=True, slots=True)
class Check:
    """One target group's health check, aimed at one target."""

    protocol: str
    port: int
    path: str
    matcher: str

    @classmethod
    def of(cls, target_group: Any, target_port: int) -> Check:
        configured = target_group.health_check_port
        port = target_port if configured in (None, "traffic-port") else int(configured)
        matcher = (getattr(target_group, "matcher", None) or {}).get("HttpCode") or "200"
        return cls(
            protocol=str(target_group.health_check_protocol or "HTTP").upper(),
            port=port,
            path=str(target_group.health_check_path or "/"),
            matcher=str(matcher),
        )


def answer(check: Check, *, app_up: bool, admitted: bool | None) -> Failure | None:
    """What one check gets from the instance; None when it passes.

    ``admitted``: whether the security groups let the check in (None: not known, let in).
    """
    if admitted is False:
        return TIMED_OUT
    if check.port != APP_PORT or not app_up or check.protocol != "HTTP":
        return FAILED
    code = 200 if check.path == HEALTH_PATH else NOT_FOUND
    if not matches(check.matcher, code):
        return Failure(
            "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{code}]"
        )
    return None


def matches(matcher: str, code: int) -> bool:
    """Whether ``code`` is in an ELB matcher such as "200", "200,202" or "200-299"."""
    for part in matcher.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and int(low) <= code <= int(high if high.isdigit() else low):
            return True
    return False


def admits(instance: Any, port: int) -> bool | None:
    """Whether the instance's security groups let TCP in on ``port``.

    None when the instance carries no security groups the sandbox can read.
    """
    groups = list(getattr(instance, "security_groups", None) or [])
    if not groups:
        return None
    rules = [r for g in groups for r in getattr(g, "ingress_rules", [])]
    return any(_covers(rule, port) for rule in rules)


def _covers(rule: Any, port: int) -> bool:
    if rule.ip_protocol == "-1":
        return True
    low, high = rule.from_port, rule.to_port
    if rule.ip_protocol not in ("tcp", "6") or low is None or high is None:
        return False
    return int(low) <= port <= int(high)
