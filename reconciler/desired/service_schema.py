"""The Service JSON Schema: loading it, checking a document against it, and its defaults.

The schema (``schemas/service.schema.json``) is the first word on what a field accepts; this
module also translates each failed schema keyword into a located problem in plain words, and
answers what the schema says at a path (its default, its bounds) for the rules and the builder.
It is ``service_schema`` rather than ``schema`` so that ``desired.schema()`` stays a function.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from reconciler.desired.document import Doc
from reconciler.desired.yamlload import FieldPath
from reconciler.model import Problem


@functools.cache
def schema() -> dict[str, Any]:
    """The Service JSON Schema, shipped inside the package."""
    # A path next to this module, not importlib.resources: the package directory holds a symlink
    # to the top-level schemas/, which some resource readers refuse to follow.
    resource = Path(__file__).resolve().parent.parent / "schemas" / "service.schema.json"
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, sub: dict[str, Any]
) -> Iterator[ValidationError]:
    """``pattern`` as JSON Schema means it (ECMA-262), where ``$`` is the end of the text.

    Python's ``$`` also matches before a final newline, which would let ``"feedback\n"`` pass a
    name pattern and carry a newline into a boot script.
    """
    if not validator.is_type(instance, "string"):
        return
    match = re.search(pattern, instance)
    if match is None or (pattern.endswith("$") and match.end() != len(instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]


@functools.cache
def _validator() -> Any:
    return _Validator(schema())


# ----------------------------------------------------------------------------------------------
# Schema errors as located problems, in words.
# ----------------------------------------------------------------------------------------------


def problems(doc: Doc) -> list[Problem]:
    """Every way ``doc`` fails the schema, each once, located and in words."""
    found: list[Problem] = []
    for error in _validator().iter_errors(doc.document.data):
        for problem in _from_schema_error(doc, error):
            if problem not in found:
                found.append(problem)
    return found


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if value is None:
        return "empty (null)"
    if isinstance(value, str):
        return "text"
    return _TYPE_WORDS["object" if isinstance(value, dict) else "array"]


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return _kind(value)
    return json.dumps(value, ensure_ascii=False)


def _bounds(sub: dict[str, Any]) -> str:
    low = sub.get("minimum", sub.get("minLength"))
    high = sub.get("maximum", sub.get("maxLength"))
    unit = " characters" if "minLength" in sub or "maxLength" in sub else ""
    if "exclusiveMinimum" in sub:
        above = f"greater than {sub['exclusiveMinimum']}"
        return f"{above} and at most {high}" if high is not None else above
    if low is not None and high is not None:
        return f"{low} to {high}{unit}"
    return f"at least {low}{unit}" if low is not None else f"at most {high}{unit}"


def _from_schema_error(doc: Doc, error: ValidationError) -> Iterator[Problem]:
    path: FieldPath = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    kind = error.validator
    if kind == "required":
        yield from _missing(doc, path, sub, value)
    elif kind == "additionalProperties":
        yield from _unknown(doc, path, sub, value)
    elif kind == "dependentRequired":
        yield from _dependencies(doc, path, sub, value)
    else:
        message, allowed = _describe(kind, sub, value, error.message)
        yield doc.at(path, message, sub.get("x-allowed", allowed))


def _describe(kind: Any, sub: dict[str, Any], value: Any, fallback: str) -> tuple[str, str]:
    """(message, allowed) for one failed schema keyword, in words."""
    if kind == "type":
        expected = sub["type"] if isinstance(sub["type"], list) else [sub["type"]]
        words = " or ".join(_TYPE_WORDS[name] for name in expected)
        message = f"is {_kind(value)}, expected {words}"
        if "string" in expected and isinstance(value, int | float):
            message += "; quote the value so YAML reads it as text"
        return message, words
    if kind in ("enum", "const"):
        choices = sub["enum"] if kind == "enum" else [sub["const"]]
        return f"{_show(value)} is not allowed", ", ".join(str(c) for c in choices)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{_show(value)} is out of range", _bounds(sub)
    if kind in ("minLength", "maxLength"):
        return f"is {len(value)} characters long", _bounds(sub)
    if kind == "pattern":
        return f"{_show(value)} is not valid", f"text matching {sub['pattern']}"
    if kind == "minItems":
        return "is an empty list; leave the field out instead", f"at least {sub['minItems']} item"
    if kind == "maxItems":
        return f"has {len(value)} items", f"at most {sub['maxItems']} items"
    if kind in ("anyOf", "oneOf"):
        return sub.get("x-message", f"{_show(value)} is not valid"), ""
    return fallback, ""


def _missing(doc: Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
    properties = sub.get("properties", {})
    for name in sub["required"]:
        if isinstance(value, dict) and name not in value:
            yield doc.at((*path, name), "is required", _expectation(properties.get(name, {})))


def _expectation(prop: dict[str, Any]) -> str:
    """What a property accepts, in words, for a message about it being missing."""
    if "x-allowed" in prop:
        return str(prop["x-allowed"])
    if "const" in prop:
        return str(prop["const"])
    if "enum" in prop:
        return ", ".join(str(choice) for choice in prop["enum"])
    types = prop.get("type", [])
    words = " or ".join(_TYPE_WORDS[t] for t in (types if isinstance(types, list) else [types]))
    has_bounds = any(key in prop for key in ("minimum", "maximum", "exclusiveMinimum"))
    return f"{words}, {_bounds(prop)}" if has_bounds else words


def _unknown(doc: Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
    known = list(sub.get("properties", {}))
    for name in value:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        yield doc.at((*path, name), f"unknown field {name!r}{hint}", ", ".join(known))


def _dependencies(doc: Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
    for name, needs in sub["dependentRequired"].items():
        for need in needs:
            if name in value and need not in value:
                message = f"{name} is set without {need}"
                yield doc.at((*path, name), message, f"set {need} too, or remove {name}")


# ----------------------------------------------------------------------------------------------
# What the schema says at a path, for the rules and the builder.
# ----------------------------------------------------------------------------------------------


def at(path: FieldPath) -> dict[str, Any]:
    """The subschema for the field at ``path`` (empty where the schema says nothing)."""
    node: dict[str, Any] = schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def default(path: FieldPath) -> Any:
    """The schema's default for the field at ``path``; None when it has none."""
    return at(path).get("default")


def within_bounds(path: FieldPath, value: int) -> bool:
    """Whether ``value`` is within the schema's minimum and maximum for ``path``."""
    sub = at(path)
    low: int = sub.get("minimum", value)
    high: int = sub.get("maximum", value)
    return low <= value <= high


def with_defaults(data: Any) -> Any:
    """A document's data with the schema's defaults filled in wherever a field is absent."""
    return _filled(data, schema())


def _filled(value: Any, sub: dict[str, Any]) -> Any:
    """``value`` with the schema's defaults filled in wherever a field is absent."""
    if not isinstance(value, dict):
        return value
    result = dict(value)
    for name, prop in sub.get("properties", {}).items():
        if name not in result and "default" in prop:
            result[name] = copy.deepcopy(prop["default"])
        if name in result:
            result[name] = _filled(result[name], prop)
    return result
