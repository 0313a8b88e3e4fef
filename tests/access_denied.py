"""A fault proxy that answers chosen AWS operations as IAM refuses them, once armed."""

from __future__ import annotations

import re
import threading
from typing import ClassVar

from tests.faults import error_body
from tests.proxy import LoopbackProxy, ProxyHandler

_ACTION = re.compile(rb"(?:^|&)Action=(?P<action>[A-Za-z0-9]+)")


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
