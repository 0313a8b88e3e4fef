"""The sandbox server: moto's ThreadedMotoServer on 127.0.0.1 with the sandbox's extensions.

``Sandbox`` is what tests use in-process; ``serve`` is ``reconciler sandbox``. moto keeps its
state in module globals, so one process holds one emulated AWS: only one Sandbox may run at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TextIO

from moto.autoscaling.models import autoscaling_backends
from moto.server import ThreadedMotoServer

from reconciler.aws import Aws
from reconciler.aws.budget import WriteBudget
from reconciler.errors import SandboxError
from reconciler.model import AwsAccess
from reconciler.sandbox import accounts, fixes, lifecycle, refresh_api, runtime, simulation
from reconciler.sandbox.behaviour import Behaviours
from reconciler.sandbox.clock import SandboxClock
from reconciler.sandbox.fixes import cloudwatch_alarms, cloudwatch_metrics
from reconciler.sandbox.health import HealthChecks, TargetHealthModel
from reconciler.sandbox.seed import Seeded, seed
from reconciler.sandbox.traffic_settings import TrafficSettings

HOST = "127.0.0.1"
ACCESS_KEY = "testing"
_running: Sandbox | None = None
_running_lock = threading.Lock()


class _MotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that reports a failed bind instead of waiting for it forever."""

    def __init__(self, *, port: int) -> None:
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self.error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as exc:  # the starting thread re-raises it
            self.error = exc
            self._server_ready_event.set()


def install() -> None:
    """Extend moto in this process: the refresh APIs, the fixes and CloudWatch. Idempotent."""
    fixes.install()
    cloudwatch_metrics.install()
    cloudwatch_alarms.install()
    refresh_api.install()
    simulation.install()
    accounts.install()


class Sandbox:
    """A local AWS: moto over HTTP on 127.0.0.1, extended to behave like AWS on our path."""

    def __init__(
        self,
        *,
        port: int = 0,
        region: str = "us-east-1",
        clock: SandboxClock | None = None,
        health: TargetHealthModel | None = None,
        quiet: bool = True,
    ) -> None:
        self.region = region
        self.runtime = runtime.Runtime(
            clock=clock or SandboxClock(), health=health or HealthChecks()
        )
        self.seeded: Seeded | None = None
        self._port = port
        self._quiet = quiet
        self._server: _MotoServer | None = None
        self._seeder: Aws | None = None  # reused: building boto3 clients costs more than seeding

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        global _running
        with _running_lock:
            if _running is not None:
                raise SandboxError(f"a sandbox already runs in this process at {_running.endpoint}")
            install()
            runtime.activate(self.runtime)
            if self._quiet:
                # werkzeug logs every request at INFO; keep warnings and tracebacks.
                logging.getLogger("werkzeug").setLevel(logging.WARNING)
            server = _MotoServer(port=self._port)
            server.start()
            if server.error is not None:
                # werkzeug reports a busy port on stderr and exits its thread with SystemExit.
                why = "port in use" if isinstance(server.error, SystemExit) else server.error
                raise SandboxError(f"cannot serve on {HOST}:{self._port}: {why}")
            self._server = server
            _running = self
        # moto's state outlives a server in this process: a new sandbox starts empty.
        self.reset()
        return self

    def stop(self) -> None:
        global _running
        with _running_lock:
            if self._server is None:
                return
            self._server.stop()
            self._server = None
            self._seeder = None
            if _running is self:
                _running = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- state -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise SandboxError("the sandbox is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    @property
    def clock(self) -> SandboxClock:
        return self.runtime.clock

    @property
    def traffic(self) -> TrafficSettings:
        """Requests per second per load balancer (``rate``) and the random ``seed``."""
        return self.runtime.traffic

    @property
    def behaviours(self) -> Behaviours:
        """What each image does: ``behaviours.set("v2.1", error_rate=0.5)``."""
        return self.runtime.behaviours

    def aws(self) -> Aws:
        """A fresh ``Aws`` pointed at this sandbox (credentials come from the environment).
        No write budget: it sets worlds up (a fleet of 1,000 groups) faster than a reconciler
        may write; the reconciler's own ``Aws`` keeps the budget."""
        return Aws(region=self.region, endpoint_url=self.endpoint, budget=WriteBudget(rates={}))

    def reset(self) -> None:
        """Forget everything: moto's backends (and with them all refresh state, metrics and
        alarms), the clock, and the traffic rate, seed and image behaviours."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        self.clock.reset()
        self.traffic.reset()
        self.behaviours.reset()
        self.seeded = None

    def seed(self) -> Seeded:
        if self._seeder is None:
            self._seeder = self.aws()
        self.seeded = seed(self._seeder)
        self._settle(self.seeded)
        return self.seeded

    def seed_second_account(self) -> Seeded:
        """The seed again in ``accounts.SECOND_ACCOUNT`` (111111111111), reached the way the
        reconciler reaches it: AssumeRole into ``accounts.ROLE_NAME``, which trusts the default
        account (123456789012) with the external id ``accounts.EXTERNAL_ID``."""
        policy = accounts.trust_policy(accounts.DEFAULT_ACCOUNT, external_id=accounts.EXTERNAL_ID)
        accounts.create_role(accounts.SECOND_ACCOUNT, accounts.ROLE_NAME, policy)
        access = AwsAccess(accounts.role_arn(), accounts.EXTERNAL_ID)
        # A fresh client each time: a reset forgets the role's session, and moto reads keys it
        # no longer knows as the default account's (AWS would refuse them).
        seeded = seed(self.aws().assumed(access))
        self._settle(seeded)
        return seeded

    def _settle(self, seeded: Seeded) -> None:
        """The seed's instances have been running for a while: in service, registered, healthy."""
        backend = autoscaling_backends[seeded.account_id][seeded.region]
        with self.runtime.lock:
            now = self.clock.now()
            for group in backend.autoscaling_groups.values():
                lifecycle.settle(group, now)

    def reseed(self) -> Seeded:
        self.reset()
        return self.seed()


def serve(
    *, port: int = 4566, region: str = "us-east-1", speed: float = 1.0, out: TextIO | None = None,
    traffic: float | None = None,
) -> int:  # fmt: skip
    """Run a seeded sandbox until SIGINT or SIGTERM; the ``reconciler sandbox`` command.

    ``traffic``: requests per second per load balancer (None: the default rate)."""
    out = out or sys.stdout
    # moto accepts any key; the seed's own client needs one even when the shell has none.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", ACCESS_KEY)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(port=port, region=region, clock=SandboxClock(speed=speed))
    try:
        sandbox.start()
        if traffic is not None:
            sandbox.traffic.rate = traffic
        seeded = sandbox.seed()
        second = sandbox.seed_second_account()
        _announce(sandbox, seeded, second, out)
        stop.wait()
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("sandbox stopped", file=out)
    return 0


def _setter(event: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        event.set()

    return handle


def _announce(sandbox: Sandbox, seeded: Seeded, second: Seeded, out: TextIO) -> None:
    lines = [
        f"sandbox AWS listening on {sandbox.endpoint} (region {sandbox.region})",
        f"seeded: group {seeded.group_name}, target group {seeded.target_group_arn}",
        f"        blue/green: group {seeded.green_group_name} (0 instances), target group "
        f"{seeded.green_target_group_arn} at weight 0",
        f"        images in {seeded.repository_uri}: " + ", ".join(sorted(seeded.image_digests)),
        f"        traffic: {sandbox.traffic.rate:g} requests/s per load balancer, ALB metrics "
        "in CloudWatch (AWS/ApplicationELB)",
        f"second account {second.account_id}: the same seed, reached with spec.aws.roleArn "
        f"{accounts.role_arn()} and externalId {accounts.EXTERNAL_ID}",
        "",
        "point the reconciler (or the aws CLI) at it:",
        f"  export AWS_ENDPOINT_URL={sandbox.endpoint}",
        f"  export AWS_ACCESS_KEY_ID={ACCESS_KEY}",
        f"  export AWS_SECRET_ACCESS_KEY={ACCESS_KEY}",
        f"  export AWS_DEFAULT_REGION={sandbox.region}",
        "",
        "press Ctrl-C to stop",
    ]
    print("\n".join(lines), file=out, flush=True)
