"""The status page's pure parts: statuses, analyses, diffs and revisions → what the page shows.
Plain data in, plain data out (the action checks: tests/test_web_actions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.daemon.web import history, view
from reconciler.model import (
    AnalysisResult,
    Change,
    ChangeKind,
    Condition,
    ObservedRefresh,
    RefreshStatus,
    Resource,
    Sample,
    Signal,
    SignalResult,
    Verdict,
)
from reconciler.pipeline.bluegreen_status import BlueGreenStatus, SideStatus
from reconciler.pipeline.status import Revision, ServiceStatus

OFF = {"Ready": False, "Progressing": False, "Degraded": False, "Stalled": False}


def conditions(**holding: str) -> tuple[Condition, ...]:
    """The four conditions; those named hold, with the given reason."""
    return tuple(
        Condition(kind, kind in holding, holding.get(kind, "None"), f"{kind} message")
        for kind in OFF
    )


def status(**fields: Any) -> ServiceStatus:
    base: dict[str, Any] = {
        "name": "feedback",
        "conditions": conditions(Ready="InSync"),
        "applied": None,
        "last_attempted": None,
        "refresh": None,
        "last_failure": None,
    }
    return ServiceStatus(**{**base, **fields})


@pytest.mark.parametrize(
    ("holding", "word", "tone"),
    [
        ({"Ready": "InSync"}, "Ready", "ok"),
        ({"Progressing": "RefreshProgressing"}, "Progressing", "busy"),
        ({"Degraded": "RolloutFailed"}, "Degraded", "bad"),
        ({"Stalled": "AccessDenied"}, "Stalled", "bad"),
        ({"Stalled": "Blocked", "Degraded": "RolloutFailed"}, "Stalled", "bad"),
        ({"Degraded": "TemporaryError", "Progressing": "ChangesPending"}, "Degraded", "bad"),
        ({}, "OutOfSync", "busy"),
    ],
)
def test_the_headline_is_the_most_urgent_condition_that_holds(
    holding: dict[str, str], word: str, tone: str
) -> None:
    found = view.headline(conditions(**holding))
    assert (found["word"], found["tone"]) == (word, tone)
    assert found["reason"] == holding.get(word, "None")


@pytest.mark.parametrize(
    ("kind", "holds", "tone", "word"),
    [
        ("Ready", True, "ok", "Ready"),
        ("Ready", False, "off", "not Ready"),
        ("Progressing", True, "busy", "Progressing"),
        ("Degraded", True, "bad", "Degraded"),
        ("Degraded", False, "off", "not Degraded"),
        ("Stalled", True, "bad", "Stalled"),
    ],
)
def test_each_condition_has_a_colour_and_words(
    kind: str, holds: bool, tone: str, word: str
) -> None:
    [shown] = view.conditions_view([Condition(kind, holds, "Why", "what", "2026-01-01")])
    assert shown["tone"] == tone and shown["word"] == word
    assert (shown["reason"], shown["message"], shown["since"]) == ("Why", "what", "2026-01-01")


def refresh(percent: int, checkpoints: tuple[int, ...] = (50, 100)) -> ObservedRefresh:
    return ObservedRefresh(
        "r-1",
        RefreshStatus.IN_PROGRESS,
        percentage_complete=percent,
        checkpoint_percentages=checkpoints,
    )


@pytest.mark.parametrize(
    ("percent", "checkpoints", "reached"),
    [
        (0, (50, 100), [False, False]),
        (50, (50, 100), [True, False]),
        (100, (50, 100), [True, True]),
        (30, (), []),
        (140, (100,), [True]),  # clamped: a bar never overflows
    ],
)
def test_a_refresh_is_a_bar_with_its_checkpoints(
    percent: int, checkpoints: tuple[int, ...], reached: list[bool]
) -> None:
    shown = view.progress_view(status(refresh=refresh(percent, checkpoints)))
    assert shown is not None and shown["kind"] == "refresh"
    assert shown["percent"] == min(percent, 100)
    assert [m["reached"] for m in shown["marks"]] == reached
    assert [m["at"] for m in shown["marks"]] == list(checkpoints)
    assert f"{min(percent, 100)}% of instances replaced" in shown["label"]


def side(color: str, weight: int, **fields: Any) -> SideStatus:
    base: dict[str, Any] = {
        "group": f"asg-{color}",
        "target_group": f"tg-{color}",
        "desired": 2,
        "healthy": 2,
        "launch_template_version": 3,
        "revision": "0123456789abcdef",
        "image": "repo@sha256:aa",
    }
    return SideStatus(color=color, weight=weight, **{**base, **fields})


def blue_green(blue: int, green: int, *, step: int | None, live: str = "blue") -> BlueGreenStatus:
    return BlueGreenStatus(
        stage="Shifting",
        live=live,
        target="green",
        step=step,
        steps=(10, 50, 100),
        sides=(side("blue", blue), side("green", green, healthy=1)),
        rollback_to=None,
    )


@pytest.mark.parametrize(
    ("blue", "green", "step", "reached", "label"),
    [
        (100, 0, None, [False, False, False], "0% of traffic on green (Shifting)"),
        (90, 10, 1, [True, False, False], "10% of traffic on green, step 1 of 3 (Shifting)"),
        (50, 50, 2, [True, True, False], "50% of traffic on green, step 2 of 3 (Shifting)"),
        (0, 100, 3, [True, True, True], "100% of traffic on green, step 3 of 3 (Shifting)"),
    ],
)
def test_blue_green_is_a_bar_of_traffic_steps_and_both_weights(
    blue: int, green: int, step: int | None, reached: list[bool], label: str
) -> None:
    shown = status(blue_green=blue_green(blue, green, step=step), refresh=refresh(10))
    bar = view.progress_view(shown)
    assert bar is not None and bar["kind"] == "traffic" and bar["percent"] == green
    assert bar["label"] == label
    assert [m["reached"] for m in bar["marks"]] == reached
    weights = view.weights_view(shown)
    assert [(w["color"], w["weight"], w["live"], w["target"]) for w in weights] == [
        ("blue", blue, True, False),
        ("green", green, False, True),
    ]
    assert weights[1]["healthy"] == "1/2 healthy" and weights[1]["revision"] == "0123456789ab"


def test_no_rollout_no_bar_and_no_weights() -> None:
    assert view.progress_view(status()) is None
    assert view.weights_view(status()) == []


@pytest.mark.parametrize(
    ("signal", "value", "text"),
    [
        (Signal.ERROR_RATE, 0.3141, "31.4%"),
        (Signal.ERROR_RATE, 0.0, "0.0%"),
        (Signal.LATENCY_P99, 3.0, "3.00 s"),
        (Signal.LATENCY_P99, None, "no data"),
        (Signal.NEW_INSTANCES, 2.0, "2"),
        (Signal.ALARMS, 1.0, "1"),
    ],
)
def test_a_sample_reads_in_its_signals_unit(signal: Signal, value: float | None, text: str) -> None:
    assert view.measure(signal, value) == text


@pytest.mark.parametrize(
    ("value", "threshold", "over"),
    [(0.31, 0.05, True), (0.01, 0.05, False), (0.05, 0.05, False), (None, 0.05, False)],
)
def test_analysis_samples_stand_against_their_thresholds(
    value: float | None, threshold: float, over: bool
) -> None:
    sample = Sample(0.0, 60.0, Verdict.FAIL if over else Verdict.PASS, value, threshold, 612.4)
    result = AnalysisResult(
        Verdict.FAIL,
        (SignalResult(Signal.ERROR_RATE, Verdict.FAIL, "5xx rate 31%", (sample,), 0.002),),
        "analysis failed: 5xx rate 31%",
    )
    shown = view.analysis_view(result)
    assert shown is not None and shown["verdict"] == "Fail"
    [row] = shown["signals"][0]["samples"]
    assert row["over"] is over and row["requests"] == 612
    assert row["threshold"] == "5.0%"
    assert view.analysis_view(None) is None


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        ("v1.0", "v1.1", ("v1.0", "v1.1")),
        (None, 300, ("(none)", "300")),
        ((50, 100), (), ("50, 100", "(empty)")),
        (True, False, ("True", "False")),
    ],
)
def test_the_diff_is_field_old_and_new(old: Any, new: Any, shown: tuple[str, str]) -> None:
    change = Change(Resource.LAUNCH_TEMPLATE, "feedback-lt", "image", old, new, ChangeKind.UPDATE)
    [row] = view.changes_view([change])
    assert (row["old"], row["new"]) == shown
    assert row["resource"] == "launch_template feedback-lt" and row["kind"] == "update"


@pytest.mark.parametrize(
    ("holding", "changes", "why"),
    [
        ({"Ready": "InSync"}, 0, ""),
        ({"Degraded": "RolloutFailed"}, 0, "Degraded (RolloutFailed): Degraded message"),
        ({"Stalled": "Blocked"}, 2, "Stalled (Blocked): Stalled message"),
        ({"Progressing": "ChangesPending"}, 3, "Progressing (ChangesPending): Progressing message"),
        ({}, 2, "2 field(s) differ from the desired state"),
        ({}, 0, "None"),
    ],
)
def test_why_a_service_is_not_in_sync(holding: dict[str, str], changes: int, why: str) -> None:
    assert view.not_in_sync(status(conditions=conditions(**holding)), changes=changes) == why


@pytest.mark.parametrize(
    ("repo", "url"),
    [
        ("https://github.com/acme/desired.git", "https://github.com/acme/desired/commit/"),
        ("https://github.com/acme/desired", "https://github.com/acme/desired/commit/"),
        ("git@github.com:acme/desired.git", "https://github.com/acme/desired/commit/"),
        ("ssh://git@github.com/acme/desired.git", "https://github.com/acme/desired/commit/"),
        ("https://x-token:secret@github.com/acme/d.git", "https://github.com/acme/d/commit/"),
        ("https://gitlab.com/acme/desired.git", None),
        ("file:///srv/git/desired.git", None),
        ("https://github.com.evil.example/acme/desired", None),
        ("", None),
    ],
)
def test_a_commit_links_to_github_only_for_a_github_remote(repo: str, url: str | None) -> None:
    sha = "0123456789ab"
    assert history.github_commit_url(repo, sha) == (url + sha if url else None)
    assert history.github_commit_url(repo, "not a sha") is None


@pytest.mark.parametrize(
    ("start", "end", "took"),
    [
        ("2026-01-01 10:00:00+00:00", "2026-01-01 10:04:30+00:00", "4m 30s"),
        ("2026-01-01 10:00:00+00:00", "2026-01-01 10:00:09+00:00", "9s"),
        ("2026-01-01 10:00:00+00:00", "2026-01-01 12:05:00+00:00", "2h 5m"),
        ("2026-01-01T10:00:00+00:00", "", ""),
        ("", "2026-01-01 10:00:00+00:00", ""),
        ("2026-01-01 10:05:00+00:00", "2026-01-01 10:00:00+00:00", ""),
    ],
)
def test_a_rollouts_duration(start: str, end: str, took: str) -> None:
    assert history.duration(start, end) == took


@pytest.mark.parametrize(
    ("outcome", "failure", "tone"),
    [
        ("Successful", "", "ok"),
        ("RollbackSuccessful", "", "bad"),
        ("Failed", "", "bad"),
        ("Cancelled", "analysis failed: 5xx rate 31%", "bad"),
        ("InProgress", "", "busy"),
        ("", "", "off"),
    ],
)
def test_a_revisions_outcome_tone(outcome: str, failure: str, tone: str) -> None:
    assert history.outcome_tone(outcome, failure) == tone


def test_history_rows_join_git_and_the_refreshes_newest_first() -> None:
    revisions = [
        Revision(4, "bbbbbbbbbbbb", "repo@sha256:bad", "fp4", outcome="", failure="5xx 31%"),
        Revision(3, "aaaaaaaaaaaa", "repo@sha256:good", "fp3", outcome="Successful"),
        Revision(2, None, "repo:v1", None),
    ]
    refreshes = [  # newest first, as AWS lists them
        ObservedRefresh(
            "r-4b", RefreshStatus.ROLLBACK_SUCCESSFUL, desired_version="4",
            start_time="2026-01-01 11:00:00+00:00", end_time="2026-01-01 11:06:00+00:00",
        ),
        ObservedRefresh(
            "r-4a", RefreshStatus.CANCELLED, desired_version="4",
            start_time="2026-01-01 10:50:00+00:00", end_time="2026-01-01 10:55:00+00:00",
        ),
        ObservedRefresh(
            "r-3", RefreshStatus.SUCCESSFUL, desired_version="3",
            start_time="2026-01-01 10:00:00+00:00", end_time="2026-01-01 10:13:00+00:00",
        ),
    ]  # fmt: skip
    commits = {
        "bbbbbbbbbbbb": history.Commit("b" * 40, "Ann", "2026-01-01", "deploy <b>v2.1</b>"),
    }
    rows = history.history_rows(
        revisions,
        rollouts=history.rollouts(refreshes),
        commits=commits,
        repo="git@github.com:acme/desired.git",
    )
    assert [r["version"] for r in rows] == [4, 3, 2]
    bad, good, untracked = rows
    assert bad["outcome"] == "RollbackSuccessful" and bad["tone"] == "bad"
    assert bad["duration"] == "6m 0s" and bad["failure"] == "5xx 31%"
    assert (bad["author"], bad["message"]) == ("Ann", "deploy <b>v2.1</b>")  # escaped by the page
    assert bad["url"] == "https://github.com/acme/desired/commit/" + "b" * 40
    assert bad["digest"] == "sha256:bad"
    assert good["outcome"] == "Successful" and good["duration"] == "13m 0s" and good["author"] == ""
    assert good["url"] == "https://github.com/acme/desired/commit/aaaaaaaaaaaa"
    assert untracked["outcome"] == "not rolled out" and untracked["url"] is None
    assert untracked["digest"] == "" and untracked["tone"] == "off"
