"""Vendor the part of GitHub's REST OpenAPI description the reconciler uses.

    python scripts/github_contract.py PATH/TO/api.github.com.json --source "@octokit/openapi 23.0.2"

reads the whole description (from the npm package ``@octokit/openapi``, ``generated/``, or from
github/rest-api-description, ``descriptions/api.github.com/api.github.com.json``) and writes
tests/contracts/github/api.github.com.json: only the operations in ``OPERATIONS``, and every
component they reference, directly or through another component. The test GitHub server
(tests/github_server.py) validates each request and response against that file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

OPERATIONS = (
    "repos/create-commit-status",
    "repos/create-deployment",
    "repos/create-deployment-status",
    "repos/list-deployments",  # read to find a deployment made before a restart
)
# The body GitHub sends with an error (a rate limit, a 5xx) that these operations do not list;
# the test server's faults are checked against it.
EXTRA = ("#/components/schemas/basic-error",)
OUT = Path(__file__).resolve().parent.parent / "tests" / "contracts" / "github"
REF_PREFIX = "#/components/"


def refs(node: Any) -> set[str]:
    """The component references anywhere in ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node)) if node else set()
    return set()


def pointer(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def extract(doc: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") in operations:
                paths.setdefault(path, {})[method] = op
    missing = set(operations) - {op["operationId"] for i in paths.values() for op in i.values()}
    if missing:
        raise SystemExit(f"not in the description: {sorted(missing)}")
    components: dict[str, dict[str, Any]] = {}
    todo, seen = sorted(refs(paths) | set(EXTRA)), set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith(REF_PREFIX):
            raise SystemExit(f"a reference outside components: {ref}")
        kind, name = ref.removeprefix(REF_PREFIX).split("/", 1)
        node = pointer(doc, ref)
        components.setdefault(kind, {})[name] = node
        todo.extend(sorted(refs(node) - seen))
    return {
        "openapi": doc["openapi"],
        "info": doc["info"],
        "servers": doc.get("servers", []),
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("description", type=Path, help="the whole api.github.com.json")
    parser.add_argument("--source", required=True, help="where it came from, with its version")
    args = parser.parse_args()
    raw = args.description.read_bytes()
    subset = extract(json.loads(raw), OPERATIONS)
    subset["x-vendored"] = {
        "source": args.source,
        "file": args.description.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "operations": list(OPERATIONS),
        "components": list(EXTRA),
        "extractedBy": "scripts/github_contract.py",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "api.github.com.json"
    target.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{target}: {len(subset['paths'])} paths, {len(refs(subset))} references")


if __name__ == "__main__":
    main()
