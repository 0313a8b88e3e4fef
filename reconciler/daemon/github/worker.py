"""The posts, sent in order on a thread of their own from a bounded queue.

``tell(view)`` is the daemon's listener: it works out the posts (``Reporter``, pure and quick)
and queues them without waiting. When GitHub is down or rate-limits us the queue fills; then the
oldest post is dropped (counted), since the newest says where things stand. A deployment's
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
    DeploymentStatus,
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
        on_result: Callable[[str, str], None] | None = None,
        policy: RetryPolicy | None = None,
        capacity: int = CAPACITY,
        timeout: float = 10.0,
    ) -> None:
        self.repository = settings.repository
        self.reporter = Reporter(external_url=settings.external_url)
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
        self._thread: threading.Thread | None = None
        self._timeout = timeout

    # -- the tick thread ---------------------------------------------------------------------

    def tell(self, view: TickView) -> None:
        self.submit(self.reporter.observe(view))

    def submit(self, posts: Iterable[Post]) -> None:
        with self._changed:
            for post in posts:
                if len(self._queue) >= self._capacity:
                    dropped = self._queue.popleft()
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
                self._send(post)
            except Exception as exc:  # a bug here must not end the worker
                log.exception("github_post_crashed", error=f"{type(exc).__name__}: {exc}")

    def _send(self, post: Post) -> None:
        repo = f"/repos/{self.repository}"
        if isinstance(post, CommitStatus):
            body: dict[str, Any] = {
                "state": post.state,
                "context": post.context,
                "description": post.description,
            }
            if post.target_url:
                body["target_url"] = post.target_url
            self.client.post(_operation(post), f"{repo}/statuses/{post.sha}", body)
        elif isinstance(post, CreateDeployment):
            deployment = self._existing(repo, post) or self._create(repo, post)
            if deployment is not None:
                self._ids[(post.service, post.sha)] = deployment
                while len(self._ids) > _KEPT_IDS:
                    del self._ids[next(iter(self._ids))]
        else:
            self._send_deployment_status(repo, post)

    def _existing(self, repo: str, post: CreateDeployment) -> int | None:
        """The deployment of this commit to this environment made before (by a daemon that
        restarted since), so a restart does not leave one in progress for ever."""
        params: dict[str, str | int] = {"sha": post.sha, "environment": post.service, "per_page": 1}
        found = self.client.get(DEPLOYMENTS, f"{repo}/deployments", params)
        if isinstance(found, list) and found and isinstance(found[0].get("id"), int):
            return int(found[0]["id"])
        return None

    def _create(self, repo: str, post: CreateDeployment) -> int | None:
        body = {
            "ref": post.sha,
            "environment": post.service,
            "payload": dict(post.payload),
            "description": post.description,
            "auto_merge": False,
            "required_contexts": [],
            # GitHub marks older deployments inactive (auto_inactive) only in a
            # non-production environment.
            "production_environment": False,
        }
        answer = self.client.post(_operation(post), f"{repo}/deployments", body)
        found = answer.get("id") if answer is not None else None
        return found if isinstance(found, int) else None

    def _send_deployment_status(self, repo: str, post: DeploymentStatus) -> None:
        deployment = self._ids.get((post.service, post.sha))
        if deployment is None:
            log.warning("github_no_deployment", service=post.service, revision=post.sha)
            return
        body: dict[str, Any] = {
            "state": post.state,
            "description": post.description,
            "environment": post.service,
        }
        if post.log_url:
            body["log_url"] = post.log_url
        path = f"{repo}/deployments/{deployment}/statuses"
        self.client.post(_operation(post), path, body)


def _operation(post: Post) -> str:
    """The operationId of GitHub's REST description that sends ``post``."""
    if isinstance(post, CommitStatus):
        return COMMIT_STATUS
    if isinstance(post, CreateDeployment):
        return DEPLOYMENT
    return DEPLOYMENT_STATUS


def attach(daemon: Daemon, settings: GitHubSettings) -> GitHubReporter:
    """Report ``daemon``'s ticks to GitHub from now on; ``stop()`` the result when done."""
    reporter = GitHubReporter(settings, on_result=daemon.metrics.github_request).start()
    daemon.listeners.add(reporter.tell)
    log.info("github_reporting", repository=settings.repository, api=settings.api_url)
    return reporter
