"""Desired state: find the desired files, load them, validate them, build ``ServiceSpec``s.

Public surface::

    load(paths, revision=None) -> Loaded        every service, or InvalidDesiredState
    Loaded                                      .services (ServiceSpec), .warnings (Problem)
    files_in(directory) -> list[Path]           THE rule for a directory's desired files
    SUFFIXES                                    the desired files' suffixes
    schema() -> dict                            the Service JSON Schema
    yamlload                                    the located YAML loader (a module)

Inside, one module per concern, in the order a load runs: ``files`` (which files, read safely),
``yamlload`` (located YAML), ``document`` (a document's located fields), ``service_schema`` (the
JSON Schema and its words), ``rules`` (what a schema cannot say), ``template`` (the UserData
template), ``build`` (document → ``ServiceSpec``) and ``loader`` (all of them, in one pass).
``load`` and ``schema()`` live in ``loader`` and ``service_schema``: a submodule named after
a public function would shadow it, or be shadowed by it, on the package.
"""

from __future__ import annotations

from reconciler.desired import yamlload
from reconciler.desired.files import SUFFIXES, files_in
from reconciler.desired.loader import Loaded, load
from reconciler.desired.service_schema import schema

__all__ = ["SUFFIXES", "Loaded", "files_in", "load", "schema", "yamlload"]
