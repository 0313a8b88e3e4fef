"""AWS calls and wall time of one steady-state no-op tick: the reconciler against a naive loop.

    python benchmarks/tick_cost.py --services 100 [500 ...] [--write]

For each N: a sandbox with N services (own group, launch template and target group each)
created in sync, a reconciler run until converged (a warm ``Observer``, as the daemon has),
then ONE no-op tick (``Reconciler.compute`` + ``apply`` of the empty plans) and, in the same
run, a naive per-service loop (describe the group, its launch template version and its target
group). Calls are counted by botocore's event hooks (``Aws.calls``). Also measured: the mean
calls a tick over a five-minute window of 30 s ticks (10 ticks), which includes the tick where
the tag and policy TTLs expire and the one-a-tick refresh rechecks.

Prints one JSON line per N; ``--write`` updates the tick_cost section of BENCHMARKS.md (rows of
other sizes from earlier runs stay, so a long N = 500 run can be made on its own).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fleet
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.observe import Observer
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox

TICK_INTERVAL = 30.0  # the daemon's default --interval
WINDOW_TICKS = 10  # five minutes of ticks: one TTL expiry for tags and policies


class StepClock:
    """The observer's clock: moved by hand, one daemon interval a tick."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(services: int, what: str, since: float) -> None:
    print(f"N={services}: {what} ({time.perf_counter() - since:.0f} s)", file=sys.stderr)


def measure(sandbox: Sandbox, services: int, *, naive: bool = True) -> dict[str, Any]:
    assert sandbox.seeded is not None
    aws = sandbox.aws()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        made = fleet.create_fleet(aws, sandbox.seeded, Path(tmp), services)
    progress(services, "fleet created", began)
    sandbox.clock.advance(600)  # the instances are in service and healthy
    clock = StepClock()
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    reconciler.observer = Observer(aws, clock=clock)
    fleet.converge(reconciler, made.specs, sandbox.clock)
    progress(services, "converged", began)

    clock.now += TICK_INTERVAL
    aws.reset_counts()
    started = time.perf_counter()
    outcomes = fleet.tick(reconciler, made.specs)
    reconciler_seconds = time.perf_counter() - started
    reconciler_calls = sum(aws.calls.values())
    by_operation = dict(aws.calls)
    if not fleet.in_sync(outcomes) or aws.writes():
        raise RuntimeError("the measured tick was not a no-op")

    naive_calls: int | None = None
    naive_seconds: float | None = None
    if naive:
        aws.reset_counts()
        started = time.perf_counter()
        fleet.naive_tick(aws, made.specs)
        naive_seconds = round(time.perf_counter() - started, 3)
        naive_calls = sum(aws.calls.values())
        progress(services, "naive loop done", began)

    aws.reset_counts()
    for _ in range(WINDOW_TICKS):
        clock.now += TICK_INTERVAL
        fleet.tick(reconciler, made.specs)
    window_mean = sum(aws.calls.values()) / WINDOW_TICKS
    return {
        "services": services,
        "reconciler_calls": reconciler_calls,
        "naive_calls": naive_calls,
        "reconciler_seconds": round(reconciler_seconds, 3),
        "naive_seconds": naive_seconds,
        "reconciler_calls_by_operation": by_operation,
        "reconciler_calls_per_tick_5min_mean": window_mean,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    rows = [_row(r) for r in results]
    headers = (
        "services",
        "reconciler calls",
        "naive calls",
        "fewer calls",
        "reconciler s",
        "naive s",
        "less time",
        "calls/tick, 5-min mean",
    )
    ops = "; ".join(
        f"N={r['services']}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["reconciler_calls_by_operation"].items()))
        for r in results
    )
    return (
        "## Tick cost: one steady-state no-op tick (`benchmarks/tick_cost.py`)\n\n"
        "Targets: <= 4 calls at N = 100, <= 12 at N = 500; >= 20x fewer calls and >= 5x less "
        "wall time than the naive loop at N = 100.\n\n"
        + fleet.table(headers, rows)
        + f"\n\nCalls of the measured tick: {ops}. The 5-minute mean covers 10 ticks at a 30 s "
        "interval, including the one where the tag and policy caches expire (5-minute TTL) and "
        "one refresh recheck a tick. `DescribeImages`, when listed, is the image tag's scheduled "
        "re-resolution (every `imagePollInterval`, 5 minutes by default, on the wall clock), "
        'not a per-service call. "not run": `--no-naive` (at 500 services the sandbox '
        "answers each request in about a second, so the naive loop alone takes 20+ minutes).\n"
    )


def _row(r: dict[str, Any]) -> tuple[object, ...]:
    naive_calls, naive_seconds = r["naive_calls"], r["naive_seconds"]
    ran = naive_calls is not None and naive_seconds is not None
    return (
        r["services"],
        r["reconciler_calls"],
        naive_calls if ran else "not run",
        f"{naive_calls / r['reconciler_calls']:.0f}x" if ran else "",
        f"{r['reconciler_seconds']:.3f}",
        f"{naive_seconds:.3f}" if ran else "not run",
        f"{naive_seconds / r['reconciler_seconds']:.1f}x" if ran else "",
        f"{r['reconciler_calls_per_tick_5min_mean']:.1f}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[100])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--no-naive", action="store_true", help="measure the reconciler only")
    args = parser.parse_args(argv)
    results = []
    with fleet.sandbox() as sandbox:
        for count in args.services:
            sandbox.reseed()
            result = measure(sandbox, count, naive=not args.no_naive)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.write:
        # Rows of other sizes from earlier runs stay: N = 500 takes long, so it may run alone.
        merged = {r["services"]: r for r in fleet.section_data("tick_cost")}
        merged.update({r["services"]: r for r in results})
        rows = [merged[n] for n in sorted(merged)]
        fleet.write_section("tick_cost", markdown(rows) + "\n" + fleet.data_line("tick_cost", rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
