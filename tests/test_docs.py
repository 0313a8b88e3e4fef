"""The README's promises about itself: the desired.yaml reference matches the schema."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_reference_is_generated_from_the_current_schema() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "schema_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_reference_lists_every_schema_property() -> None:
    schema = json.loads((ROOT / "schemas" / "service.schema.json").read_text())
    reference = (ROOT / "docs" / "desired-reference.md").read_text()

    def paths(node: dict[str, object], prefix: str) -> list[str]:
        found: list[str] = []
        props = node.get("properties", {})
        assert isinstance(props, dict)
        for name, child in props.items():
            path = f"{prefix}.{name}" if prefix else name
            found.append(path)
            found.extend(paths(child, path))
        return found

    missing = [p for p in paths(schema, "") if f"| `{p}` |" not in reference]
    assert missing == []
    assert len(paths(schema, "")) > 30


def test_architecture_module_table_is_generated_from_the_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "architecture.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_has_a_docstring_and_a_row() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    package = ROOT / "reconciler"
    modules = sorted(package.rglob("*.py"))
    undocumented = [
        str(p.relative_to(package))
        for p in modules
        if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    missing = [
        str(p.relative_to(package)) for p in modules if f"| `{p.relative_to(package)}` |" not in doc
    ]
    assert (undocumented, missing) == ([], [])
    assert len(modules) > 50
