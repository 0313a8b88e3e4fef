"""The "Blue/green rollback" section of BENCHMARKS.md, from ``benchmarks/bluegreen.py``'s
figures: issue 13's rows against their targets, then blue/green beside the rolling strategy
and the seed's manual rollback, then the trials and commits behind each figure."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks import fleet

FLIP_TARGET = 5.0  # seconds, the revert's target (issue 13)
INTERVAL = 60.0  # the example's rollout.analysis.interval
CANARY_INTERVALS = 2  # the canary's target length, in analysis intervals
SEED_MANUAL_ROLLBACK_MIN = 20.0  # the seed document's figure
SEED_DETECTION_MIN = 30.0  # users report the 500s (issue 12, derived in benchmarks/analysis.py)
SEED_REQUESTS = 30_000  # 10 requests/s over those 50 minutes, every request (an upper bound)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def span(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """median (min-max)"""
    med, low, high = statistics.median(values), min(values), max(values)
    return f"{fmt.format(med)} ({fmt.format(low)}-{fmt.format(high)})"


def verdict(measured: float, limit: float, unit: str) -> str:
    if measured <= limit:
        return f"met, {limit - measured:.2f}{unit} to spare" if measured < limit else "met"
    return f"missed by {measured - limit:.2f}{unit}"


def issue_rows(reverts: dict[str, Any], figures: dict[str, Any]) -> list[tuple[object, ...]]:
    push, floor = reverts["push_to_flip"], reverts["floor_s"]
    canaries, cost, rolling = figures["canaries"], figures["cost"], figures["rolling"]
    same_tick = sum(1 for c in canaries if c["ticks_fail_to_flip"] == 0)
    worst_share = max(c["canary_share"] for c in canaries)
    step = min(c["first_step_weight"] for c in canaries)
    lengths = [c["first_step_to_flip_s"] / INTERVAL for c in canaries]
    extra = cost["extra_instance_hours"] - rolling["cost"]["extra_instance_hours"]
    return [
        (
            "wall time from the revert commit to 100% of traffic on the previous version "
            f"(webhook, median of {push['n']})",
            f"< {FLIP_TARGET:.0f} s; physical floor {floor:.3f} s",
            f"{push['median']:.3f} s from the push ({push['min']:.3f}-{push['max']:.3f}); "
            f"{reverts['revert_to_flip']['median']:.3f} s from `git revert`; "
            f"floor {floor:.3f} s",
            verdict(push["median"], FLIP_TARGET, " s"),
        ),
        (
            "the same for a failed analysis (detection to flip)",
            "one tick",
            f"0 extra ticks in {same_tick} of {len(canaries)} commits: the tick that judged "
            "the canary failed wrote the flip",
            "met" if same_tick == len(canaries) else f"missed in {len(canaries) - same_tick}",
        ),
        (
            "share of requests that reached v2.1 in the canary",
            f"≤ {step}% (the first step) for ≤ {CANARY_INTERVALS} analysis intervals",
            f"{span([100 * c['canary_share'] for c in canaries], '{:.1f}')} % for "
            f"{span(lengths, '{:.1f}')} intervals (median, min-max over {len(canaries)} commits)",
            "share: "
            + verdict(100 * worst_share, step, " points")
            + "; length: "
            + verdict(max(lengths), CANARY_INTERVALS, " intervals")
            + " (worst commit)",
        ),
        (
            "extra instance-hours that blue/green costs",
            "—",
            f"{cost['extra_instance_hours']:.2f} instance-hours a deploy above the steady 2 "
            f"(rolling: {rolling['cost']['extra_instance_hours']:.2f}), so {extra:.2f} more",
            "—",
        ),
    ]


def comparison_rows(reverts: dict[str, Any], figures: dict[str, Any]) -> list[tuple[object, ...]]:
    canaries, cost, rolling = figures["canaries"], figures["cost"], figures["rolling"]
    flips = [c["commit_to_flip_s"] for c in canaries]
    requests = [c["v21_requests"] for c in canaries]
    return [
        (
            "a revert: the previous version takes all traffic",
            f"{reverts['push_to_flip']['median']:.2f} s wall (the webhook's tick)",
            f"only v1.1 runs after {minutes(rolling['revert_to_only_previous_s'])}, "
            f"the refresh done after {minutes(rolling['revert_to_ready_s'])} (sandbox time, "
            "AWS's pace)",
            f"about {SEED_MANUAL_ROLLBACK_MIN:.0f} min (the manual workflow)",
        ),
        (
            "v2.1 (30% 500s): from its commit until v2.1 serves nothing",
            f"{span([f / 60 for f in flips], '{:.1f}')} min (the flip)",
            f"{minutes(rolling['v21_only_v11_runs_s'])} (detected after "
            f"{minutes(rolling['v21_detected_s'])}; AWS terminates the v2.1 instance)",
            f"{SEED_DETECTION_MIN + SEED_MANUAL_ROLLBACK_MIN:.0f} min "
            f"({SEED_DETECTION_MIN:.0f} to notice, {SEED_MANUAL_ROLLBACK_MIN:.0f} to roll back)",
        ),
        (
            "requests v2.1 answered",
            f"{span(requests, '{:.0f}')} "
            f"({span([100 * c['canary_share'] for c in canaries], '{:.1f}')} % of the canary's)",
            f"{rolling['v21_requests']} ({100 * rolling['v21_share']:.1f} % of all requests "
            f"from the commit until v2.1 was gone)",
            f"up to {SEED_REQUESTS:,}",
        ),
        (
            "instance-hours a deploy costs above the steady 2 instances",
            f"{cost['extra_instance_hours']:.2f} (peak {cost['peak_instances']} instances, "
            f"{minutes(cost['commit_to_end_s'])} from the commit until the old side is gone)",
            f"{rolling['cost']['extra_instance_hours']:.2f} (peak "
            f"{rolling['cost']['peak_instances']}, {minutes(rolling['cost']['commit_to_end_s'])})",
            "as rolling (the same instance refresh)",
        ),
    ]


def trial_rows(reverts: dict[str, Any]) -> list[tuple[object, ...]]:
    return [
        (
            t["trial"],
            t["onto"],
            f"{t['warm_capacity']}",
            f"{t['push_to_flip_s']:.3f}",
            f"{t['revert_to_flip_s']:.3f}",
            f"{t['webhook_round_trip_s']:.3f}",
            _opt(t["push_to_modify_listener_s"]),
            _opt(t["modify_listener_to_seen_s"]),
            sum(t["calls_before_write"].values()),
        )
        for t in reverts["trials"]
    ]


def canary_rows(canaries: Sequence[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        (
            f":{c['phase']:02.0f}",
            c["seed"],
            f"{c['first_step_weight']}%",
            f"{c['first_step_to_flip_s']:.0f} s ({c['first_step_to_flip_s'] / INTERVAL:.1f})",
            c["ticks_fail_to_flip"],
            f"{c['commit_to_flip_s'] / 60:.1f} min",
            c["v21_requests"],
            f"{100 * c['canary_share']:.1f} %",
        )
        for c in canaries
    ]


def _opt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def calls_text(reverts: dict[str, Any]) -> str:
    first = reverts["trials"][0]["calls_before_write"]
    return ", ".join(f"{op} {n}" for op, n in first.items())


def markdown(reverts: dict[str, Any], figures: dict[str, Any]) -> str:
    rows = issue_rows(reverts, figures)
    head = (
        "## Blue/green rollback (`benchmarks/bluegreen.py`)\n\n"
        "`desired/examples/blue-green.yaml` (steps [10, 50, 100], stepPause 180, "
        "scaleDownDelay 3600, analysis interval 60 s, failureLimit 2) against the in-process "
        "sandbox, traffic 10 requests/s. The revert is wall time, the real daemon (interval "
        "60 s) woken by a signed webhook, the sandbox clock at 1x; the rest is sandbox time, "
        "the clock frozen and moved 30 s per daemon tick. How each figure is taken: the "
        "module's docstring.\n\n"
    )
    return (
        head
        + fleet.table(("figure", "target", "measured", "result"), rows)
        + "\n\nSide by side (the rolling strategy: `desired/desired.yaml`, the seed's "
        "settings, measured in the same run):\n\n"
        + fleet.table(
            ("", "blue/green", "rolling", "the seed's manual process"),
            comparison_rows(reverts, figures),
        )
        + "\n\nThe reverts (seconds of wall time; the clock starts when `git push` returns):\n\n"
        + fleet.table(
            (
                "trial",
                "flip onto",
                "its capacity",
                "push → 100% seen",
                "`git revert` → 100% seen",
                "webhook round trip",
                "push → ModifyListener sent",
                "ModifyListener → seen",
                "daemon calls before it",
            ),
            trial_rows(reverts),
        )
        + f"\n\nThe floor, {reverts['floor_s']:.3f} s: the webhook's round trip "
        f"({reverts['webhook_round_trip']['median']:.3f} s, median of "
        f"{reverts['webhook_round_trip']['n']}) plus one ModifyListener and one "
        f"DescribeListeners ({reverts['listener_write_and_read']['median']:.3f} s, median of "
        f"{reverts['listener_write_and_read']['n']}). The rest of the flip is the daemon's "
        f"tick before its write: `git fetch` of the origin, loading the revision, and the "
        f"observation (trial 1: {calls_text(reverts)}).\n\n"
        "The failed canaries (v2.1 committed at that second of a minute, a traffic seed "
        "each; the canary's length from the tick that wrote the first step to the tick that "
        "flipped back, in analysis intervals):\n\n"
        + fleet.table(
            (
                "commit at",
                "seed",
                "first step",
                "first step → flip",
                "ticks from FAIL to the flip",
                "commit → flip",
                "v2.1 requests",
                "v2.1's share in the canary",
            ),
            canary_rows(figures["canaries"]),
        )
        + "\n\n"
        + fleet.data_line("bluegreen", [reverts, figures])
        + "\n"
    )
