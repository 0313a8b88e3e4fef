"""Footprint: the daemon's memory after 1,000 ticks on 10 services, and CPU per idle tick.

    python benchmarks/footprint.py [--services 10] [--ticks 1000] [--write]

The sandbox runs in this process with 10 services in sync; the daemon runs in a child process
of its own (``--child``) so its RSS is the daemon's alone, not moto's: ``Daemon.tick()`` back
to back with a ``LocalSource`` on the desired directory (load, observe, diff, plan, status,
metrics: everything but the sleeping). The child reports RSS (``VmRSS``) at tick 100 and at the
last tick, and CPU seconds per idle tick (``time.process_time`` over ticks 101..last).
Target: < 120 MB, no growth after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_UP = 100


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# ------------------------------------------------------------------------------------------------
# The child: the daemon, and nothing of the sandbox (no moto imported here)
# ------------------------------------------------------------------------------------------------


def child(desired_dir: Path, endpoint: str, ticks: int) -> dict[str, Any]:
    from reconciler.aws import Aws
    from reconciler.cli import logs
    from reconciler.daemon.daemon import Daemon
    from reconciler.daemon.source import LocalSource
    from reconciler.images.resolver import ImageResolver
    from reconciler.pipeline.reconcile import Reconciler

    logs.configure(level="warning", json=True)
    aws = Aws(region="us-east-1", endpoint_url=endpoint)
    daemon = Daemon(
        source=LocalSource(paths=[desired_dir]),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        interval=30.0,
        jitter=0.0,
    )
    rss_start = rss_mib()
    cpu_at_warm_up = rss_at_warm_up = 0.0
    started = time.perf_counter()
    for number in range(1, ticks + 1):
        result = daemon.tick()
        if not result.ok or result.applied:
            raise RuntimeError(f"tick {number} was not idle: {result}")
        if number == WARM_UP:
            rss_at_warm_up, cpu_at_warm_up = rss_mib(), time.process_time()
    idle_ticks = ticks - WARM_UP
    calls = sum(aws.calls.values())
    return {
        "services": len(daemon.statuses()),
        "ticks": ticks,
        "rss_mib_before_first_tick": round(rss_start, 1),
        f"rss_mib_at_tick_{WARM_UP}": round(rss_at_warm_up, 1),
        f"rss_mib_at_tick_{ticks}": round(rss_mib(), 1),
        "cpu_seconds_per_idle_tick": round((time.process_time() - cpu_at_warm_up) / idle_ticks, 5),
        "wall_seconds_per_tick": round((time.perf_counter() - started) / ticks, 4),
        "aws_calls_per_tick": round(calls / ticks, 2),
    }


# ------------------------------------------------------------------------------------------------
# The parent: the sandbox and the fleet
# ------------------------------------------------------------------------------------------------


def measure(services: int, ticks: int) -> dict[str, Any]:
    from benchmarks import fleet

    with fleet.sandbox() as sandbox, tempfile.TemporaryDirectory() as tmp:
        assert sandbox.seeded is not None
        made = fleet.create_fleet(sandbox.aws(), sandbox.seeded, Path(tmp) / "desired", services)
        sandbox.clock.advance(600)  # instances in service and healthy
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(made.path.parent),
                "--endpoint",
                sandbox.endpoint,
                "--ticks",
                str(ticks),
            ],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=3600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the daemon process failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def markdown(result: dict[str, Any]) -> str:
    ticks = result["ticks"]
    early, late = result[f"rss_mib_at_tick_{WARM_UP}"], result[f"rss_mib_at_tick_{ticks}"]
    rows = [
        ("RSS before the first tick", f"{result['rss_mib_before_first_tick']} MiB"),
        (f"RSS at tick {WARM_UP}", f"{early} MiB"),
        (f"RSS at tick {ticks}", f"{late} MiB"),
        (f"growth, tick {WARM_UP} to {ticks}", f"{late - early:+.1f} MiB"),
        ("CPU per idle tick", f"{result['cpu_seconds_per_idle_tick'] * 1000:.1f} ms"),
        (
            "wall per tick (sandbox latency included)",
            f"{result['wall_seconds_per_tick'] * 1000:.1f} ms",
        ),
        ("AWS calls per tick", f"{result['aws_calls_per_tick']}"),
    ]
    return (
        f"## Footprint: {ticks} ticks on {result['services']} services "
        "(`benchmarks/footprint.py`)\n\n"
        "The daemon in a process of its own (`Daemon.tick()` back to back, a `LocalSource`), "
        "the sandbox in another. Target: RSS < 120 MB with no growth after warm-up.\n\n"
        + fleet_table(("measure", "value"), rows)
        + "\n"
    )


def fleet_table(headers: tuple[str, ...], rows: list[tuple[str, str]]) -> str:
    from benchmarks import fleet

    return fleet.table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ticks <= WARM_UP:
        parser.error(f"--ticks must be more than {WARM_UP}")
    if args.child is not None:
        print(json.dumps(child(args.child, args.endpoint, args.ticks)), flush=True)
        return 0
    result = measure(args.services, args.ticks)
    print(json.dumps(result), flush=True)
    if args.write:
        from benchmarks import fleet

        fleet.write_section("footprint", markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
