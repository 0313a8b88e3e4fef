"""BENCHMARKS.md's section for ``benchmarks/analysis.py``: the figures as tables, the targets
met or missed, and the seed's manual process derived from the same traffic rate.

Everything here formats what the run measured; the only figures not measured are the manual
process's (``manual``), which are derived from the seed document's 30 + 20 minutes.
"""

from __future__ import annotations

from typing import Any

from benchmarks import fleet

LABELS = {
    "analysis": "asg-reconciler (analysis on, the default)",
    "aws": "AWS alone (`rollout.analysis.enabled: false`)",
}
# The seed's manual process (issue 12, from the seed document): users report the 500s 30
# minutes after the release, and the manual rollback workflow takes about 20 more.
REPORT_MINUTES, ROLLBACK_MINUTES = 30.0, 20.0
V21_ERROR_SHARE = 0.30  # the sandbox's v2.1 (reconciler.sandbox.behaviour.DEFAULTS)


def _minutes(value: float | None, *, never: str = "never") -> str:
    return never if value is None else f"{value:.1f} min"


def _served(r: dict[str, Any], share: float = 0.0) -> str:
    text = f"{r['served']:,}"
    if share and r["served"]:
        text += f" (≈ {round(r['served'] * share):,} answered 500)"
    if r.get("still_serving", r["detected_min"] is None) and r["served"]:
        text += f", over {r['served_over_min']:.0f} min and still serving"
    return text


def _cells(r: dict[str, Any] | None, share: float = 0.0) -> tuple[str, str, str]:
    if r is None:
        return ("", "", "")
    still = f"never (still on it after {r['served_over_min']:.0f} min)"
    return (
        _minutes(r["detected_min"]),
        _minutes(r["only_good_min"], never=still),
        _served(r, share),
    )


def manual(rate: float) -> dict[str, Any]:
    """The seed's manual process for v2.1, derived: the bad version answers every request from
    the commit until the rollback ends (an upper bound: it ignores the deploy's own ramp and
    the rollback's one-instance-at-a-time replacement)."""
    total = REPORT_MINUTES + ROLLBACK_MINUTES
    return {
        "detected_min": REPORT_MINUTES,
        "only_good_min": total,
        "served": round(rate * total * 60),
        "served_over_min": total,
        "still_serving": False,
    }


def main_runs(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(mode, image) -> the run whose commit landed at the first phase (the others repeat v2.1)."""
    first = min((r["phase_s"] for r in results), default=0.0)
    return {(r["mode"], r["image"]): r for r in results if r["phase_s"] == first}


def bad_releases(results: list[dict[str, Any]]) -> str:
    found = main_runs(results)
    rows: list[tuple[object, ...]] = []
    for mode, label in LABELS.items():
        v20, v21 = found.get((mode, "v2.0")), found.get((mode, "v2.1"))
        rows.append((label, *_cells(v20), *_cells(v21, V21_ERROR_SHARE)))
    rate = next((r["rate_per_s"] for r in results), 0.0)
    rows.append(
        (
            "the seed's manual process (derived, see below)",
            "n/a",
            "n/a",
            "n/a",
            *_cells(manual(rate), V21_ERROR_SHARE),
        )
    )
    headers = (
        "process",
        "v2.0: detected",
        "v2.0: only v1.1 runs",
        "v2.0: requests served by v2.0",
        "v2.1: detected",
        "v2.1: only v1.1 runs",
        "v2.1: requests served by v2.1",
    )
    return fleet.table(headers, rows)


def latency(results: list[dict[str, Any]]) -> str:
    rows = [(LABELS[r["mode"]], *_cells(r)) for r in results if r["image"] == "v1.2-slow"]
    if not rows:
        return ""
    headers = ("process", "detected", "only v1.1 runs", "requests served by v1.2-slow")
    return "Extra: `v1.2-slow` (healthy, p99 about 3 s).\n\n" + fleet.table(headers, rows)


def _against(measured: float | None, limit: float) -> str:
    if measured is None:
        return "not measured (never detected)"
    if measured < limit:
        return f"met, {limit - measured:.1f} s to spare"
    if measured == limit:
        return "met, at the limit"
    return f"missed by {measured - limit:.1f} s"


def sweep(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The v2.1 runs with the analysis on, one per commit phase."""
    runs = [r for r in results if r["mode"] == "analysis" and r["image"] == "v2.1"]
    return sorted(runs, key=lambda r: r["phase_s"])


Row = tuple[object, ...]


def _v20_row(v20: dict[str, Any]) -> Row:
    limit = v20["grace_s"] + 2 * v20["health_check_interval_s"]
    measured = v20["detected_after_in_service_s"]
    return (
        "v2.0 detected within grace + 2 health-check intervals of its first InService",
        f"{limit} s",
        "never" if measured is None else f"{measured:.1f} s",
        _against(measured, limit),
    )


def _v21_rows(results: list[dict[str, Any]]) -> list[Row]:
    phases = [r for r in sweep(results) if r["detected_after_traffic_s"] is not None]
    if not phases:
        return []
    worst = max(r["detected_after_traffic_s"] for r in phases)
    each = ", ".join(
        f"{r['detected_after_traffic_s']:.0f} s at :{r['phase_s']:02.0f}" for r in phases
    )
    return [
        (
            "v2.1 detected within 3 analysis intervals of its first instance taking traffic",
            "180 s",
            f"{each} (commit at that second of a minute)",
            _against(worst, 180) + " (worst phase)",
        )
    ]


def _recovery_row(r: dict[str, Any]) -> Row:
    measured = r["back_after_detection_s"]
    return (
        f"{r['image']}: the group back on v1.1 within 6 min of detection",
        "360 s",
        "never" if measured is None else f"{measured:.0f} s",
        _against(measured, 360),
    )


def targets(results: list[dict[str, Any]], healthy: dict[str, Any]) -> str:
    found = main_runs(results)
    v20, v21 = found.get(("analysis", "v2.0")), found.get(("analysis", "v2.1"))
    rows = [_v20_row(v20)] if v20 is not None else []
    rows += _v21_rows(results)
    rows += [_recovery_row(r) for r in (v20, v21) if r is not None]
    rate = healthy["false_positive_rate"]
    rows.append(
        (
            f"no false verdict over {healthy['rollouts']} healthy rollouts",
            "0",
            f"{healthy['false_verdicts']} (false-positive rate {rate:.0%})",
            "met" if healthy["false_verdicts"] == 0 else "missed",
        )
    )
    return fleet.table(("target (issue 12)", "limit", "measured", "result"), rows)


def _worst(worst: dict[str, float]) -> str:
    if not worst:
        return "no conclusive metric sample"
    parts = []
    if "errorRate_value" in worst:
        parts.append(
            f"5xx rate {worst['errorRate_value']:.2%} against a limit of"
            f" {worst['errorRate_threshold']:.2%}"
        )
    if "latencyP99_value" in worst:
        parts.append(
            f"p99 {worst['latencyP99_value']:.2f} s against {worst['latencyP99_threshold']:.2f} s"
        )
    return "; ".join(parts)


def _phases(results: list[dict[str, Any]]) -> str:
    runs = [r for r in sweep(results) if r["detected_after_traffic_s"] is not None]
    if len(runs) < 2:
        return ""
    seconds = [r["detected_after_traffic_s"] for r in runs]
    worst = max(runs, key=lambda r: r["detected_after_traffic_s"])
    return (
        f"Over {len(runs)} commit phases it came {min(seconds):.0f}-{max(seconds):.0f} s after"
        " traffic start: samples are whole aligned minutes (ALB metrics have 60 s resolution,"
        " aws-facts 6) and the first counts once at least half of it follows traffic start, so"
        " where traffic start falls in its minute decides whether that first sample holds"
        " enough v2.1 traffic to fail. The worst, with the commit at"
        f" :{worst['phase_s']:02.0f}, was decided on {' '.join(worst['verdict_samples'])}: the"
        " first sample counted as a pass though v2.1 had barely begun to serve, so a third"
        " was needed. That is the target's miss, and a product question: the analysis takes"
        " traffic start as InService + healthyThreshold x interval, which is earlier than the"
        " new instance really takes traffic when its app needs longer to start."
    )


def why(results: list[dict[str, Any]], healthy: dict[str, Any]) -> str:
    found = main_runs(results)
    lines = []
    v20, v21 = found.get(("analysis", "v2.0")), found.get(("analysis", "v2.1"))
    if v20 is not None:
        lines.append(
            f"- v2.0: its first instance went InService {v20['first_in_service_min']:.1f} min"
            " after the commit; the analysis fails it on the first tick after the"
            f" {v20['grace_s']} s grace period, while it is unhealthy (Auto Scaling's own"
            " verdict starts then too). AWS alone retries it for an hour (aws-facts 1.5)."
        )
    if v21 is not None:
        served = v21["first_served_after_traffic_s"]
        lines.append(
            "- v2.1: traffic start is InService + healthyThreshold x interval"
            f" ({v21['traffic_start_min']:.1f} min after the commit), the earliest moment ELB"
            " can route to it. The sandbox's image answers 90 s after boot, so the instance"
            " fails its first checks: the first tick that found a request served by v2.1 came"
            f" {served:.0f} s after that traffic start. The samples the verdict was reached on"
            f" ({' '.join(v21['verdict_samples'])}, 5xx share per 60 s sample): a sample with"
            " little v2.1 traffic passes, and two consecutive failing samples are needed, so"
            " detection comes at the end of the third sample after traffic start, on the next"
            f" 30 s tick. {_phases(results)}"
            if served is not None
            else "- v2.1: the bad image served no request before its detection."
        )
    for r in (v20, v21):
        if r is not None and r["back_after_detection_s"] is not None:
            lines.append(
                f"- {r['image']} rollback: AWS terminates the bad instance at once (only v1.1 runs"
                f" from {r['only_good_min']:.1f} min), launches v1.1 (Pending 60 s), and ends the"
                " rollback once the instance warmup (300 s) is over; desired capacity was"
                f" healthy in the target group again {r['serving_again_after_detection_s']:.0f} s"
                " after detection."
            )
    lines.append(
        f"- Healthy rollouts: outcomes {', '.join(sorted(set(healthy['outcomes'])))}; the worst"
        f" conclusive samples the analysis saw: {_worst(healthy['worst_samples'])}."
    )
    return "\n".join(lines)


def markdown(results: list[dict[str, Any]], healthy: dict[str, Any]) -> str:
    rate = next((r["rate_per_s"] for r in results), 0.0)
    derived = manual(rate)
    return (
        "## Rollout analysis: bad releases (`benchmarks/analysis.py`)\n\n"
        "Sandbox time, the seed's settings (`desired/desired.yaml` as `reconciler demo` uses it:"
        " 2 instances, min 50 / max 100, warmup 300, checkpoints [50, 100] delay 60, grace 300,"
        f" health checks every 30 s, thresholds 2), traffic {rate:g} requests/s through the"
        " ALB, 30 sandbox minutes of v1.1 traffic before the commit, the daemon ticking every"
        " 30 s. Times are from the commit; requests are those the bad image answered"
        " (`Sandbox.traffic.served`); 500s are that times the image's error share (30%)."
        " AWS alone is the same spec with `rollout.analysis.enabled: false`.\n\n"
        + bad_releases(results)
        + "\n\nThe seed's manual process is derived, not run: users report the 500s"
        f" {REPORT_MINUTES:.0f} min after the release and the manual rollback takes"
        f" {ROLLBACK_MINUTES:.0f} more (issue 12 and the seed document); at {rate:g}"
        f" requests/s the bad version answers at most {derived['served']:,} requests in those"
        f" {derived['served_over_min']:.0f} min (every request: an upper bound that ignores"
        " the deploy's ramp and the one-at-a-time rollback). v2.0's instances never take"
        " traffic, and the seed's refresh for it is AWS alone.\n\n"
        + latency(results)
        + "\n\n"
        + targets(results, healthy)
        + "\n\n"
        + why(results, healthy)
        + "\n"
    )
