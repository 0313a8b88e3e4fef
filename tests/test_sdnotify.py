"""sd_notify: the datagrams ``reconciler run`` sends under systemd's ``Type=notify``.

The parsing of ``$NOTIFY_SOCKET``/``$WATCHDOG_USEC`` and the message format as plain data; the
datagrams themselves on a real ``AF_UNIX``/``SOCK_DGRAM`` socket (a path, and an abstract
name), first from ``Notifier``, then from the daemon itself: ``reconciler run`` against the
sandbox sends READY=1 once, WATCHDOG=1 after every tick, and STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import errors
from reconciler.daemon.sdnotify import Notifier, message, socket_address, watchdog_seconds
from tests.test_daemon_e2e import Process
from tests.test_loop import desired_repo


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("/tmp/a b/notify", "/tmp/a b/notify"),
        ("@/org/freedesktop/systemd1/notify/123", b"\0/org/freedesktop/systemd1/notify/123"),
        ("@x", b"\0x"),
    ],
)
def test_socket_address(value: str, address: str | bytes) -> None:
    assert socket_address(value) == address


@pytest.mark.parametrize("value", ["notify", "vsock:2:1234", "./notify", "~/notify"])
def test_socket_address_refuses_what_is_no_unix_socket(value: str) -> None:
    with pytest.raises(errors.UsageError, match="NOTIFY_SOCKET"):
        socket_address(value)


@pytest.mark.parametrize(
    ("env", "seconds"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "600000000"}, 600.0),
        ({"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": "42"}, 1.5),
        ({"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": "43"}, None),  # another process's
        ({"WATCHDOG_USEC": " 2000000 ", "WATCHDOG_PID": ""}, 2.0),
        ({"WATCHDOG_USEC": ""}, None),
    ],
)
def test_watchdog_seconds(env: dict[str, str], seconds: float | None) -> None:
    assert watchdog_seconds(env, pid=42) == seconds


@pytest.mark.parametrize("usec", ["0", "-5", "1.5", "10s", "abc"])
def test_watchdog_seconds_refuses_garbage(usec: str) -> None:
    with pytest.raises(errors.UsageError, match="WATCHDOG_USEC"):
        watchdog_seconds({"WATCHDOG_USEC": usec}, pid=1)


@pytest.mark.parametrize(
    ("fields", "data"),
    [
        ({"READY": "1"}, b"READY=1"),
        ({"READY": "1", "STATUS": "at abc: 2"}, b"READY=1\nSTATUS=at abc: 2"),
        ({"WATCHDOG": "1"}, b"WATCHDOG=1"),
        ({"STATUS": "café"}, "STATUS=café".encode()),
    ],
)  # fmt: skip
def test_message(fields: dict[str, str], data: bytes) -> None:
    assert message(fields) == data


@pytest.mark.parametrize("fields", [{"STATUS": "two\nlines"}, {"ready": "1"}])
def test_message_refuses_what_would_break_the_datagram(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="not a notification field"):
        message(fields)


# ------------------------------------------------------------------------------------------------
# Real sockets
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket, as systemd's, and its ``$NOTIFY_SOCKET`` value."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(0.2)
        yield sock, str(path)


def received(sock: socket.socket, *, until: float, enough: int = 0) -> list[dict[str, str]]:
    """Every datagram until the deadline (or ``enough`` watchdog pets), each as its fields."""
    got: list[dict[str, str]] = []
    while time.monotonic() < until:
        if enough and sum(1 for g in got if g.get("WATCHDOG") == "1") >= enough:
            break
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        got.append(dict(line.split("=", 1) for line in data.decode().split("\n")))
    return got


def test_notifier_sends_datagrams_to_a_path_socket(notify_socket) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier is not None and notifier.watchdog is None
    assert notifier.send(READY="1", STATUS="up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_notifier_sends_to_an_abstract_socket() -> None:
    name = f"asg-reconciler-test-{uuid.uuid4()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        notifier = Notifier.from_env({"NOTIFY_SOCKET": f"@{name}"})
        assert notifier is not None
        assert notifier.send(WATCHDOG="1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_a_gone_supervisor_fails_the_send_not_the_caller(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert notifier is not None
    assert notifier.send(WATCHDOG="1") is False  # ENOENT, logged once, not raised
    assert notifier.send(WATCHDOG="1") is False


def test_outside_systemd_nothing_is_sent() -> None:
    assert Notifier.from_env({}) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": "  "}) is None


def run_args(endpoint: str, repo: str, cache: Path) -> list[str]:
    args = [
        "--endpoint-url", endpoint,
        "run", "--repo", repo, "--path", "desired/", "--interval", "1s",
        "--listen", "127.0.0.1:0", "--cache-dir", str(cache),
    ]  # fmt: skip
    return args


def test_the_daemon_is_ready_after_its_first_tick_pets_the_watchdog_and_says_stopping(
    sandbox, notify_socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = notify_socket
    repo = desired_repo(tmp_path / "git")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", str(600 * 1_000_000))
    daemon = Process(run_args(sandbox.endpoint, repo.url, tmp_path / "cache"))
    try:
        daemon.wait_for_log(lambda e: e.get("event") == "listening", timeout=30)
        got = received(sock, until=time.monotonic() + 90, enough=3)  # ticks 1 s apart
    finally:
        code = daemon.terminate()
    assert code == 0
    got += received(sock, until=time.monotonic() + 0.5)
    assert got, "no datagram from the daemon"
    assert got[0]["READY"] == "1" and got[0]["WATCHDOG"] == "1"
    assert got[0]["STATUS"].endswith("1 service(s)")
    assert [g for g in got[1:] if "READY" in g] == []  # once
    pets = [g for g in got if g.get("WATCHDOG") == "1"]
    assert len(pets) >= 3  # one per tick, ticks a second apart
    assert got[-1]["STOPPING"] == "1"


def test_a_watchdog_shorter_than_the_ticks_is_warned_about(
    sandbox, notify_socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = notify_socket
    repo = desired_repo(tmp_path / "git")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", str(60 * 1_000_000))  # the back-off cap is 300 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))  # ours, not the daemon's: no watchdog
    daemon = Process(run_args(sandbox.endpoint, repo.url, tmp_path / "cache"))
    try:
        daemon.wait_for_log(lambda e: e.get("event") == "listening", timeout=30)
    finally:
        daemon.terminate()
    assert not [e for e in daemon.seen if e.get("event") == "watchdog_shorter_than_ticks"]

    monkeypatch.delenv("WATCHDOG_PID")
    daemon = Process(run_args(sandbox.endpoint, repo.url, tmp_path / "cache"))
    try:
        daemon.wait_for_log(lambda e: e.get("event") == "watchdog_shorter_than_ticks", timeout=30)
    finally:
        daemon.terminate()
    warning = next(e for e in daemon.seen if e.get("event") == "watchdog_shorter_than_ticks")
    assert warning["watchdog_seconds"] == 60.0
    assert warning["longest_gap_seconds"] > 300
