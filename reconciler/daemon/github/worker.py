"""The posts, sent in order on a thread of their own from a bounded queue.

``tell(view)`` is the daemon's listener: it works out the posts (``Reporter``, pure and quick)
and queues them without waiting. When GitHub is down or rate-limits us the queue fills; then the
oldest post is dropped (counted), since the newest says where things stand. A post GitHub never
got (dropped, or still failing after the retries) goes back to the reporter, which tells that
transition again on the next tick that still calls for it. A deployment's
statuses need its id: the one GitHub already lists for that commit and environment (made before
a restart), or else the one its creation answers; without either, its statuses are skipped
(logged).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from reconciler.daemon.daemon import Daemon
from reconciler.daemon.github.client import (
    COMMIT_STATUS,
    DEPLOYMENT,
    DEPLOYMENT_STATUS,
    DEPLOYMENTS,
    DROPPED,
    GitHubClient,
    RetryPolicy,
)
from reconciler.daemon.github.reporter import (
    CommitStatus,
    CreateDeployment,
    Post,
    Reporter,
)
from reconciler.daemon.github.settings import GitHubSettings
from reconciler.daemon.listeners import TickView

log = structlog.get_logger("reconciler.daemon.github")

CAPACITY = 256  # posts waiting at most: a few per service and transition
_KEPT_IDS = 64  # deployment ids remembered, the newest


class GitHubReporter:
    """Listener and sender: ``tell`` on the tick thread, the posts on the worker thread."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        external_url: str | None = None,
        on_result: Callable[[str, str], None] | None = None,
        policy: RetryPolicy | None = None,
        capacity: int = CAPACITY,
        timeout: float = 10.0,
    ) -> None:
        self.repository = settings.repository
        self.reporter = Reporter(external_url=external_url)
        self._on_result = on_result or (lambda operation, result: None)
        self._stopping = threading.Event()
        self.client = GitHubClient(
            api_url=settings.api_url,
            token=settings.token,
            policy=policy,
            timeout=timeout,
            sleep=self._stopping.wait,
            on_result=self._on_result,
        )
        self._queue: deque[Post] = deque()
        self._capacity = capacity
        self._changed = threading.Condition()
        self._busy = False
        self._ids: dict[tuple[str, str], int] = {}  # (service, sha) → deployment id
        self._unsent: deque[Post] = deque(maxlen=capacity)  # for the reporter to tell again
        self._thread: threading.Thread | None = None
        self._timeout = timeout

    # -- the tick thread ---------------------------------------------------------------------

    def tell(self, view: TickView) -> None:
        with self._changed:
            unsent = list(self._unsent)
            self._unsent.clear()
        self.reporter.forget(unsent)
        self.submit(self.reporter.observe(view))

    def submit(self, posts: Iterable[Post]) -> None:
        with self._changed:
            for post in posts:
                if len(self._queue) >= self._capacity:
                    dropped = self._queue.popleft()
                    self._unsent.append(dropped)
                    self._on_result(_operation(dropped), DROPPED)
                    log.warning("github_dropped", post=type(dropped).__name__)
                self._queue.append(post)
            self._changed.notify_all()

    # -- the worker --------------------------------------------------------------------------

    def start(self) -> GitHubReporter:
        self._thread = threading.Thread(target=self._run, name="github", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, drain: float = 0.0) -> None:
        """Stop after the queue is sent (waiting at most ``drain`` seconds); a post waiting for
        a retry is given up."""
        self.wait_idle(drain)
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)  # a request in flight ends by then
        self.client.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued post was sent (or given up); whether it came to that."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)

    def pending(self) -> int:
        with self._changed:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
                self._changed.wait_for(lambda: self._queue or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                post = self._queue.popleft()
                self._busy = True
            try:
                sent = self._send(post)
            except Exception as exc:  # a bug here must not end the worker
                log.exception("github_post_crashed", error=f"{type(exc).__name__}: {exc}")
                sent = True
            if not sent:
                with self._changed:
                    self._unsent.append(post)

    def _send(self, post: Post) -> bool:
        """Send one post; False when GitHub never got it (worth telling again)."""
        repo = f"/repos/{self.repository}"
        if isinstance(post, CommitStatus):
            body: dict[str, Any] = {
                "state": post.state,
                "context": post.context,
                "description": post.description,
            }
            if post.target_url:
                body["target_url"] = post.target_url
            return not self.client.post(COMMIT_STATUS, f"{repo}/statuses/{post.sha}", body).unsent
        if isinstance(post, CreateDeployment):
            return self._deployment(repo, post)
        deployment = self._ids.get((post.service, post.sha))
        if deployment is None:
            log.warning("github_no_deployment", service=post.service, revision=post.sha)
            return True  # sending it again cannot help
        body = {"state": post.state, "description": post.description, "environment": post.service}
        if post.log_url:
            body["log_url"] = post.log_url
        path = f"{repo}/deployments/{deployment}/statuses"
        return not self.client.post(DEPLOYMENT_STATUS, path, body).unsent

    def _deployment(self, repo: str, post: CreateDeployment) -> bool:
        """The deployment of this commit to this environment: the one GitHub lists (made before
        a restart, so none is left in progress for ever), or a new one."""
        params: dict[str, str | int] = {"sha": post.sha, "environment": post.service, "per_page": 1}
        listed = self.client.get(DEPLOYMENTS, f"{repo}/deployments", params)
        if listed.unsent:
            return False
        found = (
            listed.answer[0].get("id")
            if isinstance(listed.answer, list) and listed.answer
            else None
        )
        if not isinstance(found, int):
            created = self.client.post(DEPLOYMENT, f"{repo}/deployments", _deployment_body(post))
            if created.unsent:
                return False
            found = created.answer.get("id") if isinstance(created.answer, dict) else None
        if isinstance(found, int):
            self._ids[(post.service, post.sha)] = found
            while len(self._ids) > _KEPT_IDS:
                del self._ids[next(iter(self._ids))]
        return True


def _deployment_body(post: CreateDeployment) -> dict[str, Any]:
    return {
        "ref": post.sha,
        "environment": post.service,
        "payload": dict(post.payload),
        "description": post.description,
        "auto_merge": False,  # deploy this very commit, never a merge GitHub would make
        "required_contexts": [],  # our own pending status must not block it
        # GitHub marks older deployments inactive (auto_inactive) only in a non-production
        # environment.
        "production_environment": False,
    }


def _operation(post: Post) -> str:
    """The operationId of GitHub's REST description that sends ``post``."""
    if isinstance(post, CommitStatus):
        return COMMIT_STATUS
    if isinstance(post, CreateDeployment):
        return DEPLOYMENT
    return DEPLOYMENT_STATUS


def attach(daemon: Daemon, settings: GitHubSettings, *, external_url: str | None) -> GitHubReporter:
    """Report ``daemon``'s ticks to GitHub from now on, linking ``external_url`` (the status
    page); ``stop()`` the result when done."""
    reporter = GitHubReporter(
        settings, external_url=external_url, on_result=daemon.metrics.github_request
    ).start()
    daemon.listeners.add(reporter.tell)
    log.info("github_reporting", repository=settings.repository, api=settings.api_url)
    return reporter
