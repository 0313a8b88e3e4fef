"""Debian's headless Chromium, driven by Selenium through /usr/bin/chromedriver: the status page
tests' browser. It reaches nothing but the page on 127.0.0.1 (no sync, no updates, no QUIC),
starts from a fresh profile, and keeps every console message so a test can require none failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
T = TypeVar("T")


@contextmanager
def chromium(profile: Path, *, width: int = 1200, height: int = 900) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console's errors since the last call (the browser log is drained by reading it)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e for e in entries if e.get("level") == "SEVERE"]


def wait_for(check: Callable[[], T | None], *, timeout: float = 15.0, what: str = "") -> T:
    """``check()``'s first truthy result, polled; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def shown_tick(driver: webdriver.Chrome, ticks: int, *, timeout: float = 15.0) -> None:
    """Wait until the page shows the state after ``ticks`` daemon ticks."""

    def shows() -> bool:
        value = driver.find_element(By.TAG_NAME, "body").get_attribute("data-ticks")
        return value is not None and int(value) >= ticks

    wait_for(shows, timeout=timeout, what=f"the page to show tick {ticks}")


def service(driver: webdriver.Chrome, name: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'article[aria-labelledby="svc-{name}"]')


def headline(driver: webdriver.Chrome, name: str) -> str:
    return service(driver, name).find_element(By.TAG_NAME, "h2").text


def no_horizontal_scroll(driver: webdriver.Chrome) -> bool:
    width = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return bool(width[0] <= width[1])


def screenshot(driver: webdriver.Chrome, path: Path, *, width: int) -> None:
    """The whole page at ``width`` CSS pixels, however long it is."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, int(height) + 140)  # the window's frame takes some
    driver.save_screenshot(str(path))
