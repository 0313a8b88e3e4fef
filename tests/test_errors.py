"""The exception tree: its drawing matches its classes, and the CLI reports its errors as errors."""

from __future__ import annotations

import inspect
import os
import re
import socket
import subprocess
import sys

from reconciler import errors


def _drawn_parents() -> dict[str, str | None]:
    """Each class in the docstring's drawing, with the class drawn above it one level up."""
    assert errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^ {4}([│ ]*(?:[├└]── )?)(\w+) {2,}", line)
        if match:
            depth = len(match.group(1)) // 4
            del path[depth:]
            parents[match.group(2)] = path[-1] if path else None
            path.append(match.group(2))
    return parents


def test_the_docstring_draws_every_class_of_the_tree_under_its_parent() -> None:
    classes = {
        value.__name__: value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, errors.ReconcilerError)
    }
    drawn = _drawn_parents()
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        base = classes[name].__bases__[0]
        assert parent == (None if base is Exception else base.__name__), name


def test_sandbox_on_a_busy_port_is_a_clear_error_not_an_internal_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {key: value for key, value in os.environ.items() if key != "RECONCILER_DEBUG"}
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert "Traceback" not in done.stderr
    assert f"error: cannot serve on 127.0.0.1:{port}: port in use" in done.stderr.splitlines()
