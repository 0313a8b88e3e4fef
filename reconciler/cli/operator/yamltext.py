"""Editing a service's document in the YAML text itself, so comments and formatting stay.

Only block-style ``key: value`` lines are edited; anything else is refused, never re-dumped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import yaml

from reconciler import errors
from reconciler.cli.operator.edit import Image
from reconciler.desired import yamlload
from reconciler.desired.yamlload import FieldPath

IMAGE_FIELDS = ("repository", "tag", "digest")
_KEY_LINE = r"^(?P<indent>[ ]*)(?P<key>{key})(?P<colon>[ ]*:[ ]*)(?P<value>.*?)(?P<rest>[ ]+#.*)?$"


def set_image(text: str, *, document: yamlload.Document, old: Image, new: Image) -> str:
    """``text`` with only the image fields of ``document`` changed from ``old`` to ``new``."""
    lines = text.splitlines(keepends=True)
    before, after = old.fields(), new.fields()
    image_path: FieldPath = ("spec", "image")
    edits: dict[int, str | None] = {}  # 0-based line → new line, None deletes it
    present = {
        key: document.lines[(*image_path, key)]
        for key in IMAGE_FIELDS
        if (*image_path, key) in document.lines
    }
    if not present:
        raise errors.OperatorError("spec.image has no field on a line of its own (flow style?)")
    for key in IMAGE_FIELDS:
        if key in present and key in after:
            if before.get(key) != after[key]:
                edits[present[key] - 1] = _replace_value(lines[present[key] - 1], key, after[key])
        elif key in present:
            _match(lines[present[key] - 1], key)  # refuse flow style before deleting
            edits[present[key] - 1] = None
    additions = [key for key in IMAGE_FIELDS if key in after and key not in present]
    last = max(present.values()) - 1
    indent = _match(lines[last], _key_of(present, last + 1)).group("indent")
    new_lines: list[str] = []
    for index, line in enumerate(lines):
        if index in edits:
            replaced = edits[index]
            if replaced is not None:
                new_lines.append(replaced)
        else:
            new_lines.append(line)
        if index == last:
            if not new_lines[-1].endswith(("\n", "\r")):
                new_lines[-1] += _newline(lines)
            new_lines += [
                f"{indent}{key}: {_scalar(after[key])}{_newline(lines)}" for key in additions
            ]
    return "".join(new_lines)


def set_paused(text: str, *, document: yamlload.Document, paused: bool) -> str:
    """``text`` with ``spec.paused: true`` set (``paused``) or its line removed."""
    lines = text.splitlines(keepends=True)
    existing = document.lines.get(("spec", "paused"))
    if not paused:
        if existing is None:
            return text
        _match(lines[existing - 1], "paused")
        return "".join(line for index, line in enumerate(lines) if index != existing - 1)
    if existing is not None:
        return "".join(
            _replace_value(line, "paused", "true") if index == existing - 1 else line
            for index, line in enumerate(lines)
        )
    spec_line = document.lines.get(("spec",))
    children = [line for p, line in document.lines.items() if len(p) == 2 and p[0] == "spec"]
    if spec_line is None or not children:
        raise errors.OperatorError("the document has no block-style spec mapping to add paused to")
    first = min(children)
    child = next(p[1] for p, line in document.lines.items() if len(p) == 2 and line == first)
    indent = _match(lines[first - 1], str(child)).group("indent")
    if not re.match(r"^[ ]*spec[ ]*:[ ]*(#.*)?$", lines[spec_line - 1].rstrip("\r\n")):
        raise errors.OperatorError("spec is not a block-style mapping; edit the file by hand")
    insert = f"{indent}paused: true{_newline(lines)}"
    return "".join([*lines[:spec_line], insert, *lines[spec_line:]])


def _key_of(present: dict[str, int], line: int) -> str:
    return next(key for key, at in present.items() if at == line)


def _match(line: str, key: str) -> re.Match[str]:
    body = line.rstrip("\r\n")
    match = re.match(_KEY_LINE.format(key=re.escape(key)), body)
    if match is None or not match.group("value") or match.group("value")[0] in "{[|>&*!":
        raise errors.OperatorError(
            f"cannot edit {key!r} in place: {body.strip()!r} is not a plain 'key: value' line"
        )
    return match


def _replace_value(line: str, key: str, value: str) -> str:
    match = _match(line, key)
    ending = line[len(line.rstrip("\r\n")) :]
    old_value = match.group("value")
    new_value = _scalar(value)
    rest = match.group("rest") or ""
    if rest:  # keep a trailing comment where it was, as far as the new value allows
        pad = len(old_value) + len(rest) - len(rest.lstrip(" ")) - len(new_value)
        rest = " " * max(1, pad) + rest.lstrip(" ")
    return f"{match.group('indent')}{key}{match.group('colon')}{new_value}{rest}{ending}"


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as the same string: plain when it can be."""
    if value and re.fullmatch(r"[A-Za-z0-9_./@:+-]+", value) and not value.endswith(":"):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def _newline(lines: Sequence[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
