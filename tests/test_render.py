"""render: structure of the text, JSON and markdown forms (not byte-for-byte goldens)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.cli import render, report
from reconciler.model import (
    Change,
    ChangeKind,
    Diff,
    Phase,
    RefreshStatus,
    Resource,
    Value,
    value_text,
)
from reconciler.pipeline.aftermath import Aftermath, Running
from reconciler.pipeline.diff import diff
from reconciler.pipeline.plan import plan
from reconciler.pipeline.status import Condition, Revision, ServiceStatus
from tests.factories import (
    DIGEST_B,
    OWNER,
    REPOSITORY,
    REVISION,
    add_versions,
    desired_service,
    health_check,
    observed_service,
    refresh,
    resolved_image,
    version_of,
    with_group,
    with_target_group,
)


def in_sync() -> Diff:
    desired = desired_service()
    return diff(desired, observed_service(desired), owner=OWNER)


def drifted() -> Diff:
    """Three changes: one update of each flavour the text shows (~ and + and -)."""
    desired = desired_service(scaling=None)
    observed = with_target_group(
        observed_service(desired), health_check=health_check(interval_seconds=10)
    )
    observed = with_group(observed, tags={"Name": "x"}, desired_capacity=3)
    return diff(desired, observed, owner=OWNER)


def progressing() -> Diff:
    desired = desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B))
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = dataclasses.replace(
        observed, refreshes=(refresh(desired_version="4", percentage_complete=40),)
    )
    return diff(desired, observed, owner=OWNER)


def many_changes(count: int, *, service: str = "big") -> Diff:
    changes = tuple(
        Change(Resource.TARGET_GROUP, f"tg-{n}", "healthCheck.path", f"/old/{n}", f"/new/{n}")
        for n in range(count)
    )
    return Diff(service, changes, Phase.OUT_OF_SYNC, f"{count} changes")


# ------------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------------


def test_text_one_line_per_change_and_a_summary() -> None:
    result = drifted()
    out = render.text([result, in_sync()])
    lines = out.splitlines()
    change_lines = [line for line in lines if line.startswith("  ") and "note:" not in line]
    assert len(change_lines) == len(result.changes) == 3
    assert "  ~ target_group feedback-tg healthCheck.intervalSeconds: 10 → 30" in lines
    assert lines[-1] == "Plan: 3 changes in 1 of 2 services."


def test_text_symbols_follow_change_kind() -> None:
    diffs = [
        Diff(
            "s",
            (
                Change(
                    Resource.SCALING_POLICY,
                    "p",
                    "targetCpuUtilization",
                    None,
                    70.0,
                    ChangeKind.CREATE,
                ),
                Change(
                    Resource.SCALING_POLICY,
                    "q",
                    "targetCpuUtilization",
                    60.0,
                    None,
                    ChangeKind.DELETE,
                ),
                Change(Resource.AUTO_SCALING_GROUP, "g", "maxSize", 6, 4),
            ),
            Phase.OUT_OF_SYNC,
        )
    ]
    lines = render.text(diffs).splitlines()
    assert lines[1:4] == [
        "  + scaling_policy p targetCpuUtilization: 70",
        "  - scaling_policy q targetCpuUtilization: 60",
        "  ~ auto_scaling_group g maxSize: 6 → 4",
    ]


def test_text_header_has_phase_and_message() -> None:
    out = render.text([drifted()])
    assert out.splitlines()[0].startswith("service feedback: OutOfSync (3 changes")


def test_text_everything_in_sync() -> None:
    out = render.text([in_sync(), in_sync()])
    assert out.splitlines()[-1] == "No changes. AWS matches desired state."


def test_text_progressing_is_not_reported_as_in_sync() -> None:
    out = render.text([progressing()])
    assert "40%" in out
    assert "AWS matches desired state" not in out
    assert out.splitlines()[-1] == (
        "No changes to make. Under way: feedback Progressing"
        " (instance refresh rf-0001 InProgress, 40% complete)."
    )


@pytest.mark.parametrize("phase", [Phase.FAILED, Phase.BLOCKED])
def test_summary_says_which_listed_changes_apply_holds_back(phase: Phase) -> None:
    held = dataclasses.replace(drifted(), service="held", phase=phase)
    assert render.summary([drifted(), held]) == (
        f"Plan: 6 changes in 2 of 2 services. Held back by apply: held {phase.value}."
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "(none)"),
        (True, "true"),
        (70.0, "70"),
        (0.5, "0.5"),
        ((50, 100), "[50, 100]"),
        ("", '""'),
    ],
)
def test_value_text(value: Value, shown: str) -> None:
    assert value_text(value) == shown


def test_single_service_summary_is_singular() -> None:
    assert render.summary([drifted()]) == "Plan: 3 changes in 1 of 1 service."


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------


def test_json_round_trips_with_documented_keys() -> None:
    out = render.json([drifted(), progressing()])
    document = json.loads(out)
    assert set(document) == {"version", "services", "summary", "unread"}
    assert document["version"] == 1
    assert document["summary"] == {"services": 2, "changed": 1, "changes": 3, "unread": 0}
    first, second = document["services"]
    keys = {"name", "phase", "message", "changes", "gates", "refresh", "rollout_plan", "notes"}
    assert set(first) == keys
    assert first["refresh"] is None
    assert set(first["changes"][0]) == {"resource", "name", "field", "old", "new", "kind", "diff"}
    assert second["phase"] == "Progressing"
    assert second["refresh"]["percentage"] == 40
    assert second["refresh"]["id"] == "rf-0001"


def test_json_is_stable_and_sorted() -> None:
    out = render.json([drifted()])
    assert out == json.dumps(json.loads(out), indent=2, sort_keys=True, ensure_ascii=False)
    assert out == render.json([drifted()])


def test_json_change_values_keep_their_types() -> None:
    change = Change(Resource.AUTO_SCALING_GROUP, "g", "x", (1, 2), None, ChangeKind.DELETE)
    document = json.loads(render.json([Diff("s", (change,), Phase.OUT_OF_SYNC)]))
    assert document["services"][0]["changes"][0] == {
        "resource": "auto_scaling_group",
        "name": "g",
        "field": "x",
        "old": [1, 2],
        "new": None,
        "kind": "delete",
        "diff": [],
    }


def test_json_schema_is_documented() -> None:
    doc = render.__doc__ or ""
    keys = ('"version"', '"services"', '"summary"', '"refresh"', '"kind"', '"changed"', '"diff"')
    for key in keys:
        assert key in doc


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------


def test_markdown_table_per_service_with_summary() -> None:
    out = render.markdown([drifted(), in_sync()])
    assert "**Plan: 3 changes in 1 of 2 services.**" in out
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == 3
    assert "#### `feedback`: OutOfSync" in out
    assert "<details>" not in out


def test_markdown_escapes_pipes() -> None:
    change = Change(Resource.TARGET_GROUP, "tg", "healthCheck.matcher", "200|302", "200")
    out = render.markdown([Diff("s", (change,), Phase.OUT_OF_SYNC)])
    (row,) = [line for line in out.splitlines() if line.startswith("| `")]
    assert "200\\|302" in row
    assert row.count(" | ") == 5


def test_markdown_long_lists_collapse() -> None:
    out = render.markdown([many_changes(25), drifted()])
    assert out.count("<details>") == 1
    assert out.count("</details>") == 1
    assert "<summary>25 changes</summary>" in out


def test_markdown_is_truncated_to_the_limit() -> None:
    out = render.markdown([many_changes(3000)])
    assert len(out) <= render.MARKDOWN_LIMIT
    assert out.splitlines()[-1].startswith("_… output truncated")
    assert out.count("<details>") == out.count("</details>")


def test_truncate_markdown_short_text_unchanged() -> None:
    assert render.truncate_markdown("a\nb\n", limit=100) == "a\nb\n"


@pytest.mark.parametrize("limit", [120, 200, 333, 1000])
def test_truncate_markdown_cuts_on_a_line_boundary(limit: int) -> None:
    text = "".join(f"line {n:04d} {'x' * (n % 17)}\n" for n in range(200))
    out = render.truncate_markdown(text, limit=limit)
    assert len(out) <= limit
    body, _, pointer = out.rpartition("\n\n")
    assert pointer.startswith("_… output truncated")
    assert text.startswith(body + "\n")
    assert body.splitlines()[-1] in text.splitlines()


def test_truncate_markdown_closes_open_details() -> None:
    text = "<details><summary>x</summary>\n\n" + "".join(f"| row {n} |\n" for n in range(100))
    text += "</details>\n"
    out = render.truncate_markdown(text, limit=300)
    assert len(out) <= 300
    assert out.count("<details>") == out.count("</details>") == 1


# ------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------


def test_plan_text_lists_actions_in_order() -> None:
    desired = desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B))
    observed = with_group(observed_service(), max_size=6)
    changes = diff(desired, observed, owner=OWNER)
    result = plan(desired, observed, changes, owner=OWNER)
    lines = render.plan_text([result]).splitlines()
    assert lines[0] == "service feedback: 3 action(s) (OutOfSync)"
    assert lines[1].startswith("  1. create_launch_template_version feedback-app-template")
    assert lines[2].startswith("  2. update_auto_scaling_group feedback-asg: maxSize: 6 → 4")
    assert lines[3].startswith("  3. start_instance_refresh feedback-asg")
    assert lines[-1] == "Apply: 3 actions in 1 of 1 service."


def test_plan_text_nothing_to_do() -> None:
    desired = desired_service()
    observed = observed_service(desired)
    result = plan(desired, observed, diff(desired, observed, owner=OWNER), owner=OWNER)
    assert render.plan_text([result]) == "Nothing to do."


# ------------------------------------------------------------------------------------------------
# Status and history
# ------------------------------------------------------------------------------------------------


def revision_row(number: int, *, outcome: str = "Successful") -> Revision:
    return Revision(
        launch_template_version=number,
        revision=REVISION,
        image=f"{REPOSITORY}@{DIGEST_B}",
        fingerprint="f" * 16,
        created="2024-05-04T10:00:00Z",
        outcome=outcome,
    )


def test_status_text_lists_conditions_revisions_and_refresh() -> None:
    status = ServiceStatus(
        name="feedback",
        conditions=(
            Condition("Ready", False, "RefreshProgressing"),
            Condition("Progressing", True, "RefreshProgressing", "rolling out: 40% complete"),
            Condition("Degraded", False, "NotDegraded"),
            Condition("Stalled", False, "NotStalled"),
        ),
        applied=revision_row(3),
        last_attempted=revision_row(4, outcome="InProgress"),
        refresh=refresh(desired_version="4", percentage_complete=40),
        last_failure=None,
    )
    lines = report.status_text(status).splitlines()
    assert lines[0] == "service feedback"
    assert lines[2] == "  Progressing  True   RefreshProgressing: rolling out: 40% complete"
    applied = "version 3, rev 0f877b1c2d3e, ghcr.io/johnhuh619/simple-api@sha256:9f8e7d6c5b4a"
    assert applied in lines[5]
    assert lines[-1] == "  refresh:        rf-0001 InProgress 40% (version 4)"


def test_status_text_without_revisions_or_refresh() -> None:
    status = ServiceStatus(
        name="feedback",
        conditions=(Condition("Stalled", True, "Blocked", "target group feedback-tg not found"),),
        applied=None,
        last_attempted=None,
        refresh=None,
        last_failure="refresh rf-1 Failed: boom",
    )
    out = report.status_text(status)
    assert "applied:        (none)" in out
    assert "refresh:" not in out
    assert out.splitlines()[-1] == "  last failure:   refresh rf-1 Failed: boom"


def test_history_text_is_a_table_newest_first() -> None:
    lines = report.history_text("feedback", [revision_row(4, outcome="Failed"), revision_row(3)])
    rows = lines.splitlines()
    assert rows[0] == "feedback: 2 revisions"
    assert rows[1].split() == ["VERSION", "REVISION", "IMAGE", "OUTCOME", "CREATED"]
    assert rows[2].split()[:4] == [
        "4",
        "0f877b1c2d3e",
        "ghcr.io/johnhuh619/simple-api@sha256:9f8e7d6c5b4a",
        "Failed",
    ]
    assert len(rows) == 4


def test_history_text_empty() -> None:
    expected = "feedback: no revisions recorded by asg-reconciler"
    assert report.history_text("feedback", []) == expected


# ------------------------------------------------------------------------------------------------
# A failed rollout's aftermath
# ------------------------------------------------------------------------------------------------

GOOD = Running(3, 2, tag="v1.1", image=f"{REPOSITORY}@{DIGEST_B}", revision=REVISION)
BROKEN = Running(4, 1, tag="v2.0", image=f"{REPOSITORY}@sha256:{'e' * 64}")


def after(status: RefreshStatus, *running: Running, auto_rollback: bool = True) -> Aftermath:
    found = refresh(refresh_id="rf-9", status=status, status_reason="i-1 failed health checks")
    return Aftermath("feedback", found, running, launches=3, auto_rollback=auto_rollback)


def test_aftermath_text_after_a_rollback_names_what_runs_now() -> None:
    lines = report.aftermath_text(after(RefreshStatus.ROLLBACK_SUCCESSFUL, GOOD)).splitlines()
    assert lines == [
        "feedback: rollout failed; AWS has rolled it back"
        " (instance refresh rf-9 RollbackSuccessful: i-1 failed health checks)",
        "feedback: now running launch template version 3"
        " (v1.1 (sha256:9f8e7d6c5b4a), rev 0f877b1c2d3e) on 2 of 2 instance(s);"
        " new instances launch version 3",
        "feedback: next: commit a fix, or run `reconciler retry feedback` to roll this revision"
        " out again",
    ]


@pytest.mark.parametrize(
    ("status", "auto_rollback", "ending"),
    [
        (
            RefreshStatus.FAILED,
            False,
            "rollout failed and was not rolled back, as rollout.autoRollback is off",
        ),
        (RefreshStatus.FAILED, True, "rollout failed and was not rolled back (instance"),
        (RefreshStatus.ROLLBACK_FAILED, True, "AWS could not finish rolling it back"),
    ],
)
def test_aftermath_text_on_mixed_versions_says_how_to_recover(
    status: RefreshStatus, auto_rollback: bool, ending: str
) -> None:
    text = report.aftermath_text(after(status, GOOD, BROKEN, auto_rollback=auto_rollback))
    first, running, recover = text.splitlines()
    assert ending in first and f"rf-9 {status.value}: i-1 failed health checks" in first
    assert running == (
        "feedback: the group is left on mixed versions:"
        " launch template version 3 (v1.1 (sha256:9f8e7d6c5b4a), rev 0f877b1c2d3e) on 2 of 3"
        " instance(s); launch template version 4 (v2.0 (sha256:eeeeeeeeeeee)) on 1 of 3"
        " instance(s); new instances launch version 3"
    )
    assert recover.startswith("feedback: to recover: commit a fix, or a revert")
    assert "`reconciler rollback feedback`" in recover and "`reconciler retry feedback`" in recover


def test_aftermath_text_failed_on_one_version_and_without_details() -> None:
    lone = Aftermath(
        "feedback", None, (Running(None, 1),), message="fingerprint f is marked failed"
    )
    assert report.aftermath_text(lone).splitlines()[:2] == [
        "feedback: rollout failed: fingerprint f is marked failed",
        "feedback: now running launch template version ? on 1 of 1 instance(s)",
    ]
    unpinned = Running(1, 2, image="ghcr.io/johnhuh619/simple-api:latest")
    text = report.aftermath_text(after(RefreshStatus.FAILED, unpinned))
    assert "launch template version 1 (ghcr.io/johnhuh619/simple-api:latest) on 2" in text
    assert "next: commit a fix" in text
    empty = report.aftermath_text(Aftermath("feedback", None))
    assert "feedback: the group has no instances running now" in empty


def test_aftermath_text_while_aws_still_rolls_back() -> None:
    text = report.aftermath_text(after(RefreshStatus.ROLLBACK_IN_PROGRESS, GOOD, BROKEN))
    first, running, last = text.splitlines()
    assert first.startswith("feedback: rollout failed; AWS is rolling it back (instance refresh")
    assert "mixed versions" in running
    assert last == "feedback: AWS is still rolling it back: `apply --wait` follows it to the end"


@pytest.mark.parametrize("read", [0, 1, 2])
def test_sync_is_claimed_only_for_services_that_were_read(read: int) -> None:
    diffs = [in_sync()] * read
    unread = [("orders", "AWS unreachable")]
    line = render.summary(diffs, unread=unread)
    assert "AWS matches" not in line
    assert f"AWS could not be read for 1 of {read + 1} service(s) (orders)" in line
    assert "orders" in render.text(diffs, unread=unread).split("\n\n")[-2]
    assert "AWS matches" not in render.markdown(diffs, unread=unread)
    claimed = "No changes. AWS matches desired state." if read else "No services were compared."
    assert render.summary(diffs) == claimed  # nothing read, nothing claimed
