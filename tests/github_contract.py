"""GitHub's REST contract, as its published OpenAPI description states it, for the test server.

``Contract`` reads tests/contracts/github/api.github.com.json (vendored by
scripts/github_contract.py) and checks a request (method, path and its parameters, headers,
JSON body) and a response (status, JSON body) against it. Schemas are OpenAPI 3.0 schema
objects (``nullable``, ``readOnly``/``writeOnly``), validated by openapi-schema-validator: the
write validator for request bodies, the read validator for responses. What the description does
not say and GitHub's documentation does (the media type, the API version header, a User-Agent,
a token) is checked from ``GITHUB_DOCS`` below.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator, OAS30WriteValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

CONTRACT = Path(__file__).resolve().parent / "contracts" / "github" / "api.github.com.json"
BASE = "urn:github-rest"  # the description's URI in the registry, for $refs into it
# From GitHub's REST documentation ("Getting started with the REST API", "API versions").
GITHUB_DOCS = {
    "accept": ("application/vnd.github+json", "application/json"),
    "x-github-api-version": ("2022-11-28",),
}
METHODS = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    pointer: str  # JSON pointer of the operation object in the description
    params: Mapping[str, str]  # the path's parameters
    query: Mapping[str, str]


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Contract:
    def __init__(self, path: Path = CONTRACT) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.doc, default_specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(BASE, resource)
        self._routes = [
            (method, template, _route(template, self._op_params(template, method)))
            for template, item in self.doc["paths"].items()
            for method in METHODS
            if method in item
        ]

    # -- the description ---------------------------------------------------------------------

    def node(self, pointer: str) -> Any:
        found: Any = self.doc
        for part in pointer.removeprefix("#/").split("/"):
            found = found[part.replace("~1", "/").replace("~0", "~")]
        if isinstance(found, dict) and "$ref" in found:
            return self.node(found["$ref"])
        return found

    def _op_params(self, template: str, method: str) -> dict[str, dict[str, Any]]:
        item = self.doc["paths"][template]
        found: dict[str, dict[str, Any]] = {}
        for raw in [*item.get("parameters", []), *item[method].get("parameters", [])]:
            param = self.node(raw["$ref"]) if "$ref" in raw else raw
            found[param["name"]] = param
        return found

    def find(self, method: str, target: str) -> Operation | None:
        """The operation for ``method`` on ``target`` (a path, with its query string if any)."""
        path, _, query = target.partition("?")
        for op_method, template, route in self._routes:
            match = route.match(path)
            if op_method == method.lower() and match is not None:
                op = self.doc["paths"][template][op_method]
                pointer = f"#/paths/{_escape(template)}/{op_method}"
                asked = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
                return Operation(
                    op["operationId"], op_method, template, pointer, match.groupdict(), asked
                )
        return None

    # -- requests ----------------------------------------------------------------------------

    def check_request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Operation | None, list[str]]:
        """The operation ``method path`` is, and every way the request breaks the contract."""
        op = self.find(method, path)
        if op is None:
            return None, [f"{method} {path}: no such operation in the description"]
        lowered = {k.lower(): v for k, v in headers.items()}
        problems = self._headers(lowered)
        problems += self._params(op)
        problems += self._body(op, lowered, body)
        return op, problems

    def _headers(self, headers: Mapping[str, str]) -> list[str]:
        problems = [
            f"header {name}: {headers.get(name)!r}, GitHub documents {list(allowed)}"
            for name, allowed in GITHUB_DOCS.items()
            if headers.get(name) not in allowed
        ]
        if not headers.get("user-agent"):
            problems.append("header User-Agent: missing (GitHub refuses requests without one)")
        auth = headers.get("authorization", "")
        if not re.match(r"^(Bearer|token) \S+$", auth):
            problems.append(f"header Authorization: {auth!r}: 'Bearer TOKEN' expected")
        return problems

    def _params(self, op: Operation) -> list[str]:
        specs = self._op_params(op.template, op.method)
        problems = []
        for where, given in (("path", op.params), ("query", op.query)):
            for name, raw in given.items():
                spec = specs.get(name)
                if spec is None or spec["in"] != where:
                    problems.append(f"{where} parameter {name}: not in the description")
                    continue
                schema = spec.get("schema", {})
                value: Any = int(raw) if schema.get("type") == "integer" and raw.isdigit() else raw
                error = best_match(OAS30Validator(schema).iter_errors(value))
                if error is not None:
                    problems.append(f"{where} parameter {name}={raw!r}: {error.message}")
        return problems

    def _body(self, op: Operation, headers: Mapping[str, str], body: bytes) -> list[str]:
        request = self.node(op.pointer).get("requestBody")
        if request is None:
            return []
        if not body:
            return ["request body: missing"] if request.get("required") else []
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return [f"header Content-Type: {headers.get('content-type')!r}: application/json"]
        try:
            data = json.loads(body)
        except ValueError as exc:
            return [f"request body: not JSON: {exc}"]
        schema = f"{op.pointer}/requestBody/content/application~1json/schema"
        return self.schema_problems(schema, data, write=True, what="request body")

    # -- responses ---------------------------------------------------------------------------

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        """How a response breaks the contract. A status the operation does not list (a 5xx, a
        rate limit) must carry GitHub's basic-error body."""
        responses = self.node(op.pointer)["responses"]
        key = next((k for k in (str(status), "default") if k in responses), None)
        if key is None:
            if status < 400:
                return [f"{op.operation_id}: status {status} is not in the description"]
            return self.schema_problems(
                "#/components/schemas/basic-error", body, write=False, what=f"{status} body"
            )
        if "application/json" not in self.node(f"{op.pointer}/responses/{key}").get("content", {}):
            return []
        base = responses[key].get("$ref", f"{op.pointer}/responses/{key}")
        pointer = f"{base}/content/application~1json/schema"
        return self.schema_problems(pointer, body, write=False, what=f"{status} body")

    def schema_problems(self, pointer: str, data: Any, *, write: bool, what: str) -> list[str]:
        validator_class = OAS30WriteValidator if write else OAS30ReadValidator
        validator = validator_class({"$ref": f"{BASE}{pointer}"}, registry=self.registry)
        return [
            f"{what}: {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(data)
        ]


def _route(template: str, params: Mapping[str, Mapping[str, Any]]) -> re.Pattern[str]:
    """A path template as a regex: ``{name}`` is one segment, or several with x-multi-segment."""

    def group(match: re.Match[str]) -> str:
        name = match[1]
        multi = params.get(name, {}).get("x-multi-segment", False)
        return f"(?P<{name}>{'.+' if multi else '[^/]+'})"

    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(
        re.sub(r"\{([^}]+)\}", group, part) if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{pattern}$")
