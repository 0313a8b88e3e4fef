"""The UserData template a desired file names: locating it, reading it, checking it renders.

``spec.launchTemplate.userData`` names a template file relative to the desired file, and it must
stay inside that file's directory tree (what was reviewed). Its placeholders are checked now,
and so is its rendered size, with a same-length stand-in for the digest a tag will resolve to.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired import service_schema
from reconciler.desired.boot import boot_spec
from reconciler.desired.document import IMAGE, USER_DATA, Doc
from reconciler.desired.files import ReadError, read_limited, resolve
from reconciler.desired.yamlload import MAX_FILE_BYTES, decode, field_name
from reconciler.images import userdata
from reconciler.model import Problem

# Stands in for the digest a tag will resolve to, so a template's rendered size is known now.
_DIGEST_STAND_IN = "sha256:" + "0" * 64
_TEMPLATE_ALLOWED = "a template file inside the desired file's directory, named relative to it"


@dataclass(frozen=True, slots=True)
class Template:
    """A template that passed its checks: where it is and its text, for the launch template."""

    path: Path
    text: str


def check(doc: Doc) -> tuple[list[Problem], Template | None]:
    """Problems with the template ``spec.launchTemplate.userData`` names, and its text."""
    name = doc.text(USER_DATA)
    if not name or len(name) > service_schema.at(USER_DATA)["maxLength"]:
        return [], None  # the schema reports it
    try:
        path = _template_path(doc, name)
        data = read_limited(path, limit=MAX_FILE_BYTES)
    except ReadError as error:
        return [doc.at(USER_DATA, f"the template {name!r} {error}", _TEMPLATE_ALLOWED)], None
    text = decode(data, file=name)
    if not isinstance(text, str):
        message = f"the template {name!r} is {text.message} (template line {text.line})"
        return [doc.at(USER_DATA, message, "UTF-8 text")], None
    line = doc.document.line_of(USER_DATA)
    # decode drops a byte order mark; an instance would get it, so it is checked with the rest.
    as_read = "\ufeff" + text if data.startswith(codecs.BOM_UTF8) else text
    field = field_name(USER_DATA)
    problems = [
        dataclasses.replace(p, message=f"the template {name!r}, {p.message}")
        for p in userdata.check_text(as_read, file=doc.file, field=field, line=line)
    ]
    problems += userdata.check_template(text, file=doc.file, field=field, line=line)
    size = userdata.check_size(
        _render_stand_in(doc, text), file=doc.file, field=field_name(USER_DATA), line=line
    )
    problems += [size] if size else []
    return problems, Template(path, text)


def _template_path(doc: Doc, name: str) -> Path:
    """The template's resolved path; it must not escape the desired file's directory tree."""
    if Path(name).is_absolute():
        raise ReadError("is an absolute path; name it relative to the desired file")
    base = resolve(doc.source.path.parent) or doc.source.path.parent
    path = resolve(doc.source.path.parent / name)
    if path is None:
        raise ReadError("cannot be resolved (a symlink loop, or a NUL in the name)")
    if not path.is_relative_to(base):
        raise ReadError(f"resolves to {path}, outside {base}")
    return path


def _render_stand_in(doc: Doc, text: str) -> str:
    """The template as it will render, a same-length digest standing in for the real one."""
    found = userdata.values(
        repository=doc.text((*IMAGE, "repository")) or "",
        tag=doc.text((*IMAGE, "tag")) or "",
        digest=doc.text((*IMAGE, "digest")) or _DIGEST_STAND_IN,
        service=doc.text(("metadata", "name")) or "",
        region=doc.text(("spec", "region")) or "",
        spec=boot_spec(doc),
    )
    return userdata.substitute(text, found)
