"""One YAML document of one desired file, as every check reads it: values by path, located.

The schema, the rules and the template check all read fields through ``Doc`` and report through
``Doc.at``, so every problem names the file, the line and the dotted field the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.desired.files import Source
from reconciler.desired.yamlload import Document, FieldPath, field_name
from reconciler.model import Problem

DOCUMENT_FIELD = "(document)"  # a problem with a document as a whole, e.g. it is not a mapping

# Fields more than one check reads.
IMAGE: FieldPath = ("spec", "image")
USER_DATA: FieldPath = ("spec", "launchTemplate", "userData")


@dataclass(frozen=True, slots=True)
class Doc:
    """One YAML document of one desired file, with helpers to read and locate its fields."""

    source: Source
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

    def text(self, path: FieldPath) -> str | None:
        value = self.get(path)
        return value if isinstance(value, str) else None
