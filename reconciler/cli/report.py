"""Status, history and a failed rollout's aftermath, as text for people.

Nothing here decides anything; every function is a pure rendering of its arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.cli.analysis_text import analysis_lines
from reconciler.cli.bluegreen_text import blue_green_lines
from reconciler.model import RefreshStatus, short_digest

if TYPE_CHECKING:  # status and follow pull in the whole pipeline; rendering only needs shapes
    from reconciler.pipeline.aftermath import Aftermath, Running
    from reconciler.pipeline.status import Revision, ServiceStatus


# ------------------------------------------------------------------------------------------------
# Status and history
# ------------------------------------------------------------------------------------------------


def status_text(status: ServiceStatus) -> str:
    """Conditions as a small table, then the revisions, the refresh and the last failure."""
    lines = [f"service {status.name}"]
    width = max((len(c.type) for c in status.conditions), default=0)
    for condition in status.conditions:
        state = "True " if condition.status else "False"
        row = f"  {condition.type:<{width}}  {state}  {condition.reason}"
        lines.append(f"{row}: {condition.message}" if condition.message else row)
    lines.append(f"  applied:        {_revision_text(status.applied)}")
    lines.append(f"  last attempted: {_revision_text(status.last_attempted)}")
    if status.refresh is not None:
        refresh = status.refresh
        lines.append(
            f"  refresh:        {refresh.refresh_id} {refresh.status_text}"
            f" {refresh.percentage_complete}% (version {refresh.desired_version or '-'})"
        )
    if status.blue_green is not None:
        lines.extend(blue_green_lines(status.blue_green))
    if status.analysis is not None:
        lines.extend(analysis_lines(status.analysis))
    if status.next_step:
        lines.append(f"  next:           {status.next_step}")
    if status.last_failure:
        lines.append(f"  last failure:   {status.last_failure}")
    return "\n".join(lines)


def history_text(service: str, revisions: Sequence[Revision]) -> str:
    """The versions the reconciler created, newest first, one line each."""
    if not revisions:
        return f"{service}: no revisions recorded by asg-reconciler"
    header = ("VERSION", "REVISION", "IMAGE", "OUTCOME", "CREATED")
    rows = [header, *(_history_row(r) for r in revisions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    noun = "revision" if len(revisions) == 1 else "revisions"
    failures = [
        f"  version {r.launch_template_version}: {r.failure}" for r in revisions if r.failure
    ]
    return "\n".join([f"{service}: {len(revisions)} {noun}", *table, *failures])


def _history_row(revision: Revision) -> tuple[str, str, str, str, str]:
    return (
        str(revision.launch_template_version or "-"),
        (revision.revision or "-")[:12],
        _short_image(revision.image),
        revision.outcome or "-",
        revision.created or "-",
    )


def _revision_text(revision: Revision | None) -> str:
    if revision is None:
        return "(none)"
    parts = [f"version {revision.launch_template_version or '?'}"]
    if revision.revision:
        parts.append(f"rev {revision.revision[:12]}")
    parts.append(_short_image(revision.image))
    if revision.outcome:
        parts.append(revision.outcome)
    return ", ".join(parts)


def _short_image(image: str | None) -> str:
    """``repo@sha256:<64 hex>`` → ``repo@sha256:<12 hex>``: enough to tell digests apart."""
    if not image:
        return "-"
    name, at, digest = image.partition("@")
    return f"{name}@{short_digest(digest)}" if at else image


# ------------------------------------------------------------------------------------------------
# A failed rollout's aftermath
# ------------------------------------------------------------------------------------------------


# Failed by AWS, or cancelled (being cancelled) after the analysis failed it.
_NOT_ROLLED_BACK = frozenset(
    {RefreshStatus.FAILED, RefreshStatus.CANCELLING, RefreshStatus.CANCELLED}
)


def aftermath_text(after: Aftermath) -> str:
    """How a failed rollout ended, what the instances run now, and what to do next."""
    name = after.service
    lines = [f"{name}: {_ending(after)}", f"{name}: {_running_text(after)}"]
    if after.ended is RefreshStatus.ROLLBACK_IN_PROGRESS:  # seen by `apply` without --wait
        lines.append(f"{name}: AWS is still rolling it back: `apply --wait` follows it to the end")
    elif after.ended is RefreshStatus.ROLLBACK_SUCCESSFUL or not after.mixed:
        lines.append(
            f"{name}: next: commit a fix, or run `reconciler retry {name}` to roll this"
            " revision out again"
        )
    else:
        lines.append(
            f"{name}: to recover: commit a fix, or a revert (`reconciler rollback {name}` authors"
            " one); its rollout replaces every instance that is not on its version. Or run"
            f" `reconciler retry {name}` to roll this revision out again"
        )
    return "\n".join(lines)


def _ending(after: Aftermath) -> str:
    refresh = after.refresh
    if refresh is None:
        return f"rollout failed: {after.message}" if after.message else "rollout failed"
    what = f"instance refresh {refresh.refresh_id} {refresh.status_text}"
    why = after.why or refresh.status_reason
    if why:
        what += f": {why}"
    if refresh.status is RefreshStatus.ROLLBACK_SUCCESSFUL:
        return f"rollout failed; AWS has rolled it back ({what})"
    if refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        return f"rollout failed; AWS is rolling it back ({what})"
    if refresh.status is RefreshStatus.ROLLBACK_FAILED:
        return f"rollout failed, and AWS could not finish rolling it back ({what})"
    if refresh.status in _NOT_ROLLED_BACK:
        why = ", as rollout.autoRollback is off" if not after.auto_rollback else ""
        return f"rollout failed and was not rolled back{why} ({what})"
    return f"rollout failed ({what})"


def _running_text(after: Aftermath) -> str:
    total = sum(r.count for r in after.running)
    if not after.running:
        return "the group has no instances running now"
    parts = [f"{_version_text(r)} on {r.count} of {total} instance(s)" for r in after.running]
    launches = (
        f"; new instances launch version {after.launches}" if after.launches is not None else ""
    )
    if after.mixed:
        return f"the group is left on mixed versions: {'; '.join(parts)}{launches}"
    return f"now running {parts[0]}{launches}"


def _version_text(running: Running) -> str:
    """``launch template version 3 (v1.1 (sha256:1a2b3c4d5e6f), rev 0f877b1c2d3e)``."""
    number = running.version if running.version is not None else "?"
    details = [_running_image(running)] if running.image or running.tag else []
    if running.revision:
        details.append(f"rev {running.revision[:12]}")
    text = f"launch template version {number}"
    return f"{text} ({', '.join(details)})" if details else text


def _running_image(running: Running) -> str:
    """The image as the diff shows it: ``v1.1 (sha256:1a2b3c4d5e6f)``; unpinned ones as read."""
    _, at, digest = (running.image or "").partition("@sha256:")
    if not at:
        return running.image or running.tag or ""
    short = f"sha256:{digest[:12]}"
    return f"{running.tag} ({short})" if running.tag else short
