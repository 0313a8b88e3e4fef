"""A proxy between boto3 and the sandbox that faults CloudWatch alone, on 127.0.0.1.

``tests/faults.py``'s ``FaultProxy`` faults only Auto Scaling, ELBv2 and EC2, whose protocols
are query/XML (its error bodies have no CloudWatch form). botocore speaks CloudWatch's JSON
protocol (``X-Amz-Target: GraniteServiceVersion20100801.<Operation>``, awsJson1_0, query
compatible). This proxy forwards every request unchanged, except CloudWatch's (SigV4 scope
``monitoring``) while ``fault`` is set:

- ``"throttle"``: HTTP 400 ``{"__type": "Throttling", "message": "Rate exceeded"}`` with
  ``x-amzn-query-error: Throttling;Sender``, the code CloudWatch's query API documents for
  throttling (the JSON framing is derived from botocore's JSON error parser, unconfirmed
  against a captured AWS response); not forwarded, as AWS throttles before it executes;
- ``"unreachable"``: the connection is closed without an answer (botocore:
  ``ConnectionClosedError``), as when the endpoint drops mid-request.

Replies carry the sandbox's own ``Date`` (a fault's none), never this host's (``tests.proxy``).
``fault`` may be changed at any time: an outage starts and ends
between two ticks. ``injected`` counts the faults as ``"<fault>:<Operation>"``; ``forwarded``
the requests that reached the sandbox, by SigV4 service.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import ClassVar, Literal

from tests.proxy import LoopbackProxy, ProxyHandler

Fault = Literal["throttle", "unreachable"]
THROTTLING = json.dumps({"__type": "Throttling", "message": "Rate exceeded"}).encode()


class _Handler(ProxyHandler):
    proxy: ClassVar[CloudWatchFaults]

    def answer(self, body: bytes, service: str) -> None:
        operation = self.headers.get("X-Amz-Target", "?").rsplit(".", 1)[-1]
        fault = self.proxy.choose(service, operation)
        if fault == "unreachable":
            self.close_connection = True  # no status line, nothing: the client sees a drop
            return
        if fault == "throttle":
            headers = [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-query-error", "Throttling;Sender"),
            ]
            self.reply(400, THROTTLING, headers)
            return
        self.reply(*self.relay(body, service))


class CloudWatchFaults(LoopbackProxy):
    """A threaded HTTP proxy to ``upstream`` that faults CloudWatch; see the module docstring."""

    handler = _Handler

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.fault: Fault | None = None
        self.injected: Counter[str] = Counter()

    def choose(self, service: str, operation: str) -> Fault | None:
        """The fault this call gets, counted; ``None`` forwards it."""
        with self._lock:
            fault = self.fault if service == "monitoring" else None
            if fault is not None:
                self.injected[f"{fault}:{operation}"] += 1
            return fault
