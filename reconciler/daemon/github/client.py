"""One post to GitHub's REST API, retried the way GitHub asks.

GitHub's "Best practices for using the REST API" and "Rate limits for the REST API" say:

- **5xx and network errors**: retried with exponential backoff.
- **Primary rate limit** (403 or 429 with ``x-ratelimit-remaining: 0``): wait until
  ``x-ratelimit-reset`` (Unix seconds), then retry.
- **Secondary rate limit** (403 or 429 with ``retry-after``, or whose message says "secondary
  rate limit"): wait ``retry-after`` seconds; without it at least a minute, longer each time.
- **Any other 4xx** is not retried: it is logged with GitHub's message.

Every attempt's result is counted (``on_result``). Waiting is ``sleep(seconds)``, which returns
True when the waiting should stop (the daemon is stopping): the post is then given up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import structlog

from reconciler import __version__

log = structlog.get_logger("reconciler.daemon.github")

API_VERSION = "2022-11-28"  # the REST API version the requests are written for
ACCEPT = "application/vnd.github+json"
# The operationIds (GitHub's REST description) of what the reconciler sends.
COMMIT_STATUS = "repos/create-commit-status"
DEPLOYMENT = "repos/create-deployment"
DEPLOYMENT_STATUS = "repos/create-deployment-status"
DEPLOYMENTS = "repos/list-deployments"
OPERATIONS = (COMMIT_STATUS, DEPLOYMENT, DEPLOYMENT_STATUS, DEPLOYMENTS)
SUCCESS = "success"
SERVER_ERROR = "server_error"
NETWORK_ERROR = "network_error"
RATE_LIMITED = "rate_limited"
SECONDARY_RATE_LIMITED = "secondary_rate_limited"
CLIENT_ERROR = "client_error"
GAVE_UP = "gave_up"  # retries used up, or stopped while waiting
DROPPED = "dropped"  # the queue was full: the oldest post was dropped (counted by the worker)
RESULTS = (
    SUCCESS,
    SERVER_ERROR,
    NETWORK_ERROR,
    RATE_LIMITED,
    SECONDARY_RATE_LIMITED,
    CLIENT_ERROR,
    GAVE_UP,
    DROPPED,
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first one included
    base: float = 1.0  # seconds before the first retry of a 5xx or a network error
    cap: float = 60.0
    secondary_minimum: float = 60.0  # GitHub: "wait for at least one minute"
    longest: float = 3600.0  # a primary reset further away than this is waited for this long


@dataclass(frozen=True)
class Judged:
    result: str
    wait: float | None  # seconds before the retry; None: do not retry


def judge(
    *,
    status: int | None,
    headers: Mapping[str, str],
    message: str,
    attempt: int,
    now: float,
    policy: RetryPolicy,
) -> Judged:
    """What one response (``status`` None: no response at all) means, and how long to wait
    before trying again. ``headers`` have lower-case names; ``attempt`` counts from 1."""
    backoff = min(policy.cap, policy.base * 2 ** (attempt - 1))
    if status is None:
        return Judged(NETWORK_ERROR, backoff)
    if status < 400:
        return Judged(SUCCESS, None)
    if status >= 500:
        return Judged(SERVER_ERROR, backoff)
    if status in (403, 429):
        retry_after = _number(headers.get("retry-after"))
        if retry_after is not None:
            return Judged(SECONDARY_RATE_LIMITED, min(policy.longest, max(0.0, retry_after)))
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _number(headers.get("x-ratelimit-reset"))
            wait = policy.secondary_minimum if reset is None else max(0.0, reset - now) + 1.0
            return Judged(RATE_LIMITED, min(policy.longest, wait))
        if "secondary rate limit" in message.lower():
            wait = policy.secondary_minimum * 2 ** (attempt - 1)
            return Judged(SECONDARY_RATE_LIMITED, min(policy.longest, wait))
    return Judged(CLIENT_ERROR, None)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Reply:
    result: str  # SUCCESS; CLIENT_ERROR (refused: sending it again cannot help); GAVE_UP
    answer: Any = None  # the JSON body of a success

    @property
    def unsent(self) -> bool:
        """Whether GitHub never got it (down, rate-limited past the retries, or stopping)."""
        return self.result == GAVE_UP


class GitHubClient:
    """Sends JSON to ``api_url`` with a token; ``post`` and ``get`` return how it went."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], bool] | None = None,
        on_result: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep or _sleep
        self._on_result = on_result or (lambda operation, result: None)
        self._clock = clock
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": ACCEPT,
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"asg-reconciler/{__version__}",
            }
        )

    def post(self, operation: str, path: str, body: Mapping[str, Any]) -> Reply:
        return self._request(operation, "POST", path, body=body)

    def get(self, operation: str, path: str, params: Mapping[str, str | int]) -> Reply:
        return self._request(operation, "GET", path, params=params)

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Reply:
        for attempt in range(1, self.policy.attempts + 1):
            status, headers, answer = self._send(method, path, body, params)
            message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
            judged = judge(
                status=status,
                headers=headers,
                message=message,
                attempt=attempt,
                now=self._clock(),
                policy=self.policy,
            )
            self._on_result(operation, judged.result)
            if judged.result == SUCCESS:
                return Reply(SUCCESS, answer)
            fields = {"operation": operation, "path": path, "status": status, "message": message}
            if judged.wait is None:
                log.warning("github_refused", **fields)
                return Reply(CLIENT_ERROR)
            if attempt == self.policy.attempts:
                break
            log.info("github_retry", result=judged.result, retry_in=judged.wait, **fields)
            if self._sleep(judged.wait):
                break
        self._on_result(operation, GAVE_UP)
        log.warning("github_gave_up", operation=operation, path=path)
        return Reply(GAVE_UP)

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
    ) -> tuple[int | None, dict[str, str], Any]:
        try:
            response = self._session.request(
                method, self.api_url + path, json=body, params=params, timeout=self._timeout
            )
        except requests.RequestException as exc:
            log.info("github_unreachable", path=path, error=f"{type(exc).__name__}: {exc}")
            return None, {}, None
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        return response.status_code, headers, answer

    def close(self) -> None:
        self._session.close()


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
