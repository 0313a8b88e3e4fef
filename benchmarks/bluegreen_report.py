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
    shares = [100 * c["canary_share"] for c in canaries]
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
            f"{100 * pooled(canaries):.1f} % of the canary's requests over all "
            f"{len(canaries)} commits (each: {span(shares, '{:.1f}')} %), "
            f"for {span(lengths, '{:.1f}')} intervals (median, min-max)",
            "share: "
            + share_verdict(canaries, step)
            + "; length: "
            + verdict(max(lengths), CANARY_INTERVALS, " intervals")
            + f" (worst commit; median {statistics.median(lengths):.1f})",
        ),
        (
            "extra instance-hours that blue/green costs",
            "—",
            f"{cost['extra_instance_hours']:.2f} instance-hours a deploy above the steady 2 "
            f"(rolling: {rolling['cost']['extra_instance_hours']:.2f}), so {extra:.2f} more",
            "—",
        ),
    ]


def pooled(canaries: Sequence[dict[str, Any]]) -> float:
    """v2.1's share of every canary's requests together: the expected share, without the
    random split's scatter."""
    v21 = sum(float(c["canary_share"]) * c["canary_requests"] for c in canaries)
    return float(v21 / max(1, sum(c["canary_requests"] for c in canaries)))


def share_verdict(canaries: Sequence[dict[str, Any]], step: int) -> str:
    """Pooled share against the step's weight, with the random split's standard deviation."""
    share, total = 100 * pooled(canaries), sum(c["canary_requests"] for c in canaries)
    sigma = 100 * (step / 100 * (1 - step / 100) / max(1, total)) ** 0.5
    if share <= step:
        return f"met (pooled {share:.2f} %)"
    return (
        f"at the weight: pooled {share:.2f} %, {share - step:.2f} points over, "
        f"{(share - step) / sigma:.1f} standard deviations of the random split over {total:,}"
        " requests"
    )


def thin(sample: dict[str, Any]) -> bool:
    return "(< 50)" in str(sample["note"])


def notes(reverts: dict[str, Any], figures: dict[str, Any]) -> str:
    canaries, cost, rolling = figures["canaries"], figures["cost"], figures["rolling"]
    push, floor = reverts["push_to_flip"]["median"], reverts["floor_s"]
    lengths = [c["first_step_to_flip_s"] / INTERVAL for c in canaries]
    partial = sum(1 for c in canaries if any(thin(x) and x["start"] < 0 for x in c["samples"]))
    full = sum(1 for c in canaries if any(thin(x) and x["start"] >= 0 for x in c["samples"]))
    requests = statistics.median(c["canary_requests"] for c in canaries)
    sigma = 100 * (0.1 * 0.9 / requests) ** 0.5
    worst = max(c["canary_share"] for c in canaries)
    rolled = rolling["cost"]["extra_instance_hours"]
    trials = reverts["trials"]
    before = statistics.median(t.get("push_to_first_call_s") or 0.0 for t in trials)
    observe = statistics.median(
        (t["push_to_modify_listener_s"] or 0.0) - (t.get("push_to_first_call_s") or 0.0)
        for t in trials
    )
    return f"""\
- The revert: {push:.3f} s against a floor of {floor:.3f} s. The other {push - floor:.3f} s are
  the daemon's tick before its ModifyListener: `git fetch` of the origin, loading the revision,
  and observing both sides (the calls in the table); the flip itself is one ModifyListener, and
  its read-back is the next DescribeListeners. Of that, {before:.3f} s (median) pass before the
  tick's first AWS call (waking the daemon, `git fetch`, reading the new commit) and
  {observe:.3f} s from there to the write (observing and deciding). A tick with nothing to do
  (the same revision, in sync) took {reverts["idle_tick"]["median"]:.3f} s (median of
  {reverts["idle_tick"]["n"]}) in the same run. The tick writes the old side's retire tag
  (CreateOrUpdateTags, among the calls above) before the ModifyListener: the plan orders tags
  before weights, so that write is on the flip's path too. The webhook's 202 comes before
  the tick (it only wakes the daemon), which is why its round trip is milliseconds.
- The failed canary: in every commit the tick that judged it failed also wrote the flip
  (decision rule "T failed the revision": the flip comes first, the scale-down after).
- v2.1's share: {100 * pooled(canaries):.1f} % over all commits, the first step's 10 % in
  expectation. The sandbox splits requests over the weights at random (multinomial, as ELB's
  balancing is not exact either), so one commit's share scatters around it: the worst,
  {100 * worst:.1f} %, is about {(100 * worst - 10) / sigma:.1f} standard deviations
  ({sigma:.2f} points at {requests:.0f} requests) above 10 %.
- The canary's length, {min(lengths):.1f}-{max(lengths):.1f} intervals (target
  {CANARY_INTERVALS}): missed by up to {max(lengths) - CANARY_INTERVALS:.1f} interval(s).
  `failureLimit: 2` needs two failing 60 s samples after the first step, so 2 intervals is the
  least a failed canary can last, met only when the step lands at the start of a minute, both
  samples hold enough requests and a tick falls at the end of the second. Samples are whole
  aligned minutes (aws-facts 6): a step mid-minute leaves a partial first sample, which counts
  only if at least half of it follows the step, and then holds about 30 requests, below the
  analysis's 50-request minimum (inconclusive); at 10 requests/s a 10 % step sends about 60
  requests a minute, so a full sample falls below 50 now and then too (of the
  {len(canaries)} commits, {partial} had an inconclusive partial first sample and {full} an
  inconclusive full one, each of fewer than 50 requests); and the daemon sees a completed
  sample on its next 30 s tick. With `failureLimit: 2` the target is that floor itself, so
  any of these pushes a canary past it; at this traffic the 10 % step's samples straddle the
  analysis's 50-request minimum, so Poisson noise decides most of the spread (more traffic, a
  larger first step or a lower minimum would keep it at 2-2.5 intervals).
- Instance-hours: blue/green keeps the old side at full capacity for `scaleDownDelay`
  (3600 s) after the flip, and the new side runs from its scale-up,
  {minutes(cost["commit_to_live_s"])} before the flip: {cost["extra_instance_hours"]:.2f}
  instance-hours above the steady 2 for one deploy, against {rolled:.2f} for the rolling refresh
  (min 50 / max 100: a replaced instance drains while its replacement starts). Instances are
  counted from the groups every 10 sandbox seconds, Pending and Terminating included (an upper
  bound: EC2 bills from running to shutting-down).
- v2.1 from its commit: blue/green is no quicker than rolling to stop serving it (the idle
  side is scaled up and must pass its health checks, about 3 min, before the first step), but
  a tenth of the traffic reaches it instead of one instance's share of a refresh, and the
  way back is a flip onto a side that never stopped serving, not new instances.
- The rolling revert is another instance refresh: the webhook starts it at once, the rest is
  AWS's pace (Pending 60 s, health checks, warmup 300 s, checkpoints), as on AWS.
"""


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
            _opt(t.get("push_to_first_call_s")),
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
            ", ".join(f"{x['verdict'][0]} {x['requests']:.0f}" for x in c["samples"]),
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
                "push → the tick's first AWS call",
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
                "error-rate samples from the step's minute (F fail, I inconclusive; requests)",
            ),
            canary_rows(figures["canaries"]),
        )
        + "\n\n"
        + notes(reverts, figures)
        + "\n"
        + fleet.data_line("bluegreen", [reverts, figures])
        + "\n"
    )
