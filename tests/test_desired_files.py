"""No desired file is skipped silently (issue 17 #12): any-case suffixes are read, and a desired
file in a subdirectory is a warning naming it. Real directories and files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import desired
from tests.test_desired import CANONICAL, write_service
from tests.test_e2e_core import run_cli

# A second service on resources of its own, its template next to it (write_service puts it).
ORDERS = CANONICAL.replace("feedback", "orders").replace("orders-userdata", "feedback-userdata")


@pytest.mark.parametrize("name", ["desired.YAML", "desired.Yml", "desired.YML", "desired.yAmL"])
def test_a_desired_file_in_any_case_is_read(tmp_path: Path, name: str) -> None:
    write_service(tmp_path, CANONICAL, name=name)
    loaded = desired.load([tmp_path])
    assert [Path(s.source.file).name for s in loaded.services] == [name]


@pytest.mark.parametrize(
    ("nested", "warned"),
    [
        ("team/orders.yaml", True),
        ("team/deeper/orders.YML", True),
        ("examples/blue-green.yml", True),
        (".git/config.yaml", False),  # hidden directories are not desired state
        ("team/.orders.yaml", False),  # nor hidden files, as in the directory itself
        ("team/notes.txt", False),
    ],
)
def test_a_desired_file_in_a_subdirectory_is_never_skipped_silently(
    tmp_path: Path, nested: str, warned: bool
) -> None:
    write_service(tmp_path, CANONICAL)
    path = tmp_path / nested
    path.parent.mkdir(parents=True)
    path.write_text(ORDERS)
    loaded = desired.load([tmp_path])
    assert [s.name for s in loaded.services] == ["feedback"]
    warnings = [p for p in loaded.warnings if p.warning]
    if not warned:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.file == str(path)
    assert "subdirectory" in warning.message and "not read" in warning.message
    assert str(path.parent) in warning.allowed


def test_validate_prints_the_warning_and_naming_the_subdirectory_reads_it(tmp_path: Path) -> None:
    write_service(tmp_path, CANONICAL)
    write_service(
        tmp_path / "team",
        ORDERS,
        name="orders.yaml",
    )
    done = run_cli("validate", str(tmp_path), endpoint="http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert f"{tmp_path / 'team' / 'orders.yaml'}:0: warning:" in done.stderr
    assert "Traceback" not in done.stderr
    both = desired.load([tmp_path, tmp_path / "team"])
    assert [s.name for s in both.services] == ["feedback", "orders"]
