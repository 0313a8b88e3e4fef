"""The sandbox: a local AWS (moto, extended to behave like AWS on the reconciler's path).

Public surface::

    Sandbox(port=0, region="us-east-1", clock=None, health=None)   start/stop/reset/seed/aws
    serve(port=4566, region="us-east-1", speed=1.0) -> int          the `reconciler sandbox` command
    seed(aws) -> Seeded                                              the seed's architecture
    image_digests(aws, repository="simple-api") -> dict[tag, digest]
    SandboxClock                                                     simulated time
    TargetHealthModel, TargetView, TargetHealth                      how targets report health
"""

from __future__ import annotations

from reconciler.sandbox.clock import SandboxClock
from reconciler.sandbox.health import (
    RunningIsHealthy,
    TargetHealth,
    TargetHealthModel,
    TargetView,
)
from reconciler.sandbox.images import image_digests
from reconciler.sandbox.seed import Seeded, seed
from reconciler.sandbox.server import Sandbox, SandboxError, install, serve

__all__ = [
    "RunningIsHealthy",
    "Sandbox",
    "SandboxClock",
    "SandboxError",
    "Seeded",
    "TargetHealth",
    "TargetHealthModel",
    "TargetView",
    "image_digests",
    "install",
    "seed",
    "serve",
]
