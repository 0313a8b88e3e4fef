"""What GitHub should be told after a tick: pure transitions, each sent once.

For each service a tick reconciled, the commit it reconciled (the desired revision) gets a
commit status in context ``asg-reconciler/<service>``:

- **pending** while it rolls out (or waits: a pause, a temporary error),
- **success** once AWS matches it, **failure** when its rollout failed or the service stalled,
  with a one-line reason of at most 140 characters (GitHub's limit) and a link to the status page,
- **error** ("superseded by …") when a newer commit came before it finished: it never will.

A commit the daemon refused (invalid, or unsigned) gets **failure** in every service's context.

A rollout is also a GitHub Deployment (environment = service, ref = the commit, the image
digest in the payload, ``auto_merge`` off, no required contexts: our own pending status must
not block it) with the statuses ``in_progress`` → ``success`` or ``failure``; one superseded
by a newer commit before it ended is made ``inactive`` (GitHub's auto_inactive does that only to
deployments that succeeded).

A post is made once per transition: the same state for the same commit and context is not sent
again. Only the leading daemon reports; a standby's view changes nothing here, so one that takes
the lead reports what it then sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.daemon.listeners import TickView
from reconciler.daemon.rollouts import FAILED, ROLLED_BACK, SUCCEEDED
from reconciler.model import ConditionType, Reason
from reconciler.pipeline.reconcile import ServiceOutcome
from reconciler.pipeline.status import ServiceStatus, service_status

CONTEXT_PREFIX = "asg-reconciler/"
DESCRIPTION_LIMIT = 140  # GitHub's longest status description
PENDING, SUCCESS, FAILURE, ERROR = "pending", "success", "failure", "error"
IN_PROGRESS, INACTIVE = "in_progress", "inactive"
# A git commit: a plain directory's content hash is no commit GitHub knows.
_COMMIT = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_REMEMBERED = 16  # commits remembered per context: enough to never post one state twice


@dataclass(frozen=True)
class CommitStatus:
    sha: str
    context: str
    state: str  # pending | success | failure | error
    description: str
    target_url: str | None


@dataclass(frozen=True)
class CreateDeployment:
    service: str
    sha: str
    payload: Mapping[str, Any]
    description: str


@dataclass(frozen=True)
class DeploymentStatus:
    service: str
    sha: str  # with service, names the deployment CreateDeployment made
    state: str  # in_progress | success | failure | inactive
    description: str
    log_url: str | None


Post = CommitStatus | CreateDeployment | DeploymentStatus


@dataclass(frozen=True)
class Verdict:
    state: str
    description: str
    rolling: bool = False  # pending because a rollout is under way (not a pause or a retry)


def one_line(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def verdict(status: ServiceStatus, ended: Sequence[str]) -> Verdict | None:
    """The commit status a service's status calls for; None when nothing is known yet."""
    degraded = status.condition(ConditionType.DEGRADED)
    stalled = status.condition(ConditionType.STALLED)
    progressing = status.condition(ConditionType.PROGRESSING)
    if FAILED in ended or ROLLED_BACK in ended or degraded.reason == Reason.ROLLOUT_FAILED:
        reason = degraded.message or status.last_failure or "the rollout failed"
        rolled = " (rolled back)" if ROLLED_BACK in ended else ""
        return Verdict(FAILURE, f"rollout failed{rolled}: {reason}")
    if stalled.status and stalled.reason == Reason.BLOCKED:
        return Verdict(PENDING, f"blocked: {stalled.message}")
    if stalled.status:
        return Verdict(FAILURE, f"stalled: {stalled.reason}: {stalled.message}")
    if status.condition(ConditionType.READY).status:
        return Verdict(SUCCESS, "rolled out" if SUCCEEDED in ended else "in sync with this commit")
    if degraded.status:  # a temporary error: retried
        return Verdict(PENDING, f"retrying: {degraded.message}")
    if progressing.status:
        return Verdict(PENDING, f"rolling out: {progressing.message or progressing.reason}", True)
    return None


class Reporter:
    """``observe(view)`` → the posts this tick calls for, in the order to send them."""

    def __init__(self, *, external_url: str | None) -> None:
        self.external_url = external_url
        self._posted: dict[str, dict[str, str]] = {}  # context → {sha: state}
        self._deployments: dict[str, tuple[str, str]] = {}  # service → (sha, state)

    def observe(self, view: TickView) -> list[Post]:
        if not view.leading:
            return []
        posts: list[Post] = []
        refused = view.followed.desired_error
        for outcome in view.outcomes:
            # While a commit is refused the statuses say so; the good commit's own standing is
            # the outcome's.
            status = service_status(outcome) if refused else view.statuses.get(outcome.name)
            if status is not None:
                posts += self._service(outcome, status, view.ended.get(outcome.name, ()))
        if refused is not None and _COMMIT.match(refused.revision):
            names = sorted(view.statuses) or ["desired"]
            message = f"commit refused ({refused.reason}): {refused.message}"
            for name in names:
                posts += self._commit(refused.revision, name, Verdict(FAILURE, message))
        return posts

    def forget(self, unsent: Sequence[Post]) -> None:
        """Posts GitHub never got: their transitions are told again on the next tick that still
        calls for them (one already replaced by a newer state is not)."""
        for post in unsent:
            if isinstance(post, CommitStatus):
                seen = self._posted.get(post.context, {})
                if seen.get(post.sha) == post.state == ERROR:
                    seen[post.sha] = PENDING  # superseded: told so by the next tick again
                elif seen.get(post.sha) == post.state:
                    del seen[post.sha]
            elif isinstance(post, CreateDeployment):
                if self._deployments.get(post.service) == (post.sha, IN_PROGRESS):
                    del self._deployments[post.service]
            elif post.state != IN_PROGRESS and self._deployments.get(post.service) == (
                post.sha,
                post.state,
            ):  # its end: the rollout is told as in progress until the end gets through
                self._deployments[post.service] = (post.sha, IN_PROGRESS)

    def _service(
        self, outcome: ServiceOutcome, status: ServiceStatus, ended: Sequence[str]
    ) -> list[Post]:
        found = verdict(status, ended)
        sha = outcome.spec.source.revision
        if found is None or not sha or not _COMMIT.match(sha):
            return []
        posts = self._supersede(outcome.name, sha)
        if found.rolling:
            posts += self._deploy(outcome, sha)
        posts += self._commit(sha, outcome.name, found)
        if found.state in (SUCCESS, FAILURE):
            posts += self._deployment_end(outcome.name, sha, found)
        return posts

    def _commit(self, sha: str, name: str, found: Verdict) -> list[Post]:
        context = CONTEXT_PREFIX + name
        seen = self._posted.setdefault(context, {})
        if seen.get(sha) == found.state:
            return []
        seen.pop(sha, None)
        seen[sha] = found.state  # newest last, so the oldest is the first to forget
        while len(seen) > _REMEMBERED:
            del seen[next(iter(seen))]
        description = one_line(found.description)
        return [CommitStatus(sha, context, found.state, description, self.external_url)]

    def _supersede(self, name: str, sha: str) -> list[Post]:
        """Older commits still pending in this context get error, an older deployment still in
        progress inactive: ``sha`` came before they finished, so they never will."""
        why = f"superseded by {sha[:12]} before it finished"
        older = [
            s
            for s, state in self._posted.get(CONTEXT_PREFIX + name, {}).items()
            if s != sha and state == PENDING
        ]
        posts: list[Post] = []
        for old in older:
            posts += self._commit(old, name, Verdict(ERROR, why))
        current = self._deployments.get(name)
        if current is not None and current[0] != sha and current[1] == IN_PROGRESS:
            self._deployments[name] = (current[0], INACTIVE)
            posts.append(DeploymentStatus(name, current[0], INACTIVE, why, self.external_url))
        return posts

    def _deploy(self, outcome: ServiceOutcome, sha: str) -> list[Post]:
        """A deployment for a rollout seen for the first time."""
        name = outcome.name
        current = self._deployments.get(name)
        if current is not None and current[0] == sha:
            return []
        posts: list[Post] = []
        self._deployments[name] = (sha, IN_PROGRESS)
        image = outcome.desired.image if outcome.desired is not None else None
        payload = {
            "service": name,
            "revision": sha,
            "image": image.pinned if image else None,
            "digest": image.digest if image else None,
        }
        what = f"{name}: {image.describe()}" if image else name
        posts.append(CreateDeployment(name, sha, payload, one_line(f"rollout of {what}")))
        posts.append(
            DeploymentStatus(name, sha, IN_PROGRESS, "rolling out", log_url=self.external_url)
        )
        return posts

    def _deployment_end(self, name: str, sha: str, found: Verdict) -> list[Post]:
        current = self._deployments.get(name)
        if current != (sha, IN_PROGRESS):
            return []  # no rollout of this commit was seen, or its end was told already
        self._deployments[name] = (sha, found.state)
        description = one_line(found.description)
        return [DeploymentStatus(name, sha, found.state, description, self.external_url)]
