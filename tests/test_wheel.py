"""The wheel, installed without the [sandbox] extra, is a working reconciler without moto.

``python -m build --wheel`` (no isolation: no index at test time) makes the wheel; a fresh venv
gets it with ``pip install --no-index --no-deps``, and its dependencies as the core closure of
pyproject.toml's requirements only: each installed distribution this closure names is linked
from the dev venv, nothing else is (so moto and its server are absent, as on a production host).
There, ``--help``, ``validate``, ``diff``, ``status`` and ``run --once`` against the sandbox
work, every module outside the sandbox imports, and ``sandbox``/``demo`` exit 5 naming the
extra. The wheel and the venv are cached by the hash of what the wheel is built from, so a
rerun without a change takes seconds. scripts/build-dist.sh does the same from PyPI in CI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.test_loop import desired_yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "reconciler", "schemas", "desired")


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def core_closure() -> set[str]:
    """The distributions asg-reconciler needs without extras, recursively (markers evaluated)."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    env["extra"] = ""
    wanted, todo = set(), ["asg-reconciler"]
    while todo:
        name = todo.pop()
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            key = req.name.lower().replace("_", "-")
            if key not in wanted:
                wanted.add(key)
                todo.append(key)
    return wanted


def link_dependencies(names: set[str], into: Path) -> None:
    """Each distribution's top-level files (and dist-info) symlinked from the dev venv."""
    into.mkdir(parents=True)
    for name in names:
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        base = Path(str(dist.locate_file("")))
        for top in tops - {"__pycache__"}:
            if (base / top).exists() and not (into / top).exists():
                (into / top).symlink_to(base / top)


@pytest.fixture(scope="module")
def core_venv() -> Iterator[Path]:
    cache = Path(tempfile.gettempdir()) / "asg-reconciler-wheel-test" / source_hash()
    bin_dir = cache / "venv" / "bin"
    if not (bin_dir / "reconciler").exists():
        shutil.rmtree(cache, ignore_errors=True)
        dist = cache / "dist"
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
            cwd=ROOT, check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        venv.create(cache / "venv", with_pip=True, symlinks=True)
        link_dependencies(core_closure(), cache / "deps")
        site = next((cache / "venv" / "lib").glob("python3*/site-packages"))
        (site / "core-deps.pth").write_text(str(cache / "deps") + "\n")
        wheel = next(dist.glob("asg_reconciler-*.whl"))
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--no-index", "--no-deps",
             "--quiet", str(wheel)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    yield bin_dir
    # kept: the next run with the same sources reuses it; a change of source makes a new one
    for stale in cache.parent.iterdir():
        if stale != cache:
            shutil.rmtree(stale, ignore_errors=True)


def run(bin_dir: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "reconciler"), *args],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False,
    )  # fmt: skip


def test_the_core_closure_leaves_the_sandbox_out() -> None:
    closure = core_closure()
    assert {"boto3", "pyyaml", "jsonschema", "structlog"} <= closure
    assert not {"moto", "werkzeug", "flask", "cfn-lint", "sympy", "networkx"} & closure


def test_moto_is_not_importable_there(core_venv: Path) -> None:
    python = str(core_venv / "python")
    done = subprocess.run([python, "-c", "import moto"], capture_output=True, text=True)
    assert done.returncode == 1 and "No module named 'moto'" in done.stderr


def test_help_and_validate_work_without_the_extra(core_venv: Path) -> None:
    helped = run(core_venv, "--help")
    assert helped.returncode == 0 and "validate" in helped.stdout
    validated = run(core_venv, "validate", str(ROOT / "desired"))
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("valid: 1 service(s)")


def test_every_module_outside_the_sandbox_imports(core_venv: Path) -> None:
    code = (
        "import pkgutil, importlib, reconciler\n"
        "skip = ('reconciler.sandbox', 'reconciler.cli.demo')\n"
        "names = [m.name for m in pkgutil.walk_packages(reconciler.__path__, 'reconciler.')\n"
        "         if not m.name.startswith(skip) and m.name != 'reconciler.__main__']\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names))"
    )
    done = subprocess.run(
        [str(core_venv / "python"), "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 100


@pytest.mark.parametrize("command", [["sandbox"], ["sandbox", "--port", "4566"], ["demo"]])
def test_sandbox_and_demo_name_the_extra(core_venv: Path, command: list[str]) -> None:
    done = run(core_venv, *command)
    assert done.returncode == 5
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"error: `reconciler {command[0]}` needs the sandbox extra (module 'moto' is not"
        " installed): pip install 'asg-reconciler[sandbox]'"
    )


def test_diff_status_and_a_tick_against_aws_without_the_extra(
    core_venv: Path, sandbox, tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "desired.yaml").write_text(desired_yaml())
    shutil.copy(ROOT / "desired" / "feedback-userdata.sh", desired)
    endpoint = ["--endpoint-url", sandbox.endpoint]
    diffed = run(core_venv, *endpoint, "diff", str(desired))
    assert diffed.returncode == 2, diffed.stderr  # the seed runs another image: changes
    assert "feedback" in diffed.stdout
    status = run(core_venv, *endpoint, "status", str(desired))
    assert status.returncode == 0, status.stderr
    ticked = run(core_venv, *endpoint, "run", "--repo", str(tmp_path), "--path", "desired",
                 "--once")  # fmt: skip
    assert ticked.returncode == 0, ticked.stderr[-2000:]
    refreshes = sandbox.aws().call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )["InstanceRefreshes"]
    assert len(refreshes) == 1  # the tick applied: the wheel's reconciler wrote to AWS
