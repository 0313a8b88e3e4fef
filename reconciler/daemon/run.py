"""``reconciler run``: the daemon built from its configuration, served, and stopped on a signal.

SIGTERM and SIGINT close the call gate at once (the tick in flight starts no new AWS call),
then the main thread stops the scheduler and the HTTP server and hands the lease over.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from reconciler import errors
from reconciler.aws import Aws
from reconciler.aws.budget import WriteBudget
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.github.settings import GitHubSettings, valid_repository
from reconciler.daemon.github.worker import attach as attach_github
from reconciler.daemon.lease import Lease, holder_id
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify.notifier import Notifier
from reconciler.daemon.notify.sinks import Sink
from reconciler.daemon.sdnotify import Notifier as SystemdNotifier
from reconciler.daemon.secrets import read_secret
from reconciler.daemon.server import StatusServer
from reconciler.daemon.shards import Shard, ShardLeases, lease_name
from reconciler.daemon.source import (
    GitSettings,
    GitSource,
    LocalSource,
    Source,
    default_cache_dir,
    is_git_repository,
)
from reconciler.daemon.web import Actor
from reconciler.daemon.web import attach as attach_page
from reconciler.images.resolver import ImageResolver
from reconciler.model import DEFAULT_OWNER
from reconciler.model.waves import RolloutLimits
from reconciler.pipeline.reconcile import Reconciler

log = structlog.get_logger("reconciler.daemon.run")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    repo: str  # a git URL or path, or a plain directory
    branch: str = "main"
    path: str = "desired"
    interval: float = 30.0
    listen: tuple[str, int] | None = ("127.0.0.1", 9090)
    cache_dir: Path | None = None
    lease_table: str | None = None
    lease_duration: float = 30.0
    lease_renew: float = 10.0
    shard: Shard | None = None  # --shard K/N: one lease a shard (needs lease_table)
    allowed_signers: Path | None = None  # set: --verify-commits
    webhook_secret: bytes | None = None
    webhook_repository: str | None = None  # set: pushes of other repositories tick nothing
    once: bool = False
    owner: str = DEFAULT_OWNER
    region: str = "us-east-1"
    endpoint_url: str | None = None
    # The status page's actions: both set, or the page is read-only (``reconciler.daemon.web``).
    action_token: bytes | None = None
    page_actor: Actor | None = None
    github: GitHubSettings | None = None  # commit statuses and deployments; None: off
    external_url: str | None = None  # the status page's public URL, for links to it
    notify: tuple[Sink, ...] = ()  # --notify, read by notify.sinks.parse_sinks
    write_budget: WriteBudget | None = None  # --write-rate, --write-wait-max; None: defaults
    rollout_limits: RolloutLimits = field(default_factory=RolloutLimits)  # --max-concurrent-*


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h`` or plain seconds (``45``, ``0.5``) → seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise errors.UsageError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h or seconds")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def external_url(text: str | None) -> str | None:
    """``--external-url``: an http(s) URL, or None."""
    if text is not None and not text.startswith(("http://", "https://")):
        raise errors.UsageError(f"--external-url: {text!r}: use an http(s) URL")
    return text or None


def webhook_secret(*, file: str | None, env: Mapping[str, str]) -> bytes | None:
    """The webhook's shared secret from ``file`` or ``RECONCILER_WEBHOOK_SECRET``; None: off."""
    text = read_secret(
        option="--webhook-secret-file", file=file, env=env, names=("RECONCILER_WEBHOOK_SECRET",)
    )
    return text.encode() if text else None


def webhook_repository(text: str | None) -> str | None:
    """``--webhook-repository``: ``OWNER/NAME``, or None (any repository's push ticks)."""
    if not text:
        return None
    if not valid_repository(text):
        raise errors.UsageError(f"--webhook-repository: {text!r}: use OWNER/NAME")
    return text


def build_source(config: RunConfig) -> Source:
    """A git source for anything git can fetch; a plain directory is read as it is."""
    signers = config.allowed_signers
    if signers is not None and not signers.is_file():
        raise errors.UsageError(f"--allowed-signers: no such file: {signers}")
    local = Path(config.repo)
    if local.is_dir() and not is_git_repository(local):
        if config.allowed_signers is not None:
            raise errors.UsageError("--verify-commits needs a git repository, not a directory")
        return LocalSource(paths=[local / config.path])
    settings = GitSettings(
        repo=str(local.resolve()) if local.exists() else config.repo,
        branch=config.branch,
        path=config.path,
        cache_dir=config.cache_dir or default_cache_dir(),
        allowed_signers=config.allowed_signers,
    )
    return GitSource(settings)


def build_daemon(config: RunConfig, *, metrics: Metrics | None = None) -> Daemon:
    aws = Aws(region=config.region, endpoint_url=config.endpoint_url, budget=config.write_budget)
    lease: Lease | ShardLeases | None = None
    if config.shard is not None:
        lease = shard_leases(config, aws, config.shard)
    elif config.lease_table:
        lease = Lease(
            aws=aws,
            table=config.lease_table,
            name=config.owner,
            duration=config.lease_duration,
            renew_every=config.lease_renew,
        )
    return Daemon(
        source=build_source(config),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws), owner=config.owner),
        metrics=metrics or Metrics(),
        lease=lease,
        interval=config.interval,
        rollout_limits=config.rollout_limits,
    )


def shard_leases(config: RunConfig, aws: Aws, shard: Shard) -> ShardLeases:
    if not config.lease_table:
        raise errors.UsageError("--shard needs --lease-table: each shard is a DynamoDB lease")
    holder = holder_id()

    def make(index: int) -> Lease:
        return Lease(
            aws=aws,
            table=str(config.lease_table),
            name=lease_name(config.owner, index, shard.count),
            holder=holder,
            duration=config.lease_duration,
            renew_every=config.lease_renew,
            yields=index != shard.index,
        )

    return ShardLeases(shard, make, aws=aws, renew_every=config.lease_renew)


def run(config: RunConfig) -> int:
    """``reconciler run``: until SIGTERM/SIGINT (exit 0), or one tick with ``once``."""
    daemon = build_daemon(config)
    # apscheduler warns through stdlib logging when a poke finds a tick running and another
    # waiting; the waiting one serves it (see Ticker), so only apscheduler's errors are worth a
    # line.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = threading.Event()

    def shut_down() -> None:
        daemon.gate.close()  # the tick in flight stops before its next AWS call
        stop.set()

    previous = _on_signals(shut_down)
    log.info("starting", source=daemon.source.description, interval=config.interval)
    github = None
    if config.github is not None:
        github = attach_github(daemon, config.github, external_url=config.external_url)
    notifier = None
    if config.notify:
        notifier = Notifier(config.notify, metrics=daemon.metrics).attach(daemon.listeners)
    try:
        if config.once:
            return _run_once(daemon)
        return _run_forever(daemon, config, stop)
    finally:
        if github is not None:
            github.stop(drain=10.0)  # what the last tick called for, unless GitHub is down
        if notifier is not None:
            notifier.stop()  # after the daemon's stop: no tick adds to the queues any more
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_once(daemon: Daemon) -> int:
    """One tick; exit 1 when it met an error, so cron and CI notice. A signal still exits 0."""
    try:
        result = daemon.tick()
    finally:
        if daemon.lease is not None:
            daemon.lease.release()
    return 0 if result.ok or daemon.gate.closed else 1


def _run_forever(daemon: Daemon, config: RunConfig, stop: threading.Event) -> int:
    server = None
    if config.listen is not None:
        host, port = config.listen
        page = attach_page(
            daemon,
            actor=config.page_actor,
            token=config.action_token,
            external_url=config.external_url,
        )
        server = StatusServer(
            daemon=daemon,
            page=page,
            metrics=daemon.metrics,
            host=host,
            port=port,
            webhook_secret=config.webhook_secret,
            branch=config.branch,
            webhook_repository=config.webhook_repository,
        ).start()
        log.info("listening", address=f"http://{server.host}:{server.port}")
    systemd = SystemdNotifier.from_env(os.environ)  # Type=notify: READY, then the watchdog
    if systemd is not None:
        systemd.check_interval(daemon.longest_gap)
        daemon.listeners.add(systemd.tick_finished)
    daemon.start()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        if systemd is not None:
            systemd.stopping()
        daemon.stop()
        if server is not None:
            server.stop()
    return 0


def _on_signals(handler: Callable[[], object]) -> Mapping[int, Any]:
    def handle(signum: int, frame: FrameType | None) -> None:
        handler()

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
