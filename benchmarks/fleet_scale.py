"""Fleet scale: cold and warm observation against the API floor, and the scaling curve.

    python benchmarks/fleet_scale.py --services 100 300 [--write] [--plot docs/fleet-scale.png]

For each N, a sandbox (in this process, its clock frozen) with N services created in sync
(``benchmarks.fleet``), then, in one run:

- cold diff, no records: a new ``Reconciler`` computes (a one-shot ``reconciler diff`` before
  any daemon ran): calls and wall time;
- the fleet converged once by a daemon-like reconciler, which writes each group's pinned record;
- cold diff, with records: a new ``Reconciler`` again: calls, wall time, against the floor
  (``pipeline.observe.floor``);
- a warm no-op tick (compute + apply of the empty plans): calls, wall, and the reconciler's
  CPU alone (``time.thread_time`` of this thread: the sandbox serves on threads of its own);
- the naive per-service loop (``fleet.naive_tick``) beside it.

Prints one JSON line per N; ``--write`` updates the fleet_scale section of BENCHMARKS.md (sizes
measured earlier stay); ``--plot`` draws the calls and wall time against N with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fleet
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.observe.floor import floor_calls
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox

SECTION = "fleet_scale"


def timed(aws: Aws, work: Callable[[], object]) -> dict[str, Any]:
    aws.reset_counts()
    wall, cpu = time.perf_counter(), time.thread_time()
    work()
    return {
        "calls": sum(aws.calls.values()),
        "by_operation": dict(sorted(aws.calls.items())),
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.thread_time() - cpu, 4),
    }


def target_groups(aws: Aws) -> int:
    return sum(len(p["TargetGroups"]) for p in aws.pages("elbv2", "describe_target_groups"))


def measure(sandbox: Sandbox, services: int, *, naive: bool) -> dict[str, Any]:
    assert sandbox.seeded is not None
    aws = sandbox.aws()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        specs = fleet.create_fleet(aws, sandbox.seeded, Path(tmp), services).specs
    created = time.perf_counter() - began
    sandbox.clock.advance(600)

    def cold() -> object:
        return Reconciler(aws=aws, resolver=ImageResolver(aws)).compute(specs)

    no_records = timed(aws, cold)
    warm = Reconciler(aws=aws, resolver=ImageResolver(aws))
    fleet.converge(warm, specs, sandbox.clock)
    fleet.tick(warm, specs)  # the tick after the records were written: reads their groups
    with_records = timed(aws, cold)
    noop = timed(aws, lambda: fleet.tick(warm, specs))
    floor = floor_calls(services, target_groups=target_groups(aws))
    warm_floor = floor_calls(services, target_groups=target_groups(aws), warm=True)
    row: dict[str, Any] = {
        "services": services,
        "create_seconds": round(created, 1),
        "cold_no_records": no_records,
        "cold_with_records": with_records,
        "cold_floor": sum(floor.values()) + 1,  # + the image tag's one DescribeImages
        "noop_tick": noop,
        "noop_floor": sum(warm_floor.values()),
        "cpu_ms_per_service": round(1000 * noop["cpu_seconds"] / services, 3),
        "naive": timed(aws, lambda: fleet.naive_tick(aws, specs)) if naive else None,
    }
    return row


def markdown(rows: list[dict[str, Any]], *, takeover: str, plot: str | None) -> str:
    rows = sorted(rows, key=lambda r: r["services"])
    table = fleet.table(
        [
            "services",
            "cold diff, no records: calls / s",
            "cold diff, records: calls / s",
            "cold floor",
            "no-op tick: calls / s",
            "no-op floor",
            "CPU per service per tick",
            "naive loop: calls / s",
        ],
        [
            (
                r["services"],
                f"{r['cold_no_records']['calls']} / {r['cold_no_records']['seconds']}",
                f"{r['cold_with_records']['calls']} / {r['cold_with_records']['seconds']}",
                r["cold_floor"],
                f"{r['noop_tick']['calls']} / {r['noop_tick']['seconds']}",
                r["noop_floor"],
                f"{r['cpu_ms_per_service']} ms",
                f"{r['naive']['calls']} / {r['naive']['seconds']}" if r["naive"] else "not run",
            )
            for r in rows
        ],
    )
    picture = f"\n\n![calls and wall time against N]({plot})" if plot else ""
    return f"""## Fleet scale: cold and warm observation (`benchmarks/fleet_scale.py`)

Sandbox in process, clock frozen, N services created in sync. Cold floor:
ceil(N/100) DescribeAutoScalingGroups + ceil(N/200) DescribeLaunchTemplates + ceil(T/400)
DescribeTargetGroups + ceil(N/20) DescribeTags + ceil(P/100) DescribePolicies + 1 DescribeImages
(T, P: target groups and scaling policies in the region; `reconciler/pipeline/observe/floor.py`).
No-op floor: the first three terms. Calls are counted by botocore's hooks; seconds include
the sandbox's answers.

{table}{picture}

Shard takeover (`tests/test_shards.py`, three daemons in one process, lease 6 s, renewal 1 s):
{takeover}.

Against the issue's targets:

- no-op tick calls <= 1.2 x the floor: met (the floor itself, 3 calls at 100).
- cold diff <= 8 calls at 100: **missed by 2** (10 calls, which is the floor): the 100 target
  groups' tags take 5 elbv2 DescribeTags calls, AWS's limit being 20 ARNs a call, and no batched
  read of target group tags exists (moto serves no tagging API for ELB either). The per-group
  reads (100 DescribeInstanceRefreshes, 100 DescribeLaunchTemplateVersions) are gone.
- CPU per service per tick <= 1 ms: **missed** on this run, measured while two other test jobs
  shared the machine's 2 cores (thread CPU time still grows under contention); not re-measured
  on a quiet machine.
- not measured in this run (time): N = 1,000 and 5,000 (creating 100 services in the sandbox
  takes ~40 s and grows faster than linearly, since every creation request steps the groups
  still settling); RSS at 1,000; the commit that changes all 1,000 services
  (`--max-concurrent-rollouts` waves and the `--write-rate` budget are built and tested, not
  benchmarked); the wall time of a no-op tick at 1,000.

{fleet.data_line(SECTION, rows)}
"""


def draw(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib import pyplot

    rows = sorted(rows, key=lambda r: r["services"])
    n = [r["services"] for r in rows]
    figure, (calls, seconds) = pyplot.subplots(1, 2, figsize=(10, 4))
    calls.plot(n, [r["cold_no_records"]["calls"] for r in rows], "o-", label="cold, no records")
    calls.plot(n, [r["cold_with_records"]["calls"] for r in rows], "o-", label="cold, records")
    calls.plot(n, [r["cold_floor"] for r in rows], "k--", label="cold floor")
    calls.plot(n, [r["noop_tick"]["calls"] for r in rows], "o-", label="no-op tick")
    calls.set(xlabel="services", ylabel="AWS calls", title="calls per observation")
    calls.legend()
    seconds.plot(n, [r["cold_with_records"]["seconds"] for r in rows], "o-", label="cold")
    seconds.plot(n, [r["noop_tick"]["seconds"] for r in rows], "o-", label="no-op tick")
    seconds.set(xlabel="services", ylabel="seconds (sandbox included)", title="wall time")
    seconds.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[100])
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--takeover", default="not measured in this run")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--plot", help="PNG path for the scaling curve (matplotlib)")
    args = parser.parse_args()
    rows = {r["services"]: r for r in fleet.section_data(SECTION)}
    for services in args.services:
        with fleet.sandbox() as sandbox:
            row = measure(sandbox, services, naive=not args.no_naive)
        print(json.dumps(row, sort_keys=True), flush=True)
        rows[services] = row
    if args.plot:
        draw(list(rows.values()), Path(args.plot))
    if args.write:
        fleet.write_section(
            SECTION, markdown(list(rows.values()), takeover=args.takeover, plot=args.plot)
        )


if __name__ == "__main__":
    main()
