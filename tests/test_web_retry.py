"""The status page's retry, over real HTTP against a daemon on the sandbox: offered only while the
desired revision's rollout has failed, done by the daemon between ticks (as ``reconciler retry``
does it: the failure tag forgotten in AWS, no commit), and the next tick rolls the revision out
again."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.daemon.server import StatusServer
from reconciler.daemon.web import Acted, attach
from reconciler.model import TAG_FAILED_FINGERPRINT as TAG_FAILED
from reconciler.sandbox import Sandbox
from tests.analysis_harness import SERVICE, Story
from tests.test_analysis_e2e import failed

TOKEN = "retry-token-for-tests"


def no_commits(action: str, service: str, reason: str) -> Acted:
    """This story follows a plain directory: there is no repository to commit pause or rollback
    in, and retry must not need one."""
    raise errors.OperatorError(f"{action}: no repository here")


def read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def post(server: StatusServer, csrf: str, action: str) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"action": action, "service": SERVICE}).encode()
    request = urllib.request.Request(f"{server.url}/ui/actions", data=body, method="POST")
    host = f"{server.host}:{server.port}"
    for name, value in {
        "Content-Type": "application/json",
        "Origin": f"http://{host}",
        "Sec-Fetch-Site": "same-origin",
        "Authorization": f"Bearer {TOKEN}",
        "X-CSRF-Token": csrf,
    }.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def offered(server: StatusServer) -> list[str]:
    doc = json.loads(read(f"{server.url}/ui/state.json"))
    (service,) = [s for s in doc["services"] if s["name"] == SERVICE]
    return list(service["actions"])


def test_retry_from_the_page_forgets_the_failure_and_the_next_tick_rolls_out_again(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1")
    page = attach(story.daemon, actor=no_commits, token=TOKEN.encode())
    server = StatusServer(
        daemon=story.daemon, metrics=story.daemon.metrics, port=0, page=page
    ).start()
    try:
        story.tick()
        assert "retry" not in offered(server)  # nothing has failed yet
        story.until(failed)
        story.settle()
        assert "retry" in offered(server)
        assert TAG_FAILED in story.tags()
        match = re.search(r'name="csrf-token" content="([^"]+)"', read(f"{server.url}/"))
        assert match is not None
        csrf = match.group(1)
        refreshes = len(story.refreshes())

        status, answer = post(server, csrf, "retry")

        assert status == 200, answer
        assert answer["result"] == "done" and answer["commit"] is None
        assert "failure forgotten" in answer["summary"]
        assert TAG_FAILED not in story.tags()
        seen = story.tick()
        assert not failed(seen)
        assert len(story.refreshes()) == refreshes + 1  # v2.1 is rolled out again
        assert "retry" not in offered(server)
        again, refused = post(server, csrf, "retry")
        assert again == 409 and "nothing to retry" in refused["error"]
    finally:
        server.stop()
