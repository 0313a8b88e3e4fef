"""The status page in a real headless Chromium, against a daemon reconciling the sandbox.

Each test serves a real daemon's page on 127.0.0.1 (``StatusServer`` on port 0), ticks the
daemon by hand and reads what the browser shows: the words, the progress bar's value, the
history, the console. The v2.1 story also makes the README's screenshot
(docs/status-page.png, rewritten when RECONCILER_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from reconciler.aws import Aws
from reconciler.cli.page_actions import page_actor
from reconciler.daemon.server import StatusServer
from reconciler.daemon.web import WebPage, attach
from reconciler.sandbox import Sandbox
from tests.analysis_harness import SERVICE, Seen, Story
from tests.bluegreen_harness import Story as BlueGreenStory
from tests.browser import (
    chromium,
    console_errors,
    headline,
    no_horizontal_scroll,
    screenshot,
    service,
    shown_tick,
    wait_for,
)
from tests.gitrepo import AUTHOR
from tests.test_loop import converge, desired_repo, git_source, make_daemon

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "status-page.png"
# Set to refresh the README's screenshot; otherwise the test writes it under tmp_path only, so a
# test run leaves the checkout as it was.
UPDATE_SCREENSHOT = os.environ.get("RECONCILER_UPDATE_SCREENSHOT") == "1"
TOKEN = "page-token-for-tests"
# A commit message is user input: the page must show it as text, never run it.
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> deploy v1.1 & <b>bold</b>"


def serve(page: WebPage, daemon: Any) -> StatusServer:
    return StatusServer(daemon=daemon, metrics=daemon.metrics, port=0, page=page).start()


def state(server: StatusServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/ui/state.json", timeout=10) as response:
        found: dict[str, Any] = json.load(response)
    return found


def post(server: StatusServer, headers: dict[str, str], body: bytes = b"{}") -> int:
    request = urllib.request.Request(
        f"{server.url}/ui/actions", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_converged_service_reads_ready_with_its_history_read_only_and_on_a_phone(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    repo.git("commit", "--quiet", "--amend", "-m", HOSTILE)
    repo.git("push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    page = attach(daemon)
    server = serve(page, daemon)
    try:
        converge(daemon, clock=sandbox.clock)
        with urllib.request.urlopen(f"{server.url}/", timeout=10) as response:
            headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        # Read-only: no token, no actions, whatever the request carries.
        assert post(server, {"Content-Type": "application/json"}) == 404
        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{server.url}/")
            shown_tick(driver, state(server)["ticks"])
            assert "Ready (InSync)" in headline(driver, SERVICE)
            card = service(driver, SERVICE)
            assert "Ready: InSync" in card.text
            newest = card.find_elements(By.CSS_SELECTOR, ".history li")[0].text
            assert repo.head()[:12] in newest and AUTHOR in newest and "Successful" in newest
            assert HOSTILE in newest  # the message as text...
            assert driver.find_elements(By.CSS_SELECTOR, "main img, main b") == []  # ...not HTML
            assert driver.title != "pwned"
            assert not driver.find_element(By.ID, "unlock").is_displayed()
            assert driver.find_elements(By.CSS_SELECTOR, "main button") == []
            driver.set_window_size(375, 812)
            assert driver.execute_script("return window.innerWidth") <= 375
            assert no_horizontal_scroll(driver)
            assert console_errors(driver) == []
    finally:
        server.stop()


def failed(seen: Seen) -> bool:
    return seen.status.condition("Degraded").reason == "RolloutFailed"


def ready(seen: Seen) -> bool:
    return seen.status.condition("Ready").status


def follow(
    story: Story | BlueGreenStory, driver: Any, done: Any, *, more: Any = None
) -> list[tuple[str, int | None]]:
    """Tick the story until ``done``; what the page showed after each tick: the headline and
    the progress bar's value (None: no bar). ``more(driver)`` is called after each tick too."""
    shown: list[tuple[str, int | None]] = []
    while True:
        seen = story.tick()
        shown_tick(driver, len(story.seen))
        bars = service(driver, SERVICE).find_elements(By.CSS_SELECTOR, ".bar")
        value = bars[0].get_attribute("aria-valuenow") if bars else None
        shown.append((headline(driver, SERVICE).split("\n")[-1], int(value) if value else None))
        if more is not None:
            more(driver)
        if done(seen):
            return shown
        assert len(story.seen) < 60, shown


def test_blue_green_shows_its_traffic_steps_and_both_sides_weights(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = BlueGreenStory.begin(frozen, tmp_path)
    server = serve(attach(story.daemon), story.daemon)
    labels: list[str] = []  # the bar's label after each tick
    weights: list[str] = []  # the weights table after each tick

    def read(driver: Any) -> None:
        card = service(driver, SERVICE)
        label = card.find_elements(By.CSS_SELECTOR, ".progress-label")
        table = card.find_elements(By.CSS_SELECTOR, "table")
        labels.append(label[0].text if label else "")
        weights.append(table[0].text if table else "")

    try:
        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{server.url}/")
            follow(story, driver, lambda s: s.ready() and s.weights == (0, 100), more=read)
            assert "Ready (InSync)" in headline(driver, SERVICE)
            assert console_errors(driver) == []
    finally:
        server.stop()
    assert any("10% of traffic on green, step 1 of" in label for label in labels), labels
    assert any("50% of traffic on green, step 2 of" in label for label in labels), labels
    assert any("blue live 90%" in w and "green target 10%" in w for w in weights), weights


def test_the_page_follows_a_rollouts_progress_as_the_sandbox_advances(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v1.1")
    server = serve(attach(story.daemon), story.daemon)
    try:
        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{server.url}/")
            shown = follow(story, driver, ready)
            assert console_errors(driver) == []
    finally:
        server.stop()
    progressing = [percent for word, percent in shown if word.startswith("Progressing")]
    # The bar moved while the refresh ran (the page was never reloaded), and it ended Ready.
    assert any(p == 0 for p in progressing) and any(p and p >= 50 for p in progressing), shown
    assert shown[-1] == ("Ready (InSync)", None), shown


def test_a_bad_release_reads_degraded_with_the_reason_and_its_history_says_why(
    frozen: Sandbox, tmp_path: Path
) -> None:
    story = Story.begin(frozen, tmp_path, "v2.1")
    server = serve(attach(story.daemon), story.daemon)
    try:
        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{server.url}/")
            shown = follow(story, driver, failed)
            card = service(driver, SERVICE)
            assert "Degraded (RolloutFailed)" in headline(driver, SERVICE)
            assert "5xx rate" in card.find_element(By.CSS_SELECTOR, ".conditions").text
            over = card.find_elements(By.CSS_SELECTOR, "tr.over")
            assert over and "(over)" in over[-1].text  # a sample above its threshold
            shot = SCREENSHOT if UPDATE_SCREENSHOT else tmp_path / SCREENSHOT.name
            screenshot(driver, shot, width=1100)
            assert shot.read_bytes().startswith(b"\x89PNG")
            driver.set_window_size(375, 812)
            assert no_horizontal_scroll(driver)
            story.settle()
            shown_tick(driver, len(story.seen))
            rows = service(driver, SERVICE).find_elements(By.CSS_SELECTOR, ".history li")
            assert "RollbackSuccessful" in rows[0].text and "5xx rate" in rows[0].text
            assert console_errors(driver) == []
    finally:
        server.stop()
    assert any(word.startswith("Progressing") for word, _ in shown), shown


def fetch_status(driver: Any, *, csrf: str | None, token: str) -> int:
    """An action POSTed from the page itself, with this CSRF token (None: the page's own)."""
    script = """
        var done = arguments[arguments.length - 1];
        var csrf = arguments[0] || document.querySelector('meta[name="csrf-token"]').content;
        fetch('/ui/actions', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': csrf, 'Authorization': 'Bearer ' + arguments[1]},
            body: JSON.stringify({action: 'pause', service: 'feedback'})})
          .then(function (r) { done(r.status); });
    """
    return int(driver.execute_async_script(script, csrf, token))


def test_actions_need_the_token_and_the_pages_csrf_token_and_commit_like_the_cli(
    sandbox: Sandbox, aws: Aws, tmp_path: Path
) -> None:
    repo = desired_repo(tmp_path / "git")
    daemon = make_daemon(aws, git_source(repo, tmp_path / "cache"))
    actor = page_actor(repo=repo.url, branch="main", path="desired", cache_dir=tmp_path / "pa")
    page = attach(daemon, actor=actor, token=TOKEN.encode())
    server = serve(page, daemon)
    before = repo.git("ls-remote", "origin", "refs/heads/main").split()[0]
    try:
        converge(daemon, clock=sandbox.clock)
        origin = server.url
        json_post = {"Content-Type": "application/json"}
        evil = {**json_post, "Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"}
        assert post(server, evil) == 403
        cross = {**json_post, "Origin": origin, "Sec-Fetch-Site": "cross-site"}
        assert post(server, cross) == 403
        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{server.url}/")
            shown_tick(driver, state(server)["ticks"])
            assert driver.find_element(By.ID, "unlock").is_displayed()
            assert fetch_status(driver, csrf=None, token="") == 401  # no token
            assert fetch_status(driver, csrf="0.0.bad", token=TOKEN) == 403  # a forged CSRF
            unlock(driver, "not-the-token")
            click(driver, "pause feedback")
            wait_for(lambda: "Refused: a valid action token" in result(driver), what="refusal")
            unlock(driver, TOKEN)
            # By keyboard alone: type the reason, Tab to the button, press Enter.
            wait_for(lambda: buttons(driver, "pause feedback"), what="the pause button")
            reason = driver.find_element(By.ID, "reason-feedback")
            reason.send_keys("freeze for the audit", Keys.TAB)
            focused = driver.switch_to.active_element
            assert focused.text == "pause feedback", focused.text
            focused.send_keys(Keys.ENTER)
            wait_for(lambda: "Committed" in result(driver), what="the commit", timeout=30)
            assert repo.git("ls-remote", "origin", "refs/heads/main").split()[0] != before
            daemon.tick()
            shown_tick(driver, state(server)["ticks"])
            wait_for(lambda: buttons(driver, "resume feedback"), what="the resume button")
            # The console's only errors are the three refusals this test asked for.
            refused = [e["message"] for e in console_errors(driver)]
            assert len(refused) == 3 and all("/ui/actions" in m for m in refused), refused
    finally:
        server.stop()
    repo.git("pull", "--quiet", "origin", "main")
    message = repo.git("log", "-1", "--format=%B")
    assert message.startswith("pause feedback") and "Reason: freeze for the audit" in message
    assert "paused: true" in (repo.work / "desired" / "desired.yaml").read_text()


def unlock(driver: Any, token: str) -> None:
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()


def click(driver: Any, text: str) -> None:
    wait_for(lambda: buttons(driver, text), what=f"a button {text!r}")[0].click()


def buttons(driver: Any, text: str) -> list[Any]:
    found = driver.find_elements(By.CSS_SELECTOR, "main button")
    return [b for b in found if b.is_displayed() and b.text == text]


def result(driver: Any) -> str:
    return str(driver.find_element(By.ID, "action-result").text)
