"""Diffs and plans for people and programs: text (like ``terraform plan``), JSON and markdown.

Nothing here decides anything; every function is a pure rendering of its arguments.

``json``'s output is a contract for programs: stable, keys sorted, fields only ever added within
a version. Schema (version 1)::

    {
      "version": 1,
      "services": [
        {
          "name": str,
          "phase": "InSync" | "OutOfSync" | "Progressing" | "Superseding" | "Failed"
                   | "Blocked",
          "message": str,
          "changes": [
            {
              "resource": "target_group" | "launch_template" | "auto_scaling_group"
                          | "scaling_policy" | "instance_refresh",
              "name": str,            # the resource's name (a refresh: its id)
              "field": str,           # desired.yaml path, e.g. "healthCheck.intervalSeconds"
              "old": str | int | float | bool | list | null,
              "new": str | int | float | bool | list | null,
              "kind": "create" | "update" | "delete"
            }
          ],
          "gates": [str],             # a rollout to start: how it will be judged
          "notes": [str],             # seen and left alone (unmanaged fields), or a warning
          "rollout_plan": null | {    # OutOfSync: what it starts; "image" null: no rollout
            "strategy": "rolling" | "blueGreen",
            "image": null | {"desired": IMAGE, "running": null | IMAGE},
            "checks": [str],          # what each checkpoint or step must pass
            "rolling": null | {
              "min_healthy_percentage": int, "max_healthy_percentage": int | null,
              "instance_warmup": int | null, "bake_time": int | null, "auto_rollback": bool,
              "checkpoints": [{"percentage": int, "hold": int, "gated": bool}],
              "instances": int, "batch": int
            },
            "blue_green": null | {
              "live": "blue" | "green", "target": "blue" | "green", "listener": str,
              "steps": [{"percent": int, "hold": int}],
              "scale_down_delay": int, "warm_standby": int
            },
            "rollback": null | {
              "method": "RollbackInstanceRefresh" | "CancelInstanceRefresh" | "listener flip",
              "version": int | null, "image": null | IMAGE, "seconds": int,
              "side": null | "blue" | "green"
            }
          },
          "refresh": null | {
            "id": str, "status": str, "percentage": int, "instances_to_update": int,
            "desired_version": str | null, "status_reason": str,
            "start_time": str, "end_time": str
          }
        }
      ],
      "summary": {"services": int, "changed": int, "changes": int}
    }

``IMAGE`` is ``{"repository": str, "tag": str | null, "digest": str | null}``.
``summary.changed`` counts services with at least one change; ``summary.changes`` counts
changes over all services.
"""

from __future__ import annotations

import dataclasses
import json as _json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.cli import rollout_plan
from reconciler.model import (
    Action,
    Change,
    ChangeKind,
    Diff,
    ObservedRefresh,
    Phase,
    Plan,
    Value,
    value_text,
)

JSON_VERSION = 1
MARKDOWN_LIMIT = 65000  # GitHub refuses comments over 65536 characters
_DETAILS_AFTER = 10  # a service with more changes than this gets a collapsed table
_SYMBOLS = {ChangeKind.CREATE: "+", ChangeKind.UPDATE: "~", ChangeKind.DELETE: "-"}
_TRUNCATED = "_… output truncated: run `reconciler diff` for the full plan._"


# ------------------------------------------------------------------------------------------------
# Text
# ------------------------------------------------------------------------------------------------


def text(diffs: Sequence[Diff]) -> str:
    """A terminal diff: per service a header, one line per change, then a summary line."""
    blocks = [_text_service(d) for d in diffs]
    return "\n\n".join([*blocks, summary(diffs)])


def _text_service(diff: Diff) -> str:
    header = f"service {diff.service}: {diff.phase.value}"
    lines = [f"{header} ({diff.message})" if diff.message else header]
    lines.extend(f"  {change_line(c)}" for c in diff.changes)
    lines.extend(f"  note: {note}" for note in diff.notes)
    if diff.rollout_plan is not None:  # it holds the gates, with the rest of the rollout
        # Settings alone: the change lines say it all on a terminal; the comment says "no rollout".
        if diff.rollout_plan.rolls_out:
            lines.extend(rollout_plan.text_lines(diff.rollout_plan))
    else:
        lines.extend(f"  gate: {gate}" for gate in diff.gates)
    return "\n".join(lines)


def change_line(change: Change) -> str:
    """``~ target_group feedback-tg healthCheck.intervalSeconds: 10 → 30``."""
    symbol = _SYMBOLS[change.kind]
    where = f"{change.resource.value} {change.resource_name} {change.field}"
    if change.kind is ChangeKind.CREATE:
        return f"{symbol} {where}: {value_text(change.new)}"
    if change.kind is ChangeKind.DELETE:
        return f"{symbol} {where}: {value_text(change.old)}"
    return f"{symbol} {where}: {value_text(change.old)} → {value_text(change.new)}"


def summary(diffs: Sequence[Diff]) -> str:
    """One line: how much would change, or that nothing would."""
    changed = [d for d in diffs if d.changes]
    count = sum(len(d.changes) for d in diffs)
    waiting = [d for d in diffs if not d.changes and d.phase is not Phase.IN_SYNC]
    if not changed:
        if not waiting:
            return "No changes. AWS matches desired state."
        phases = "; ".join(_waiting_text(d) for d in waiting)
        return f"No changes to make. Under way: {phases}."
    noun = "service" if len(diffs) == 1 else "services"
    plan = f"Plan: {_changes(count)} in {len(changed)} of {len(diffs)} {noun}."
    # Listed, but apply leaves them: a revision that failed before, or a paused service.
    held = [f"{d.service} {d.phase.value}" for d in changed if d.phase in _HELD_BACK]
    return f"{plan} Held back by apply: {', '.join(held)}." if held else plan


_HELD_BACK = frozenset({Phase.FAILED, Phase.BLOCKED})


def _waiting_text(diff: Diff) -> str:
    """``feedback Progressing (instance refresh rf-1 InProgress, 50% complete)``."""
    refresh = diff.refresh
    if refresh is None:
        return f"{diff.service} {diff.phase.value}"
    progress = f"{refresh.status_text}, {refresh.percentage_complete}% complete"
    return f"{diff.service} {diff.phase.value} (instance refresh {refresh.refresh_id} {progress})"


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------


def json(diffs: Sequence[Diff]) -> str:
    """Machine-readable diffs, in the schema of this module's docstring (``JSON_VERSION``)."""
    document = {
        "version": JSON_VERSION,
        "services": [_json_service(d) for d in diffs],
        "summary": {
            "services": len(diffs),
            "changed": sum(1 for d in diffs if d.changes),
            "changes": sum(len(d.changes) for d in diffs),
        },
    }
    return _json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


def _json_service(diff: Diff) -> dict[str, Any]:
    return {
        "name": diff.service,
        "phase": diff.phase.value,
        "message": diff.message,
        "changes": [_json_change(c) for c in diff.changes],
        "gates": list(diff.gates),
        "notes": list(diff.notes),
        "refresh": _json_refresh(diff.refresh) if diff.refresh else None,
        "rollout_plan": dataclasses.asdict(diff.rollout_plan) if diff.rollout_plan else None,
    }


def _json_change(change: Change) -> dict[str, Any]:
    return {
        "resource": change.resource.value,
        "name": change.resource_name,
        "field": change.field,
        "old": _json_value(change.old),
        "new": _json_value(change.new),
        "kind": change.kind.value,
    }


def _json_value(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _json_refresh(refresh: ObservedRefresh) -> dict[str, Any]:
    return {
        "id": refresh.refresh_id,
        "status": refresh.status_text,
        "percentage": refresh.percentage_complete,
        "instances_to_update": refresh.instances_to_update,
        "desired_version": refresh.desired_version,
        "status_reason": refresh.status_reason,
        "start_time": refresh.start_time,
        "end_time": refresh.end_time,
    }


# ------------------------------------------------------------------------------------------------
# Markdown, for pull request comments
# ------------------------------------------------------------------------------------------------


def markdown(diffs: Sequence[Diff], *, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: the summary first, then a table per service, cut to fit ``limit``."""
    parts = ["### asg-reconciler diff", "", f"**{summary(diffs)}**"]
    for diff in diffs:
        parts.extend(["", *_markdown_service(diff)])
    return truncate_markdown("\n".join(parts) + "\n", limit=limit)


def _markdown_service(diff: Diff) -> list[str]:
    lines = [f"#### `{diff.service}`: {diff.phase.value}"]
    if diff.message:
        lines.extend(["", _cell(diff.message)])
    if diff.notes:
        lines.extend(["", *(f"- {_cell(note)}" for note in diff.notes)])
    if not diff.changes:
        return lines
    table = [
        "| | resource | name | field | old | new |",
        "|---|---|---|---|---|---|",
        *(_markdown_row(c) for c in diff.changes),
    ]
    gates = ["", "Gates:", *(f"- {_cell(g)}" for g in diff.gates)] if diff.gates else []
    if diff.rollout_plan is not None:  # it holds the gates, with the rest of the rollout
        gates = ["", *rollout_plan.markdown_lines(diff.rollout_plan)]
    if len(diff.changes) <= _DETAILS_AFTER:
        return [*lines, "", *table, *gates]
    # Long lists collapse so one noisy service does not bury the others.
    opening = f"<details><summary>{len(diff.changes)} changes</summary>"
    return [*lines, "", opening, "", *table, "", "</details>", *gates]


def _markdown_row(change: Change) -> str:
    cells = [
        f"`{_SYMBOLS[change.kind]}`",
        change.resource.value,
        _code(change.resource_name),
        _code(change.field),
        _code(value_text(change.old)) if change.kind is not ChangeKind.CREATE else "",
        _code(value_text(change.new)) if change.kind is not ChangeKind.DELETE else "",
    ]
    return "| " + " | ".join(cells) + " |"


def _code(value: str) -> str:
    # Pipes end a table cell even inside backticks; backticks would end the code span.
    return "`" + value.replace("`", "'").replace("|", "\\|") + "`"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def truncate_markdown(text: str, limit: int = MARKDOWN_LIMIT) -> str:
    """Cut ``text`` on a line boundary so it fits ``limit`` characters, then say it was cut.

    A ``<details>`` left open by the cut is closed, so the rest of the page renders normally.
    """
    if len(text) <= limit:
        return text
    pointer = _TRUNCATED
    if limit <= len(pointer) + 1:
        return pointer[:limit]
    kept: list[str] = []
    used = 0
    closing = "</details>\n"
    for line in text.splitlines(keepends=True):
        line = line if line.endswith("\n") else line + "\n"
        opened = _open_details(kept) + line.count("<details>") - line.count("</details>")
        reserve = len(pointer) + 1 + len(closing) * max(opened, 0)
        if used + len(line) + reserve > limit:
            break
        kept.append(line)
        used += len(line)
    tail = closing * max(_open_details(kept), 0)
    return "".join(kept) + tail + "\n" + pointer


def _open_details(lines: Sequence[str]) -> int:
    joined = "".join(lines)
    return joined.count("<details>") - joined.count("</details>")


# ------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------


def plan_text(plans: Sequence[Plan], *, changes: Mapping[str, int] | None = None) -> str:
    """What apply will do, numbered in apply order per service.

    An action is one AWS write; ``changes`` (the diff's count per service) is said beside it,
    because one change can take several writes (a new launch template version, the group
    pointed at it, the refresh), and the summary above counted changes.
    """
    counts = changes or {}
    blocks = [_plan_block(p, counts.get(p.service)) for p in plans if p.actions]
    if not blocks:
        return "Nothing to do."
    total = sum(len(p.actions) for p in plans)
    noun = "action" if total == 1 else "actions"
    services = "service" if len(plans) == 1 else "services"
    changed = sum(counts.get(p.service, 0) for p in plans if p.actions)
    what = f" for {_changes(changed)}" if changes is not None else ""
    footer = f"Apply: {total} {noun}{what} in {len(blocks)} of {len(plans)} {services}."
    return "\n\n".join([*blocks, footer])


def _changes(count: int) -> str:
    return f"{count} change" if count == 1 else f"{count} changes"


def _plan_block(plan: Plan, changes: int | None) -> str:
    what = f" for {_changes(changes)}" if changes is not None else ""
    lines = [f"service {plan.service}: {len(plan.actions)} action(s){what} ({plan.phase.value})"]
    lines.extend(f"  {number}. {action_line(a)}" for number, a in enumerate(plan.actions, start=1))
    return "\n".join(lines)


def action_line(action: Action) -> str:
    """``update_auto_scaling_group feedback-asg: maxSize: 4 → 6``."""
    name = f"{action.kind.name.lower()} {action.resource_name}"
    return f"{name}: {action.reason}" if action.reason else name
