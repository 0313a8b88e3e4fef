"""Write docs/desired-reference.md from schemas/service.schema.json.

The reference is generated, never edited by hand: `python scripts/schema_reference.py` rewrites it,
and tests/test_docs.py fails when the committed file and the schema disagree.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "service.schema.json"
TARGET = ROOT / "docs" / "desired-reference.md"

HEADER = """# desired.yaml reference

Generated from `schemas/service.schema.json` by `scripts/schema_reference.py`; do not edit by
hand. `reconciler validate` checks a file against this schema and then against the rules the
schema cannot express (capacity ordering, health-check timing, checkpoint order, image grammar,
the UserData template), reporting every error as `file:line: error: field: message (allowed: …)`.

| field | type | required | default | allowed | description |
|---|---|---|---|---|---|
"""


def rows(node: Mapping[str, Any], *, path: str, required: bool) -> Iterator[str]:
    yield row(node, path=path, required=required)
    needed = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        yield from rows(child, path=f"{path}.{name}" if path else name, required=name in needed)
    items = node.get("items")
    if isinstance(items, Mapping) and "properties" in items:
        yield from rows(items, path=f"{path}[]", required=False)


def row(node: Mapping[str, Any], *, path: str, required: bool) -> str:
    cells = [
        f"`{path}`" if path else "(document)",
        kind(node),
        "yes" if required else "",
        f"`{json.dumps(node['default'])}`" if "default" in node else "",
        allowed(node),
        str(node.get("description", "")).replace("|", "\\|").replace("\n", " "),
    ]
    return "| " + " | ".join(cells) + " |"


def kind(node: Mapping[str, Any]) -> str:
    value = node.get("type", "")
    if isinstance(value, list):
        return " or ".join(value)
    if value == "array" and isinstance(node.get("items"), Mapping):
        return f"array of {node['items'].get('type', 'any')}"
    return str(value)


def allowed(node: Mapping[str, Any]) -> str:
    if "x-allowed" in node:
        return str(node["x-allowed"]).replace("|", "\\|")
    if "enum" in node:
        return ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def render(schema: Mapping[str, Any]) -> str:
    body = "\n".join(rows(schema, path="", required=True))
    return HEADER + body + "\n"


def main(argv: list[str]) -> int:
    text = render(json.loads(SCHEMA.read_text(encoding="utf-8")))
    if argv[1:] == ["--check"]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python scripts/schema_reference.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
