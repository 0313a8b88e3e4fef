"""``load``: every service in the desired paths, validated, or every problem found in them.

Validation has three layers, and all of them run so one pass reports every problem: the YAML
itself (``yamlload``), the JSON Schema (``service_schema``), and the rules a schema cannot
express (``rules``, ``boot``, ``template``). Any error raises ``InvalidDesiredState`` with all
problems found, warnings included, before anything in AWS is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired import boot, rules, rules_bluegreen, service_schema, template
from reconciler.desired.build import build
from reconciler.desired.document import Doc
from reconciler.desired.files import ReadError, Source, read_limited, sources
from reconciler.desired.yamlload import FILE_FIELD, MAX_FILE_BYTES, parse_bytes
from reconciler.errors import InvalidDesiredState
from reconciler.model import Problem, ServiceSpec


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid load: the services in file order, and the warnings to show beside them."""

    services: tuple[ServiceSpec, ...]
    warnings: tuple[Problem, ...]


def load(paths: Sequence[str | Path], *, revision: str | None = None) -> Loaded:
    """Load and validate every service in ``paths`` (files, or directories of ``*.yaml``)."""
    problems: list[Problem] = []
    documents: list[Doc] = []
    for source in sources(paths, problems):
        documents += _read_documents(source, problems)
    services = []
    for doc in documents:
        found, checked = _check_document(doc)
        problems += found
        if checked is not None and not _has_errors(found):
            services.append(build(doc, checked, revision=revision))
    problems += rules.duplicate_names(documents)
    if not documents and not problems:
        shown = ", ".join(str(p) for p in paths) or "(no paths)"
        problems.append(Problem(shown, 0, FILE_FIELD, "no Service documents found"))
    problems = _in_file_order(problems)
    if _has_errors(problems):
        raise InvalidDesiredState(problems)
    return Loaded(tuple(services), tuple(problems))


def _read_documents(source: Source, problems: list[Problem]) -> list[Doc]:
    try:
        data = read_limited(source.path, limit=MAX_FILE_BYTES)
    except ReadError as error:
        problems.append(Problem(source.file, 0, FILE_FIELD, str(error), error.allowed))
        return []
    parsed = parse_bytes(data, file=source.file)
    problems += parsed.problems
    return [Doc(source, document) for document in parsed.documents]


def _check_document(doc: Doc) -> tuple[list[Problem], template.Template | None]:
    """Every problem in one document (YAML, schema, rules, template), and the template's text."""
    checks = service_schema.problems(doc) + rules.check(doc) + rules_bluegreen.check(doc)
    checks += boot.check(doc)
    template_problems, checked = template.check(doc)
    checks += template_problems
    # A value the YAML loader rejected stands as null; saying "null is not a number" adds nothing.
    checks = [p for p in checks if not doc.document.reported(p.field)]
    problems = sorted([*doc.document.problems, *checks], key=lambda p: (p.line, p.field))
    return problems, checked


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """Sorted by file (in the order files were read) and line; stable otherwise."""
    order: dict[str, int] = {}
    for problem in problems:
        order.setdefault(problem.file, len(order))
    return sorted(problems, key=lambda p: (order[p.file], p.line))


def _has_errors(problems: Sequence[Problem]) -> bool:
    return any(not p.warning for p in problems)
