"""The daemon's log stays one JSON object per line when HTTP clients misbehave (issue 17 #16).

A real ``reconciler run`` (a subprocess, its log on stderr as in a container) is hit by 60
clients at once that hang up early in every way a client can: reset right after sending its
request, half-close and leave, stall in the middle of the request line, or read a few bytes of a
large answer and reset. Before, socketserver printed a Python traceback for each broken pipe or
reset (1,050 of 1,209 lines were not JSON with 50 clients); now each is one debug event.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from reconciler.sandbox import Sandbox
from tests.test_e2e_core import ROOT, sandbox_copy

CLIENTS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def reset(conn: socket.socket) -> None:
    """Close with an RST, as a client killed mid-request does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def misbehave(port: int, kind: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        path = ("/metrics", "/", "/status", "/ui/app.js")[kind % 4]
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        if kind % 4 == 0:
            conn.sendall(request)
            reset(conn)
        elif kind % 4 == 1:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_RDWR)
        elif kind % 4 == 2:
            conn.sendall(request[:7])  # stalls in the request line, then goes
            time.sleep(0.3)
            reset(conn)
        else:
            conn.sendall(request * 20)  # pipelined, then gone after a few bytes of the first
            conn.recv(16)
            reset(conn)


def test_clients_that_hang_up_early_leave_only_json_in_the_log(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    home = sandbox_copy(tmp_path).parent.parent
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "--log-level", "debug",
            "run", "--repo", str(home), "--listen", f"127.0.0.1:{port}", "--interval", "1h",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": sandbox.endpoint, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        threads = [threading.Thread(target=misbehave, args=(port, kind)) for kind in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        # Still serving, and the late answers have been written (or failed) by now.
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = err.splitlines()
    not_json = []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line)["event"])
        except ValueError:
            not_json.append(line)
    assert not_json == [], f"{len(not_json)} of {len(lines)} lines are not JSON:\n" + "\n".join(
        not_json[:20]
    )
    assert proc.returncode == 0
    assert "http_client_gone" in events, events  # the disconnects did reach the handler
    assert "http_handler_failed" not in events
