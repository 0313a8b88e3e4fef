"""What the production image is built from: the hash lock, the botocore trim, the missing extra.

- requirements.lock pins every runtime requirement of pyproject.toml, within its range, with
  hashes, and nothing of the [sandbox] extra;
- the botocore trim keeps every service the reconciler calls (the calls scan of
  tests/test_deploy_files.py), and removes the rest from a real copy of botocore's data;
- ``needs_extra`` turns a missing third-party module into ``NotInstalled`` (exit 5), and leaves
  our own missing modules and other errors alone.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import botocore
import pytest
from packaging.requirements import Requirement

from reconciler import errors
from reconciler.cli.extras import needs_extra
from tests.test_deploy_files import reconciler_calls

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("trim", ROOT / "deploy/image/trim-botocore.py")
assert spec is not None and spec.loader is not None
trim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(trim)


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of a pip requirements file with hashes."""
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", path.read_text()):
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==([^\s;\\]+)", block)
        if match:
            pins[match.group(1)] = (match.group(2), block.count("--hash=sha256:"))
    return pins


def test_the_lock_pins_every_runtime_requirement_in_range_with_hashes() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked(ROOT / "requirements.lock")
    for text in project["dependencies"]:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock.sh"
        assert req.specifier.contains(pins[name][0]), (name, pins[name][0], str(req.specifier))
    assert all(hashes >= 1 for _, hashes in pins.values())
    assert not {"moto", "werkzeug", "flask", "cfn-lint", "sympy", "networkx"} & set(pins)


def test_the_build_lock_has_the_build_backend() -> None:
    pins = locked(ROOT / "requirements-build.lock")
    assert {"setuptools", "setuptools-scm", "wheel"} <= set(pins)
    assert all(hashes >= 1 for _, hashes in pins.values())


def test_the_trim_keeps_every_service_the_reconciler_calls() -> None:
    called = {service for _, service, _ in reconciler_calls()}
    assert called, "the calls scan found nothing"
    assert called <= trim.KEEP, f"add to deploy/image/trim-botocore.py KEEP: {called - trim.KEEP}"


def test_the_trim_removes_the_rest_of_a_real_botocore(tmp_path: Path) -> None:
    data = Path(botocore.__file__).parent / "data"
    copy = tmp_path / "data"
    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("*.json", "*.gz"))  # layout only
    for name in ("endpoints.json", "partitions.json", "_retry.json"):
        shutil.copy(data / name, copy)
    removed, kept = trim.trim(copy)
    assert kept == len(trim.KEEP) and removed > 300
    assert {p.name for p in copy.iterdir() if p.is_dir()} == trim.KEEP
    assert (copy / "endpoints.json").is_file()


def test_the_trim_refuses_a_botocore_without_a_kept_service(tmp_path: Path) -> None:
    (tmp_path / "ec2").mkdir()
    with pytest.raises(SystemExit, match="not in"):
        trim.trim(tmp_path)


@pytest.mark.parametrize(
    ("error", "missing"),
    [
        (ModuleNotFoundError("No module named 'moto'", name="moto"), "moto"),
        (ModuleNotFoundError("No module named 'moto.core'", name="moto.core"), "moto"),
        (ModuleNotFoundError("No module named 'werkzeug'", name="werkzeug"), "werkzeug"),
    ],
)
def test_a_missing_third_party_module_is_not_installed(
    error: ModuleNotFoundError, missing: str
) -> None:
    with pytest.raises(errors.NotInstalled) as raised, needs_extra("sandbox", command="demo"):
        raise error
    assert raised.value.missing == missing
    assert str(raised.value) == (
        f"`reconciler demo` needs the sandbox extra (module {missing!r} is not installed):"
        " pip install 'asg-reconciler[sandbox]'"
    )


@pytest.mark.parametrize(
    "error",
    [
        ModuleNotFoundError("No module named 'reconciler.nope'", name="reconciler.nope"),
        ModuleNotFoundError("no name"),
        ImportError("cannot import name 'x' from 'moto'"),  # moto there, but not what we need
        ValueError("unrelated"),
    ],
)
def test_other_import_errors_pass_through(error: Exception) -> None:
    with pytest.raises(type(error)), needs_extra("sandbox", command="sandbox"):
        raise error
