"""Reaction time: from ``git push`` to the daemon's first AWS write, webhook versus polling.

    python benchmarks/reaction.py [--trials 5] [--write]

The real daemon (``reconciler.daemon.run.build_daemon`` and its ``StatusServer``) runs in this
process
against an in-process sandbox (clock 600x, so each rollout ends between trials) and follows a
bare origin repository on disk. Each trial commits a tag change in a work clone and pushes it;
the clock starts when ``git push`` returns (the commit is on the origin, where a forge would
fire its webhook) and stops at the first write the daemon's ``Aws`` sends (an ``Aws.on_call``
hook). Two modes, a median of ``--trials`` each:

- **webhook**: interval 60 s; right after the push, a signed GitHub-style push webhook is
  POSTed to ``/hooks/git``;
- **polling**: interval 5 s, no webhook; each push waits a seeded-random part of the interval
  first, so it lands anywhere in the polling cycle (expected: half an interval on average).

Before each trial the daemon is left to converge, so the trial's first write is its rollout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fleet
from reconciler.aws import is_read
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.run import RunConfig, build_daemon
from reconciler.daemon.server import StatusServer
from reconciler.daemon.webhook import sign
from reconciler.sandbox import Sandbox

SECRET = b"benchmark-webhook-secret"
LEASE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "CreateTable"})
SANDBOX_SPEED = 600.0
SETTLE_TIMEOUT = 60.0  # wall seconds for a rollout to end between trials
WRITE_TIMEOUT = 30.0  # wall seconds for the first write after a push


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Benchmark",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Benchmark",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


@dataclass
class Repo:
    origin: Path
    work: Path
    text: str  # desired.yaml with a TAG placeholder

    def deploy(self, tag: str) -> str:
        path = self.work / "desired" / "desired.yaml"
        path.write_text(self.text.replace("tag: TAG", f"tag: {tag}"), encoding="utf-8")
        git("commit", "-qam", f"deploy {tag}", cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def make_repo(root: Path, *, repository: str) -> Repo:
    origin, work = root / "origin.git", root / "work"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=root)
    git("init", "-q", "-b", "main", str(work), cwd=root)
    git("remote", "add", "origin", str(origin), cwd=work)
    shutil.copytree(fleet.ROOT / "desired", work / "desired")
    text = (work / "desired" / "desired.yaml").read_text(encoding="utf-8")
    text = text.replace("ghcr.io/johnhuh619/simple-api", repository)
    text = text.replace("tag: latest", "tag: TAG")
    repo = Repo(origin=origin, work=work, text=text)
    (work / "desired" / "desired.yaml").write_text(text.replace("TAG", "v1.1"), encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "deploy v1.1", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return repo


class FirstWrite:
    """``Aws.on_call`` hook: when the first write after ``arm()`` was sent (monotonic)."""

    def __init__(self) -> None:
        self._armed_at: float | None = None
        self._seen = threading.Event()
        self.at = 0.0

    def arm(self, moment: float) -> None:
        self._seen.clear()
        self._armed_at = moment

    def __call__(self, service: str, operation: str) -> None:
        if self._armed_at is None or is_read(operation) or operation in LEASE_OPERATIONS:
            return
        if not self._seen.is_set():
            self.at = time.monotonic()
            self._seen.set()

    def wait(self, timeout: float) -> float:
        """Seconds from ``arm``'s moment to the first write."""
        if not self._seen.wait(timeout) or self._armed_at is None:
            raise RuntimeError(f"no AWS write within {timeout} s of the push")
        took = self.at - self._armed_at
        self._armed_at = None
        return took


@contextmanager
def running(config: RunConfig) -> Iterator[tuple[Daemon, StatusServer]]:
    daemon = build_daemon(config)
    server = StatusServer(
        daemon=daemon,
        metrics=daemon.metrics,
        port=0,
        webhook_secret=config.webhook_secret,
        branch=config.branch,
    ).start()
    daemon.start()
    try:
        yield daemon, server
    finally:
        daemon.stop()
        server.stop()


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.25)


def settled(daemon: Daemon, revision: str) -> bool:
    report = daemon.report()
    statuses = daemon.statuses()
    return (
        report["lastGoodRevision"] == revision
        and daemon.ready()
        and "feedback" in statuses
        and statuses["feedback"].condition("Ready").status
    )


def wait_settled(daemon: Daemon, revision: str, *, poke: bool) -> None:
    """Until the rollout of ``revision`` ended. With ``poke`` (webhook mode, a 60 s interval)
    ticks are triggered meanwhile; nothing here is measured."""

    def done() -> bool:
        if poke:
            daemon.trigger()
        return settled(daemon, revision)

    wait_until(done, timeout=SETTLE_TIMEOUT, what=f"the rollout of {revision[:12]}")


def post_webhook(server: StatusServer, revision: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": revision}).encode()
    request = urllib.request.Request(
        f"{server.url}/hooks/git",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": sign(secret=SECRET, body=body),
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def trials(sandbox: Sandbox, *, mode: str, count: int) -> list[float]:
    assert sandbox.seeded is not None
    sandbox.reseed()
    sandbox.clock.speed = SANDBOX_SPEED
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), repository=sandbox.seeded.repository_uri)
        config = RunConfig(
            repo=str(repo.origin),
            branch="main",
            path="desired",
            interval=60.0 if mode == "webhook" else 5.0,
            listen=("127.0.0.1", 0),
            cache_dir=Path(tmp) / "cache",
            webhook_secret=SECRET if mode == "webhook" else None,
            endpoint_url=sandbox.endpoint,
        )
        first = FirstWrite()
        phase = random.Random(count)
        seconds = []
        with running(config) as (daemon, server):
            daemon.reconciler.aws.on_call(first)
            revision = git("rev-parse", "HEAD", cwd=repo.work)
            if mode == "webhook":
                post_webhook(server, revision)
            wait_settled(daemon, revision, poke=mode == "webhook")
            for number in range(count):
                # A push lands at any moment of the polling cycle, not right after a tick.
                time.sleep(phase.uniform(0, config.interval if mode == "polling" else 1.0))
                revision = repo.deploy("v1.0" if number % 2 == 0 else "v1.1")
                pushed = time.monotonic()
                first.arm(pushed)
                if mode == "webhook":
                    post_webhook(server, revision)
                seconds.append(first.wait(WRITE_TIMEOUT))
                wait_settled(daemon, revision, poke=mode == "webhook")
    return seconds


def summary(mode: str, seconds: list[float]) -> dict[str, Any]:
    return {
        "mode": mode,
        "median_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "trials": [round(s, 3) for s in seconds],
    }


def markdown(results: list[dict[str, Any]]) -> str:
    rows = [
        (
            r["mode"],
            f"{r['median_seconds']:.3f}",
            f"{r['min_seconds']:.3f}",
            f"{r['max_seconds']:.3f}",
            ", ".join(f"{s:.2f}" for s in r["trials"]),
        )
        for r in results
    ]
    return (
        "## Reaction: `git push` to the first AWS write (`benchmarks/reaction.py`)\n\n"
        "The real daemon in-process, a bare origin on disk, the in-process sandbox. Target: "
        "< 2 s with the webhook (median). Polling runs at `--interval 5s` (jitter up to 0.5 s).\n\n"
        + fleet.table(("mode", "median s", "min s", "max s", "trials (s)"), rows)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    results = []
    with fleet.sandbox() as sandbox:
        for mode in ("webhook", "polling"):
            result = summary(mode, trials(sandbox, mode=mode, count=args.trials))
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.write:
        fleet.write_section("reaction", markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
