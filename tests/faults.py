"""A fault-injecting HTTP proxy between boto3 and the sandbox, on 127.0.0.1.

``FaultProxy(upstream, seed=...)`` forwards every request to ``upstream`` (the sandbox endpoint)
and, for a seeded-random share of the Auto Scaling, ELBv2 and EC2 calls, answers instead:

- ``throttle`` (30%): 400 with AWS's own error shape, ``Throttling`` for the query APIs
  (autoscaling, elasticloadbalancing) and ``RequestLimitExceeded`` for ec2; not forwarded, as
  AWS throttles before it executes anything;
- ``error`` (5%): 500 ``InternalFailure`` (ec2: ``InternalError``); not forwarded;
- ``delay`` (5% by default): forwarded, so the call takes effect, and answered only after
  ``delay_seconds``, longer than the client's read timeout: the client gives up and retries a
  call that already happened, the case idempotency exists for. ``delay_first`` names
  operations whose first call always gets this (writes are too few for a 5% share to hit).

Other services (ECR, DynamoDB, moto's own API) pass through untouched. ``injected`` counts the
faults by kind and operation; ``forwarded`` counts requests that reached the sandbox.
With every rate at 0 it is a request counter, e.g. to prove a command made no AWS call.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from typing import ClassVar

from tests.proxy import LoopbackProxy, ProxyHandler

FAULTED_SERVICES = frozenset({"autoscaling", "elasticloadbalancing", "ec2"})
_ACTION = re.compile(rb"(?:^|&)Action=(?P<action>[A-Za-z0-9]+)")

_QUERY_ERROR = """<ErrorResponse xmlns="https://{ns}/doc/{version}/">
  <Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>{request_id}</RequestId>
</ErrorResponse>"""
_EC2_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>\
<RequestID>{request_id}</RequestID></Response>"""
_QUERY_NAMESPACES = {
    "autoscaling": ("autoscaling.amazonaws.com", "2011-01-01"),
    "elasticloadbalancing": ("elasticloadbalancing.amazonaws.com", "2015-12-01"),
}


def error_body(service: str, *, code: str, message: str, request_id: str, sender: bool) -> bytes:
    """The XML an AWS query-protocol (or EC2) service answers an error with."""
    if service == "ec2":
        text = _EC2_ERROR.format(code=code, message=message, request_id=request_id)
    else:
        ns, version = _QUERY_NAMESPACES[service]
        text = _QUERY_ERROR.format(
            ns=ns,
            version=version,
            kind="Sender" if sender else "Receiver",
            code=code,
            message=message,
            request_id=request_id,
        )
    return text.encode()


class _Handler(ProxyHandler):
    proxy: ClassVar[FaultProxy]

    def answer(self, body: bytes, service: str) -> None:
        action = _ACTION.search(body)
        operation = action.group("action").decode() if action else "?"
        fault = self.proxy.choose(service, operation)
        if fault in ("throttle", "error"):
            self._answer_fault(fault, service=service, operation=operation)
            return
        relayed = self.relay(body, service)
        if fault == "delay":
            self.proxy.record("delay", operation)
            time.sleep(self.proxy.delay_seconds)  # the client has timed out by now
        self.reply(*relayed)

    def _answer_fault(self, fault: str, *, service: str, operation: str) -> None:
        request_id = self.proxy.record(fault, operation)
        if fault == "throttle":
            code = "RequestLimitExceeded" if service == "ec2" else "Throttling"
            body = error_body(
                service, code=code, message="Rate exceeded", request_id=request_id, sender=True
            )
            self.reply(400, body, [("Content-Type", "text/xml")])
            return
        code = "InternalError" if service == "ec2" else "InternalFailure"
        body = error_body(
            service,
            code=code,
            message="An internal error has occurred",
            request_id=request_id,
            sender=False,
        )
        self.reply(500, body, [("Content-Type", "text/xml")])


class FaultProxy(LoopbackProxy):
    """A threaded HTTP proxy to ``upstream`` that injects AWS faults; see the module docstring."""

    handler = _Handler

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        throttle: float = 0.30,
        error: float = 0.05,
        delay: float = 0.05,
        delay_seconds: float = 1.5,
        delay_first: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(upstream)
        self.rates = {"throttle": throttle, "error": error, "delay": delay}
        self.delay_seconds = delay_seconds
        self._delay_first = set(delay_first)  # operations whose first call is delayed
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._ids = 0

    # -- decisions ---------------------------------------------------------------------------

    def choose(self, service: str, operation: str) -> str | None:
        """Which fault (if any) this call gets: seeded, so a run can be replayed."""
        if service not in FAULTED_SERVICES:
            return None
        with self._lock:
            if operation in self._delay_first:
                self._delay_first.discard(operation)
                return "delay"
            roll = self._random.random()
        edge = 0.0
        for kind, rate in self.rates.items():
            edge += rate
            if roll < edge:
                return kind
        return None

    def record(self, kind: str, operation: str) -> str:
        with self._lock:
            self.injected[kind] += 1
            self.injected[f"{kind}:{operation}"] += 1
            self._ids += 1
            return f"fault-{self._ids:06d}"
