"""Desired state: find the desired files, load them, validate them, build ``ServiceSpec``s.

Validation has three layers, and all of them run so one pass reports every problem: the YAML
itself (``yamlload``), the JSON Schema in ``schemas/service.schema.json``, and the rules a schema
cannot express (cross-field ranges, image reference grammars, the UserData template, names unique
across files). Each problem names the file, the line, the dotted field and what is allowed. Any
error raises ``InvalidDesiredState`` with all problems found, warnings included, before anything
in AWS is touched.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from reconciler.desired.yamlload import (
    FILE_FIELD,
    MAX_FILE_BYTES,
    Document,
    FieldPath,
    decode,
    field_name,
    parse_bytes,
)
from reconciler.errors import InvalidDesiredState
from reconciler.images import userdata
from reconciler.model import (
    AutoScalingGroupSpec,
    HealthCheckSpec,
    ImageSpec,
    LaunchTemplateSpec,
    Problem,
    RolloutSpec,
    ScalingSpec,
    ServiceSpec,
    SourceRef,
    TargetGroupSpec,
    fields,
)

SUFFIXES = (".yaml", ".yml")
DOCUMENT_FIELD = "(document)"  # a problem with a document as a whole, e.g. it is not a mapping
CHECKPOINT_DELAY_DEFAULT = 3600  # what AWS waits at a checkpoint when no delay is given

# Where each spec's UserData template is, and the names that must be unique across services.
_USER_DATA: FieldPath = ("spec", "launchTemplate", "userData")
_AWS_NAMES: tuple[tuple[str, FieldPath], ...] = (
    ("Auto Scaling group", ("spec", "autoScalingGroup", "name")),
    ("launch template", ("spec", "launchTemplate", "name")),
    ("target group", ("spec", "targetGroup", "name")),
)
# Stands in for the digest a tag will resolve to, so a template's rendered size is known now.
_DIGEST_STAND_IN = "sha256:" + "0" * 64


@dataclass(frozen=True, slots=True)
class Loaded:
    services: tuple[ServiceSpec, ...]
    warnings: tuple[Problem, ...]


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


def load(paths: Sequence[str | Path], *, revision: str | None = None) -> Loaded:
    """Load and validate every service in ``paths`` (files, or directories of ``*.yaml``)."""
    problems: list[Problem] = []
    documents: list[_Doc] = []
    for source in _sources(paths, problems):
        documents += _read_documents(source, problems)
    services = []
    for doc in documents:
        found, template = _check_document(doc)
        problems += found
        if template is not None and not _has_errors(found):
            services.append(_build(doc, template, revision=revision))
    problems += _duplicate_names(documents)
    if not documents and not problems:
        shown = ", ".join(str(p) for p in paths) or "(no paths)"
        problems.append(Problem(shown, 0, FILE_FIELD, "no Service documents found"))
    problems = _in_file_order(problems)
    if _has_errors(problems):
        raise InvalidDesiredState(problems)
    return Loaded(tuple(services), tuple(problems))


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """Sorted by file (in the order files were read) and line; stable otherwise."""
    order: dict[str, int] = {}
    for problem in problems:
        order.setdefault(problem.file, len(order))
    return sorted(problems, key=lambda p: (order[p.file], p.line))


def _has_errors(problems: Sequence[Problem]) -> bool:
    return any(not p.warning for p in problems)


# ----------------------------------------------------------------------------------------------
# Files.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    file: str  # as the user wrote it (or the directory joined with the name): for messages
    path: Path


def _resolve(path: Path) -> Path | None:
    """``path`` with symlinks resolved; None for a symlink loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # 3.11: RuntimeError for a loop; NUL: ValueError
        return None


def _sources(paths: Sequence[str | Path], problems: list[Problem]) -> list[_Source]:
    """The files to read, in order, each once."""
    sources: list[_Source] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        found = _directory_files(path, problems) if path.is_dir() else _single_file(path, problems)
        for source in found:
            key = _resolve(source.path) or source.path
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def _single_file(path: Path, problems: list[Problem]) -> list[_Source]:
    if not path.exists():
        message = "does not exist" if not path.is_symlink() else "is a symlink to nothing"
        problems.append(Problem(str(path), 0, FILE_FIELD, message))
        return []
    return [_Source(str(path), path)]


def _directory_files(directory: Path, problems: list[Problem]) -> list[_Source]:
    """``*.yaml``/``*.yml`` directly in ``directory``, sorted, hidden ones skipped.

    A symlink may point elsewhere inside the directory, never outside it: the directory is what
    was reviewed, so a link out of it would load files nobody reviewed.
    """
    root = _resolve(directory) or directory
    try:
        names = list(directory.iterdir())
    except OSError as error:
        message = f"cannot be listed: {error.strerror or error}"
        problems.append(Problem(str(directory), 0, FILE_FIELD, message))
        return []
    entries = sorted(
        entry for entry in names if entry.suffix in SUFFIXES and not entry.name.startswith(".")
    )
    sources = []
    for entry in entries:
        target = _resolve(entry)
        if target is None:
            problems.append(Problem(str(entry), 0, FILE_FIELD, "is a symlink loop"))
        elif not target.is_relative_to(root):
            message = f"is a symlink to {target}, outside the directory {directory}"
            problems.append(Problem(str(entry), 0, FILE_FIELD, message, f"files in {directory}"))
        elif entry.is_file():
            sources.append(_Source(str(entry), entry))
        elif not entry.exists():
            problems.append(Problem(str(entry), 0, FILE_FIELD, "is a symlink to nothing"))
    if not entries:
        message = "holds no *.yaml or *.yml files"
        problems.append(Problem(str(directory), 0, FILE_FIELD, message))
    return sources


class _ReadError(Exception):
    def __init__(self, message: str, *, allowed: str = "") -> None:
        super().__init__(message)
        self.allowed = allowed


def _read_limited(path: Path, *, limit: int) -> bytes:
    """A regular file's bytes, refusing more than ``limit`` (checked before and while reading)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _ReadError("is not a regular file")
        if info.st_size > limit:
            message = f"is {info.st_size} bytes; the limit is {limit} bytes"
            raise _ReadError(message, allowed=f"at most {limit} bytes")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError as error:
        raise _ReadError("does not exist") from error
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise _ReadError(f"cannot be read: {getattr(error, 'strerror', None) or error}") from error
    if len(data) > limit:
        raise _ReadError(f"is more than {limit} bytes", allowed=f"at most {limit} bytes")
    return data


@dataclass(frozen=True, slots=True)
class _Doc:
    """One YAML document of one desired file, with helpers to read and locate its fields."""

    source: _Source
    document: Document

    @property
    def file(self) -> str:
        return self.source.file

    @property
    def line(self) -> int:
        return self.document.line

    def at(
        self, path: FieldPath, message: str, allowed: str = "", *, warning: bool = False
    ) -> Problem:
        line = self.document.line_of(path)
        field = field_name(path) or DOCUMENT_FIELD
        return Problem(self.file, line, field, message, allowed, warning)

    def get(self, path: FieldPath) -> Any:
        node = self.document.data
        for part in path:
            if isinstance(part, str) and isinstance(node, dict):
                node = node.get(part)
            elif isinstance(part, int) and isinstance(node, list) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    def integer(self, path: FieldPath, *, default: bool = False) -> int | None:
        """The integer at ``path`` (or the schema's default there).

        None when absent, not an integer, or outside the schema's own bounds: the schema reports
        those, and a rule relating two fields has nothing sound to say about them.
        """
        value = self.get(path)
        if value is None and default:
            value = _schema_default(path)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        return value if _within_bounds(path, value) else None

    def text(self, path: FieldPath) -> str | None:
        value = self.get(path)
        return value if isinstance(value, str) else None


def _read_documents(source: _Source, problems: list[Problem]) -> list[_Doc]:
    try:
        data = _read_limited(source.path, limit=MAX_FILE_BYTES)
    except _ReadError as error:
        problems.append(Problem(source.file, 0, FILE_FIELD, str(error), error.allowed))
        return []
    parsed = parse_bytes(data, file=source.file)
    problems += parsed.problems
    return [_Doc(source, document) for document in parsed.documents]


# ----------------------------------------------------------------------------------------------
# Checking one document.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    path: Path
    text: str


def _check_document(doc: _Doc) -> tuple[list[Problem], _Template | None]:
    """Every problem in one document (YAML, schema, rules, template), and the template's text."""
    checks = _schema_problems(doc)
    for rule in _RULES:
        checks += rule(doc)
    template_problems, template = _check_template(doc)
    checks += template_problems
    # A value the YAML loader rejected stands as null; saying "null is not a number" adds nothing.
    checks = [p for p in checks if not doc.document.reported(p.field)]
    problems = sorted([*doc.document.problems, *checks], key=lambda p: (p.line, p.field))
    return problems, template


def _schema_problems(doc: _Doc) -> list[Problem]:
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.document.data):
        for problem in _from_schema_error(doc, error):
            if problem not in problems:
                problems.append(problem)
    return problems


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


def _from_schema_error(doc: _Doc, error: ValidationError) -> Iterator[Problem]:
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
    if kind in ("anyOf", "oneOf"):
        return sub.get("x-message", f"{_show(value)} is not valid"), ""
    return fallback, ""


def _missing(doc: _Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
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


def _unknown(doc: _Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
    known = list(sub.get("properties", {}))
    for name in value:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        yield doc.at((*path, name), f"unknown field {name!r}{hint}", ", ".join(known))


def _dependencies(doc: _Doc, path: FieldPath, sub: dict[str, Any], value: Any) -> Iterator[Problem]:
    for name, needs in sub["dependentRequired"].items():
        for need in needs:
            if name in value and need not in value:
                message = f"{name} is set without {need}"
                yield doc.at((*path, name), message, f"set {need} too, or remove {name}")


def _schema_at(path: FieldPath) -> dict[str, Any]:
    node: dict[str, Any] = schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _schema_default(path: FieldPath) -> Any:
    return _schema_at(path).get("default")


def _within_bounds(path: FieldPath, value: int) -> bool:
    sub = _schema_at(path)
    low: int = sub.get("minimum", value)
    high: int = sub.get("maximum", value)
    return low <= value <= high


# ----------------------------------------------------------------------------------------------
# Rules the schema cannot express. Each reads values through typed accessors, so a value of the
# wrong type (already reported by the schema) is skipped rather than crashing the rule.
# ----------------------------------------------------------------------------------------------

_ASG = ("spec", "autoScalingGroup")
_HEALTH = ("spec", "targetGroup", "healthCheck")
_ROLLOUT = ("spec", "rollout")
_IMAGE = ("spec", "image")


def _capacity(doc: _Doc) -> list[Problem]:
    low = doc.integer((*_ASG, "minSize"))
    high = doc.integer((*_ASG, "maxSize"))
    want = doc.integer((*_ASG, "desiredCapacity"))
    if low is not None and high is not None and low > high:
        allowed = f"at least minSize ({low})"
        return [doc.at((*_ASG, "maxSize"), f"maxSize {high} is below minSize {low}", allowed)]
    if want is None:
        return []
    span = "minSize ≤ desiredCapacity ≤ maxSize"
    if low is not None and want < low:
        return [doc.at((*_ASG, "desiredCapacity"), f"{want} is below minSize {low}", span)]
    if high is not None and want > high:
        return [doc.at((*_ASG, "desiredCapacity"), f"{want} is above maxSize {high}", span)]
    return []


def _health_check_timing(doc: _Doc) -> list[Problem]:
    interval = doc.integer((*_HEALTH, "intervalSeconds"), default=True)
    timeout = doc.integer((*_HEALTH, "timeoutSeconds"), default=True)
    if interval is None or timeout is None or timeout < interval:
        return []
    field = (
        "timeoutSeconds" if doc.get((*_HEALTH, "timeoutSeconds")) is not None else "intervalSeconds"
    )
    message = f"timeoutSeconds ({timeout}) must be less than intervalSeconds ({interval})"
    allowed = f"timeoutSeconds from 2 to {min(120, interval - 1)}, below intervalSeconds"
    return [doc.at((*_HEALTH, field), message, allowed)]


def _health_check_port(doc: _Doc) -> list[Problem]:
    port = doc.text((*_HEALTH, "port"))
    if port is None or not port.isdigit() or 1 <= int(port) <= 65535:
        return []
    allowed = 'a port number 1-65535 or "traffic-port"'
    return [doc.at((*_HEALTH, "port"), f"port {port} is out of range", allowed)]


_MATCHER_ALLOWED = 'HTTP codes 200-499: a code ("200"), a list ("200,302") or a range ("200-299")'
_MATCHER_ITEM = re.compile(r"([0-9]{3})(?:-([0-9]{3}))?")


def _matcher_error(text: str) -> str | None:
    for item in text.split(","):
        match = _MATCHER_ITEM.fullmatch(item)
        if not match:
            return f"{item!r} is not an HTTP code or a range of codes"
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not (200 <= low <= 499 and 200 <= high <= 499):
            return f"{item} is outside 200-499"
        if low > high:
            return f"the range {item} runs backwards"
    return None


def _matcher(doc: _Doc) -> list[Problem]:
    matcher = doc.text((*_HEALTH, "matcher"))
    reason = _matcher_error(matcher) if matcher else None
    return [doc.at((*_HEALTH, "matcher"), reason, _MATCHER_ALLOWED)] if reason else []


def _checkpoints(doc: _Doc) -> list[Problem]:
    path = (*_ROLLOUT, "checkpointPercentages")
    values = doc.get(path)
    if not isinstance(values, list) or not values:
        return []
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return []
    allowed = "strictly ascending percentages ending with 100, e.g. [50, 100]"
    for index in range(1, len(values)):
        if values[index] <= values[index - 1]:
            message = f"{values[index]} follows {values[index - 1]}: percentages must increase"
            return [doc.at((*path, index), message, allowed)]
    if values[-1] < 100:  # above 100 is the schema's to report
        message = f"the last checkpoint is {values[-1]}, so the refresh would stop short of 100%"
        return [doc.at((*path, len(values) - 1), message, allowed)]
    return []


def _healthy_percentages(doc: _Doc) -> list[Problem]:
    low = doc.integer((*_ROLLOUT, "minHealthyPercentage"), default=True)
    high = doc.integer((*_ROLLOUT, "maxHealthyPercentage"), default=True)
    if low is None or high is None or high - low <= 100:
        return []
    message = f"maxHealthyPercentage {high} is more than 100 above minHealthyPercentage {low}"
    allowed = f"at most {low + 100} (minHealthyPercentage + 100)"
    return [doc.at((*_ROLLOUT, "maxHealthyPercentage"), message, allowed)]


def _image(doc: _Doc) -> list[Problem]:
    checks: list[tuple[str, Callable[[str], str | None], str]] = [
        ("repository", userdata.repository_error, userdata.REPOSITORY_ALLOWED),
        ("tag", userdata.tag_error, userdata.TAG_ALLOWED),
        ("digest", userdata.digest_error, userdata.DIGEST_ALLOWED),
    ]
    problems = []
    for name, check, allowed in checks:
        value = doc.text((*_IMAGE, name))
        reason = check(value) if value is not None else None
        if reason:
            problems.append(doc.at((*_IMAGE, name), reason, allowed))
    return problems


def _checkpoint_delay_warning(doc: _Doc) -> list[Problem]:
    if doc.get((*_ROLLOUT, "checkpointPercentages")) is None:
        return []
    if doc.get((*_ROLLOUT, "checkpointDelay")) is not None:
        return []
    message = (
        "checkpointPercentages is set without checkpointDelay: "
        f"AWS waits its default {CHECKPOINT_DELAY_DEFAULT} s at each checkpoint"
    )
    allowed = "set checkpointDelay (0 to 172800 seconds)"
    return [doc.at((*_ROLLOUT, "checkpointPercentages"), message, allowed, warning=True)]


_RULES: tuple[Callable[[_Doc], list[Problem]], ...] = (
    _capacity,
    _health_check_timing,
    _health_check_port,
    _matcher,
    _checkpoints,
    _healthy_percentages,
    _image,
    _checkpoint_delay_warning,
)


# ----------------------------------------------------------------------------------------------
# The UserData template.
# ----------------------------------------------------------------------------------------------


def _check_template(doc: _Doc) -> tuple[list[Problem], _Template | None]:
    """Problems with the template ``spec.launchTemplate.userData`` names, and its text."""
    name = doc.text(_USER_DATA)
    if not name or len(name) > _schema_at(_USER_DATA)["maxLength"]:
        return [], None  # the schema reports it
    try:
        path = _template_path(doc, name)
        data = _read_limited(path, limit=MAX_FILE_BYTES)
    except _ReadError as error:
        return [doc.at(_USER_DATA, f"the template {name!r} {error}", _TEMPLATE_ALLOWED)], None
    text = decode(data, file=name)
    if not isinstance(text, str):
        message = f"the template {name!r} is {text.message} (template line {text.line})"
        return [doc.at(_USER_DATA, message, "UTF-8 text")], None
    line = doc.document.line_of(_USER_DATA)
    problems = userdata.check_template(text, file=doc.file, field=field_name(_USER_DATA), line=line)
    size = userdata.check_size(
        _render_stand_in(doc, text), file=doc.file, field=field_name(_USER_DATA), line=line
    )
    problems += [size] if size else []
    return problems, _Template(path, text)


_TEMPLATE_ALLOWED = "a template file inside the desired file's directory, named relative to it"


def _template_path(doc: _Doc, name: str) -> Path:
    """The template's resolved path; it must not escape the desired file's directory tree."""
    if Path(name).is_absolute():
        raise _ReadError("is an absolute path; name it relative to the desired file")
    base = _resolve(doc.source.path.parent) or doc.source.path.parent
    path = _resolve(doc.source.path.parent / name)
    if path is None:
        raise _ReadError("cannot be resolved (a symlink loop, or a NUL in the name)")
    if not path.is_relative_to(base):
        raise _ReadError(f"resolves to {path}, outside {base}")
    return path


def _render_stand_in(doc: _Doc, text: str) -> str:
    """The template as it will render, a same-length digest standing in for the real one."""
    repository = doc.text((*_IMAGE, "repository")) or ""
    digest = doc.text((*_IMAGE, "digest")) or _DIGEST_STAND_IN
    values = {
        "IMAGE": f"{repository}@{digest}",
        "IMAGE_TAG": doc.text((*_IMAGE, "tag")) or "",
        "IMAGE_DIGEST": digest,
        "SERVICE": doc.text(("metadata", "name")) or "",
    }
    return userdata.substitute(text, values)


# ----------------------------------------------------------------------------------------------
# Across documents.
# ----------------------------------------------------------------------------------------------


def _duplicate_names(documents: Sequence[_Doc]) -> list[Problem]:
    """The second use of a service name, or of an AWS resource name in one Region, is an error."""
    problems = []
    services: dict[str, _Doc] = {}
    resources: dict[tuple[str, str | None, str], _Doc] = {}
    for doc in documents:
        name = doc.text(("metadata", "name"))
        if name is not None:
            first = services.setdefault(name, doc)
            if first is not doc:
                message = f"service {name!r} is already declared at {first.file}:{first.line}"
                problems.append(doc.at(("metadata", "name"), message, "a name used once"))
        region = doc.text(("spec", "region"))
        for what, path in _AWS_NAMES:
            value = doc.text(path)
            if value is None:
                continue
            first = resources.setdefault((what, region, value), doc)
            if first is not doc:
                where = f"{first.file}:{first.document.line_of(path)}"
                message = f"{what} {value!r} is already used in {region} at {where}"
                problems.append(doc.at(path, message, "one service per resource"))
    return problems


# ----------------------------------------------------------------------------------------------
# Building the spec from a valid document.
# ----------------------------------------------------------------------------------------------


def _with_defaults(value: Any, sub: dict[str, Any]) -> Any:
    """``value`` with the schema's defaults filled in wherever a field is absent."""
    if not isinstance(value, dict):
        return value
    result = dict(value)
    for name, prop in sub.get("properties", {}).items():
        if name not in result and "default" in prop:
            result[name] = copy.deepcopy(prop["default"])
        if name in result:
            result[name] = _with_defaults(result[name], prop)
    return result


def _build(doc: _Doc, template: _Template, *, revision: str | None) -> ServiceSpec:
    data = _with_defaults(doc.document.data, schema())
    spec = data["spec"]
    image, lt, asg, tg = (
        spec["image"],
        spec["launchTemplate"],
        spec["autoScalingGroup"],
        spec["targetGroup"],
    )
    health, rollout, scaling = tg["healthCheck"], spec["rollout"], spec.get("scaling")
    return ServiceSpec(
        name=data["metadata"]["name"],
        region=spec["region"],
        image=ImageSpec(image["repository"], image.get("tag"), image.get("digest")),
        launch_template=LaunchTemplateSpec(
            lt["name"], lt["userData"], template.path, template.text
        ),
        auto_scaling_group=AutoScalingGroupSpec(
            name=asg["name"], **fields.from_yaml(fields.GROUP, asg)
        ),
        target_group=TargetGroupSpec(
            tg["name"], HealthCheckSpec(**fields.from_yaml(fields.HEALTH_CHECK, health))
        ),
        rollout=RolloutSpec(
            min_healthy_percentage=rollout["minHealthyPercentage"],
            max_healthy_percentage=rollout["maxHealthyPercentage"],
            instance_warmup=rollout.get("instanceWarmup"),
            checkpoint_percentages=tuple(rollout.get("checkpointPercentages", ())),
            checkpoint_delay=rollout.get("checkpointDelay"),
            auto_rollback=rollout["autoRollback"],
            skip_matching=rollout["skipMatching"],
        ),
        scaling=ScalingSpec(float(scaling["targetCpuUtilization"])) if scaling else None,
        source=SourceRef(doc.file, doc.line, revision),
        paused=spec["paused"],
        image_poll_interval=spec["imagePollInterval"],
    )
