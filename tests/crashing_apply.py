"""``python tests/crashing_apply.py ARGS...``: ``reconciler ARGS...`` that crashes on cue.

With ``CRASH_AFTER_WRITE=k`` the process SIGKILLs itself right after the k-th AWS write that
succeeded: the write took effect, nothing after it ran, no ``finally`` or atexit either, as
with a kill -9 or a host going away mid-rollout. Test code only: the hook is a botocore
``after-call`` handler installed on every client ``reconciler.aws.Aws`` builds.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler import aws as aws_module
from reconciler.cli import main


class KillAfterWrites:
    """botocore ``after-call`` handler: SIGKILL this process after ``limit`` good writes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.writes = 0

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if aws_module.is_read(str(model.name)) or int(http_response.status_code) >= 300:
            return
        self.writes += 1
        if self.writes >= self.limit:
            os.kill(os.getpid(), signal.SIGKILL)


def arm(limit: int) -> None:
    hook = KillAfterWrites(limit)
    build = aws_module.Aws.client

    def client(self: aws_module.Aws, service: str, region: str | None = None) -> Any:
        made = build(self, service, region)
        made.meta.events.register("after-call", hook, unique_id="tests-crashing-apply")
        return made

    aws_module.Aws.client = client  # type: ignore[method-assign]


if __name__ == "__main__":
    limit = int(os.environ.get("CRASH_AFTER_WRITE", "0"))
    if limit > 0:
        arm(limit)
    raise SystemExit(main(sys.argv[1:]))
