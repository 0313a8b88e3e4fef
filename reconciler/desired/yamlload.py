"""A YAML loader for untrusted desired files that remembers where every value came from.

It parses with PyYAML's SafeLoader into nodes, then builds plain JSON-like data itself, so it
controls what is accepted: only JSON's types (text, numbers, booleans, null, mappings, lists) plus
merge keys; no other tag, no duplicate keys, no NaN or infinity, a bounded nesting depth and a
bounded alias expansion (the "billion laughs" document). Every mapping key and list item gets the
line it starts on, so a problem found later, by the schema or a rule, can name its line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.model import Problem

# Checked on the bytes, before any parsing.
MAX_FILE_BYTES = 1024 * 1024
# Nested mappings and lists (aliases expanded). A service is 4 deep; anything near this is an
# attack or an accident.
MAX_DEPTH = 32
# Nodes built per document, counting every alias expansion. A service has about 60.
MAX_NODES = 10_000

# Fields for problems that are about the file or its YAML rather than one field.
FILE_FIELD = "(file)"
YAML_FIELD = "(yaml)"

FieldPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_NULL = _TAG + "null"
_KEY_KINDS = frozenset({"str", "int", "float", "bool", "null", "timestamp"})
_ALLOWED_TAGS = (
    "!!str, !!int, !!float, !!bool, !!null, !!map, !!seq (and !!timestamp, read as text)"
)


def field_name(path: FieldPath) -> str:
    """The dotted name of a path: ``spec.rollout.checkpointPercentages[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its data and the line of every key and list item in it."""

    data: Any
    line: int  # where the document's root node starts
    lines: Mapping[FieldPath, int]
    # Problems found building this document (a bad tag, a duplicate key, NaN), and the fields
    # whose value they rejected: such a value stands as null, and the schema need not say so again.
    problems: tuple[Problem, ...] = ()
    flagged: frozenset[str] = frozenset()

    def reported(self, field: str) -> bool:
        """Whether ``field`` is, or is inside, a value the loader already reported."""
        return any(field == bad or field.startswith((bad + ".", bad + "[")) for bad in self.flagged)

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest ancestor when it is absent (a missing field)."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, self.line)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A file's documents, and the problems no document carries: bad bytes, YAML syntax, a
    document abandoned as unsafe to build (too deep, too many nodes, a recursive alias)."""

    documents: tuple[Document, ...]
    problems: tuple[Problem, ...]


class _Abandon(Exception):
    """Stops building a document that cannot be built safely (too deep, too big, recursive)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _TooDeep(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        super().__init__(f"nesting is deeper than {MAX_DEPTH} levels")
        self.line = line


class _LocatedLoader(yaml.SafeLoader):
    """SafeLoader that limits nesting while composing and remembers where aliases are used.

    The composer returns the anchored node itself for an alias, whose mark is the anchor's; the
    line of the alias in a list is recorded here so errors point at the use, not the definition.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.alias_lines: dict[tuple[int, int], int] = {}

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(parent, SequenceNode) and isinstance(event, AliasEvent) and mark:
            self.alias_lines[(id(parent), index)] = mark.line + 1
        nests = isinstance(event, CollectionStartEvent)
        self.depth += nests
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(mark.line + 1 if mark else 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= nests


class _Builder:
    """Turns one document's node tree into data, recording lines and problems as it goes."""

    def __init__(self, *, file: str, loader: _LocatedLoader, root_line: int) -> None:
        self.file = file
        self.loader = loader
        self.lines: dict[FieldPath, int] = {(): root_line}
        self.problems: list[Problem] = []
        self.count = 0
        self.open: set[int] = set()  # nodes being built: meeting one again means a cycle
        self.built: set[int] = set()  # nodes built before: meeting one again is an alias
        self.expanding: FieldPath | None = None  # the outermost alias being expanded
        self.flagged: set[str] = set()

    def problem(self, path: FieldPath, message: str, allowed: str = "") -> Problem:
        line = self.lines.get(path) or self._nearest_line(path)
        return Problem(self.file, line, field_name(path) or YAML_FIELD, message, allowed)

    def _nearest_line(self, path: FieldPath) -> int:
        while path not in self.lines:
            path = path[:-1]
        return self.lines[path]

    def build(self, node: Node, path: FieldPath, depth: int) -> Any:
        self._count(node, path, depth)
        outermost = self.expanding is None and id(node) in self.built
        if outermost:
            self.expanding = path
        self.open.add(id(node))
        try:
            return self._build(node, path, depth)
        finally:
            self.open.discard(id(node))
            self.built.add(id(node))
            if outermost:
                self.expanding = None

    def _count(self, node: Node, path: FieldPath, depth: int) -> None:
        self.count += 1
        if id(node) in self.open:
            raise _Abandon(self.problem(path, "an alias refers to a node that contains it"))
        if isinstance(node, MappingNode | SequenceNode) and depth + 1 > MAX_DEPTH:
            raise _Abandon(self.problem(path, f"nesting is deeper than {MAX_DEPTH} levels"))
        if self.count > MAX_NODES:
            where = self.expanding if self.expanding is not None else path
            message = f"the document expands to more than {MAX_NODES} values (aliases included)"
            raise _Abandon(self.problem(where, message))

    def _build(self, node: Node, path: FieldPath, depth: int) -> Any:
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                self.problems.append(self._tag_problem(node, path))
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                self.problems.append(self._tag_problem(node, path))
            return self._sequence(node, path, depth)
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _tag_problem(self, node: Node, path: FieldPath) -> Problem:
        tag = "!!" + node.tag.removeprefix(_TAG) if node.tag.startswith(_TAG) else node.tag
        return self.flag(path, f"the tag {tag} is not allowed", _ALLOWED_TAGS)

    def flag(self, path: FieldPath, message: str, allowed: str = "") -> Problem:
        """A problem with the value at ``path``, which later checks should not report again."""
        self.flagged.add(field_name(path))
        return self.problem(path, message, allowed)

    def _scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        kind = node.tag.removeprefix(_TAG) if node.tag.startswith(_TAG) else None
        if kind in ("str", "timestamp", "merge"):
            # JSON has no dates, so a date stays the text it was written as.
            return node.value
        if kind == "null":
            return None
        constructors = {
            "bool": self.loader.construct_yaml_bool,
            "int": self.loader.construct_yaml_int,
            "float": self.loader.construct_yaml_float,
        }
        if kind not in constructors:
            self.problems.append(self._tag_problem(node, path))
            return None
        try:
            value = constructors[kind](node)
        except (ValueError, KeyError, IndexError, TypeError):
            self.problems.append(self.flag(path, f"{node.value!r} is not a valid {kind}"))
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(self.flag(path, f"{node.value!r} is not a finite number"))
            return None
        return value

    def _sequence(self, node: SequenceNode, path: FieldPath, depth: int) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            line = self.loader.alias_lines.get((id(node), index), item.start_mark.line + 1)
            self.lines[(*path, index)] = line
            items.append(self.build(item, (*path, index), depth + 1))
        return items

    def _mapping(self, node: MappingNode, path: FieldPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        # Merged keys first, so keys written in this mapping override them (and their lines).
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(value_node, path, depth, into=result)
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first_lines:
                message = f"duplicate key {key!r} (first at line {first_lines[key]})"
                self.problems.append(Problem(self.file, line, field_name((*path, key)), message))
                continue
            first_lines[key] = line
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def _key(self, node: Node, path: FieldPath) -> str | None:
        if not isinstance(node, ScalarNode):
            line = node.start_mark.line + 1
            message = "a mapping key must be plain text, not a mapping or a list"
            self.problems.append(Problem(self.file, line, field_name(path) or YAML_FIELD, message))
            return None
        if node.tag.removeprefix(_TAG) not in _KEY_KINDS:
            self.problems.append(self._tag_problem(node, path))
            return None
        # Keys are compared as written: `on:` is the key "on", not the boolean true.
        return str(node.value)

    def _merge(self, node: Node, path: FieldPath, depth: int, *, into: dict[str, Any]) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        # In `<<: [*a, *b]` the earlier mapping wins, so apply them last to first.
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                message = "a merge key (<<) must refer to a mapping or a list of mappings"
                self.problems.append(self.problem(path, message))
                continue
            into.update(self.build(source, path, depth))


def decode(data: bytes, *, file: str) -> str | Problem:
    """The text of a UTF-8 file (a leading BOM dropped), or a Problem at the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line = data.count(b"\n", 0, offset) + 1
        message = f"not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset}"
        return Problem(file, line, FILE_FIELD, message, "UTF-8 text")
    return text.removeprefix("\ufeff")


def _error_problem(error: yaml.YAMLError, *, file: str, text: str) -> Problem:
    if isinstance(error, _TooDeep):
        return Problem(file, error.line, YAML_FIELD, str(error), f"at most {MAX_DEPTH} levels")
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        context = error.context or ""
        if context and error.context_mark and error.context_mark.line + 1 != line:
            context += f" (started at line {error.context_mark.line + 1})"
        message = ", ".join(part for part in (context, error.problem) if part) or "invalid YAML"
        return Problem(file, line, YAML_FIELD, f"YAML syntax error: {message}")
    if isinstance(error, yaml.reader.ReaderError):
        position = int(error.position)
        line = text.count("\n", 0, position) + 1
        message = f"character #x{int(error.character):04x} is not allowed in YAML"
        return Problem(file, line, YAML_FIELD, message, "printable Unicode text")
    return Problem(file, 1, YAML_FIELD, f"YAML error: {error}")


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL and node.value in ("", "~", "null")


def parse(text: str, *, file: str) -> Parsed:
    """Every non-empty document in ``text``; a syntax error ends the file but keeps earlier ones."""
    documents: list[Document] = []
    problems: list[Problem] = []
    try:
        # The reader checks the whole text for unprintable characters as it is constructed.
        loader = _LocatedLoader(text)
    except yaml.YAMLError as error:
        return Parsed((), (_error_problem(error, file=file, text=text),))
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or _is_empty(node):
                continue
            document = _build_document(node, file=file, loader=loader)
            if isinstance(document, Document):
                documents.append(document)
            else:
                problems += document
    except yaml.YAMLError as error:
        problems.append(_error_problem(error, file=file, text=text))
    finally:
        loader.dispose()
    return Parsed(tuple(documents), tuple(problems))


def _build_document(node: Node, *, file: str, loader: _LocatedLoader) -> Document | list[Problem]:
    """The document, carrying the problems found in it; or, if it had to be abandoned, those."""
    root_line = node.start_mark.line + 1
    builder = _Builder(file=file, loader=loader, root_line=root_line)
    try:
        data = builder.build(node, (), 0)
    except _Abandon as abandon:
        return [*builder.problems, abandon.problem]
    problems = tuple(builder.problems)
    return Document(data, root_line, dict(builder.lines), problems, frozenset(builder.flagged))


def parse_bytes(data: bytes, *, file: str) -> Parsed:
    """``parse`` for a file's bytes: size limit first, then UTF-8, then YAML."""
    if len(data) > MAX_FILE_BYTES:
        message = f"the file is {len(data)} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB)"
        return Parsed((), (Problem(file, 0, FILE_FIELD, message, "at most 1 MiB"),))
    text = decode(data, file=file)
    if isinstance(text, Problem):
        return Parsed((), (text,))
    return parse(text, file=file)
