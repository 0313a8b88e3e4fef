"""A real daemon's /metrics, scraped over HTTP after each tick against the frozen sandbox, and
turned into ``promtool test rules`` input series, so alert rules are proven on what the daemon
really exports.

The daemon ticks every 30 sandbox seconds and its metrics' clock is the sandbox's; the scrape
after tick ``i`` becomes the sample at ``i * 30s`` of promtool's time, and every
``*_timestamp_seconds`` value is shifted by the first tick's time, so ``time()`` in a rule and
the daemon's timestamps agree as they do in a real Prometheus. Each series gets the ``job`` and
``instance`` labels Prometheus would add, and a sample the daemon did not export is ``_``
(missing). As in Prometheus, a series that a scrape no longer has gets a ``stale`` marker, a
failed scrape (the daemon's server down) marks every series stale, and ``up`` is 1 or 0.
``process_*`` and ``python_*`` (real wall time, not the sandbox's) are left out.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import StatusServer
from reconciler.daemon.source import LocalSource
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox

STEP = 30  # sandbox seconds between ticks, and promtool's sample interval
TARGET = {"job": "asg-reconciler", "instance": "reconciler:9090"}
INSTANCE = TARGET["instance"]
ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"


def promtool() -> str:
    """The promtool binary (Debian's ``prometheus`` package); skips the test without it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120
    )


@dataclass
class Recorder:
    """A daemon over ``desired`` against the sandbox, its StatusServer, and every scrape."""

    sandbox: Sandbox
    desired: Path  # the directory the daemon follows
    aws: Aws | None = None
    daemon: Daemon = field(init=False)
    server: StatusServer = field(init=False)
    url: str = field(init=False)
    # (sandbox time, the exposition text, or None when the scrape failed)
    scrapes: list[tuple[float, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        aws = self.aws or self.sandbox.aws()
        now = self.now
        self.daemon = Daemon(
            source=LocalSource(paths=[self.desired]),
            reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
            metrics=Metrics(clock=now),
            interval=STEP,
            jitter=0.0,
            clock=now,
        )
        self.server = StatusServer(daemon=self.daemon, metrics=self.daemon.metrics, port=0)
        self.server.start()
        self.url = f"{self.server.url}/metrics"  # still asked once the server is stopped

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def stop(self) -> None:
        self.server.stop()

    def tick(self) -> dict[str, ServiceStatus]:
        """One pass, a scrape of /metrics over HTTP, then 30 sandbox seconds."""
        self.daemon.tick()
        self.scrape()
        return self.daemon.statuses()

    def scrape(self) -> None:
        """A scrape as Prometheus makes it, then 30 sandbox seconds."""
        with urllib.request.urlopen(self.url, timeout=10) as response:
            self.scrapes.append((self.now(), response.read().decode()))
        self.sandbox.clock.advance(STEP)

    def hang(self, count: int) -> None:
        """The loop stops (as a tick stuck on a call would) while /metrics is still served."""
        self.daemon.stop()
        for _ in range(count):
            self.scrape()

    def down(self, count: int) -> None:
        """The daemon's process is gone: every scrape is refused (recorded as None)."""
        self.stop()
        for _ in range(count):
            try:
                urllib.request.urlopen(self.url, timeout=10).close()
            except urllib.error.URLError as refused:
                assert isinstance(refused.reason, ConnectionRefusedError), refused
            else:
                raise AssertionError(f"{self.url} answered after the server stopped")
            self.scrapes.append((self.now(), None))
            self.sandbox.clock.advance(STEP)

    def ticks(self, count: int) -> None:
        for _ in range(count):
            self.tick()

    def until(self, done: Callable[[dict[str, ServiceStatus]], bool], *, limit: int = 200) -> int:
        """Tick until ``done``; the index of the scrape that first showed it."""
        for _ in range(limit):
            if done(self.tick()):
                return len(self.scrapes) - 1
        raise AssertionError(f"not done in {limit} ticks: {self.daemon.report()}")

    @property
    def last(self) -> int:
        return len(self.scrapes) - 1


def input_series(scrapes: list[tuple[float, str | None]]) -> list[dict[str, str]]:
    """promtool's ``input_series`` from the scrapes, in the order the daemon exported them."""
    epoch = scrapes[0][0]
    values: dict[str, list[str]] = {_key("up", {}): []}
    for index, (_, text) in enumerate(scrapes):
        values[_key("up", {})].append("0" if text is None else "1")
        for name, labels, value in samples(text or ""):
            if name.endswith("_timestamp_seconds"):
                value -= epoch
            values.setdefault(_key(name, labels), ["_"] * len(scrapes))[index] = _number(value)
    for found in values.values():  # gone from a scrape: stale, as Prometheus marks it
        for index in range(1, len(found)):
            if found[index] == "_" and found[index - 1] not in ("_", "stale"):
                found[index] = "stale"
    return [{"series": key, "values": " ".join(found)} for key, found in values.items()]


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample in an exposition, but ``process_*``/``python_*``."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(("process_", "python_")):
                yield sample.name, sample.labels, sample.value


def _key(name: str, labels: dict[str, str]) -> str:
    both = {**labels, **TARGET}
    return f"{name}{{{','.join(f'{k}={json.dumps(v)}' for k, v in sorted(both.items()))}}}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format(value, ".17g")


def at(index: int, *, plus: int = 0) -> str:
    """promtool's eval_time of scrape ``index``, ``plus`` seconds later."""
    return f"{index * STEP + plus}s"


def case(eval_time: str, alertname: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    """One ``alert_rule_test`` entry: exactly ``alerts`` fire then (none: an empty list)."""
    return {"eval_time": eval_time, "alertname": alertname, "exp_alerts": list(alerts)}


def firing(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """An expected alert, on the target's ``job`` and ``instance``."""
    return {"exp_labels": {**labels, **TARGET}, "exp_annotations": annotations}


def promtool_test(
    tmp_path: Path,
    recorder: Recorder,
    cases: list[dict[str, Any]],
    *,
    rules: Path = ALERTS,
    series: list[dict[str, str]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` of ``rules`` (deploy/prometheus/alerts.yaml) on the recorder's
    scrapes (or on ``series`` made from them); the rule-test file is written to ``tmp_path``."""
    document = {
        "rule_files": [str(rules)],
        "evaluation_interval": f"{STEP}s",
        "tests": [
            {
                "interval": f"{STEP}s",
                "input_series": input_series(recorder.scrapes) if series is None else series,
                "alert_rule_test": cases,
            }
        ],
    }
    path = tmp_path / f"{rules.stem}_test.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return run_promtool("test", "rules", str(path))
