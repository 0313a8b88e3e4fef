"""The revision history the page lists: what the reconciler rolled out (launch template versions,
newest first), joined with git's word on each commit and AWS's on each rollout.

Pure: the revisions come from ``pipeline.status.history``, the rollouts from the observed
instance refreshes, the commits from ``web.commits``; a link is made only for a GitHub remote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.model import ObservedRefresh
from reconciler.pipeline.status import Revision

_GITHUB = re.compile(
    r"^(?:https://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
    r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)
_FAILED = ("Failed", "RollbackSuccessful", "RollbackFailed", "RollbackInProgress")


@dataclass(frozen=True)
class Commit:
    """What git says about one commit."""

    sha: str
    author: str
    date: str
    subject: str
    body: str = ""


@dataclass(frozen=True)
class Rollout:
    """The newest instance refresh of one launch template version."""

    start: str
    end: str
    status: str


def github_commit_url(repo: str, sha: str) -> str | None:
    """``https://github.com/OWNER/NAME/commit/SHA`` for a GitHub remote, else None."""
    found = _GITHUB.match(repo.strip())
    if found is None or not re.fullmatch(r"[0-9a-f]{7,40}", sha):
        return None
    return f"https://github.com/{found['owner']}/{found['name']}/commit/{sha}"


def rollouts(refreshes: Sequence[ObservedRefresh]) -> dict[int, Rollout]:
    """The newest refresh per desired launch template version (refreshes come newest first)."""
    found: dict[int, Rollout] = {}
    for refresh in refreshes:
        version = refresh.desired_version
        if version and version.isdigit():
            found.setdefault(
                int(version), Rollout(refresh.start_time, refresh.end_time, refresh.status_text)
            )
    return found


def duration(start: str, end: str) -> str:
    """``4m 30s`` between two AWS times; "" when either is missing or unreadable."""
    try:
        seconds = int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except (TypeError, ValueError):
        return ""
    if seconds < 0:
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def outcome_tone(outcome: str, failure: str) -> str:
    if failure or outcome in _FAILED:
        return "bad"
    if outcome == "Successful":
        return "ok"
    return "busy" if outcome else "off"


def history_rows(
    revisions: Sequence[Revision],
    *,
    rollouts: Mapping[int, Rollout],
    commits: Mapping[str, Commit],
    repo: str,
) -> list[dict[str, Any]]:
    """One row per revision rolled out, newest first; ``commits`` keyed by ``Revision.revision``."""
    rows = []
    for revision in revisions:
        sha = revision.revision or ""
        commit = commits.get(sha)
        number = revision.launch_template_version
        rollout = rollouts.get(number) if number is not None else None
        start, end = (rollout.start, rollout.end) if rollout else ("", "")
        outcome = revision.outcome or (rollout.status if rollout else "")
        rows.append(
            {
                "version": number,
                "commit": sha[:12],
                "url": github_commit_url(repo, commit.sha if commit else sha) if sha else None,
                "author": commit.author if commit else "",
                "message": commit.subject if commit else "",
                "image": revision.image or "",
                "digest": _digest(revision.image),
                "start": start,
                "end": end,
                "duration": duration(start, end),
                "outcome": outcome or "not rolled out",
                "failure": revision.failure,
                "tone": outcome_tone(outcome, revision.failure),
            }
        )
    return rows


def _digest(image: str | None) -> str:
    """``sha256:…`` of a pinned image reference; "" for a tag alone."""
    if not image or "@" not in image:
        return ""
    return image.rpartition("@")[2]
